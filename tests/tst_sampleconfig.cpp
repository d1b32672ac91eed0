// The sample resources/isocket.ini: it loads cleanly, names every key of Config::keys() in the
// right section with its description and original key, and tells the truth about the defaults
// (both what it leaves commented out and what it would set when uncommented).

#include "core/config.h"

#include <QFile>
#include <QHash>
#include <QRegularExpression>
#include <QTest>

using namespace isocket;

#ifndef ISOCKET_SAMPLE_INI
#error "ISOCKET_SAMPLE_INI must name resources/isocket.ini"
#endif

class TestSampleConfig : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void loadsCleanly();
    void everyKeyInItsSection();
    void noUnknownKeys();
    void documentsEveryKey();
    void commentedValuesAreTheDefaults();

private:
    struct KeyLine
    {
        QString value;
        bool commented = false;
        int line = 0;
        QString comment; // the comment block just above, joined with spaces
    };
    QHash<QString, KeyLine> m_lines; // "section.key" → its line in the sample
    QStringList m_duplicates;
};

namespace {

// Every difference between two configurations, as "field: a != b".
QStringList differences(const Config &a, const Config &b)
{
    QStringList out;
    auto check = [&](const char *field, const auto &x, const auto &y) {
        if (!(x == y))
            out.append(QLatin1String(field) + QStringLiteral(": %1 != %2").arg(x).arg(y));
    };
    check("dataRoot", a.dataRoot, b.dataRoot);
    check("prefix", a.prefix, b.prefix);
    check("doneParse", a.doneParse, b.doneParse);
    check("doneWatch", a.doneWatch, b.doneWatch);
    check("settleMs", a.settleMs, b.settleMs);
    check("logFile", a.logFile, b.logFile);
    check("secretFile", a.secretFile, b.secretFile);
    check("server", a.server, b.server);
    check("port", a.port, b.port);
    check("source", a.source, b.source);
    check("jobs", a.jobs, b.jobs);
    check("window", a.window, b.window);
    check("retryIntervalMs", a.retryIntervalMs, b.retryIntervalMs);
    check("retryMaxMs", a.retryMaxMs, b.retryMaxMs);
    check("receiveRoot", a.receiveRoot, b.receiveRoot);
    check("listenHost", a.listenHost, b.listenHost);
    check("listenPort", a.listenPort, b.listenPort);
    check("reserveBytes", a.reserveBytes, b.reserveBytes);
    check("syncPerFile", a.syncPerFile, b.syncPerFile);
    check("arrivalByLink", a.arrivalByLink, b.arrivalByLink);
    check("receiveThreads", a.receiveThreads, b.receiveThreads);
    check("certFile", a.certFile, b.certFile);
    check("keyFile", a.keyFile, b.keyFile);
    check("transport", int(a.transport), int(b.transport));
    check("receiverFingerprint", a.receiverFingerprint, b.receiverFingerprint);
    check("peersFile", a.peersFile, b.peersFile);
    check("monitorSecretFile", a.monitorSecretFile, b.monitorSecretFile);
    check("controlSocket", a.controlSocket, b.controlSocket);
    check("metricsHost", a.metricsHost, b.metricsHost);
    check("metricsPort", a.metricsPort, b.metricsPort);
    return out;
}

} // namespace

void TestSampleConfig::initTestCase()
{
    QFile file(QStringLiteral(ISOCKET_SAMPLE_INI));
    QVERIFY2(file.open(QIODevice::ReadOnly | QIODevice::Text), qPrintable(file.errorString()));
    static const QRegularExpression keyRe(QStringLiteral("^([#;]?)\\s*([a-z_]+)\\s*=\\s*(.*)$"));
    static const QRegularExpression sectionRe(QStringLiteral("^\\[([a-z]+)\\]$"));
    QString section;
    QStringList comment;
    int lineNo = 0;
    const QStringList lines = QString::fromUtf8(file.readAll()).split(QLatin1Char('\n'));
    for (const QString &raw : lines) {
        ++lineNo;
        const QString line = raw.trimmed();
        if (const auto m = sectionRe.match(line); m.hasMatch()) {
            section = m.captured(1);
            comment.clear();
            continue;
        }
        const auto m = keyRe.match(line);
        if (m.hasMatch() && !section.isEmpty()) {
            const QString key = section + QLatin1Char('.') + m.captured(2);
            if (m_lines.contains(key))
                m_duplicates.append(key);
            m_lines.insert(key, KeyLine{m.captured(3).trimmed(), !m.captured(1).isEmpty(), lineNo,
                                        comment.join(QLatin1Char(' '))});
            comment.clear();
        } else if (line.startsWith(QLatin1Char('#'))) {
            comment.append(line.mid(1).trimmed());
        } else if (line.isEmpty()) {
            comment.clear();
        }
    }
    QVERIFY(!m_lines.isEmpty());
}

void TestSampleConfig::loadsCleanly()
{
    Config config;
    const auto r = config.loadFile(QStringLiteral(ISOCKET_SAMPLE_INI));
    QVERIFY2(r.ok(), r.ok() ? "" : qPrintable(r.error().message));
    const QStringList diff = differences(config, Config());
    QVERIFY2(diff.isEmpty(), qPrintable(diff.join(QStringLiteral("; "))));
}

void TestSampleConfig::everyKeyInItsSection()
{
    QStringList missing;
    for (const Config::KeyInfo &info : Config::keys())
        if (!m_lines.contains(info.key))
            missing.append(info.key);
    QVERIFY2(missing.isEmpty(), qPrintable(missing.join(QStringLiteral(", "))));
    QVERIFY2(m_duplicates.isEmpty(), qPrintable(m_duplicates.join(QStringLiteral(", "))));
}

void TestSampleConfig::noUnknownKeys()
{
    QSet<QString> known;
    for (const Config::KeyInfo &info : Config::keys())
        known.insert(info.key);
    for (auto it = m_lines.cbegin(); it != m_lines.cend(); ++it)
        QVERIFY2(known.contains(it.key()),
                 qPrintable(QStringLiteral("line %1: unknown key %2").arg(it->line).arg(it.key())));
}

void TestSampleConfig::documentsEveryKey()
{
    for (const Config::KeyInfo &info : Config::keys()) {
        const KeyLine line = m_lines.value(info.key);
        QVERIFY2(line.comment.contains(info.description, Qt::CaseInsensitive),
                 qPrintable(QStringLiteral("%1 (line %2) lacks its description '%3'")
                                .arg(info.key)
                                .arg(line.line)
                                .arg(info.description)));
        if (!info.original.isEmpty())
            QVERIFY2(line.comment.contains(QStringLiteral("was: ") + info.original),
                     qPrintable(QStringLiteral("%1 (line %2) does not name its original key '%3'")
                                    .arg(info.key)
                                    .arg(line.line)
                                    .arg(info.original)));
    }
}

void TestSampleConfig::commentedValuesAreTheDefaults()
{
    // Uncommenting any shown value must not change anything: each is the built-in default.
    // An empty value stands for "not set", which only keys without a default may show.
    static const QSet<QString> unsetByDefault{QStringLiteral("general.log"),
                                              QStringLiteral("general.secret_file"),
                                              QStringLiteral("general.cert"),
                                              QStringLiteral("general.key"),
                                              QStringLiteral("send.receiver_fingerprint"),
                                              QStringLiteral("receive.peers"),
                                              QStringLiteral("receive.monitor_secret_file"),
                                              QStringLiteral("send.source"),
                                              QStringLiteral("status.control_socket"),
                                              QStringLiteral("status.metrics")};
    Config config;
    for (auto it = m_lines.cbegin(); it != m_lines.cend(); ++it) {
        if (it->value.isEmpty()) {
            QVERIFY2(unsetByDefault.contains(it.key()),
                     qPrintable(it.key() + QStringLiteral(" shows no default value")));
            continue;
        }
        const QString origin = QStringLiteral("isocket.ini:%1").arg(it->line);
        const auto r = config.set(it.key(), it->value, origin);
        QVERIFY2(r.ok(), r.ok() ? "" : qPrintable(r.error().message));
    }
    const QStringList diff = differences(config, Config());
    QVERIFY2(diff.isEmpty(), qPrintable(diff.join(QStringLiteral("; "))));
}

QTEST_GUILESS_MAIN(TestSampleConfig)
#include "tst_sampleconfig.moc"
