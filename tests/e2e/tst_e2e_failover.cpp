// `isocket send --to A --to B` with two real `isocket receive` processes: the connections spread
// over both, one receiver killed (SIGKILL) mid-run loses nothing (every file arrives on one of
// them, identical, and is marked), and a restarted receiver is used again.

#include "tests/testlib/processes.h"
#include "tests/testlib/testtree.h"

#include <QDir>
#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace isocket;
using namespace isocket::test;

class TestE2eFailover : public QObject
{
    Q_OBJECT

private slots:
    void receiverKilledMidRun();
};

void TestE2eFailover::receiverKilledMidRun()
{
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    const QString recvA = recv + QStringLiteral("-a");
    const QString recvB = recv + QStringLiteral("-b");
    QVERIFY(QDir().mkpath(recvA) && QDir().mkpath(recvB));
    constexpr int Files = 40;
    constexpr qint64 Size = 512 * 1024;
    const QString dir = path(ed, dbtag);
    for (int i = 0; i < Files; ++i)
        QVERIFY(writeFile(path(dir, QStringLiteral("f%1.dat").arg(i)),
                          patternBytes(Size, quint32(i))));
    QVERIFY(makeDbtag(ed, dbtag, true, false, 1577836800));

    Process a(QStringLiteral("receiver A"));
    Process b(QStringLiteral("receiver B"));
    const quint16 portA = startReceiver(a, recvA);
    const quint16 portB = startReceiver(b, recvB);
    QVERIFY(portA != 0 && portB != 0);
    const auto storedOn = [&](const QString &root) {
        return static_cast<int>(receivedFiles(path(path(root, source), dbtag)).size());
    };

    Process sender(QStringLiteral("sender"));
    // The second receiver by --to again; 4 MiB/s a link, so that A can be killed mid-run.
    QVERIFY(sender.startIsocket(senderArgs(
        ed, portA, source,
        {QStringLiteral("--to"), QStringLiteral("127.0.0.1:%1").arg(portB), QStringLiteral("--jobs"),
         QStringLiteral("2"), QStringLiteral("--window"), QStringLiteral("2"),
         QStringLiteral("--bwlimit"), QStringLiteral("8M"), QStringLiteral("--control-socket"),
         path(tmp.path(), QStringLiteral("ed.sock"))})));
    QVERIFY(sender.waitForError(
        QStringLiteral("to 127.0.0.1:%1, 127.0.0.1:%2").arg(portA).arg(portB), e2eTimeout()));

    // Both receive files; A dies with files in flight.
    QTRY_VERIFY_WITH_TIMEOUT(storedOn(recvA) >= 3 && storedOn(recvB) >= 1, e2eTimeout());
    a.kill();
    int markedWhenKilled = 0;
    for (int i = 0; i < Files; ++i)
        markedWhenKilled += isMarked(path(dir, QStringLiteral("f%1.dat").arg(i))) ? 1 : 0;
    QVERIFY2(markedWhenKilled < Files, "A was killed after the run");

    // Every file arrives, on A (before it died) or on B, identical, and is marked; the dbtag is
    // finished.
    QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(path(dir, QStringLiteral("finished.watch"))),
                             e2eTimeout(60000));
    for (int i = 0; i < Files; ++i) {
        const QString rel = QStringLiteral("f%1.dat").arg(i);
        QVERIFY2(isMarked(path(dir, rel)), qPrintable(rel));
        const bool onA = fileDelivered(ed, dbtag, rel, recvA, source).isEmpty();
        const bool onB = fileDelivered(ed, dbtag, rel, recvB, source).isEmpty();
        QVERIFY2(onA || onB, qPrintable(rel + QStringLiteral(": ")
                                        + fileDelivered(ed, dbtag, rel, recvB, source)));
    }
    QVERIFY(sender.waitForError(QStringLiteral("trying another receiver"), e2eTimeout()));
    // `isocket status` names each receiver, A down and B up.
    {
        Process status(QStringLiteral("status"));
        QVERIFY(status.startIsocket({QStringLiteral("status"), QStringLiteral("--control-socket"),
                                     path(tmp.path(), QStringLiteral("ed.sock"))}));
        QVERIFY(status.waitForExit(e2eTimeout(20000)));
        const QString out = status.out();
        QVERIFY2(out.contains(QStringLiteral("127.0.0.1:%1 down: ").arg(portA)), qPrintable(out));
        QVERIFY2(out.contains(QStringLiteral("127.0.0.1:%1 up, ").arg(portB)), qPrintable(out));
    }

    // A back on its port: link 0 returns to it by itself.
    Process a2(QStringLiteral("receiver A (restarted)"));
    QCOMPARE(startReceiver(a2, recvA, portA), portA);
    QVERIFY(a2.waitForError(QStringLiteral("authenticated as %1").arg(source), e2eTimeout()));
    QVERIFY(sender.isRunning());
}

QTEST_GUILESS_MAIN(TestE2eFailover)
#include "tst_e2e_failover.moc"
