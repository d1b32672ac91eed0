// The committer: partials become durable and visible at their final names, in batches, with
// each way of syncing (an fsync per file, or syncfs for a batch while little else is dirty),
// and a failed job fails alone.

#include "core/committer.h"
#include "core/fileutil.h"
#include "tests/testlib/testtree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <QDir>
#include <QFile>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <vector>

using namespace isocket;
namespace {
int timeout(int ms)
{
    return ms * isocket::test::timeoutFactor();
}
} // namespace

Q_DECLARE_METATYPE(isocket::ErrorCode)

class TestCommitter : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void syncfsOnlyWhereItMakesDurable_data();
    void syncfsOnlyWhereItMakesDurable();
    void rootFilesystemChoosesTheSync();
    void batchLandsAtFinalNames_data();
    void batchLandsAtFinalNames();
    void failedJobFailsAlone();
    void heldBatchFinishedByDirectoriesWhenOthersDirty();
    void syncsEachFileThenEachDirectoryOnce_data();
    void syncsEachFileThenEachDirectoryOnce();
    void failedFileSyncFailsThatFile_data();
    void failedFileSyncFailsThatFile();
    void tokensAreUniqueAcrossSubmits();
    void streamOfBatches();
    void waitsForFilesStillBeingWritten();
    void finishesFilesBeforePlacingThem();
    void answersThroughDoneOnItsThread();
    void batchesAreFairBetweenSources();

private:
    static SharedFd openDir(const QString &path);
    // A partial `.name.part` with `content` in `dir`, as the store leaves it for the committer.
    static CommitJob partial(const QString &dir, const SharedFd &dirFd, const QString &name,
                             const QByteArray &content);
};

void TestCommitter::initTestCase()
{
    qRegisterMetaType<isocket::ErrorCode>("isocket::ErrorCode");
}

SharedFd TestCommitter::openDir(const QString &path)
{
    return std::make_shared<const UniqueFd>(
        ::open(QFile::encodeName(path).constData(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

CommitJob TestCommitter::partial(const QString &dir, const SharedFd &dirFd, const QString &name,
                                 const QByteArray &content)
{
    const QString part = QLatin1Char('.') + name + QStringLiteral(".part");
    UniqueFd fd(::openat(dirFd->get(), QFile::encodeName(part).constData(),
                         O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid() ||
        ::write(fd.get(), content.constData(), size_t(content.size())) != content.size())
        qFatal("cannot write a partial in %s", qPrintable(dir));
    return CommitJob{std::move(fd), dirFd, part, name};
}

void TestCommitter::batchLandsAtFinalNames_data()
{
    QTest::addColumn<int>("mode");
    QTest::addColumn<int>("files");
    QTest::addColumn<qint64>("otherDirty"); // bytes dirty on the system besides the batch
    QTest::addColumn<bool>("syncfs");       // expected, where the kernel allows it

    QTest::newRow("auto, a flood") << int(CommitSync::Auto) << 40 << qint64(0) << true;
    // Another process's dirty data: syncfs would write it back too (issue 19).
    QTest::newRow("auto, a flood, others dirty")
        << int(CommitSync::Auto) << 40 << Committer::SyncfsMaxOtherDirty + 1 << false;
    QTest::newRow("auto, a flood, a little else dirty")
        << int(CommitSync::Auto) << 40 << Committer::SyncfsMaxOtherDirty << true;
    QTest::newRow("auto, a few files")
        << int(CommitSync::Auto) << int(Committer::SyncfsMinBatch - 1) << qint64(0) << false;
    QTest::newRow("per file, a flood") << int(CommitSync::PerFile) << 40 << qint64(0) << false;
}

void TestCommitter::batchLandsAtFinalNames()
{
    QFETCH(int, mode);
    QFETCH(int, files);
    QFETCH(qint64, otherDirty);
    QFETCH(bool, syncfs);

    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    // Two directories, so the batch has more than one to make durable.
    const QStringList dirs{tmp.filePath(QStringLiteral("a")), tmp.filePath(QStringLiteral("b"))};
    QList<SharedFd> dirFds;
    for (const QString &d : dirs) {
        QVERIFY(QDir().mkpath(d));
        dirFds << openDir(d);
        QVERIFY(dirFds.last()->valid());
    }

    Committer committer{CommitSync(mode)};
    qint64 batchBytes = 0;
    for (int i = 0; i < files; ++i)
        batchBytes += 100 + i;
    // The batch's own data is dirty until its syncfs, the other data stays.
    committer.setDirtyProbe([=, first = std::make_shared<std::atomic<bool>>(true)] {
        return first->exchange(false) ? batchBytes + otherDirty : otherDirty;
    });
    QSignalSpy committed(&committer, &Committer::committed);
    std::vector<CommitJob> jobs;
    for (int i = 0; i < files; ++i) {
        const int d = i % 2;
        jobs.push_back(partial(dirs[d], dirFds[d], QStringLiteral("f%1.dat").arg(i),
                               QByteArray(100 + i, char('a' + i % 26))));
    }
    const std::vector<quint64> tokens = committer.submit(std::move(jobs));
    QCOMPARE(int(tokens.size()), files);
    QTRY_COMPARE_WITH_TIMEOUT(committed.count(), files, timeout(10000));

    for (int i = 0; i < files; ++i) {
        const QList<QVariant> args = committed.at(i);
        QCOMPARE(args.at(0).toULongLong(), tokens[size_t(i)]); // in submission order
        QCOMPARE(args.at(1).value<ErrorCode>(), ErrorCode::Ok);
        const QString dir = dirs[i % 2];
        QFile f(dir + QStringLiteral("/f%1.dat").arg(i));
        QVERIFY2(f.open(QIODevice::ReadOnly), qPrintable(f.fileName()));
        QCOMPARE(f.readAll(), QByteArray(100 + i, char('a' + i % 26)));
    }
    for (const QString &d : dirs) // no partial left behind
        QCOMPARE(QDir(d).entryList(QDir::Files | QDir::Hidden).filter(QStringLiteral(".part")),
                 QStringList());

    const Committer::Stats stats = committer.stats();
    QCOMPARE(stats.batches, quint64(1)); // submitted together, committed together
    QCOMPARE(stats.files, quint64(files));
    const bool viaSyncfs = syncfs && Committer::syncfsReportsErrors();
    QCOMPARE(stats.syncfsBatches, quint64(viaSyncfs ? 1 : 0));
    // One filesystem: a syncfs before the links and one after (nothing else was queued).
    QCOMPARE(stats.syncfsCalls, quint64(viaSyncfs ? 2 : 0));
}

void TestCommitter::failedJobFailsAlone()
{
    // Auto with syncfs, Auto with fsyncs (others' dirty data), PerFile.
    for (const auto &[mode, otherDirty] :
         {std::pair{CommitSync::Auto, qint64(0)}, std::pair{CommitSync::Auto, qint64(1) << 30},
          std::pair{CommitSync::PerFile, qint64(0)}}) {
        QTemporaryDir tmp;
        QVERIFY(tmp.isValid());
        const SharedFd dirFd = openDir(tmp.path());
        Committer committer(mode);
        committer.setDirtyProbe([otherDirty = otherDirty] { return otherDirty; });
        QSignalSpy committed(&committer, &Committer::committed);

        std::vector<CommitJob> jobs;
        for (int i = 0; i < 8; ++i)
            jobs.push_back(partial(tmp.path(), dirFd, QStringLiteral("f%1").arg(i), "data"));
        // Job 3's partial vanished before its commit (say, an operator cleaned up): its rename
        // fails, the seven others are stored.
        QVERIFY(QFile::remove(tmp.filePath(jobs[3].partName)));
        const std::vector<quint64> tokens = committer.submit(std::move(jobs));
        QTRY_COMPARE_WITH_TIMEOUT(committed.count(), 8, timeout(10000));
        for (int i = 0; i < 8; ++i) {
            const QList<QVariant> args = committed.at(i);
            QCOMPARE(args.at(0).toULongLong(), tokens[size_t(i)]);
            if (i == 3) {
                QCOMPARE(args.at(1).value<ErrorCode>(), ErrorCode::IoError);
                QVERIFY2(args.at(2).toString().contains(QStringLiteral("rename to f3")),
                         qPrintable(args.at(2).toString()));
                QVERIFY(!QFile::exists(tmp.filePath(QStringLiteral("f3"))));
            } else {
                QCOMPARE(args.at(1).value<ErrorCode>(), ErrorCode::Ok);
                QVERIFY(QFile::exists(tmp.filePath(QStringLiteral("f%1").arg(i))));
            }
        }
    }
}

namespace {

ino_t inodeOf(int fd)
{
    struct stat st = {};
    return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

} // namespace

void TestCommitter::heldBatchFinishedByDirectoriesWhenOthersDirty()
{
    // A batch put in place after a syncfs waits for the next sync to make its renames durable.
    // If, by then, another process has dirtied the disk, the next round goes per file: the held
    // batch's directories get an fsync (one each), and only then is it answered, Ok, in order.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QStringList dirs{tmp.filePath(QStringLiteral("a")), tmp.filePath(QStringLiteral("b"))};
    QList<SharedFd> dirFds;
    for (const QString &d : dirs) {
        QVERIFY(QDir().mkpath(d));
        dirFds << openDir(d);
    }
    Committer committer;
    std::atomic<int> probes{0};
    committer.setDirtyProbe([&probes] {
        // The first batch finds nothing else dirty; from then on a big copy is being written.
        return ++probes == 1 ? qint64(0) : qint64(400) << 20;
    });
    std::atomic<int> dirSyncs{0};
    committer.setSyncFunction([&dirSyncs](int fd, Committer::SyncTarget target) {
        if (target == Committer::SyncTarget::Directory)
            ++dirSyncs;
        return ::fsync(fd) == 0 ? 0 : errno;
    });
    QSignalSpy committed(&committer, &Committer::committed);
    std::vector<CommitJob> jobs;
    constexpr int Files = 8;
    for (int i = 0; i < Files; ++i)
        jobs.push_back(partial(dirs[i % 2], dirFds[i % 2], QStringLiteral("h%1").arg(i), "data"));
    const std::vector<quint64> tokens = committer.submit(std::move(jobs));
    QTRY_COMPARE_WITH_TIMEOUT(committed.count(), Files, timeout(10000));
    for (int i = 0; i < Files; ++i) {
        QCOMPARE(committed.at(i).at(0).toULongLong(), tokens[size_t(i)]);
        QCOMPARE(committed.at(i).at(1).value<ErrorCode>(), ErrorCode::Ok);
        QVERIFY(QFile::exists(dirs[i % 2] + QStringLiteral("/h%1").arg(i)));
    }
    QCOMPARE(dirSyncs.load(), 2); // each directory of the held batch, once
    const Committer::Stats stats = committer.stats();
    if (Committer::syncfsReportsErrors()) {
        QCOMPARE(stats.syncfsBatches, quint64(1));
        QCOMPARE(stats.syncfsCalls, quint64(1)); // the second sync was the directories'
    }
}

void TestCommitter::syncsEachFileThenEachDirectoryOnce_data()
{
    QTest::addColumn<int>("mode");
    QTest::newRow("auto, others dirty") << int(CommitSync::Auto);
    QTest::newRow("per file") << int(CommitSync::PerFile);
}

void TestCommitter::syncsEachFileThenEachDirectoryOnce()
{
    // With another process's data dirty on the system (Auto) or always (PerFile): every file
    // of a batch made durable by its own fsync before it is renamed into place, each directory
    // by one fsync after all its renames, and each file answered only after both; no syncfs,
    // even for a flood, so the batch does not write back the other process's data (issue 19).
    QFETCH(int, mode);
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QStringList dirs{tmp.filePath(QStringLiteral("a")), tmp.filePath(QStringLiteral("b"))};
    QList<SharedFd> dirFds;
    QHash<ino_t, int> dirOfInode; // directory inode → index in dirs
    for (const QString &d : dirs) {
        QVERIFY(QDir().mkpath(d));
        dirFds << openDir(d);
        QVERIFY(dirFds.last()->valid());
        dirOfInode.insert(inodeOf(dirFds.last()->get()), int(dirOfInode.size()));
    }
    constexpr int Files = 40;
    std::vector<CommitJob> jobs;
    QHash<ino_t, int> fileOfInode; // partial's inode → index
    QStringList finals;
    for (int i = 0; i < Files; ++i) {
        const int d = i % 2;
        jobs.push_back(partial(dirs[d], dirFds[d], QStringLiteral("f%1").arg(i), "data"));
        fileOfInode.insert(inodeOf(jobs.back().file.get()), i);
        finals << dirs[d] + QStringLiteral("/f%1").arg(i);
    }

    // What the committer syncs, in order; for a file whether its final name existed then, for
    // a directory how many of its files were at their final names then.
    struct Call
    {
        bool directory;
        int index;
        int seenPlaced;
    };
    std::mutex mutex;
    std::vector<Call> calls;
    std::vector<size_t> callsWhenAnswered(Files, 0);
    std::vector<std::vector<Call>> logWhenAnswered(Files);
    Committer committer{CommitSync(mode)};
    committer.setDirtyProbe([] { return qint64(400) << 20; }); // 400 MiB: a big copy
    committer.setSyncFunction([&](int fd, Committer::SyncTarget target) {
        const ino_t ino = inodeOf(fd);
        Call call{target == Committer::SyncTarget::Directory, -1, 0};
        if (call.directory) {
            call.index = dirOfInode.value(ino, -1);
            for (int i = call.index; i >= 0 && i < Files; i += 2)
                call.seenPlaced += QFile::exists(finals[i]) ? 1 : 0;
        } else {
            call.index = fileOfInode.value(ino, -1);
            call.seenPlaced = call.index >= 0 && QFile::exists(finals[call.index]) ? 1 : 0;
        }
        std::lock_guard lock(mutex);
        calls.push_back(call);
        return ::fsync(fd) == 0 ? 0 : errno;
    });
    // A first job holds the worker (its finish waits) until all the others are queued, so
    // that they make one batch.
    const QString other = tmp.filePath(QStringLiteral("c"));
    QVERIFY(QDir().mkpath(other));
    std::promise<void> started;
    std::promise<void> go;
    std::shared_future<void> goSignal = go.get_future().share();
    CommitJob blocker = partial(other, openDir(other), QStringLiteral("blocker"), "x");
    blocker.finish = [&started, goSignal](int) {
        started.set_value();
        goSignal.wait();
        return 0;
    };
    committer.submit(std::move(blocker), [](ErrorCode, const QString &) {});
    if (started.get_future().wait_for(std::chrono::milliseconds(timeout(10000))) !=
        std::future_status::ready) {
        go.set_value();
        QFAIL("the committer did not start the first job");
    }
    std::atomic<int> answered{0};
    std::atomic<int> failed{0};
    for (int i = 0; i < Files; ++i) {
        committer.submit(std::move(jobs[size_t(i)]), [&, i](ErrorCode code, const QString &) {
            if (code != ErrorCode::Ok)
                ++failed;
            std::lock_guard lock(mutex);
            logWhenAnswered[size_t(i)] = calls;
            ++answered;
        });
    }
    go.set_value();
    QTRY_COMPARE_WITH_TIMEOUT(answered.load(), Files, timeout(10000));
    QCOMPARE(failed.load(), 0);

    std::lock_guard lock(mutex);
    QList<int> fileSyncs;
    int dirSyncs = 0;
    for (const Call &c : calls) {
        if (c.index < 0)
            continue; // the first job and its directory
        if (c.directory) {
            ++dirSyncs;
        } else {
            fileSyncs << c.index;
            QCOMPARE(c.seenPlaced, 0); // durable before it is renamed into place
        }
    }
    std::sort(fileSyncs.begin(), fileSyncs.end());
    QList<int> each;
    for (int i = 0; i < Files; ++i)
        each << i;
    QCOMPARE(fileSyncs, each); // each file once
    const Committer::Stats stats = committer.stats();
    QCOMPARE(stats.batches, quint64(2)); // the first job, then the 40 together
    QCOMPARE(dirSyncs, 2);               // one fsync per directory of the batch, not per file
    QCOMPARE(stats.syncfsCalls, quint64(0));
    QCOMPARE(stats.syncfsBatches, quint64(0));
    for (int i = 0; i < Files; ++i) {
        // When file i was answered, it had been synced, and so had its directory after it was
        // renamed into place.
        const std::vector<Call> &log = logWhenAnswered[size_t(i)];
        const auto fileSync = std::find_if(log.cbegin(), log.cend(), [i](const Call &c) {
            return !c.directory && c.index == i;
        });
        QVERIFY2(fileSync != log.cend(), qPrintable(finals[i]));
        const bool dirSynced = std::any_of(fileSync, log.cend(), [i](const Call &c) {
            return c.directory && c.index == i % 2 && c.seenPlaced > 0;
        });
        QVERIFY2(dirSynced, qPrintable(finals[i]));
        QVERIFY(QFile::exists(finals[i]));
    }
}

void TestCommitter::failedFileSyncFailsThatFile_data()
{
    QTest::addColumn<int>("mode");
    QTest::newRow("auto, others dirty") << int(CommitSync::Auto);
    QTest::newRow("per file") << int(CommitSync::PerFile);
}

void TestCommitter::failedFileSyncFailsThatFile()
{
    // The fsync of one file of a batch fails (a write error the disk reported late): that file
    // fails with the error and stays a partial, not at its final name; the others of the batch
    // are stored and answered Ok.
    QFETCH(int, mode);
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const SharedFd dirFd = openDir(tmp.path());
    constexpr int Files = 12;
    constexpr int Bad = 5;
    std::vector<CommitJob> jobs;
    for (int i = 0; i < Files; ++i)
        jobs.push_back(partial(tmp.path(), dirFd, QStringLiteral("g%1").arg(i), "data"));
    const ino_t bad = inodeOf(jobs[Bad].file.get());
    const QString badPartial = tmp.filePath(jobs[Bad].partName);
    Committer committer{CommitSync(mode)};
    committer.setDirtyProbe([] { return qint64(400) << 20; });
    std::atomic<int> dirSyncs{0};
    committer.setSyncFunction([&](int fd, Committer::SyncTarget target) {
        if (target == Committer::SyncTarget::Directory)
            ++dirSyncs;
        else if (inodeOf(fd) == bad)
            return EIO;
        return ::fsync(fd) == 0 ? 0 : errno;
    });
    QSignalSpy committed(&committer, &Committer::committed);
    const std::vector<quint64> tokens = committer.submit(std::move(jobs));
    QTRY_COMPARE_WITH_TIMEOUT(committed.count(), Files, timeout(10000));
    for (int i = 0; i < Files; ++i) {
        const QList<QVariant> args = committed.at(i);
        QCOMPARE(args.at(0).toULongLong(), tokens[size_t(i)]);
        const QString finalPath = tmp.filePath(QStringLiteral("g%1").arg(i));
        if (i == Bad) {
            QCOMPARE(args.at(1).value<ErrorCode>(), ErrorCode::IoError);
            QVERIFY2(args.at(2).toString().contains(QStringLiteral("cannot sync")),
                     qPrintable(args.at(2).toString()));
            QVERIFY(!QFile::exists(finalPath));
            QVERIFY(QFile::exists(badPartial)); // left to be resumed or sent again
        } else {
            QCOMPARE(args.at(1).value<ErrorCode>(), ErrorCode::Ok);
            QVERIFY(QFile::exists(finalPath));
        }
    }
    QCOMPARE(committer.stats().batches, quint64(1));
    QCOMPARE(dirSyncs.load(), 1); // the others' renames, made durable once
}

void TestCommitter::tokensAreUniqueAcrossSubmits()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const SharedFd dirFd = openDir(tmp.path());
    Committer committer;
    QSignalSpy committed(&committer, &Committer::committed);
    QSet<quint64> tokens;
    for (int i = 0; i < 20; ++i) {
        const quint64 t =
            committer.submit(partial(tmp.path(), dirFd, QStringLiteral("s%1").arg(i), "x"));
        QVERIFY(t != 0);
        tokens.insert(t);
    }
    QCOMPARE(tokens.size(), 20);
    QTRY_COMPARE_WITH_TIMEOUT(committed.count(), 20, timeout(10000));
    QSet<quint64> reported;
    for (const QList<QVariant> &args : committed) {
        QCOMPARE(args.at(1).value<ErrorCode>(), ErrorCode::Ok);
        reported.insert(args.at(0).toULongLong());
    }
    QCOMPARE(reported, tokens); // each exactly once
    QCOMPARE(committer.stats().files, quint64(20));
}

void TestCommitter::streamOfBatches()
{
    // Batches submitted back to back, as a receiver does under a flood: a batch's links wait
    // for the next batch's first syncfs, and are reported before that batch. Every token is
    // reported once, in submission order, and every file is at its final name.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const SharedFd dirFd = openDir(tmp.path());
    Committer committer;
    committer.setDirtyProbe([] { return qint64(0); }); // nothing else dirty: syncfs
    QSignalSpy committed(&committer, &Committer::committed);
    std::vector<quint64> tokens;
    constexpr int Batches = 30;
    constexpr int PerBatch = 6;
    for (int b = 0; b < Batches; ++b) {
        std::vector<CommitJob> jobs;
        for (int i = 0; i < PerBatch; ++i)
            jobs.push_back(partial(tmp.path(), dirFd, QStringLiteral("b%1-%2").arg(b).arg(i),
                                   QByteArray::number(b * PerBatch + i)));
        for (quint64 t : committer.submit(std::move(jobs)))
            tokens.push_back(t);
    }
    QTRY_COMPARE_WITH_TIMEOUT(committed.count(), Batches * PerBatch, timeout(20000));
    for (int k = 0; k < Batches * PerBatch; ++k) {
        QCOMPARE(committed.at(k).at(0).toULongLong(), tokens[size_t(k)]);
        QCOMPARE(committed.at(k).at(1).value<ErrorCode>(), ErrorCode::Ok);
        QFile f(tmp.filePath(QStringLiteral("b%1-%2").arg(k / PerBatch).arg(k % PerBatch)));
        QVERIFY2(f.open(QIODevice::ReadOnly), qPrintable(f.fileName()));
        QCOMPARE(f.readAll(), QByteArray::number(k));
    }
    QCOMPARE(QDir(tmp.path()).entryList(QDir::Files | QDir::Hidden).size(), Batches * PerBatch);
    const Committer::Stats stats = committer.stats();
    QCOMPARE(stats.files, quint64(Batches * PerBatch));
    if (Committer::syncfsReportsErrors()) {
        QCOMPARE(stats.syncfsBatches, stats.batches);
        // At most two per batch; a batch that found another queued shared one with it.
        QVERIFY(stats.syncfsCalls <= 2 * stats.batches);
    }
}

void TestCommitter::waitsForFilesStillBeingWritten()
{
    // A job whose data is still being written (direct I/O) is committed once the write is done,
    // and fails alone if the write failed.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const SharedFd dirFd = openDir(tmp.path());
    Committer committer;
    QSignalSpy committed(&committer, &Committer::committed);
    std::promise<int> late;
    std::promise<int> failed;
    std::vector<CommitJob> jobs;
    for (int i = 0; i < 6; ++i)
        jobs.push_back(partial(tmp.path(), dirFd, QStringLiteral("w%1").arg(i), "data"));
    jobs[1].written = late.get_future().share();
    jobs[4].written = failed.get_future().share();
    const std::vector<quint64> tokens = committer.submit(std::move(jobs));
    failed.set_value(EIO);
    QTest::qWait(50); // nothing may be reported while job 1 is still being written
    QCOMPARE(committed.count(), 0);
    late.set_value(0);
    QTRY_COMPARE_WITH_TIMEOUT(committed.count(), 6, timeout(10000));
    for (int i = 0; i < 6; ++i) {
        QCOMPARE(committed.at(i).at(0).toULongLong(), tokens[size_t(i)]);
        QCOMPARE(committed.at(i).at(1).value<ErrorCode>(),
                 i == 4 ? ErrorCode::IoError : ErrorCode::Ok);
        QCOMPARE(QFile::exists(tmp.filePath(QStringLiteral("w%1").arg(i))), i != 4);
    }
}

void TestCommitter::finishesFilesBeforePlacingThem()
{
    // The receiver leaves a small file's mtime and xattr to the committer (CommitJob::finish):
    // it runs before the file is placed at its final name, and a job whose finish fails (here:
    // a full disk) fails alone, with that error, and is not placed.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const SharedFd dirFd = openDir(tmp.path());
    Committer committer;
    QSignalSpy committed(&committer, &Committer::committed);
    std::vector<CommitJob> jobs;
    std::atomic<int> visibleWhenFinished{0};
    for (int i = 0; i < 6; ++i) {
        const QString name = QStringLiteral("m%1").arg(i);
        jobs.push_back(partial(tmp.path(), dirFd, name, "data"));
        jobs.back().finish = [i, finalPath = tmp.filePath(name), &visibleWhenFinished](int fd) {
            if (QFile::exists(finalPath))
                ++visibleWhenFinished;
            if (i == 3)
                return ENOSPC;
            const struct timespec times[2] = {{0, UTIME_OMIT}, {1000 + i, 0}};
            return ::futimens(fd, times) == 0 ? 0 : errno;
        };
    }
    const std::vector<quint64> tokens = committer.submit(std::move(jobs));
    QTRY_COMPARE_WITH_TIMEOUT(committed.count(), 6, timeout(10000));
    QCOMPARE(visibleWhenFinished.load(), 0);
    for (int i = 0; i < 6; ++i) {
        QCOMPARE(committed.at(i).at(0).toULongLong(), tokens[size_t(i)]);
        QCOMPARE(committed.at(i).at(1).value<ErrorCode>(),
                 i == 3 ? ErrorCode::DiskFull : ErrorCode::Ok);
        const QString finalPath = tmp.filePath(QStringLiteral("m%1").arg(i));
        QCOMPARE(QFile::exists(finalPath), i != 3);
        if (i != 3) {
            struct stat st;
            QCOMPARE(::stat(QFile::encodeName(finalPath).constData(), &st), 0);
            QCOMPARE(qint64(st.st_mtim.tv_sec), qint64(1000 + i));
        }
    }
}

void TestCommitter::syncfsOnlyWhereItMakesDurable_data()
{
    QTest::addColumn<QString>("type");
    QTest::addColumn<bool>("syncfs");
    QTest::newRow("ext4") << QStringLiteral("ext4") << true;
    QTest::newRow("xfs") << QStringLiteral("xfs") << true;
    QTest::newRow("btrfs") << QStringLiteral("btrfs") << true;
    // GlusterFS over FUSE: syncfs returns at once without reaching the bricks (issue 20).
    QTest::newRow("glusterfs") << QStringLiteral("fuse.glusterfs") << false;
    QTest::newRow("cephfs fuse") << QStringLiteral("fuse.ceph-fuse") << false;
    QTest::newRow("nfs") << QStringLiteral("nfs4") << false;
    QTest::newRow("cifs") << QStringLiteral("cifs") << false;
    QTest::newRow("unknown") << QStringLiteral("somethingfs") << false;
}

void TestCommitter::syncfsOnlyWhereItMakesDurable()
{
    QFETCH(QString, type);
    QFETCH(bool, syncfs);
    QCOMPARE(Committer::syncfsMakesDurable(type), syncfs);
}

void TestCommitter::rootFilesystemChoosesTheSync()
{
    // The test's temporary directory is on a local filesystem (ext4, xfs, tmpfs… here): Auto
    // stays Auto; asked for PerFile stays PerFile; a root that does not exist yet keeps what
    // was asked.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QString type;
    const CommitSync chosen = Committer::syncFor(dir.path(), CommitSync::Auto, &type);
    QVERIFY(!type.isEmpty());
    QCOMPARE(chosen, Committer::syncfsMakesDurable(type) ? CommitSync::Auto : CommitSync::PerFile);
    QCOMPARE(Committer::syncFor(dir.path(), CommitSync::PerFile), CommitSync::PerFile);
    QCOMPARE(Committer::syncFor(dir.filePath(QStringLiteral("not/yet")), CommitSync::Auto, &type),
             CommitSync::Auto);
    QVERIFY(type.isEmpty());
}

QTEST_GUILESS_MAIN(TestCommitter)
// A job submitted with a `done` function is answered by it, on the committer's thread (the
// receiver posts the outcome straight to the connection's thread from there), once, in
// submission order, and not by committed(); the others still are.
void TestCommitter::answersThroughDoneOnItsThread()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const SharedFd dirFd = openDir(tmp.path());
    QVERIFY(dirFd->valid());

    Committer committer;
    QSignalSpy committed(&committer, &Committer::committed);
    struct Answer
    {
        quint64 index;
        ErrorCode code;
        bool onOwnerThread;
    };
    std::mutex mutex;
    std::vector<Answer> answers;
    QThread *owner = QThread::currentThread();
    constexpr int Files = 6;
    std::vector<quint64> plain;
    for (int i = 0; i < Files; ++i) {
        CommitJob job = partial(tmp.path(), dirFd, QStringLiteral("d%1").arg(i), "x");
        if (i % 2 == 1) {
            plain.push_back(committer.submit(std::move(job)));
            continue;
        }
        committer.submit(std::move(job), [&, i](ErrorCode code, const QString &) {
            std::lock_guard lock(mutex);
            answers.push_back({quint64(i), code, QThread::currentThread() == owner});
        });
    }
    QTRY_COMPARE_WITH_TIMEOUT(committed.count(), int(plain.size()), timeout(10000));
    const auto answered = [&] {
        std::lock_guard lock(mutex);
        return answers.size();
    };
    QTRY_COMPARE_WITH_TIMEOUT(answered(), size_t(Files - plain.size()), timeout(10000));
    std::lock_guard lock(mutex);
    for (size_t k = 0; k < answers.size(); ++k) {
        QCOMPARE(answers[k].index, quint64(2 * k)); // in submission order
        QCOMPARE(answers[k].code, ErrorCode::Ok);
        QVERIFY(!answers[k].onOwnerThread);
        QVERIFY(QFile::exists(tmp.filePath(QStringLiteral("d%1").arg(2 * k))));
    }
    for (size_t k = 0; k < plain.size(); ++k) // the others by the signal, only they
        QCOMPARE(committed.at(int(k)).at(0).toULongLong(), plain[k]);
}

void TestCommitter::batchesAreFairBetweenSources()
{
    // ED A's flood queued before ED B's one file: B's file is in the first batch, with A's
    // first MaxSourceShare files, not behind all of A's; each source's files in their order.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const SharedFd dirFd = openDir(tmp.path());
    const int flood = int(Committer::MaxSourceShare) * 2 + 50;
    std::vector<CommitJob> jobs;
    for (int i = 0; i < flood; ++i) {
        jobs.push_back(partial(tmp.path(), dirFd, QStringLiteral("a%1").arg(i), "a"));
        jobs.back().source = QStringLiteral("ed-a");
    }
    jobs.push_back(partial(tmp.path(), dirFd, QStringLiteral("b"), "b"));
    jobs.back().source = QStringLiteral("ed-b");
    Committer committer;
    QSignalSpy committed(&committer, &Committer::committed);
    const std::vector<quint64> tokens = committer.submit(std::move(jobs));
    QTRY_COMPARE_WITH_TIMEOUT(committed.count(), flood + 1, timeout(30000));
    QList<quint64> order;
    for (const QList<QVariant> &args : std::as_const(committed)) {
        QCOMPARE(args.at(1).value<ErrorCode>(), ErrorCode::Ok);
        order << args.at(0).toULongLong();
    }
    const qsizetype rankOfB = order.indexOf(tokens.back());
    QCOMPARE(rankOfB, qsizetype(Committer::MaxSourceShare));
    order.removeAt(rankOfB);
    for (int i = 0; i < flood; ++i)
        QCOMPARE(order.at(i), tokens[size_t(i)]);
    QVERIFY(QFile::exists(tmp.filePath(QStringLiteral("b"))));
    QVERIFY(QFile::exists(tmp.filePath(QStringLiteral("a%1").arg(flood - 1))));
}

#include "tst_committer.moc"
