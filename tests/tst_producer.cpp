// The producer simulator: the tree it writes (names, modes, sizes, markers, contents), that it
// writes big files in chunks across event-loop turns, that the scanner classifies its dbtags
// as the parser's, its error and stop paths, and `isocket simulate` as a real process.

#include "core/producer.h"
#include "core/scanner.h"
#include "tests/testlib/testtree.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QProcess>
#include <QRegularExpression>
#include <QSet>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>

using namespace isocket;

class TestProducer : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanupTestCase();
    void tree_data();
    void tree();
    void deterministicContents();
    void bigFileInChunks();
    void smallFileInTwoWrites();
    void scannerClassification_data();
    void scannerClassification();
    void namesGrowPastExistingDbtags();
    void emptyDbtags();
    void errorFinishesOnce();
    void badOptionFinishesOnce();
    void stopFinishesOnce();
    void simulateBinary();
    void simulateBadValues_data();
    void simulateBadValues();

private:
    mode_t m_oldUmask = 0;
};

namespace {

int timeoutMs(int ms)
{
    return ms * test::timeoutFactor();
}

// Runs `producer` to its end; returns the `ok` of its single finished().
bool runToEnd(Producer &producer, int timeout = 20000)
{
    QSignalSpy finished(&producer, &Producer::finished);
    producer.start();
    if (!finished.wait(timeoutMs(timeout)) || finished.size() != 1)
        return false;
    return finished.constFirst().constFirst().toBool();
}

QStringList dbtagNames(const QString &root, const QString &prefix = QStringLiteral("DC"))
{
    return QDir(root).entryList({prefix + QLatin1Char('*')}, QDir::Dirs | QDir::NoDotAndDotDot,
                                QDir::Name);
}

// Relative paths of every regular file under `dir`, sorted.
QStringList filesUnder(const QString &dir)
{
    QStringList out;
    QDirIterator it(dir, QDir::Files | QDir::Hidden, QDirIterator::Subdirectories);
    while (it.hasNext())
        out.append(QDir(dir).relativeFilePath(it.next()));
    out.sort();
    return out;
}

QByteArray readAll(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

unsigned modeOf(const QString &path)
{
    struct stat st;
    if (::lstat(QFile::encodeName(path).constData(), &st) != 0)
        return 0;
    return st.st_mode & 07777;
}

qint64 sizeOf(const QString &path)
{
    struct stat st;
    if (::stat(QFile::encodeName(path).constData(), &st) != 0)
        return -1;
    return st.st_size;
}

} // namespace

void TestProducer::initTestCase()
{
    // A umask that would hand out g+w: the producer must still create 0644.
    m_oldUmask = ::umask(0);
}

void TestProducer::cleanupTestCase()
{
    ::umask(m_oldUmask);
}

void TestProducer::tree_data()
{
    QTest::addColumn<int>("dbtags");
    QTest::addColumn<int>("files");
    QTest::addColumn<qint64>("size");
    QTest::addColumn<bool>("leaveOpen");
    QTest::addColumn<bool>("subdirs");

    QTest::newRow("one dbtag") << 1 << 5 << qint64(4096) << false << false;
    QTest::newRow("three dbtags") << 3 << 4 << qint64(1000) << false << false;
    QTest::newRow("leave open") << 3 << 2 << qint64(10) << true << false;
    QTest::newRow("subdirs") << 2 << 7 << qint64(333) << false << true;
    QTest::newRow("empty files") << 2 << 3 << qint64(0) << true << true;
    QTest::newRow("one byte") << 1 << 2 << qint64(1) << false << false;
    QTest::newRow("chunked") << 2 << 2 << Producer::ChunkSize * 2 + 7 << false << false;
}

void TestProducer::tree()
{
    QFETCH(int, dbtags);
    QFETCH(int, files);
    QFETCH(qint64, size);
    QFETCH(bool, leaveOpen);
    QFETCH(bool, subdirs);

    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString root = tmp.filePath(QStringLiteral("datas")); // created by the producer
    ProducerOptions options;
    options.root = root;
    options.dbtags = dbtags;
    options.files = files;
    options.size = size;
    options.intervalMs = 0;
    options.leaveOpen = leaveOpen;
    options.subdirs = subdirs;
    options.seed = 7;
    Producer producer(options);

    QSignalSpy started(&producer, &Producer::dbtagStarted);
    QSignalSpy written(&producer, &Producer::fileWritten);
    QSignalSpy closed(&producer, &Producer::dbtagClosed);
    QSignalSpy progress(&producer, &Producer::progress);
    QSignalSpy failed(&producer, &Producer::failed);
    QVERIFY(started.isValid() && written.isValid() && closed.isValid() && progress.isValid());
    QVERIFY(runToEnd(producer));

    QCOMPARE(failed.size(), 0);
    QCOMPARE(started.size(), dbtags);
    QCOMPARE(written.size(), dbtags * files);
    QCOMPARE(closed.size(), leaveOpen ? dbtags - 1 : dbtags);
    QVERIFY(!progress.isEmpty());
    QCOMPARE(progress.constLast().at(0).toInt(), dbtags * files);
    QCOMPARE(progress.constLast().at(1).toInt(), dbtags * files);
    QCOMPARE(producer.filesWritten(), dbtags * files);
    QCOMPARE(producer.bytesWritten(), dbtags * files * size);
    for (const QList<QVariant> &args : std::as_const(written))
        QCOMPARE(args.at(1).toLongLong(), size);

    const QStringList names = dbtagNames(root);
    QCOMPARE(names.size(), dbtags);
    static const QRegularExpression nameRe(QStringLiteral("^DC[0-9]{14}$"));
    for (int i = 0; i < names.size(); ++i) {
        QVERIFY2(nameRe.match(names.at(i)).hasMatch(), qPrintable(names.at(i)));
        if (i > 0)
            QVERIFY(names.at(i - 1) < names.at(i));
        QCOMPARE(QDir(root).filePath(names.at(i)), producer.dbtagPaths().at(i));
        QCOMPARE(started.at(i).at(0).toString(), producer.dbtagPaths().at(i));
    }

    for (int d = 0; d < dbtags; ++d) {
        const QString dir = QDir(root).filePath(names.at(d));
        const bool open = leaveOpen && d == dbtags - 1;
        QStringList expected;
        for (int f = 1; f <= files; ++f)
            expected.append(Producer::relativeFilePath(f, subdirs));
        if (!open)
            expected.append(QStringLiteral("finished.parse"));
        expected.sort();
        QCOMPARE(filesUnder(dir), expected);
        for (int f = 1; f <= files; ++f) {
            const QString path = dir + QLatin1Char('/') + Producer::relativeFilePath(f, subdirs);
            QCOMPARE(modeOf(path), 0644u);
            QCOMPARE(sizeOf(path), size);
            QVERIFY(readAll(path) == Producer::expectedContents(7, d + 1, f, size));
        }
        if (!open)
            QCOMPARE(modeOf(dir + QStringLiteral("/finished.parse")), 0644u);
    }
    if (subdirs && files >= 3)
        QVERIFY(QFileInfo(QDir(root).filePath(names.at(0) + QStringLiteral("/sub-1"))).isDir());
}

void TestProducer::deterministicContents()
{
    auto runInto = [](const QString &root, quint32 seed) {
        ProducerOptions options;
        options.root = root;
        options.dbtags = 2;
        options.files = 3;
        options.size = 5000;
        options.intervalMs = 0;
        options.seed = seed;
        Producer producer(options);
        return runToEnd(producer);
    };
    // All the bytes of a root in dbtag order, dbtag names left out.
    auto contentsOf = [](const QString &root) {
        QList<QByteArray> out;
        for (const QString &name : dbtagNames(root))
            for (const QString &rel : filesUnder(QDir(root).filePath(name)))
                out.append(readAll(QDir(root).filePath(name + QLatin1Char('/') + rel)));
        return out;
    };

    QTemporaryDir a, b, c;
    QVERIFY(a.isValid() && b.isValid() && c.isValid());
    QVERIFY(runInto(a.path(), 42));
    QVERIFY(runInto(b.path(), 42));
    QVERIFY(runInto(c.path(), 43));
    const QList<QByteArray> first = contentsOf(a.path());
    QCOMPARE(first.size(), 2 * 4); // 3 files and the marker, twice
    QVERIFY(first == contentsOf(b.path()));
    QVERIFY(first != contentsOf(c.path()));

    // Every file of a run differs from every other.
    QSet<QByteArray> distinct;
    for (const QByteArray &bytes : first)
        if (!bytes.isEmpty())
            distinct.insert(bytes);
    QCOMPARE(distinct.size(), 6);
}

void TestProducer::bigFileInChunks()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const qint64 size = Producer::ChunkSize * 4 + 123;
    ProducerOptions options;
    options.root = tmp.path();
    options.files = 1;
    options.size = size;
    options.intervalMs = 0;
    Producer producer(options);

    // Each event-loop turn, look at the file as a watcher would.
    QString path;
    bool writtenSeen = false;
    QList<qint64> partialSizes;
    qint64 sizeAtSignal = -1;
    connect(&producer, &Producer::dbtagStarted, this, [&](const QString &dir) {
        path = dir + QLatin1Char('/') + Producer::relativeFilePath(1, false);
    });
    connect(&producer, &Producer::fileWritten, this, [&](const QString &p, qint64) {
        QCOMPARE(p, path);
        writtenSeen = true;
        sizeAtSignal = sizeOf(p);
    });
    QTimer observer;
    observer.setInterval(0);
    connect(&observer, &QTimer::timeout, this, [&] {
        if (path.isEmpty() || writtenSeen)
            return;
        const qint64 now = sizeOf(path);
        if (now >= 0 && now < size && (partialSizes.isEmpty() || partialSizes.constLast() != now))
            partialSizes.append(now);
    });
    observer.start();

    QSignalSpy written(&producer, &Producer::fileWritten);
    QVERIFY(runToEnd(producer));
    observer.stop();

    QCOMPARE(written.size(), 1);
    QCOMPARE(written.constFirst().at(1).toLongLong(), size);
    QCOMPARE(sizeAtSignal, size);
    // The file was seen open and partly written at least twice, at chunk boundaries.
    QVERIFY2(partialSizes.size() >= 2, qPrintable(QString::number(partialSizes.size())));
    for (qint64 s : std::as_const(partialSizes))
        QCOMPARE(s % Producer::ChunkSize, 0);
    QVERIFY(readAll(path) == Producer::expectedContents(1, 1, 1, size));
}

void TestProducer::smallFileInTwoWrites()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    ProducerOptions options;
    options.root = tmp.path();
    options.files = 2;
    options.size = 1000;
    options.intervalMs = 0;
    Producer producer(options);

    QString second;
    bool halfSeen = false;
    connect(&producer, &Producer::dbtagStarted, this, [&](const QString &dir) {
        second = dir + QLatin1Char('/') + Producer::relativeFilePath(2, false);
    });
    QTimer observer;
    observer.setInterval(0);
    connect(&observer, &QTimer::timeout, this, [&] {
        if (!second.isEmpty() && sizeOf(second) == 500)
            halfSeen = true;
    });
    observer.start();
    QVERIFY(runToEnd(producer));
    QVERIFY(halfSeen);
    QCOMPARE(sizeOf(second), qint64(1000));
}

void TestProducer::scannerClassification_data()
{
    QTest::addColumn<bool>("leaveOpen");
    QTest::newRow("all closed") << false;
    QTest::newRow("last live") << true;
}

void TestProducer::scannerClassification()
{
    QFETCH(bool, leaveOpen);
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    ProducerOptions options;
    options.root = tmp.path();
    options.dbtags = 3;
    options.files = 4;
    options.size = 100;
    options.intervalMs = 0;
    options.leaveOpen = leaveOpen;
    options.subdirs = true;
    Producer producer(options);
    QVERIFY(runToEnd(producer));

    Scanner scanner(ScanOptions{tmp.path()});
    auto result = scanner.scan(true);
    QVERIFY2(result.ok(), result.ok() ? "" : qPrintable(result.error().message));
    const QList<DbtagInfo> &tags = result.value();
    QCOMPARE(tags.size(), 3);
    for (int i = 0; i < tags.size(); ++i) {
        const bool live = leaveOpen && i == tags.size() - 1;
        QCOMPARE(tags.at(i).path, producer.dbtagPaths().at(i));
        QCOMPARE(tags.at(i).state, live ? DbtagState::Live : DbtagState::Closed);
        QCOMPARE(tags.at(i).hasParse, !live);
        QCOMPARE(tags.at(i).files.size(), 4);
        QCOMPARE(tags.at(i).unsentCount(), 4);
        QCOMPARE(tags.at(i).unsentBytes(), qint64(400));
    }
}

void TestProducer::namesGrowPastExistingDbtags()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    // A dbtag from the future: new names must still sort after it, across a new day and year.
    QVERIFY(QDir(tmp.path()).mkdir(QStringLiteral("DC29991231235958")));
    QVERIFY(QDir(tmp.path()).mkdir(QStringLiteral("DCnot-a-timestamp")));
    ProducerOptions options;
    options.root = tmp.path();
    options.dbtags = 3;
    options.files = 0;
    Producer producer(options);
    QVERIFY(runToEnd(producer));
    QCOMPARE(dbtagNames(tmp.path()),
             QStringList({QStringLiteral("DC29991231235958"), QStringLiteral("DC29991231235959"),
                          QStringLiteral("DC30000101000000"), QStringLiteral("DC30000101000001"),
                          QStringLiteral("DCnot-a-timestamp")}));
}

void TestProducer::emptyDbtags()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    ProducerOptions options;
    options.root = tmp.path();
    options.prefix = QStringLiteral("XY");
    options.doneParse = QStringLiteral("parse.done");
    options.dbtags = 2;
    options.files = 0;
    Producer producer(options);
    QSignalSpy closed(&producer, &Producer::dbtagClosed);
    QVERIFY(runToEnd(producer));
    QCOMPARE(closed.size(), 2);
    const QStringList names = dbtagNames(tmp.path(), QStringLiteral("XY"));
    QCOMPARE(names.size(), 2);
    for (const QString &name : names)
        QCOMPARE(filesUnder(QDir(tmp.path()).filePath(name)),
                 QStringList{QStringLiteral("parse.done")});
}

void TestProducer::errorFinishesOnce()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString notADir = tmp.filePath(QStringLiteral("file"));
    QVERIFY(test::writeFile(notADir, "x"));
    ProducerOptions options;
    options.root = notADir + QStringLiteral("/root");
    Producer producer(options);
    QSignalSpy failed(&producer, &Producer::failed);
    QSignalSpy finished(&producer, &Producer::finished);
    QSignalSpy started(&producer, &Producer::dbtagStarted);
    producer.start();
    QCOMPARE(finished.size(), 0); // never from inside start()
    QVERIFY(finished.wait(timeoutMs(5000)));
    QCOMPARE(finished.size(), 1);
    QCOMPARE(finished.constFirst().constFirst().toBool(), false);
    QCOMPARE(failed.size(), 1);
    const QString message = failed.constFirst().constFirst().toString();
    QVERIFY2(message.contains(notADir), qPrintable(message));
    QVERIFY2(message.contains(QStringLiteral("Not a directory")), qPrintable(message));
    QCOMPARE(producer.errorString(), message);
    QCOMPARE(started.size(), 0);
    QVERIFY(!producer.isRunning());
}

void TestProducer::badOptionFinishesOnce()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    ProducerOptions options;
    options.root = tmp.path();
    options.dbtags = 0;
    Producer producer(options);
    QSignalSpy failed(&producer, &Producer::failed);
    QSignalSpy finished(&producer, &Producer::finished);
    producer.start();
    QVERIFY(finished.wait(timeoutMs(5000)));
    QCOMPARE(finished.size(), 1);
    QCOMPARE(failed.size(), 1);
    QVERIFY(failed.constFirst().constFirst().toString().contains(QStringLiteral("dbtags")));
    QVERIFY(dbtagNames(tmp.path()).isEmpty());
}

void TestProducer::stopFinishesOnce()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    ProducerOptions options;
    options.root = tmp.path();
    options.files = 3;
    options.intervalMs = 60000; // the first file would come after a minute
    Producer producer(options);
    QSignalSpy failed(&producer, &Producer::failed);
    QSignalSpy finished(&producer, &Producer::finished);
    QSignalSpy started(&producer, &Producer::dbtagStarted);
    producer.start();
    QVERIFY(started.wait(timeoutMs(5000)));
    producer.stop();
    QCOMPARE(finished.size(), 1);
    QCOMPARE(finished.constFirst().constFirst().toBool(), false);
    QCOMPARE(failed.size(), 0);
    QVERIFY(!producer.isRunning());
    producer.stop(); // a second stop is a no-op
    QCOMPARE(finished.size(), 1);

    // Barrier: a later run finishes, and meanwhile the stopped one added nothing.
    ProducerOptions quick = options;
    quick.intervalMs = 0;
    quick.files = 1;
    Producer second(quick);
    QVERIFY(runToEnd(second));
    QCOMPARE(finished.size(), 1);
    QCOMPARE(filesUnder(producer.dbtagPaths().constFirst()), QStringList());
}

void TestProducer::simulateBinary()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString root = tmp.filePath(QStringLiteral("datas"));
    QProcess proc;
    proc.start(QStringLiteral(ISOCKET_BINARY),
               {QStringLiteral("simulate"), QStringLiteral("--root"), root,
                QStringLiteral("--dbtags"), QStringLiteral("2"), QStringLiteral("--files"),
                QStringLiteral("3"), QStringLiteral("--size"), QStringLiteral("1K"),
                QStringLiteral("--interval"), QStringLiteral("0")});
    QVERIFY(proc.waitForFinished(timeoutMs(20000)));
    const QByteArray err = proc.readAllStandardError();
    QCOMPARE(proc.exitStatus(), QProcess::NormalExit);
    QVERIFY2(proc.exitCode() == 0, err.constData());
    const QString out = QString::fromLocal8Bit(proc.readAllStandardOutput()).trimmed();
    QCOMPARE(out, QStringLiteral("wrote 6 files (6144 bytes) in 2 dbtags under %1").arg(root));
    QCOMPARE(err.count('\n'), 2); // one line per dbtag
    QVERIFY2(err.contains("3 files, 3.0 KiB"), err.constData());

    const QStringList names = dbtagNames(root);
    QCOMPARE(names.size(), 2);
    QVERIFY(names.at(0) < names.at(1));
    for (int d = 0; d < 2; ++d) {
        const QString dir = QDir(root).filePath(names.at(d));
        QCOMPARE(
            filesUnder(dir),
            QStringList({QStringLiteral("data-000001.dat"), QStringLiteral("data-000002.dat"),
                         QStringLiteral("data-000003.dat"), QStringLiteral("finished.parse")}));
        for (int f = 1; f <= 3; ++f) {
            const QString path = dir + QLatin1Char('/') + Producer::relativeFilePath(f, false);
            QCOMPARE(modeOf(path), 0644u);
            QVERIFY(readAll(path) == Producer::expectedContents(1, d + 1, f, 1024));
        }
    }
}

void TestProducer::simulateBadValues_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("option");
    QTest::newRow("files -1") << QStringList{QStringLiteral("--files"), QStringLiteral("-1")}
                              << QStringLiteral("--files");
    QTest::newRow("dbtags 0") << QStringList{QStringLiteral("--dbtags"), QStringLiteral("0")}
                              << QStringLiteral("--dbtags");
    QTest::newRow("size 3X") << QStringList{QStringLiteral("--size"), QStringLiteral("3X")}
                             << QStringLiteral("--size");
    QTest::newRow("interval -5") << QStringList{QStringLiteral("--interval=-5")}
                                 << QStringLiteral("--interval");
    QTest::newRow("seed abc") << QStringList{QStringLiteral("--seed"), QStringLiteral("abc")}
                              << QStringLiteral("--seed");
}

void TestProducer::simulateBadValues()
{
    QFETCH(QStringList, args);
    QFETCH(QString, option);
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    QProcess proc;
    proc.start(QStringLiteral(ISOCKET_BINARY),
               QStringList{QStringLiteral("simulate"), QStringLiteral("--root"), tmp.path()} +
                   args);
    QVERIFY(proc.waitForFinished(timeoutMs(20000)));
    const QByteArray err = proc.readAllStandardError();
    QCOMPARE(proc.exitCode(), 2);
    QVERIFY2(QString::fromLocal8Bit(err).contains(option), err.constData());
    QVERIFY(dbtagNames(tmp.path()).isEmpty());
}

QTEST_GUILESS_MAIN(TestProducer)
#include "tst_producer.moc"
