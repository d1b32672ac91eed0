#pragma once
// DiskHold: a disk that does not finish a write until release(). It occupies every thread of
// the pool that writes (by default StreamWriter::pool(), which writes the stages of directly
// written files; or e.g. the receiver's manifest writer), so writes submitted meanwhile queue
// behind it. Released at the latest `maxMs` after it was made, from a
// thread of its own: a caller that waits for the disk on its event loop thread (the bug this
// plays for) comes free, and its test fails on released() instead of hanging.

#include "core/streamwriter.h"

#include <QThreadPool>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

namespace isocket::test {

class DiskHold
{
public:
    explicit DiskHold(int maxMs, QThreadPool &pool = StreamWriter::pool())
    {
        for (int i = 0; i < pool.maxThreadCount(); ++i)
            pool.start([gate = m_gate] { gate.wait(); });
        m_deadline = std::thread([this, maxMs] {
            if (m_gate.wait_for(std::chrono::milliseconds(maxMs)) != std::future_status::ready) {
                m_byDeadline = true;
                release();
            }
        });
    }
    ~DiskHold()
    {
        release();
        m_deadline.join();
    }
    DiskHold(const DiskHold &) = delete;
    DiskHold &operator=(const DiskHold &) = delete;

    void release()
    {
        std::call_once(m_once, [this] { m_open.set_value(); });
    }
    bool released() const
    {
        return m_gate.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    }
    // Released by the deadline, not by the test.
    bool releasedByDeadline() const { return m_byDeadline; }

private:
    std::promise<void> m_open;
    std::shared_future<void> m_gate = m_open.get_future().share();
    std::once_flag m_once;
    std::atomic<bool> m_byDeadline{false};
    std::thread m_deadline;
};

} // namespace isocket::test
