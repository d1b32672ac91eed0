// Every face builds the engine the same way: each configuration key, set in the configuration
// file or as its command-line option, reaches the ED agent's and the receiver service's options
// identically through the console's path (`isocket send` / `isocket receive`, cli::sendSetup()
// and cli::receiveSetup()) and the window's path (`isocket-gui --role …`, resolveStartup()); and
// every key changes something there, so a key that maps nowhere fails, unless it is one of the
// documented face-only keys (general.log: each face opens its log itself). And what a new face
// plugs into: the agent's and the service's events, in batches, in order, across threads.

#include "cli/cli.h"
#include "core/config.h"
#include "core/edagent.h"
#include "core/receiverservice.h"
#include "core/tls.h"
#include "gui/startup.h"
#include "tests/testlib/testtree.h"

#include <QApplication>
#include <QFile>
#include <QHash>
#include <QMap>
#include <QTemporaryDir>
#include <QTest>

using namespace isocket;

namespace {

// Keys no engine option depends on, each for a reason said in docs/ (man page, sample INI).
const QStringList FaceOnly = {QStringLiteral("general.log"),
                               // The console daemons' status faces (tst_status, tst_e2e_status).
                               QStringLiteral("status.control_socket"),
                               QStringLiteral("status.metrics")};

QString yes(bool b)
{
    return b ? QStringLiteral("yes") : QStringLiteral("no");
}

QString identity(const std::shared_ptr<const TlsIdentity> &tls)
{
    return tls ? fingerprintText(tls->fingerprint) : QStringLiteral("none");
}

// Every option an EdAgent runs with, one "name=value" line each.
QStringList describe(const EdAgentSetup &s)
{
    return {
        QStringLiteral("scan.root=") + s.scan.root,
        QStringLiteral("scan.prefix=") + s.scan.prefix,
        QStringLiteral("scan.doneParse=") + s.scan.doneParse,
        QStringLiteral("scan.doneWatch=") + s.scan.doneWatch,
        QStringLiteral("engine.watch=") + yes(s.engine.watch),
        QStringLiteral("engine.settleMs=%1").arg(s.engine.settleMs),
        QStringLiteral("engine.retryIntervalMs=%1").arg(s.engine.retryIntervalMs),
        QStringLiteral("engine.retryMaxMs=%1").arg(s.engine.retryMaxMs),
        QStringLiteral("engine.maxAttempts=%1").arg(s.engine.maxAttempts),
        QStringLiteral("engine.quietMs=%1").arg(s.engine.quietMs),
        QStringLiteral("sender.host=") + s.sender.host,
        QStringLiteral("sender.port=%1").arg(s.sender.port),
        QStringLiteral("sender.receivers=") + receiverListText(s.sender.receivers),
        QStringLiteral("sender.source=") + s.sender.source,
        QStringLiteral("sender.secret=") + QString::fromLatin1(s.sender.secret.toHex()),
        QStringLiteral("sender.secretFile=") + s.sender.secretFile,
        QStringLiteral("sender.jobs=%1").arg(s.sender.jobs),
        QStringLiteral("sender.window=%1").arg(s.sender.window),
        QStringLiteral("sender.retryIntervalMs=%1").arg(s.sender.retryIntervalMs),
        QStringLiteral("sender.retryMaxMs=%1").arg(s.sender.retryMaxMs),
        QStringLiteral("sender.maxConnectAttempts=%1").arg(s.sender.maxConnectAttempts),
        QStringLiteral("sender.chunkSize=%1").arg(s.sender.chunkSize),
        QStringLiteral("sender.timeoutMs=%1").arg(s.sender.timeoutMs),
        QStringLiteral("sender.bwlimit=%1").arg(s.sender.bwlimit),
        QStringLiteral("sender.tls=") + identity(s.sender.tls),
        QStringLiteral("sender.receiverFingerprints=")
            + fingerprintsText(s.sender.receiverFingerprints),
        QStringLiteral("secretProblem=") + s.secretProblem,
        QStringLiteral("warnings=") + s.warnings.join(QLatin1Char('|')),
        QStringLiteral("health.downGraceSeconds=%1").arg(s.health.downGraceSeconds),
        QStringLiteral("health.behindSeconds=%1").arg(s.health.behindSeconds),
        QStringLiteral("health.overflowMemorySeconds=%1").arg(s.health.overflowMemorySeconds),
        QStringLiteral("healthTickMs=%1").arg(s.healthTickMs),
    };
}

// Every option a ReceiverService runs with, one "name=value" line each.
QStringList describe(const ReceiverSetup &s)
{
    const ReceiverOptions &o = s.options;
    return {
        QStringLiteral("address=") + s.address.toString(),
        QStringLiteral("port=%1").arg(s.port),
        QStringLiteral("spaceTickMs=%1").arg(s.spaceTickMs),
        QStringLiteral("root=") + o.root,
        QStringLiteral("secret=") + QString::fromLatin1(o.secret.toHex()),
        QStringLiteral("reserveBytes=%1").arg(o.reserveBytes),
        QStringLiteral("sync=%1").arg(int(o.sync)),
        QStringLiteral("ioThreads=%1").arg(o.ioThreads),
        QStringLiteral("partialMaxAgeSecs=%1").arg(o.partialMaxAgeSecs),
        QStringLiteral("arrival=%1").arg(int(o.arrival)),
        QStringLiteral("maxUnauthenticated=%1").arg(o.maxUnauthenticated),
        QStringLiteral("maxUnauthenticatedPerPeer=%1").arg(o.maxUnauthenticatedPerPeer),
        QStringLiteral("maxManifestBytes=%1").arg(o.maxManifestBytes),
        QStringLiteral("tls=") + identity(o.tls),
        QStringLiteral("peersFile=") + o.peersFile,
        QStringLiteral("plainOptIn=") + yes(o.plainOptIn),
        QStringLiteral("monitorSecret=") + QString::fromLatin1(o.monitorSecret.toHex()),
    };
}

// What differs between two descriptions, for a failure message.
QString diff(const QStringList &a, const QStringList &b)
{
    QStringList out;
    for (qsizetype i = 0; i < qMin(a.size(), b.size()); ++i)
        if (a[i] != b[i])
            out << a[i] + QStringLiteral(" vs ") + b[i];
    return out.join(QStringLiteral("; "));
}

bool writeFile(const QString &path, const QByteArray &data, bool secret = false)
{
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || f.write(data) != data.size())
        return false;
    return !secret || f.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
}

} // namespace

class TestFaces : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void everyKeyHasATestValue();
    void everyKeyReachesTheEngineAlikeFromEveryFace_data();
    void everyKeyReachesTheEngineAlikeFromEveryFace();
    void eventsComeInBatchesInOrder();
    void receiverCountsWithNobodyListening();
    void aLargeTurnComesInBoundedBatches();

private:
    struct Variation
    {
        QString value;
        QMap<QString, QString> with = {}; // other keys set with it (a certificate needs its key)
        bool tls = false;            // on the TLS baseline (certificate, key, pin, peers)
    };
    // The configuration as "key = value" lines, and as the same keys in options.
    QString writeIni(const QMap<QString, QString> &keys);
    static QStringList options(const QMap<QString, QString> &keys);
    QMap<QString, QString> baseline(bool tls) const;

    QTemporaryDir m_dir;
    QMap<QString, Variation> m_values; // a non-default value for every key
    int m_files = 0;
};

void TestFaces::initTestCase()
{
    QVERIFY(m_dir.isValid());
    const QString d = m_dir.path();
    QVERIFY(writeFile(d + QStringLiteral("/secret"), "the baseline secret\n", true));
    QVERIFY(writeFile(d + QStringLiteral("/secret2"), "another secret\n", true));
    QVERIFY(writeFile(d + QStringLiteral("/monitor"), "the monitors' secret\n", true));
    QVERIFY(generateIdentity(d + QStringLiteral("/a.crt"), d + QStringLiteral("/a.key"),
                             QStringLiteral("a"), false));
    QVERIFY(generateIdentity(d + QStringLiteral("/b.crt"), d + QStringLiteral("/b.key"),
                             QStringLiteral("b"), false));
    const QString pin2(64, QLatin1Char('2'));
    m_values = {
        {QStringLiteral("data.root"), {d + QStringLiteral("/data2")}},
        {QStringLiteral("data.prefix"), {QStringLiteral("XY")}},
        {QStringLiteral("data.done_parse"), {QStringLiteral("parse.done")}},
        {QStringLiteral("data.done_watch"), {QStringLiteral("watch.done")}},
        {QStringLiteral("data.settle"), {QStringLiteral("7s")}},
        {QStringLiteral("general.secret_file"), {d + QStringLiteral("/secret2")}},
        // A certificate is refused without its key, and the other way round: both change.
        {QStringLiteral("general.cert"),
         {d + QStringLiteral("/b.crt"),
          {{QStringLiteral("general.key"), d + QStringLiteral("/b.key")}},
          true}},
        {QStringLiteral("general.key"),
         {d + QStringLiteral("/b.key"),
          {{QStringLiteral("general.cert"), d + QStringLiteral("/b.crt")}},
          true}},
        {QStringLiteral("general.transport"), {QStringLiteral("plain")}},
        {QStringLiteral("send.server"), {QStringLiteral("127.0.0.2, [::1]:4003")}},
        {QStringLiteral("send.port"), {QStringLiteral("4001")}},
        {QStringLiteral("send.source"), {QStringLiteral("ed-faces")}},
        {QStringLiteral("send.jobs"), {QStringLiteral("3")}},
        {QStringLiteral("send.window"), {QStringLiteral("77")}},
        {QStringLiteral("send.retry_interval"), {QStringLiteral("3s")}},
        {QStringLiteral("send.retry_max"), {QStringLiteral("90s")}},
        {QStringLiteral("send.bwlimit"), {QStringLiteral("10M")}},
        {QStringLiteral("send.receiver_fingerprint"), {pin2, {}, true}},
        {QStringLiteral("receive.root"), {d + QStringLiteral("/received2")}},
        {QStringLiteral("receive.listen"), {QStringLiteral("127.0.0.2:4002")}},
        {QStringLiteral("receive.reserve"), {QStringLiteral("1M")}},
        {QStringLiteral("receive.sync"), {QStringLiteral("file")}},
        {QStringLiteral("receive.arrival"), {QStringLiteral("link")}},
        {QStringLiteral("receive.threads"), {QStringLiteral("3")}},
        {QStringLiteral("receive.partial_max_age"), {QStringLiteral("2d")}},
        {QStringLiteral("receive.peers"), {d + QStringLiteral("/peers2"), {}, true}},
        {QStringLiteral("receive.monitor_secret_file"), {d + QStringLiteral("/monitor")}},
    };
}

QMap<QString, QString> TestFaces::baseline(bool tls) const
{
    const QString d = m_dir.path();
    QMap<QString, QString> keys = {
        {QStringLiteral("data.root"), d + QStringLiteral("/data")},
        {QStringLiteral("general.secret_file"), d + QStringLiteral("/secret")},
        {QStringLiteral("send.source"), QStringLiteral("ed-base")},
        {QStringLiteral("receive.root"), d + QStringLiteral("/received")},
    };
    if (tls) {
        keys[QStringLiteral("general.cert")] = d + QStringLiteral("/a.crt");
        keys[QStringLiteral("general.key")] = d + QStringLiteral("/a.key");
        keys[QStringLiteral("send.receiver_fingerprint")] = QString(64, QLatin1Char('1'));
        keys[QStringLiteral("receive.peers")] = d + QStringLiteral("/peers");
    }
    return keys;
}

QString TestFaces::writeIni(const QMap<QString, QString> &keys)
{
    QMap<QString, QStringList> sections;
    for (auto it = keys.cbegin(); it != keys.cend(); ++it)
        sections[it.key().section(QLatin1Char('.'), 0, 0)]
            << it.key().section(QLatin1Char('.'), 1) + QStringLiteral(" = ") + it.value();
    QByteArray text;
    for (auto it = sections.cbegin(); it != sections.cend(); ++it)
        text += '[' + it.key().toUtf8() + "]\n"
                + it.value().join(QLatin1Char('\n')).toUtf8() + '\n';
    const QString path = m_dir.filePath(QStringLiteral("isocket-%1.ini").arg(++m_files));
    return writeFile(path, text) ? path : QString();
}

QStringList TestFaces::options(const QMap<QString, QString> &keys)
{
    QStringList out;
    for (const Config::KeyInfo &info : Config::keys())
        if (keys.contains(info.key))
            out << QStringLiteral("--") + info.option << keys.value(info.key);
    return out;
}

void TestFaces::everyKeyHasATestValue()
{
    // A new key needs a row here (or a place in FaceOnly): its way to the engine is then tested.
    for (const Config::KeyInfo &info : Config::keys())
        QVERIFY2(m_values.contains(info.key) || FaceOnly.contains(info.key),
                 qPrintable(info.key + QStringLiteral(" has no value in tst_faces")));
    for (const QString &key : FaceOnly) {
        bool known = false;
        for (const Config::KeyInfo &info : Config::keys())
            known |= info.key == key;
        QVERIFY2(known, qPrintable(key));
    }
}

void TestFaces::everyKeyReachesTheEngineAlikeFromEveryFace_data()
{
    QTest::addColumn<QString>("key");
    QTest::addColumn<bool>("asOption");
    for (const Config::KeyInfo &info : Config::keys()) {
        if (FaceOnly.contains(info.key))
            continue;
        QTest::addRow("%s in the file", qPrintable(info.key)) << info.key << false;
        QTest::addRow("%s as --%s", qPrintable(info.key), qPrintable(info.option))
            << info.key << true;
    }
}

void TestFaces::everyKeyReachesTheEngineAlikeFromEveryFace()
{
    QFETCH(QString, key);
    QFETCH(bool, asOption);
    QVERIFY2(m_values.contains(key), qPrintable(key));
    const Variation &v = m_values.value(key);
    const QMap<QString, QString> base = baseline(v.tls);
    QMap<QString, QString> changed;
    changed[key] = v.value;
    for (auto it = v.with.cbegin(); it != v.with.cend(); ++it)
        changed[it.key()] = it.value();

    const QString baseIni = writeIni(base);
    QMap<QString, QString> all = base;
    for (auto it = changed.cbegin(); it != changed.cend(); ++it)
        all[it.key()] = it.value();
    const QString ini = asOption ? baseIni : writeIni(all);
    QVERIFY(!baseIni.isEmpty() && !ini.isEmpty());
    const QStringList extra = asOption ? options(changed) : QStringList();

    const QString section = key.section(QLatin1Char('.'), 0, 0);
    bool reached = false;
    if (section != QLatin1String("receive")) {
        const QStringList args = QStringList{QStringLiteral("--config"), ini} + extra;
        auto cli = cli::sendSetup(QStringList{QStringLiteral("isocket send")} + args);
        QVERIFY2(cli.ok(), cli.ok() ? "" : qPrintable(cli.error().message));
        const gui::Startup gui = gui::resolveStartup(
            QStringList{QStringLiteral("isocket-gui"), QStringLiteral("--role"),
                        QStringLiteral("sender")}
            + args);
        QCOMPARE(gui.exitCode, -1);
        QCOMPARE(gui.role, gui::Startup::Role::Sender);
        const QStringList c = describe(cli.value());
        const QStringList g = describe(gui.sender);
        QVERIFY2(c == g, qPrintable(QStringLiteral("console vs window: ") + diff(c, g)));
        auto before = cli::sendSetup({QStringLiteral("isocket send"), QStringLiteral("--config"),
                                      baseIni});
        QVERIFY(before.ok());
        reached |= describe(before.value()) != c;
    }
    if (section != QLatin1String("data") && section != QLatin1String("send")) {
        const QStringList args = QStringList{QStringLiteral("--config"), ini} + extra;
        auto cli = cli::receiveSetup(QStringList{QStringLiteral("isocket receive")} + args);
        QVERIFY2(cli.ok(), cli.ok() ? "" : qPrintable(cli.error().message));
        const gui::Startup gui = gui::resolveStartup(
            QStringList{QStringLiteral("isocket-gui"), QStringLiteral("--role"),
                        QStringLiteral("receiver")}
            + args);
        QCOMPARE(gui.exitCode, -1);
        QCOMPARE(gui.role, gui::Startup::Role::Receiver);
        const QStringList c = describe(cli.value());
        const QStringList g = describe(gui.receiver);
        QVERIFY2(c == g, qPrintable(QStringLiteral("console vs window: ") + diff(c, g)));
        auto before = cli::receiveSetup({QStringLiteral("isocket receive"),
                                         QStringLiteral("--config"), baseIni});
        QVERIFY(before.ok());
        reached |= describe(before.value()) != c;
    }
    QVERIFY2(reached, qPrintable(key + QStringLiteral(" changes nothing the engine runs with")));
}

void TestFaces::eventsComeInBatchesInOrder()
{
    // A face on the GUI thread, the agent and the service each on a thread of its own: every
    // file goes Queued, Started, Delivered, Marked in that order, the updates come as lists (far
    // fewer signals than updates), and both snapshots end with the counts.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    constexpr int Files = 40;
    for (int i = 0; i < Files; ++i)
        QVERIFY(test::writeFile(data + QStringLiteral("/DC20240101000000/f%1.dat").arg(i),
                                test::patternBytes(1000 + i, quint32(i))));
    QVERIFY(test::makeDbtag(data, QStringLiteral("DC20240101000000"), true, false, 1704067200));

    ReceiverSetup rs;
    rs.options = ReceiverOptions{tmp.filePath(QStringLiteral("received")), QByteArray(), 0};
    rs.port = 0;
    ReceiverService service(rs);
    QList<ReceiverUpdate> received;
    int receiverBatches = 0;
    QList<FileUpdate> updates;
    int batches = 0;
    EdStatus last;
    // The context of the connections below, declared after what they write: an update still
    // queued when the test ends dies with it instead of writing to a variable that is gone.
    QObject face;
    connect(&service, &ReceiverService::updated, &face, [&](const QList<ReceiverUpdate> &u) {
        received += u;
        ++receiverBatches;
    });
    service.start();
    QTRY_COMPARE(service.status().run, ReceiverStatus::Run::Listening);

    Config config;
    config.dataRoot = data;
    config.port = service.status().port;
    config.source = QStringLiteral("ed-faces");
    auto setup = EdAgentSetup::fromConfig(config);
    QVERIFY2(setup.ok(), setup.ok() ? "" : qPrintable(setup.error().message));
    EdAgent agent(setup.value());
    connect(&agent, &EdAgent::filesChanged, &face, [&](const QList<FileUpdate> &u) {
        QVERIFY(QThread::currentThread() == thread()); // queued to the face's thread
        updates += u;
        ++batches;
    });
    connect(&agent, &EdAgent::statusChanged, &face, [&](const EdStatus &s) { last = s; });
    agent.start();
    QTRY_VERIFY_WITH_TIMEOUT(last.dbtagsFinished == 1 && last.idle, 30000 * test::timeoutFactor());

    QHash<QString, QList<FileUpdate::Kind>> byFile;
    for (const FileUpdate &u : std::as_const(updates))
        byFile[u.ticket.relPath] << u.kind;
    QCOMPARE(byFile.size(), Files);
    for (auto it = byFile.cbegin(); it != byFile.cend(); ++it) {
        QList<FileUpdate::Kind> kinds = it.value();
        kinds.removeAll(FileUpdate::Kind::Progress);
        QVERIFY2(kinds == (QList<FileUpdate::Kind>{FileUpdate::Kind::Queued,
                                                   FileUpdate::Kind::Started,
                                                   FileUpdate::Kind::Delivered,
                                                   FileUpdate::Kind::Marked}),
                 qPrintable(it.key()));
    }
    QVERIFY2(batches < updates.size() / 4,
             qPrintable(QStringLiteral("%1 signals for %2 updates").arg(batches).arg(updates.size())));
    QCOMPARE(last.run, EdStatus::Run::Running);
    QCOMPARE(last.queued, 0);
    QCOMPARE(last.failed, 0);

    QTRY_COMPARE(service.status().stored, qint64(Files));
    const auto storedUpdates = [&] {
        int n = 0;
        for (const ReceiverUpdate &u : std::as_const(received))
            n += u.kind == ReceiverUpdate::Kind::FileStored ? 1 : 0;
        return n;
    };
    QTRY_COMPARE(storedUpdates(), Files);
    QVERIFY(receiverBatches < received.size());
}

void TestFaces::receiverCountsWithNobodyListening()
{
    // The console connects nothing to the service's updates (they are not even asked for, to
    // spare a call across threads per file): its snapshot still counts every file stored.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    constexpr int Files = 25;
    qint64 bytes = 0;
    for (int i = 0; i < Files; ++i) {
        QVERIFY(test::writeFile(data + QStringLiteral("/DC20240101000000/f%1.dat").arg(i),
                                test::patternBytes(500 + i, quint32(i))));
        bytes += 500 + i;
    }
    QVERIFY(test::makeDbtag(data, QStringLiteral("DC20240101000000"), true, false, 1704067200));

    ReceiverSetup rs;
    rs.options = ReceiverOptions{tmp.filePath(QStringLiteral("received")), QByteArray(), 0};
    rs.port = 0;
    ReceiverService service(rs);
    service.start();
    QTRY_COMPARE(service.status().run, ReceiverStatus::Run::Listening);
    QCOMPARE(service.status().stored, 0);

    Config config;
    config.dataRoot = data;
    config.port = service.status().port;
    config.source = QStringLiteral("ed-quiet");
    auto setup = EdAgentSetup::fromConfig(config);
    QVERIFY2(setup.ok(), setup.ok() ? "" : qPrintable(setup.error().message));
    EdAgent agent(setup.value());
    agent.start();
    QTRY_VERIFY_WITH_TIMEOUT(agent.status().dbtagsFinished == 1, 30000 * test::timeoutFactor());
    QTRY_COMPARE(service.status().stored, qint64(Files));
    QCOMPARE(service.status().bytesStored, bytes);
    QCOMPARE(service.status().failed, qint64(0));
}

void TestFaces::aLargeTurnComesInBoundedBatches()
{
    // A scan that queues thousands of files in one turn of the engine's event loop hands them
    // over in lists of at most 1024, each file once, in order: a face never holds one update per
    // file of a whole backlog at once (bench: queue, 100,000 files).
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString dbtag = QStringLiteral("DC20240101000000");
    constexpr int Files = 3000;
    for (int i = 0; i < Files; ++i)
        QVERIFY(test::writeFile(data + QStringLiteral("/%1/f%2.dat").arg(dbtag).arg(i, 4, 10,
                                                                                  QLatin1Char('0')),
                                QByteArray(16, 'x')));
    QVERIFY(test::makeDbtag(data, dbtag, true, false, 1704067200));

    Config config;
    config.dataRoot = data;
    config.port = 9; // nothing listens: the files stay queued
    config.source = QStringLiteral("ed-faces");
    auto setup = EdAgentSetup::fromConfig(config);
    QVERIFY2(setup.ok(), setup.ok() ? "" : qPrintable(setup.error().message));
    EdAgent agent(setup.value());
    QStringList queued;
    qsizetype largest = 0;
    QObject face; // declared after what the connection writes (see eventsComeInBatchesInOrder)
    connect(&agent, &EdAgent::filesChanged, &face, [&](const QList<FileUpdate> &u) {
        largest = qMax(largest, u.size());
        for (const FileUpdate &update : u)
            if (update.kind == FileUpdate::Kind::Queued)
                queued << update.ticket.relPath;
    });
    agent.start();
    QTRY_COMPARE_WITH_TIMEOUT(queued.size(), Files, 30000 * test::timeoutFactor());
    QVERIFY2(largest <= 1024, qPrintable(QStringLiteral("a list of %1 updates").arg(largest)));
    QVERIFY(largest > 1); // still batches
    QStringList sorted = queued;
    sorted.sort();
    sorted.removeDuplicates();
    QCOMPARE(sorted.size(), Files);
}

QTEST_MAIN(TestFaces)
#include "tst_faces.moc"
