// The console program as a user runs it: `isocket scan --json` on a tree holding every marker
// combination, exit statuses 0/1/2, and configuration errors that name the key, file and line.

#include "tests/testlib/processes.h"
#include "tests/testlib/testtree.h"

#include <sys/resource.h>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QTest>

class TestCli : public QObject
{
    Q_OBJECT

private slots:
    void scanJsonReportsEveryState();
    void scanHumanOutput();
    void exitStatuses_data();
    void exitStatuses();
    void configFileErrorNamesKeyFileAndLine();
    void configErrorsExitTwo_data();
    void configErrorsExitTwo();
    void inlineCommentIsNotPartOfAPath();
    void optionWinsOverConfigFile();
    void receiverRaisesItsOpenFileLimit();

private:
    struct Run
    {
        int exitCode = -1;
        QByteArray out;
        QByteArray err;
    };
    static Run run(const QStringList &args)
    {
        QProcess p;
        p.start(QStringLiteral(ISOCKET_BINARY), args);
        Run r;
        if (!p.waitForFinished(30000 * isocket::test::timeoutFactor())) {
            p.kill();
            p.waitForFinished();
            return r;
        }
        r.exitCode = p.exitStatus() == QProcess::NormalExit ? p.exitCode() : -1;
        r.out = p.readAllStandardOutput();
        r.err = p.readAllStandardError();
        return r;
    }
    static void makeMatrixTree(const QString &root)
    {
        using namespace isocket::test;
        // p1w1, p0w1, p1w0, an older p0w0 and the newest p0w0 (live); mtimes make the order.
        QVERIFY(writeFile(root + QStringLiteral("/DC1_p1w1/a.dat"), "a"));
        QVERIFY(makeDbtag(root, QStringLiteral("DC1_p1w1"), true, true, 1000));
        QVERIFY(writeFile(root + QStringLiteral("/DC2_p0w1/a.dat"), "a"));
        QVERIFY(makeDbtag(root, QStringLiteral("DC2_p0w1"), false, true, 2000));
        QVERIFY(writeFile(root + QStringLiteral("/DC3_p1w0/a.dat"), "aaa"));
        QVERIFY(writeFile(root + QStringLiteral("/DC3_p1w0/sub/b.dat"), "bb"));
        QVERIFY(writeFile(root + QStringLiteral("/DC3_p1w0/sent.dat"), "s", 0664));
        QVERIFY(makeDbtag(root, QStringLiteral("DC3_p1w0"), true, false, 3000));
        QVERIFY(writeFile(root + QStringLiteral("/DC4_p0w0/a.dat"), "1234"));
        QVERIFY(makeDbtag(root, QStringLiteral("DC4_p0w0"), false, false, 4000));
        QVERIFY(writeFile(root + QStringLiteral("/DC5_live/a.dat"), "12345"));
        QVERIFY(makeDbtag(root, QStringLiteral("DC5_live"), false, false, 5000));
        QVERIFY(writeFile(root + QStringLiteral("/not-a-dbtag/x.dat"), "x"));
    }
};

void TestCli::scanJsonReportsEveryState()
{
    QTemporaryDir root;
    makeMatrixTree(root.path());
    const Run r = run({QStringLiteral("scan"), QStringLiteral("--root"), root.path(), QStringLiteral("--json")});
    QCOMPARE(r.exitCode, 0);
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(r.out, &error);
    QVERIFY2(error.error == QJsonParseError::NoError, r.out.constData());
    const QJsonArray tags = doc.object().value(QStringLiteral("dbtags")).toArray();
    QCOMPARE(tags.size(), 5);
    struct Expect
    {
        const char *name;
        const char *state;
        bool newest;
        int files;  // -1: null (never listed)
        int unsent;
        qint64 unsentBytes;
    };
    const Expect expected[] = {
        {"DC1_p1w1", "done", false, -1, -1, -1},
        {"DC2_p0w1", "abnormal", false, -1, -1, -1},
        {"DC3_p1w0", "closed", false, 3, 2, 5},
        {"DC4_p0w0", "closed", false, 1, 1, 4},
        {"DC5_live", "live", true, 1, 1, 5},
    };
    for (int i = 0; i < 5; ++i) {
        const QJsonObject o = tags.at(i).toObject();
        const Expect &e = expected[i];
        QCOMPARE(o.value(QStringLiteral("name")).toString(), QLatin1String(e.name));
        QCOMPARE(o.value(QStringLiteral("state")).toString(), QLatin1String(e.state));
        QCOMPARE(o.value(QStringLiteral("newest")).toBool(), e.newest);
        if (e.files < 0) {
            QVERIFY(o.value(QStringLiteral("files")).isNull());
            QVERIFY(o.value(QStringLiteral("unsent")).isNull());
            QVERIFY(o.value(QStringLiteral("unsent_files")).isNull());
            continue;
        }
        QCOMPARE(o.value(QStringLiteral("files")).toInt(), e.files);
        QCOMPARE(o.value(QStringLiteral("unsent")).toInt(), e.unsent);
        QCOMPARE(o.value(QStringLiteral("unsent_bytes")).toInteger(), e.unsentBytes);
        QCOMPARE(o.value(QStringLiteral("unsent_files")).toArray().size(), e.unsent);
    }
    QStringList unsent;
    for (const QJsonValue v : tags.at(2).toObject().value(QStringLiteral("unsent_files")).toArray())
        unsent << v.toString();
    unsent.sort();
    QCOMPARE(unsent, (QStringList{QStringLiteral("a.dat"), QStringLiteral("sub/b.dat")}));
    // Read-only: nothing was marked or written.
    QVERIFY(!isocket::test::hasGroupWrite(root.filePath(QStringLiteral("DC3_p1w0/a.dat"))));
    QVERIFY(!QFile::exists(root.filePath(QStringLiteral("DC3_p1w0/finished.watch"))));
}

void TestCli::scanHumanOutput()
{
    QTemporaryDir root;
    makeMatrixTree(root.path());
    const Run r = run({QStringLiteral("scan"), QStringLiteral("--root"), root.path()});
    QCOMPARE(r.exitCode, 0);
    const QString out = QString::fromUtf8(r.out);
    QVERIFY2(out.contains(QRegularExpression(QStringLiteral("DC2_p0w1 +abnormal!"))), qPrintable(out));
    QVERIFY(out.contains(QRegularExpression(QStringLiteral("DC3_p1w0 +closed +3 +2 +5 B"))));
    QVERIFY(out.contains(QRegularExpression(QStringLiteral("DC5_live +live +1 +1"))));
    QVERIFY(out.contains(QStringLiteral("without finished.parse")));
}

void TestCli::exitStatuses_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<int>("exitCode");
    QTest::addColumn<QString>("stderrContains");
    QTest::newRow("no command") << QStringList{} << 2 << QStringLiteral("Usage: isocket");
    QTest::newRow("unknown command") << QStringList{QStringLiteral("fly")} << 2
                                     << QStringLiteral("unknown command 'fly'");
    QTest::newRow("unknown option") << QStringList{QStringLiteral("scan"), QStringLiteral("--bogus")} << 2
                                    << QStringLiteral("bogus");
    QTest::newRow("missing root") << QStringList{QStringLiteral("scan"), QStringLiteral("--root"),
                                                 QStringLiteral("/nonexistent/isocket-root")}
                                  << 1 << QStringLiteral("/nonexistent/isocket-root");
    QTest::newRow("bad port option") << QStringList{QStringLiteral("send"), QStringLiteral("--port"), QStringLiteral("99999")}
                                     << 2 << QStringLiteral("--port: send.port");
    QTest::newRow("bad --to") << QStringList{QStringLiteral("send"), QStringLiteral("--to"), QStringLiteral("nohost")}
                              << 2 << QStringLiteral("--to");
    QTest::newRow("bad jobs") << QStringList{QStringLiteral("send"), QStringLiteral("--jobs"), QStringLiteral("0")}
                              << 2 << QStringLiteral("send.jobs");
    QTest::newRow("missing config file") << QStringList{QStringLiteral("scan"), QStringLiteral("--config"),
                                                        QStringLiteral("/nonexistent/isocket.ini")}
                                         << 2 << QStringLiteral("/nonexistent/isocket.ini");
    QTest::newRow("help") << QStringList{QStringLiteral("send"), QStringLiteral("--help")} << 0 << QString();
}

void TestCli::exitStatuses()
{
    QFETCH(QStringList, args);
    QFETCH(int, exitCode);
    QFETCH(QString, stderrContains);
    const Run r = run(args);
    QCOMPARE(r.exitCode, exitCode);
    QVERIFY2(QString::fromUtf8(r.err).contains(stderrContains), r.err.constData());
    if (exitCode == 0)
        QVERIFY(r.out.contains("Usage: isocket send"));
}

void TestCli::configFileErrorNamesKeyFileAndLine()
{
    QTemporaryDir dir;
    const QString ini = dir.filePath(QStringLiteral("isocket.ini"));
    QVERIFY(isocket::test::writeFile(ini, "[data]\nroot = /x\n\n[send]\nport = many\n"));
    const Run r = run({QStringLiteral("send"), QStringLiteral("--config"), ini});
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(QString::fromUtf8(r.err).contains(ini + QStringLiteral(":5: send.port")), r.err.constData());
}

// Issue 14: every configuration error exits 2 and names the file, the line and the key, also
// those found after loading (a log file that cannot be opened, a listen address).
void TestCli::configErrorsExitTwo_data()
{
    QTest::addColumn<QString>("command");
    QTest::addColumn<QByteArray>("ini");
    QTest::addColumn<QString>("expected"); // after the file's path
    QTest::newRow("original key")
        << QStringLiteral("scan") << QByteArray("[data]\n\ndir = /datas\n")
        << QStringLiteral(":3: data.dir: unknown key; the original's "
                          "scan.conf/fsync.conf 'dir' is 'root' in [data]");
    QTest::newRow("original key, no section")
        << QStringLiteral("send") << QByteArray("error_retry_interval = 2\n")
        << QStringLiteral(":1: key 'error_retry_interval' outside of a [section]; the original's "
                          "fsync.conf 'error_retry_interval' is 'retry_interval' in [send]");
    QTest::newRow("gone key") << QStringLiteral("send") << QByteArray("[send]\nsyncfile = /x\n")
                              << QStringLiteral(":2: send.syncfile: unknown key; the original's "
                                                "lsocket.conf 'syncfile' is gone");
    QTest::newRow("twice") << QStringLiteral("receive")
                           << QByteArray("[receive]\nthreads = 1\nthreads = 2\n")
                           << QStringLiteral(":3: receive.threads: given twice, at lines 2 and 3");
    QTest::newRow("log cannot be opened")
        << QStringLiteral("scan") << QByteArray("[general]\nlog = /nonexistent/dir/x.log\n")
        << QStringLiteral(":2: general.log: cannot open /nonexistent/dir/x.log");
    QTest::newRow("listen not an address")
        << QStringLiteral("receive") << QByteArray("[receive]\nlisten = nohost:1\n")
        << QStringLiteral(":2: receive.listen: 'nohost' is not an IP address");
}

void TestCli::configErrorsExitTwo()
{
    QFETCH(QString, command);
    QFETCH(QByteArray, ini);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("isocket.ini"));
    QVERIFY(isocket::test::writeFile(path, ini));
    const Run r = run({command, QStringLiteral("--config"), path});
    QCOMPARE(r.exitCode, 2);
    QVERIFY2(QString::fromUtf8(r.err).contains(path + expected), r.err.constData());
}

// Issue 14: `root = DIR  # comment` took "DIR  # comment" for the root (and exited 1).
void TestCli::inlineCommentIsNotPartOfAPath()
{
    QTemporaryDir dir;
    const QString root = dir.filePath(QStringLiteral("root"));
    makeMatrixTree(root);
    const QString ini = dir.filePath(QStringLiteral("isocket.ini"));
    QVERIFY(isocket::test::writeFile(
        ini, "[data]\nroot = " + root.toUtf8() + "   # where the producer writes\n"));
    const Run r =
        run({QStringLiteral("scan"), QStringLiteral("--config"), ini, QStringLiteral("--json")});
    QVERIFY2(r.exitCode == 0, r.err.constData());
    const QJsonObject doc = QJsonDocument::fromJson(r.out).object();
    QCOMPARE(doc.value(QStringLiteral("dbtags")).toArray().size(), 5);
}

void TestCli::optionWinsOverConfigFile()
{
    QTemporaryDir dir;
    const QString ini = dir.filePath(QStringLiteral("isocket.ini"));
    QVERIFY(isocket::test::writeFile(ini, "[data]\nroot = /nonexistent/from-file\n"));
    makeMatrixTree(dir.filePath(QStringLiteral("root")));
    Run r = run({QStringLiteral("scan"), QStringLiteral("--config"), ini});
    QCOMPARE(r.exitCode, 1);
    QVERIFY(r.err.contains("/nonexistent/from-file"));
    r = run({QStringLiteral("scan"), QStringLiteral("--config"), ini, QStringLiteral("--root"),
             dir.filePath(QStringLiteral("root")), QStringLiteral("--json")});
    QCOMPARE(r.exitCode, 0);
    QCOMPARE(QJsonDocument::fromJson(r.out).object().value(QStringLiteral("dbtags")).toArray().size(), 5);
}

void TestCli::receiverRaisesItsOpenFileLimit()
{
    // Many EDs with a window of files each need more descriptors than the usual soft limit of
    // 1024: the receiver lifts its soft limit to the hard one. Started under a soft limit of 256.
    struct rlimit lim = {};
    QVERIFY(::getrlimit(RLIMIT_NOFILE, &lim) == 0);
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max <= 256)
        QSKIP("the hard limit of open files is 256 or less here: nothing to raise");
    QTemporaryDir dir;
    isocket::test::Process receiver(QStringLiteral("receiver"));
    QVERIFY(receiver.start(QStringLiteral("/bin/sh"),
                           {QStringLiteral("-c"),
                            QStringLiteral("ulimit -Sn 256 && exec \"$0\" receive --root \"$1\" "
                                           "--listen 127.0.0.1:0"),
                            isocket::test::isocketBinary(), dir.path()}));
    QVERIFY(receiver.waitForOutput(QStringLiteral("listening"), isocket::test::e2eTimeout()));
    QFile limits(QStringLiteral("/proc/%1/limits").arg(receiver.pid()));
    QVERIFY(limits.open(QIODevice::ReadOnly | QIODevice::Text));
    QString line; // /proc files have no size: read them whole, not up to atEnd()
    for (const QString &l : QString::fromLatin1(limits.readAll()).split(QLatin1Char('\n')))
        if (l.startsWith(QLatin1String("Max open files")))
            line = l;
    // "Max open files            <soft>               <hard>               files"
    const QStringList fields = line.mid(int(qstrlen("Max open files"))).split(QLatin1Char(' '), Qt::SkipEmptyParts);
    QVERIFY2(fields.size() >= 2, qPrintable(line));
    QCOMPARE(fields.at(0), fields.at(1));
    QVERIFY(fields.at(0) != QLatin1String("256"));
    receiver.terminate();
    QVERIFY(receiver.waitForExit(isocket::test::e2eTimeout()));
    QCOMPARE(receiver.exitCode(), 0);
}

QTEST_GUILESS_MAIN(TestCli)
#include "tst_cli.moc"
