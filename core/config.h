#pragma once
// isocket's configuration: one INI file whose keys map the original's scan.conf, watch.conf,
// fsync.conf and lsocket.conf, every key also a command-line option that wins over the file.
//
// Values are validated where they are set: a bad value is an Error naming the key (or option)
// and the file and line, never a silent default. A plain value type, any thread.

#include "core/error.h"
#include "core/receiverpool.h"

#include <QHash>
#include <QList>
#include <QString>
#include <QStringList>

namespace isocket {

struct Config
{
    // [data]: the ED's data root (scan.conf dir, fsync.conf dir) and its markers.
    QString dataRoot = QStringLiteral("/datas");
    QString prefix = QStringLiteral("DC");              // scan.conf tag
    QString doneParse = QStringLiteral("finished.parse"); // scan.conf/watch.conf done_parse
    QString doneWatch = QStringLiteral("finished.watch"); // scan.conf/watch.conf done_watch
    int settleMs = 2000; // a swept file with no lease possible must be still this long

    // [general]
    QString logFile;    // scan.conf/watch.conf/fsync.conf log; empty: stderr only
    QString secretFile; // shared secret for mutual authentication
    // TLS (docs/SECURITY.md): this side's certificate and key (`isocket keygen`), and how to
    // connect: Auto = TLS when a certificate and key are set, else plain TCP (loopback only);
    // Tls = TLS or an error; Plain = plain TCP also off this machine (an explicit opt-in).
    enum class Transport { Auto, Tls, Plain };
    QString certFile;
    QString keyFile;
    Transport transport = Transport::Auto;

    // [send]: the ED side (fsync.conf, lsocket.conf).
    QString server = QStringLiteral("127.0.0.1"); // lsocket.conf server
    quint16 port = 12345;                         // lsocket.conf port
    QString source;                               // empty: the host name
    int jobs = 2;                                 // parallel connections
    int window = 1024;                            // files in flight per connection
    int retryIntervalMs = 2000;                   // fsync.conf error_retry_interval (first backoff)
    int retryMaxMs = 60000;                       // backoff cap
    qint64 bwlimit = 0;                           // bytes per second for all jobs; 0: no limit
    QString receiverFingerprint; // the receiver's certificate fingerprint (TLS), as given

    // [receive]: the DRMS side.
    QString receiveRoot = QStringLiteral("/var/lib/isocket/received");
    QString listenHost = QStringLiteral("127.0.0.1");
    quint16 listenPort = 12345;
    qint64 reserveBytes = 64LL * 1024 * 1024; // free space the receiver always keeps
    bool syncPerFile = false; // true: fsync every file; false (auto): syncfs for batches
    bool arrivalByLink = false; // receive.arrival = link: small files linked in, no rename
    int receiveThreads = 0;   // threads serving connections; 0: one per CPU core
    qint64 partialMaxAgeSecs = 7 * 24 * 3600; // partials untouched this long go; 0: kept
    QString peersFile; // TLS: the EDs accepted, "source fingerprint" per line
    // The secret of monitors (docs/PROTOCOL.md 2.7); empty: monitors prove the shared secret.
    QString monitorSecretFile;

    // [status]: how a running daemon (send, receive) shows its state (docs/STATUS.md).
    QString controlSocket; // the local control socket; empty: the default (controlSocketPath())
    QString metricsHost;   // Prometheus /metrics on metricsHost:metricsPort; empty: off
    quint16 metricsPort = 0;

    // The effective source name: `source`, or the host name when empty.
    QString effectiveSource() const;
    // send.server as a list, send.port where an entry names no port.
    QList<ReceiverAddress> receivers() const;

    // Loads `path` over the current values. Errors name file, line and key: a bad value, an
    // unknown key (an original's key names the key that replaces it, or why it is gone), a key
    // given twice (both lines). `key = value # comment`: a '#' or ';' at the start of a value or
    // after whitespace starts a comment; a value in double quotes keeps them.
    Result<void> loadFile(const QString &path);

    // Sets one key ("send.port") from text; `origin` names where the text came from
    // ("isocket.ini:12" or "--port") and appears in the error.
    Result<void> set(const QString &key, const QString &value, const QString &origin);

    // Where `key` was last set ("isocket.ini:12", "--port"); empty: its default.
    QString originOf(const QString &key) const { return origins.value(key); }
    // A message about a value found wrong after it was set (a log file that cannot be opened, a
    // secret file others can read): "isocket.ini:12: general.log: <why>", "--log: general.log:
    // <why>", or "general.log: <why>" for a default.
    QString keyMessage(const QString &key, const QString &why) const;

    QHash<QString, QString> origins; // key → where it was set

    // Every key, for the sample file, --help and the CLI's option table.
    struct KeyInfo
    {
        QString key;         // "send.port"
        QString option;      // "port" (the long command-line option)
        QString valueName;   // "PORT"
        QString description; // one line
        QString original;    // the original's key it maps, "lsocket.conf port", or empty
    };
    static const QList<KeyInfo> &keys();

    // /etc/isocket/isocket.ini
    static QString defaultPath();

private:
    Result<void> apply(const QString &key, const QString &value, const QString &origin);
};

// Parses "HOST:PORT" or "[v6]:PORT"; `what` names the key or option in the error.
Result<std::pair<QString, quint16>> parseHostPort(const QString &text, const QString &what);

// Parses an age: "0", "90" or "90s", "30m", "12h", "7d" into seconds (at most 10 years).
Result<qint64> parseAgeSecs(const QString &text, const QString &what);

// Parses "123", "64K", "10M", "1G" (powers of 1024) into bytes.
Result<qint64> parseByteSize(const QString &text, const QString &what);

// What a name may hold (docs/PROTOCOL.md section 4). Text: the source name always, and dbtags
// and paths on protocol versions 1 and 2: valid UTF-8, no control characters. Bytes: dbtags and
// paths from version 3 on: any byte but NUL and '/' (the lossless QString of core/fsname.h).
enum class NameRules { Text, Bytes };

// Validates a name used as one path component on the receiver (source, dbtag): non-empty,
// at most 255 bytes, no '/', not "." or "..", no leading '.', no NUL; for Text also valid UTF-8
// and no control characters.
Result<void> validateName(const QString &name, const QString &what,
                          NameRules rules = NameRules::Text);

// Validates a relative path inside a dbtag: components as validateName, at most 4096 bytes.
Result<void> validateRelativePath(const QString &path, const QString &what,
                                  NameRules rules = NameRules::Text);

} // namespace isocket
