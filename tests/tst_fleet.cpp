// The fleet (issue 16): an ED's STATUS reaches the receiver's fleet registry, the registry
// survives a restart of the receiver, datasets completed are counted from the manifests on
// disk, a monitor gets the fleet and can never send data, and 200 EDs cost little.

#include "core/edagent.h"
#include "core/fleetmonitor.h"
#include "core/fleetregistry.h"
#include "core/receiverservice.h"
#include "tests/testlib/protoclient.h"
#include "tests/testlib/testtree.h"

#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QtEndian>

#include <malloc.h>

using namespace isocket;
using namespace isocket::proto;

namespace {

const QByteArray Secret = QByteArrayLiteral("s3cret");

ReceiverSetup receiverSetup(const QString &root, const QByteArray &secret = Secret,
                            const QByteArray &monitorSecret = QByteArray())
{
    ReceiverSetup rs;
    rs.options = ReceiverOptions{root, secret, 0};
    rs.options.monitorSecret = monitorSecret;
    rs.port = 0;
    return rs;
}

std::optional<FleetEntry> entryOf(const QList<FleetEntry> &fleet, const QString &source)
{
    for (const FleetEntry &e : fleet)
        if (e.source == source)
            return e;
    return std::nullopt;
}

// A report as an ED would make it.
EdHealth sampleHealth(Verdict verdict, int i = 0)
{
    EdHealth h;
    h.verdict = verdict;
    h.reason = QStringLiteral("Behind: 5,990 files, 374 MiB, oldest 3 min, about 19 s to catch up");
    h.at = QDateTime::currentDateTimeUtc();
    h.connected = true;
    h.backlogFiles = 5990 + i;
    h.backlogBytes = 374LL * 1024 * 1024;
    h.oldestUnsent = h.at.addSecs(-180);
    h.rateBytesPerSecond = 20e6;
    h.etaSeconds = 19;
    h.liveDbtag = QStringLiteral("DC20240101%1").arg(i, 6, 10, QLatin1Char('0'));
    h.dbtagsByState = {{QStringLiteral("waiting"), 3},
                       {QStringLiteral("sending"), 1},
                       {QStringLiteral("finished"), 120},
                       {QStringLiteral("failed"), 0}};
    return h;
}

QByteArray json(const EdHealth &h)
{
    return QJsonDocument(h.toJson()).toJson(QJsonDocument::Compact);
}

// A manifest as the receiver writes it (docs/PROTOCOL.md 2.4), its header only matters here.
bool writeManifest(const QString &root, const QString &source, const QString &dbtag, int files,
                   qint64 bytes)
{
    return test::writeFile(root + QLatin1Char('/') + source + QLatin1Char('/') + dbtag +
                               QStringLiteral("/finished.isocket"),
                           QStringLiteral("# isocket manifest v1 source=%1 dbtag=%2 files=%3 "
                                          "bytes=%4\n")
                               .arg(source, dbtag)
                               .arg(files)
                               .arg(bytes)
                               .toUtf8());
}

} // namespace

class TestFleet : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void edStatusReachesTheFleetAndSurvivesARestart();
    void completedDatasetsFromDisk();
    void corruptRegistryIsSetAside();
    void badStatusIsIgnoredNotFatal();
    void versionThreePeersNeverSeeTheNewFrames();
    void monitorIsRefusedAnyDataFrame_data();
    void monitorIsRefusedAnyDataFrame();
    void monitorSecretIsNotTheEdsSecret();
    void fleetMonitorFollowsTheFleet();
    void fleetChangedAtMostOnceASecond();
    void twoHundredEntriesCostLittle();
    void registryIsBounded();
    void receiversSharingARootMergeTheirFleets();
    void twoReceiverServicesSeeEachOthersEds();
};

void TestFleet::initTestCase()
{
    qRegisterMetaType<QList<FleetEntry>>();
}

void TestFleet::edStatusReachesTheFleetAndSurvivesARestart()
{
    // A real ED (EdAgent) sends a dbtag to a real receiver (ReceiverService): the receiver's
    // fleet knows it, with its reported health, files, bytes and the dataset; after the
    // receiver restarts on the same root, all of it is still there.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString root = tmp.filePath(QStringLiteral("received"));
    constexpr int Files = 5;
    qint64 bytes = 0;
    for (int i = 0; i < Files; ++i) {
        QVERIFY(test::writeFile(data + QStringLiteral("/DC20240101000000/f%1.dat").arg(i),
                                test::patternBytes(700 + i, quint32(i))));
        bytes += 700 + i;
    }
    QVERIFY(test::makeDbtag(data, QStringLiteral("DC20240101000000"), true, false, 1704067200));

    std::optional<EdHealth> reported;
    {
        ReceiverService service(receiverSetup(root, QByteArray()));
        QList<FleetEntry> lastFleet;
        int fleetSignals = 0;
        QObject face; // after what the lambda writes: late queued events die with it
        connect(&service, &ReceiverService::fleetChanged, &face,
                [&](const QList<FleetEntry> &fleet) {
                    lastFleet = fleet;
                    ++fleetSignals;
                });
        service.start();
        QTRY_COMPARE(service.status().run, ReceiverStatus::Run::Listening);

        Config config;
        config.dataRoot = data;
        config.port = service.status().port;
        config.source = QStringLiteral("ed-fleet");
        auto setup = EdAgentSetup::fromConfig(config);
        QVERIFY2(setup.ok(), setup.ok() ? "" : qPrintable(setup.error().message));
        {
            EdAgent agent(setup.value());
            agent.start();
            QTRY_VERIFY_WITH_TIMEOUT(agent.status().dbtagsFinished == 1,
                                     30000 * test::timeoutFactor());
            QTRY_VERIFY_WITH_TIMEOUT(
                [&] {
                    auto e = entryOf(service.fleet(), QStringLiteral("ed-fleet"));
                    return e && e->connected && e->health && e->filesReceived == Files &&
                           e->datasetsCompleted == 1;
                }(),
                10000 * test::timeoutFactor());
            const FleetEntry e = *entryOf(service.fleet(), QStringLiteral("ed-fleet"));
            QCOMPARE(e.bytesReceived, bytes);
            QCOMPARE(e.peer, QStringLiteral("127.0.0.1"));
            QCOMPARE(e.authFailures, qint64(0));
            QVERIFY(e.firstSeen.isValid() && e.lastSeen.isValid());
            // The health the receiver holds is the one the agent made (its verdict, its reason),
            // once its last change was reported (at most every 2 s: "behind" while the dbtag was
            // sent, then "up to date").
            QTRY_VERIFY_WITH_TIMEOUT(
                [&] {
                    const auto now = entryOf(service.fleet(), QStringLiteral("ed-fleet"));
                    const EdHealth mine = agent.status().health;
                    return now && now->health && now->health->verdict == mine.verdict &&
                           now->health->reason == mine.reason;
                }(),
                10000 * test::timeoutFactor());
            const FleetEntry latest = *entryOf(service.fleet(), QStringLiteral("ed-fleet"));
            QCOMPARE(latest.verdict(QDateTime::currentDateTimeUtc()), latest.health->verdict);
            reported = latest.health;
            // The same list reached the face through fleetChanged().
            QTRY_VERIFY(entryOf(lastFleet, QStringLiteral("ed-fleet")) &&
                        entryOf(lastFleet, QStringLiteral("ed-fleet"))->datasetsCompleted == 1);
        }
        // The ED went away: not connected, still known.
        QTRY_VERIFY_WITH_TIMEOUT(!entryOf(service.fleet(), QStringLiteral("ed-fleet"))->connected,
                                 10000 * test::timeoutFactor());
        QVERIFY(fleetSignals >= 2);
    }
    QCOMPARE(QDir(root + QStringLiteral("/.isocket-fleet"))
                 .entryList({QStringLiteral("*.json")}, QDir::Files)
                 .size(),
             1);

    // A new receiver on the same root.
    ReceiverService again(receiverSetup(root, QByteArray()));
    again.start();
    QTRY_COMPARE(again.status().run, ReceiverStatus::Run::Listening);
    const auto e = entryOf(again.fleet(), QStringLiteral("ed-fleet"));
    QVERIFY(e);
    QVERIFY(!e->connected);
    QCOMPARE(e->filesReceived, qint64(Files));
    QCOMPARE(e->bytesReceived, bytes);
    QCOMPARE(e->datasetsCompleted, 1);
    QCOMPARE(e->peer, QStringLiteral("127.0.0.1"));
    QVERIFY(e->health);
    QCOMPARE(e->health->verdict, reported->verdict);
    QCOMPARE(e->health->reason, reported->reason);
}

void TestFleet::completedDatasetsFromDisk()
{
    // Datasets completed before this receiver ran (by an older one, or before the registry
    // existed) count: they are read from the manifests on disk.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString root = tmp.path();
    QVERIFY(writeManifest(root, QStringLiteral("ed1"), QStringLiteral("DC1"), 3, 300));
    QVERIFY(writeManifest(root, QStringLiteral("ed1"), QStringLiteral("DC2"), 1, 10));
    QVERIFY(writeManifest(root, QStringLiteral("ed2"), QStringLiteral("DC9"), 7, 7000));
    // Not complete: no manifest, a manifest's temporary, a hidden directory.
    QVERIFY(test::writeFile(root + QStringLiteral("/ed2/DC10/a.dat"), "x"));
    QVERIFY(test::writeFile(root + QStringLiteral("/ed2/DC11/.finished.isocket.tmp"), "x"));
    QVERIFY(writeManifest(root, QStringLiteral(".hidden"), QStringLiteral("DC1"), 1, 1));

    const QList<CompletedDataset> done = completedDatasets(root);
    QCOMPARE(done.size(), 3);
    QCOMPARE(done[0].source, QStringLiteral("ed1"));
    QCOMPARE(done[0].dbtag, QStringLiteral("DC1"));
    QCOMPARE(done[0].files, 3);
    QCOMPARE(done[0].bytes, qint64(300));
    QVERIFY(qAbs(done[0].completed.secsTo(QDateTime::currentDateTimeUtc())) < 60);
    QCOMPARE(done[1].dbtag, QStringLiteral("DC2"));
    QCOMPARE(done[2].source, QStringLiteral("ed2"));
    QCOMPARE(done[2].files, 7);
    QCOMPARE(done[2].bytes, qint64(7000));

    ReceiverService service(receiverSetup(root));
    service.start();
    QTRY_COMPARE(service.status().run, ReceiverStatus::Run::Listening);
    QCOMPARE(entryOf(service.fleet(), QStringLiteral("ed1"))->datasetsCompleted, 2);
    QCOMPARE(entryOf(service.fleet(), QStringLiteral("ed2"))->datasetsCompleted, 1);
    QVERIFY(!entryOf(service.fleet(), QStringLiteral(".hidden")));
}

void TestFleet::corruptRegistryIsSetAside()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString file = tmp.filePath(QStringLiteral(".isocket-fleet.json"));
    QVERIFY(test::writeFile(file, "{\"sources\": [ {\"source\": 12"));
    ReceiverService service(receiverSetup(tmp.path()));
    service.start();
    QTRY_COMPARE(service.status().run, ReceiverStatus::Run::Listening); // not fatal
    QVERIFY(service.fleet().isEmpty());
    // The file of an older version was moved into place, found corrupt and set aside.
    QVERIFY(!QFile::exists(file));
    QCOMPARE(QDir(tmp.filePath(QStringLiteral(".isocket-fleet")))
                 .entryList({QStringLiteral("*.json.corrupt")}, QDir::Files)
                 .size(),
             1);

    // And a source that connects now is written to a new, readable file.
    test::ProtoClient ed;
    QVERIFY(ed.connectTo(service.status().port));
    QVERIFY(ed.handshake(Secret, QStringLiteral("ed1")).ok);
    QTRY_VERIFY(entryOf(service.fleet(), QStringLiteral("ed1")));
    FleetRegistry reread(tmp.path());
    QTRY_VERIFY_WITH_TIMEOUT(
        (reread.load(), entryOf(reread.entries(), QStringLiteral("ed1")).has_value()),
        15000 * test::timeoutFactor());
}

void TestFleet::badStatusIsIgnoredNotFatal()
{
    // A STATUS that is not a health report is ignored: the data connection goes on.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    ReceiverService service(receiverSetup(tmp.path()));
    service.start();
    QTRY_COMPARE(service.status().run, ReceiverStatus::Run::Listening);
    test::ProtoClient ed;
    QVERIFY(ed.connectTo(service.status().port));
    const auto greeting = ed.handshake(Secret, QStringLiteral("ed1"));
    QVERIFY(greeting.ok);
    QCOMPARE(greeting.version, quint16(4));
    ed.send(Status{"not json at all"});
    ed.send(Status{R"({"verdict":"splendid"})"});
    const QByteArray data = test::patternBytes(100, 1);
    QCOMPARE(ed.storeFile(1, QStringLiteral("DC1"), QStringLiteral("a.dat"), data, 1),
             ErrorCode::Ok);
    QVERIFY(!entryOf(service.fleet(), QStringLiteral("ed1"))->health);

    ed.send(Status{json(sampleHealth(Verdict::Behind))});
    QTRY_VERIFY(entryOf(service.fleet(), QStringLiteral("ed1"))->health);
    const FleetEntry e = *entryOf(service.fleet(), QStringLiteral("ed1"));
    QCOMPARE(e.health->verdict, Verdict::Behind);
    QCOMPARE(e.health->backlogFiles, qint64(5990));
    QCOMPARE(e.filesReceived, qint64(1));

    // Over the cap: that one breaks the connection (frame-too-large).
    QByteArray head(5, Qt::Uninitialized);
    qToBigEndian(quint32(1 + MaxStatusBytes + 1), head.data());
    head[4] = char(FrameType::Status);
    ed.sendRaw(head + QByteArray(MaxStatusBytes + 1, 'x'));
    auto error = ed.expect<ErrorMsg>();
    QVERIFY(error);
    QCOMPARE(error->code, ErrorCode::FrameTooLarge);
}

void TestFleet::versionThreePeersNeverSeeTheNewFrames()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    ReceiverService service(receiverSetup(tmp.path()));
    service.start();
    QTRY_COMPARE(service.status().run, ReceiverStatus::Run::Listening);
    // A version 3 ED speaks version 3, and a STATUS on it is a broken frame.
    {
        test::ProtoClient ed;
        ed.setVersions(1, 3);
        QVERIFY(ed.connectTo(service.status().port));
        const auto greeting = ed.handshake(Secret, QStringLiteral("ed3"));
        QVERIFY(greeting.ok);
        QCOMPARE(greeting.version, quint16(3));
        ed.sendRaw(encode(Status{"{}"}, 4));
        auto error = ed.expect<ErrorMsg>();
        QVERIFY(error);
        QCOMPARE(error->code, ErrorCode::BadFrame);
    }
    // A monitor needs version 4.
    {
        test::ProtoClient monitor;
        monitor.setVersions(1, 3);
        QVERIFY(monitor.connectTo(service.status().port));
        const auto greeting = monitor.handshake(Secret, QStringLiteral(".ws1"));
        QVERIFY(!greeting.ok);
        QCOMPARE(greeting.error, ErrorCode::BadVersion);
    }
}

void TestFleet::monitorIsRefusedAnyDataFrame_data()
{
    QTest::addColumn<QByteArray>("frame");
    const Hash128 zero{};
    QTest::newRow("OFFER") << encode(Offer{1, QStringLiteral("DC1"), QStringLiteral("a"), 1, 1});
    QTest::newRow("BEGIN") << encode(Begin{1, 0});
    QTest::newRow("DATA") << encode(Data{1, QByteArray("x")});
    QTest::newRow("END") << encode(End{1, zero});
    QTest::newRow("CANCEL") << encode(Cancel{1});
    QTest::newRow("CLOSE_DBTAG") << encode(CloseDbtag{1, QStringLiteral("DC1"), 1});
    QTest::newRow("MANIFEST") << encode(Manifest{1, {{QStringLiteral("a"), 1}}});
    QTest::newRow("STATUS") << encode(Status{json(sampleHealth(Verdict::Ok))});
    QTest::newRow("FLEET") << encode(Fleet{true, true, "{}"});
}

void TestFleet::monitorIsRefusedAnyDataFrame()
{
    // A monitor authenticates as an ED does, gets the fleet, and is refused (bad-frame, then
    // closed) whatever data frame it tries; nothing lands under the root.
    QFETCH(QByteArray, frame);
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    ReceiverService service(receiverSetup(tmp.path()));
    service.start();
    QTRY_COMPARE(service.status().run, ReceiverStatus::Run::Listening);
    test::ProtoClient monitor;
    QVERIFY(monitor.connectTo(service.status().port));
    const auto greeting = monitor.handshake(Secret, QStringLiteral(".ws1"));
    QVERIFY(greeting.ok);
    QCOMPARE(greeting.version, quint16(4));
    auto fleet = monitor.expect<Fleet>();
    QVERIFY(fleet);
    QVERIFY(fleet->first && fleet->last);
    QVERIFY(parseFleetDocument(fleet->json));

    monitor.sendRaw(frame);
    // A later FLEET may come first (the fleet changed meanwhile).
    std::optional<ErrorMsg> error;
    for (int i = 0; i < 10 && !error; ++i) {
        error = monitor.expect<ErrorMsg>();
        if (!error && !(monitor.unexpected() && std::holds_alternative<Fleet>(*monitor.unexpected())))
            break;
    }
    QVERIFY2(error, monitor.unexpected() ? qPrintable(typeName(typeOf(*monitor.unexpected())))
                                         : "nothing");
    QCOMPARE(error->code, ErrorCode::BadFrame);
    QVERIFY2(error->message.contains(QStringLiteral("monitor")), qPrintable(error->message));
    QVERIFY(!monitor.next(2000)); // closed
    QCOMPARE(QDir(tmp.path()).entryList(QDir::AllEntries | QDir::NoDotAndDotDot),
             QStringList()); // no source directory, no file
    QVERIFY(!entryOf(service.fleet(), QStringLiteral(".ws1")));
    QVERIFY(!entryOf(service.fleet(), QStringLiteral("ws1")));
}

void TestFleet::monitorSecretIsNotTheEdsSecret()
{
    // With a monitor secret, a monitor proves that one and an ED cannot use it: the
    // workstation's secret cannot send data, and the EDs' secret does not make a monitor.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    ReceiverService service(receiverSetup(tmp.path(), Secret, QByteArrayLiteral("watching")));
    service.start();
    QTRY_COMPARE(service.status().run, ReceiverStatus::Run::Listening);
    const quint16 port = service.status().port;
    {
        test::ProtoClient ed;
        QVERIFY(ed.connectTo(port));
        const auto r = ed.handshake(QByteArrayLiteral("watching"), QStringLiteral("ed1"));
        QVERIFY(!r.ok);
        QCOMPARE(r.error, ErrorCode::AuthFailed);
    }
    {
        test::ProtoClient monitor;
        QVERIFY(monitor.connectTo(port));
        const auto r = monitor.handshake(Secret, QStringLiteral(".ws1"));
        QVERIFY(!r.ok);
        QCOMPARE(r.error, ErrorCode::AuthFailed);
    }
    {
        test::ProtoClient monitor;
        QVERIFY(monitor.connectTo(port));
        QVERIFY(monitor.handshake(QByteArrayLiteral("watching"), QStringLiteral(".ws1")).ok);
        QVERIFY(monitor.expect<Fleet>());
    }
    {
        test::ProtoClient ed;
        QVERIFY(ed.connectTo(port));
        QVERIFY(ed.handshake(Secret, QStringLiteral("ed1")).ok);
    }
    // The failure that claimed ed1 is counted for it.
    QTRY_VERIFY(entryOf(service.fleet(), QStringLiteral("ed1")));
    QCOMPARE(entryOf(service.fleet(), QStringLiteral("ed1"))->authFailures, qint64(1));
}

void TestFleet::fleetMonitorFollowsTheFleet()
{
    // FleetMonitor (the monitor window's client) gets the fleet at once and every change.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    ReceiverService service(receiverSetup(tmp.path(), Secret, QByteArrayLiteral("watching")));
    service.start();
    QTRY_COMPARE(service.status().run, ReceiverStatus::Run::Listening);

    MonitorSetup setup;
    setup.link.host = QStringLiteral("127.0.0.1");
    setup.link.port = service.status().port;
    setup.link.source = QStringLiteral("ws1");
    setup.link.secret = QByteArrayLiteral("watching");
    setup.link.retryIntervalMs = 100;
    setup.link.retryMaxMs = 500;
    FleetMonitor monitor(setup);
    QSignalSpy fleetSpy(&monitor, &FleetMonitor::fleetChanged);
    QSignalSpy receiverSpy(&monitor, &FleetMonitor::receiverChanged);
    QSignalSpy linkSpy(&monitor, &FleetMonitor::linkChanged);
    monitor.start();
    QTRY_COMPARE(monitor.link().state, LinkState::Ready);
    QTRY_VERIFY(fleetSpy.size() >= 1); // at subscribe, the (empty) fleet
    QVERIFY(receiverSpy.size() >= 1);
    QVERIFY(monitor.fleet().isEmpty());

    test::ProtoClient ed;
    QVERIFY(ed.connectTo(service.status().port));
    QVERIFY(ed.handshake(Secret, QStringLiteral("ed7")).ok);
    ed.send(Status{json(sampleHealth(Verdict::Behind, 7))});
    QTRY_VERIFY_WITH_TIMEOUT(entryOf(monitor.fleet(), QStringLiteral("ed7")) &&
                                 entryOf(monitor.fleet(), QStringLiteral("ed7"))->health,
                             10000 * test::timeoutFactor());
    const FleetEntry e = *entryOf(monitor.fleet(), QStringLiteral("ed7"));
    QVERIFY(e.connected);
    QCOMPARE(e.health->verdict, Verdict::Behind);
    QCOMPARE(e.health->backlogFiles, qint64(5997));
    QCOMPARE(e.health->liveDbtag, QStringLiteral("DC20240101000007"));
    QCOMPARE(fleetSpy.last().first().value<QList<FleetEntry>>(), monitor.fleet());

    // The receiver goes: the monitor says so, and comes back by itself with the fleet.
    monitor.stop();
    QCOMPARE(monitor.link().state, LinkState::Stopped);
    monitor.start();
    QTRY_COMPARE(monitor.link().state, LinkState::Ready);
    QVERIFY(linkSpy.size() >= 3);
}

void TestFleet::fleetChangedAtMostOnceASecond()
{
    // 20 STATUS reports in a burst move fleetChanged() at most once a second, and the last
    // one is what it carries in the end.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    ReceiverService service(receiverSetup(tmp.path()));
    QList<QDateTime> at;
    QList<FleetEntry> last;
    QObject face;
    connect(&service, &ReceiverService::fleetChanged, &face, [&](const QList<FleetEntry> &f) {
        at.append(QDateTime::currentDateTimeUtc());
        last = f;
    });
    service.start();
    QTRY_COMPARE(service.status().run, ReceiverStatus::Run::Listening);
    test::ProtoClient ed;
    QVERIFY(ed.connectTo(service.status().port));
    QVERIFY(ed.handshake(Secret, QStringLiteral("ed1")).ok);
    for (int i = 0; i < 20; ++i) {
        ed.send(Status{json(sampleHealth(Verdict::Behind, i))});
        QTest::qWait(50);
    }
    QTRY_VERIFY_WITH_TIMEOUT(entryOf(last, QStringLiteral("ed1")) &&
                                 entryOf(last, QStringLiteral("ed1"))->health &&
                                 entryOf(last, QStringLiteral("ed1"))->health->backlogFiles ==
                                     5990 + 19,
                             5000 * test::timeoutFactor());
    for (qsizetype i = 1; i < at.size(); ++i)
        QVERIFY2(at[i - 1].msecsTo(at[i]) >= 900,
                 qPrintable(QStringLiteral("%1 ms apart").arg(at[i - 1].msecsTo(at[i]))));
    QVERIFY(at.size() <= 5);
}

void TestFleet::twoHundredEntriesCostLittle()
{
    // 200 EDs, each with a full report: at most 1 MiB in memory and on disk.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const size_t before = mallinfo2().uordblks;
    auto registry = std::make_unique<FleetRegistry>(tmp.path());
    registry->load();
    for (int i = 0; i < 200; ++i) {
        const QString source = QStringLiteral("ed-%1.site-%2").arg(i, 3, 10, QLatin1Char('0')).arg(i % 7);
        registry->authenticated(source, QStringLiteral("10.1.%1.%2").arg(i / 250).arg(i % 250));
        // The report as it comes off the wire (parsed JSON), as the receiver files it.
        const auto parsed = EdHealth::fromJson(
            QJsonDocument::fromJson(json(sampleHealth(Verdict::Behind, i))).object());
        QVERIFY(parsed);
        registry->statusReported(source, *parsed);
        registry->fileStored(source, 1000);
    }
    const size_t held = mallinfo2().uordblks - before;
    QVERIFY(registry->save().ok());
    const qint64 onDisk = QFileInfo(registry->filePath()).size();
    qInfo("200 entries: %zu bytes in memory, %lld bytes on disk", held, onDisk);
    QVERIFY2(held <= 1024 * 1024, qPrintable(QString::number(held)));
    QVERIFY2(onDisk > 0 && onDisk <= 1024 * 1024, qPrintable(QString::number(onDisk)));
    QCOMPARE(registry->size(), 200);
}

void TestFleet::registryIsBounded()
{
    // Peers without credentials cannot grow it by claiming names, nor push real EDs out.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    FleetRegistry registry(tmp.path());
    registry.load();
    registry.authenticated(QStringLiteral("real"), QStringLiteral("10.0.0.1"));
    for (int i = 0; i < 3 * FleetRegistry::MaxUnauthenticatedSources; ++i)
        registry.authFailed(QStringLiteral("claimed-%1").arg(i), QStringLiteral("10.9.9.9"));
    QCOMPARE(registry.size(), 1 + FleetRegistry::MaxUnauthenticatedSources);
    QVERIFY(registry.entry(QStringLiteral("real")));
    // A claimed source that then authenticates is an ED like any other.
    const QString last =
        QStringLiteral("claimed-%1").arg(3 * FleetRegistry::MaxUnauthenticatedSources - 1);
    QVERIFY(registry.entry(last));
    registry.authenticated(last, QStringLiteral("10.0.0.2"));
    registry.authFailed(QStringLiteral("one-more"), QStringLiteral("10.9.9.9"));
    QVERIFY(registry.entry(last));
    QCOMPARE(registry.entry(last)->authFailures, qint64(1));
    QCOMPARE(registry.size(), 2 + FleetRegistry::MaxUnauthenticatedSources);
}

void TestFleet::receiversSharingARootMergeTheirFleets()
{
    // Two receivers on one root (issue 20): each writes its own file, none overwrites the
    // other's, and each one's fleet is the merge of both.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    FleetRegistry a(tmp.path()), b(tmp.path());
    a.setInstance(QStringLiteral("host-a-7000"));
    b.setInstance(QStringLiteral("host-b-7000"));
    a.load();
    b.load();
    QVERIFY(a.filePath() != b.filePath());
    a.authenticated(QStringLiteral("ed1"), QStringLiteral("10.0.0.1"));
    a.fileStored(QStringLiteral("ed1"), 100);
    b.authenticated(QStringLiteral("ed2"), QStringLiteral("10.0.0.2"));
    // ed1 failed over to b while its connection to a is still open.
    b.authenticated(QStringLiteral("ed1"), QStringLiteral("10.0.0.1"));
    b.fileStored(QStringLiteral("ed1"), 50);
    b.fileStored(QStringLiteral("ed1"), 50);
    EdHealth newer = sampleHealth(Verdict::Degraded);
    newer.at = QDateTime::currentDateTimeUtc().addSecs(5);
    b.statusReported(QStringLiteral("ed1"), newer);
    a.statusReported(QStringLiteral("ed1"), sampleHealth(Verdict::Behind));
    QVERIFY(a.save().ok());
    QVERIFY(b.save().ok());
    QVERIFY(QFile::exists(a.filePath()) && QFile::exists(b.filePath()));

    QVERIFY(a.refreshPeers());
    QVERIFY(!a.refreshPeers()); // nothing moved since
    const QList<FleetEntry> fleet = a.entries();
    QCOMPARE(fleet.size(), 2);
    const auto ed1 = entryOf(fleet, QStringLiteral("ed1"));
    QVERIFY(ed1 && ed1->connected);
    QCOMPARE(ed1->filesReceived, qint64(3)); // 1 by a, 2 by b
    QCOMPARE(ed1->bytesReceived, qint64(200));
    QVERIFY(ed1->health);
    QCOMPARE(ed1->health->verdict, Verdict::Degraded); // the newest report
    const auto ed2 = entryOf(fleet, QStringLiteral("ed2"));
    QVERIFY(ed2 && ed2->connected);
    QCOMPARE(ed2->peer, QStringLiteral("10.0.0.2"));

    // b stops: its EDs are no longer connected, as a sees once it read b's last file.
    b.disconnectAll();
    QVERIFY(b.save().ok());
    QVERIFY(a.refreshPeers());
    QVERIFY(!entryOf(a.entries(), QStringLiteral("ed2"))->connected);
    QVERIFY(entryOf(a.entries(), QStringLiteral("ed1"))->connected); // a still has it

    // A receiver killed with connections open leaves a file that stops being rewritten: past
    // PeerStaleSeconds its connections do not count.
    QFile ghost(tmp.filePath(QStringLiteral(".isocket-fleet/host-c-7000.json")));
    QVERIFY(ghost.open(QIODevice::WriteOnly));
    const QString old = QDateTime::currentDateTimeUtc()
                            .addSecs(-FleetRegistry::PeerStaleSeconds - 60)
                            .toString(Qt::ISODateWithMs);
    ghost.write(QStringLiteral("{\"version\":2,\"written\":\"%1\",\"sources\":[{\"source\":"
                               "\"ed3\",\"connected\":true,\"files_received\":4}]}")
                    .arg(old)
                    .toUtf8());
    ghost.close();
    QVERIFY(a.refreshPeers());
    const auto ed3 = entryOf(a.entries(), QStringLiteral("ed3"));
    QVERIFY(ed3);
    QVERIFY(!ed3->connected);
    QCOMPARE(ed3->filesReceived, qint64(4));

    // A file of an older version is taken by one receiver only (no count twice).
    QTemporaryDir legacyRoot;
    QVERIFY(test::writeFile(legacyRoot.filePath(QLatin1String(FleetRegistry::LegacyFileName)),
                            "{\"version\":1,\"sources\":[{\"source\":\"old\","
                            "\"files_received\":9}]}"));
    FleetRegistry first(legacyRoot.path()), second(legacyRoot.path());
    first.setInstance(QStringLiteral("one"));
    second.setInstance(QStringLiteral("two"));
    first.load();
    second.load();
    QCOMPARE(first.entry(QStringLiteral("old"))->filesReceived, qint64(9));
    QVERIFY(!second.entry(QStringLiteral("old")));
    QVERIFY(!QFile::exists(legacyRoot.filePath(QLatin1String(FleetRegistry::LegacyFileName))));
}

void TestFleet::twoReceiverServicesSeeEachOthersEds()
{
    // Two running receivers on one root, an ED on each: each one's fleet (what a monitor and
    // `isocket status` see) shows both EDs, and follows the other's disconnection.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    ReceiverSetup setup = receiverSetup(tmp.path());
    setup.spaceTickMs = 100;
    ReceiverService a(setup), b(setup);
    a.start();
    b.start();
    QTRY_COMPARE(a.status().run, ReceiverStatus::Run::Listening);
    QTRY_COMPARE(b.status().run, ReceiverStatus::Run::Listening);
    auto edA = std::make_unique<test::ProtoClient>();
    auto edB = std::make_unique<test::ProtoClient>();
    QVERIFY(edA->connectTo(a.status().port));
    QVERIFY(edA->handshake(Secret, QStringLiteral("ed-a")).ok);
    QVERIFY(edB->connectTo(b.status().port));
    QVERIFY(edB->handshake(Secret, QStringLiteral("ed-b")).ok);
    const int deadline = 20000 * test::timeoutFactor();
    auto connected = [](const ReceiverService &s, const QString &source) {
        const auto e = entryOf(s.fleet(), source);
        return e && e->connected;
    };
    QTRY_VERIFY_WITH_TIMEOUT(connected(a, QStringLiteral("ed-b")), deadline);
    QTRY_VERIFY_WITH_TIMEOUT(connected(b, QStringLiteral("ed-a")), deadline);
    QVERIFY(connected(a, QStringLiteral("ed-a")));
    edB.reset(); // ed-b goes away from b
    QTRY_VERIFY_WITH_TIMEOUT(!connected(a, QStringLiteral("ed-b")), deadline);
    QVERIFY(entryOf(a.fleet(), QStringLiteral("ed-b"))); // still known
    QCOMPARE(QDir(tmp.filePath(QStringLiteral(".isocket-fleet")))
                 .entryList({QStringLiteral("*.json")}, QDir::Files)
                 .size(),
             2);
}

QTEST_MAIN(TestFleet)
#include "tst_fleet.moc"
