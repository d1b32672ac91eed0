// The faces of issue 16 that `isocket status` and Prometheus read, below the processes:
// - the status JSON of both sides (core/statusjson.h): the keys docs/STATUS.md documents, the
//   receiver's overall verdict as the worst of itself and its fleet;
// - the metrics text (core/metricstext.h): accepted by Prometheus' own `promtool check metrics`
//   (format and naming lint), the values where they belong, labels escaped, the per-source
//   series bounded;
// - the control socket (cli/controlsocket.h): owner and group only, one answer per request, a
//   silent client dropped, a stale socket replaced, a live one or a file that is no socket left
//   alone.

#include "cli/controlsocket.h"
#include "core/metricstext.h"
#include "core/statusjson.h"
#include "tests/testlib/processes.h"

#include <QJsonArray>
#include <QLocalSocket>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>

#include <future>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

using namespace isocket;
using namespace isocket::cli;

namespace {

const QDateTime Now = QDateTime(QDate(2026, 12, 6), QTime(10, 0), Qt::UTC);

EdStatus edSample(const QString &source)
{
    EdStatus s;
    s.run = EdStatus::Run::Running;
    s.root = QStringLiteral("/datas");
    s.receiver = QStringLiteral("drms:12345");
    s.source = source;
    s.queued = 12;
    s.failed = 1;
    s.dbtagsFinished = 3;
    s.links = {LinkStatus{LinkState::Ready, QString(), QDateTime(), QStringLiteral("a:4000")},
               LinkStatus{LinkState::Retrying, QStringLiteral("refused"), Now.addSecs(2),
                          QStringLiteral("b:4000")}};
    s.receiversDown = {QStringLiteral("b:4000 (refused)")};
    EdHealth &h = s.health;
    h.verdict = Verdict::Behind;
    h.reason = QStringLiteral("Behind: 12 files");
    h.at = Now;
    h.connected = true;
    h.backlogFiles = 12;
    h.backlogBytes = 5 * 1024 * 1024;
    h.oldestUnsent = Now.addSecs(-180);
    h.catchUpFiles = 10;
    h.oldestCatchUp = Now.addSecs(-120);
    h.rateBytesPerSecond = 1024.5;
    h.etaSeconds = 19;
    h.liveDbtag = QStringLiteral("DC20261206");
    h.dbtagsByState = {{QStringLiteral("live"), 1}, {QStringLiteral("done"), 7}};
    return s;
}

FleetEntry entry(const QString &source, Verdict verdict, bool connected = true)
{
    FleetEntry e;
    e.source = source;
    e.connected = connected;
    e.firstSeen = Now.addDays(-1);
    e.lastSeen = connected ? Now : Now.addSecs(-3600);
    EdHealth h;
    h.verdict = verdict;
    h.reason = verdictName(verdict);
    h.at = e.lastSeen;
    h.backlogFiles = 4;
    h.oldestUnsent = Now.addSecs(-60);
    e.health = h;
    e.filesReceived = 10;
    e.bytesReceived = 1000;
    return e;
}

ReceiverStatus receiverSample()
{
    ReceiverStatus s;
    s.run = ReceiverStatus::Run::Listening;
    s.address = QStringLiteral("127.0.0.1:12345");
    s.port = 12345;
    s.root = QStringLiteral("/srv/isocket");
    s.connections = 2;
    s.authFailures = 1;
    s.stored = 42;
    s.bytesStored = 4200;
    s.health.verdict = Verdict::Ok;
    s.health.reason = QStringLiteral("Listening on 127.0.0.1:12345");
    s.health.listening = true;
    s.health.freeBytes = 1LL << 30;
    s.health.totalBytes = 1LL << 32;
    s.health.reserveBytes = 64LL << 20;
    return s;
}

// The value of the sample `name{labels}` (labels exactly as written), or NaN when absent.
double sampleValue(const QByteArray &text, const QString &series)
{
    for (const QByteArray &line : text.split('\n')) {
        const QString l = QString::fromUtf8(line);
        if (l.startsWith(series + QLatin1Char(' ')))
            return l.mid(series.size() + 1).toDouble();
    }
    return qQNaN();
}

// A socket file whose server is gone: bound, then closed without unlinking.
bool makeStaleSocket(const QString &path)
{
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    const QByteArray name = QFile::encodeName(path);
    if (fd < 0 || size_t(name.size()) >= sizeof(addr.sun_path))
        return false;
    std::memcpy(addr.sun_path, name.constData(), size_t(name.size()) + 1);
    const bool ok = ::bind(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) == 0
                    && ::listen(fd, 1) == 0;
    ::close(fd);
    return ok;
}

// Asks `path` from another thread (the server answers in this one) and waits for the answer.
Result<QJsonObject> ask(const QString &path)
{
    auto answer = std::async(std::launch::async, [path] { return queryControlSocket(path, 5000); });
    const bool ready = QTest::qWaitFor(
        [&] { return answer.wait_for(std::chrono::seconds(0)) == std::future_status::ready; },
        10000);
    if (!ready)
        return Error{ErrorCode::Timeout, QStringLiteral("no answer in 10 s")};
    return answer.get();
}

} // namespace

class TestStatus : public QObject
{
    Q_OBJECT

private slots:
    void edJsonHasTheDocumentedKeys();
    void receiverVerdictIsTheWorstOfTheFleet();
    void metricsPassPromtool_data();
    void metricsPassPromtool();
    void edMetricsValues();
    void receiverMetricsValuesAndEscapes();
    void perSourceSeriesAreBounded();
    void controlSocketIsOwnerAndGroupOnly();
    void controlSocketAnswersEachRequest();
    void silentClientIsDropped();
    void staleSocketIsReplaced();
    void liveSocketOrOtherFileIsLeftAlone();
};

void TestStatus::edJsonHasTheDocumentedKeys()
{
    const QJsonObject o = edStatusJson(edSample(QStringLiteral("ed1")), EdCounters{5, 500});
    for (const char *key : {"schema", "role", "daemon", "verdict", "reason", "run", "root",
                            "receiver", "source", "paused", "idle", "queued", "failed",
                            "dbtags_finished", "files_sent", "bytes_sent", "links", "held_open",
                            "error", "fatal", "unreliable", "health"})
        QVERIFY2(o.contains(QLatin1String(key)), key);
    QCOMPARE(o.value(QStringLiteral("role")).toString(), QStringLiteral("ed"));
    QCOMPARE(o.value(QStringLiteral("verdict")).toString(), QStringLiteral("behind"));
    QCOMPARE(o.value(QStringLiteral("files_sent")).toInteger(), 5);
    QCOMPARE(o.value(QStringLiteral("links")).toArray().at(1).toObject().value(
                 QStringLiteral("state")).toString(),
             QStringLiteral("retrying"));
    QCOMPARE(o.value(QStringLiteral("links")).toArray().at(1).toObject().value(
                 QStringLiteral("receiver")).toString(),
             QStringLiteral("b:4000"));
    QCOMPARE(o.value(QStringLiteral("receivers_down")).toArray().at(0).toString(),
             QStringLiteral("b:4000 (refused)"));
    const QJsonObject healthJson = o.value(QStringLiteral("health")).toObject();
    for (const char *key : {"catch_up_files", "oldest_catch_up", "oldest_catch_up_age_seconds"})
        QVERIFY2(healthJson.contains(QLatin1String(key)), key);
    const auto health = EdHealth::fromJson(healthJson);
    QVERIFY(health);
    QCOMPARE(*health, edSample(QStringLiteral("ed1")).health);
}

void TestStatus::receiverVerdictIsTheWorstOfTheFleet()
{
    const ReceiverStatus status = receiverSample();
    QList<FleetEntry> fleet{entry(QStringLiteral("a"), Verdict::Ok),
                            entry(QStringLiteral("b"), Verdict::Ok)};
    QJsonObject o = receiverStatusJson(status, fleet, Now);
    QCOMPARE(o.value(QStringLiteral("verdict")).toString(), QStringLiteral("ok"));
    QCOMPARE(o.value(QStringLiteral("fleet")).toArray().size(), 2);

    // An ED that reports itself behind makes the whole behind, and the reason names it.
    fleet.append(entry(QStringLiteral("c"), Verdict::Behind));
    o = receiverStatusJson(status, fleet, Now);
    QCOMPARE(o.value(QStringLiteral("verdict")).toString(), QStringLiteral("behind"));
    QVERIFY2(o.value(QStringLiteral("reason")).toString().contains(QStringLiteral("c behind")),
             qPrintable(o.value(QStringLiteral("reason")).toString()));

    // One silent for an hour (its last report said ok): failing as the receiver sees it.
    fleet.append(entry(QStringLiteral("d"), Verdict::Ok, false));
    o = receiverStatusJson(status, fleet, Now);
    QCOMPARE(o.value(QStringLiteral("verdict")).toString(), QStringLiteral("failing"));
    const QJsonObject d = o.value(QStringLiteral("fleet")).toArray().at(3).toObject();
    QCOMPARE(d.value(QStringLiteral("source")).toString(), QStringLiteral("d"));
    QCOMPARE(d.value(QStringLiteral("verdict")).toString(), QStringLiteral("failing"));
    QCOMPARE(verdictExitCode(*verdictFromName(o.value(QStringLiteral("verdict")).toString())), 1);
}

void TestStatus::metricsPassPromtool_data()
{
    QTest::addColumn<QByteArray>("text");
    QTest::newRow("ed") << edMetrics(edSample(QStringLiteral("ed1")), EdCounters{5, 500});
    QTest::newRow("ed-fresh") << edMetrics(EdStatus(), EdCounters());
    QTest::newRow("receiver-no-fleet")
        << receiverMetrics(receiverSample(), QList<FleetEntry>(), Now);
    QList<FleetEntry> fleet{entry(QStringLiteral("ed \"1\"\\x"), Verdict::Failing, false),
                            entry(QStringLiteral("ed2"), Verdict::Ok)};
    FleetEntry silent; // never reported a status
    silent.source = QStringLiteral("ed3");
    fleet.append(silent);
    QTest::newRow("receiver-fleet") << receiverMetrics(receiverSample(), fleet, Now);
}

void TestStatus::metricsPassPromtool()
{
    QFETCH(QByteArray, text);
    if (test::promtoolPath().isEmpty())
        QSKIP("promtool is not installed (Debian package prometheus; scripts/deps installs it)");
    const QString problems = test::promtoolProblems(text);
    QVERIFY2(problems.isEmpty(), qPrintable(problems + QStringLiteral("\n") + QString::fromUtf8(text)));
}

void TestStatus::edMetricsValues()
{
    const QByteArray text = edMetrics(edSample(QStringLiteral("ed1")), EdCounters{5, 500});
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_ed_backlog_files")), 12.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_ed_backlog_bytes")), 5.0 * 1024 * 1024);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_ed_oldest_unsent_age_seconds")), 180.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_ed_catch_up_files")), 10.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_ed_oldest_catch_up_age_seconds")), 120.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_ed_files_sent_total")), 5.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_ed_bytes_sent_total")), 500.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_ed_eta_seconds")), 19.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_ed_rate_bytes_per_second")), 1024.5);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_ed_up{source=\"ed1\",receiver=\"drms:12345\"}")),
             1.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_ed_verdict{verdict=\"behind\"}")), 1.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_ed_verdict{verdict=\"ok\"}")), 0.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_ed_dbtags{state=\"done\"}")), 7.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_ed_links{state=\"retrying\"}")), 1.0);
    // No ETA known: no sample rather than a made-up one.
    EdStatus unknown = edSample(QStringLiteral("ed1"));
    unknown.health.etaSeconds = -1;
    QVERIFY(!edMetrics(unknown, {}).contains("isocket_ed_eta_seconds"));
}

void TestStatus::receiverMetricsValuesAndEscapes()
{
    const QString odd = QStringLiteral("ed \"1\"\\x\ny");
    QList<FleetEntry> fleet{entry(odd, Verdict::Degraded), entry(QStringLiteral("ed2"), Verdict::Ok)};
    const QByteArray text = receiverMetrics(receiverSample(), fleet, Now);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_receiver_files_stored_total")), 42.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_receiver_bytes_stored_total")), 4200.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_receiver_free_bytes")), double(1LL << 30));
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_receiver_reserve_bytes")), double(64LL << 20));
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_receiver_connections")), 2.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_receiver_auth_failures_total")), 1.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_receiver_sources")), 2.0);
    const QString escaped = QStringLiteral("ed \\\"1\\\"\\\\x\\ny");
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_receiver_source_verdict{source=\"%1\","
                                              "verdict=\"degraded\"}")
                                   .arg(escaped)),
             1.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_receiver_source_files_received_total{"
                                              "source=\"ed2\"}")),
             10.0);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_receiver_source_oldest_unsent_age_seconds{"
                                              "source=\"ed2\"}")),
             60.0);
    QVERIFY(!text.contains('\r'));
}

void TestStatus::perSourceSeriesAreBounded()
{
    QList<FleetEntry> fleet;
    for (int i = 0; i < 1500; ++i)
        fleet.append(entry(QStringLiteral("ed%1").arg(i, 4, 10, QLatin1Char('0')), Verdict::Ok));
    fleet.append(entry(QStringLiteral("zz-failing"), Verdict::Failing));
    const QByteArray text = receiverMetrics(receiverSample(), fleet, Now);
    static const QRegularExpression connected(
        QStringLiteral("^isocket_receiver_source_connected\\{"),
        QRegularExpression::MultilineOption);
    QCOMPARE(int(QString::fromUtf8(text).count(connected)), MaxMetricSources);
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_receiver_sources")), 1501.0);
    // The worst are kept: the failing one is in, even though its name sorts last.
    QCOMPARE(sampleValue(text, QStringLiteral("isocket_receiver_source_connected{source=\"zz-failing\"}")),
             1.0);
    QVERIFY(qIsNaN(sampleValue(text, QStringLiteral("isocket_receiver_source_connected{source=\"ed1499\"}"))));
}

void TestStatus::controlSocketIsOwnerAndGroupOnly()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("ed.sock"));
    ControlServer server([] { return QJsonObject{{QStringLiteral("verdict"), QStringLiteral("ok")}}; });
    QVERIFY2(server.listen(path), qPrintable(server.errorString()));
    struct stat st;
    QCOMPARE(::lstat(QFile::encodeName(path).constData(), &st), 0);
    QVERIFY(S_ISSOCK(st.st_mode));
    QCOMPARE(st.st_mode & 0007, 0u); // nothing for others
    QCOMPARE(st.st_mode & 0060, 0060u); // read and write for the group
    QCOMPARE(st.st_mode & 0600, 0600u);
}

void TestStatus::controlSocketAnswersEachRequest()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("ed.sock"));
    int asked = 0;
    ControlServer server([&asked] { return QJsonObject{{QStringLiteral("n"), ++asked}}; });
    QVERIFY2(server.listen(path), qPrintable(server.errorString()));
    for (int i = 1; i <= 3; ++i) {
        const auto answer = ask(path);
        QVERIFY2(answer, qPrintable(answer ? QString() : answer.error().message));
        QCOMPARE(answer.value().value(QStringLiteral("n")).toInt(), i);
    }
    // Nobody there: an error that names the path.
    const auto none = queryControlSocket(dir.filePath(QStringLiteral("none.sock")), 2000);
    QVERIFY(!none);
    QCOMPARE(none.error().code, ErrorCode::ConnectFailed);
    QVERIFY(none.error().message.contains(QStringLiteral("none.sock")));
}

void TestStatus::silentClientIsDropped()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("ed.sock"));
    ControlServer server([] { return QJsonObject{{QStringLiteral("ok"), true}}; });
    QVERIFY2(server.listen(path), qPrintable(server.errorString()));
    QLocalSocket silent;
    silent.connectToServer(path);
    QVERIFY(silent.waitForConnected(5000));
    QElapsedTimer clock;
    clock.start();
    QTRY_COMPARE_WITH_TIMEOUT(silent.state(), QLocalSocket::UnconnectedState,
                              ControlServer::RequestTimeoutMs + 5000);
    QVERIFY(clock.elapsed() >= ControlServer::RequestTimeoutMs - 100);
    QVERIFY(silent.readAll().isEmpty());
    // The server serves the next one.
    QVERIFY(ask(path));
}

void TestStatus::staleSocketIsReplaced()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("ed.sock"));
    QVERIFY(makeStaleSocket(path));
    QVERIFY(QFileInfo::exists(path));
    ControlServer server([] { return QJsonObject{{QStringLiteral("fresh"), true}}; });
    QTest::ignoreMessage(QtInfoMsg, QRegularExpression(QStringLiteral("replaced the stale")));
    QVERIFY2(server.listen(path), qPrintable(server.errorString()));
    const auto answer = ask(path);
    QVERIFY(answer);
    QVERIFY(answer.value().value(QStringLiteral("fresh")).toBool());
}

void TestStatus::liveSocketOrOtherFileIsLeftAlone()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("ed.sock"));
    ControlServer first([] { return QJsonObject{{QStringLiteral("who"), 1}}; });
    QVERIFY2(first.listen(path), qPrintable(first.errorString()));
    {
        // listen() probes the path with a blocking connect: the first server is in this
        // thread, but the kernel accepts into its backlog, so the probe connects.
        ControlServer second([] { return QJsonObject{{QStringLiteral("who"), 2}}; });
        QVERIFY(!second.listen(path));
        QVERIFY2(second.errorString().contains(QStringLiteral("another isocket daemon answers")),
                 qPrintable(second.errorString()));
    }
    const auto answer = ask(path);
    QVERIFY(answer);
    QCOMPARE(answer.value().value(QStringLiteral("who")).toInt(), 1);

    const QString file = dir.filePath(QStringLiteral("file.sock"));
    QFile f(file);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write("keep me");
    f.close();
    ControlServer third([] { return QJsonObject(); });
    QVERIFY(!third.listen(file));
    QVERIFY(third.errorString().contains(QStringLiteral("is not a socket")));
    QVERIFY(f.open(QIODevice::ReadOnly));
    QCOMPARE(f.readAll(), QByteArray("keep me"));
}

QTEST_GUILESS_MAIN(TestStatus)
#include "tst_status.moc"
