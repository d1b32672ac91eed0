#pragma once
// RateLimiter: one bandwidth limit (send.bwlimit) shared by every connection of an ED, so the
// limit holds for the ED as a whole however many connections carry data at the moment: one
// link streaming a big file alone gets all of it, and the live link (Sender) takes its bytes
// from the same budget rather than adding to it. Thread-safe: the links ask from their own
// threads, once per chunk (a mutex costs nothing at that rate).

#include <QElapsedTimer>
#include <QMutex>

namespace isocket {

class RateLimiter
{
public:
    explicit RateLimiter(qint64 bytesPerSecond = 0) : m_limit(bytesPerSecond) {}

    // Bytes per second from the next chunk on (0: no limit); the window starts anew.
    void setLimit(qint64 bytesPerSecond);
    // 0 when `bytes` may go now (they are counted as sent), else how many milliseconds to wait
    // before asking again (at most 1,000).
    int take(qint64 bytes);

private:
    QMutex m_mutex;
    qint64 m_limit = 0;
    QElapsedTimer m_clock; // the window; invalid until the first chunk after a change
    qint64 m_bytes = 0;    // taken since m_clock started
};

} // namespace isocket
