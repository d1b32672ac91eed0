// StreamWriter: a file arriving in pieces of any size ends up byte for byte on disk, whether it
// was written directly (O_DIRECT through the aligned stage) or through the page cache, and a
// stream stopped early leaves exactly the bytes received (what a resume starts from).

#include "core/fileutil.h"
#include "core/streamwriter.h"
#include "tests/testlib/testtree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <QFile>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QTest>

using namespace isocket;

class TestStreamWriter : public QObject
{
    Q_OBJECT

private slots:
    void wholeFile_data();
    void wholeFile();
    void stoppedEarlyKeepsWhatArrived();
    void unalignedResumeIsBuffered();

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

QTEST_GUILESS_MAIN(TestStreamWriter)
#include "tst_streamwriter.moc"
