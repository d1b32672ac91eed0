// ReceiverPool: which receiver each link uses, the backoff per receiver shared by the links, and
// the way back; values and a clock the test turns.

#include "core/receiverpool.h"

#include <QTest>

using namespace isocket;

class TestReceiverPool : public QObject
{
    Q_OBJECT

private slots:
    void spreadsLinks();
    void failsOverAndBackOffIsShared();
    void backoffGrowsAndEnds();
    void allDownWaitsForTheFirstFree();
    void oneReceiver();
    void resetAndStates();
};

namespace {

QList<ReceiverAddress> addresses(int n)
{
    QList<ReceiverAddress> list;
    for (int i = 0; i < n; ++i)
        list.append({QStringLiteral("r%1").arg(i), quint16(4000 + i)});
    return list;
}

struct FakeClock
{
    std::shared_ptr<qint64> now = std::make_shared<qint64>(1000);
    ReceiverPool::Clock clock() const
    {
        return [n = now] { return *n; };
    }
    void advance(qint64 ms) { *now += ms; }
};

} // namespace

// Link i starts at receiver i mod N: jobs = 4 over 2 receivers puts two links on each.
void TestReceiverPool::spreadsLinks()
{
    FakeClock c;
    ReceiverPool pool(addresses(2), 2000, 60000, c.clock());
    QCOMPARE(pool.size(), 2);
    for (int link = 0; link < 4; ++link) {
        QCOMPARE(pool.home(link), link % 2);
        const auto choice = pool.choose(link);
        QCOMPARE(choice.receiver, link % 2);
        QCOMPARE(choice.delayMs, 0);
    }
    QCOMPARE(pool.address(1).toString(), QStringLiteral("r1:4001"));
    QVERIFY(pool.downList().isEmpty());
}

// A failed receiver backs off for every link: the links of a failed receiver go to the next one
// in the list at once, and the second link's failure in the same outage does not double it.
void TestReceiverPool::failsOverAndBackOffIsShared()
{
    FakeClock c;
    ReceiverPool pool(addresses(3), 2000, 60000, c.clock());
    pool.failed(0, QStringLiteral("refused"));
    const int wait = pool.msUntilFree(0);
    QVERIFY2(wait >= 1500 && wait <= 2500, qPrintable(QString::number(wait))); // 2 s ± 25 %
    // Links 0 and 3 (home 0) go to receiver 1, the next after their own; link 1 and 2 stay.
    QCOMPARE(pool.choose(0).receiver, 1);
    QCOMPARE(pool.choose(3).receiver, 1);
    QCOMPARE(pool.choose(0).delayMs, 0);
    QCOMPARE(pool.choose(1).receiver, 1);
    QCOMPARE(pool.choose(2).receiver, 2);
    // Link 3 loses its connection to receiver 0 too, a moment later: the same backoff.
    c.advance(100);
    pool.failed(0, QStringLiteral("peer closed"));
    QCOMPARE(pool.msUntilFree(0), wait - 100);
    QCOMPARE(pool.states().at(0).attempts, 1);
    QCOMPARE(pool.downList(), QStringList{QStringLiteral("r0:4000 (peer closed)")});
    // Receiver 1 fails as well: link 0 goes on to receiver 2.
    pool.failed(1, QStringLiteral("timeout"));
    QCOMPARE(pool.choose(0).receiver, 2);
    QCOMPARE(pool.choose(1).receiver, 2);
    QCOMPARE(pool.downList().size(), 2);
    // Once receiver 0's backoff has expired, its links go home.
    c.advance(wait);
    QCOMPARE(pool.msUntilFree(0), 0);
    QCOMPARE(pool.choose(0).receiver, 0);
    QCOMPARE(pool.choose(3).receiver, 0);
    QVERIFY(pool.states().at(0).down); // not reached yet
    pool.succeeded(0);
    QVERIFY(!pool.states().at(0).down);
    QCOMPARE(pool.states().at(0).attempts, 0);
    QCOMPARE(pool.downList().size(), 1);
}

// Each failure after a backoff has expired (a new attempt failed) doubles the delay, up to the
// cap; a success ends it.
void TestReceiverPool::backoffGrowsAndEnds()
{
    FakeClock c;
    ReceiverPool pool(addresses(2), 1000, 8000, c.clock());
    const int expected[] = {1000, 2000, 4000, 8000, 8000, 8000};
    for (int i = 0; i < 6; ++i) {
        pool.failed(0, QStringLiteral("refused"));
        const int wait = pool.msUntilFree(0);
        QVERIFY2(wait >= expected[i] * 3 / 4 && wait <= expected[i] * 5 / 4,
                 qPrintable(QStringLiteral("attempt %1: %2 ms").arg(i + 1).arg(wait)));
        QCOMPARE(pool.states().at(0).attempts, i + 1);
        QCOMPARE(pool.choose(0).receiver, 1);
        c.advance(wait);
        QCOMPARE(pool.choose(0).receiver, 0); // tried again, and fails again
    }
    pool.succeeded(0);
    pool.failed(0, QStringLiteral("refused"));
    QVERIFY(pool.msUntilFree(0) <= 1250); // from the start again
}

// Every receiver backs off: the link waits for the one free first, then takes it.
void TestReceiverPool::allDownWaitsForTheFirstFree()
{
    FakeClock c;
    ReceiverPool pool(addresses(2), 1000, 60000, c.clock());
    pool.failed(0, QStringLiteral("a"));
    pool.failed(0, QStringLiteral("a")); // same outage
    c.advance(pool.msUntilFree(0));
    pool.failed(0, QStringLiteral("a")); // second attempt: 2 s ± 25 %
    pool.failed(1, QStringLiteral("b")); // first: 1 s ± 25 %
    const int wait1 = pool.msUntilFree(1);
    QVERIFY(wait1 < pool.msUntilFree(0));
    const auto choice = pool.choose(0);
    QCOMPARE(choice.receiver, 1);
    QCOMPARE(choice.delayMs, wait1);
    c.advance(wait1);
    QCOMPARE(pool.choose(0).receiver, 1);
    QCOMPARE(pool.choose(0).delayMs, 0);
}

// One receiver: every link uses it and waits out its backoff, as before the lists.
void TestReceiverPool::oneReceiver()
{
    FakeClock c;
    ReceiverPool pool({{QStringLiteral("127.0.0.1"), 12345}}, 2000, 60000, c.clock());
    for (int link = 0; link < 3; ++link)
        QCOMPARE(pool.choose(link).receiver, 0);
    pool.failed(0, QStringLiteral("refused"));
    const int wait = pool.msUntilFree(0);
    QVERIFY(wait >= 1500);
    QCOMPARE(pool.choose(2).receiver, 0);
    QCOMPARE(pool.choose(2).delayMs, wait);
}

void TestReceiverPool::resetAndStates()
{
    FakeClock c;
    ReceiverPool pool(addresses(2), 2000, 60000, c.clock());
    pool.failed(1, QStringLiteral("wrong secret"));
    const auto states = pool.states();
    QCOMPARE(states.size(), 2);
    QVERIFY(!states.at(0).down);
    QVERIFY(states.at(1).down);
    QCOMPARE(states.at(1).why, QStringLiteral("wrong secret"));
    QVERIFY(states.at(1).retryInMs > 0);
    // "Retry now": every receiver may be tried at once; it stays down until reached.
    pool.reset();
    QCOMPARE(pool.msUntilFree(1), 0);
    QCOMPARE(pool.choose(1).receiver, 1);
    QVERIFY(pool.states().at(1).down);
}

QTEST_GUILESS_MAIN(TestReceiverPool)
#include "tst_receiverpool.moc"
