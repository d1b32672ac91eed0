// An ED that knows several receivers (send.server as a list), on loopback with real receivers
// (ReceiverService) and the real agent (EdAgent): its connections spread over the receivers,
// move to the other one when one goes away mid-run, nothing is lost, and they return once it is
// back; a receiver with another secret is left for the good one and named.

#include "core/config.h"
#include "core/edagent.h"
#include "core/receiverservice.h"
#include "core/statusjson.h"
#include "tests/testlib/testtree.h"

#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace isocket;

class TestFailover : public QObject
{
    Q_OBJECT

private slots:
    void spreadsFailsOverAndReturns();
    void receiverWithAnotherSecretIsLeftAndNamed();
    void backlogSmallerThanAWindowIsShared();
};

namespace {

constexpr auto Dbtag = "DC20240101000000";

std::unique_ptr<ReceiverService> startReceiver(const QString &root, quint16 port,
                                               const QByteArray &secret = QByteArray())
{
    QDir().mkpath(root);
    ReceiverSetup rs;
    rs.options = ReceiverOptions{root, secret, 0};
    rs.port = port;
    auto service = std::make_unique<ReceiverService>(rs);
    service->start();
    return service;
}

QString address(quint16 port)
{
    return QStringLiteral("127.0.0.1:%1").arg(port);
}

} // namespace

void TestFailover::spreadsFailsOverAndReturns()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString rootA = tmp.filePath(QStringLiteral("a"));
    const QString rootB = tmp.filePath(QStringLiteral("b"));
    QVERIFY(test::makeDbtag(data, QString::fromLatin1(Dbtag), false, false, 1704067200));

    auto a = startReceiver(rootA, 0);
    auto b = startReceiver(rootB, 0);
    QTRY_COMPARE(a->status().run, ReceiverStatus::Run::Listening);
    QTRY_COMPARE(b->status().run, ReceiverStatus::Run::Listening);
    const quint16 portA = a->status().port;
    const quint16 portB = b->status().port;

    Config config;
    config.dataRoot = data;
    QVERIFY(config.set(QStringLiteral("send.server"), address(portA) + QStringLiteral(", ")
                                                          + address(portB),
                       QStringLiteral("test"))
                .ok());
    config.source = QStringLiteral("ed-failover");
    config.jobs = 2;
    config.window = 2; // both links get files, not the first one all of them
    config.retryIntervalMs = 200;
    config.retryMaxMs = 1000;
    config.bwlimit = 8 * 1024 * 1024; // for the ED: a run lasts long enough to stop A in it
    auto setup = EdAgentSetup::fromConfig(config);
    QVERIFY2(setup.ok(), setup.ok() ? "" : qPrintable(setup.error().message));
    QCOMPARE(setup.value().receiverAddress(), address(portA) + QStringLiteral(", ") + address(portB));

    EdStatus last;
    EdAgent agent(setup.value());
    QObject face; // declared after what its lambdas write (see tst_faces)
    connect(&agent, &EdAgent::statusChanged, &face, [&](const EdStatus &s) { last = s; });
    agent.start();
    const int timeout = 30000 * test::timeoutFactor();
    // Link i starts at receiver i mod 2; the live link (2, after the two jobs) at A.
    QTRY_VERIFY_WITH_TIMEOUT(last.links.size() == 3 && last.links[0].state == LinkState::Ready
                                 && last.links[1].state == LinkState::Ready
                                 && last.links[2].state == LinkState::Ready,
                             timeout);
    QCOMPARE(last.links[0].receiver, address(portA));
    QCOMPARE(last.links[1].receiver, address(portB));
    QCOMPARE(last.links[2].receiver, address(portA));
    QVERIFY(last.links[2].live && !last.links[0].live && !last.links[1].live);
    QVERIFY(last.receiversDown.isEmpty());
    // The status shows each receiver: both up, a connection to each.
    QTRY_COMPARE(last.receivers.size(), 2);
    QCOMPARE(last.receivers[0].address, address(portA));
    QCOMPARE(last.receivers[1].address, address(portB));
    QTRY_VERIFY(!last.receivers[0].down && last.receivers[0].readyLinks == 2
                && !last.receivers[1].down && last.receivers[1].readyLinks == 1);

    const QString dir = data + QLatin1Char('/') + QString::fromLatin1(Dbtag);
    int written = 0;
    auto writeBatch = [&](int n, qint64 size) {
        for (int i = 0; i < n; ++i, ++written)
            QVERIFY(test::writeFile(dir + QStringLiteral("/f%1.dat").arg(written),
                                    test::patternBytes(size, quint32(written))));
    };
    auto marked = [&] {
        int n = 0;
        for (int i = 0; i < written; ++i)
            n += test::hasGroupWrite(dir + QStringLiteral("/f%1.dat").arg(i)) ? 1 : 0;
        return n;
    };
    // Every file written is on A or on B, byte for byte.
    auto allArrived = [&] {
        for (int i = 0; i < written; ++i) {
            const QString rel = QStringLiteral("/ed-failover/%1/f%2.dat").arg(QString::fromLatin1(Dbtag)).arg(i);
            const QByteArray expected = test::patternBytes(i < 20 ? 4096 : 128 * 1024, quint32(i));
            bool found = false;
            for (const QString &root : {rootA, rootB}) {
                QFile f(root + rel);
                if (f.open(QIODevice::ReadOnly) && f.readAll() == expected)
                    found = true;
            }
            if (!found)
                return false;
        }
        return true;
    };

    // 1. Both receivers up: the files go to both.
    writeBatch(20, 4096);
    QTRY_COMPARE_WITH_TIMEOUT(marked(), 20, timeout);
    QTRY_COMPARE(a->status().stored + b->status().stored, qint64(20));
    QVERIFY2(a->status().stored > 0 && b->status().stored > 0,
             qPrintable(QStringLiteral("A %1, B %2").arg(a->status().stored).arg(b->status().stored)));
    QVERIFY(allArrived());

    // 2. A goes away in the middle of a run: every file arrives (on B), every one is marked.
    const qint64 storedA = a->status().stored;
    writeBatch(40, 128 * 1024);
    QTRY_VERIFY_WITH_TIMEOUT(a->status().stored >= storedA + 2, timeout);
    const int markedWhenStopped = marked();
    a.reset();
    QVERIFY2(markedWhenStopped < written, "A stopped after the run: nothing failed over");
    QTRY_COMPARE_WITH_TIMEOUT(marked(), written, timeout);
    QVERIFY(allArrived());
    // Every link on B now, and A named as down.
    QTRY_VERIFY_WITH_TIMEOUT(last.links[0].receiver == address(portB)
                                 && last.links[0].state == LinkState::Ready,
                             timeout);
    QTRY_VERIFY(!last.receiversDown.isEmpty());
    QVERIFY2(last.receiversDown.first().startsWith(address(portA) + QStringLiteral(" (")),
             qPrintable(last.receiversDown.join(QLatin1Char('|'))));
    QCOMPARE(last.receiversDown.size(), 1);
    QTRY_VERIFY(last.receivers[1].readyLinks == 3);
    QVERIFY(last.receivers[0].down);
    QVERIFY(!last.receivers[0].why.isEmpty());
    QCOMPARE(last.receivers[0].readyLinks, 0);
    {
        // What `isocket status --json` says of them.
        const QJsonArray json = edStatusJson(last, {}).value(QStringLiteral("receivers")).toArray();
        QCOMPARE(json.size(), 2);
        QCOMPARE(json[0].toObject().value(QStringLiteral("up")).toBool(), false);
        QCOMPARE(json[1].toObject().value(QStringLiteral("ready_links")).toInt(), 3);
    }

    // 3. A comes back on its port: links 0 and 2 return to it (its backoff expires, they have
    // nothing in flight), and the files go to both again.
    a = startReceiver(rootA, portA);
    QTRY_COMPARE(a->status().run, ReceiverStatus::Run::Listening);
    QTRY_VERIFY_WITH_TIMEOUT(last.links[0].receiver == address(portA)
                                 && last.links[0].state == LinkState::Ready,
                             timeout);
    QTRY_VERIFY(last.receiversDown.isEmpty());
    QTRY_VERIFY(!last.receivers[0].down && last.receivers[0].readyLinks == 2);
    QCOMPARE(last.links[1].receiver, address(portB));
    const qint64 storedB = b->status().stored;
    writeBatch(20, 128 * 1024);
    QTRY_COMPARE_WITH_TIMEOUT(marked(), written, timeout);
    QVERIFY(allArrived());
    QTRY_VERIFY(a->status().stored > 0);
    QTRY_VERIFY(b->status().stored > storedB);
    QCOMPARE(last.failed, 0);
}

void TestFailover::receiverWithAnotherSecretIsLeftAndNamed()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString rootA = tmp.filePath(QStringLiteral("a"));
    const QString rootB = tmp.filePath(QStringLiteral("b"));
    constexpr int Files = 10;
    const QString dir = data + QLatin1Char('/') + QString::fromLatin1(Dbtag);
    for (int i = 0; i < Files; ++i)
        QVERIFY(test::writeFile(dir + QStringLiteral("/f%1.dat").arg(i),
                                test::patternBytes(1000 + i, quint32(i))));
    QVERIFY(test::makeDbtag(data, QString::fromLatin1(Dbtag), true, false, 1704067200));

    // A knows another secret than the ED; B the same (empty, on loopback).
    auto a = startReceiver(rootA, 0, QByteArrayLiteral("not the ED's secret"));
    auto b = startReceiver(rootB, 0);
    QTRY_COMPARE(a->status().run, ReceiverStatus::Run::Listening);
    QTRY_COMPARE(b->status().run, ReceiverStatus::Run::Listening);
    const quint16 portA = a->status().port;
    const quint16 portB = b->status().port;

    Config config;
    config.dataRoot = data;
    QVERIFY(config.set(QStringLiteral("send.server"), address(portA) + QStringLiteral(",")
                                                          + address(portB),
                       QStringLiteral("test"))
                .ok());
    config.source = QStringLiteral("ed-secret");
    config.jobs = 2;
    config.window = 2;
    config.retryIntervalMs = 500;
    config.retryMaxMs = 5000;
    auto setup = EdAgentSetup::fromConfig(config);
    QVERIFY2(setup.ok(), setup.ok() ? "" : qPrintable(setup.error().message));

    EdStatus last;
    EdAgent agent(setup.value());
    QObject face;
    connect(&agent, &EdAgent::statusChanged, &face, [&](const EdStatus &s) { last = s; });
    agent.start();
    const int timeout = 30000 * test::timeoutFactor();
    QTRY_VERIFY_WITH_TIMEOUT(last.dbtagsFinished == 1 && last.idle, timeout);
    for (int i = 0; i < Files; ++i) {
        QVERIFY(test::hasGroupWrite(dir + QStringLiteral("/f%1.dat").arg(i)));
        QFile f(rootB + QStringLiteral("/ed-secret/%1/f%2.dat").arg(QString::fromLatin1(Dbtag)).arg(i));
        QVERIFY(f.open(QIODevice::ReadOnly));
        QCOMPARE(f.readAll(), test::patternBytes(1000 + i, quint32(i)));
    }
    QVERIFY(QFile::exists(dir + QStringLiteral("/finished.watch")));
    QCOMPARE(a->status().stored, qint64(0));
    // Every link on B; A named, with why.
    QCOMPARE(last.links.size(), 3);
    for (const LinkStatus &l : std::as_const(last.links))
        QVERIFY2(l.state != LinkState::Ready || l.receiver == address(portB), qPrintable(l.receiver));
    QCOMPARE(last.receiversDown.size(), 1);
    const QString down = last.receiversDown.first();
    QVERIFY2(down.startsWith(address(portA) + QStringLiteral(" (")), qPrintable(down));
    QVERIFY2(down.contains(QStringLiteral("shared secret")), qPrintable(down));
    QVERIFY(last.fatal.isEmpty());

    // B goes too: the health's connection reason names both, A with its refusal.
    b.reset();
    QTRY_VERIFY_WITH_TIMEOUT(!last.health.connected && last.receiversDown.size() == 2, timeout);
    QVERIFY2(last.health.downCause.startsWith(QStringLiteral("receivers down: ") + address(portA)),
             qPrintable(last.health.downCause));
    QVERIFY2(last.health.downCause.contains(address(portB)), qPrintable(last.health.downCause));
}

void TestFailover::backlogSmallerThanAWindowIsShared()
{
    // 200 files waiting when the ED starts, two receivers sharing one root (docs/SCALING.md),
    // default windows (1,024 files): the link ready first must not take them all (found by the
    // GlusterFS bench: one receiver of two stored nothing of 500 files).
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    constexpr int Files = 200;
    const QString dir = data + QLatin1Char('/') + QString::fromLatin1(Dbtag);
    for (int i = 0; i < Files; ++i)
        QVERIFY(test::writeFile(dir + QStringLiteral("/f%1.dat").arg(i),
                                test::patternBytes(4096, quint32(i))));
    QVERIFY(test::makeDbtag(data, QString::fromLatin1(Dbtag), true, false, 1704067200));
    auto a = startReceiver(tmp.filePath(QStringLiteral("shared")), 0);
    auto b = startReceiver(tmp.filePath(QStringLiteral("shared")), 0);
    QTRY_COMPARE(a->status().run, ReceiverStatus::Run::Listening);
    QTRY_COMPARE(b->status().run, ReceiverStatus::Run::Listening);
    Config config;
    config.dataRoot = data;
    QVERIFY(config.set(QStringLiteral("send.server"),
                       address(a->status().port) + QStringLiteral(", ") + address(b->status().port),
                       QStringLiteral("test"))
                .ok());
    config.source = QStringLiteral("ed-share");
    config.jobs = 2;
    auto setup = EdAgentSetup::fromConfig(config);
    QVERIFY2(setup.ok(), setup.ok() ? "" : qPrintable(setup.error().message));
    EdAgent agent(setup.value());
    agent.start();
    QTRY_VERIFY_WITH_TIMEOUT(QFile::exists(dir + QStringLiteral("/finished.watch")),
                             30000 * test::timeoutFactor());
    QCOMPARE(a->status().stored + b->status().stored, qint64(Files)); // each stored once
    QVERIFY2(a->status().stored >= Files / 4 && b->status().stored >= Files / 4,
             qPrintable(QStringLiteral("A %1, B %2").arg(a->status().stored).arg(b->status().stored)));
}

QTEST_GUILESS_MAIN(TestFailover)
#include "tst_failover.moc"
