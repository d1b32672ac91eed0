// Who goes first (issue 19), with the real agent (EdAgent) and the real receiver
// (ReceiverService) on loopback, the links throttled so that work waits: a file completed in the
// live dbtag overtakes a backlog of closed dbtags queued before it, and the backlog still moves
// while live files keep coming faster than the links can send. Asserted by the order in which
// the receiver stored the files, never by times. And a live file does not wait for the backlog
// file each connection is streaming: it goes on the live link (Sender).
// (Fairness between EDs on the receiver: tst_committer's batchesAreFairBetweenSources. A test
// here with two real EDs, one flooding over 8 links, was not stable yet: a batch the committer
// takes while only the flooding ED waits is not bounded.)

#include "core/config.h"
#include "core/edagent.h"
#include "core/receiverservice.h"
#include "tests/testlib/testtree.h"

#include <QDir>
#include <QHash>
#include <QLoggingCategory>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include <memory>

using namespace isocket;

class TestScheduling : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void liveFileOvertakesTheBacklog();
    void backlogMovesUnderALiveStream();
    void liveFileDoesNotWaitForABacklogStream();
};

namespace {

constexpr qint64 OldMtime = 1704067200; // 2024-01-01: the backlog is old data
const QString Live = QStringLiteral("DC20240201000000");

QString backlogTag(int i)
{
    return QStringLiteral("DC2024010") + QString::number(i + 1) + QStringLiteral("000000");
}

// The receiver's FileStored and DbtagCompleted events, in the order it reported them.
struct Arrivals
{
    QStringList stored;                    // "dbtag/path"
    QHash<QString, int> storedOf;          // dbtag → files stored so far
    QHash<QString, int> storedFrom;        // source → files stored so far
    QHash<QString, int> storedBeforeSource; // source → files stored when it first authenticated
    QHash<QString, int> storedAtCompletion; // dbtag → its files stored when it was completed
    QHash<quint64, QString> streaming;      // connection → the file it is receiving, once it
                                            // has written some of it (FileProgress)

    int rankOf(const QString &file) const { return int(stored.indexOf(file)); }
};

std::unique_ptr<ReceiverService> startReceiver(const QString &root, Arrivals &arrivals,
                                               QObject *context)
{
    QDir().mkpath(root);
    ReceiverSetup rs;
    rs.options = ReceiverOptions{root, QByteArray(), 0};
    rs.port = 0;
    auto service = std::make_unique<ReceiverService>(rs);
    QObject::connect(service.get(), &ReceiverService::updated, context,
                     [&arrivals](const QList<ReceiverUpdate> &updates) {
                         for (const ReceiverUpdate &u : updates) {
                             if (u.kind == ReceiverUpdate::Kind::PeerAuthenticated) {
                                 if (!arrivals.storedBeforeSource.contains(u.source))
                                     arrivals.storedBeforeSource.insert(
                                         u.source, int(arrivals.stored.size()));
                             } else if (u.kind == ReceiverUpdate::Kind::FileProgress) {
                                 if (u.done > 0)
                                     arrivals.streaming.insert(u.connId,
                                                               u.dbtag + QLatin1Char('/') + u.path);
                             } else if (u.kind == ReceiverUpdate::Kind::FileStored) {
                                 arrivals.stored << u.dbtag + QLatin1Char('/') + u.path;
                                 ++arrivals.storedOf[u.dbtag];
                                 ++arrivals.storedFrom[u.source];
                             } else if (u.kind == ReceiverUpdate::Kind::DbtagCompleted) {
                                 arrivals.storedAtCompletion.insert(u.dbtag,
                                                                    arrivals.storedOf.value(u.dbtag));
                             }
                         }
                     });
    service->start();
    return service;
}

// Closed dbtags of `perTag` old files of 4 KiB each, and the live dbtag (empty, the newest).
bool makeBacklog(const QString &data, int tags, int perTag)
{
    for (int t = 0; t < tags; ++t) {
        const QString dir = data + QLatin1Char('/') + backlogTag(t);
        for (int i = 0; i < perTag; ++i) {
            const QString path = dir + QStringLiteral("/b%1.dat").arg(i, 4, 10, QLatin1Char('0'));
            if (!test::writeFile(path, test::patternBytes(4096, quint32(t * perTag + i)))
                || !test::setMtime(path, OldMtime + t * perTag + i))
                return false;
        }
        if (!test::makeDbtag(data, backlogTag(t), true, false, OldMtime + 86400 * t))
            return false;
    }
    return test::makeDbtag(data, Live, false, false, OldMtime + 86400 * 30);
}

// An EdAgent, started, and its latest status.
struct StartedEd
{
    explicit StartedEd(const EdAgentSetup &setup) : agent(setup)
    {
        QObject::connect(&agent, &EdAgent::statusChanged, &context,
                         [this](const EdStatus &s) { last = s; });
        agent.start();
    }
    EdStatus last;
    EdAgent agent;
    QObject context; // goes first: no status is written into a `last` that is gone
};

Result<EdAgentSetup> setupFor(const QString &data, quint16 port, int window,
                              const QString &source = QStringLiteral("ed-sched"), int jobs = 2,
                              qint64 bwlimit = 2 * 1024 * 1024) // for the ED: 512 × 4 KiB a second
{
    Config config;
    config.dataRoot = data;
    config.server = QStringLiteral("127.0.0.1");
    config.port = port;
    config.source = source;
    config.jobs = jobs;
    config.window = window;
    config.bwlimit = bwlimit;
    return EdAgentSetup::fromConfig(config);
}

} // namespace

void TestScheduling::initTestCase()
{
    // A line per file on each side: thousands of them say nothing here.
    QLoggingCategory::setFilterRules(QStringLiteral("isocket.*.info=false"));
}

void TestScheduling::liveFileOvertakesTheBacklog()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    constexpr int Tags = 4;
    constexpr int PerTag = 500;
    constexpr int Backlog = Tags * PerTag;
    QVERIFY(makeBacklog(data, Tags, PerTag));

    QObject face; // declared after what its lambdas write
    Arrivals arrivals;
    auto receiver = startReceiver(tmp.filePath(QStringLiteral("drms")), arrivals, &face);
    QTRY_COMPARE(receiver->status().run, ReceiverStatus::Run::Listening);
    // The default window: each link holds up to 1,024 files of the backlog, offered, before
    // the live file exists.
    auto setup = setupFor(data, receiver->status().port, 1024);
    QVERIFY2(setup.ok(), setup.ok() ? "" : qPrintable(setup.error().message));
    StartedEd ed(setup.value());
    const int timeout = 60000 * test::timeoutFactor();

    // The backlog moves, and it is what the status calls catching up (the live dbtag has none).
    QTRY_VERIFY_WITH_TIMEOUT(arrivals.stored.size() >= 20, timeout);
    QTRY_VERIFY_WITH_TIMEOUT(ed.last.health.catchUpFiles > 0, timeout);
    QVERIFY(ed.last.health.catchUpFiles <= Backlog);
    QVERIFY2(ed.last.health.reason.contains(QStringLiteral("catching up: ")),
             qPrintable(ed.last.health.reason));

    // A file completed in the live dbtag now: it goes ahead of the backlog still waiting.
    const int before = int(arrivals.stored.size());
    const QString liveFile = Live + QStringLiteral("/now.dat");
    QVERIFY(test::writeFile(data + QLatin1Char('/') + liveFile, test::patternBytes(4096, 7)));
    QTRY_VERIFY_WITH_TIMEOUT(arrivals.rankOf(liveFile) >= 0, timeout);
    const int rank = arrivals.rankOf(liveFile);
    QVERIFY2(before < Backlog / 2, "the backlog was almost sent before the live file came");
    QVERIFY2(rank < before + 300,
             qPrintable(QStringLiteral("the live file arrived %1th, written when %2 of %3 backlog "
                                       "files were stored")
                            .arg(rank + 1)
                            .arg(before)
                            .arg(Backlog)));

    // The backlog completes, every dbtag finished after all of its files.
    QTRY_VERIFY_WITH_TIMEOUT(arrivals.storedAtCompletion.size() == Tags, timeout);
    QCOMPARE(arrivals.stored.size(), Backlog + 1);
    for (int t = 0; t < Tags; ++t) {
        QCOMPARE(arrivals.storedAtCompletion.value(backlogTag(t)), PerTag);
        QTRY_VERIFY_WITH_TIMEOUT(
            QFile::exists(data + QLatin1Char('/') + backlogTag(t) + QStringLiteral("/finished.watch")),
            timeout);
    }
    QTRY_VERIFY_WITH_TIMEOUT(ed.last.idle, timeout);
    QCOMPARE(ed.last.health.catchUpFiles, qint64(0));
}

void TestScheduling::backlogMovesUnderALiveStream()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    constexpr int Backlog = 300;
    constexpr int LiveFiles = 2000;
    QVERIFY(makeBacklog(data, 1, Backlog));

    QObject face;
    Arrivals arrivals;
    auto receiver = startReceiver(tmp.filePath(QStringLiteral("drms")), arrivals, &face);
    QTRY_COMPARE(receiver->status().run, ReceiverStatus::Run::Listening);
    // A small window: the backlog waits in the engine's queue, not on the links.
    auto setup = setupFor(data, receiver->status().port, 4);
    QVERIFY2(setup.ok(), setup.ok() ? "" : qPrintable(setup.error().message));
    StartedEd ed(setup.value());
    const int timeout = 60000 * test::timeoutFactor();
    QTRY_VERIFY_WITH_TIMEOUT(arrivals.stored.size() >= 10, timeout);

    // Live files, much faster than the links send them (50 every 10 ms).
    int written = 0;
    QTimer producer(&face);
    connect(&producer, &QTimer::timeout, &face, [&] {
        for (int i = 0; i < 50 && written < LiveFiles; ++i, ++written)
            QVERIFY(test::writeFile(data + QLatin1Char('/') + Live
                                        + QStringLiteral("/l%1.dat").arg(written, 4, 10, QLatin1Char('0')),
                                    test::patternBytes(4096, quint32(100000 + written))));
        if (written == LiveFiles)
            producer.stop();
    });
    producer.start(10);

    // The backlog is stored while live files still wait: it was not held until the live
    // stream ran dry.
    const QString tag = backlogTag(0);
    QTRY_VERIFY_WITH_TIMEOUT(arrivals.storedOf.value(tag) == Backlog, timeout);
    const int liveStored = arrivals.storedOf.value(Live);
    QVERIFY2(liveStored > 0, "no live file was stored before the backlog was");
    QVERIFY2(liveStored < LiveFiles,
             qPrintable(QStringLiteral("the last backlog file came after all %1 live files")
                            .arg(LiveFiles)));
    QTRY_VERIFY_WITH_TIMEOUT(arrivals.storedOf.value(Live) == LiveFiles, timeout);
    QTRY_VERIFY_WITH_TIMEOUT(arrivals.storedAtCompletion.value(tag) == Backlog, timeout);
}

void TestScheduling::liveFileDoesNotWaitForABacklogStream()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    // Two closed dbtags of one big file each, and the live dbtag, empty.
    constexpr qint64 Big = 2 * 1024 * 1024;
    for (int t = 0; t < 2; ++t) {
        const QString path = data + QLatin1Char('/') + backlogTag(t) + QStringLiteral("/big.dat");
        QVERIFY(test::writeFile(path, test::patternBytes(Big, quint32(t))));
        QVERIFY(test::setMtime(path, OldMtime + t));
        QVERIFY(test::makeDbtag(data, backlogTag(t), true, false, OldMtime + 86400 * t));
    }
    QVERIFY(test::makeDbtag(data, Live, false, false, OldMtime + 86400 * 30));

    QObject face;
    Arrivals arrivals;
    auto receiver = startReceiver(tmp.filePath(QStringLiteral("drms")), arrivals, &face);
    QTRY_COMPARE(receiver->status().run, ReceiverStatus::Run::Listening);
    // A window of one file: each link takes one big file. 1 MiB/s for the ED: each takes its
    // link ~4 s.
    auto setup = setupFor(data, receiver->status().port, 1, QStringLiteral("ed-sched"), 2,
                          1024 * 1024);
    QVERIFY2(setup.ok(), setup.ok() ? "" : qPrintable(setup.error().message));
    StartedEd ed(setup.value());
    const int timeout = 60000 * test::timeoutFactor();

    // Both links are in the middle of a backlog file.
    QTRY_VERIFY_WITH_TIMEOUT(arrivals.streaming.size() == 2, timeout);
    QVERIFY(arrivals.stored.isEmpty());
    // The status names the live link: the last, one more than send.jobs.
    QTRY_COMPARE(ed.last.links.size(), 3);
    QVERIFY(!ed.last.links[0].live && !ed.last.links[1].live && ed.last.links[2].live);

    // A file completed in the live dbtag is stored before either of them.
    const QString liveFile = Live + QStringLiteral("/now.dat");
    QVERIFY(test::writeFile(data + QLatin1Char('/') + liveFile, test::patternBytes(4096, 7)));
    QTRY_VERIFY_WITH_TIMEOUT(!arrivals.stored.isEmpty(), timeout);
    QVERIFY2(arrivals.stored.first() == liveFile,
             qPrintable(QStringLiteral("stored first: %1").arg(arrivals.stored.join(u' '))));

    // The backlog completes.
    QTRY_VERIFY_WITH_TIMEOUT(arrivals.storedAtCompletion.size() == 2, timeout);
    QCOMPARE(arrivals.stored.size(), 3);
    QTRY_VERIFY_WITH_TIMEOUT(ed.last.idle, timeout);
}

QTEST_GUILESS_MAIN(TestScheduling)
#include "tst_scheduling.moc"
