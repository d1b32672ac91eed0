// The health model's JSON form (core/health.h): what `isocket status --json`, the STATUS frame
// and the fleet registry carry. Written and read back whole; a peer's or a file's bad JSON is
// refused, not half-read.

#include "core/health.h"

#include <QJsonDocument>
#include <QTest>

using namespace isocket;

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

QTEST_GUILESS_MAIN(TestHealth)
#include "tst_health.moc"
