#pragma once
// EventLoopThread: a thread that runs an event loop, and the object in it that what lives there
// hangs from. Used by both sides: the receiver's I/O threads (their connections are children of
// the host) and the sender's links (one SenderConnection each).
//
// Owns the QThread and its host, a plain QObject moved into the thread before it starts and
// deleted there when the thread's event loop ends, with every child it has then (so the objects
// made in the thread are destroyed in it). The EventLoopThread itself lives in the thread that
// made it; start(), quit(), wait() and the destructor are called there. host() and post() may be
// called from any thread while the EventLoopThread exists. The destructor quits the event loop
// and waits for the thread: nothing runs in it afterwards (its OpenSSL state, too, is released
// in it before wait() returns; Qt's threads are detached and end after wait()).

#include <QObject>
#include <QString>

#include <functional>
#include <memory>
#include <mutex>

class QThread;

namespace isocket {

class EventLoopThread
{
public:
    explicit EventLoopThread(const QString &name);
    ~EventLoopThread(); // quit() and wait()
    EventLoopThread(const EventLoopThread &) = delete;
    EventLoopThread &operator=(const EventLoopThread &) = delete;

    void start();
    // Ends the event loop once what it is running returns (any thread).
    void quit();
    // Waits for the thread to end (after quit(), or after something in it called quit()).
    void wait();
    // The object living in the thread: the parent of what lives there, the context of calls
    // posted to it. Null once the thread is ending (its host is deleted on the way out); use it
    // only from the thread itself or while the thread certainly runs.
    QObject *host() const;
    QThread *thread() const { return m_thread.get(); }
    // Runs `fn` in the thread (queued). False, and `fn` dropped, when the thread is ending or
    // ended. Safe from any thread at any time while this object exists.
    bool post(std::function<void()> fn) const;

private:
    std::unique_ptr<QThread> m_thread;
    mutable std::mutex m_hostMutex;
    QObject *m_host = nullptr; // lives in m_thread, deleted there when it ends
};

} // namespace isocket
