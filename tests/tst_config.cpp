// Configuration: defaults, the INI file, options over the file, and errors that name the key,
// the file and the line.

#include "core/config.h"
#include "core/receiverservice.h"
#include "tests/testlib/testtree.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace isocket;

class TestConfig : public QObject
{
    Q_OBJECT

private slots:
    void defaults();
    void loadsEveryKey();
    void badValues_data();
    void badValues();
    void optionWinsOverFile();
    void inlineComments();
    void originsOfKeys();
    void hostPort_data();
    void hostPort();
    void names_data();
    void names();
    void statusKeys();
    void everyKeyIsSettable();
    void monitorSecretFile();
    void receiverLists();
    void badReceiverEntries_data();
    void badReceiverEntries();
};

void TestConfig::defaults()
{
    const Config c;
    QCOMPARE(c.dataRoot, QStringLiteral("/datas"));
    QCOMPARE(c.prefix, QStringLiteral("DC"));
    QCOMPARE(c.doneParse, QStringLiteral("finished.parse"));
    QCOMPARE(c.doneWatch, QStringLiteral("finished.watch"));
    QCOMPARE(c.server, QStringLiteral("127.0.0.1"));
    QCOMPARE(c.port, quint16(12345));
    QCOMPARE(c.retryIntervalMs, 2000);
    QCOMPARE(c.partialMaxAgeSecs, qint64(7 * 24 * 3600));
    QVERIFY(!c.effectiveSource().isEmpty());
}

void TestConfig::loadsEveryKey()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString path = dir.filePath(QStringLiteral("isocket.ini"));
    QVERIFY(test::writeFile(path, "# comment\n"
                                  "[data]\n"
                                  "root = /srv/data\n"
                                  "prefix = XY\n"
                                  "done_parse = parse.done\n"
                                  "done_watch = \"watch.done\"\n"
                                  "settle = 500ms\n"
                                  "[send]\n"
                                  "; another comment\n"
                                  "server = drms.example\n"
                                  "port = 4000\n"
                                  "source = ed-7\n"
                                  "jobs = 3\n"
                                  "retry_interval = 1.5s\n"
                                  "retry_max = 2m\n"
                                  "[receive]\n"
                                  "root = /srv/in\n"
                                  "listen = [::1]:5000\n"
                                  "reserve = 1G\n"
                                  "sync = file\n"
                                  "threads = 3\n"
                                  "partial_max_age = 36h\n"
                                  "monitor_secret_file = /etc/isocket/monitor.secret\n"));
    Config c;
    const auto r = c.loadFile(path);
    QVERIFY2(r.ok(), r.ok() ? "" : qPrintable(r.error().message));
    QCOMPARE(c.dataRoot, QStringLiteral("/srv/data"));
    QCOMPARE(c.prefix, QStringLiteral("XY"));
    QCOMPARE(c.doneParse, QStringLiteral("parse.done"));
    QCOMPARE(c.doneWatch, QStringLiteral("watch.done"));
    QCOMPARE(c.settleMs, 500);
    QCOMPARE(c.server, QStringLiteral("drms.example"));
    QCOMPARE(c.port, quint16(4000));
    QCOMPARE(c.effectiveSource(), QStringLiteral("ed-7"));
    QCOMPARE(c.jobs, 3);
    QCOMPARE(c.retryIntervalMs, 1500);
    QCOMPARE(c.retryMaxMs, 120000);
    QCOMPARE(c.receiveRoot, QStringLiteral("/srv/in"));
    QCOMPARE(c.listenHost, QStringLiteral("::1"));
    QCOMPARE(c.listenPort, quint16(5000));
    QCOMPARE(c.reserveBytes, qint64(1) << 30);
    QCOMPARE(c.syncPerFile, true);
    QCOMPARE(c.receiveThreads, 3);
    QCOMPARE(c.partialMaxAgeSecs, qint64(36 * 3600));
    QCOMPARE(c.monitorSecretFile, QStringLiteral("/etc/isocket/monitor.secret"));
}

void TestConfig::badValues_data()
{
    QTest::addColumn<QByteArray>("ini");
    QTest::addColumn<QString>("expected"); // must appear in the message

    QTest::newRow("unknown key") << QByteArray("[send]\nsrever = x\n") << QStringLiteral(":2: send.srever: unknown key");
    QTest::newRow("unknown section") << QByteArray("[sned]\nserver = x\n") << QStringLiteral(":2: sned.server: unknown key");
    QTest::newRow("port not a number") << QByteArray("[send]\nport = http\n") << QStringLiteral(":2: send.port");
    QTest::newRow("port out of range") << QByteArray("\n[send]\nport = 70000\n") << QStringLiteral(":3: send.port");
    QTest::newRow("port zero") << QByteArray("[send]\nport = 0\n") << QStringLiteral(":2: send.port");
    QTest::newRow("server list, bad port")
        << QByteArray("[send]\nserver = a:1, b:http\n") << QStringLiteral(":2: send.server: 'b:http'");
    QTest::newRow("server list, empty entry")
        << QByteArray("[send]\nserver = a:1,,b\n") << QStringLiteral(":2: send.server: 'a:1,,b' has an empty entry");
    QTest::newRow("jobs zero") << QByteArray("[send]\njobs = 0\n") << QStringLiteral("send.jobs");
    QTest::newRow("bad duration") << QByteArray("[send]\nretry_interval = soon\n") << QStringLiteral("send.retry_interval");
    QTest::newRow("bad listen") << QByteArray("[receive]\nlisten = nowhere\n") << QStringLiteral("receive.listen");
    QTest::newRow("bad size") << QByteArray("[receive]\nreserve = lots\n") << QStringLiteral("receive.reserve");
    QTest::newRow("threads too many") << QByteArray("[receive]\nthreads = 64\n") << QStringLiteral(":2: receive.threads");
    QTest::newRow("bad age") << QByteArray("[receive]\npartial_max_age = 1w\n")
                             << QStringLiteral(":2: receive.partial_max_age: '1w' is not an age");
    QTest::newRow("age too long") << QByteArray("[receive]\npartial_max_age = 4000d\n")
                                  << QStringLiteral("longer than ten years");
    QTest::newRow("bad sync") << QByteArray("[receive]\nsync = always\n") << QStringLiteral(":2: receive.sync: must be auto or file");
    QTest::newRow("bad arrival") << QByteArray("[receive]\narrival = copy\n") << QStringLiteral(":2: receive.arrival: must be rename or link");
    QTest::newRow("empty root") << QByteArray("[data]\nroot =\n") << QStringLiteral("data.root: must not be empty");
    QTest::newRow("marker with slash") << QByteArray("[data]\ndone_watch = a/b\n") << QStringLiteral("data.done_watch");
    QTest::newRow("key outside section") << QByteArray("root = /x\n") << QStringLiteral(":1: key 'root' outside");
    QTest::newRow("no equals sign") << QByteArray("[data]\nroot\n") << QStringLiteral(":2: expected 'key = value'");
    QTest::newRow("broken section") << QByteArray("[data\n") << QStringLiteral(":1: malformed section");
    QTest::newRow("bad source") << QByteArray("[send]\nsource = ../x\n") << QStringLiteral("send.source");
    QTest::newRow("empty monitor secret file")
        << QByteArray("[receive]\nmonitor_secret_file =\n")
        << QStringLiteral(":2: receive.monitor_secret_file: must not be empty");

    // Issue 14: the original's key names say what replaces them.
    QTest::newRow("original dir")
        << QByteArray("[data]\ndir = /datas\n")
        << QStringLiteral(":2: data.dir: unknown key; the original's "
                          "scan.conf/fsync.conf 'dir' is 'root' in [data]");
    QTest::newRow("original dir, no section")
        << QByteArray("dir = /datas\n")
        << QStringLiteral(":1: key 'dir' outside of a [section]; the original's "
                          "scan.conf/fsync.conf 'dir' is 'root' in [data]");
    QTest::newRow("original tag") << QByteArray("[data]\ntag = DC\n")
                                  << QStringLiteral(":2: data.tag: unknown key; the original's "
                                                    "scan.conf 'tag' is 'prefix' in [data]");
    QTest::newRow("original error_retry_interval")
        << QByteArray("[send]\nerror_retry_interval = 2\n")
        << QStringLiteral(":2: send.error_retry_interval: unknown key; the original's fsync.conf "
                          "'error_retry_interval' is 'retry_interval' in [send]");
    QTest::newRow("original check_interval")
        << QByteArray("[data]\ncheck_interval = 1\n")
        << QStringLiteral(":2: data.check_interval: unknown key; the original's "
                          "scan.conf/fsync.conf 'check_interval' is gone: nothing polls");
    QTest::newRow("original tmp") << QByteArray("[send]\ntmp = /tmp\n")
                                  << QStringLiteral(":2: send.tmp: unknown key; the original's "
                                                    "fsync.conf 'tmp' is gone");
    QTest::newRow("original syncfile")
        << QByteArray("[send]\nsyncfile = /x\n")
        << QStringLiteral(":2: send.syncfile: unknown key; the original's lsocket.conf "
                          "'syncfile' is gone");
    QTest::newRow("original watch")
        << QByteArray("[data]\nwatch = /bin/w.sh\n")
        << QStringLiteral(":2: data.watch: unknown key; the original's scan.conf 'watch' (the "
                          "watcher script) is gone");
    QTest::newRow("original port on the receiver")
        << QByteArray("[receive]\nport = 12345\n")
        << QStringLiteral(":2: receive.port: unknown key; the receiver's address and port are one "
                          "key, 'listen = ADDRESS:PORT' in [receive]");
    QTest::newRow("original log in [data]") << QByteArray("[data]\nlog = /x.log\n")
                                            << QStringLiteral(":2: data.log: unknown key; 'log' "
                                                              "belongs in [general]");
    QTest::newRow("root in [send]") << QByteArray("[send]\nroot = /x\n")
                                    << QStringLiteral(":2: send.root: unknown key; 'root' belongs "
                                                      "in [data] or [receive]");
    // A key given twice names both lines, also across a repeated section.
    QTest::newRow("twice") << QByteArray("[send]\nport = 1\n\nport = 2\n")
                           << QStringLiteral(":4: send.port: given twice, at lines 2 and 4");
    QTest::newRow("twice, section repeated")
        << QByteArray("[send]\nport = 1\n[data]\nroot = /x\n[send]\nport = 2\n")
        << QStringLiteral(":6: send.port: given twice, at lines 2 and 6");
    QTest::newRow("unclosed quote") << QByteArray("[data]\nroot = \"/x\n")
                                    << QStringLiteral(":2: data.root: the closing '\"' is missing");
    QTest::newRow("text after the quote") << QByteArray("[data]\nroot = \"/x\" y\n")
                                          << QStringLiteral(":2: data.root: 'y' after the closing");
    QTest::newRow("text after a section") << QByteArray("[data] x\n")
                                          << QStringLiteral(":1: malformed section header");
}

void TestConfig::badValues()
{
    QFETCH(QByteArray, ini);
    QFETCH(QString, expected);
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("bad.ini"));
    QVERIFY(test::writeFile(path, ini));
    Config c;
    const auto r = c.loadFile(path);
    QVERIFY(!r.ok());
    QCOMPARE(r.error().code, ErrorCode::ConfigError);
    QVERIFY2(r.error().message.contains(path), qPrintable(r.error().message));
    QVERIFY2(r.error().message.contains(expected), qPrintable(r.error().message));
}

void TestConfig::optionWinsOverFile()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("isocket.ini"));
    QVERIFY(test::writeFile(path, "[send]\nport = 4000\n"));
    Config c;
    QVERIFY(c.loadFile(path).ok());
    QVERIFY(c.set(QStringLiteral("send.port"), QStringLiteral("4001"), QStringLiteral("--port")).ok());
    QCOMPARE(c.port, quint16(4001));
    const auto bad = c.set(QStringLiteral("send.port"), QStringLiteral("x"), QStringLiteral("--port"));
    QVERIFY(!bad.ok());
    QVERIFY(bad.error().message.startsWith(QStringLiteral("--port: send.port")));
    QCOMPARE(c.port, quint16(4001)); // a failed set changes nothing
}

// Issue 14: `key = value # comment` gave a value ending in "# comment".
void TestConfig::inlineComments()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("isocket.ini"));
    QVERIFY(test::writeFile(path, "[data]   # the ED\n"
                                  "root = /data/x  # where the producer writes\n"
                                  "prefix = DC#1\n"
                                  "done_parse = \"finished #parse\"  ; quoted: kept\n"
                                  "done_watch = done;watch\n"
                                  "[general] ; both sides\n"
                                  "log =  # none\n"
                                  "[send]\n"
                                  "port = 4000\t# a tab before it\n"
                                  "server = \"ed ;host\"\n"));
    Config c;
    const auto r = c.loadFile(path);
    QVERIFY2(r.ok(), qPrintable(r.ok() ? QString() : r.error().message));
    QCOMPARE(c.dataRoot, QStringLiteral("/data/x"));
    QCOMPARE(c.prefix, QStringLiteral("DC#1")); // no space before '#': part of the value
    QCOMPARE(c.doneParse, QStringLiteral("finished #parse"));
    QCOMPARE(c.doneWatch, QStringLiteral("done;watch"));
    QCOMPARE(c.logFile, QString());
    QCOMPARE(c.port, quint16(4000));
    QCOMPARE(c.server, QStringLiteral("ed ;host"));
}

// Errors found after loading (a log file that cannot be opened) name the file, line and key.
void TestConfig::originsOfKeys()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("isocket.ini"));
    QVERIFY(test::writeFile(path, "[general]\n\nlog = /x.log\n[send]\nport = 1\n"));
    Config c;
    QVERIFY(c.loadFile(path).ok());
    QVERIFY(c.set(QStringLiteral("send.port"), QStringLiteral("2"), QStringLiteral("--port")).ok());
    QCOMPARE(c.keyMessage(QStringLiteral("general.log"), QStringLiteral("cannot open")),
             path + QStringLiteral(":3: general.log: cannot open"));
    QCOMPARE(c.keyMessage(QStringLiteral("send.port"), QStringLiteral("no")),
             QStringLiteral("--port: send.port: no"));
    QCOMPARE(c.keyMessage(QStringLiteral("send.jobs"), QStringLiteral("no")),
             QStringLiteral("send.jobs: no"));
}

void TestConfig::hostPort_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<bool>("ok");
    QTest::addColumn<QString>("host");
    QTest::addColumn<int>("port");
    QTest::newRow("v4") << QStringLiteral("127.0.0.1:12345") << true << QStringLiteral("127.0.0.1") << 12345;
    QTest::newRow("name") << QStringLiteral("localhost:1") << true << QStringLiteral("localhost") << 1;
    QTest::newRow("v6") << QStringLiteral("[::1]:80") << true << QStringLiteral("::1") << 80;
    QTest::newRow("port 0 (any)") << QStringLiteral("127.0.0.1:0") << true << QStringLiteral("127.0.0.1") << 0;
    QTest::newRow("no port") << QStringLiteral("127.0.0.1") << false << QString() << 0;
    QTest::newRow("bare v6") << QStringLiteral("::1:80") << false << QString() << 0;
    QTest::newRow("big port") << QStringLiteral("h:65536") << false << QString() << 0;
    QTest::newRow("no host") << QStringLiteral(":80") << false << QString() << 0;
}

void TestConfig::hostPort()
{
    QFETCH(QString, text);
    QFETCH(bool, ok);
    QFETCH(QString, host);
    QFETCH(int, port);
    const auto r = parseHostPort(text, QStringLiteral("--listen"));
    QCOMPARE(r.ok(), ok);
    if (ok) {
        QCOMPARE(r.value().first, host);
        QCOMPARE(int(r.value().second), port);
    } else {
        QVERIFY(r.error().message.startsWith(QStringLiteral("--listen")));
    }
}

void TestConfig::names_data()
{
    QTest::addColumn<QString>("path");
    QTest::addColumn<bool>("ok");
    QTest::newRow("plain") << QStringLiteral("a.dat") << true;
    QTest::newRow("nested") << QStringLiteral("sub/dir/a.dat") << true;
    QTest::newRow("utf8") << QStringLiteral("données/ü.dat") << true;
    QTest::newRow("dotdot") << QStringLiteral("../a") << false;
    QTest::newRow("inner dotdot") << QStringLiteral("a/../../b") << false;
    QTest::newRow("absolute") << QStringLiteral("/etc/passwd") << false;
    QTest::newRow("empty component") << QStringLiteral("a//b") << false;
    QTest::newRow("trailing slash") << QStringLiteral("a/") << false;
    QTest::newRow("hidden") << QStringLiteral("a/.tmp") << false;
    QTest::newRow("control char") << QStringLiteral("a\nb") << false;
    QTest::newRow("nul") << QString(QStringLiteral("a") + QChar(0) + QStringLiteral("b")) << false;
    QTest::newRow("empty") << QString() << false;
    QTest::newRow("long component") << QString(256, QLatin1Char('x')) << false;
}

void TestConfig::names()
{
    QFETCH(QString, path);
    QFETCH(bool, ok);
    const auto r = validateRelativePath(path, QStringLiteral("path"));
    QCOMPARE(r.ok(), ok);
    if (!ok)
        QCOMPARE(r.error().code, ErrorCode::BadPath);
}

void TestConfig::statusKeys()
{
    Config c;
    QVERIFY(c.metricsHost.isEmpty()); // metrics are off by default
    QVERIFY(c.set(QStringLiteral("status.metrics"), QStringLiteral("[::1]:9464"), QStringLiteral("t")));
    QCOMPARE(c.metricsHost, QStringLiteral("::1"));
    QCOMPARE(c.metricsPort, quint16(9464));
    QVERIFY(c.set(QStringLiteral("status.metrics"), QString(), QStringLiteral("t")));
    QVERIFY(c.metricsHost.isEmpty());
    auto r = c.set(QStringLiteral("status.metrics"), QStringLiteral("metrics.example:9464"),
                   QStringLiteral("--metrics"));
    QVERIFY(!r);
    QCOMPARE(r.error().message,
             QStringLiteral("--metrics: status.metrics: 'metrics.example' is not an IP address "
                            "(127.0.0.1, ::1, or an address of this machine)"));
    r = c.set(QStringLiteral("status.control_socket"), QStringLiteral("run/ed.sock"),
              QStringLiteral("--control-socket"));
    QVERIFY(!r);
    QVERIFY(r.error().message.contains(QStringLiteral("is not an absolute path")));
    QVERIFY(c.set(QStringLiteral("status.control_socket"), QStringLiteral("/run/ed.sock"),
                  QStringLiteral("t")));
    QCOMPARE(c.controlSocket, QStringLiteral("/run/ed.sock"));
}

void TestConfig::everyKeyIsSettable()
{
    // The documented key table and set() must agree: every listed key accepts a sample value.
    Config c;
    for (const Config::KeyInfo &key : Config::keys()) {
        QString sample = QStringLiteral("x");
        if (key.valueName == QLatin1String("PORT") || key.valueName == QLatin1String("N"))
            sample = QStringLiteral("3");
        else if (key.valueName == QLatin1String("DURATION"))
            sample = QStringLiteral("2");
        else if (key.valueName == QLatin1String("AGE"))
            sample = QStringLiteral("7d");
        else if (key.valueName == QLatin1String("PATH")) // an absolute path
            sample = QStringLiteral("/run/x");
        else if (key.valueName == QLatin1String("ADDR:PORT"))
            sample = QStringLiteral("127.0.0.1:1");
        else if (key.valueName == QLatin1String("BYTES"))
            sample = QStringLiteral("1M");
        else if (key.valueName == QLatin1String("SHA256"))
            sample = QString(64, QLatin1Char('a'));
        else if (key.valueName.contains(QLatin1Char('|'))) // a choice: its first word
            sample = key.valueName.section(QLatin1Char('|'), 0, 0);
        const auto r = c.set(key.key, sample, QStringLiteral("test"));
        QVERIFY2(r.ok(), qPrintable(key.key + QStringLiteral(": ") + (r.ok() ? QString() : r.error().message)));
        QVERIFY(!key.option.isEmpty());
        QVERIFY(!key.description.isEmpty());
    }
}

void TestConfig::monitorSecretFile()
{
    // receive.monitor_secret_file reaches the receiver's options, and is refused when it cannot
    // keep a monitor from sending data (the shared secret again) or cannot be read.
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    auto secretFile = [&](const char *name, const QByteArray &secret) {
        const QString path = dir.filePath(QLatin1String(name));
        if (!test::writeFile(path, secret))
            return QString();
        QFile(path).setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
        return path;
    };
    const QString shared = secretFile("shared", "s3cret\n");
    const QString monitor = secretFile("monitor", "watching\n");
    const QString same = secretFile("same", "s3cret\n");
    QVERIFY(!shared.isEmpty() && !monitor.isEmpty() && !same.isEmpty());
    Config c;
    QVERIFY(c.set(QStringLiteral("general.secret_file"), shared, QStringLiteral("test")).ok());
    {
        auto setup = ReceiverSetup::fromConfig(c);
        QVERIFY2(setup.ok(), setup.ok() ? "" : qPrintable(setup.error().message));
        QVERIFY(setup.value().options.monitorSecret.isEmpty()); // monitors prove the shared one
    }
    QVERIFY(c.set(QStringLiteral("receive.monitor_secret_file"), monitor, QStringLiteral("--monitor-secret-file")).ok());
    {
        auto setup = ReceiverSetup::fromConfig(c);
        QVERIFY2(setup.ok(), setup.ok() ? "" : qPrintable(setup.error().message));
        QCOMPARE(setup.value().options.monitorSecret, QByteArray("watching"));
        QCOMPARE(setup.value().options.secret, QByteArray("s3cret"));
    }
    QVERIFY(c.set(QStringLiteral("receive.monitor_secret_file"), same, QStringLiteral("--monitor-secret-file")).ok());
    {
        auto setup = ReceiverSetup::fromConfig(c);
        QVERIFY(!setup.ok());
        QCOMPARE(setup.error().code, ErrorCode::UsageError);
        QVERIFY2(setup.error().message.contains(QStringLiteral("receive.monitor_secret_file")),
                 qPrintable(setup.error().message));
    }
    QVERIFY(c.set(QStringLiteral("receive.monitor_secret_file"), dir.filePath(QStringLiteral("none")), QStringLiteral("--monitor-secret-file")).ok());
    QVERIFY(!ReceiverSetup::fromConfig(c).ok());
}

// send.server: one host with send.port as before, or a list of receivers, each with its port or
// send.port; the order is kept (link i starts at receiver i mod N).
void TestConfig::receiverLists()
{
    Config c;
    QVERIFY(c.set(QStringLiteral("send.port"), QStringLiteral("4000"), QStringLiteral("t")).ok());
    QVERIFY(c.set(QStringLiteral("send.server"), QStringLiteral("drms"), QStringLiteral("t")).ok());
    QCOMPARE(c.receivers(), (QList<ReceiverAddress>{{QStringLiteral("drms"), 4000}}));
    QVERIFY(c.set(QStringLiteral("send.server"), QStringLiteral("::1"), QStringLiteral("t")).ok());
    QCOMPARE(c.receivers(), (QList<ReceiverAddress>{{QStringLiteral("::1"), 4000}}));

    QVERIFY(c.set(QStringLiteral("send.server"),
                  QStringLiteral(" b.example:4001 , a.example, [::1]:4002,[fe80::1], 10.0.0.1:9 "),
                  QStringLiteral("t"))
                .ok());
    const QList<ReceiverAddress> expected{{QStringLiteral("b.example"), 4001},
                                          {QStringLiteral("a.example"), 4000},
                                          {QStringLiteral("::1"), 4002},
                                          {QStringLiteral("fe80::1"), 4000},
                                          {QStringLiteral("10.0.0.1"), 9}};
    QCOMPARE(c.receivers(), expected);
    QCOMPARE(receiverListText(expected),
             QStringLiteral("b.example:4001, a.example:4000, [::1]:4002, [fe80::1]:4000, "
                            "10.0.0.1:9"));
    // The port comes from send.port when it is used, whichever key was set first.
    QVERIFY(c.set(QStringLiteral("send.port"), QStringLiteral("5000"), QStringLiteral("t")).ok());
    QCOMPARE(c.receivers().at(1), (ReceiverAddress{QStringLiteral("a.example"), 5000}));

    // --to: entries must name their port.
    QCOMPARE(parseReceiverList(QStringLiteral("a:1, [::1]:2"), 0).value(),
             (QList<ReceiverAddress>{{QStringLiteral("a"), 1}, {QStringLiteral("::1"), 2}}));
    QVERIFY(!parseReceiverList(QStringLiteral("a:1, b"), 0).ok());
}

void TestConfig::badReceiverEntries_data()
{
    QTest::addColumn<QString>("value");
    QTest::addColumn<QString>("expected"); // must appear in the message, after "send.server: "
    QTest::newRow("empty") << QString() << QStringLiteral("no receiver given");
    QTest::newRow("trailing comma") << QStringLiteral("a:1,") << QStringLiteral("'a:1,' has an empty entry");
    QTest::newRow("port 0") << QStringLiteral("a:1, b:0") << QStringLiteral("'b:0' has no valid port");
    QTest::newRow("big port") << QStringLiteral("b:65536") << QStringLiteral("'b:65536' has no valid port");
    QTest::newRow("no port after colon") << QStringLiteral("a:1, b:") << QStringLiteral("'b:' has no port");
    QTest::newRow("no host") << QStringLiteral(":80") << QStringLiteral("':80' has no host");
    QTest::newRow("unclosed v6") << QStringLiteral("[::1:80") << QStringLiteral("'[::1:80' is not [ADDRESS]:PORT");
    QTest::newRow("junk after v6") << QStringLiteral("[::1]x") << QStringLiteral("'[::1]x' is not [ADDRESS]:PORT");
    QTest::newRow("twice") << QStringLiteral("a:1, b:2, a:1") << QStringLiteral("'a:1' is given twice");
}

void TestConfig::badReceiverEntries()
{
    QFETCH(QString, value);
    QFETCH(QString, expected);
    Config c;
    const auto r = c.set(QStringLiteral("send.server"), value, QStringLiteral("isocket.ini:7"));
    QVERIFY(!r.ok());
    QCOMPARE(r.error().code, ErrorCode::ConfigError);
    QVERIFY2(r.error().message.startsWith(QStringLiteral("isocket.ini:7: send.server: ") + expected),
             qPrintable(r.error().message));
    QCOMPARE(c.server, QStringLiteral("127.0.0.1")); // unchanged
}

QTEST_GUILESS_MAIN(TestConfig)
#include "tst_config.moc"
