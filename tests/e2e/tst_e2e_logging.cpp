// End to end with real processes: the receiver's log file (--log). Many connections at once,
// served by several I/O threads, each send a ~4 KiB ERROR that the receiver logs; it must
// survive it, every line must arrive whole, and a real sender must still be served afterwards
// (issue 13: an unlocked QFile shared by the I/O threads corrupted the heap within seconds).

#include "core/protocol.h"
#include "tests/testlib/processes.h"
#include "tests/testlib/protoclient.h"
#include "tests/testlib/testtree.h"

#include <QFile>
#include <QRegularExpression>
#include <QTcpSocket>
#include <QTest>

#include <memory>
#include <vector>

using namespace isocket;
using namespace isocket::test;

namespace {

constexpr qint64 T0 = 1'600'000'000;

// The message of the ERROR frame connection `i` of round `round` sends: ~4 KiB, its own.
// `kind`: 'c' before the handshake, 'a' after it.
QString errorText(char kind, int round, int i)
{
    return QStringLiteral("%1%2-%3 ").arg(QLatin1Char(kind)).arg(round).arg(i) +
           QString(4000 + i, QLatin1Char(char('a' + (round * 5 + i) % 26)));
}

} // namespace

class TestE2eLogging : public QObject
{
    Q_OBJECT

private slots:
    void errorFramesFromManyConnectionsWithLogFile();
};

void TestE2eLogging::errorFramesFromManyConnectionsWithLogFile()
{
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    const QString logPath = path(tmp.path(), QStringLiteral("receiver.log"));

    // Plain TCP: raw ERROR frames from peers before and after the handshake drive the
    // logging from every I/O thread at once.
    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startPlainReceiver(
        receiver, recv, 0,
        {QStringLiteral("--log"), logPath, QStringLiteral("--threads"), QStringLiteral("4")});
    QVERIFY(port != 0);

    // Rounds of connections that each send one ERROR frame (~4 KiB): before the handshake
    // (the receiver logs the first few of those in a while, then counts them), and after it (the
    // receiver logs every one). Each is logged on the connection's I/O thread, at once.
    constexpr int Rounds = 10;
    constexpr int Connections = 24;
    for (int round = 0; round < Rounds; ++round) {
        std::vector<std::unique_ptr<QTcpSocket>> early;
        std::vector<std::unique_ptr<ProtoClient>> late;
        for (int i = 0; i < Connections; ++i) {
            late.push_back(std::make_unique<ProtoClient>());
            QVERIFY(late.back()->connectTo(port));
            QVERIFY(late.back()->handshake(QByteArray(), source).ok);
        }
        for (int i = 0; i < Connections; ++i) {
            early.push_back(std::make_unique<QTcpSocket>());
            early.back()->connectToHost(QStringLiteral("127.0.0.1"), port);
            // Written once connected: QTcpSocket holds it until then.
            early.back()->write(
                proto::encode(proto::ErrorMsg{ErrorCode::Timeout, errorText('c', round, i)}));
            late[i]->send(proto::ErrorMsg{ErrorCode::Timeout, errorText('a', round, i)});
        }
        auto allClosed = [&] {
            for (const auto &socket : early)
                if (socket->state() != QAbstractSocket::UnconnectedState)
                    return false;
            for (const auto &client : late)
                if (client->socket().state() != QAbstractSocket::UnconnectedState)
                    return false;
            return true;
        };
        QTRY_VERIFY_WITH_TIMEOUT(allClosed() || !receiver.isRunning(), e2eTimeout());
        QVERIFY2(receiver.isRunning(),
                 qPrintable(QStringLiteral("the receiver died in round %1").arg(round)));
    }

    // Every ERROR is in the log, on a whole line of its own.
    static const QRegularExpression stamp(
        QStringLiteral("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3} "
                       "(debug|info |warn |crit ) isocket\\.\\w+: "));
    // The receiver may log only the start of a long message, then its length.
    static const QRegularExpression errorLine(
        QStringLiteral(" sent ERROR timeout (([ac])(\\d+)-(\\d+) [a-z]+)"
                       "(?:\\.\\.\\. \\((\\d+) characters\\))?$"));
    // The receiver logs each line before it closes the connection: all are there by now.
    QFile log(logPath);
    QVERIFY(log.open(QIODevice::ReadOnly));
    const QByteArray all = log.readAll();
    QVERIFY(all.endsWith('\n'));
    std::vector<int> seen(2 * Rounds * Connections, 0); // early, then late
    int late = 0;
    const QList<QByteArray> lines = all.split('\n');
    for (qsizetype n = 0; n + 1 < lines.size(); ++n) {
        const QString line = QString::fromUtf8(lines[n]);
        QVERIFY2(
            stamp.match(line).hasMatch(),
            qPrintable(QStringLiteral("line %1 is broken: %2").arg(n + 1).arg(line.left(200))));
        if (!line.contains(QStringLiteral(" sent ERROR ")))
            continue;
        const auto m = errorLine.match(line);
        QVERIFY2(m.hasMatch(),
                 qPrintable(QStringLiteral("line %1: %2").arg(n + 1).arg(line.left(200))));
        const char kind = m.captured(2) == QLatin1String("a") ? 'a' : 'c';
        const int round = m.captured(3).toInt();
        const int i = m.captured(4).toInt();
        QVERIFY(round < Rounds && i < Connections);
        const QString text = errorText(kind, round, i);
        if (m.captured(5).isEmpty()) {
            QCOMPARE(m.captured(1), text);
        } else { // cut, but what is there is whole
            QVERIFY2(m.captured(1).size() >= 100, qPrintable(line.left(200)));
            QCOMPARE(m.captured(1), text.left(m.captured(1).size()));
            QCOMPARE(m.captured(5).toInt(), text.size());
        }
        ++seen[(kind == 'a' ? Rounds * Connections : 0) + round * Connections + i];
        late += kind == 'a';
    }
    QCOMPARE(late, Rounds * Connections); // every ERROR after the handshake
    for (int count : seen)
        QVERIFY(count <= 1);

    // And it still serves a real sender.
    QVERIFY(writeFile(path(path(ed, dbtag), QStringLiteral("a.dat")), patternBytes(70000, 1)));
    QVERIFY(makeDbtag(ed, dbtag, true, false, T0));
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(plainSenderArgs(ed, port, source)));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, dbtag, recv, source), QString(), e2eTimeout());
    QVERIFY(receiver.isRunning());
}

QTEST_GUILESS_MAIN(TestE2eLogging)
#include "tst_e2e_logging.moc"
