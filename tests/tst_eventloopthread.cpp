// EventLoopThread: what is posted runs in the thread; the host and what hangs from it are
// deleted in the thread when it ends; nothing is posted to it afterwards; the destructor ends
// the thread.

#include "core/eventloopthread.h"

#include <QSignalSpy>
#include <QTest>
#include <QThread>

#include <atomic>
#include <memory>

using namespace isocket;

namespace {

// Records the thread it is destroyed in.
class Witness : public QObject
{
public:
    Witness(std::shared_ptr<std::atomic<QThread *>> diedIn, QObject *parent)
        : QObject(parent), m_diedIn(std::move(diedIn))
    {
    }
    ~Witness() override { *m_diedIn = QThread::currentThread(); }

private:
    std::shared_ptr<std::atomic<QThread *>> m_diedIn;
};

} // namespace

class TestEventLoopThread : public QObject
{
    Q_OBJECT

private slots:
    void postedRunsInTheThread();
    void childrenDieInTheThread();
    void nothingIsPostedAfterItEnded();
    void destructorEndsTheThread();
};

void TestEventLoopThread::postedRunsInTheThread()
{
    EventLoopThread io(QStringLiteral("test-io"));
    io.start();
    std::atomic<QThread *> ranIn{nullptr};
    QVERIFY(io.post([&] { ranIn = QThread::currentThread(); }));
    QTRY_VERIFY(ranIn.load() != nullptr);
    QCOMPARE(ranIn.load(), io.thread());
    QVERIFY(io.thread() != QThread::currentThread());
    QCOMPARE(io.thread()->objectName(), QStringLiteral("test-io"));
    QCOMPARE(io.host()->thread(), io.thread());
}

void TestEventLoopThread::childrenDieInTheThread()
{
    auto diedIn = std::make_shared<std::atomic<QThread *>>(nullptr);
    QThread *thread = nullptr;
    {
        EventLoopThread io(QStringLiteral("test-io"));
        thread = io.thread();
        io.start();
        std::atomic<bool> made{false};
        QVERIFY(io.post([&] {
            new Witness(diedIn, io.host()); // a child of the host, made in the thread
            made = true;
        }));
        QTRY_VERIFY(made.load());
        QCOMPARE(diedIn->load(), nullptr);
    }
    QCOMPARE(diedIn->load(), thread); // destroyed with the host, in the thread, before ~
}

void TestEventLoopThread::nothingIsPostedAfterItEnded()
{
    EventLoopThread io(QStringLiteral("test-io"));
    io.start();
    // Ended from inside, as the sender's links end when their connection stopped.
    QVERIFY(io.post([&io] { io.quit(); }));
    io.wait();
    QVERIFY(io.thread()->isFinished());
    QCOMPARE(io.host(), nullptr);
    bool ran = false;
    QVERIFY(!io.post([&] { ran = true; }));
    QVERIFY(!ran);
}

void TestEventLoopThread::destructorEndsTheThread()
{
    auto io = std::make_unique<EventLoopThread>(QStringLiteral("test-io"));
    io->start();
    QVERIFY(io->thread()->isRunning());
    QSignalSpy finished(io->thread(), &QThread::finished);
    QVERIFY(finished.isValid());
    io.reset(); // quits and waits: finished has been emitted by now
    QCOMPARE(finished.count(), 1);

    // Never started: its host is deleted all the same (no leak, no wait).
    EventLoopThread idle(QStringLiteral("test-idle"));
    QVERIFY(idle.host() != nullptr);
}

QTEST_GUILESS_MAIN(TestEventLoopThread)
#include "tst_eventloopthread.moc"
