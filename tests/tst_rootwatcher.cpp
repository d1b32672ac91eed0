// The data root watcher: a dbtag that appears, disappears or is renamed is reported within a
// deadline; a burst of changes gives few signals, the last one after the last change; a root
// that cannot be watched is refused with a reason; a root renamed, made again or mounted over is
// reported.

#include "core/rootwatcher.h"
#include "tests/testlib/testtree.h"

#include <QCoreApplication>
#include <QScopeGuard>
#include <QDir>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include <sched.h>
#include <sys/mount.h>

using namespace isocket;

namespace {

int timeoutMs()
{
    return 5000 * test::timeoutFactor();
}

QString join(const QString &dir, const QString &rel)
{
    return dir + QLatin1Char('/') + rel;
}

} // namespace

class TestRootWatcher : public QObject
{
    Q_OBJECT

private slots:
    void init();

    void refusesWhatCannotBeWatched();
    void entryChange_data();
    void entryChange();
    void burstIsCoalesced_data();
    void burstIsCoalesced();
    void steadyStreamDoesNotPostpone();
    void rootDeleted();
    void rootRenamedAndMadeAgain();
    void rootMountedOver();
};

void TestRootWatcher::init()
{
    QTest::failOnWarning(QRegularExpression(QStringLiteral(".*")));
}

void TestRootWatcher::refusesWhatCannotBeWatched()
{
    QTemporaryDir root;
    QVERIFY(root.isValid());
    RootWatcher watcher;

    const QString missing = join(root.path(), QStringLiteral("missing"));
    QVERIFY(!watcher.setRoot(missing));
    QVERIFY2(watcher.errorString().contains(missing), qPrintable(watcher.errorString()));
    QVERIFY(!watcher.isWatching());

    const QString file = join(root.path(), QStringLiteral("file"));
    QVERIFY(test::writeFile(file, "f"));
    QVERIFY(!watcher.setRoot(file));
    QVERIFY2(watcher.errorString().contains(file), qPrintable(watcher.errorString()));
    QVERIFY(!watcher.isWatching());

    QVERIFY(watcher.setRoot(root.path()));
    QVERIFY(watcher.isWatching());
    QVERIFY(watcher.errorString().isEmpty());
    QVERIFY(!watcher.hasPendingChange());
}

void TestRootWatcher::entryChange_data()
{
    QTest::addColumn<QString>("change");

    QTest::newRow("new dbtag") << QStringLiteral("mkdir");
    QTest::newRow("dbtag removed") << QStringLiteral("rmdir");
    QTest::newRow("dbtag renamed") << QStringLiteral("rename");
}

void TestRootWatcher::entryChange()
{
    QFETCH(QString, change);

    QTemporaryDir root;
    QVERIFY(root.isValid());
    const QString existing = join(root.path(), QStringLiteral("DC20151225000000"));
    QVERIFY(QDir().mkdir(existing));
    RootWatcher watcher;
    watcher.setCoalesceInterval(std::chrono::milliseconds(50));
    QVERIFY2(watcher.setRoot(root.path()), qPrintable(watcher.errorString()));
    QSignalSpy changed(&watcher, &RootWatcher::changed);
    QVERIFY(changed.isValid());

    if (change == QLatin1String("mkdir"))
        QVERIFY(QDir().mkdir(join(root.path(), QStringLiteral("DC20151226000000"))));
    else if (change == QLatin1String("rmdir"))
        QVERIFY(QDir().rmdir(existing));
    else
        QVERIFY(QDir().rename(existing, join(root.path(), QStringLiteral("DC20151227000000"))));
    QVERIFY(changed.wait(timeoutMs()));
    QTRY_VERIFY_WITH_TIMEOUT(!watcher.hasPendingChange(), timeoutMs());
    QCOMPARE(changed.count(), 1);
    QVERIFY(watcher.isWatching());
}

void TestRootWatcher::burstIsCoalesced_data()
{
    QTest::addColumn<bool>("eventLoopBetween");

    QTest::newRow("back to back") << false;
    QTest::newRow("event loop running between mkdirs") << true;
}

void TestRootWatcher::burstIsCoalesced()
{
    QFETCH(bool, eventLoopBetween);
    constexpr int Burst = 50;

    QTemporaryDir root;
    QVERIFY(root.isValid());
    RootWatcher watcher;
    watcher.setCoalesceInterval(std::chrono::milliseconds(200 * test::timeoutFactor()));
    QVERIFY(watcher.setRoot(root.path()));
    QSignalSpy changed(&watcher, &RootWatcher::changed);
    // What a rescan at each changed() would see.
    QList<int> seen;
    connect(&watcher, &RootWatcher::changed, this, [&] {
        seen.append(QDir(root.path()).entryList(QDir::Dirs | QDir::NoDotAndDotDot).size());
    });

    for (int i = 0; i < Burst; ++i) {
        QVERIFY(QDir().mkdir(
            join(root.path(), QStringLiteral("DC%1").arg(i, 3, 10, QLatin1Char('0')))));
        if (eventLoopBetween)
            QCoreApplication::processEvents(); // the watcher reads each change on its own
    }
    // Not a wait: the kernel queued every change before mkdir() returned, so one pass of the
    // event loop hands all of them to the watcher; from then on only its timer is outstanding.
    QCoreApplication::processEvents();
    QTRY_VERIFY_WITH_TIMEOUT(changed.count() >= 1 && !watcher.hasPendingChange(), timeoutMs());

    QVERIFY2(changed.count() <= 5, qPrintable(QString::number(changed.count())));
    QCOMPARE(seen.last(), Burst);
}

void TestRootWatcher::steadyStreamDoesNotPostpone()
{
    // A producer that changes the root more often than the coalescing interval, for a long time:
    // changed() must come while it is still running, not only once it stops.
    constexpr int Changes = 100;
    QTemporaryDir root;
    QVERIFY(root.isValid());
    RootWatcher watcher;
    watcher.setCoalesceInterval(std::chrono::milliseconds(100));
    QVERIFY(watcher.setRoot(root.path()));
    QSignalSpy changed(&watcher, &RootWatcher::changed);

    int made = 0;
    QTimer producer;
    producer.setInterval(20);
    connect(&producer, &QTimer::timeout, this, [&] {
        QDir().mkdir(join(root.path(), QStringLiteral("DC%1").arg(made)));
        if (++made == Changes)
            producer.stop();
    });
    producer.start();
    QVERIFY(changed.wait(timeoutMs()));
    QVERIFY2(made < Changes, "changed() waited for the stream to end");
    producer.stop();
}

void TestRootWatcher::rootDeleted()
{
    QTemporaryDir base;
    QVERIFY(base.isValid());
    const QString root = join(base.path(), QStringLiteral("datas"));
    QVERIFY(QDir().mkdir(root));
    RootWatcher watcher;
    watcher.setCoalesceInterval(std::chrono::milliseconds(50));
    QVERIFY(watcher.setRoot(root));
    QSignalSpy changed(&watcher, &RootWatcher::changed);
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("no longer watched")));

    QVERIFY(QDir().rmdir(root));
    QVERIFY(changed.wait(timeoutMs()));
    QVERIFY(!watcher.isWatching());
}

void TestRootWatcher::rootRenamedAndMadeAgain()
{
    // A directory's own watch says nothing when it is renamed: its parent's tells.
    QTemporaryDir base;
    QVERIFY(base.isValid());
    const QString root = join(base.path(), QStringLiteral("datas"));
    QVERIFY(QDir().mkdir(root));
    RootWatcher watcher;
    watcher.setCoalesceInterval(std::chrono::milliseconds(50));
    QVERIFY(watcher.setRoot(root));
    QSignalSpy changed(&watcher, &RootWatcher::changed);
    QVERIFY(!watcher.rootReplaced());

    QVERIFY(QDir().rename(root, join(base.path(), QStringLiteral("datas.old"))));
    QVERIFY(QDir().mkdir(root));
    QVERIFY(changed.wait(timeoutMs()));
    QVERIFY(watcher.rootReplaced());
    QVERIFY(watcher.setRoot(root));
    QVERIFY(!watcher.rootReplaced());
}

void TestRootWatcher::rootMountedOver()
{
    // A filesystem mounted over the root (a disk that comes up late) changes no directory: the
    // mount table tells. In a mount namespace of this test's own: nothing else sees the mount.
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0)
        QSKIP("needs a mount namespace of its own (CAP_SYS_ADMIN)");
    QTemporaryDir base;
    QVERIFY(base.isValid());
    const QString root = join(base.path(), QStringLiteral("datas"));
    QVERIFY(QDir().mkdir(root));
    RootWatcher watcher;
    watcher.setCoalesceInterval(std::chrono::milliseconds(50));
    QVERIFY(watcher.setRoot(root));
    QSignalSpy changed(&watcher, &RootWatcher::changed);

    const QByteArray native = QFile::encodeName(root);
    if (::mount("tmpfs", native.constData(), "tmpfs", 0, "size=1m") != 0)
        QSKIP("cannot mount a tmpfs here");
    const auto unmount = qScopeGuard([&native] { ::umount2(native.constData(), MNT_DETACH); });
    QVERIFY(changed.wait(timeoutMs()));
    QVERIFY(watcher.rootReplaced());
}

QTEST_GUILESS_MAIN(TestRootWatcher)
#include "tst_rootwatcher.moc"
