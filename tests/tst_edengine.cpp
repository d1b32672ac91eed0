// The ED engine against real files and real inotify: what gets queued (exactly once, in order),
// what waits for its writer, when a dbtag is closed and finished, and what a restart sees.

#include "core/edengine.h"
#include "core/fsname.h"
#include "core/sentmark.h"
#include "tests/testlib/testtree.h"

#include <QDir>
#include <QRegularExpression>
#include <QScopeGuard>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <sys/xattr.h>
#include <unistd.h>

using namespace isocket;

class TestEdEngine : public QObject
{
    Q_OBJECT

private slots:
    void initialScanQueuesUnsentInOrder();
    void liveFilesQueuedExactlyOnce();
    void openFileWaitsForItsClose();
    void finishedParseClosesThenFinishes();
    void newDbtagEndsTheLiveOne();
    void restartAfterOlderDbtagFinished();
    void rewriteAfterMarkIsSentAgain();
    void markRefusesAChangedFile();
    void vanishedFileIsDropped();
    void transientFailureIsRetried();
    void givesUpAfterMaxAttempts();
    void operatorRetriesOneFile();
    void groupWritableAtFirstCloseWarns();
    void rescanQueuesNothingTwice();
    void incompleteCloseResendsTheMissingFile();
    void sentOutsideIsFinishedWithoutTheReceiver();
    void sentOutsideIsNamedInTheManifest();
    void namesFollowTheReceiversVersion_data();
    void namesFollowTheReceiversVersion();
    void fileAddedBeforeTheConfirmationStopsTheFinish();
    void liveFirstWithAShareForTheBacklog();
    void nothingToSendIsIdleAtStart();
    void onePassGoesIdle();

private:
    static EngineOptions fastOptions(bool watch = true)
    {
        EngineOptions o;
        o.watch = watch;
        o.settleMs = 100;
        o.retryIntervalMs = 50;
        o.retryMaxMs = 200;
        return o;
    }
    static QStringList drain(EdEngine &engine, QList<FileTicket> *tickets = nullptr)
    {
        QStringList out;
        while (auto t = engine.takeNext()) {
            out << t->dbtag + QLatin1Char('/') + t->relPath;
            if (tickets)
                tickets->append(*t);
        }
        return out;
    }
    static void deliver(EdEngine &engine, const FileTicket &t)
    {
        struct stat st;
        QVERIFY(::lstat(fsEncode(t.absPath).constData(), &st) == 0);
        engine.markDelivered(t, stampOf(st));
    }
};

void TestEdEngine::initialScanQueuesUnsentInOrder()
{
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/a.dat")), "a"));
    QVERIFY(test::setMtime(root.filePath(QStringLiteral("DC1/a.dat")), 500));
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/b.dat")), "b", 0664)); // sent
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC0/x.dat")), "x"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC0"), true, true, 500)); // done
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC2/c.dat")), "c"));
    QVERIFY(test::setMtime(root.filePath(QStringLiteral("DC2/c.dat")), 3000));
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC2/sub/d.dat")), "d"));
    QVERIFY(test::setMtime(root.filePath(QStringLiteral("DC2/sub/d.dat")), 2000));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC2"), false, false, 2000)); // live

    EdEngine engine(ScanOptions{root.path()}, fastOptions());
    QVERIFY2(engine.start(), qPrintable(engine.errorString()));
    // Live first (the live dbtag's files by mtime), then the backlog; the sent file and the done
    // dbtag are not queued. The backlog is what catches up.
    QCOMPARE(engine.backlogFiles(), 3);
    QCOMPARE(engine.catchUpFiles(), 1);
    QCOMPARE(engine.oldestCatchUp(), QDateTime::fromSecsSinceEpoch(500, Qt::UTC));
    QCOMPARE(engine.oldestUnsent(), QDateTime::fromSecsSinceEpoch(500, Qt::UTC));
    QCOMPARE(drain(engine), (QStringList{QStringLiteral("DC2/sub/d.dat"), QStringLiteral("DC2/c.dat"),
                                         QStringLiteral("DC1/a.dat")}));
    QCOMPARE(engine.catchUpFiles(), 1); // in flight: still to catch up
    const QList<DbtagStatus> tags = engine.dbtags();
    QCOMPARE(tags.size(), 3);
    QCOMPARE(tags.at(0).name, QStringLiteral("DC0"));
    QCOMPARE(tags.at(0).state, DbtagState::Done);
    QCOMPARE(tags.at(1).state, DbtagState::Closed);
    QCOMPARE(tags.at(1).files, 2);
    QCOMPARE(tags.at(1).sent, 1);
    QCOMPARE(tags.at(2).state, DbtagState::Live);
}

void TestEdEngine::liveFilesQueuedExactlyOnce()
{
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/before.dat")), "0"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), false, false, 1000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions());
    QSignalSpy queued(&engine, &EdEngine::fileQueued);
    QVERIFY(queued.isValid());
    QVERIFY(engine.start());
    QCOMPARE(queued.count(), 1); // the file that was there before the watch

    const QString tag = root.filePath(QStringLiteral("DC1"));
    QStringList expected{QStringLiteral("before.dat")};
    for (int i = 0; i < 20; ++i) {
        const QString rel = i % 4 == 3 ? QStringLiteral("sub%1/deep/f%2.dat").arg(i).arg(i)
                                       : QStringLiteral("f%1.dat").arg(i);
        QVERIFY(test::writeFile(tag + QLatin1Char('/') + rel, test::patternBytes(100 + i, i)));
        expected << rel;
    }
    // A file renamed in from outside the dbtag, and a hidden temporary renamed into place.
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("outside.tmp")), "m"));
    QVERIFY(QFile::rename(root.filePath(QStringLiteral("outside.tmp")), tag + QStringLiteral("/moved.dat")));
    expected << QStringLiteral("moved.dat");
    QVERIFY(test::writeFile(tag + QStringLiteral("/.part"), "p"));
    QVERIFY(QFile::rename(tag + QStringLiteral("/.part"), tag + QStringLiteral("/renamed.dat")));
    expected << QStringLiteral("renamed.dat");

    QTRY_COMPARE_WITH_TIMEOUT(queued.count(), expected.size(), 5000 * test::timeoutFactor());
    // A later barrier: one more file; after its event nothing else may have been queued twice.
    QVERIFY(test::writeFile(tag + QStringLiteral("/barrier.dat"), "b"));
    expected << QStringLiteral("barrier.dat");
    QTRY_COMPARE_WITH_TIMEOUT(queued.count(), expected.size(), 5000 * test::timeoutFactor());
    QStringList got;
    for (const QList<QVariant> &args : queued)
        got << args.at(0).value<FileTicket>().relPath;
    got.sort();
    expected.sort();
    QCOMPARE(got, expected);
    QCOMPARE(drain(engine).size(), expected.size());
}

void TestEdEngine::openFileWaitsForItsClose()
{
    QTemporaryDir root;
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), false, false, 1000));
    QFile open(root.filePath(QStringLiteral("DC1/growing.dat")));
    QVERIFY(open.open(QIODevice::WriteOnly));
    QVERIFY(open.write("first half ") > 0);
    QVERIFY(open.flush());

    EdEngine engine(ScanOptions{root.path()}, fastOptions());
    QSignalSpy queued(&engine, &EdEngine::fileQueued);
    QVERIFY(engine.start());
    // Barrier: a closed file written after start is queued; the open one must not be.
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/done.dat")), "d"));
    QTRY_COMPARE_WITH_TIMEOUT(queued.count(), 1, 5000);
    QCOMPARE(queued.at(0).at(0).value<FileTicket>().relPath, QStringLiteral("done.dat"));

    open.write("second half");
    open.close(); // IN_CLOSE_WRITE
    QTRY_COMPARE_WITH_TIMEOUT(queued.count(), 2, 5000);
    const FileTicket t = queued.at(1).at(0).value<FileTicket>();
    QCOMPARE(t.relPath, QStringLiteral("growing.dat"));
    QCOMPARE(t.stamp.size, qint64(22));
}

void TestEdEngine::finishedParseClosesThenFinishes()
{
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/a.dat")), "a"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), false, false, 1000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions());
    QSignalSpy ready(&engine, &EdEngine::dbtagReadyToClose);
    QSignalSpy finished(&engine, &EdEngine::dbtagFinished);
    QSignalSpy queued(&engine, &EdEngine::fileQueued);
    QVERIFY(engine.start());
    QList<FileTicket> tickets;
    drain(engine, &tickets);
    for (const FileTicket &t : tickets)
        deliver(engine, t);
    QVERIFY(test::hasGroupWrite(root.filePath(QStringLiteral("DC1/a.dat"))));
    QCOMPARE(ready.count(), 0); // live: never closed while the producer may add files

    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/b.dat")), "bb"));
    QTRY_COMPARE_WITH_TIMEOUT(queued.count(), 2, 5000);
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/finished.parse")), QByteArray()));
    QTRY_COMPARE_WITH_TIMEOUT(engine.dbtags().first().state, DbtagState::Closed, 5000);
    QCOMPARE(ready.count(), 0); // b.dat is not sent yet
    tickets.clear();
    drain(engine, &tickets);
    QCOMPARE(tickets.size(), 1);
    deliver(engine, tickets.first());
    QCOMPARE(ready.count(), 1);
    const auto manifest = ready.at(0).at(1).value<QList<proto::ManifestEntry>>();
    QCOMPARE(manifest.size(), 2);
    QVERIFY(!QFile::exists(root.filePath(QStringLiteral("DC1/finished.watch"))));

    engine.dbtagClosed(QStringLiteral("DC1"), Error{});
    QCOMPARE(finished.count(), 1);
    QVERIFY(QFile::exists(root.filePath(QStringLiteral("DC1/finished.watch"))));
    QCOMPARE(engine.dbtags().first().state, DbtagState::Done);
    QVERIFY(engine.isIdle());
}

void TestEdEngine::newDbtagEndsTheLiveOne()
{
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/a.dat")), "a"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), false, false, 1000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions());
    QSignalSpy queued(&engine, &EdEngine::fileQueued);
    QVERIFY(engine.start());
    QCOMPARE(engine.dbtags().first().state, DbtagState::Live);

    QVERIFY(QDir().mkdir(root.filePath(QStringLiteral("DC2"))));
    QTRY_COMPARE_WITH_TIMEOUT(engine.dbtags().size(), 2, 5000);
    QTRY_COMPARE_WITH_TIMEOUT(engine.dbtags().first().state, DbtagState::Closed, 5000);
    QCOMPARE(engine.dbtags().last().state, DbtagState::Live);
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC2/new.dat")), "n"));
    QTRY_COMPARE_WITH_TIMEOUT(queued.count(), 2, 5000);
    QCOMPARE(queued.last().at(0).value<FileTicket>().dbtag, QStringLiteral("DC2"));
}

void TestEdEngine::restartAfterOlderDbtagFinished()
{
    // DESIGN.md: isocket's own finished.watch bumps the older dbtag's mtime; a restart right then
    // must still take the real live dbtag for live and send what the producer writes next.
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/a.dat")), "a", 0664));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC2"), false, false, 2000));
    QVERIFY(writeFileAtomically(root.filePath(QStringLiteral("DC1")), QStringLiteral("finished.watch"),
                                QByteArray()).ok());
    {
        // The mtime bump is real: DC1 is now the newest directory by mtime.
        QVERIFY(QFileInfo(root.filePath(QStringLiteral("DC1"))).lastModified()
                > QFileInfo(root.filePath(QStringLiteral("DC2"))).lastModified());
    }
    EdEngine engine(ScanOptions{root.path()}, fastOptions());
    QSignalSpy queued(&engine, &EdEngine::fileQueued);
    QVERIFY(engine.start());
    QCOMPARE(engine.dbtags().size(), 2);
    for (const DbtagStatus &s : engine.dbtags())
        QCOMPARE(s.state, s.name == QLatin1String("DC1") ? DbtagState::Done : DbtagState::Live);
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC2/later.dat")), "l"));
    QTRY_COMPARE_WITH_TIMEOUT(queued.count(), 1, 5000);
    QCOMPARE(queued.at(0).at(0).value<FileTicket>().relPath, QStringLiteral("later.dat"));
}

void TestEdEngine::rewriteAfterMarkIsSentAgain()
{
    QTemporaryDir root;
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), false, false, 1000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions());
    QSignalSpy queued(&engine, &EdEngine::fileQueued);
    QVERIFY(engine.start());
    const QString file = root.filePath(QStringLiteral("DC1/a.dat"));
    QVERIFY(test::writeFile(file, "version 1"));
    QTRY_COMPARE_WITH_TIMEOUT(queued.count(), 1, 5000);
    QList<FileTicket> tickets;
    drain(engine, &tickets);
    deliver(engine, tickets.first());
    QVERIFY(test::hasGroupWrite(file));

    QFile f(file);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write("version 2, longer");
    f.close();
    QTRY_COMPARE_WITH_TIMEOUT(queued.count(), 2, 5000);
    QVERIFY(!test::hasGroupWrite(file)); // the mark was cleared first
    QVERIFY(!SentMark::isSent(file));
    QCOMPARE(queued.at(1).at(0).value<FileTicket>().stamp.size, qint64(17));
}

void TestEdEngine::markRefusesAChangedFile()
{
    QTemporaryDir root;
    const QString file = root.filePath(QStringLiteral("DC1/a.dat"));
    QVERIFY(test::writeFile(file, "abc"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions(false));
    QSignalSpy queued(&engine, &EdEngine::fileQueued);
    QVERIFY(engine.start());
    QList<FileTicket> tickets;
    drain(engine, &tickets);
    QCOMPARE(tickets.size(), 1);
    struct stat st;
    QVERIFY(::lstat(QFile::encodeName(file).constData(), &st) == 0);
    const FileStamp read = stampOf(st);
    QVERIFY(test::writeFile(file, "abcdef")); // the producer wrote more after it was read
    engine.markDelivered(tickets.first(), read);
    QVERIFY(!test::hasGroupWrite(file));
    QCOMPARE(queued.count(), 2); // queued again
    QCOMPARE(drain(engine).size(), 1);
}

void TestEdEngine::vanishedFileIsDropped()
{
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/a.dat")), "a"));
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/b.dat")), "b"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions(false));
    QSignalSpy dropped(&engine, &EdEngine::fileDropped);
    QSignalSpy ready(&engine, &EdEngine::dbtagReadyToClose);
    QVERIFY(engine.start());
    QList<FileTicket> tickets;
    drain(engine, &tickets);
    QCOMPARE(tickets.size(), 2);
    QVERIFY(QFile::remove(tickets.at(0).absPath));
    engine.fileFailed(tickets.at(0), Error{ErrorCode::FileVanished, QStringLiteral("gone")});
    QCOMPARE(dropped.count(), 1);
    deliver(engine, tickets.at(1));
    QCOMPARE(ready.count(), 1); // the dbtag can be finished without the deleted file
    QCOMPARE(ready.at(0).at(1).value<QList<proto::ManifestEntry>>().size(), 1);
    QVERIFY(!engine.takeNext());
}

void TestEdEngine::transientFailureIsRetried()
{
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/a.dat")), "a"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions(false));
    QSignalSpy available(&engine, &EdEngine::filesAvailable);
    QVERIFY(engine.start());
    auto t = engine.takeNext();
    QVERIFY(t);
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("disk-full.*retry 1")));
    engine.fileFailed(*t, Error{ErrorCode::DiskFull, QStringLiteral("receiver full")});
    QVERIFY(!engine.takeNext()); // not before its delay
    QVERIFY(!engine.isIdle());
    QVERIFY(available.wait(5000));
    auto again = engine.takeNext();
    QVERIFY(again);
    QCOMPARE(again->relPath, QStringLiteral("a.dat"));
    QCOMPARE(again->attempts, 1);

    // A permanent error stops the file; the dbtag cannot be finished without an operator.
    QTest::ignoreMessage(QtCriticalMsg, QRegularExpression(QStringLiteral("cannot send .*bad-path")));
    engine.fileFailed(*again, Error{ErrorCode::BadPath, QStringLiteral("refused")});
    QCOMPARE(engine.failedCount(), 1);
    QVERIFY(engine.isIdle());
}

void TestEdEngine::givesUpAfterMaxAttempts()
{
    // One pass (send --once) must end: a file that keeps failing transiently counts as failed.
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/a.dat")), "a"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    EngineOptions options = fastOptions(false);
    options.maxAttempts = 2;
    EdEngine engine(ScanOptions{root.path()}, options);
    QSignalSpy available(&engine, &EdEngine::filesAvailable);
    QSignalSpy failed(&engine, &EdEngine::fileFailedPermanently);
    QVERIFY(engine.start());
    auto t = engine.takeNext();
    QVERIFY(t);
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("disk-full.*retry 1")));
    engine.fileFailed(*t, Error{ErrorCode::DiskFull, QStringLiteral("full")});
    QVERIFY(available.wait(5000));
    t = engine.takeNext();
    QVERIFY(t);
    QTest::ignoreMessage(QtCriticalMsg, QRegularExpression(QStringLiteral("disk-full.*giving up")));
    engine.fileFailed(*t, Error{ErrorCode::DiskFull, QStringLiteral("full")});
    QCOMPARE(failed.count(), 1);
    QCOMPARE(engine.failedCount(), 1);
    QVERIFY(engine.isIdle());
    QVERIFY(!test::hasGroupWrite(t->absPath));
}

void TestEdEngine::operatorRetriesOneFile()
{
    // A file failed for good goes back through the queue when the operator asks for it (the
    // windows' "Retry this file"), with its attempts reset; the dbtag then finishes.
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/a.dat")), "a"));
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/b.dat")), "b"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions(false));
    QSignalSpy available(&engine, &EdEngine::filesAvailable);
    QSignalSpy ready(&engine, &EdEngine::dbtagReadyToClose);
    QVERIFY(engine.start());
    auto a = engine.takeNext();
    QVERIFY(a);
    QCOMPARE(a->relPath, QStringLiteral("a.dat"));
    QTest::ignoreMessage(QtCriticalMsg, QRegularExpression(QStringLiteral("cannot send .*bad-path")));
    engine.fileFailed(*a, Error{ErrorCode::BadPath, QStringLiteral("refused")});
    QCOMPARE(engine.failedCount(), 1);
    // Neither an unknown file nor one still queued is touched.
    QVERIFY(!engine.retryFile(QStringLiteral("DC1"), QStringLiteral("nope.dat")));
    QVERIFY(!engine.retryFile(QStringLiteral("DC9"), QStringLiteral("a.dat")));
    QVERIFY(!engine.retryFile(QStringLiteral("DC1"), QStringLiteral("b.dat")));
    auto b = engine.takeNext();
    QVERIFY(b);
    deliver(engine, *b);
    QVERIFY(!engine.takeNext());
    QVERIFY(engine.isIdle());
    QCOMPARE(ready.count(), 0);

    const int availableBefore = int(available.count());
    QVERIFY(engine.retryFile(QStringLiteral("DC1"), QStringLiteral("a.dat")));
    QCOMPARE(engine.failedCount(), 0);
    QVERIFY(!engine.isIdle());
    QCOMPARE(available.count(), availableBefore + 1); // the connections wake up
    auto again = engine.takeNext();
    QVERIFY(again);
    QCOMPARE(again->relPath, QStringLiteral("a.dat"));
    QCOMPARE(again->attempts, 0);
    deliver(engine, *again);
    QCOMPARE(ready.count(), 1); // every file is sent: the dbtag can be closed

    // A file waiting for a delayed retry is sent now rather than after its delay.
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC2/c.dat")), "c"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC2"), true, false, 2000));
    EngineOptions slow = fastOptions(false);
    slow.retryIntervalMs = 600000;
    EdEngine engine2(ScanOptions{root.path()}, slow);
    QVERIFY(engine2.start());
    auto c = engine2.takeNext();
    QVERIFY(c);
    QCOMPARE(c->relPath, QStringLiteral("c.dat"));
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("disk-full.*retry 1")));
    engine2.fileFailed(*c, Error{ErrorCode::DiskFull, QStringLiteral("full")});
    QVERIFY(!engine2.takeNext());
    QVERIFY(engine2.retryFile(QStringLiteral("DC2"), QStringLiteral("c.dat")));
    auto now = engine2.takeNext();
    QVERIFY(now);
    QCOMPARE(now->relPath, QStringLiteral("c.dat"));
}

void TestEdEngine::groupWritableAtFirstCloseWarns()
{
    QTemporaryDir root;
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), false, false, 1000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions());
    QSignalSpy queued(&engine, &EdEngine::fileQueued);
    QVERIFY(engine.start());
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("umask")));
    // Created group-writable (umask 002): written with g+w before it is closed.
    const QString file = root.filePath(QStringLiteral("DC1/a.dat"));
    {
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly));
        QVERIFY(f.setPermissions(f.permissions() | QFileDevice::WriteGroup));
        f.write("x");
    }
    QTRY_COMPARE_WITH_TIMEOUT(queued.count(), 1, 5000);
    QVERIFY(!test::hasGroupWrite(file)); // will be marked again once it is really sent
    // Warned once per dbtag: a second such file is queued without a second warning.
    {
        QFile f(root.filePath(QStringLiteral("DC1/b.dat")));
        QVERIFY(f.open(QIODevice::WriteOnly));
        QVERIFY(f.setPermissions(f.permissions() | QFileDevice::WriteGroup));
        f.write("y");
    }
    QTRY_COMPARE_WITH_TIMEOUT(queued.count(), 2, 5000);
}

void TestEdEngine::rescanQueuesNothingTwice()
{
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/a.dat")), "a"));
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC2/b.dat")), "b"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC2"), false, false, 2000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions());
    QSignalSpy queued(&engine, &EdEngine::fileQueued);
    QVERIFY(engine.start());
    QCOMPARE(queued.count(), 2);
    engine.rescan(); // what an inotify overflow triggers
    QCOMPARE(queued.count(), 2);
    // A file that appeared without an event (as after an overflow) is found by the rescan.
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/late.dat")), "l"));
    engine.rescan();
    QCOMPARE(queued.count(), 3);
    QCOMPARE(drain(engine).size(), 3);
}

void TestEdEngine::incompleteCloseResendsTheMissingFile()
{
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/a.dat")), "a"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions(false));
    QSignalSpy ready(&engine, &EdEngine::dbtagReadyToClose);
    QVERIFY(engine.start());
    auto t = engine.takeNext();
    QVERIFY(t);
    deliver(engine, *t);
    QCOMPARE(ready.count(), 1);
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("did not confirm")));
    engine.dbtagClosed(QStringLiteral("DC1"), Error{ErrorCode::Incomplete, QStringLiteral("a.dat: not stored")});
    QVERIFY(!QFile::exists(root.filePath(QStringLiteral("DC1/finished.watch"))));
    QVERIFY(!test::hasGroupWrite(t->absPath));
    auto again = engine.takeNext();
    QVERIFY(again);
    deliver(engine, *again);
    QCOMPARE(ready.count(), 2);
}

void TestEdEngine::sentOutsideIsFinishedWithoutTheReceiver()
{
    // The original's fsync_x1: every file g+w without isocket's record. Nothing is queued, the
    // receiver is not asked (no dbtagReadyToClose), finished.watch is written, marks untouched.
    QTemporaryDir root;
    for (const char *name : {"DC1/a.dat", "DC1/sub/b.dat"})
        QVERIFY(test::writeFile(root.filePath(QLatin1String(name)), "x", 0664));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions(false));
    QSignalSpy ready(&engine, &EdEngine::dbtagReadyToClose);
    QSignalSpy finished(&engine, &EdEngine::dbtagFinished);
    QVERIFY(engine.start());
    QVERIFY(!engine.takeNext());
    QCOMPARE(ready.count(), 0);
    QCOMPARE(finished.count(), 1);
    QVERIFY(engine.isIdle());
    QVERIFY(QFile::exists(root.filePath(QStringLiteral("DC1/finished.watch"))));
    for (const char *name : {"DC1/a.dat", "DC1/sub/b.dat"}) {
        QVERIFY(test::hasGroupWrite(root.filePath(QLatin1String(name))));
        char buf[64];
        QVERIFY(::getxattr(QFile::encodeName(root.filePath(QLatin1String(name))).constData(),
                           SentMark::AttributeName, buf, sizeof buf) < 0);
    }
}

void TestEdEngine::sentOutsideIsNamedInTheManifest()
{
    // A mixed dbtag: a.dat went outside isocket, b.dat is isocket's to send. Only b.dat is
    // queued; the manifest lists both, a.dat flagged.
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/a.dat")), "a", 0664));
    QVERIFY(test::setMtime(root.filePath(QStringLiteral("DC1/a.dat")), 100));
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/b.dat")), "bb"));
    QVERIFY(test::setMtime(root.filePath(QStringLiteral("DC1/b.dat")), 200));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions(false));
    QSignalSpy ready(&engine, &EdEngine::dbtagReadyToClose);
    QVERIFY(engine.start());
    QList<FileTicket> tickets;
    QCOMPARE(drain(engine, &tickets).join(u' '), QStringLiteral("DC1/b.dat"));
    QCOMPARE(ready.count(), 0);
    deliver(engine, tickets.first());
    QCOMPARE(ready.count(), 1);
    const auto files = ready.first().at(1).value<QList<proto::ManifestEntry>>();
    QCOMPARE(files.size(), 2);
    QCOMPARE(files[0].path, QStringLiteral("a.dat"));
    QCOMPARE(files[0].size, quint64(1));
    QVERIFY(files[0].outside);
    QCOMPARE(files[1].path, QStringLiteral("b.dat"));
    QVERIFY(!files[1].outside);
    engine.dbtagClosed(QStringLiteral("DC1"), Error{});
    QVERIFY(QFile::exists(root.filePath(QStringLiteral("DC1/finished.watch"))));
}

void TestEdEngine::namesFollowTheReceiversVersion_data()
{
    QTest::addColumn<int>("version");
    QTest::newRow("v2") << 2;
    QTest::newRow("v3") << 3;
}

void TestEdEngine::namesFollowTheReceiversVersion()
{
    // Names are bytes from protocol version 3 on: a name that is not UTF-8 or has a control
    // character is sent like any other, under its exact bytes. A version 2 receiver cannot
    // carry it: it is then a skipped entry named in the manifest, as before version 3, and the
    // dbtag is finished; it is never offered to be refused for ever.
    QFETCH(int, version);
    QTemporaryDir root;
    const QByteArray dir = QFile::encodeName(root.path()) + "/DC1";
    QVERIFY(test::writeFileAt(dir + "/a.dat", "a"));
    QVERIFY(test::writeFileAt(dir + "/caf\xe9.dat", "bb"));
    QVERIFY(test::writeFileAt(dir + "/new\nline", "ccc"));
    const auto cleanup = qScopeGuard([&dir] { test::removeTreeAt(dir); });
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions(false));
    QSignalSpy ready(&engine, &EdEngine::dbtagReadyToClose);
    QVERIFY(engine.start());
    // What a connection learns in its handshake, after the engine queued the files.
    engine.setPeerVersion(quint16(version));
    if (version == 2) {
        QTest::ignoreMessage(QtWarningMsg,
                             QRegularExpression(QStringLiteral("DC1/caf\\\\xe9\\.dat is not "
                                                               "sent: .*protocol version 2")));
        QTest::ignoreMessage(QtWarningMsg,
                             QRegularExpression(QStringLiteral("DC1/new\\\\nline is not "
                                                               "sent: .*protocol version 2")));
    }
    QList<FileTicket> tickets;
    drain(engine, &tickets);
    QCOMPARE(tickets.size(), version == 2 ? 1 : 3);
    for (const FileTicket &t : std::as_const(tickets)) {
        QVERIFY(::access(fsEncode(t.absPath).constData(), R_OK) == 0);
        deliver(engine, t);
    }
    QCOMPARE(ready.count(), 1);
    const auto manifest = ready.first().at(1).value<QList<proto::ManifestEntry>>();
    QCOMPARE(manifest.size(), 3);
    QStringList lines;
    for (const proto::ManifestEntry &e : manifest)
        lines << displayName(e.path) +
                     (e.skipped.isEmpty() ? QString() : QStringLiteral(" skipped"));
    lines.sort();
    if (version == 2) {
        QCOMPARE(lines,
                 (QStringList{QStringLiteral("a.dat"), QStringLiteral("caf\\xe9.dat skipped"),
                              QStringLiteral("new\\nline skipped")}));
        QVERIFY(!test::hasGroupWriteAt(dir + "/caf\xe9.dat"));
    } else {
        QCOMPARE(lines, (QStringList{QStringLiteral("a.dat"), QStringLiteral("caf\\xe9.dat"),
                                     QStringLiteral("new\\nline")}));
        QVERIFY(test::hasGroupWriteAt(dir + "/caf\xe9.dat"));
        QVERIFY(test::hasGroupWriteAt(dir + "/new\nline"));
        // The receiver names a missing file as displayName() shows it: it is sent again.
        QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("did not confirm")));
        engine.dbtagClosed(
            QStringLiteral("DC1"),
            Error{ErrorCode::Incomplete, QStringLiteral("caf\\xe9.dat: not stored")});
        QVERIFY(!test::hasGroupWriteAt(dir + "/caf\xe9.dat"));
        auto again = engine.takeNext();
        QVERIFY(again);
        QCOMPARE(fsEncode(again->relPath), QByteArray("caf\xe9.dat"));
        deliver(engine, *again);
        QCOMPARE(ready.count(), 2);
    }
    engine.dbtagClosed(QStringLiteral("DC1"), Error{});
    QVERIFY(QFile::exists(root.filePath(QStringLiteral("DC1/finished.watch"))));
}

void TestEdEngine::fileAddedBeforeTheConfirmationStopsTheFinish()
{
    // A file that appears between the finish request and the receiver's confirmation is not in
    // the manifest the receiver confirmed: finished.watch must wait until it is sent too.
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/a.dat")), "a"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions(false));
    QSignalSpy ready(&engine, &EdEngine::dbtagReadyToClose);
    QSignalSpy finished(&engine, &EdEngine::dbtagFinished);
    QVERIFY(engine.start());
    auto t = engine.takeNext();
    QVERIFY(t);
    deliver(engine, *t);
    QCOMPARE(ready.count(), 1);
    QCOMPARE(ready.at(0).at(1).value<QList<proto::ManifestEntry>>().size(), 1);

    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/late.dat")), "late"));
    engine.dbtagClosed(QStringLiteral("DC1"), Error{});
    QCOMPARE(finished.count(), 0);
    QVERIFY(!QFile::exists(root.filePath(QStringLiteral("DC1/finished.watch"))));
    auto late = engine.takeNext();
    QVERIFY(late);
    QCOMPARE(late->relPath, QStringLiteral("late.dat"));
    deliver(engine, *late);
    QCOMPARE(ready.count(), 2);
    QCOMPARE(ready.at(1).at(1).value<QList<proto::ManifestEntry>>().size(), 2);
    engine.dbtagClosed(QStringLiteral("DC1"), Error{});
    QCOMPARE(finished.count(), 1);
    QVERIFY(QFile::exists(root.filePath(QStringLiteral("DC1/finished.watch"))));
}

void TestEdEngine::liveFirstWithAShareForTheBacklog()
{
    QTemporaryDir root;
    for (int i = 0; i < 20; ++i) {
        const QString path = root.filePath(QStringLiteral("DC1/b%1.dat").arg(i, 2, 10, QLatin1Char('0')));
        QVERIFY(test::writeFile(path, "b"));
        QVERIFY(test::setMtime(path, 100 + i));
    }
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC2"), false, false, 2000)); // live
    EngineOptions options = fastOptions();
    options.liveShare = 3;
    EdEngine engine(ScanOptions{root.path()}, options);
    QSignalSpy queued(&engine, &EdEngine::fileQueued);
    QVERIFY(engine.start());
    QCOMPARE(engine.catchUpFiles(), 20);
    QCOMPARE(engine.oldestCatchUp(), QDateTime::fromSecsSinceEpoch(100, Qt::UTC));
    // A backlog file in flight, then the live files come.
    const auto first = engine.takeNext();
    QVERIFY(first);
    QCOMPARE(first->relPath, QStringLiteral("b00.dat"));
    QVERIFY(!first->live);
    for (int i = 0; i < 9; ++i)
        QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC2/l%1.dat").arg(i)), "l"));
    QTRY_COMPARE_WITH_TIMEOUT(queued.count(), 20 + 9, 5000 * test::timeoutFactor());
    QCOMPARE(engine.backlogFiles(), 29);
    QCOMPARE(engine.catchUpFiles(), 20); // the live dbtag's files are not catching up
    // Three live files for each backlog file while both wait, each class in its order; then
    // what is left of the backlog.
    QList<FileTicket> tickets;
    const QStringList order = drain(engine, &tickets);
    QCOMPARE(order.mid(0, 12),
             (QStringList{QStringLiteral("DC2/l0.dat"), QStringLiteral("DC2/l1.dat"),
                          QStringLiteral("DC2/l2.dat"), QStringLiteral("DC1/b01.dat"),
                          QStringLiteral("DC2/l3.dat"), QStringLiteral("DC2/l4.dat"),
                          QStringLiteral("DC2/l5.dat"), QStringLiteral("DC1/b02.dat"),
                          QStringLiteral("DC2/l6.dat"), QStringLiteral("DC2/l7.dat"),
                          QStringLiteral("DC2/l8.dat"), QStringLiteral("DC1/b03.dat")}));
    QCOMPARE(order.size(), 28);
    QCOMPARE(order.last(), QStringLiteral("DC1/b19.dat"));
    for (const FileTicket &t : std::as_const(tickets))
        QCOMPARE(t.live, t.dbtag == QStringLiteral("DC2"));
    // Delivered: the backlog is caught up, the live files are not catching up.
    for (const FileTicket &t : std::as_const(tickets))
        if (t.dbtag == QStringLiteral("DC1"))
            deliver(engine, t);
    deliver(engine, *first);
    QCOMPARE(engine.catchUpFiles(), 0);
    QVERIFY(!engine.oldestCatchUp().isValid());
    QCOMPARE(engine.backlogFiles(), 9);
}

void TestEdEngine::nothingToSendIsIdleAtStart()
{
    // `send --once` on a root with nothing to send (empty, or every file already marked) must
    // end at once: the engine is idle straight after start().
    QTemporaryDir root;
    QVERIFY(QDir(root.path()).mkdir(QStringLiteral("empty")));
    EdEngine engine(ScanOptions{root.path()}, fastOptions(false));
    QVERIFY(engine.start());
    QVERIFY(engine.isIdle());
}

void TestEdEngine::onePassGoesIdle()
{
    QTemporaryDir root;
    for (int i = 0; i < 5; ++i)
        QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/f%1.dat").arg(i)), "x"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), false, false, 1000));
    EdEngine engine(ScanOptions{root.path()}, fastOptions(false));
    QSignalSpy idle(&engine, &EdEngine::idle);
    QVERIFY(engine.start());
    QVERIFY(!engine.isIdle());
    QList<FileTicket> tickets;
    drain(engine, &tickets);
    QCOMPARE(tickets.size(), 5);
    for (const FileTicket &t : tickets)
        deliver(engine, t);
    QCOMPARE(idle.count(), 1);
    QVERIFY(engine.isIdle());
    // Live: never finished by isocket.
    QVERIFY(!QFile::exists(root.filePath(QStringLiteral("DC1/finished.watch"))));
}

QTEST_GUILESS_MAIN(TestEdEngine)
#include "tst_edengine.moc"
