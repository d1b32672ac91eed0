#pragma once
// Per-ED identity over TLS 1.3 with pinned self-signed certificates (issue 13, item 12;
// docs/SECURITY.md). Syncthing's device IDs are the model: every side has its own key and a
// self-signed certificate, and is known to the other by the certificate's SHA-256 fingerprint,
// not by a certificate authority.
//
// - The sender pins the receiver's fingerprint (send.receiver_fingerprint).
// - The receiver keeps a list of the EDs it accepts, source name + fingerprint
//   (receive.peers), and binds the source an ED claims in HELLO to the key it proved in TLS.
//
// Plain value types and free functions, any thread.

#include "core/error.h"

#include <QByteArray>
#include <QHash>
#include <QList>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QSslKey>
#include <QString>

#include <memory>

namespace isocket {

struct Config;

// The first byte of a TLS record: what a side that speaks plain TCP sees when its peer speaks
// TLS (a ClientHello, or an alert), to say so instead of "frame too large".
constexpr char TlsHandshakeRecord = 0x16;
constexpr char TlsAlertRecord = 0x15;

// The SHA-256 of a certificate's DER encoding: 32 raw bytes.
using Fingerprint = QByteArray;

// As written in files and printed: 64 lower-case hex digits.
QString fingerprintText(const Fingerprint &fingerprint);
QString fingerprintsText(const QList<Fingerprint> &fingerprints); // comma-separated
// Reads a fingerprint in any usual spelling: hex in either case, optionally in pairs separated
// by ':' or groups by '-' or spaces, optionally after "sha256:". `what` names the key in errors.
Result<Fingerprint> parseFingerprint(const QString &text, const QString &what);
// A list of them separated by commas (a sender pins the old and the new key of a receiver
// while it is replaced); at least one.
Result<QList<Fingerprint>> parseFingerprints(const QString &text, const QString &what);
Fingerprint fingerprintOf(const QSslCertificate &certificate);

// This side's key and certificate.
struct TlsIdentity
{
    QSslCertificate certificate;
    QSslKey key;
    Fingerprint fingerprint;
};

// Loads a PEM certificate and its PEM private key. Refuses a key file that its group or others
// may read (as ssh does), a key that does not belong to the certificate, and unreadable files.
Result<TlsIdentity> loadIdentity(const QString &certPath, const QString &keyPath);

// Makes a new identity: an EC P-256 key written to `keyPath` (mode 0600) and a self-signed
// certificate for `commonName` valid for 100 years written to `certPath`. Refuses to replace
// an existing file unless `overwrite` (then each file is replaced atomically).
Result<TlsIdentity> generateIdentity(const QString &certPath, const QString &keyPath,
                                     const QString &commonName, bool overwrite);

// The EDs a receiver accepts: lines "source fingerprint", '#' comments, blank lines. A source may
// be listed with several fingerprints (a key being rotated), a fingerprint with several sources.
class PeerList
{
public:
    // Errors name the file and line: a bad source name, a bad fingerprint, a line that is not two
    // fields, an unreadable file. An empty list is valid (and accepts nobody).
    static Result<PeerList> load(const QString &path);

    bool allows(const QString &source, const Fingerprint &fingerprint) const;
    // The sources listed for a fingerprint (none: an unknown key).
    QStringList sourcesOf(const Fingerprint &fingerprint) const;
    int size() const { return int(m_pairs.size()); }

private:
    QMultiHash<Fingerprint, QString> m_pairs;
};

// TLS 1.3 only, this side's identity, and the peer asked for its certificate without checking
// it against any authority: the fingerprint is checked by the caller once `encrypted()` fired
// (QSslSocket::peerCertificate()), before a single protocol byte is trusted.
QSslConfiguration tlsConfiguration(const TlsIdentity &identity);

// How one side connects, from the configuration (general.cert, general.key, general.transport,
// send.receiver_fingerprint): TLS with an identity, or plain TCP, which off this machine needs
// the explicit opt-in general.transport = plain. Errors name the key and where it was set.
struct Transport
{
    std::shared_ptr<const TlsIdentity> tls; // null: plain TCP
    QList<Fingerprint> receiverFingerprints; // the sender's pins, with TLS
    bool plainOptIn = false;                // general.transport = plain
};
enum class Side { Sender, Receiver };
// For the sender, also: TLS needs the receiver's fingerprint, and plain TCP to a server that is
// not a loopback address needs the opt-in. (The receiver checks its address in listen().)
Result<Transport> transportFromConfig(const Config &config, Side side);

// Whether Qt has a TLS backend that does TLS 1.3 here (Qt's OpenSSL plugin); a message saying
// what is missing otherwise.
Result<void> tlsAvailable();

} // namespace isocket
