// The health model filled in by the real agent and service (issue 16), on 127.0.0.1: the verdict
// and its headline for each failing state an operator must see (receiver down, wrong secret,
// receiver disk full, data root missing, inotify overflow, paused), the backlog's numbers (files,
// bytes, the oldest unsent file, rate and ETA with a slow link), and the verdict back to "Up to
// date" once the cause is gone. The rules themselves are tested with values in tst_health.

#include "core/edagent.h"
#include "core/receiverservice.h"
#include "tests/testlib/testtree.h"

#include <QDir>
#include <QFile>
#include <QRegularExpression>
#include <QStorageInfo>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

#include <sys/file.h>

using namespace isocket;

namespace {

const QString MaxQueuedEvents = QStringLiteral("/proc/sys/fs/inotify/max_queued_events");

int timeoutMs(int ms = 15000)
{
    return ms * test::timeoutFactor();
}

// A port nothing listens on (bound, then closed).
quint16 closedPort()
{
    QTcpServer server;
    if (!server.listen(QHostAddress::LocalHost, 0))
        return 0;
    return server.serverPort();
}

QString describe(const EdHealth &h)
{
    return QStringLiteral("%1: %2 (backlog %3 files)")
        .arg(verdictName(h.verdict), h.reason)
        .arg(h.backlogFiles);
}

} // namespace

class TestHealthE2e : public QObject
{
    Q_OBJECT

private slots:
    void init();
    void cleanup();
    void receiverDownThenBack();
    void wrongSecretThenFixed();
    void receiverDiskFullThenRoom();
    void dataRootMissingThenBack();
    void pausedThenResumed();
    void slowLinkIsBehindWithAnEta();
    void inotifyOverflow();

private:
    // The agent's setup for `data` and a receiver on `port`, with short limits (grace 1 s,
    // behind 2 s, the health looked at every 100 ms, retries within 500 ms).
    EdAgentSetup edSetup(const QString &data, quint16 port, const QString &secretFile = {});
    ReceiverSetup receiverSetup(const QString &root, quint16 port, qint64 reserve = 0,
                                const QByteArray &secret = {});
    // `files` files of `size` bytes in a closed dbtag, their mtime an hour ago (the oldest one
    // a minute older). Returns that oldest mtime (seconds since the epoch).
    qint64 writeClosedDbtag(const QString &data, const QString &name, int files, qint64 size);

    QTemporaryDir m_tmp;
    QString m_data;
    QByteArray m_savedMaxQueued;
};

void TestHealthE2e::init()
{
    QVERIFY(m_tmp.isValid());
    m_data =
        m_tmp.filePath(QStringLiteral("data-%1").arg(QLatin1String(QTest::currentTestFunction())));
    QVERIFY(QDir().mkpath(m_data));
}

void TestHealthE2e::cleanup()
{
    if (m_savedMaxQueued.isEmpty())
        return;
    QFile file(MaxQueuedEvents);
    if (!file.open(QIODevice::WriteOnly) || file.write(m_savedMaxQueued) != m_savedMaxQueued.size())
        qFatal("cannot restore %s", qPrintable(MaxQueuedEvents));
    m_savedMaxQueued.clear();
}

EdAgentSetup TestHealthE2e::edSetup(const QString &data, quint16 port, const QString &secretFile)
{
    Config config;
    config.dataRoot = data;
    config.port = port;
    config.source = QStringLiteral("ed-health");
    config.secretFile = secretFile;
    config.settleMs = 100;
    config.retryIntervalMs = 100;
    config.retryMaxMs = 500;
    auto setup = EdAgentSetup::fromConfig(config);
    if (!setup) {
        qWarning("%s", qPrintable(setup.error().message));
        return {};
    }
    EdAgentSetup s = setup.value();
    s.health.downGraceSeconds = 1;
    s.health.behindSeconds = 2;
    s.healthTickMs = 100;
    return s;
}

ReceiverSetup TestHealthE2e::receiverSetup(const QString &root, quint16 port, qint64 reserve,
                                           const QByteArray &secret)
{
    ReceiverSetup rs;
    rs.options = ReceiverOptions{root, secret, reserve};
    rs.port = port;
    rs.spaceTickMs = 200;
    return rs;
}

qint64 TestHealthE2e::writeClosedDbtag(const QString &data, const QString &name, int files,
                                       qint64 size)
{
    const qint64 hourAgo = QDateTime::currentSecsSinceEpoch() - 3600;
    for (int i = 0; i < files; ++i) {
        const QString path = data + QLatin1Char('/') + name + QStringLiteral("/f%1.dat").arg(i);
        if (!test::writeFile(path, test::patternBytes(size, quint32(i))) ||
            !test::setMtime(path, hourAgo - (i == 0 ? 60 : 0)))
            return -1;
    }
    if (!test::makeDbtag(data, name, true, false, hourAgo))
        return -1;
    return hourAgo - 60;
}

void TestHealthE2e::receiverDownThenBack()
{
    // Nothing listens: first "reconnecting" (behind), then, after the grace, failing with the
    // cause and what waits; the backlog's numbers are the files'. Then a receiver comes: up to
    // date, nothing waiting.
    const quint16 port = closedPort();
    QVERIFY(port != 0);
    constexpr int Files = 6;
    constexpr qint64 Size = 3000;
    const qint64 oldest = writeClosedDbtag(m_data, QStringLiteral("DC20240101000000"), Files, Size);
    QVERIFY(oldest > 0);

    EdAgentSetup setup = edSetup(m_data, port);
    setup.health.downGraceSeconds = 3; // time enough to see "behind" first on a busy machine
    EdAgent agent(setup);
    EdStatus last;
    QList<Verdict> verdicts;
    QObject face; // after what its connections write
    connect(&agent, &EdAgent::statusChanged, &face, [&](const EdStatus &s) {
        last = s;
        if (verdicts.isEmpty() || verdicts.last() != s.health.verdict)
            verdicts << s.health.verdict;
    });
    agent.start();
    QTRY_VERIFY2_WITH_TIMEOUT(last.health.verdict == Verdict::Failing,
                              qPrintable(describe(last.health)), timeoutMs());
    const EdHealth &h = last.health;
    QVERIFY2(
        QRegularExpression(QStringLiteral("^Cannot reach the receiver since \\d\\d:\\d\\d: .+, "
                                          "6 files waiting$"))
            .match(h.reason)
            .hasMatch(),
        qPrintable(h.reason));
    QVERIFY2(verdicts.contains(Verdict::Behind), "a short outage is only behind");
    QVERIFY(!h.connected);
    QVERIFY(h.downSince.isValid());
    QVERIFY2(h.downCause.contains(QStringLiteral("connect-failed")), qPrintable(h.downCause));
    QCOMPARE(h.backlogFiles, Files);
    QCOMPARE(h.backlogBytes, Files * Size);
    QCOMPARE(h.oldestUnsent.toSecsSinceEpoch(), oldest);
    QVERIFY(h.oldestUnsentAgeSeconds() >= 3660);
    QCOMPARE(h.etaSeconds, -1); // nothing delivered: no estimate
    QCOMPARE(h.dbtagsByState.value(QStringLiteral("closed")), 1);
    // The clock moves the snapshot's time even when nothing happens (the slow timer).
    const QDateTime at = agent.status().health.at;
    QTRY_VERIFY_WITH_TIMEOUT(agent.status().health.at > at, timeoutMs());

    ReceiverService service(receiverSetup(m_tmp.filePath(QStringLiteral("received1")), port));
    service.start();
    QTRY_COMPARE_WITH_TIMEOUT(service.status().run, ReceiverStatus::Run::Listening, timeoutMs());
    agent.retryNow();
    QTRY_VERIFY2_WITH_TIMEOUT(last.health.verdict == Verdict::Ok && last.idle,
                              qPrintable(describe(last.health)), timeoutMs());
    QCOMPARE(last.health.reason, QStringLiteral("Up to date"));
    QVERIFY(last.health.connected);
    QCOMPARE(last.health.backlogFiles, 0);
    QCOMPARE(last.health.backlogBytes, 0);
    QVERIFY(!last.health.oldestUnsent.isValid());
    QVERIFY(!last.health.downSince.isValid());
    QCOMPARE(last.health.dbtagsByState.value(QStringLiteral("done")), 1);

    // The receiver's side: listening, its space, no trouble.
    QTRY_COMPARE_WITH_TIMEOUT(service.status().health.verdict, Verdict::Ok, timeoutMs());
    const ReceiverHealth rh = service.status().health;
    QVERIFY(rh.listening);
    QCOMPARE(rh.address, service.status().address);
    QVERIFY(rh.freeBytes > 0);
    QVERIFY(rh.totalBytes >= rh.freeBytes);
    QVERIFY(!rh.diskFull);
    QVERIFY2(rh.reason.startsWith(QStringLiteral("Listening on 127.0.0.1:")),
             qPrintable(rh.reason));
}

void TestHealthE2e::wrongSecretThenFixed()
{
    ReceiverService service(receiverSetup(m_tmp.filePath(QStringLiteral("received2")), 0, 0,
                                          QByteArrayLiteral("the right secret")));
    service.start();
    QTRY_COMPARE_WITH_TIMEOUT(service.status().run, ReceiverStatus::Run::Listening, timeoutMs());
    QVERIFY(writeClosedDbtag(m_data, QStringLiteral("DC20240101000000"), 2, 100) > 0);
    const QString secretFile = m_tmp.filePath(QStringLiteral("secret2"));
    QVERIFY(test::writeFile(secretFile, "a wrong secret\n", 0600));

    EdAgent agent(edSetup(m_data, service.status().port, secretFile));
    EdStatus last;
    QObject face;
    connect(&agent, &EdAgent::statusChanged, &face, [&](const EdStatus &s) { last = s; });
    agent.start();
    QTRY_VERIFY2_WITH_TIMEOUT(last.health.verdict == Verdict::Failing,
                              qPrintable(describe(last.health)), timeoutMs());
    QVERIFY2(QRegularExpression(QStringLiteral("^Wrong secret: the receiver refuses us since "
                                               "\\d\\d:\\d\\d$"))
                 .match(last.health.reason)
                 .hasMatch(),
             qPrintable(last.health.reason));
    QVERIFY(last.health.authFailing);
    QVERIFY(last.health.authFailingSince.isValid());
    QCOMPARE(last.health.backlogFiles, 2);

    // The receiver counts the failures by peer host (not by port), and says so.
    QTRY_VERIFY_WITH_TIMEOUT(service.status().health.authFailures >= 1, timeoutMs());
    QTRY_COMPARE_WITH_TIMEOUT(service.status().health.verdict, Verdict::Degraded, timeoutMs());
    const ReceiverHealth rh = service.status().health;
    QCOMPARE(rh.authFailuresByPeer.keys(), QStringList{QStringLiteral("127.0.0.1")});
    QCOMPARE(rh.authFailuresByPeer.value(QStringLiteral("127.0.0.1")), rh.authFailures);
    QVERIFY2(rh.reason.contains(QStringLiteral("failed to authenticate, the last from 127.0.0.1")),
             qPrintable(rh.reason));

    // Fixed (the file is read again before each attempt): up to date.
    QVERIFY(test::writeFile(secretFile, "the right secret\n", 0600));
    agent.retryNow();
    QTRY_VERIFY2_WITH_TIMEOUT(last.health.verdict == Verdict::Ok && last.idle,
                              qPrintable(describe(last.health)), timeoutMs());
    QVERIFY(!last.health.authFailing);
    QVERIFY(!last.health.authFailingSince.isValid());
}

void TestHealthE2e::receiverDiskFullThenRoom()
{
    // A reserve larger than the free space: the receiver refuses every file as DiskFull.
    const QString root = m_tmp.filePath(QStringLiteral("received3"));
    QVERIFY(QDir().mkpath(root));
    const QStorageInfo storage(root);
    QVERIFY(storage.isValid());
    const qint64 reserve = storage.bytesAvailable() + (qint64(1) << 30);
    auto service = std::make_unique<ReceiverService>(receiverSetup(root, 0, reserve));
    service->start();
    QTRY_COMPARE_WITH_TIMEOUT(service->status().run, ReceiverStatus::Run::Listening, timeoutMs());
    const quint16 port = service->status().port;
    QTRY_COMPARE_WITH_TIMEOUT(service->status().health.verdict, Verdict::Failing, timeoutMs());
    ReceiverHealth rh = service->status().health;
    QVERIFY(rh.diskFull);
    QCOMPARE(rh.reserveBytes, reserve);
    QVERIFY(rh.freeBytes >= 0 && rh.freeBytes < reserve);
    QVERIFY2(rh.reason.startsWith(QStringLiteral("Disk full: ")), qPrintable(rh.reason));

    constexpr int Files = 4;
    QVERIFY(writeClosedDbtag(m_data, QStringLiteral("DC20240101000000"), Files, 1000) > 0);
    EdAgent agent(edSetup(m_data, port));
    EdStatus last;
    QObject face;
    connect(&agent, &EdAgent::statusChanged, &face, [&](const EdStatus &s) { last = s; });
    agent.start();
    QTRY_VERIFY2_WITH_TIMEOUT(last.health.verdict == Verdict::Failing,
                              qPrintable(describe(last.health)), timeoutMs());
    QVERIFY2(QRegularExpression(QStringLiteral("^Receiver disk full since \\d\\d:\\d\\d, 4 files "
                                               "waiting$"))
                 .match(last.health.reason)
                 .hasMatch(),
             qPrintable(last.health.reason));
    QVERIFY(last.health.connected); // connected, and yet nothing moves
    QCOMPARE(last.health.refusedFiles, Files);
    QVERIFY(last.health.refusingSince.isValid());
    QVERIFY2(!last.health.refusal.isEmpty(), "the receiver's words");

    // Room again (the receiver restarted with no reserve, on the same port): delivered, and up
    // to date.
    service.reset();
    service = std::make_unique<ReceiverService>(receiverSetup(root, port, 0));
    service->start();
    QTRY_COMPARE_WITH_TIMEOUT(service->status().run, ReceiverStatus::Run::Listening, timeoutMs());
    agent.retryNow();
    QTRY_VERIFY2_WITH_TIMEOUT(last.health.verdict == Verdict::Ok && last.idle,
                              qPrintable(describe(last.health)), timeoutMs());
    QVERIFY(last.health.refusal.isEmpty());
    QCOMPARE(last.health.refusedFiles, 0);
    QTRY_COMPARE_WITH_TIMEOUT(service->status().health.verdict, Verdict::Ok, timeoutMs());
    QVERIFY(!service->status().health.diskFull);
}

void TestHealthE2e::dataRootMissingThenBack()
{
    ReceiverService service(receiverSetup(m_tmp.filePath(QStringLiteral("received4")), 0));
    service.start();
    QTRY_COMPARE_WITH_TIMEOUT(service.status().run, ReceiverStatus::Run::Listening, timeoutMs());
    EdAgent agent(edSetup(m_data, service.status().port));
    EdStatus last;
    QObject face;
    connect(&agent, &EdAgent::statusChanged, &face, [&](const EdStatus &s) { last = s; });
    agent.start();
    QTRY_VERIFY2_WITH_TIMEOUT(last.health.verdict == Verdict::Ok && last.health.connected,
                              qPrintable(describe(last.health)), timeoutMs());

    QVERIFY(QDir(m_data).removeRecursively());
    QTRY_VERIFY2_WITH_TIMEOUT(last.health.verdict == Verdict::Failing,
                              qPrintable(describe(last.health)), timeoutMs());
    QCOMPARE(last.health.reason, QStringLiteral("Data root %1 is missing").arg(m_data));
    QCOMPARE(last.health.localTrouble, QStringLiteral("data root missing"));

    QVERIFY(QDir().mkpath(m_data));
    QVERIFY(writeClosedDbtag(m_data, QStringLiteral("DC20240101000000"), 1, 10) > 0);
    QTRY_VERIFY2_WITH_TIMEOUT(last.health.verdict == Verdict::Ok && last.idle &&
                                  last.health.dbtagsByState.value(QStringLiteral("done")) == 1,
                              qPrintable(describe(last.health)), timeoutMs());
    QVERIFY(last.health.localTrouble.isEmpty());
}

void TestHealthE2e::pausedThenResumed()
{
    ReceiverService service(receiverSetup(m_tmp.filePath(QStringLiteral("received5")), 0));
    service.start();
    QTRY_COMPARE_WITH_TIMEOUT(service.status().run, ReceiverStatus::Run::Listening, timeoutMs());
    EdAgent agent(edSetup(m_data, service.status().port));
    EdStatus last;
    QObject face;
    connect(&agent, &EdAgent::statusChanged, &face, [&](const EdStatus &s) { last = s; });
    agent.start();
    QTRY_VERIFY2_WITH_TIMEOUT(last.health.verdict == Verdict::Ok && last.health.connected,
                              qPrintable(describe(last.health)), timeoutMs());

    agent.setPaused(true);
    QTRY_VERIFY2_WITH_TIMEOUT(last.health.verdict == Verdict::Degraded,
                              qPrintable(describe(last.health)), timeoutMs());
    QCOMPARE(last.health.reason, QStringLiteral("Paused by the operator"));
    QVERIFY(last.health.paused);
    QVERIFY(writeClosedDbtag(m_data, QStringLiteral("DC20240101000000"), 3, 10) > 0);
    QTRY_VERIFY2_WITH_TIMEOUT(last.health.backlogFiles == 3, qPrintable(describe(last.health)),
                              timeoutMs());
    QCOMPARE(last.health.reason, QStringLiteral("Paused by the operator, 3 files waiting"));
    QCOMPARE(last.health.verdict, Verdict::Degraded);

    agent.setPaused(false);
    QTRY_VERIFY2_WITH_TIMEOUT(last.health.verdict == Verdict::Ok && last.idle,
                              qPrintable(describe(last.health)), timeoutMs());
    QVERIFY(!last.health.paused);
}

void TestHealthE2e::slowLinkIsBehindWithAnEta()
{
    // 1 MiB through a link limited to 256 KiB/s: behind (over 2 s to go), with a rate and an
    // ETA that say so, then up to date.
    ReceiverService service(receiverSetup(m_tmp.filePath(QStringLiteral("received6")), 0));
    service.start();
    QTRY_COMPARE_WITH_TIMEOUT(service.status().run, ReceiverStatus::Run::Listening, timeoutMs());
    constexpr int Files = 16;
    constexpr qint64 Size = 64 * 1024;
    EdAgentSetup setup = edSetup(m_data, service.status().port);
    setup.sender.jobs = 1;
    setup.sender.bwlimit = 256 * 1024;
    EdAgent agent(setup);
    EdStatus last;
    EdHealth behind;
    QObject face;
    connect(&agent, &EdAgent::statusChanged, &face, [&](const EdStatus &s) {
        last = s;
        if (s.health.verdict == Verdict::Behind && s.health.etaSeconds > 0)
            behind = s.health;
    });
    agent.start();
    QTRY_VERIFY2_WITH_TIMEOUT(last.health.verdict == Verdict::Ok && last.health.connected,
                              qPrintable(describe(last.health)), timeoutMs());
    // Fresh files (this second's mtime): behind because of the ETA, not the age.
    for (int i = 0; i < Files; ++i)
        QVERIFY(test::writeFile(m_data + QStringLiteral("/DC20240101000000/f%1.dat").arg(i),
                                test::patternBytes(Size, quint32(i))));
    QVERIFY(test::makeDbtag(m_data, QStringLiteral("DC20240101000000"), true, false,
                            QDateTime::currentSecsSinceEpoch()));
    QTRY_VERIFY2_WITH_TIMEOUT(behind.at.isValid(), qPrintable(describe(last.health)), timeoutMs());
    // Found closed by a scan, its files are catching up too (not if it was live for a moment).
    QVERIFY2(QRegularExpression(QStringLiteral("^Behind: \\d+ files, [0-9.]+ KiB, oldest \\d+ s, "
                                               "about \\d+ s to catch up"
                                               "(; catching up: \\d+ files?, oldest \\d+ s)?$"))
                 .match(behind.reason)
                 .hasMatch(),
             qPrintable(behind.reason));
    // The rate is what the link allows (give or take the window filling), and the ETA follows.
    QVERIFY2(behind.rateBytesPerSecond > 50 * 1024 && behind.rateBytesPerSecond < 1024 * 1024,
             qPrintable(QString::number(behind.rateBytesPerSecond)));
    QVERIFY(behind.etaSeconds > 2);
    QVERIFY(behind.backlogBytes > 0 && behind.backlogBytes <= Files * Size);
    QTRY_VERIFY2_WITH_TIMEOUT(last.health.verdict == Verdict::Ok && last.idle,
                              qPrintable(describe(last.health)), timeoutMs(30000));
    QCOMPARE(last.health.etaSeconds, 0);
    // The rate decays to nothing once nothing moves, without any event (the slow timer).
    QTRY_COMPARE_WITH_TIMEOUT(agent.status().health.rateBytesPerSecond, 0.0, timeoutMs());
}

void TestHealthE2e::inotifyOverflow()
{
    // The kernel's queue overflows (the limit, lowered only while the agent starts, is taken
    // when its inotify instance is made): degraded, and the files written meanwhile are found
    // by the rescan and sent.
    ReceiverService service(receiverSetup(m_tmp.filePath(QStringLiteral("received7")), 0));
    service.start();
    QTRY_COMPARE_WITH_TIMEOUT(service.status().run, ReceiverStatus::Run::Listening, timeoutMs());
    const QString live = m_data + QStringLiteral("/DC20240101000000");
    QVERIFY(QDir().mkpath(live)); // the newest, without finished.parse: live, watched

    // In this thread: the agent reads no event while the files below are written.
    EdAgent agent(edSetup(m_data, service.status().port), EdAgent::Threading::CallerThread);
    {
        QFile reader(MaxQueuedEvents);
        if (!reader.open(QIODevice::ReadOnly) || ::flock(reader.handle(), LOCK_EX) != 0)
            QSKIP("fs.inotify.max_queued_events is not readable here");
        const QByteArray saved = reader.readAll();
        QFile limit(MaxQueuedEvents);
        if (saved.trimmed().isEmpty() || !limit.open(QIODevice::WriteOnly))
            QSKIP("fs.inotify.max_queued_events is not writable here");
        m_savedMaxQueued = saved; // cleanup() restores it even if the test fails from here on
        const bool lowered = limit.write("16\n") == 3 && limit.flush();
        limit.close();
        agent.start(); // done when it returns (CallerThread)
        cleanup();
        if (!lowered)
            QSKIP("fs.inotify.max_queued_events cannot be lowered here");
    }
    QCOMPARE(agent.status().run, EdStatus::Run::Running);
    constexpr int Files = 64;
    for (int i = 0; i < Files; ++i)
        QVERIFY(test::writeFile(live + QStringLiteral("/f%1.dat").arg(i), "x"));
    QTRY_VERIFY2_WITH_TIMEOUT(agent.status().health.verdict == Verdict::Degraded,
                              qPrintable(describe(agent.status().health)), timeoutMs());
    const EdHealth h = agent.status().health;
    QVERIFY2(QRegularExpression(QStringLiteral("^The inotify queue overflowed at \\d\\d:\\d\\d"))
                 .match(h.reason)
                 .hasMatch(),
             qPrintable(h.reason));
    QCOMPARE(h.localTrouble, QStringLiteral("inotify queue overflow"));
    QCOMPARE(h.liveDbtag, QStringLiteral("DC20240101000000"));
    QCOMPARE(h.dbtagsByState.value(QStringLiteral("live")), 1);
    // The rescan found what the lost events would have said: everything is sent.
    QTRY_COMPARE_WITH_TIMEOUT(service.status().stored, qint64(Files), timeoutMs());
}

QTEST_GUILESS_MAIN(TestHealthE2e)
#include "tst_health_e2e.moc"
