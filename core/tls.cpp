#include "core/tls.h"

#include "core/protocol.h"

#include "core/config.h"
#include "core/fileutil.h"

#include <QCryptographicHash>
#include <QFile>
#include <QHostAddress>
#include <QSslSocket>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace isocket {

namespace {

template <typename T, void (*Free)(T *)>
struct Deleter
{
    void operator()(T *p) const { Free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;

QByteArray bioBytes(BIO *bio)
{
    char *data = nullptr;
    const long n = BIO_get_mem_data(bio, &data);
    return QByteArray(data, int(n));
}

Error cryptoError(const QString &what)
{
    return Error{ErrorCode::IoError, QStringLiteral("cannot %1 (OpenSSL failed)").arg(what)};
}

// Writes `bytes` to `path` with `mode`: a new file only (O_EXCL), or, with `overwrite`, a
// temporary renamed over it, so that a crash never leaves half a key.
Result<void> writeFile(const QString &path, const QByteArray &bytes, mode_t mode, bool overwrite)
{
    const QByteArray native = QFile::encodeName(path);
    const QByteArray target = overwrite ? native + ".isocket-new" : native;
    if (overwrite)
        ::unlink(target.constData()); // left by a run that was cut short
    UniqueFd fd(::open(target.constData(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!fd.valid()) {
        const int err = errno;
        if (err == EEXIST && !overwrite)
            return Error{ErrorCode::ConfigError,
                         QStringLiteral("%1 exists; not replaced (--force replaces it)").arg(path)};
        return Error{ErrorCode::IoError, QStringLiteral("cannot create %1: %2")
                                             .arg(QFile::decodeName(target), osError(err))};
    }
    qint64 done = 0;
    while (done < bytes.size()) {
        const ssize_t n = ::write(fd.get(), bytes.constData() + done, size_t(bytes.size() - done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            const int err = errno;
            ::unlink(target.constData());
            return Error{ErrorCode::IoError,
                         QStringLiteral("cannot write %1: %2").arg(path, osError(err))};
        }
        done += n;
    }
    if (::fchmod(fd.get(), mode) != 0 || ::fsync(fd.get()) != 0) {
        const int err = errno;
        ::unlink(target.constData());
        return Error{ErrorCode::IoError,
                     QStringLiteral("cannot write %1: %2").arg(path, osError(err))};
    }
    if (overwrite && ::rename(target.constData(), native.constData()) != 0) {
        const int err = errno;
        ::unlink(target.constData());
        return Error{ErrorCode::IoError,
                     QStringLiteral("cannot replace %1: %2").arg(path, osError(err))};
    }
    return {};
}

Result<QByteArray> readSmallFile(const QString &path, const QString &what)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly))
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("cannot read the %1 %2: %3").arg(what, path, file.errorString())};
    if (file.size() > 1024 * 1024)
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("the %1 %2 is over 1 MiB: not a PEM file").arg(what, path)};
    return file.readAll();
}

// Whether the private key in `keyPem` is the one of the certificate in `certPem`.
bool keyMatches(const QByteArray &certPem, const QByteArray &keyPem)
{
    BioPtr certBio(BIO_new_mem_buf(certPem.constData(), int(certPem.size())));
    BioPtr keyBio(BIO_new_mem_buf(keyPem.constData(), int(keyPem.size())));
    if (!certBio || !keyBio)
        return false;
    X509Ptr cert(PEM_read_bio_X509(certBio.get(), nullptr, nullptr, nullptr));
    // No passphrase prompt on a terminal: an encrypted key is refused.
    auto noPassphrase = [](char *, int, int, void *) { return 0; };
    PkeyPtr key(PEM_read_bio_PrivateKey(keyBio.get(), nullptr, noPassphrase, nullptr));
    return cert && key && X509_check_private_key(cert.get(), key.get()) == 1;
}

} // namespace

QString fingerprintText(const Fingerprint &fingerprint)
{
    return QString::fromLatin1(fingerprint.toHex());
}

QString fingerprintsText(const QList<Fingerprint> &fingerprints)
{
    QStringList out;
    for (const Fingerprint &fp : fingerprints)
        out.append(fingerprintText(fp));
    return out.join(QLatin1Char(','));
}

Result<Fingerprint> parseFingerprint(const QString &text, const QString &what)
{
    QString hex = text.trimmed();
    if (hex.startsWith(QLatin1String("sha256:"), Qt::CaseInsensitive))
        hex = hex.mid(7);
    hex.remove(QLatin1Char(':')).remove(QLatin1Char('-')).remove(QLatin1Char(' '));
    const bool digits = std::all_of(hex.cbegin(), hex.cend(), [](QChar c) {
        return (c >= QLatin1Char('0') && c <= QLatin1Char('9')) ||
               (c.toLower() >= QLatin1Char('a') && c.toLower() <= QLatin1Char('f'));
    });
    if (hex.size() != 64 || !digits)
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("%1: '%2' is not a SHA-256 fingerprint (64 hex digits, as "
                                    "`isocket keygen` prints)")
                         .arg(what, text.left(100))};
    return QByteArray::fromHex(hex.toLatin1());
}

Result<QList<Fingerprint>> parseFingerprints(const QString &text, const QString &what)
{
    QList<Fingerprint> out;
    for (const QString &part : text.split(QLatin1Char(','), Qt::SkipEmptyParts)) {
        auto fp = parseFingerprint(part, what);
        if (!fp)
            return fp.error();
        out.append(fp.value());
    }
    if (out.isEmpty())
        return Error{ErrorCode::ConfigError, QStringLiteral("%1: no fingerprint given").arg(what)};
    return out;
}

Fingerprint fingerprintOf(const QSslCertificate &certificate)
{
    if (certificate.isNull())
        return {};
    return QCryptographicHash::hash(certificate.toDer(), QCryptographicHash::Sha256);
}

Result<TlsIdentity> loadIdentity(const QString &certPath, const QString &keyPath)
{
    if (certPath.isEmpty() || keyPath.isEmpty())
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("TLS needs both a certificate (general.cert, --cert) and its "
                                    "key (general.key, --key)")};
    struct stat st = {};
    if (::stat(QFile::encodeName(keyPath).constData(), &st) != 0)
        return Error{ErrorCode::ConfigError, QStringLiteral("cannot read the key %1: %2")
                                                 .arg(keyPath, osError(errno))};
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("the key %1 may be read by others (mode %2): chmod 600 it")
                         .arg(keyPath)
                         .arg(st.st_mode & 07777, 4, 8, QLatin1Char('0'))};
    auto certBytes = readSmallFile(certPath, QStringLiteral("certificate"));
    if (!certBytes)
        return certBytes.error();
    auto keyBytes = readSmallFile(keyPath, QStringLiteral("key"));
    if (!keyBytes)
        return keyBytes.error();
    const auto certs = QSslCertificate::fromData(certBytes.value(), QSsl::Pem);
    if (certs.isEmpty())
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("%1 holds no PEM certificate").arg(certPath)};
    TlsIdentity identity;
    identity.certificate = certs.first();
    for (const QSsl::KeyAlgorithm algorithm : {QSsl::Ec, QSsl::Rsa}) {
        identity.key = QSslKey(keyBytes.value(), algorithm, QSsl::Pem, QSsl::PrivateKey);
        if (!identity.key.isNull())
            break;
    }
    if (identity.key.isNull())
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("%1 holds no PEM private key (EC or RSA, unencrypted)")
                         .arg(keyPath)};
    if (!keyMatches(certBytes.value(), keyBytes.value()))
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("the key %1 does not belong to the certificate %2 (made by "
                                    "two different keygen runs?)")
                         .arg(keyPath, certPath)};
    identity.fingerprint = fingerprintOf(identity.certificate);
    return identity;
}

Result<TlsIdentity> generateIdentity(const QString &certPath, const QString &keyPath,
                                     const QString &commonName, bool overwrite)
{
    PkeyPtr key(EVP_EC_gen("P-256"));
    if (!key)
        return cryptoError(QStringLiteral("make an EC P-256 key"));
    X509Ptr cert(X509_new());
    BnPtr serial(BN_new());
    if (!cert || !serial || !X509_set_version(cert.get(), 2) ||
        !BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
        !BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) ||
        !X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) ||
        !X509_time_adj_ex(X509_getm_notAfter(cert.get()), 36500, 0, nullptr) ||
        !X509_set_pubkey(cert.get(), key.get()))
        return cryptoError(QStringLiteral("make a certificate"));
    X509_NAME *name = X509_get_subject_name(cert.get());
    const QByteArray cn = (QStringLiteral("isocket ") + commonName).toUtf8().left(64);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                    reinterpret_cast<const unsigned char *>(cn.constData()),
                                    int(cn.size()), -1, 0) ||
        !X509_set_issuer_name(cert.get(), name) || !X509_sign(cert.get(), key.get(), EVP_sha256()))
        return cryptoError(QStringLiteral("sign the certificate"));

    BioPtr keyBio(BIO_new(BIO_s_mem()));
    BioPtr certBio(BIO_new(BIO_s_mem()));
    if (!keyBio || !certBio ||
        !PEM_write_bio_PrivateKey_traditional(keyBio.get(), key.get(), nullptr, nullptr, 0,
                                              nullptr, nullptr) ||
        !PEM_write_bio_X509(certBio.get(), cert.get()))
        return cryptoError(QStringLiteral("write PEM"));
    // The key first: a certificate without its key is of no use, a key without its
    // certificate is made again by running keygen again.
    if (auto r = writeFile(keyPath, bioBytes(keyBio.get()), 0600, overwrite); !r)
        return r.error();
    if (auto r = writeFile(certPath, bioBytes(certBio.get()), 0644, overwrite); !r)
        return r.error();
    return loadIdentity(certPath, keyPath);
}

Result<PeerList> PeerList::load(const QString &path)
{
    auto bytes = readSmallFile(path, QStringLiteral("peers file"));
    if (!bytes)
        return bytes.error();
    PeerList list;
    const QList<QByteArray> lines = bytes.value().split('\n');
    for (int i = 0; i < lines.size(); ++i) {
        QString line = QString::fromUtf8(lines[i]);
        if (const int hash = line.indexOf(QLatin1Char('#')); hash >= 0)
            line.truncate(hash);
        line = line.trimmed();
        if (line.isEmpty())
            continue;
        const QString where = QStringLiteral("%1:%2").arg(path).arg(i + 1);
        const QStringList fields = line.split(QLatin1Char(' '), Qt::SkipEmptyParts)
                                       .join(QLatin1Char('\t'))
                                       .split(QLatin1Char('\t'), Qt::SkipEmptyParts);
        if (fields.size() != 2)
            return Error{ErrorCode::ConfigError,
                         QStringLiteral("%1: expected 'SOURCE FINGERPRINT', got '%2'")
                             .arg(where, line.left(200))};
        // A monitor (docs/PROTOCOL.md 2.7) is listed as its HELLO names it: a dot, its name.
        const bool monitor = proto::isMonitorSource(fields[0]);
        if (auto r = validateName(monitor ? proto::monitorName(fields[0]) : fields[0],
                                  QStringLiteral("source"));
            !r)
            return Error{ErrorCode::ConfigError,
                         QStringLiteral("%1: %2").arg(where, r.error().message)};
        auto fp = parseFingerprint(fields[1], where);
        if (!fp)
            return fp.error();
        if (!list.allows(fields[0], fp.value()))
            list.m_pairs.insert(fp.value(), fields[0]);
    }
    return list;
}

bool PeerList::allows(const QString &source, const Fingerprint &fingerprint) const
{
    return !fingerprint.isEmpty() && m_pairs.contains(fingerprint, source);
}

QStringList PeerList::sourcesOf(const Fingerprint &fingerprint) const
{
    QStringList sources = m_pairs.values(fingerprint);
    sources.sort();
    return sources;
}

QSslConfiguration tlsConfiguration(const TlsIdentity &identity)
{
    QSslConfiguration config = QSslConfiguration::defaultConfiguration();
    config.setProtocol(QSsl::TlsV1_3OrLater);
    config.setLocalCertificate(identity.certificate);
    config.setPrivateKey(identity.key);
    // No authority vouches for a self-signed certificate: ask for the peer's and check its
    // fingerprint ourselves (pinning), instead of a chain.
    config.setPeerVerifyMode(QSslSocket::QueryPeer);
    config.setCaCertificates({});
    // No session tickets: nothing of a session outlives its connection.
    config.setSslOption(QSsl::SslOptionDisableSessionTickets, true);
    return config;
}

Result<Transport> transportFromConfig(const Config &config, Side side)
{
    Transport transport;
    const bool keys = !config.certFile.isEmpty() || !config.keyFile.isEmpty();
    const auto key = [&](const char *name, const QString &why) {
        return Error{ErrorCode::ConfigError, config.keyMessage(QLatin1String(name), why)};
    };
    if (config.transport == Config::Transport::Plain) {
        transport.plainOptIn = true;
        return transport;
    }
    if (config.transport == Config::Transport::Tls || keys) {
        if (auto r = tlsAvailable(); !r)
            return r.error();
        auto identity = loadIdentity(config.certFile, config.keyFile);
        if (!identity)
            return key(config.certFile.isEmpty() ? "general.cert" : "general.key",
                       identity.error().message);
        transport.tls = std::make_shared<const TlsIdentity>(identity.value());
        if (side == Side::Sender) {
            if (config.receiverFingerprint.isEmpty())
                return key("send.receiver_fingerprint",
                           QStringLiteral("not set: with TLS this ED trusts only the receiver "
                                          "whose fingerprint it knows (print it on the "
                                          "receiver with `isocket keygen --show --cert FILE`)"));
            auto pins = parseFingerprints(config.receiverFingerprint, QStringLiteral("value"));
            if (!pins)
                return key("send.receiver_fingerprint", pins.error().message);
            transport.receiverFingerprints = pins.value();
        }
        return transport;
    }
    if (side == Side::Sender) {
        // Every receiver of the list: plain TCP stays on this machine.
        for (const ReceiverAddress &receiver : config.receivers()) {
            QHostAddress address;
            const bool loopback = receiver.host == QLatin1String("localhost") ||
                                  (address.setAddress(receiver.host) && address.isLoopback());
            if (!loopback)
                return key("send.server",
                           QStringLiteral("%1 is not a loopback address: give this ED a key "
                                          "(`isocket keygen`; general.cert, general.key) and the "
                                          "receiver's fingerprint (send.receiver_fingerprint), or "
                                          "opt in to plain TCP with general.transport = plain")
                               .arg(receiver.host));
        }
    }
    return transport;
}

Result<void> tlsAvailable()
{
    if (!QSslSocket::supportsSsl())
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("TLS is not available: Qt found no TLS backend (Debian: the "
                                    "OpenSSL backend ships with libqt6network6; libssl3 missing?)")};
    if (!QSslSocket::isProtocolSupported(QSsl::TlsV1_3OrLater))
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("TLS 1.3 is not available in Qt's TLS backend '%1'")
                         .arg(QSslSocket::activeBackend())};
    return {};
}

} // namespace isocket
