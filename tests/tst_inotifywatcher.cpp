// The inotify watcher on a real inotify fd: completed files reported once, open files not before
// their close, hidden temporaries ignored, new and renamed directories followed without losing a
// file, overflow reported (and the watches resynchronised), removeTree, a top directory that
// goes away, and the fd closed by the destructor.

#include "core/inotifywatcher.h"
#include "tests/testlib/testtree.h"

#include <cstring>

#include <sys/file.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QRegularExpression>
#include <QSet>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

using namespace isocket;

namespace {

const QString MaxQueuedEvents = QStringLiteral("/proc/sys/fs/inotify/max_queued_events");

int timeoutMs()
{
    return 5000 * test::timeoutFactor();
}

QStringList paths(const QSignalSpy &spy)
{
    QStringList result;
    for (const QList<QVariant> &args : spy)
        result.append(args.at(0).toString());
    return result;
}

QString join(const QString &dir, const QString &rel)
{
    return dir + QLatin1Char('/') + rel;
}

bool moveFile(const QString &from, const QString &to)
{
    return ::rename(QFile::encodeName(from).constData(), QFile::encodeName(to).constData()) == 0;
}

// How many inotify instances this process holds (raw link targets: QFileInfo would resolve
// "anon_inode:inotify" against the working directory).
int inotifyFdCount()
{
    int count = 0;
    const QStringList fds = QDir(QStringLiteral("/proc/self/fd"))
                                .entryList(QDir::AllEntries | QDir::System | QDir::NoDotAndDotDot);
    for (const QString &fd : fds) {
        char target[256] = {};
        const QByteArray link = QFile::encodeName(QStringLiteral("/proc/self/fd/") + fd);
        const ssize_t n = ::readlink(link.constData(), target, sizeof target - 1);
        if (n > 0 && std::strcmp(target, "anon_inode:inotify") == 0)
            ++count;
    }
    return count;
}

QByteArray rawEvent(int wd, quint32 mask, const QByteArray &name = QByteArray())
{
    inotify_event event{};
    event.wd = wd;
    event.mask = mask;
    event.len = name.isEmpty() ? 0 : quint32((name.size() + 1 + 15) / 16 * 16);
    QByteArray bytes(reinterpret_cast<const char *>(&event), sizeof event);
    if (event.len) {
        QByteArray padded = name;
        padded.resize(event.len, '\0');
        bytes += padded;
    }
    return bytes;
}

} // namespace

class TestInotifyWatcher : public QObject
{
    Q_OBJECT

private slots:
    void init();
    void cleanup();

    void completedFileReportedOnce_data();
    void completedFileReportedOnce();
    void openFileNotReportedUntilClosed();
    void newDirectoriesLoseNothing_data();
    void newDirectoriesLoseNothing();
    void renamedSubdirectory_data();
    void renamedSubdirectory();
    void hiddenAndSymlinkedDirectoriesNotWatched();
    void overflow_data();
    void overflow();
    void removeTreeStopsEvents_data();
    void removeTreeStopsEvents();
    void topDirectoryGone_data();
    void topDirectoryGone();
    void addTreeRefusesMissingDirectory();
    void destructorClosesFd();

private:
    void restoreMaxQueuedEvents();

    QByteArray m_savedMaxQueued; // restored by cleanup() when a test lowered it
};

void TestInotifyWatcher::init()
{
    QTest::failOnWarning(QRegularExpression(QStringLiteral(".*")));
}

void TestInotifyWatcher::cleanup()
{
    restoreMaxQueuedEvents();
}

void TestInotifyWatcher::restoreMaxQueuedEvents()
{
    if (m_savedMaxQueued.isEmpty())
        return;
    QFile file(MaxQueuedEvents);
    if (!file.open(QIODevice::WriteOnly) || file.write(m_savedMaxQueued) != m_savedMaxQueued.size())
        qFatal("cannot restore %s", qPrintable(MaxQueuedEvents));
    m_savedMaxQueued.clear();
}

void TestInotifyWatcher::completedFileReportedOnce_data()
{
    QTest::addColumn<QString>("how");
    QTest::addColumn<QString>("relPath");

    const QString write = QStringLiteral("write");
    const QString moveIn = QStringLiteral("move in");
    const QString temporary = QStringLiteral("temporary");
    const QString top = QStringLiteral("data.bin");
    const QString inSub = QStringLiteral("sub/data.bin");
    QTest::newRow("written and closed") << write << top;
    QTest::newRow("written in an existing subdirectory") << write << inSub;
    QTest::newRow("renamed in from outside") << moveIn << top;
    QTest::newRow("hidden temporary renamed") << temporary << top;
    QTest::newRow("hidden temporary renamed in subdirectory") << temporary << inSub;
}

void TestInotifyWatcher::completedFileReportedOnce()
{
    QFETCH(QString, how);
    QFETCH(QString, relPath);

    QTemporaryDir root;
    QTemporaryDir outside;
    QVERIFY(root.isValid() && outside.isValid());
    QVERIFY(QDir().mkpath(join(root.path(), QStringLiteral("sub"))));
    QString error;
    const auto watcher = InotifyWatcher::create(&error);
    QVERIFY2(watcher, qPrintable(error));
    QVERIFY2(watcher->addTree(root.path()), qPrintable(watcher->errorString()));
    QSignalSpy closed(watcher.get(), &InotifyWatcher::fileClosed);
    QVERIFY(closed.isValid());

    const QString finalPath = join(root.path(), relPath);
    if (how == QLatin1String("write")) {
        QVERIFY(test::writeFile(finalPath, "payload"));
    } else if (how == QLatin1String("move in")) {
        const QString source = join(outside.path(), QStringLiteral("data.bin"));
        QVERIFY(test::writeFile(source, "payload"));
        QVERIFY(moveFile(source, finalPath));
    } else {
        const QString temporary =
            QFileInfo(finalPath).absolutePath() + QStringLiteral("/.data.tmp");
        QVERIFY(test::writeFile(temporary, "payload"));
        QVERIFY(moveFile(temporary, finalPath));
    }
    QTRY_VERIFY_WITH_TIMEOUT(paths(closed).contains(finalPath), timeoutMs());

    // Barrier: a later file's event has arrived, so any duplicate or temporary would have too.
    const QString barrier = join(root.path(), QStringLiteral("barrier"));
    QVERIFY(test::writeFile(barrier, "b"));
    QTRY_VERIFY_WITH_TIMEOUT(paths(closed).contains(barrier), timeoutMs());
    QCOMPARE(paths(closed), (QStringList{finalPath, barrier}));
}

void TestInotifyWatcher::openFileNotReportedUntilClosed()
{
    QTemporaryDir root;
    QVERIFY(root.isValid());
    const auto watcher = InotifyWatcher::create();
    QVERIFY(watcher);
    QVERIFY(watcher->addTree(root.path()));
    QSignalSpy closed(watcher.get(), &InotifyWatcher::fileClosed);

    const QString growing = join(root.path(), QStringLiteral("growing"));
    QFile file(growing);
    QVERIFY(file.open(QIODevice::WriteOnly));
    QCOMPARE(file.write("first half"), qint64(10));
    QVERIFY(file.flush());

    const QString other = join(root.path(), QStringLiteral("other"));
    QVERIFY(test::writeFile(other, "x"));
    QTRY_VERIFY_WITH_TIMEOUT(paths(closed).contains(other), timeoutMs());
    QVERIFY(!paths(closed).contains(growing));

    QCOMPARE(file.write("second half"), qint64(11));
    file.close();
    QTRY_VERIFY_WITH_TIMEOUT(paths(closed).contains(growing), timeoutMs());
    QCOMPARE(paths(closed), (QStringList{other, growing}));
}

void TestInotifyWatcher::newDirectoriesLoseNothing_data()
{
    QTest::addColumn<bool>("movedIn");
    QTest::addColumn<QString>("relDir");

    QTest::newRow("mkdir") << false << QStringLiteral("a");
    QTest::newRow("mkdir -p two levels") << false << QStringLiteral("a/b");
    QTest::newRow("mkdir -p four levels") << false << QStringLiteral("a/b/c/d");
    QTest::newRow("moved in") << true << QStringLiteral("a");
    QTest::newRow("moved in, three levels") << true << QStringLiteral("a/b/c");
}

void TestInotifyWatcher::newDirectoriesLoseNothing()
{
    QFETCH(bool, movedIn);
    QFETCH(QString, relDir);

    QTemporaryDir root;
    QTemporaryDir outside;
    QVERIFY(root.isValid() && outside.isValid());
    const auto watcher = InotifyWatcher::create();
    QVERIFY(watcher);
    QVERIFY(watcher->addTree(root.path()));
    QSignalSpy closed(watcher.get(), &InotifyWatcher::fileClosed);
    QSignalSpy added(watcher.get(), &InotifyWatcher::directoryAdded);

    // What the engine does: a close event is a file; a new directory is swept recursively.
    QSet<QString> covered;
    connect(watcher.get(), &InotifyWatcher::fileClosed, this,
            [&covered](const QString &path) { covered.insert(path); });
    connect(watcher.get(), &InotifyWatcher::directoryAdded, this, [&covered](const QString &dir) {
        QDirIterator it(dir, QDir::Files, QDirIterator::Subdirectories);
        while (it.hasNext())
            covered.insert(it.next());
    });

    // One file at every level, written as fast as possible after the directories appear.
    const QString base = movedIn ? outside.path() : root.path();
    QStringList dirs;
    QString rel;
    for (const QString &part : relDir.split(QLatin1Char('/'))) {
        rel = rel.isEmpty() ? part : rel + QLatin1Char('/') + part;
        dirs.append(rel);
    }
    QVERIFY(QDir().mkpath(join(base, relDir)));
    QStringList files;
    for (const QString &dir : std::as_const(dirs)) {
        QVERIFY(test::writeFile(join(join(base, dir), QStringLiteral("f")), dir.toUtf8()));
        files.append(join(join(root.path(), dir), QStringLiteral("f")));
    }
    if (movedIn)
        QVERIFY(moveFile(join(outside.path(), dirs.first()), join(root.path(), dirs.first())));

    for (const QString &file : std::as_const(files))
        QTRY_VERIFY2_WITH_TIMEOUT(covered.contains(file), qPrintable(file), timeoutMs());
    QVERIFY(paths(added).contains(join(root.path(), dirs.first())));

    // Every new directory is now watched: a later file in the deepest one has its own event.
    for (const QString &dir : std::as_const(dirs))
        QVERIFY2(watcher->watchedDirectories().contains(join(root.path(), dir)), qPrintable(dir));
    const QString later = join(join(root.path(), relDir), QStringLiteral("later"));
    QVERIFY(test::writeFile(later, "later"));
    QTRY_VERIFY_WITH_TIMEOUT(paths(closed).contains(later), timeoutMs());
    for (const QString &path : paths(closed))
        QVERIFY2(files.contains(path) || path == later, qPrintable(path));
}

void TestInotifyWatcher::renamedSubdirectory_data()
{
    QTest::addColumn<bool>("staysInside");

    QTest::newRow("renamed inside the tree") << true;
    QTest::newRow("moved out of the tree") << false;
}

void TestInotifyWatcher::renamedSubdirectory()
{
    QFETCH(bool, staysInside);

    QTemporaryDir root;
    QTemporaryDir outside;
    QVERIFY(root.isValid() && outside.isValid());
    const QString oldDir = join(root.path(), QStringLiteral("old"));
    QVERIFY(QDir().mkpath(join(oldDir, QStringLiteral("deep"))));
    const auto watcher = InotifyWatcher::create();
    QVERIFY(watcher);
    QVERIFY(watcher->addTree(root.path()));
    QSignalSpy closed(watcher.get(), &InotifyWatcher::fileClosed);
    QSignalSpy added(watcher.get(), &InotifyWatcher::directoryAdded);

    const QString newDir = staysInside ? join(root.path(), QStringLiteral("new"))
                                       : join(outside.path(), QStringLiteral("new"));
    QVERIFY(moveFile(oldDir, newDir));
    const QString file = join(newDir, QStringLiteral("deep/f"));
    QVERIFY(test::writeFile(file, "f"));

    const QString barrier = join(root.path(), QStringLiteral("barrier"));
    QVERIFY(test::writeFile(barrier, "b"));
    QTRY_VERIFY_WITH_TIMEOUT(paths(closed).contains(barrier), timeoutMs());

    const QStringList watched = watcher->watchedDirectories();
    QVERIFY(!watched.contains(oldDir));
    QVERIFY(!watched.contains(join(oldDir, QStringLiteral("deep"))));
    if (staysInside) {
        // The new name is watched; the file is reported by its event or by the sweep.
        QCOMPARE(paths(added), QStringList{newDir});
        QVERIFY(watched.contains(join(newDir, QStringLiteral("deep"))));
        const QString later = join(newDir, QStringLiteral("deep/later"));
        QVERIFY(test::writeFile(later, "l"));
        QTRY_VERIFY_WITH_TIMEOUT(paths(closed).contains(later), timeoutMs());
        for (const QString &path : paths(closed))
            QVERIFY2(path.startsWith(newDir) || path == barrier, qPrintable(path));
    } else {
        QCOMPARE(watched, QStringList{root.path()});
        QCOMPARE(paths(closed), QStringList{barrier});
        QCOMPARE(added.count(), 0);
    }
}

void TestInotifyWatcher::hiddenAndSymlinkedDirectoriesNotWatched()
{
    QTemporaryDir root;
    QTemporaryDir outside;
    QVERIFY(root.isValid() && outside.isValid());
    QVERIFY(QDir().mkpath(join(root.path(), QStringLiteral("a/b"))));
    QVERIFY(QDir().mkpath(join(root.path(), QStringLiteral(".hidden/x"))));
    QVERIFY(QFile::link(outside.path(), join(root.path(), QStringLiteral("link"))));
    const auto watcher = InotifyWatcher::create();
    QVERIFY(watcher);
    QVERIFY(watcher->addTree(root.path()));
    QCOMPARE(watcher->watchedDirectories(),
             (QStringList{root.path(), join(root.path(), QStringLiteral("a")),
                          join(root.path(), QStringLiteral("a/b"))}));

    QSignalSpy closed(watcher.get(), &InotifyWatcher::fileClosed);
    QSignalSpy added(watcher.get(), &InotifyWatcher::directoryAdded);
    QVERIFY(test::writeFile(join(root.path(), QStringLiteral(".hidden/x/f")), "h"));
    QVERIFY(test::writeFile(join(outside.path(), QStringLiteral("f")), "o"));
    QVERIFY(test::writeFile(join(root.path(), QStringLiteral("a/.partial")), "p"));
    QVERIFY(QDir().mkpath(join(root.path(), QStringLiteral(".newhidden"))));
    const QString barrier = join(root.path(), QStringLiteral("a/b/barrier"));
    QVERIFY(test::writeFile(barrier, "b"));
    QTRY_VERIFY_WITH_TIMEOUT(paths(closed).contains(barrier), timeoutMs());
    QCOMPARE(paths(closed), QStringList{barrier});
    QCOMPARE(added.count(), 0);
}

void TestInotifyWatcher::overflow_data()
{
    QTest::addColumn<QString>("how");

    QTest::newRow("kernel queue full") << QStringLiteral("kernel");
    QTest::newRow("injected IN_Q_OVERFLOW") << QStringLiteral("inject");
    QTest::newRow("truncated buffer") << QStringLiteral("truncate");
}

void TestInotifyWatcher::overflow()
{
    QFETCH(QString, how);

    QTemporaryDir root;
    QVERIFY(root.isValid());
    std::unique_ptr<InotifyWatcher> watcher;
    if (how == QLatin1String("kernel")) {
        // The limit is taken when the inotify instance is created: lower it just for that.
        // It is system-wide: keep the window short, so other processes are not affected, and
        // hold a lock so that a concurrent run of this test never saves our lowered value.
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
        watcher = InotifyWatcher::create();
        restoreMaxQueuedEvents();
        if (!lowered)
            QSKIP("fs.inotify.max_queued_events cannot be lowered here");
    } else {
        watcher = InotifyWatcher::create();
    }
    QVERIFY(watcher);
    QVERIFY(watcher->addTree(root.path()));
    QSignalSpy overflowed(watcher.get(), &InotifyWatcher::overflowed);
    QSignalSpy closed(watcher.get(), &InotifyWatcher::fileClosed);
    QTest::ignoreMessage(QtWarningMsg,
                         QRegularExpression(how == QLatin1String("truncate")
                                                ? QStringLiteral("truncated inotify event buffer")
                                                : QStringLiteral("fs.inotify.max_queued_events")));

    // A directory created while events are lost must still be watched afterwards.
    const QString lostDir = join(root.path(), QStringLiteral("lost"));
    if (how == QLatin1String("kernel")) {
        for (int i = 0; i < 64; ++i)
            QVERIFY(test::writeFile(join(root.path(), QString::number(i)), "x"));
        QVERIFY(QDir().mkdir(lostDir)); // its event is beyond the queue's end
        QVERIFY(overflowed.wait(timeoutMs()));
    } else if (how == QLatin1String("inject")) {
        QVERIFY(QDir().mkdir(lostDir));
        watcher->processEvents(rawEvent(-1, IN_Q_OVERFLOW));
    } else {
        QVERIFY(QDir().mkdir(lostDir));
        watcher->processEvents(rawEvent(1, IN_CLOSE_WRITE, "name").left(20));
    }
    QCOMPARE(overflowed.count(), 1);
    QVERIFY(watcher->watchedDirectories().contains(lostDir));

    // Still working after the overflow, in the directory whose creation was lost.
    const QString after = join(lostDir, QStringLiteral("after"));
    QVERIFY(test::writeFile(after, "a"));
    QTRY_VERIFY_WITH_TIMEOUT(paths(closed).contains(after), timeoutMs());
    QCOMPARE(overflowed.count(), 1);
}

void TestInotifyWatcher::removeTreeStopsEvents_data()
{
    QTest::addColumn<QString>("removed");
    QTest::addColumn<QStringList>("silent");
    QTest::addColumn<QStringList>("reported");

    const QString f = QStringLiteral("f");
    const QString subF = QStringLiteral("sub/f");
    const QString deepF = QStringLiteral("sub/deep/f");
    QTest::newRow("whole tree") << QString() << QStringList{f, subF, deepF} << QStringList{};
    QTest::newRow("subtree") << QStringLiteral("sub") << QStringList{subF, deepF} << QStringList{f};
    QTest::newRow("deepest") << QStringLiteral("sub/deep") << QStringList{deepF}
                             << QStringList{f, subF};
}

void TestInotifyWatcher::removeTreeStopsEvents()
{
    QFETCH(QString, removed);
    QFETCH(QStringList, silent);
    QFETCH(QStringList, reported);

    QTemporaryDir root;
    QTemporaryDir other;
    QVERIFY(root.isValid() && other.isValid());
    QVERIFY(QDir().mkpath(join(root.path(), QStringLiteral("sub/deep"))));
    const auto watcher = InotifyWatcher::create();
    QVERIFY(watcher);
    QVERIFY(watcher->addTree(root.path()));
    QVERIFY(watcher->addTree(other.path())); // for the barrier
    QSignalSpy closed(watcher.get(), &InotifyWatcher::fileClosed);

    const QString removedDir = removed.isEmpty() ? root.path() : join(root.path(), removed);
    watcher->removeTree(removedDir);
    for (const QString &dir : watcher->watchedDirectories())
        QVERIFY2(dir != removedDir && !dir.startsWith(removedDir + QLatin1Char('/')),
                 qPrintable(dir));
    QVERIFY(watcher->watchedDirectories().contains(other.path()));

    QStringList expected;
    for (const QString &rel : silent)
        QVERIFY(test::writeFile(join(root.path(), rel), "s"));
    for (const QString &rel : reported) {
        QVERIFY(test::writeFile(join(root.path(), rel), "r"));
        expected.append(join(root.path(), rel));
    }
    const QString barrier = join(other.path(), QStringLiteral("barrier"));
    QVERIFY(test::writeFile(barrier, "b"));
    expected.append(barrier);
    QTRY_VERIFY_WITH_TIMEOUT(paths(closed).contains(barrier), timeoutMs());
    QCOMPARE(paths(closed), expected);
}

void TestInotifyWatcher::topDirectoryGone_data()
{
    QTest::addColumn<bool>("deleted");

    QTest::newRow("deleted") << true;
    QTest::newRow("moved away") << false;
}

void TestInotifyWatcher::topDirectoryGone()
{
    QFETCH(bool, deleted);

    QTemporaryDir base;
    QTemporaryDir other;
    QVERIFY(base.isValid() && other.isValid());
    const QString top = join(base.path(), QStringLiteral("DC1"));
    QVERIFY(QDir().mkpath(join(top, QStringLiteral("sub"))));
    QVERIFY(test::writeFile(join(top, QStringLiteral("sub/f")), "f"));
    const auto watcher = InotifyWatcher::create();
    QVERIFY(watcher);
    QVERIFY(watcher->addTree(top));
    QVERIFY(watcher->addTree(other.path())); // for the barrier
    QSignalSpy gone(watcher.get(), &InotifyWatcher::directoryGone);
    QSignalSpy closed(watcher.get(), &InotifyWatcher::fileClosed);
    QTest::ignoreMessage(QtWarningMsg, QRegularExpression(QStringLiteral("was deleted or moved")));

    const QString movedTo = join(base.path(), QStringLiteral("elsewhere"));
    if (deleted)
        QVERIFY(QDir(top).removeRecursively());
    else
        QVERIFY(moveFile(top, movedTo));
    QTRY_COMPARE_WITH_TIMEOUT(gone.count(), 1, timeoutMs());
    QCOMPARE(gone.at(0).at(0).toString(), top);
    QCOMPARE(watcher->watchedDirectories(), QStringList{other.path()});

    if (!deleted)
        QVERIFY(test::writeFile(join(movedTo, QStringLiteral("sub/g")), "g"));
    const QString barrier = join(other.path(), QStringLiteral("barrier"));
    QVERIFY(test::writeFile(barrier, "b"));
    QTRY_VERIFY_WITH_TIMEOUT(paths(closed).contains(barrier), timeoutMs());
    QCOMPARE(paths(closed), QStringList{barrier});
    QCOMPARE(gone.count(), 1);
}

void TestInotifyWatcher::addTreeRefusesMissingDirectory()
{
    QTemporaryDir root;
    QVERIFY(root.isValid());
    const auto watcher = InotifyWatcher::create();
    QVERIFY(watcher);
    const QString missing = join(root.path(), QStringLiteral("missing"));
    QVERIFY(!watcher->addTree(missing));
    QVERIFY2(watcher->errorString().contains(missing), qPrintable(watcher->errorString()));
    QVERIFY(watcher->watchedDirectories().isEmpty());

    const QString file = join(root.path(), QStringLiteral("file"));
    QVERIFY(test::writeFile(file, "f"));
    QVERIFY(!watcher->addTree(file));
    QVERIFY(watcher->watchedDirectories().isEmpty());
}

void TestInotifyWatcher::destructorClosesFd()
{
    QTemporaryDir root;
    QVERIFY(root.isValid());
    QVERIFY(QDir().mkpath(join(root.path(), QStringLiteral("a/b"))));
    const int before = inotifyFdCount();

    auto watcher = InotifyWatcher::create();
    QVERIFY(watcher);
    QCOMPARE(inotifyFdCount(), before + 1);
    QVERIFY(watcher->addTree(root.path()));
    QVERIFY(test::writeFile(join(root.path(), QStringLiteral("a/b/unread")), "u")); // pending
    watcher.reset();
    QCOMPARE(inotifyFdCount(), before);
}

QTEST_GUILESS_MAIN(TestInotifyWatcher)
#include "tst_inotifywatcher.moc"
