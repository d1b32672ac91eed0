// End to end with real processes: the engine's fidelity to what producers really do (issue 14).
// A writer that still holds a file open when the next dbtag appears, finished.parse written into
// the previous dbtag after the next one was created, dbtags of equal mtime, one pass (--once)
// that finds a file held open, a burst written at full speed while the receiver is down, and a
// data root or a dbtag replaced under a running sender. Every test checks the receiver's bytes,
// the ED's marks and markers; "nothing happened" is asserted after a positive barrier.

#include "tests/testlib/processes.h"
#include "tests/testlib/testtree.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QScopeGuard>
#include <QTemporaryDir>
#include <QTest>

#include <csignal>

using namespace isocket;
using namespace isocket::test;

namespace {

constexpr qint64 T0 = 1'600'000'000;

QString marker(const QString &ed, const QString &dbtag, const char *name)
{
    return path(path(ed, dbtag), QLatin1String(name));
}

// Whether the receiver holds `rel` of `dbtag` at its final name.
bool stored(const QString &recv, const QString &source, const QString &dbtag, const QString &rel)
{
    return QFileInfo::exists(path(path(path(recv, source), dbtag), rel));
}

} // namespace

class TestE2eProducer : public QObject
{
    Q_OBJECT

private slots:
    void writerStillOpenWhenTheNextDbtagAppears();
    void finishedParseAfterTheNextDbtag();
    void equalMtimesTheLaterNameIsLive();
    void abandonedOnlyOnceQuiet();
    void onceNamesAFileHeldOpen();
    void burstWhileTheReceiverIsDown();
    void dataRootDeletedAndMadeAgain();
    void liveDbtagReplaced();
};

void TestE2eProducer::writerStillOpenWhenTheNextDbtagAppears()
{
    // The producer still writes the last file of DC1 when DC2 appears. That file must not be sent
    // half-written, and DC1 must not be finished while the writer holds it; its close sends it.
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dc1] = scene;
    const QString dc2 = QStringLiteral("DC20200101000001");
    const QString dir1 = path(ed, dc1);
    QVERIFY(writeFile(path(dir1, QStringLiteral("a.dat")), patternBytes(10000, 1)));
    QVERIFY(makeDbtag(ed, dc1, false, false, T0));

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    MarkGuard guard(ed, recv, source);
    Process sender(QStringLiteral("sender"));
    // One connection: files are acknowledged in the order they were queued (DC1's first).
    QVERIFY(sender.startIsocket(
        senderArgs(ed, port, source, {QStringLiteral("--jobs"), QStringLiteral("1")})));
    QVERIFY(sender.waitForError(QStringLiteral("watching live dbtag ") + dc1, e2eTimeout()));
    QTRY_COMPARE_WITH_TIMEOUT(fileDelivered(ed, dc1, QStringLiteral("a.dat"), recv, source),
                              QString(), e2eTimeout());

    const QByteArray whole = patternBytes(600000, 2);
    const QString heldPath = path(dir1, QStringLiteral("held.dat"));
    QFile held(heldPath);
    QVERIFY(held.open(QIODevice::WriteOnly));
    QCOMPARE(held.write(whole.left(whole.size() / 2)), whole.size() / 2);
    QVERIFY(held.flush());
    QVERIFY(setMtime(dir1, T0)); // DC2 is the newer one, whatever the clock's granularity
    QVERIFY(QDir().mkpath(path(ed, dc2)));
    QVERIFY(sender.waitForError(QStringLiteral("watching live dbtag ") + dc2, e2eTimeout()));

    // The barrier: a file of DC2, queued after everything of DC1, is delivered.
    QVERIFY(writeFile(path(path(ed, dc2), QStringLiteral("b.dat")), patternBytes(5000, 3)));
    QTRY_COMPARE_WITH_TIMEOUT(fileDelivered(ed, dc2, QStringLiteral("b.dat"), recv, source),
                              QString(), e2eTimeout());
    QVERIFY2(!stored(recv, source, dc1, QStringLiteral("held.dat")),
             "a file held open for writing was delivered");
    QVERIFY(!isMarked(heldPath));
    QVERIFY2(!QFileInfo::exists(marker(ed, dc1, "finished.watch")),
             "DC1 was finished while a writer held one of its files");

    QCOMPARE(held.write(whole.mid(whole.size() / 2)), whole.size() - whole.size() / 2);
    held.close();
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, dc1, recv, source), QString(), e2eTimeout());
    QCOMPARE(guard.violation(), QString());
    QVERIFY(!QFileInfo::exists(marker(ed, dc2, "finished.watch")));
}

void TestE2eProducer::finishedParseAfterTheNextDbtag()
{
    // A producer that creates DC2 and only then writes finished.parse into DC1 bumps DC1's mtime
    // above DC2's. DC2 is the one being written: it must stay live, and what is written into it
    // afterwards must arrive; it is finished only after its own finished.parse.
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dc1] = scene;
    const QString dc2 = QStringLiteral("DC20200101000001");
    QVERIFY(writeFile(path(path(ed, dc1), QStringLiteral("a.dat")), patternBytes(10000, 1)));
    QVERIFY(makeDbtag(ed, dc1, false, false, T0));

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    MarkGuard guard(ed, recv, source);
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source)));
    QVERIFY(sender.waitForError(QStringLiteral("watching live dbtag ") + dc1, e2eTimeout()));
    QTRY_COMPARE_WITH_TIMEOUT(fileDelivered(ed, dc1, QStringLiteral("a.dat"), recv, source),
                              QString(), e2eTimeout());

    QVERIFY(QDir().mkpath(path(ed, dc2)));
    QVERIFY(setMtime(path(ed, dc2), T0 + 10)); // older than DC1 once finished.parse bumps it
    QVERIFY(writeFile(marker(ed, dc1, "finished.parse"), QByteArray()));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, dc1, recv, source), QString(), e2eTimeout());
    QVERIFY2(sender.waitForError(QStringLiteral("watching live dbtag ") + dc2, e2eTimeout()),
             qPrintable(sender.err()));

    for (int i = 0; i < 3; ++i) {
        const QString rel = QStringLiteral("f%1.dat").arg(i);
        QVERIFY(writeFile(path(path(ed, dc2), rel), patternBytes(20000 + i, 10 + i)));
        QTRY_COMPARE_WITH_TIMEOUT(fileDelivered(ed, dc2, rel, recv, source), QString(),
                                  e2eTimeout());
    }
    QVERIFY2(!QFileInfo::exists(marker(ed, dc2, "finished.watch")),
             "the dbtag being written was finished");
    QVERIFY(writeFile(marker(ed, dc2, "finished.parse"), QByteArray()));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, dc2, recv, source), QString(), e2eTimeout());
    QCOMPARE(guard.violation(), QString());
}

void TestE2eProducer::equalMtimesTheLaterNameIsLive()
{
    // Coarse timestamps: two dbtags with the same mtime. Names carry the time, so the later name
    // is the live one (ls -tr would pick the earlier name and finish the live one).
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, older] = scene;
    const QString later = QStringLiteral("DC20200101000001");
    QVERIFY(writeFile(path(path(ed, older), QStringLiteral("a.dat")), patternBytes(3000, 1)));
    QVERIFY(writeFile(path(path(ed, later), QStringLiteral("b.dat")), patternBytes(4000, 2)));
    QVERIFY(makeDbtag(ed, older, false, false, T0));
    QVERIFY(makeDbtag(ed, later, false, false, T0));

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source)));
    QVERIFY(sender.waitForError(QStringLiteral("watching live dbtag ") + later, e2eTimeout()));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, older, recv, source), QString(), e2eTimeout());
    QVERIFY(writeFile(path(path(ed, later), QStringLiteral("c.dat")), patternBytes(5000, 3)));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagDelivered(ed, later, recv, source), QString(), e2eTimeout());
    QVERIFY(!QFileInfo::exists(marker(ed, later, "finished.watch")));
}

void TestE2eProducer::abandonedOnlyOnceQuiet()
{
    // A producer made the next dbtag, then one more file in the previous one: the previous one
    // is now the newest by mtime, and the new one, still being written, looks abandoned ("the
    // producer died"). It must not be finished while it just changed: its files are sent as
    // they come, and it is finished once it has its finished.parse (or has been quiet long).
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, previous] = scene;
    const QString next = QStringLiteral("DC20200101000001");
    QVERIFY(writeFile(path(path(ed, previous), QStringLiteral("a.dat")), patternBytes(3000, 1)));
    QVERIFY(writeFile(path(path(ed, next), QStringLiteral("c.dat")), patternBytes(4000, 2)));
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    QVERIFY(makeDbtag(ed, next, false, false, now - 5));
    QVERIFY(makeDbtag(ed, previous, false, false, now - 1)); // its late file: the newest

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source)));
    QTRY_COMPARE_WITH_TIMEOUT(fileDelivered(ed, next, QStringLiteral("c.dat"), recv, source),
                              QString(), e2eTimeout());
    // The producer goes on writing into it: sent, and still not finished.
    QVERIFY(writeFile(path(path(ed, next), QStringLiteral("d.dat")), patternBytes(5000, 3)));
    QTRY_COMPARE_WITH_TIMEOUT(fileDelivered(ed, next, QStringLiteral("d.dat"), recv, source),
                              QString(), e2eTimeout());
    QVERIFY(!QFileInfo::exists(marker(ed, next, "finished.watch")));
    QVERIFY(sender.err().contains(QLatin1String("is not the newest, but changed")));
    // The producer closes both, in its order: each is finished, complete.
    QVERIFY(writeFile(marker(ed, previous, "finished.parse"), QByteArray()));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, previous, recv, source), QString(), e2eTimeout());
    QVERIFY(writeFile(path(path(ed, next), QStringLiteral("e.dat")), patternBytes(6000, 4)));
    QVERIFY(writeFile(marker(ed, next, "finished.parse"), QByteArray()));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, next, recv, source), QString(), e2eTimeout());
    QVERIFY(sender.isRunning());
}

void TestE2eProducer::onceNamesAFileHeldOpen()
{
    // One pass cannot wait for a close event: a file still held open for writing stays unsent,
    // so the pass did not send everything. Exit 1, naming the file; the rest is sent.
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, live] = scene;
    QVERIFY(writeFile(path(path(ed, live), QStringLiteral("a.dat")), patternBytes(3000, 1)));
    QVERIFY(makeDbtag(ed, live, false, false, T0));
    const QString heldPath = path(path(ed, live), QStringLiteral("held.dat"));
    QFile held(heldPath);
    QVERIFY(held.open(QIODevice::WriteOnly));
    QVERIFY(held.write(patternBytes(50000, 2)) == 50000 && held.flush());

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    Process sender(QStringLiteral("sender --once"));
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source, {QStringLiteral("--once")})));
    QVERIFY(sender.waitForExit(e2eTimeout(20000)));
    QVERIFY(sender.exitedNormally());
    QCOMPARE(sender.exitCode(), 1);
    QVERIFY2(sender.err().contains(heldPath + QStringLiteral(" is still open for writing")),
             qPrintable(sender.err()));
    QCOMPARE(fileDelivered(ed, live, QStringLiteral("a.dat"), recv, source), QString());
    QVERIFY(!stored(recv, source, live, QStringLiteral("held.dat")));
    QVERIFY(!isMarked(heldPath));
}

void TestE2eProducer::burstWhileTheReceiverIsDown()
{
    // Issue 14: thousands of files written at full speed while the receiver was down; the newest
    // dbtag had finished.parse but stayed live until a manual rescan. One way there: the data
    // root spelled as the original's configuration spells it (relative), and every event of the
    // live dbtag compared with another spelling of its path, so none was taken, finished.parse's
    // included. Here the last dbtag is left open, written on, and closed by hand: its files and
    // its marker can only be seen by their events.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString ed = path(tmp.path(), QStringLiteral("ed"));
    const QString recv = path(tmp.path(), QStringLiteral("recv"));
    const QString source = QStringLiteral("ed1");
    QVERIFY(QDir().mkpath(ed));
    const QString cwd = QDir::currentPath();
    QVERIFY(QDir::setCurrent(tmp.path()));
    const auto restore = qScopeGuard([&cwd] { QDir::setCurrent(cwd); });

    const quint16 port = freePort();
    QVERIFY(port != 0);
    Process sender(QStringLiteral("sender (relative root)"));
    QVERIFY(sender.startIsocket(senderArgs(QStringLiteral("ed"), port, source)));
    QVERIFY(sender.waitForError(QStringLiteral("sending"), e2eTimeout(10000)));

    Process producer(QStringLiteral("simulate"));
    QVERIFY(producer.startIsocket(
        {QStringLiteral("simulate"), QStringLiteral("--root"), ed, QStringLiteral("--dbtags"),
         QStringLiteral("4"), QStringLiteral("--files"), QStringLiteral("1000"),
         QStringLiteral("--size"), QStringLiteral("1K"), QStringLiteral("--interval"),
         QStringLiteral("0"), QStringLiteral("--leave-open"), QStringLiteral("--quiet")}));
    QVERIFY(producer.waitForExit(e2eTimeout(60000)));
    QCOMPARE(producer.exitCode(), 0);
    const QStringList dbtags = QDir(ed).entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name);
    QCOMPARE(dbtags.size(), 4);
    const QString last = dbtags.last();
    QVERIFY(sender.waitForError(QStringLiteral("watching live dbtag ") + last, e2eTimeout()));
    // Written after the watch began, while the receiver is still down.
    QVERIFY(writeFile(path(path(ed, last), QStringLiteral("late.dat")), patternBytes(7000, 9)));

    Process receiver(QStringLiteral("receiver"));
    QCOMPARE(startReceiver(receiver, recv, port), port);
    MarkGuard guard(ed, recv, source);
    for (const QString &dbtag : dbtags.first(3))
        QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, dbtag, recv, source), QString(),
                                  e2eTimeout(60000));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagDelivered(ed, last, recv, source), QString(), e2eTimeout());
    QVERIFY(!QFileInfo::exists(marker(ed, last, "finished.watch")));
    QVERIFY(writeFile(marker(ed, last, "finished.parse"), QByteArray()));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, last, recv, source), QString(), e2eTimeout());
    QCOMPARE(guard.violation(), QString());
}

void TestE2eProducer::dataRootDeletedAndMadeAgain()
{
    // The data root deleted under a running sender, then made again (a disk that comes up late,
    // a careless cleanup): the sender must say so and go on with the new root, never run blind.
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dc1] = scene;
    QVERIFY(writeFile(path(path(ed, dc1), QStringLiteral("a.dat")), patternBytes(3000, 1)));
    QVERIFY(makeDbtag(ed, dc1, true, false, T0));

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source)));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, dc1, recv, source), QString(), e2eTimeout());

    QVERIFY(QDir(ed).removeRecursively());
    QVERIFY(sender.waitForError(QStringLiteral("is gone"), e2eTimeout()));
    const QString dc2 = QStringLiteral("DC20200102000000");
    QVERIFY(writeFile(path(path(ed, dc2), QStringLiteral("b.dat")), patternBytes(4000, 2)));
    QVERIFY(makeDbtag(ed, dc2, true, false, T0));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, dc2, recv, source), QString(), e2eTimeout());

    // The new root is watched: a dbtag made in it now goes live and is sent.
    const QString dc3 = QStringLiteral("DC20200103000000");
    QVERIFY(QDir().mkpath(path(ed, dc3)));
    QVERIFY(sender.waitForError(QStringLiteral("watching live dbtag ") + dc3, e2eTimeout()));
    QVERIFY(writeFile(path(path(ed, dc3), QStringLiteral("c.dat")), patternBytes(5000, 3)));
    QVERIFY(writeFile(marker(ed, dc3, "finished.parse"), QByteArray()));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, dc3, recv, source), QString(), e2eTimeout());
    QVERIFY(sender.isRunning());

    // Replaced while the sender is stopped, so that it sees only the outcome: a root whose
    // directory is another one than the one it watched.
    QCOMPARE(::kill(pid_t(sender.pid()), SIGSTOP), 0);
    auto resume = qScopeGuard([&sender] { ::kill(pid_t(sender.pid()), SIGCONT); });
    QVERIFY(QDir().rename(ed, path(tmp.path(), QStringLiteral("ed.old"))));
    QVERIFY(QDir().mkpath(ed));
    QCOMPARE(::kill(pid_t(sender.pid()), SIGCONT), 0);
    resume.dismiss();
    QVERIFY(sender.waitForError(QStringLiteral("was replaced or mounted over"), e2eTimeout()));
    const QString dc4 = QStringLiteral("DC20200104000000");
    QVERIFY(QDir().mkpath(path(ed, dc4)));
    QVERIFY(sender.waitForError(QStringLiteral("watching live dbtag ") + dc4, e2eTimeout()));
    QVERIFY(writeFile(path(path(ed, dc4), QStringLiteral("d.dat")), patternBytes(6000, 4)));
    QVERIFY(writeFile(marker(ed, dc4, "finished.parse"), QByteArray()));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, dc4, recv, source), QString(), e2eTimeout());
}

void TestE2eProducer::liveDbtagReplaced()
{
    // The live dbtag's directory replaced by another of the same name (moved away, made again)
    // while the sender does not look: the new one must be watched and sent, not the old one's
    // record kept with no watch behind it.
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, live] = scene;
    QVERIFY(makeDbtag(ed, live, false, false, T0));

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    MarkGuard guard(ed, recv, source);
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source)));
    QVERIFY(sender.waitForError(QStringLiteral("watching live dbtag ") + live, e2eTimeout()));
    QVERIFY(writeFile(path(path(ed, live), QStringLiteral("a.dat")), patternBytes(3000, 1)));
    QTRY_COMPARE_WITH_TIMEOUT(fileDelivered(ed, live, QStringLiteral("a.dat"), recv, source),
                              QString(), e2eTimeout());

    QCOMPARE(::kill(pid_t(sender.pid()), SIGSTOP), 0);
    auto resume = qScopeGuard([&sender] { ::kill(pid_t(sender.pid()), SIGCONT); });
    QVERIFY(QDir().rename(path(ed, live), path(tmp.path(), QStringLiteral("old"))));
    QVERIFY(QDir().mkpath(path(ed, live)));
    QVERIFY(writeFile(path(path(ed, live), QStringLiteral("a.dat")), patternBytes(3000, 1)));
    QCOMPARE(::kill(pid_t(sender.pid()), SIGCONT), 0);
    resume.dismiss();

    QVERIFY(writeFile(path(path(ed, live), QStringLiteral("b.dat")), patternBytes(4000, 2)));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagDelivered(ed, live, recv, source), QString(), e2eTimeout());
    QVERIFY(writeFile(marker(ed, live, "finished.parse"), QByteArray()));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, live, recv, source), QString(), e2eTimeout());
    QCOMPARE(guard.violation(), QString());
}

QTEST_GUILESS_MAIN(TestE2eProducer)
#include "tst_e2e_producer.moc"
