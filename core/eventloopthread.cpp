#include "core/eventloopthread.h"

#include <QThread>

namespace isocket {

EventLoopThread::EventLoopThread(const QString &name) : m_thread(std::make_unique<QThread>())
{
    m_thread->setObjectName(name);
    m_host = new QObject; // no parent: it lives in the thread and dies there (see the header)
    m_host->moveToThread(m_thread.get());
    // In the thread, on its way out (its deferred deletes are run then): nothing is posted to
    // the host from here on, and it goes with its children.
    QObject::connect(
        m_thread.get(), &QThread::finished, m_thread.get(),
        [this] {
            QObject *host = nullptr;
            {
                std::lock_guard lock(m_hostMutex);
                host = std::exchange(m_host, nullptr);
            }
            if (host)
                host->deleteLater();
        },
        Qt::DirectConnection);
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
