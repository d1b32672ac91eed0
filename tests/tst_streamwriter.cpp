// StreamWriter: a file arriving in pieces of any size ends up byte for byte on disk, whether it
// was written directly (O_DIRECT through the aligned stage) or through the page cache, and a
// stream stopped early leaves exactly the bytes received (what a resume starts from).

#include "core/fileutil.h"
#include "core/streamwriter.h"
#include "tests/testlib/diskhold.h"
#include "tests/testlib/testtree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <QFile>
#include <QScopeGuard>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QTest>

#include <cstring>
#include <future>
#include <vector>

using namespace isocket;

class TestStreamWriter : public QObject
{
    Q_OBJECT

private slots:
    void wholeFile_data();
    void wholeFile();
    void stoppedEarlyKeepsWhatArrived();
    void unalignedResumeIsBuffered();
    void finishAsyncOverlapsTheNextFile();
    void wouldWaitUntilTheDiskIsDone();
    void fileEndingOnAStageLeavesTheOtherFree();
    void reserveFillsTheStageInPlace();
    void stagesAreBoundedAcrossWriters();

private:
    // Feeds `data` from `from` on in pieces of 1 … maxPiece bytes; false on a write error.
    static bool feed(StreamWriter &w, const QByteArray &data, qint64 from, qint64 to, int maxPiece,
                     quint32 seed);
    static QByteArray readFile(const QString &path);
};

bool TestStreamWriter::feed(StreamWriter &w, const QByteArray &data, qint64 from, qint64 to,
                            int maxPiece, quint32 seed)
{
    QRandomGenerator rng(seed);
    for (qint64 pos = from; pos < to;) {
        const qint64 n = qMin<qint64>(to - pos, 1 + rng.bounded(maxPiece));
        if (!w.write(data.constData() + pos, n).ok())
            return false;
        pos += n;
    }
    return true;
}

QByteArray TestStreamWriter::readFile(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

void TestStreamWriter::wholeFile_data()
{
    QTest::addColumn<qint64>("size");
    QTest::addColumn<int>("maxPiece");
    QTest::addColumn<bool>("direct"); // expected where the filesystem has O_DIRECT

    QTest::newRow("small: page cache") << qint64(100'000) << 7000 << false;
    QTest::newRow("just below the threshold") << StreamWriter::DirectMinBytes - 1 << 65536 << false;
    QTest::newRow("1 MiB exactly, 256 KiB pieces") << qint64(1 << 20) << 262144 << true;
    QTest::newRow("odd size, odd pieces") << 3 * StreamWriter::StageBytes + 4097 << 99991 << true;
    QTest::newRow("tiny pieces") << StreamWriter::DirectMinBytes + 1 << 300 << true;
}

void TestStreamWriter::wholeFile()
{
    QFETCH(qint64, size);
    QFETCH(int, maxPiece);
    QFETCH(bool, direct);

    // On the disk, not a tmpfs: direct I/O is what is tested.
    QTemporaryDir tmp(QDir::currentPath() + QStringLiteral("/tst_streamwriter-XXXXXX"));
    QVERIFY(tmp.isValid());
    const QString path = tmp.filePath(QStringLiteral("f"));
    UniqueFd fd(::open(QFile::encodeName(path).constData(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    QVERIFY(fd.valid());
    const QByteArray data = test::patternBytes(size, 11);

    StreamWriter w;
    w.start(fd.get(), 0, size);
    const int flags = ::fcntl(fd.get(), F_GETFL);
    if (direct && !w.direct())
        qWarning("no direct I/O on this filesystem: tested through the page cache");
    if (!direct)
        QVERIFY(!w.direct());
    QCOMPARE(w.direct(), bool(flags & O_DIRECT));
    QVERIFY(feed(w, data, 0, size, maxPiece, 5));
    QVERIFY(w.onDisk() <= size);
    QVERIFY(w.finish().ok());
    QCOMPARE(w.onDisk(), size);
    QVERIFY(!(::fcntl(fd.get(), F_GETFL) & O_DIRECT) || size % StreamWriter::Align == 0);
    QCOMPARE(readFile(path), data);
}

void TestStreamWriter::stoppedEarlyKeepsWhatArrived()
{
    QTemporaryDir tmp(QDir::currentPath() + QStringLiteral("/tst_streamwriter-XXXXXX"));
    QVERIFY(tmp.isValid());
    const QString path = tmp.filePath(QStringLiteral("part"));
    UniqueFd fd(::open(QFile::encodeName(path).constData(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    QVERIFY(fd.valid());
    const qint64 size = 4 * StreamWriter::StageBytes;
    const QByteArray data = test::patternBytes(size, 12);
    const qint64 arrived = StreamWriter::StageBytes + 12345; // the connection dropped here

    StreamWriter w;
    w.start(fd.get(), 0, size);
    QVERIFY(feed(w, data, 0, arrived, 50000, 6));
    QVERIFY(w.finish().ok());
    QCOMPARE(readFile(path), data.left(arrived));
}

void TestStreamWriter::unalignedResumeIsBuffered()
{
    // A partial of an odd length is continued through the page cache (direct I/O needs aligned
    // offsets); the file comes out whole all the same.
    QTemporaryDir tmp(QDir::currentPath() + QStringLiteral("/tst_streamwriter-XXXXXX"));
    QVERIFY(tmp.isValid());
    const QString path = tmp.filePath(QStringLiteral("resumed"));
    const qint64 size = 2 * StreamWriter::StageBytes + 3;
    const QByteArray data = test::patternBytes(size, 13);
    const qint64 have = 777'777;
    QVERIFY(test::writeFile(path, data.left(have)));
    UniqueFd fd(::open(QFile::encodeName(path).constData(), O_RDWR | O_CLOEXEC));
    QVERIFY(fd.valid());

    StreamWriter w;
    w.start(fd.get(), have, size - have);
    QVERIFY(!w.direct());
    QVERIFY(feed(w, data, have, size, 70000, 7));
    QVERIFY(w.finish().ok());
    QCOMPARE(readFile(path), data);
}

void TestStreamWriter::finishAsyncOverlapsTheNextFile()
{
    // The receiver ends a directly written file without waiting: the pool writes the rest, then
    // runs the finishing step (the mtime), while the same writer takes the next file. Both come
    // out whole, the finishing step sees the whole file, and an error of the first is not the
    // second's.
    QTemporaryDir tmp(QDir::currentPath() + QStringLiteral("/tst_streamwriter-XXXXXX"));
    QVERIFY(tmp.isValid());
    StreamWriter w;
    QList<QByteArray> datas;
    QList<QString> paths;
    QList<std::shared_future<int>> done;
    std::vector<UniqueFd> fds;
    const qint64 sizes[] = {StreamWriter::StageBytes, 2 * StreamWriter::StageBytes + 5,
                            StreamWriter::DirectMinBytes + 4096, StreamWriter::StageBytes};
    for (int i = 0; i < 4; ++i) {
        paths << tmp.filePath(QStringLiteral("f%1").arg(i));
        fds.push_back(UniqueFd(
            ::open(QFile::encodeName(paths[i]).constData(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)));
        QVERIFY(fds[i].valid());
        datas << test::patternBytes(sizes[i], 20 + quint32(i));
        w.start(fds[i].get(), 0, sizes[i]);
        if (!w.direct())
            QSKIP("no direct I/O on this filesystem");
        QVERIFY(feed(w, datas[i], 0, sizes[i], 100000, 30 + quint32(i)));
        const qint64 size = sizes[i];
        const bool failIt = i == 2; // the finishing step of file 2 fails
        done << w.finishAsync([size, failIt](int fd) {
            struct stat st;
            if (::fstat(fd, &st) != 0 || st.st_size != size)
                return EIO; // ran before the data was all written
            const struct timespec times[2] = {{0, UTIME_OMIT}, {1000, 0}};
            return failIt ? ENOSPC : (::futimens(fd, times) == 0 ? 0 : errno);
        });
        fds[i].reset(); // the caller may close at once: the writer has its own descriptor
    }
    for (int i = 0; i < 4; ++i) {
        QCOMPARE(done[i].get(), i == 2 ? ENOSPC : 0);
        QCOMPARE(readFile(paths[i]), datas[i]);
        if (i != 2) {
            struct stat st;
            QVERIFY(::stat(QFile::encodeName(paths[i]).constData(), &st) == 0);
            QCOMPARE(qint64(st.st_mtim.tv_sec), qint64(1000));
        }
    }
}

void TestStreamWriter::wouldWaitUntilTheDiskIsDone()
{
    // The receiver serves every connection from one thread: before a write it asks whether the
    // write would wait for the disk, and if so holds the data back until the wake-up. So
    // wouldWait() must say yes exactly when a stage the write needs is still being written, and
    // the wake-up must come when a write ends.
    QTemporaryDir tmp(QDir::currentPath() + QStringLiteral("/tst_streamwriter-XXXXXX"));
    QVERIFY(tmp.isValid());
    const QString path = tmp.filePath(QStringLiteral("f"));
    UniqueFd fd(::open(QFile::encodeName(path).constData(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    QVERIFY(fd.valid());
    constexpr qint64 Stage = StreamWriter::StageBytes;
    const QByteArray data = test::patternBytes(3 * Stage + 100, 5);
    StreamWriter w;
    std::atomic<int> wakes{0};
    w.setWake([&wakes] { ++wakes; });
    test::DiskHold hold(30000 * test::timeoutFactor());
    w.start(fd.get(), 0, data.size());
    if (!w.direct())
        QSKIP("no direct I/O on this filesystem");
    QVERIFY(!w.wouldWait(Stage));                   // both stages free
    QVERIFY(w.write(data.constData(), Stage).ok()); // stage 1 full: to the (held) disk
    QVERIFY(!w.wouldWait(1));
    QVERIFY(!w.wouldWait(Stage));    // fills stage 2 exactly
    QVERIFY(w.wouldWait(Stage + 1)); // … and would need stage 1 again
    QVERIFY(w.write(data.constData() + Stage, Stage - 10).ok());
    QVERIFY(!w.wouldWait(10));
    QVERIFY(w.wouldWait(11));
    QVERIFY(w.write(data.constData() + 2 * Stage - 10, 10).ok()); // stage 2 full: to the disk
    QVERIFY(w.wouldWait(1));
    QCOMPARE(wakes.load(), 0);
    hold.release();
    QTRY_VERIFY(!w.wouldWait(2 * Stage)); // both written
    QTRY_COMPARE(wakes.load(), 2);        // one wake-up per write
    QVERIFY(!hold.releasedByDeadline());
    QVERIFY(w.write(data.constData() + 2 * Stage, Stage + 100).ok());
    QVERIFY(w.finish().ok());
    w.setWake({});
    QCOMPARE(readFile(path), data);
}

void TestStreamWriter::fileEndingOnAStageLeavesTheOtherFree()
{
    // A 1 MiB file is exactly one stage. While its write is on the disk, the next file must be
    // able to fill the other stage (the receiver then reads the next file while the disk writes
    // this one: 1,000 x 1 MiB 696 -> 962 MB/s side by side), not wait for the disk.
    QTemporaryDir tmp(QDir::currentPath() + QStringLiteral("/tst_streamwriter-XXXXXX"));
    QVERIFY(tmp.isValid());
    constexpr qint64 Stage = StreamWriter::StageBytes;
    QList<QByteArray> datas;
    std::vector<UniqueFd> fds;
    QList<std::shared_future<int>> done;
    StreamWriter w;
    test::DiskHold hold(30000 * test::timeoutFactor());
    for (int i = 0; i < 3; ++i) {
        fds.emplace_back(
            ::open(QFile::encodeName(tmp.filePath(QStringLiteral("f%1").arg(i))).constData(),
                   O_RDWR | O_CREAT | O_CLOEXEC, 0644));
        QVERIFY(fds.back().valid());
        datas << test::patternBytes(Stage, 40 + quint32(i));
        w.start(fds.back().get(), 0, Stage);
        if (!w.direct())
            QSKIP("no direct I/O on this filesystem");
        // Files 1 and 2 fit beside the writes still held; file 3 would need file 1's stage.
        QCOMPARE(w.wouldWait(Stage), i == 2);
        if (i == 2)
            break;
        QVERIFY(w.write(datas.last().constData(), Stage).ok());
        done << w.finishAsync([](int) { return 0; });
    }
    hold.release();
    QTRY_VERIFY(!w.wouldWait(Stage));
    QVERIFY(w.write(datas.last().constData(), Stage).ok());
    done << w.finishAsync([](int) { return 0; });
    for (int i = 0; i < 3; ++i) {
        QCOMPARE(done[i].get(), 0);
        QCOMPARE(readFile(tmp.filePath(QStringLiteral("f%1").arg(i))), datas[i]);
    }
    QVERIFY(!hold.releasedByDeadline());
}

void TestStreamWriter::reserveFillsTheStageInPlace()
{
    // The receiver reads a DATA payload straight into the stage reserve() hands out. It must
    // hand one out only where write() would not wait (the stage free) and the bytes fit whole,
    // and what is committed must land in the file in order with what write() wrote.
    QTemporaryDir tmp(QDir::currentPath() + QStringLiteral("/tst_streamwriter-XXXXXX"));
    QVERIFY(tmp.isValid());
    constexpr qint64 Stage = StreamWriter::StageBytes;
    const QByteArray data = test::patternBytes(3 * Stage + 777, 17);
    auto open = [&tmp](const QString &name) {
        return UniqueFd(::open(QFile::encodeName(tmp.filePath(name)).constData(),
                               O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    };
    StreamWriter w;
    const UniqueFd small = open(QStringLiteral("small"));
    w.start(small.get(), 0, StreamWriter::DirectMinBytes - 1);
    auto r = w.reserve(1);
    QVERIFY(r.ok() && !r.value()); // the page cache: nothing to reserve
    QVERIFY(w.finish().ok());

    const UniqueFd fd = open(QStringLiteral("f"));
    test::DiskHold hold(30000 * test::timeoutFactor());
    w.start(fd.get(), 0, data.size());
    if (!w.direct())
        QSKIP("no direct I/O on this filesystem");
    auto put = [&w, &data](qint64 from, qint64 n) {
        auto at = w.reserve(n);
        if (!at.ok() || !at.value())
            return false;
        std::memcpy(at.value(), data.constData() + from, size_t(n));
        return w.commit(n).ok();
    };
    r = w.reserve(Stage + 1);
    QVERIFY(r.ok() && !r.value()); // more than a stage
    QVERIFY(put(0, 100));
    QVERIFY(w.write(data.constData() + 100, 50).ok());
    r = w.reserve(Stage - 149);
    QVERIFY(r.ok() && !r.value());  // one byte more than the stage has left
    QVERIFY(put(150, Stage - 150)); // stage 1 full: to the (held) disk
    QVERIFY(put(Stage, Stage));     // stage 2, free, filled whole: to the disk as well
    r = w.reserve(1);
    QVERIFY(r.ok() && !r.value()); // stage 1 again, still being written
    QVERIFY(w.wouldWait(1));
    hold.release();
    QTRY_VERIFY(w.reserve(1).value() != nullptr);
    QVERIFY(put(2 * Stage, Stage));
    QVERIFY(w.write(data.constData() + 3 * Stage, 777).ok());
    QVERIFY(w.finish().ok());
    QVERIFY(!hold.releasedByDeadline());
    QCOMPARE(readFile(tmp.filePath(QStringLiteral("f"))), data);
}

void TestStreamWriter::stagesAreBoundedAcrossWriters()
{
    // A receiver with many busy connections: the writers together hold at most the budget's
    // stages; one that finds it spent writes its file through the page cache, byte for byte;
    // a writer gives its stages back when it starts a small file or goes.
    QTemporaryDir tmp(QDir::currentPath() + QStringLiteral("/tst_streamwriter-XXXXXX"));
    QVERIFY(tmp.isValid());
    const int limit = StreamWriter::stagedWritersLimit();
    auto restore = qScopeGuard([limit] { StreamWriter::setStagedWritersLimit(limit); });
    QCOMPARE(StreamWriter::stagedWriters(), 0);
    StreamWriter::setStagedWritersLimit(2);
    constexpr int Writers = 5;
    const qint64 size = 2 * StreamWriter::StageBytes + 4097;
    std::vector<UniqueFd> fds;
    std::vector<std::unique_ptr<StreamWriter>> writers;
    std::vector<QByteArray> datas;
    for (int i = 0; i < Writers; ++i) {
        const QString path = tmp.filePath(QStringLiteral("f%1").arg(i));
        fds.emplace_back(::open(QFile::encodeName(path).constData(), O_RDWR | O_CREAT | O_CLOEXEC,
                                0644));
        QVERIFY(fds.back().valid());
        writers.push_back(std::make_unique<StreamWriter>());
        writers.back()->start(fds.back().get(), 0, size);
        datas.push_back(test::patternBytes(size, 20 + i));
    }
    if (!writers.front()->direct())
        QSKIP("no direct I/O on this filesystem: no stages are used");
    // All five at once, as connections would: the first two direct, the rest buffered.
    QCOMPARE(StreamWriter::stagedWriters(), 2);
    for (int i = 0; i < Writers; ++i)
        QCOMPARE(writers[i]->direct(), i < 2);
    for (qint64 pos = 0; pos < size; pos += 65536) {
        const qint64 n = qMin<qint64>(65536, size - pos);
        for (int i = 0; i < Writers; ++i)
            QVERIFY(writers[i]->write(datas[i].constData() + pos, n).ok());
    }
    for (int i = 0; i < Writers; ++i) {
        QVERIFY(writers[i]->finish().ok());
        QCOMPARE(readFile(tmp.filePath(QStringLiteral("f%1").arg(i))), datas[i]);
    }
    // A small file gives the first writer's stages back; the third then gets them.
    UniqueFd small(::open(QFile::encodeName(tmp.filePath(QStringLiteral("small"))).constData(),
                          O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    writers[0]->start(small.get(), 0, 1000);
    QVERIFY(writers[0]->finish().ok());
    QCOMPARE(StreamWriter::stagedWriters(), 1);
    writers[2]->start(fds[2].get(), 0, size);
    QVERIFY(writers[2]->direct());
    QVERIFY(writers[2]->finish().ok());
    QCOMPARE(StreamWriter::stagedWriters(), 2);
    // Writers that go give theirs back.
    writers.clear();
    QCOMPARE(StreamWriter::stagedWriters(), 0);
}

QTEST_GUILESS_MAIN(TestStreamWriter)
#include "tst_streamwriter.moc"
