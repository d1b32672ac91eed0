// End to end with real processes: `isocket status` and Prometheus /metrics (issue 16).
// - A receiver and a sender started with --control-socket and --metrics 127.0.0.1:0 (the port
//   read back from their "metrics ADDR:PORT" line): both scraped with HTTP GET; the exposition
//   passes `promtool check metrics`; the counters move as files are delivered.
// - `isocket status --json` asks either daemon: the answer is the daemon's, and the exit code is
//   the verdict's (0 ok, 1 otherwise).
// - With no daemon (none started, or one killed: its socket file is stale) status says so,
//   reads the disk, exits 1; a new daemon replaces the stale socket.
// - The default place of the socket ($XDG_RUNTIME_DIR here) is the same for daemon and status.
// - Usage errors exit 2.

#include "core/health.h"
#include "tests/testlib/processes.h"
#include "tests/testlib/testtree.h"

#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QNetworkAccessManager>
#include <QNetworkReply>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTest>

using namespace isocket;
using namespace isocket::test;

namespace {

// The port of the "metrics 127.0.0.1:PORT" line, once printed; 0 on failure.
quint16 metricsPort(Process &p)
{
    if (!p.waitForOutput(QStringLiteral("metrics 127.0.0.1:"), e2eTimeout()))
        return 0;
    static const QRegularExpression re(QStringLiteral("metrics 127\\.0\\.0\\.1:(\\d+)"));
    return quint16(re.match(p.out()).captured(1).toUInt());
}

struct Scrape
{
    int status = 0;
    QByteArray contentType;
    QByteArray body;
};

Scrape get(quint16 port, const QString &path = QStringLiteral("/metrics"))
{
    QNetworkAccessManager nam;
    QNetworkReply *reply =
        nam.get(QNetworkRequest(QUrl(QStringLiteral("http://127.0.0.1:%1%2").arg(port).arg(path))));
    reply->setParent(&nam);
    QSignalSpy finished(reply, &QNetworkReply::finished);
    if (!finished.wait(e2eTimeout(10000)))
        return {};
    return Scrape{reply->attribute(QNetworkRequest::HttpStatusCodeAttribute).toInt(),
                  reply->header(QNetworkRequest::ContentTypeHeader).toByteArray(), reply->readAll()};
}

// The value of the sample `series` (name and labels as written) in a scrape; -1 when absent.
double value(const QByteArray &body, const QString &series)
{
    for (const QByteArray &line : body.split('\n'))
        if (line.startsWith(QByteArray(series.toUtf8() + ' ')))
            return line.mid(series.size() + 1).toDouble();
    return -1;
}

struct StatusRun
{
    int exitCode = -1;
    QString out;
    QString err;
    QJsonObject json; // with --json
};

StatusRun status(const QStringList &args, const QProcessEnvironment &env = {})
{
    Process p(QStringLiteral("status"));
    if (!env.isEmpty())
        p.setEnvironment(env);
    StatusRun r;
    if (!p.startIsocket(QStringList{QStringLiteral("status")} + args)
        || !p.waitForExit(e2eTimeout(20000)))
        return r;
    r.exitCode = p.exitCode();
    r.out = p.out();
    r.err = p.err();
    r.json = QJsonDocument::fromJson(r.out.toUtf8()).object();
    return r;
}

int exitCodeOf(const QJsonObject &json)
{
    const auto v = verdictFromName(json.value(QStringLiteral("verdict")).toString());
    return v ? verdictExitCode(*v) : -1;
}

} // namespace

class TestE2eStatus : public QObject
{
    Q_OBJECT

private slots:
    void metricsAndStatusOfRunningDaemons();
    void statusWithoutDaemonReadsTheDisk();
    void defaultSocketIsFoundByStatus();
    void usageErrors_data();
    void usageErrors();
};

void TestE2eStatus::metricsAndStatusOfRunningDaemons()
{
    if (promtoolPath().isEmpty())
        QSKIP("promtool is not installed (Debian package prometheus; scripts/deps installs it)");
    const E2eScene scene;
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    QVERIFY(makeDbtag(ed, dbtag, false, false, QDateTime::currentSecsSinceEpoch()));
    const QString rsock = path(tmp.path(), QStringLiteral("receiver.sock"));
    const QString esock = path(tmp.path(), QStringLiteral("ed.sock"));

    Process receiver(QStringLiteral("receiver"));
    const quint16 port =
        startReceiver(receiver, recv, 0,
                      {QStringLiteral("--control-socket"), rsock, QStringLiteral("--metrics"),
                       QStringLiteral("127.0.0.1:0")});
    QVERIFY(port != 0);
    const quint16 rmetrics = metricsPort(receiver);
    QVERIFY(rmetrics != 0);
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source,
                                           {QStringLiteral("--control-socket"), esock,
                                            QStringLiteral("--metrics"),
                                            QStringLiteral("127.0.0.1:0")})));
    const quint16 emetrics = metricsPort(sender);
    QVERIFY(emetrics != 0);

    // Before any file: both answer, in the exposition format promtool accepts.
    Scrape r = get(rmetrics);
    QCOMPARE(r.status, 200);
    QVERIFY2(r.contentType.startsWith("text/plain; version=0.0.4"), r.contentType.constData());
    QCOMPARE(promtoolProblems(r.body), QString());
    QCOMPARE(value(r.body, QStringLiteral("isocket_receiver_files_stored_total")), 0.0);
    QCOMPARE(value(r.body, QStringLiteral("isocket_receiver_up{address=\"127.0.0.1:%1\"}").arg(port)),
             1.0);
    Scrape e = get(emetrics);
    QCOMPARE(e.status, 200);
    QCOMPARE(promtoolProblems(e.body), QString());
    QCOMPARE(value(e.body, QStringLiteral("isocket_ed_files_sent_total")), 0.0);
    QCOMPARE(get(emetrics, QStringLiteral("/other")).status, 404);

    // Three files into the live dbtag: the counters move on both sides.
    qint64 bytes = 0;
    for (int i = 0; i < 3; ++i) {
        const QByteArray data = patternBytes(1000 + i, quint32(i));
        bytes += data.size();
        QVERIFY(writeFile(path(path(ed, dbtag), QStringLiteral("f%1.dat").arg(i)), data));
    }
    for (int i = 0; i < 3; ++i)
        QTRY_COMPARE_WITH_TIMEOUT(fileDelivered(ed, dbtag, QStringLiteral("f%1.dat").arg(i), recv,
                                                source),
                                  QString(), e2eTimeout());
    QTRY_COMPARE_WITH_TIMEOUT(
        value(get(rmetrics).body, QStringLiteral("isocket_receiver_files_stored_total")), 3.0,
        e2eTimeout());
    QTRY_COMPARE_WITH_TIMEOUT(value(get(emetrics).body, QStringLiteral("isocket_ed_files_sent_total")),
                              3.0, e2eTimeout());
    r = get(rmetrics);
    QCOMPARE(value(r.body, QStringLiteral("isocket_receiver_bytes_stored_total")), double(bytes));
    QCOMPARE(promtoolProblems(r.body), QString());
    e = get(emetrics);
    QCOMPARE(value(e.body, QStringLiteral("isocket_ed_bytes_sent_total")), double(bytes));
    QCOMPARE(promtoolProblems(e.body), QString());
    // The receiver's fleet: the ED, with what it received from it, labelled by its source.
    QTRY_COMPARE_WITH_TIMEOUT(
        value(get(rmetrics).body,
              QStringLiteral("isocket_receiver_source_files_received_total{source=\"%1\"}")
                  .arg(source)),
        3.0, e2eTimeout());
    QCOMPARE(value(get(rmetrics).body, QStringLiteral("isocket_receiver_sources")), 1.0);

    // `isocket status --json` asks each daemon; the exit code is its verdict's.
    StatusRun s = status({QStringLiteral("--json"), QStringLiteral("--control-socket"), esock});
    QCOMPARE(s.json.value(QStringLiteral("role")).toString(), QStringLiteral("ed"));
    QCOMPARE(s.json.value(QStringLiteral("daemon")).toBool(), true);
    QCOMPARE(s.json.value(QStringLiteral("source")).toString(), source);
    QCOMPARE(s.json.value(QStringLiteral("files_sent")).toInteger(), 3);
    QVERIFY(s.json.value(QStringLiteral("health")).isObject());
    QCOMPARE(s.exitCode, exitCodeOf(s.json));
    QVERIFY2(!s.err.contains(QStringLiteral("no isocket daemon")), qPrintable(s.err));

    s = status({QStringLiteral("--json"), QStringLiteral("--role"), QStringLiteral("receiver"),
                QStringLiteral("--control-socket"), rsock});
    QCOMPARE(s.json.value(QStringLiteral("role")).toString(), QStringLiteral("receiver"));
    QCOMPARE(s.json.value(QStringLiteral("files_stored")).toInteger(), 3);
    QCOMPARE(s.json.value(QStringLiteral("bytes_stored")).toInteger(), bytes);
    const QJsonArray fleet = s.json.value(QStringLiteral("fleet")).toArray();
    QCOMPARE(fleet.size(), 1);
    QCOMPARE(fleet.at(0).toObject().value(QStringLiteral("source")).toString(), source);
    QCOMPARE(fleet.at(0).toObject().value(QStringLiteral("files_received")).toInteger(), 3);
    QCOMPARE(s.exitCode, exitCodeOf(s.json));

    // The words: the verdict first, then the details.
    s = status({QStringLiteral("--control-socket"), rsock});
    const QString verdict = QString::fromUtf8(QJsonDocument::fromJson(
        status({QStringLiteral("--json"), QStringLiteral("--control-socket"), rsock}).out.toUtf8())
        .object().value(QStringLiteral("verdict")).toString().toUpper().toUtf8());
    QVERIFY2(s.out.startsWith(verdict + QLatin1Char(':')), qPrintable(s.out));
    QVERIFY2(s.out.contains(QStringLiteral("3 file(s)")), qPrintable(s.out));
    // One line per ED: its source first, then its verdict.
    static const QRegularExpression edLine(QStringLiteral("^ed1 +(ok|behind|degraded|failing) "),
                                           QRegularExpression::MultilineOption);
    QVERIFY2(edLine.match(s.out).hasMatch(), qPrintable(s.out));
}

void TestE2eStatus::statusWithoutDaemonReadsTheDisk()
{
    const E2eScene scene;
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    QVERIFY(makeDbtag(ed, dbtag, true, false, QDateTime::currentSecsSinceEpoch() - 600));
    QVERIFY(writeFile(path(path(ed, dbtag), QStringLiteral("a.dat")), QByteArray(100, 'a')));
    QVERIFY(writeFile(path(path(ed, dbtag), QStringLiteral("b.dat")), QByteArray(50, 'b')));
    const QString esock = path(tmp.path(), QStringLiteral("ed.sock"));
    const QStringList args{QStringLiteral("--json"), QStringLiteral("--control-socket"), esock,
                           QStringLiteral("--root"), ed};

    // Nobody ever listened there.
    StatusRun s = status(args);
    QCOMPARE(s.exitCode, 1);
    QVERIFY2(s.err.contains(
                 QStringLiteral("no isocket daemon answers on %1; reading the disk").arg(esock)),
             qPrintable(s.err));
    QCOMPARE(s.json.value(QStringLiteral("daemon")).toBool(true), false);
    QCOMPARE(s.json.value(QStringLiteral("verdict")).toString(), QStringLiteral("failing"));
    const QJsonObject health = s.json.value(QStringLiteral("health")).toObject();
    QCOMPARE(health.value(QStringLiteral("backlog_files")).toInteger(), 2);
    QCOMPARE(health.value(QStringLiteral("backlog_bytes")).toInteger(), 150);

    // A daemon answers (its receiver is down: nothing is sent)…
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(plainSenderArgs(ed, freePort(), source,
                                                {QStringLiteral("--control-socket"), esock})));
    QVERIFY(sender.waitForError(QStringLiteral("control socket ") + esock, e2eTimeout()));
    s = status(args);
    QCOMPARE(s.json.value(QStringLiteral("daemon")).toBool(), true);
    QCOMPARE(s.exitCode, exitCodeOf(s.json));
    QCOMPARE(s.json.value(QStringLiteral("root")).toString(), QFileInfo(ed).canonicalFilePath());

    // …and is killed: its socket stays, nobody answers on it.
    sender.kill();
    QVERIFY(QFileInfo::exists(esock));
    s = status(args);
    QCOMPARE(s.exitCode, 1);
    QVERIFY2(s.err.contains(QStringLiteral("no isocket daemon answers on %1").arg(esock)),
             qPrintable(s.err));
    QCOMPARE(s.json.value(QStringLiteral("daemon")).toBool(true), false);

    // A new daemon replaces the stale socket.
    Process again(QStringLiteral("sender2"));
    QVERIFY(again.startIsocket(plainSenderArgs(ed, freePort(), source,
                                               {QStringLiteral("--control-socket"), esock})));
    QVERIFY(again.waitForError(QStringLiteral("replaced the stale control socket"), e2eTimeout()));
    QVERIFY(again.waitForError(QStringLiteral("control socket ") + esock, e2eTimeout()));
    s = status(args);
    QCOMPARE(s.json.value(QStringLiteral("daemon")).toBool(), true);

    // A second daemon on the same socket is refused: the first keeps it.
    Process third(QStringLiteral("sender3"));
    QVERIFY(third.startIsocket(plainSenderArgs(ed, freePort(), source,
                                               {QStringLiteral("--control-socket"), esock})));
    QVERIFY(third.waitForExit(e2eTimeout()));
    QCOMPARE(third.exitCode(), 1);
    QVERIFY2(third.err().contains(QStringLiteral("another isocket daemon answers on ") + esock),
             qPrintable(third.err()));
    QVERIFY(again.isRunning());
    QCOMPARE(status(args).json.value(QStringLiteral("daemon")).toBool(), true);

    // No receiver answers either: exit 1, said.
    s = status({QStringLiteral("--role"), QStringLiteral("receiver"),
                QStringLiteral("--control-socket"), path(tmp.path(), QStringLiteral("r.sock"))});
    QCOMPARE(s.exitCode, 1);
    QVERIFY2(s.out.startsWith(QStringLiteral("FAILING: No isocket daemon answers")), qPrintable(s.out));
}

void TestE2eStatus::defaultSocketIsFoundByStatus()
{
    if (QFileInfo(QStringLiteral("/run/isocket")).isDir())
        QSKIP("/run/isocket exists here: the default would be there, not in $XDG_RUNTIME_DIR");
    const E2eScene scene;
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    QVERIFY(QDir().mkpath(ed));
    const QString runtime = path(tmp.path(), QStringLiteral("xdg"));
    QVERIFY(QDir().mkpath(runtime));
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.remove(QStringLiteral("RUNTIME_DIRECTORY"));
    env.insert(QStringLiteral("XDG_RUNTIME_DIR"), runtime);

    Process sender(QStringLiteral("sender"));
    sender.setEnvironment(env);
    QVERIFY(sender.startIsocket(plainSenderArgs(ed, freePort(), source)));
    const QString expected = path(runtime, QStringLiteral("isocket-ed.sock"));
    QVERIFY(sender.waitForError(QStringLiteral("control socket ") + expected, e2eTimeout()));
    // No --control-socket and no --role: status finds the ED's socket.
    const StatusRun s = status({QStringLiteral("--json")}, env);
    QCOMPARE(s.json.value(QStringLiteral("daemon")).toBool(), true);
    QCOMPARE(s.json.value(QStringLiteral("root")).toString(), QFileInfo(ed).canonicalFilePath());
    sender.terminate();
    QVERIFY(sender.waitForExit(e2eTimeout()));
    QVERIFY(!QFileInfo::exists(expected)); // a daemon that stops removes its socket
}

void TestE2eStatus::usageErrors_data()
{
    QTest::addColumn<QStringList>("args");
    QTest::addColumn<QString>("message");
    QTest::newRow("role") << QStringList{QStringLiteral("status"), QStringLiteral("--role"),
                                         QStringLiteral("drms")}
                          << QStringLiteral("--role: must be ed or receiver");
    QTest::newRow("argument") << QStringList{QStringLiteral("status"), QStringLiteral("now")}
                              << QStringLiteral("unexpected argument 'now'");
    QTest::newRow("relative socket")
        << QStringList{QStringLiteral("status"), QStringLiteral("--control-socket"),
                       QStringLiteral("ed.sock")}
        << QStringLiteral("status.control_socket: 'ed.sock' is not an absolute path");
    QTest::newRow("metrics name")
        << QStringList{QStringLiteral("receive"), QStringLiteral("--metrics"),
                       QStringLiteral("localhost:9464")}
        << QStringLiteral("status.metrics: 'localhost' is not an IP address");
    QTest::newRow("metrics port")
        << QStringList{QStringLiteral("send"), QStringLiteral("--metrics"),
                       QStringLiteral("127.0.0.1")}
        << QStringLiteral("status.metrics: '127.0.0.1' is not HOST:PORT");
}

void TestE2eStatus::usageErrors()
{
    QFETCH(QStringList, args);
    QFETCH(QString, message);
    Process p(QStringLiteral("isocket"));
    QVERIFY(p.startIsocket(args));
    QVERIFY(p.waitForExit(e2eTimeout()));
    QCOMPARE(p.exitCode(), 2);
    QVERIFY2(p.err().contains(message), qPrintable(p.err()));
}

QTEST_GUILESS_MAIN(TestE2eStatus)
#include "tst_e2e_status.moc"
