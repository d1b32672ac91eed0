// The health model's JSON form (core/health.h): what `isocket status --json`, the STATUS frame
// and the fleet registry carry. Written and read back whole; a peer's or a file's bad JSON is
// refused, not half-read.

#include "core/health.h"

#include <QJsonDocument>
#include <QRegularExpression>
#include <QTest>

using namespace isocket;

Q_DECLARE_METATYPE(isocket::EdHealthInputs)
Q_DECLARE_METATYPE(isocket::Verdict)

class TestHealth : public QObject
{
    Q_OBJECT

private slots:
    void edHealthRoundTrips();
    void fleetEntryRoundTrips();
    void receiverHealthRoundTrips();
    void badInputIsRefused_data();
    void badInputIsRefused();
    void verdictNamesAndExitCodes();
    void aSilentEdIsFailing();
    // The verdict rules (assessEdHealth, docs/HEALTH.md) with values.
    void edVerdicts_data();
    void edVerdicts();
    void edBehindNumbers();
    void edFirstMatchWins();
    void edHealthMovesWithTimeOnlyWhenItMust();
    void receiverVerdicts();
    void words();
};

static EdHealth sampleHealth()
{
    EdHealth h;
    h.verdict = Verdict::Behind;
    h.reason = QStringLiteral("Behind: 5,990 files, 374 MiB, oldest 3 min");
    h.at = QDateTime(QDate(2026, 12, 6), QTime(10, 0, 0, 250), Qt::UTC);
    h.connected = true;
    h.refusal = QStringLiteral("disk full");
    h.refusingSince = h.at.addSecs(-60);
    h.refusedFiles = 30;
    h.backlogFiles = 5990;
    h.backlogBytes = 374LL * 1024 * 1024;
    h.oldestUnsent = h.at.addSecs(-180);
    h.catchUpFiles = 5980;
    h.oldestCatchUp = h.at.addSecs(-150);
    h.rateBytesPerSecond = 19.5 * 1024 * 1024;
    h.etaSeconds = 19;
    h.liveDbtag = QStringLiteral("DC20261206095900");
    h.dbtagsByState = {{QStringLiteral("live"), 1}, {QStringLiteral("closed"), 4}};
    h.failedFiles = 2;
    return h;
}

void TestHealth::edHealthRoundTrips()
{
    const EdHealth h = sampleHealth();
    QCOMPARE(h.oldestUnsentAgeSeconds(), 180);
    QCOMPARE(h.oldestCatchUpAgeSeconds(), 150);
    QCOMPARE(h.toJson().value(QStringLiteral("catch_up_files")).toInt(), 5980);
    QCOMPARE(h.toJson().value(QStringLiteral("oldest_catch_up_age_seconds")).toInt(), 150);
    const QByteArray text = QJsonDocument(h.toJson()).toJson(QJsonDocument::Compact);
    const auto back = EdHealth::fromJson(QJsonDocument::fromJson(text).object());
    QVERIFY(back);
    QCOMPARE(*back, h);
    QCOMPARE(h.toJson().value(QStringLiteral("verdict")).toString(), QStringLiteral("behind"));
}

void TestHealth::fleetEntryRoundTrips()
{
    FleetEntry e;
    e.source = QStringLiteral("ed-07");
    e.peer = QStringLiteral("10.0.0.7");
    e.firstSeen = QDateTime(QDate(2026, 1, 2), QTime(3, 4, 5), Qt::UTC);
    e.lastSeen = e.firstSeen.addDays(300);
    e.health = sampleHealth();
    e.filesReceived = 123456789012LL;
    e.bytesReceived = 9'000'000'000'000LL;
    e.datasetsCompleted = 41;
    e.authFailures = 3;
    const auto back = FleetEntry::fromJson(e.toJson());
    QVERIFY(back);
    QCOMPARE(*back, e);

    FleetEntry bare;
    bare.source = QStringLiteral("never-reported");
    const auto bareBack = FleetEntry::fromJson(bare.toJson());
    QVERIFY(bareBack);
    QVERIFY(!bareBack->health);
}

void TestHealth::receiverHealthRoundTrips()
{
    ReceiverHealth h;
    h.verdict = Verdict::Failing;
    h.reason = QStringLiteral("Disk full");
    h.listening = true;
    h.address = QStringLiteral("[::1]:12345");
    h.freeBytes = 10;
    h.totalBytes = 1000;
    h.reserveBytes = 100;
    h.diskFull = true;
    h.authFailures = 7;
    h.authFailuresByPeer = {{QStringLiteral("127.0.0.2"), 7}};
    const auto back = ReceiverHealth::fromJson(h.toJson());
    QVERIFY(back);
    QCOMPARE(*back, h);
}

void TestHealth::badInputIsRefused_data()
{
    QTest::addColumn<QByteArray>("json");
    QTest::newRow("no verdict") << QByteArray(R"({"reason":"x"})");
    QTest::newRow("unknown verdict") << QByteArray(R"({"verdict":"splendid"})");
    QTest::newRow("number as text") << QByteArray(R"({"verdict":"ok","backlog_files":"12"})");
    QTest::newRow("bad time") << QByteArray(R"({"verdict":"ok","at":"yesterday"})");
    QTest::newRow("bool as number") << QByteArray(R"({"verdict":"ok","connected":1})");
    QTest::newRow("states not counts")
        << QByteArray(R"({"verdict":"ok","dbtags_by_state":{"live":"one"}})");
}

void TestHealth::badInputIsRefused()
{
    QFETCH(QByteArray, json);
    const QJsonObject o = QJsonDocument::fromJson(json).object();
    QVERIFY(!EdHealth::fromJson(o));
    QJsonObject entry{{QStringLiteral("source"), QStringLiteral("ed")},
                      {QStringLiteral("health"), o}};
    QVERIFY(!FleetEntry::fromJson(entry));
    QVERIFY(!FleetEntry::fromJson(QJsonObject{{QStringLiteral("files_received"), 3}}));
    // An unknown key is not an error: a newer ED may report more.
    QJsonObject newer = sampleHealth().toJson();
    newer.insert(QStringLiteral("something_new"), 42);
    QVERIFY(EdHealth::fromJson(newer));
}

void TestHealth::verdictNamesAndExitCodes()
{
    for (Verdict v : {Verdict::Ok, Verdict::Behind, Verdict::Degraded, Verdict::Failing})
        QCOMPARE(verdictFromName(verdictName(v)), v);
    QVERIFY(!verdictFromName(QStringLiteral("OK")));
    QCOMPARE(verdictExitCode(Verdict::Ok), 0);
    QCOMPARE(verdictExitCode(Verdict::Behind), 1);
    QCOMPARE(verdictExitCode(Verdict::Failing), 1);
}

void TestHealth::aSilentEdIsFailing()
{
    const QDateTime now = QDateTime::currentDateTimeUtc();
    FleetEntry e;
    e.source = QStringLiteral("ed");
    e.health = sampleHealth();
    e.health->verdict = Verdict::Ok;
    e.lastSeen = now.addSecs(-10);
    QCOMPARE(e.verdict(now), Verdict::Ok);
    e.lastSeen = now.addSecs(-3600);
    QCOMPARE(e.verdict(now), Verdict::Failing);
    e.connected = true; // connected now: its report counts
    QCOMPARE(e.verdict(now), Verdict::Ok);
}

// A healthy, connected ED with nothing to send.
static EdHealthInputs healthyInputs()
{
    EdHealthInputs in;
    in.root = QStringLiteral("/data");
    in.connected = true;
    in.liveDbtag = QStringLiteral("DC1");
    in.dbtagsByState = {{QStringLiteral("live"), 1}};
    return in;
}

static const QDateTime Now = QDateTime(QDate(2026, 12, 6), QTime(10, 0, 0), Qt::UTC);

void TestHealth::edVerdicts_data()
{
    QTest::addColumn<EdHealthInputs>("in");
    QTest::addColumn<Verdict>("verdict");
    QTest::addColumn<QString>("reason"); // a regular expression
    const QString at = QDateTime(Now.addSecs(-300)).toLocalTime().toString(QStringLiteral("HH:mm"));
    EdHealthInputs in;

    QTest::newRow("idle") << healthyInputs() << Verdict::Ok << QStringLiteral("^Up to date$");

    in = healthyInputs();
    in.startError = QStringLiteral("cannot watch /data: no such directory");
    in.rootMissing = true;
    QTest::newRow("root missing at start")
        << in << Verdict::Failing << QStringLiteral("^Data root /data is missing$");
    in.rootMissing = false;
    QTest::newRow("cannot start") << in << Verdict::Failing
                                  << QStringLiteral("^Cannot start: cannot watch");

    in = healthyInputs();
    in.rootMissing = true;
    QTest::newRow("root missing") << in << Verdict::Failing
                                  << QStringLiteral("^Data root /data is missing$");

    in = healthyInputs();
    in.connected = false;
    in.downSince = Now.addSecs(-300);
    in.authCode = ErrorCode::AuthFailed;
    in.authFailingSince = Now.addSecs(-300);
    QTest::newRow("wrong secret")
        << in << Verdict::Failing
        << QStringLiteral("^Wrong secret: the receiver refuses us since %1$").arg(at);
    in.authCode = ErrorCode::BadVersion;
    QTest::newRow("bad version") << in << Verdict::Failing
                                 << QStringLiteral("^Protocol versions do not match");

    in = healthyInputs();
    in.diskFullSince = Now.addSecs(-300);
    in.backlogFiles = 30;
    in.backlogBytes = 30 << 20;
    in.oldestUnsent = Now.addSecs(-400);
    QTest::newRow("disk full")
        << in << Verdict::Failing
        << QStringLiteral("^Receiver disk full since %1, 30 files waiting$").arg(at);

    in = healthyInputs();
    in.connected = false;
    in.downSince = Now.addSecs(-300);
    in.downCause = QStringLiteral("connection refused");
    in.backlogFiles = 12;
    in.oldestUnsent = Now.addSecs(-300);
    QTest::newRow("down long, files waiting")
        << in << Verdict::Failing
        << QStringLiteral("^Cannot reach the receiver since %1: connection refused, 12 files "
                          "waiting$")
               .arg(at);
    in.downSince = Now.addSecs(-20);
    QTest::newRow("down briefly, files waiting")
        << in << Verdict::Behind << QStringLiteral("^Reconnecting to the receiver");
    in.backlogFiles = 0;
    in.downSince = Now.addSecs(-300);
    QTest::newRow("down long, nothing waiting")
        << in << Verdict::Degraded << QStringLiteral("\\(nothing waiting\\)$");
    in.downSince = Now.addSecs(-5);
    QTest::newRow("connecting at start")
        << in << Verdict::Ok << QStringLiteral("^Up to date \\(connecting");

    in = healthyInputs();
    in.paused = true;
    QTest::newRow("paused") << in << Verdict::Degraded
                            << QStringLiteral("^Paused by the operator$");
    in.backlogFiles = 1;
    QTest::newRow("paused, a file waiting")
        << in << Verdict::Degraded << QStringLiteral("^Paused by the operator, 1 file waiting$");

    in = healthyInputs();
    in.watcherTrouble = QStringLiteral("out of inotify watches at /data/DC1");
    QTest::newRow("out of watches")
        << in << Verdict::Degraded << QStringLiteral("^File watching is unreliable: out of");

    in = healthyInputs();
    in.lastOverflow = Now.addSecs(-300);
    QTest::newRow("overflow lately")
        << in << Verdict::Degraded << QStringLiteral("^The inotify queue overflowed at %1").arg(at);
    in.lastOverflow = Now.addSecs(-3600);
    QTest::newRow("overflow long ago") << in << Verdict::Ok << QStringLiteral("^Up to date$");

    in = healthyInputs();
    in.failedFiles = 2;
    in.lastFailure = QStringLiteral("receiver refused DC1/x: bad path (bad-path)");
    in.permanentRefusal = QStringLiteral("receiver refused DC1/x: bad path");
    in.permanentlyRefusedFiles = 2;
    QTest::newRow("failed for good")
        << in << Verdict::Degraded
        << QStringLiteral("^2 files failed for good, the last: receiver refused");

    in = healthyInputs();
    in.backlogFiles = 5;
    in.backlogBytes = 5000;
    in.oldestUnsent = Now.addSecs(-2);
    in.rateBytesPerSecond = 10000;
    QTest::newRow("live files moving") << in << Verdict::Ok << QStringLiteral("^Up to date$");
    in.oldestUnsent = Now.addSecs(-31);
    QTest::newRow("oldest over 30 s")
        << in << Verdict::Behind << QStringLiteral("^Behind: 5 files");
    in.oldestUnsent = Now.addSecs(-2);
    in.backlogBytes = 1000000;
    QTest::newRow("ETA over 30 s")
        << in << Verdict::Behind << QStringLiteral("about 1 min to catch up$");
}

void TestHealth::edVerdicts()
{
    QFETCH(EdHealthInputs, in);
    QFETCH(Verdict, verdict);
    QFETCH(QString, reason);
    const EdHealth h = assessEdHealth(in, Now);
    QVERIFY2(QRegularExpression(reason).match(h.reason).hasMatch(), qPrintable(h.reason));
    QCOMPARE(h.verdict, verdict);
    QCOMPARE(h.at, Now);
    QCOMPARE(h.connected, in.connected);
    QCOMPARE(h.authFailing, in.authCode != ErrorCode::Ok);
    QCOMPARE(h.paused, in.paused);
    QCOMPARE(h.backlogFiles, in.backlogFiles);
    QCOMPARE(h.liveDbtag, in.liveDbtag);
    QCOMPARE(h.dbtagsByState, in.dbtagsByState);
    QCOMPARE(h.localTrouble.isEmpty(),
             !in.rootMissing && in.watcherTrouble.isEmpty() &&
                 (!in.lastOverflow.isValid() || in.lastOverflow.secsTo(Now) >= 600));
    QCOMPARE(h.refusal.isEmpty(), !in.diskFullSince.isValid() && in.permanentRefusal.isEmpty());
    // What every face shows survives the JSON.
    const auto back = EdHealth::fromJson(h.toJson());
    QVERIFY(back);
    QCOMPARE(*back, h);
}

void TestHealth::edBehindNumbers()
{
    EdHealthInputs in = healthyInputs();
    in.backlogFiles = 5990;
    in.backlogBytes = 374LL << 20;
    in.oldestUnsent = Now.addSecs(-190);
    in.rateBytesPerSecond = (374.0 * 1048576) / 19;
    const EdHealth h = assessEdHealth(in, Now);
    QCOMPARE(h.verdict, Verdict::Behind);
    QCOMPARE(h.reason, QStringLiteral("Behind: 5,990 files, 374 MiB, oldest 3 min, about 19 s "
                                      "to catch up"));
    QCOMPARE(h.etaSeconds, 19);
    QCOMPARE(h.oldestUnsent, in.oldestUnsent);
    QCOMPARE(h.oldestUnsentAgeSeconds(), 190);
    QCOMPARE(h.backlogBytes, 374LL << 20);

    // Nothing delivered lately: no ETA, and none in words.
    in.rateBytesPerSecond = 0;
    const EdHealth stalled = assessEdHealth(in, Now);
    QCOMPARE(stalled.etaSeconds, -1);
    QCOMPARE(stalled.reason, QStringLiteral("Behind: 5,990 files, 374 MiB, oldest 3 min"));
    // Most of it catching up behind the live dbtag's files: said, with its own oldest.
    in.catchUpFiles = 5980;
    in.oldestCatchUp = Now.addSecs(-130);
    const EdHealth catchingUp = assessEdHealth(in, Now);
    QCOMPARE(catchingUp.reason, QStringLiteral("Behind: 5,990 files, 374 MiB, oldest 3 min; "
                                               "catching up: 5,980 files, oldest 2 min"));
    QCOMPARE(catchingUp.catchUpFiles, 5980);
    QCOMPARE(catchingUp.oldestCatchUp, in.oldestCatchUp);
    in.catchUpFiles = 0;
    // Nothing waits: ETA 0, no oldest.
    in.backlogFiles = 0;
    in.backlogBytes = 0;
    const EdHealth done = assessEdHealth(in, Now);
    QCOMPARE(done.etaSeconds, 0);
    QVERIFY(!done.oldestUnsent.isValid());
    QCOMPARE(done.verdict, Verdict::Ok);
}

void TestHealth::edFirstMatchWins()
{
    // Everything wrong at once: the one an operator must fix first is named.
    EdHealthInputs in = healthyInputs();
    in.connected = false;
    in.downSince = Now.addSecs(-600);
    in.paused = true;
    in.failedFiles = 3;
    in.backlogFiles = 7;
    in.oldestUnsent = Now.addSecs(-900);
    in.diskFullSince = Now.addSecs(-700);
    QCOMPARE(assessEdHealth(in, Now).reason.left(19), QStringLiteral("Receiver disk full "));
    in.authCode = ErrorCode::AuthFailed;
    in.authFailingSince = Now.addSecs(-60);
    QVERIFY(assessEdHealth(in, Now).reason.startsWith(QStringLiteral("Wrong secret")));
    in.rootMissing = true;
    QVERIFY(assessEdHealth(in, Now).reason.startsWith(QStringLiteral("Data root")));
    // Paused beats a failed file and a backlog.
    in = healthyInputs();
    in.paused = true;
    in.failedFiles = 1;
    in.backlogFiles = 3;
    in.oldestUnsent = Now.addSecs(-900);
    QCOMPARE(assessEdHealth(in, Now).verdict, Verdict::Degraded);
    QVERIFY(assessEdHealth(in, Now).reason.startsWith(QStringLiteral("Paused")));
}

void TestHealth::edHealthMovesWithTimeOnlyWhenItMust()
{
    EdHealthInputs in = healthyInputs();
    QVERIFY(!edHealthMovesWithTime(in, Now)); // idle: no timer
    in.backlogFiles = 1;
    QVERIFY(edHealthMovesWithTime(in, Now)); // an age grows
    in.backlogFiles = 0;
    in.rateBytesPerSecond = 10;
    QVERIFY(edHealthMovesWithTime(in, Now)); // the rate decays
    in.rateBytesPerSecond = 0;
    in.connected = false;
    in.downSince = Now.addSecs(-10);
    QVERIFY(edHealthMovesWithTime(in, Now)); // the grace runs out
    in.downSince = Now.addSecs(-100);
    QVERIFY(!edHealthMovesWithTime(in, Now)); // down for long, nothing waiting: settled
    in.lastOverflow = Now.addSecs(-10);
    QVERIFY(edHealthMovesWithTime(in, Now)); // the overflow is forgotten in time
    // The verdict does move: Behind after the grace... then Failing.
    in = healthyInputs();
    in.connected = false;
    in.downSince = Now;
    in.backlogFiles = 1;
    in.oldestUnsent = Now;
    QCOMPARE(assessEdHealth(in, Now.addSecs(59)).verdict, Verdict::Behind);
    QCOMPARE(assessEdHealth(in, Now.addSecs(60)).verdict, Verdict::Failing);
    EdHealthRules quick;
    quick.downGraceSeconds = 2;
    QCOMPARE(assessEdHealth(in, Now.addSecs(2), quick).verdict, Verdict::Failing);
}

void TestHealth::receiverVerdicts()
{
    ReceiverHealthInputs in;
    in.facts.listening = true;
    in.facts.address = QStringLiteral("127.0.0.1:12345");
    in.facts.freeBytes = 120LL << 30;
    in.facts.totalBytes = 500LL << 30;
    ReceiverHealth h = assessReceiverHealth(in, Now);
    QCOMPARE(h.verdict, Verdict::Ok);
    QCOMPARE(h.reason, QStringLiteral("Listening on 127.0.0.1:12345, 120 GiB free"));
    QCOMPARE(h.at, Now);
    QCOMPARE(h.freeBytes, 120LL << 30);

    in.lastAuthFailure = Now.addSecs(-60);
    in.lastAuthFailurePeer = QStringLiteral("10.0.0.7");
    in.facts.authFailures = 3;
    in.facts.authFailuresByPeer = {{QStringLiteral("10.0.0.7"), 3}};
    h = assessReceiverHealth(in, Now);
    QCOMPARE(h.verdict, Verdict::Degraded);
    QVERIFY2(h.reason.contains(QStringLiteral("3 connections failed to authenticate, the last "
                                              "from 10.0.0.7")),
             qPrintable(h.reason));
    QCOMPARE(assessReceiverHealth(in, Now.addSecs(3600)).verdict, Verdict::Ok); // long ago

    in.facts.diskFull = true;
    in.facts.freeBytes = qint64(1.2 * (1LL << 30));
    in.facts.reserveBytes = 2LL << 30;
    h = assessReceiverHealth(in, Now);
    QCOMPARE(h.verdict, Verdict::Failing);
    QCOMPARE(h.reason,
             QStringLiteral("Disk full: 1.2 GiB free, reserve 2.0 GiB; files are refused"));

    in.facts.listening = false;
    in.notListening = QStringLiteral("address in use");
    h = assessReceiverHealth(in, Now);
    QCOMPARE(h.verdict, Verdict::Failing);
    QCOMPARE(h.reason, QStringLiteral("Not listening: address in use"));
}

void TestHealth::words()
{
    QCOMPARE(healthCount(5990), QStringLiteral("5,990"));
    QCOMPARE(healthCount(7), QStringLiteral("7"));
    QCOMPARE(healthBytes(512), QStringLiteral("512 B"));
    QCOMPARE(healthBytes(374LL << 20), QStringLiteral("374 MiB"));
    QCOMPARE(healthBytes(1536), QStringLiteral("1.5 KiB"));
    QCOMPARE(healthDuration(19), QStringLiteral("19 s"));
    QCOMPARE(healthDuration(190), QStringLiteral("3 min"));
    QCOMPARE(healthDuration(2 * 3600 + 300), QStringLiteral("2 h 5 min"));
    const QDateTime t = QDateTime::currentDateTime();
    QCOMPARE(healthClock(t, t), t.toString(QStringLiteral("HH:mm")));
    QCOMPARE(healthClock(t.addDays(-3), t),
             t.addDays(-3).toString(QStringLiteral("yyyy-MM-dd HH:mm")));
}

QTEST_GUILESS_MAIN(TestHealth)
#include "tst_health.moc"
