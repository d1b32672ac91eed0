// The console log line: the same text Qt's message pattern gives (the format operators and
// scripts read), built without the pattern engine. The log file (--log): whole lines from many
// threads at once, also while the file is switched.

#include "core/logging.h"

#include <QDateTime>
#include <QFile>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QTest>
#include <QThread>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

using namespace isocket;

class TestLogging : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void sameAsMessagePattern_data();
    void sameAsMessagePattern();
    void journalLineHasPriorityNoTimestamp_data();
    void journalLineHasPriorityNoTimestamp();
    void fileGetsWholeLinesFromManyThreads();
    void fileSwitchedWhileThreadsLog();
};

namespace {

constexpr int Threads = 8;
constexpr int LinesPerThread = 800;

// The message of line `n` of thread `t`: its numbers and a payload that is theirs alone, of a
// length between 20 bytes and 4.5 KiB (the 4 KiB ERROR messages).
QString threadLine(int t, int n)
{
    const int length = 20 + (n * 997 + t * 131) % 4600;
    return QStringLiteral("t%1 n%2 ").arg(t).arg(n) +
           QString(length, QLatin1Char(char('a' + (t * 7 + n) % 26)));
}

// Runs `Threads` threads that each log LinesPerThread lines of threadLine() at once; calls
// `meanwhile` repeatedly until they are done.
void logFromThreads(const std::function<void()> &meanwhile = {})
{
    std::atomic<int> ready = 0;
    std::vector<std::unique_ptr<QThread>> threads;
    for (int t = 0; t < Threads; ++t) {
        threads.emplace_back(QThread::create([t, &ready] {
            ++ready;
            while (ready.load() < Threads) {
            } // start together
            for (int n = 0; n < LinesPerThread; ++n)
                qCInfo(lcRecv).noquote() << threadLine(t, n);
        }));
        threads.back()->start();
    }
    auto running = [&] {
        for (const auto &thread : threads)
            if (!thread->isFinished())
                return true;
        return false;
    };
    QDeadlineTimer deadline(60000);
    while (running() && !deadline.hasExpired()) {
        if (meanwhile)
            meanwhile();
        else
            QThread::yieldCurrentThread();
    }
    for (const auto &thread : threads)
        QVERIFY(thread->wait(deadline));
}

// Checks that the lines of `files` hold every threadLine() exactly once, each whole and intact.
void checkLines(const QStringList &files)
{
    static const QRegularExpression lineRe(
        QStringLiteral("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3} "
                       "info  isocket\\.recv: (t(\\d+) n(\\d+) [a-z]+)$"));
    std::vector<int> seen(Threads * LinesPerThread, 0);
    int total = 0;
    for (const QString &path : files) {
        QFile file(path);
        QVERIFY2(file.open(QIODevice::ReadOnly), qPrintable(path));
        const QByteArray all = file.readAll();
        QVERIFY2(all.isEmpty() || all.endsWith('\n'), "the last line is cut");
        const QList<QByteArray> lines = all.split('\n');
        for (qsizetype i = 0; i + 1 < lines.size(); ++i) {
            const QString line = QString::fromUtf8(lines[i]);
            const auto m = lineRe.match(line);
            QVERIFY2(m.hasMatch(), qPrintable(QStringLiteral("%1 line %2 is broken: %3")
                                                  .arg(path)
                                                  .arg(i + 1)
                                                  .arg(line.left(200))));
            const int t = m.captured(2).toInt();
            const int n = m.captured(3).toInt();
            QVERIFY(t < Threads && n < LinesPerThread);
            QCOMPARE(m.captured(1), threadLine(t, n));
            ++seen[t * LinesPerThread + n];
            ++total;
        }
    }
    QCOMPARE(total, Threads * LinesPerThread);
    for (int i = 0; i < int(seen.size()); ++i)
        QVERIFY2(seen[i] == 1, qPrintable(QStringLiteral("t%1 n%2 appears %3 times")
                                              .arg(i / LinesPerThread)
                                              .arg(i % LinesPerThread)
                                              .arg(seen[i])));
}

} // namespace

void TestLogging::initTestCase()
{
    // openLogFile() passes every message on to the handler before it: keep the console quiet.
    qInstallMessageHandler([](QtMsgType, const QMessageLogContext &, const QString &) {});
}

void TestLogging::sameAsMessagePattern_data()
{
    QTest::addColumn<int>("type");
    QTest::addColumn<QString>("message");
    QTest::newRow("info") << int(QtInfoMsg) << QStringLiteral("sent DC000001/a.dat (4096 bytes)");
    QTest::newRow("warning, not ASCII")
        << int(QtWarningMsg) << QStringLiteral("données reçues: 10 µs");
    QTest::newRow("critical") << int(QtCriticalMsg) << QStringLiteral("giving up");
    QTest::newRow("debug, empty") << int(QtDebugMsg) << QString();
}

void TestLogging::sameAsMessagePattern()
{
    QFETCH(int, type);
    QFETCH(QString, message);
    installConsoleMessagePattern();
    const QMessageLogContext context(nullptr, 0, nullptr, "isocket.send");
    const QByteArray ours = formatLogLine(QtMsgType(type), context, message);
    const QByteArray qts = qFormatLogMessage(QtMsgType(type), context, message).toUtf8() + '\n';

    static const QRegularExpression stamp(
        QStringLiteral("^(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}) "));
    const auto a = stamp.match(QString::fromUtf8(ours));
    const auto b = stamp.match(QString::fromUtf8(qts));
    QVERIFY2(a.hasMatch(), ours.constData());
    QVERIFY2(b.hasMatch(), qts.constData());
    QCOMPARE(ours.mid(24), qts.mid(24)); // level, category, message, newline
    const QDateTime ta = QDateTime::fromString(a.captured(1), Qt::ISODateWithMs);
    const QDateTime tb = QDateTime::fromString(b.captured(1), Qt::ISODateWithMs);
    QVERIFY(ta.isValid());
    QVERIFY(qAbs(ta.msecsTo(tb)) < 2000); // the same clock and zone, a moment apart
}

void TestLogging::journalLineHasPriorityNoTimestamp_data()
{
    QTest::addColumn<int>("type");
    QTest::addColumn<QByteArray>("expected");
    // sd-daemon.h: SD_DEBUG <7>, SD_INFO <6>, SD_WARNING <4>, SD_CRIT <2>; journalctl -p warning
    // shows <4> and below.
    QTest::newRow("debug") << int(QtDebugMsg) << QByteArray("<7>debug isocket.send: m\n");
    QTest::newRow("info") << int(QtInfoMsg) << QByteArray("<6>info  isocket.send: m\n");
    QTest::newRow("warning") << int(QtWarningMsg) << QByteArray("<4>warn  isocket.send: m\n");
    QTest::newRow("critical") << int(QtCriticalMsg) << QByteArray("<2>crit  isocket.send: m\n");
}

void TestLogging::journalLineHasPriorityNoTimestamp()
{
    QFETCH(int, type);
    QFETCH(QByteArray, expected);
    const QMessageLogContext context(nullptr, 0, nullptr, "isocket.send");
    QCOMPARE(formatJournalLine(QtMsgType(type), context, QStringLiteral("m")), expected);
    // The same level, category and message as the console line, without its timestamp.
    QCOMPARE(formatLogLine(QtMsgType(type), context, QStringLiteral("m")).mid(24), expected.mid(3));
}

// Issue 13: the receiver's I/O threads logged into one QFile without a lock and corrupted the
// heap (SIGABRT within seconds) or the lines.
void TestLogging::fileGetsWholeLinesFromManyThreads()
{
    QTemporaryDir tmp;
    const QString path = tmp.filePath(QStringLiteral("isocket.log"));
    QVERIFY(openLogFile(path));
    logFromThreads();
    closeLogFile();
    if (QTest::currentTestFailed())
        return;
    checkLines({path});
}

// Lines logged while the file is switched (openLogFile() again) land whole in one file or the
// other; none is lost or cut.
void TestLogging::fileSwitchedWhileThreadsLog()
{
    QTemporaryDir tmp;
    const QStringList paths = {tmp.filePath(QStringLiteral("a.log")),
                               tmp.filePath(QStringLiteral("b.log"))};
    QVERIFY(openLogFile(paths[0]));
    int switches = 0;
    bool opened = true;
    logFromThreads([&] {
        opened = opened && bool(openLogFile(paths[++switches % 2]));
        QThread::yieldCurrentThread();
    });
    closeLogFile();
    if (QTest::currentTestFailed())
        return;
    QVERIFY(opened);
    QVERIFY2(switches > 1, "the threads finished before the file was switched");
    checkLines(paths);
}

QTEST_GUILESS_MAIN(TestLogging)
#include "tst_logging.moc"
