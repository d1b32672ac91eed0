// StreamWriter: a file arriving in pieces of any size ends up byte for byte on disk, whether it
// was written directly (O_DIRECT through aligned stages) or through the page cache, and a
// stream stopped early leaves exactly the bytes received (what a resume starts from).

#include "core/fileutil.h"
#include "core/streamwriter.h"
#include "tests/testlib/diskhold.h"
#include "tests/testlib/testtree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <QFile>
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
    void stagesFollowTheWritesNotTheWriters();
    void spentPoolFallsBackToThePageCache();
    void flushGivesTheStageBackWhenStagesRunShort();

private:
    static bool isDirect(int fd);
    // Feeds `data` from `from` on in pieces of 1 … maxPiece bytes; false on a write error.
    static bool feed(StreamWriter &w, const QByteArray &data, qint64 from, qint64 to, int maxPiece,
                     quint32 seed);
    static QByteArray readFile(const QString &path);
    static UniqueFd create(const QString &path); // for writing, empty
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

UniqueFd TestStreamWriter::create(const QString &path)
{
    return UniqueFd(
        ::open(QFile::encodeName(path).constData(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
}

// The process's stage pool bounded to `stages` while it lives.
struct StageLimit
{
    explicit StageLimit(int stages) { StreamWriter::setStageLimit(stages); }
    ~StageLimit() { StreamWriter::setStageLimit(old); }
    StageLimit(const StageLimit &) = delete;
    StageLimit &operator=(const StageLimit &) = delete;
    const int old = StreamWriter::stageLimit();
};

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
    UniqueFd fd = create(path);
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
    UniqueFd fd = create(path);
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
        fds.push_back(create(paths[i]));
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
    // wouldWait() must say yes exactly when the write needs more stages than the writer may hold
    // beside those still being written, and the wake-up must come when a write ends.
    QTemporaryDir tmp(QDir::currentPath() + QStringLiteral("/tst_streamwriter-XXXXXX"));
    QVERIFY(tmp.isValid());
    const QString path = tmp.filePath(QStringLiteral("f"));
    UniqueFd fd = create(path);
    QVERIFY(fd.valid());
    constexpr qint64 Stage = StreamWriter::StageBytes;
    constexpr int Stages = StreamWriter::StagesPerWriter;
    const QByteArray data = test::patternBytes((Stages + 1) * Stage + 100, 5);
    StreamWriter w;
    std::atomic<int> wakes{0};
    w.setWake([&wakes] { ++wakes; });
    test::DiskHold hold(30000 * test::timeoutFactor());
    w.start(fd.get(), 0, data.size());
    if (!w.direct())
        QSKIP("no direct I/O on this filesystem");
    QVERIFY(!w.wouldWait(Stages * Stage));          // nothing being written
    QVERIFY(w.write(data.constData(), Stage).ok()); // one stage full: to the (held) disk
    QVERIFY(!w.wouldWait((Stages - 1) * Stage));    // the writer's other stages
    QVERIFY(w.wouldWait((Stages - 1) * Stage + 1)); // … and one more
    // Stages - 2 stages more to the disk, and one filled but 10 bytes
    QVERIFY(w.write(data.constData() + Stage, (Stages - 1) * Stage - 10).ok());
    QVERIFY(!w.wouldWait(10));
    QVERIFY(w.wouldWait(11));
    QVERIFY(w.write(data.constData() + Stages * Stage - 10, 10).ok()); // to the disk as well
    QVERIFY(w.wouldWait(1));
    QCOMPARE(wakes.load(), 0);
    hold.release();
    QTRY_VERIFY(!w.wouldWait(Stages * Stage)); // all written
    QTRY_COMPARE(wakes.load(), Stages);        // one wake-up per write
    QVERIFY(!hold.releasedByDeadline());
    QVERIFY(w.write(data.constData() + Stages * Stage, Stage + 100).ok());
    QVERIFY(w.finish().ok());
    w.setWake({});
    QCOMPARE(readFile(path), data);
}

void TestStreamWriter::fileEndingOnAStageLeavesTheOtherFree()
{
    // A 1 MiB file is exactly one stage. While its write is on the disk, the next file must be
    // able to fill another stage (the receiver then reads the next file while the disk writes
    // this one: 1,000 x 1 MiB 696 -> 962 MB/s side by side), not wait for the disk, until the
    // writer holds all the stages it may.
    QTemporaryDir tmp(QDir::currentPath() + QStringLiteral("/tst_streamwriter-XXXXXX"));
    QVERIFY(tmp.isValid());
    constexpr qint64 Stage = StreamWriter::StageBytes;
    constexpr int Files = StreamWriter::StagesPerWriter + 1;
    QList<QByteArray> datas;
    std::vector<UniqueFd> fds;
    QList<std::shared_future<int>> done;
    StreamWriter w;
    test::DiskHold hold(30000 * test::timeoutFactor());
    for (int i = 0; i < Files; ++i) {
        fds.push_back(create(tmp.filePath(QStringLiteral("f%1").arg(i))));
        QVERIFY(fds.back().valid());
        datas << test::patternBytes(Stage, 40 + quint32(i));
        w.start(fds.back().get(), 0, Stage);
        if (!w.direct())
            QSKIP("no direct I/O on this filesystem");
        // The last file would need a stage while the writer's all are held by the disk
        QCOMPARE(w.wouldWait(Stage), i == Files - 1);
        if (i == Files - 1)
            break;
        QVERIFY(w.write(datas.last().constData(), Stage).ok());
        done << w.finishAsync([](int) { return 0; });
    }
    hold.release();
    QTRY_VERIFY(!w.wouldWait(Stage));
    QVERIFY(w.write(datas.last().constData(), Stage).ok());
    done << w.finishAsync([](int) { return 0; });
    for (int i = 0; i < Files; ++i) {
        QCOMPARE(done[i].get(), 0);
        QCOMPARE(readFile(tmp.filePath(QStringLiteral("f%1").arg(i))), datas[i]);
    }
    QVERIFY(!hold.releasedByDeadline());
}

void TestStreamWriter::reserveFillsTheStageInPlace()
{
    // The receiver reads a DATA payload straight into the stage reserve() hands out. It must
    // hand one out only where write() would not wait and the bytes fit whole, and what is
    // committed must land in the file in order with what write() wrote.
    QTemporaryDir tmp(QDir::currentPath() + QStringLiteral("/tst_streamwriter-XXXXXX"));
    QVERIFY(tmp.isValid());
    constexpr qint64 Stage = StreamWriter::StageBytes;
    constexpr int Stages = StreamWriter::StagesPerWriter;
    const QByteArray data = test::patternBytes((Stages + 1) * Stage + 777, 17);
    StreamWriter w;
    const UniqueFd small = create(tmp.filePath(QStringLiteral("small")));
    w.start(small.get(), 0, StreamWriter::DirectMinBytes - 1);
    auto r = w.reserve(1);
    QVERIFY(r.ok() && !r.value()); // the page cache: nothing to reserve
    QVERIFY(w.finish().ok());

    const UniqueFd fd = create(tmp.filePath(QStringLiteral("f")));
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
    QVERIFY(put(150, Stage - 150)); // the first stage full: to the (held) disk
    for (int i = 1; i < Stages; ++i)
        QVERIFY(put(i * Stage, Stage)); // new stages, filled whole: to the disk as well
    r = w.reserve(1);
    QVERIFY(r.ok() && !r.value()); // all of the writer's stages are being written
    QVERIFY(w.wouldWait(1));
    hold.release();
    QTRY_VERIFY(w.reserve(1).value() != nullptr);
    QVERIFY(put(Stages * Stage, Stage));
    QVERIFY(w.write(data.constData() + (Stages + 1) * Stage, 777).ok());
    QVERIFY(w.finish().ok());
    QVERIFY(!hold.releasedByDeadline());
    QCOMPARE(readFile(tmp.filePath(QStringLiteral("f"))), data);
}

bool TestStreamWriter::isDirect(int fd)
{
    const int flags = ::fcntl(fd, F_GETFL);
    return flags >= 0 && (flags & O_DIRECT);
}

void TestStreamWriter::stagesFollowTheWritesNotTheWriters()
{
    // A receiver serving 200 EDs has as many files arriving at once, a frame at a time. While
    // the disk keeps up, every one of them is written directly: the stages in use are those
    // being filled or written at the moment, not a pair per writer.
    QTemporaryDir tmp(QDir::currentPath() + QStringLiteral("/tst_streamwriter-XXXXXX"));
    QVERIFY(tmp.isValid());
    QCOMPARE(StreamWriter::stagesInUse(), 0);
    constexpr int Writers = 200;
    constexpr qint64 Frame = 256 * 1024; // as senders send them
    const qint64 size = 4 * Frame + 4097;
    QVERIFY(Writers > StreamWriter::stageLimit());
    std::vector<UniqueFd> fds;
    std::vector<std::unique_ptr<StreamWriter>> writers;
    const QByteArray data = test::patternBytes(size, 21);
    for (int i = 0; i < Writers; ++i) {
        const QString path = tmp.filePath(QStringLiteral("f%1").arg(i));
        fds.push_back(create(path));
        QVERIFY(fds.back().valid());
        writers.push_back(std::make_unique<StreamWriter>());
        writers.back()->start(fds.back().get(), 0, size);
    }
    if (!writers.front()->direct())
        QSKIP("no direct I/O on this filesystem");
    for (qint64 pos = 0; pos < size; pos += Frame) {
        const qint64 n = qMin(Frame, size - pos);
        for (int i = 0; i < Writers; ++i) {
            // A disk that keeps up: a stage is free when the frame arrives
            QTRY_VERIFY(StreamWriter::stagesInUse() < StreamWriter::stageLimit());
            QVERIFY(!writers[i]->wouldWait(n));
            QVERIFY(writers[i]->write(data.constData() + pos, n).ok());
            writers[i]->flush(); // the receiver has read all that arrived on this connection
            QVERIFY(StreamWriter::stagesInUse() <= StreamWriter::stageLimit());
            if (pos + n == size) { // the last frame, and END
                QVERIFY2(isDirect(fds[i].get()), "a file went through the page cache");
                QVERIFY(writers[i]->finish().ok());
            }
        }
    }
    for (int i = 0; i < Writers; ++i)
        QCOMPARE(readFile(tmp.filePath(QStringLiteral("f%1").arg(i))), data);
    QTRY_COMPARE(StreamWriter::stagesInUse(), 0);
}

void TestStreamWriter::spentPoolFallsBackToThePageCache()
{
    // Stages are bounded for the whole process. A writer that finds them all taken, with none of
    // its own on the way to the disk, writes the rest of its file through the page cache, byte
    // for byte, and never waits; one that has writes of its own in flight waits for them.
    QTemporaryDir tmp(QDir::currentPath() + QStringLiteral("/tst_streamwriter-XXXXXX"));
    QVERIFY(tmp.isValid());
    const StageLimit limit(2);
    constexpr qint64 Stage = StreamWriter::StageBytes;
    const qint64 size = 3 * Stage + 5;
    const QByteArray a = test::patternBytes(size, 31), b = test::patternBytes(size, 32);
    const UniqueFd fa = create(tmp.filePath(QStringLiteral("a")));
    const UniqueFd fb = create(tmp.filePath(QStringLiteral("b")));
    StreamWriter wa, wb;
    test::DiskHold hold(30000 * test::timeoutFactor());
    wa.start(fa.get(), 0, size);
    wb.start(fb.get(), 0, size);
    if (!wa.direct())
        QSKIP("no direct I/O on this filesystem");
    QVERIFY(wa.write(a.constData(), 2 * Stage).ok()); // both stages to the (held) disk
    QCOMPARE(StreamWriter::stagesInUse(), 2);
    QVERIFY(wa.wouldWait(1)); // its own writes give stages back
    QVERIFY(!wb.wouldWait(Stage));
    QVERIFY(wb.write(b.constData(), size).ok()); // did not wait for the held disk
    QVERIFY(!hold.released());
    QVERIFY(!isDirect(fb.get()));
    QVERIFY(wb.finish().ok());
    QCOMPARE(readFile(tmp.filePath(QStringLiteral("b"))), b);
    hold.release();
    QTRY_VERIFY(!wa.wouldWait(Stage));
    QVERIFY(wa.write(a.constData() + 2 * Stage, size - 2 * Stage).ok());
    QVERIFY(wa.finish().ok());
    QCOMPARE(readFile(tmp.filePath(QStringLiteral("a"))), a);
    QVERIFY(!hold.releasedByDeadline());
    QTRY_COMPARE(StreamWriter::stagesInUse(), 0);
}

void TestStreamWriter::flushGivesTheStageBackWhenStagesRunShort()
{
    // A stream that pauses between frames (the receiver calls flush() when it has read all that
    // arrived) keeps its half-filled stage while stages are plentiful, so that a fast stream
    // writes whole stages; when they run short, it sends what it has to the disk and the stage
    // goes back to the pool once written, instead of waiting for the stream's next frame.
    QTemporaryDir tmp(QDir::currentPath() + QStringLiteral("/tst_streamwriter-XXXXXX"));
    QVERIFY(tmp.isValid());
    const StageLimit limit(4);
    constexpr qint64 Stage = StreamWriter::StageBytes;
    constexpr qint64 Frame = 256 * 1024;
    const qint64 size = 2 * Stage + 3;
    const QByteArray a = test::patternBytes(size, 41), b = test::patternBytes(size, 42);
    const UniqueFd fa = create(tmp.filePath(QStringLiteral("a")));
    const UniqueFd fb = create(tmp.filePath(QStringLiteral("b")));
    StreamWriter wa, wb;
    wa.start(fa.get(), 0, size);
    wb.start(fb.get(), 0, size);
    if (!wa.direct())
        QSKIP("no direct I/O on this filesystem");
    QVERIFY(wa.write(a.constData(), Frame).ok());
    wa.flush(); // 3 of 4 stages free: kept
    QCOMPARE(wa.onDisk(), qint64(0));
    QCOMPARE(StreamWriter::stagesInUse(), 1);
    {
        test::DiskHold hold(30000 * test::timeoutFactor());
        QVERIFY(wb.write(b.constData(), 2 * Stage).ok()); // 2 stages held by the disk
        QCOMPARE(StreamWriter::stagesInUse(), 3);
        wa.flush(); // 1 of 4 free: to the disk
        QCOMPARE(wa.onDisk(), Frame);
        QVERIFY(!hold.releasedByDeadline());
    }
    QTRY_COMPARE(StreamWriter::stagesInUse(), 0);
    QVERIFY(wa.write(a.constData() + Frame, size - Frame).ok());
    QVERIFY(wb.write(b.constData() + 2 * Stage, size - 2 * Stage).ok());
    QVERIFY(wa.finish().ok());
    QVERIFY(wb.finish().ok());
    QCOMPARE(readFile(tmp.filePath(QStringLiteral("a"))), a);
    QCOMPARE(readFile(tmp.filePath(QStringLiteral("b"))), b);
}

QTEST_GUILESS_MAIN(TestStreamWriter)
#include "tst_streamwriter.moc"
