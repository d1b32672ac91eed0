#include "core/eventloopthread.h"

#include <QCoreApplication>
#include <QThread>

#include <openssl/crypto.h>

namespace isocket {

namespace {

// The thread's run: its event loop, then `atEnd` in the thread, before QThread reports it
// finished and wait() returns.
class LoopThread final : public QThread
{
public:
    explicit LoopThread(std::function<void()> atEnd) : m_atEnd(std::move(atEnd)) {}

protected:
    void run() override
    {
        exec();
        m_atEnd();
    }

private:
    std::function<void()> m_atEnd;
};

} // namespace

EventLoopThread::EventLoopThread(const QString &name)
{
    // In the thread, on its way out: nothing is posted to the host from here on; it goes with
    // its children (and what they handed to deleteLater()), and then the thread's OpenSSL state.
    // Qt's threads are detached and wait() returns before the thread has really ended: what a
    // thread-local destructor of OpenSSL did after that raced with the process's exit, which
    // frees OpenSSL's globals: now and then `isocket send --once` ended in "double free or
    // corruption" or SIGSEGV in libcrypto (once in CI; here 5 exits in 1,500 under load).
    // OPENSSL_thread_stop() releases it here instead, before wait() returns, and leaves nothing
    // for the thread's exit to do.
    m_thread = std::make_unique<LoopThread>([this] {
        QObject *host = nullptr;
        {
            std::lock_guard lock(m_hostMutex);
            host = std::exchange(m_host, nullptr);
        }
        QCoreApplication::sendPostedEvents(nullptr, QEvent::DeferredDelete);
        delete host;
        QCoreApplication::sendPostedEvents(nullptr, QEvent::DeferredDelete);
        OPENSSL_thread_stop();
    });
    m_thread->setObjectName(name);
    m_host = new QObject; // no parent: it lives in the thread and dies there (see the header)
    m_host->moveToThread(m_thread.get());
}

EventLoopThread::~EventLoopThread()
{
    quit();
    wait();
    std::lock_guard lock(m_hostMutex);
    delete std::exchange(m_host, nullptr); // never started: nobody else deletes it
}

void EventLoopThread::start()
{
    m_thread->start();
}

void EventLoopThread::quit()
{
    m_thread->quit();
}

void EventLoopThread::wait()
{
    m_thread->wait();
}

QObject *EventLoopThread::host() const
{
    std::lock_guard lock(m_hostMutex);
    return m_host;
}

bool EventLoopThread::post(std::function<void()> fn) const
{
    std::lock_guard lock(m_hostMutex); // the host is not deleted meanwhile
    if (!m_host)
        return false;
    QMetaObject::invokeMethod(m_host, std::move(fn), Qt::QueuedConnection);
    return true;
}

} // namespace isocket
