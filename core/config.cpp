#include "core/config.h"

#include "core/fsname.h"
#include "core/logging.h"
#include "core/tls.h"

#include <QFile>
#include <QHostAddress>
#include <QHostInfo>
#include <QRegularExpression>
#include <QTextStream>

#include <cmath>
#include <limits>

namespace isocket {

namespace {

Error keyError(const QString &origin, const QString &key, const QString &why)
{
    return Error{ErrorCode::ConfigError, QStringLiteral("%1: %2: %3").arg(origin, key, why)};
}

// The original's keys (scan.conf, watch.conf, fsync.conf, lsocket.conf) that are not a key of
// ours by the same name: what replaces each, or why nothing does.
QString originalKeyHint(const QString &name)
{
    if (name == QLatin1String("dir"))
        return QStringLiteral("the original's scan.conf/fsync.conf 'dir' is 'root' in [data] "
                              "here (the receiver's is 'root' in [receive])");
    if (name == QLatin1String("tag"))
        return QStringLiteral("the original's scan.conf 'tag' is 'prefix' in [data] here");
    if (name == QLatin1String("error_retry_interval"))
        return QStringLiteral("the original's fsync.conf 'error_retry_interval' is "
                              "'retry_interval' in [send] here");
    if (name == QLatin1String("check_interval"))
        return QStringLiteral("the original's scan.conf/fsync.conf 'check_interval' is gone: "
                              "nothing polls, inotify reports new and closed files as they "
                              "happen; remove the line");
    if (name == QLatin1String("tmp"))
        return QStringLiteral("the original's fsync.conf 'tmp' is gone: the ED keeps no scratch "
                              "files (the receiver writes its partials next to the final name "
                              "in its root); remove the line");
    if (name == QLatin1String("syncfile"))
        return QStringLiteral("the original's lsocket.conf 'syncfile' is gone: each file carries "
                              "its own sent mark (g+w and an extended attribute); remove the "
                              "line");
    if (name == QLatin1String("watch"))
        return QStringLiteral("the original's scan.conf 'watch' (the watcher script) is gone: "
                              "watching is built into 'isocket send'; remove the line");
    return QString();
}

// Why `section.name` is not a key: the hint for an original's key, the section where a key of
// that name lives, or plain "unknown key".
QString unknownKeyReason(const QString &section, const QString &name)
{
    if (section == QLatin1String("receive") &&
        (name == QLatin1String("server") || name == QLatin1String("port")))
        return QStringLiteral("unknown key; the receiver's address and port are one key, "
                              "'listen = ADDRESS:PORT' in [receive] (was: lsocket.conf server, "
                              "port)");
    QStringList sections;
    for (const Config::KeyInfo &info : Config::keys())
        if (info.key.section(QLatin1Char('.'), 1) == name)
            sections << QLatin1Char('[') + info.key.section(QLatin1Char('.'), 0, 0) +
                            QLatin1Char(']');
    if (!sections.isEmpty())
        return QStringLiteral("unknown key; '%1' belongs in %2")
            .arg(name, sections.join(QStringLiteral(" or ")));
    const QString hint = originalKeyHint(name);
    return hint.isEmpty() ? QStringLiteral("unknown key") : QStringLiteral("unknown key; ") + hint;
}

// The value of `key = value # comment` (the text after '='): a '#' or ';' at its start or after
// whitespace starts a comment; "a value in double quotes" keeps both. Error: why not.
Result<QString> valueOf(const QString &text)
{
    const QString t = text.trimmed();
    if (t.startsWith(QLatin1Char('"'))) {
        const qsizetype close = t.indexOf(QLatin1Char('"'), 1);
        if (close < 0)
            return Error{ErrorCode::ConfigError, QStringLiteral("the closing '\"' is missing")};
        const QString rest = t.mid(close + 1).trimmed();
        if (!rest.isEmpty() && !rest.startsWith(QLatin1Char('#')) &&
            !rest.startsWith(QLatin1Char(';')))
            return Error{ErrorCode::ConfigError,
                         QStringLiteral("'%1' after the closing '\"' (a comment starts with '#')")
                             .arg(rest)};
        return t.mid(1, close - 1);
    }
    for (qsizetype i = 0; i < t.size(); ++i) {
        const QChar c = t.at(i);
        if ((c == QLatin1Char('#') || c == QLatin1Char(';')) && (i == 0 || t.at(i - 1).isSpace()))
            return t.left(i).trimmed();
    }
    return t;
}

Result<int> parseInt(const QString &text, int min, int max, const QString &what)
{
    bool ok = false;
    const qlonglong v = text.trimmed().toLongLong(&ok);
    if (!ok)
        return Error{ErrorCode::ConfigError, QStringLiteral("'%1' is not a whole number").arg(text)};
    if (v < min || v > max)
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("%1 is out of range %2..%3").arg(text).arg(min).arg(max)};
    Q_UNUSED(what);
    return static_cast<int>(v);
}

// "2" (seconds, as the original's error_retry_interval), "1.5s", "500ms", "2m".
Result<int> parseDurationMs(const QString &text)
{
    static const QRegularExpression re(QStringLiteral("^\\s*([0-9]+(?:\\.[0-9]+)?)\\s*(ms|s|m)?\\s*$"));
    const auto m = re.match(text);
    if (!m.hasMatch())
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("'%1' is not a duration (examples: 2, 1.5s, 500ms, 2m)").arg(text)};
    double v = m.captured(1).toDouble();
    const QString unit = m.captured(2);
    if (unit == QLatin1String("ms"))
        ;
    else if (unit == QLatin1String("m"))
        v *= 60000.0;
    else
        v *= 1000.0;
    if (v > 24.0 * 3600 * 1000)
        return Error{ErrorCode::ConfigError, QStringLiteral("'%1' is longer than a day").arg(text)};
    return static_cast<int>(std::llround(v));
}

Result<quint16> parsePort(const QString &text)
{
    auto r = parseInt(text, 0, 65535, QString());
    if (!r)
        return r.error();
    return static_cast<quint16>(r.value());
}

} // namespace

const QList<Config::KeyInfo> &Config::keys()
{
    static const QList<KeyInfo> table = {
        {QStringLiteral("data.root"), QStringLiteral("root"), QStringLiteral("DIR"),
         QStringLiteral("the ED's data root holding the dbtag directories"),
         QStringLiteral("scan.conf dir, fsync.conf dir")},
        {QStringLiteral("data.prefix"), QStringLiteral("prefix"), QStringLiteral("PREFIX"),
         QStringLiteral("name prefix of dbtag directories"), QStringLiteral("scan.conf tag")},
        {QStringLiteral("data.done_parse"), QStringLiteral("done-parse"), QStringLiteral("NAME"),
         QStringLiteral("marker the producer writes when a dbtag is complete"),
         QStringLiteral("scan.conf/watch.conf done_parse")},
        {QStringLiteral("data.done_watch"), QStringLiteral("done-watch"), QStringLiteral("NAME"),
         QStringLiteral("marker isocket writes when every file of a dbtag is on the receiver"),
         QStringLiteral("scan.conf/watch.conf done_watch")},
        {QStringLiteral("data.settle"), QStringLiteral("settle"), QStringLiteral("DURATION"),
         QStringLiteral("how long a file found by a sweep must be still when no lease can tell "
                        "whether a writer holds it"),
         QString()},
        {QStringLiteral("general.log"), QStringLiteral("log"), QStringLiteral("FILE"),
         QStringLiteral("also append log lines to this file"),
         QStringLiteral("scan.conf/watch.conf/fsync.conf log")},
        {QStringLiteral("general.secret_file"), QStringLiteral("secret-file"), QStringLiteral("FILE"),
         QStringLiteral("shared secret for mutual authentication (mode 0600 or stricter)"),
         QString()},
        {QStringLiteral("general.cert"), QStringLiteral("cert"), QStringLiteral("FILE"),
         QStringLiteral("this side's TLS certificate (PEM, from isocket keygen)"), QString()},
        {QStringLiteral("general.key"), QStringLiteral("key"), QStringLiteral("FILE"),
         QStringLiteral("the private key of that certificate (PEM, mode 0600)"), QString()},
        {QStringLiteral("general.transport"), QStringLiteral("transport"),
         QStringLiteral("auto|tls|plain"),
         QStringLiteral("TLS or plain TCP (auto: TLS when cert and key are set)"), QString()},
        {QStringLiteral("send.server"), QStringLiteral("server"), QStringLiteral("HOST[:PORT],..."),
         QStringLiteral("receiver host, or a list of receivers to spread over and fail over to"),
         QStringLiteral("lsocket.conf server")},
        {QStringLiteral("send.port"), QStringLiteral("port"), QStringLiteral("PORT"),
         QStringLiteral("receiver port"), QStringLiteral("lsocket.conf port")},
        {QStringLiteral("send.source"), QStringLiteral("source"), QStringLiteral("NAME"),
         QStringLiteral("this ED's name on the receiver (default: the host name)"), QString()},
        {QStringLiteral("send.jobs"), QStringLiteral("jobs"), QStringLiteral("N"),
         QStringLiteral("parallel connections to the receiver (1-32)"), QString()},
        {QStringLiteral("send.window"), QStringLiteral("window"), QStringLiteral("N"),
         QStringLiteral("files in flight per connection (1-1024)"), QString()},
        {QStringLiteral("send.retry_interval"), QStringLiteral("retry-interval"),
         QStringLiteral("DURATION"), QStringLiteral("first retry delay after a transient error"),
         QStringLiteral("fsync.conf error_retry_interval")},
        {QStringLiteral("send.retry_max"), QStringLiteral("retry-max"), QStringLiteral("DURATION"),
         QStringLiteral("cap of the exponential retry delay"), QString()},
        {QStringLiteral("send.bwlimit"), QStringLiteral("bwlimit"), QStringLiteral("BYTES"),
         QStringLiteral("limit the sending rate to this many bytes per second (K, M, G; 0: none)"),
         QString()},
        {QStringLiteral("send.receiver_fingerprint"), QStringLiteral("receiver-fingerprint"),
         QStringLiteral("SHA256"),
         QStringLiteral("the receiver's certificate fingerprints this ED trusts (TLS; comma-separated)"), QString()},
        {QStringLiteral("receive.root"), QStringLiteral("root"), QStringLiteral("DIR"),
         QStringLiteral("where the receiver stores <source>/<dbtag>/<path>"), QString()},
        {QStringLiteral("receive.listen"), QStringLiteral("listen"), QStringLiteral("ADDR:PORT"),
         QStringLiteral("address and port the receiver listens on"),
         QStringLiteral("lsocket.conf server, port")},
        {QStringLiteral("receive.reserve"), QStringLiteral("reserve"), QStringLiteral("BYTES"),
         QStringLiteral("free space the receiver keeps on its disk (K, M, G suffixes)"), QString()},
        {QStringLiteral("receive.sync"), QStringLiteral("sync"), QStringLiteral("auto|file"),
         QStringLiteral("how stored files are made durable (auto or file)"),
         QString()},
        {QStringLiteral("receive.arrival"), QStringLiteral("arrival"), QStringLiteral("rename|link"),
         QStringLiteral("how a stored file appears at its final name (rename or link)"),
         QString()},
        {QStringLiteral("receive.threads"), QStringLiteral("threads"), QStringLiteral("N"),
         QStringLiteral("threads serving connections (1-16; 0: one per CPU core)"), QString()},
        {QStringLiteral("receive.partial_max_age"), QStringLiteral("partial-max-age"),
         QStringLiteral("AGE"),
         QStringLiteral("remove partials of interrupted transfers untouched this long (s, m, h, d; "
                        "0: keep them)"),
         QString()},
        {QStringLiteral("receive.peers"), QStringLiteral("peers"), QStringLiteral("FILE"),
         QStringLiteral("the EDs accepted over TLS: lines 'SOURCE FINGERPRINT'"), QString()},
        {QStringLiteral("receive.monitor_secret_file"), QStringLiteral("monitor-secret-file"),
         QStringLiteral("FILE"),
         QStringLiteral("secret of read-only monitors, which cannot send data (mode 0600 or "
                        "stricter; unset: monitors use the shared secret)"),
         QString()},
        {QStringLiteral("status.control_socket"), QStringLiteral("control-socket"),
         QStringLiteral("PATH"),
         QStringLiteral("the local socket where the running daemon answers isocket status"),
         QString()},
        {QStringLiteral("status.metrics"), QStringLiteral("metrics"), QStringLiteral("ADDR:PORT"),
         QStringLiteral("serve Prometheus metrics over HTTP on this address (off when empty)"),
         QString()},
    };
    return table;
}

QString Config::defaultPath()
{
    return QStringLiteral("/etc/isocket/isocket.ini");
}

QList<ReceiverAddress> Config::receivers() const
{
    auto list = parseReceiverList(server, port);
    return list ? list.value() : QList<ReceiverAddress>{{server, port}};
}

QString Config::effectiveSource() const
{
    if (!source.isEmpty())
        return source;
    const QString host = QHostInfo::localHostName();
    return host.isEmpty() ? QStringLiteral("localhost") : host;
}

QString Config::keyMessage(const QString &key, const QString &why) const
{
    const QString origin = originOf(key);
    return origin.isEmpty() ? QStringLiteral("%1: %2").arg(key, why)
                            : keyError(origin, key, why).message;
}

Result<void> Config::set(const QString &key, const QString &rawValue, const QString &origin)
{
    auto r = apply(key, rawValue, origin);
    if (r)
        origins.insert(key, origin);
    return r;
}

Result<void> Config::apply(const QString &key, const QString &rawValue, const QString &origin)
{
    const QString value = rawValue.trimmed();
    auto fail = [&](const QString &why) -> Result<void> { return keyError(origin, key, why); };
    auto nonEmpty = [&](QString &field) -> Result<void> {
        if (value.isEmpty())
            return fail(QStringLiteral("must not be empty"));
        field = value;
        return {};
    };
    auto markerName = [&](QString &field) -> Result<void> {
        if (auto r = validateName(value, key); !r)
            return fail(r.error().message);
        field = value;
        return {};
    };
    auto duration = [&](int &field) -> Result<void> {
        auto r = parseDurationMs(value);
        if (!r)
            return fail(r.error().message);
        field = r.value();
        return {};
    };
    auto integer = [&](int &field, int min, int max) -> Result<void> {
        auto r = parseInt(value, min, max, key);
        if (!r)
            return fail(r.error().message);
        field = r.value();
        return {};
    };

    if (key == QLatin1String("data.root"))
        return nonEmpty(dataRoot);
    if (key == QLatin1String("data.prefix")) {
        if (value.contains(QLatin1Char('/')) || value.startsWith(QLatin1Char('.')))
            return fail(QStringLiteral("'%1' cannot start a directory name").arg(value));
        prefix = value; // an empty prefix takes every directory
        return {};
    }
    if (key == QLatin1String("data.done_parse"))
        return markerName(doneParse);
    if (key == QLatin1String("data.done_watch"))
        return markerName(doneWatch);
    if (key == QLatin1String("data.settle"))
        return duration(settleMs);
    if (key == QLatin1String("general.log")) {
        logFile = value;
        return {};
    }
    if (key == QLatin1String("general.secret_file")) {
        secretFile = value;
        return {};
    }
    if (key == QLatin1String("general.cert"))
        return nonEmpty(certFile);
    if (key == QLatin1String("general.key"))
        return nonEmpty(keyFile);
    if (key == QLatin1String("general.transport")) {
        if (value == QLatin1String("auto"))
            transport = Transport::Auto;
        else if (value == QLatin1String("tls"))
            transport = Transport::Tls;
        else if (value == QLatin1String("plain"))
            transport = Transport::Plain;
        else
            return fail(QStringLiteral("must be auto, tls or plain, not '%1'").arg(value));
        return {};
    }
    if (key == QLatin1String("send.receiver_fingerprint")) {
        if (auto r = parseFingerprints(value, key); !r)
            return fail(r.error().message.section(QStringLiteral(": "), 1));
        receiverFingerprint = value;
        return {};
    }
    if (key == QLatin1String("receive.peers"))
        return nonEmpty(peersFile);
    if (key == QLatin1String("receive.monitor_secret_file"))
        return nonEmpty(monitorSecretFile);
    if (key == QLatin1String("send.server")) {
        // One host (with send.port), or a list of receivers: "a:4000, b, [::1]:4001".
        if (auto r = parseReceiverList(value, 1); !r)
            return fail(r.error().message);
        server = value.trimmed();
        return {};
    }
    if (key == QLatin1String("send.port")) {
        auto r = parsePort(value);
        if (!r || r.value() == 0)
            return fail(QStringLiteral("'%1' is not a port (1-65535)").arg(value));
        port = r.value();
        return {};
    }
    if (key == QLatin1String("send.source")) {
        if (auto r = validateName(value, key); !r)
            return fail(r.error().message);
        source = value;
        return {};
    }
    if (key == QLatin1String("send.jobs"))
        return integer(jobs, 1, 32);
    if (key == QLatin1String("send.window"))
        return integer(window, 1, 1024);
    if (key == QLatin1String("send.retry_interval"))
        return duration(retryIntervalMs);
    if (key == QLatin1String("send.retry_max"))
        return duration(retryMaxMs);
    if (key == QLatin1String("send.bwlimit")) {
        auto r = parseByteSize(value, QString());
        if (!r)
            return fail(r.error().message);
        bwlimit = r.value();
        return {};
    }
    if (key == QLatin1String("receive.root"))
        return nonEmpty(receiveRoot);
    if (key == QLatin1String("receive.listen")) {
        auto r = parseHostPort(value, QString());
        if (!r)
            return fail(r.error().message);
        listenHost = r.value().first;
        listenPort = r.value().second;
        return {};
    }
    if (key == QLatin1String("receive.reserve")) {
        auto r = parseByteSize(value, QString());
        if (!r)
            return fail(r.error().message);
        reserveBytes = r.value();
        return {};
    }
    if (key == QLatin1String("receive.sync")) {
        if (value != QLatin1String("auto") && value != QLatin1String("file"))
            return fail(QStringLiteral("must be auto or file, not '%1'").arg(value));
        syncPerFile = value == QLatin1String("file");
        return {};
    }
    if (key == QLatin1String("receive.arrival")) {
        if (value != QLatin1String("rename") && value != QLatin1String("link"))
            return fail(QStringLiteral("must be rename or link, not '%1'").arg(value));
        arrivalByLink = value == QLatin1String("link");
        return {};
    }
    if (key == QLatin1String("receive.threads"))
        return integer(receiveThreads, 0, 16);
    if (key == QLatin1String("receive.partial_max_age")) {
        auto r = parseAgeSecs(value, QString());
        if (!r)
            return fail(r.error().message);
        partialMaxAgeSecs = r.value();
        return {};
    }
    if (key == QLatin1String("status.control_socket")) {
        if (!value.isEmpty() && !value.startsWith(QLatin1Char('/')))
            return fail(QStringLiteral("'%1' is not an absolute path").arg(value));
        controlSocket = value;
        return {};
    }
    if (key == QLatin1String("status.metrics")) {
        if (value.isEmpty()) {
            metricsHost.clear();
            metricsPort = 0;
            return {};
        }
        auto r = parseHostPort(value, QString());
        if (!r)
            return fail(r.error().message);
        // An address, not a name: what is exposed must be plain to read.
        if (QHostAddress(r.value().first).isNull())
            return fail(QStringLiteral("'%1' is not an IP address (127.0.0.1, ::1, or an "
                                       "address of this machine)")
                            .arg(r.value().first));
        metricsHost = r.value().first;
        metricsPort = r.value().second;
        return {};
    }
    return fail(unknownKeyReason(key.section(QLatin1Char('.'), 0, 0),
                                 key.section(QLatin1Char('.'), 1)));
}

Result<void> Config::loadFile(const QString &path)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly | QIODevice::Text))
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("cannot read configuration %1: %2").arg(path, file.errorString())};
    QTextStream in(&file);
    QString section;
    int lineNo = 0;
    QHash<QString, int> lineOf; // key → the line that set it
    while (!in.atEnd()) {
        const QString line = in.readLine().trimmed();
        ++lineNo;
        const QString origin = QStringLiteral("%1:%2").arg(path).arg(lineNo);
        if (line.isEmpty() || line.startsWith(QLatin1Char('#')) || line.startsWith(QLatin1Char(';')))
            continue;
        if (line.startsWith(QLatin1Char('['))) {
            const qsizetype close = line.indexOf(QLatin1Char(']'));
            const auto rest = valueOf(line.mid(close + 1));
            if (close < 0 || !rest || !rest.value().isEmpty())
                return Error{ErrorCode::ConfigError,
                             QStringLiteral("%1: malformed section header '%2'").arg(origin, line)};
            section = line.mid(1, close - 1).trimmed();
            continue;
        }
        const qsizetype eq = line.indexOf(QLatin1Char('='));
        if (eq <= 0)
            return Error{ErrorCode::ConfigError,
                         QStringLiteral("%1: expected 'key = value', got '%2'").arg(origin, line)};
        const QString name = line.left(eq).trimmed();
        if (section.isEmpty()) {
            const QString hint = originalKeyHint(name);
            return Error{ErrorCode::ConfigError,
                         QStringLiteral("%1: key '%2' outside of a [section]%3")
                             .arg(origin, name,
                                  hint.isEmpty() ? QString() : QStringLiteral("; ") + hint)};
        }
        const QString key = section + QLatin1Char('.') + name;
        const auto value = valueOf(line.mid(eq + 1));
        if (!value)
            return keyError(origin, key, value.error().message);
        if (const int first = lineOf.value(key); first > 0)
            return keyError(origin, key,
                            QStringLiteral("given twice, at lines %1 and %2; keep one")
                                .arg(first)
                                .arg(lineNo));
        lineOf.insert(key, lineNo);
        if (auto r = set(key, value.value(), origin); !r)
            return r;
    }
    qCDebug(lcConfig) << "loaded" << path;
    return {};
}

Result<std::pair<QString, quint16>> parseHostPort(const QString &text, const QString &whatIn)
{
    const QString what = whatIn.isEmpty() ? QString() : whatIn + QStringLiteral(": ");
    const QString t = text.trimmed();
    QString host;
    QString portText;
    if (t.startsWith(QLatin1Char('['))) {
        const qsizetype close = t.indexOf(QLatin1String("]:"));
        if (close < 0)
            return Error{ErrorCode::ConfigError,
                         QStringLiteral("%1'%2' is not [ADDRESS]:PORT").arg(what, text)};
        host = t.mid(1, close - 1);
        portText = t.mid(close + 2);
    } else {
        const qsizetype colon = t.lastIndexOf(QLatin1Char(':'));
        if (colon <= 0 || t.indexOf(QLatin1Char(':')) != colon)
            return Error{ErrorCode::ConfigError,
                         QStringLiteral("%1'%2' is not HOST:PORT").arg(what, text)};
        host = t.left(colon);
        portText = t.mid(colon + 1);
    }
    bool ok = false;
    const uint port = portText.toUInt(&ok);
    if (!ok || port > 65535 || host.isEmpty())
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("%1'%2' has no valid port (0-65535)").arg(what, text)};
    return std::pair<QString, quint16>{host, static_cast<quint16>(port)};
}

Result<qint64> parseAgeSecs(const QString &text, const QString &what)
{
    static const QRegularExpression re(QStringLiteral("^\\s*([0-9]{1,9})\\s*([smhd]?)\\s*$"));
    const auto m = re.match(text);
    const QString prefix = what.isEmpty() ? QString() : what + QStringLiteral(": ");
    if (!m.hasMatch())
        return Error{
            ErrorCode::ConfigError,
            prefix +
                QStringLiteral("'%1' is not an age (examples: 0, 90s, 30m, 12h, 7d)").arg(text)};
    const QString unit = m.captured(2);
    const qint64 scale = unit == QLatin1String("d")   ? 86400
                         : unit == QLatin1String("h") ? 3600
                         : unit == QLatin1String("m") ? 60
                                                      : 1;
    const qint64 secs = m.captured(1).toLongLong() * scale;
    if (secs > 3650LL * 86400)
        return Error{ErrorCode::ConfigError,
                     prefix + QStringLiteral("'%1' is longer than ten years").arg(text)};
    return secs;
}

Result<qint64> parseByteSize(const QString &text, const QString &whatIn)
{
    const QString what = whatIn.isEmpty() ? QString() : whatIn + QStringLiteral(": ");
    static const QRegularExpression re(QStringLiteral("^\\s*([0-9]+)\\s*([KMGT]?)(i?B)?\\s*$"),
                                       QRegularExpression::CaseInsensitiveOption);
    const auto m = re.match(text);
    if (!m.hasMatch())
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("%1'%2' is not a size (examples: 0, 512K, 64M, 2G)").arg(what, text)};
    bool ok = false;
    qint64 v = m.captured(1).toLongLong(&ok);
    const QString unit = m.captured(2).toUpper();
    int shift = unit == QLatin1String("K") ? 10 : unit == QLatin1String("M") ? 20
              : unit == QLatin1String("G") ? 30 : unit == QLatin1String("T") ? 40 : 0;
    if (!ok || v > (std::numeric_limits<qint64>::max() >> shift))
        return Error{ErrorCode::ConfigError, QStringLiteral("%1'%2' is too large").arg(what, text)};
    return v << shift;
}

Result<void> validateName(const QString &name, const QString &what, NameRules rules)
{
    auto bad = [&](const QString &why) -> Result<void> {
        return Error{ErrorCode::BadPath,
                     QStringLiteral("%1 '%2' %3").arg(what, displayName(name), why)};
    };
    if (name.isEmpty())
        return bad(QStringLiteral("is empty"));
    if (fsLength(name) > 255)
        return bad(QStringLiteral("is longer than 255 bytes"));
    if (name == QLatin1String(".") || name == QLatin1String(".."))
        return bad(QStringLiteral("is not a name"));
    if (name.startsWith(QLatin1Char('.')))
        return bad(QStringLiteral("starts with '.' (hidden names are reserved)"));
    for (const QChar c : name) {
        if (c == QLatin1Char('/'))
            return bad(QStringLiteral("contains '/'"));
        if (c.unicode() == 0)
            return bad(QStringLiteral("contains a NUL byte"));
        if (rules == NameRules::Text && (c.unicode() < 0x20 || c.unicode() == 0x7f))
            return bad(QStringLiteral("contains a control character"));
    }
    if (rules == NameRules::Text && !isUtf8Name(name))
        return bad(QStringLiteral("is not valid UTF-8"));
    return {};
}

Result<void> validateRelativePath(const QString &path, const QString &what, NameRules rules)
{
    if (path.isEmpty())
        return Error{ErrorCode::BadPath, QStringLiteral("%1 is empty").arg(what)};
    if (path.startsWith(QLatin1Char('/')))
        return Error{ErrorCode::BadPath,
                     QStringLiteral("%1 '%2' is absolute").arg(what, displayName(path))};
    if (fsLength(path) > 4096)
        return Error{ErrorCode::BadPath, QStringLiteral("%1 is longer than 4096 bytes").arg(what)};
    for (const QStringView part : QStringView(path).split(QLatin1Char('/'))) {
        if (part.isEmpty())
            return Error{
                ErrorCode::BadPath,
                QStringLiteral("%1 '%2' has an empty component").arg(what, displayName(path))};
        if (auto r = validateName(part.toString(), what, rules); !r)
            return r;
    }
    return {};
}

} // namespace isocket
