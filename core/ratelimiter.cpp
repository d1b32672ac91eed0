#include "core/ratelimiter.h"

#include <QMutexLocker>

namespace isocket {

void RateLimiter::setLimit(qint64 bytesPerSecond)
{
    QMutexLocker lock(&m_mutex);
    m_limit = qMax<qint64>(0, bytesPerSecond);
    m_clock.invalidate();
}

int RateLimiter::take(qint64 bytes)
{
    QMutexLocker lock(&m_mutex);
    if (m_limit <= 0)
        return 0;
    if (!m_clock.isValid() || m_clock.elapsed() > 10000) {
        // A fresh window now and then, so an idle spell does not bank an unlimited burst.
        m_clock.start();
        m_bytes = 0;
    }
    const qint64 allowedAt = (m_bytes + bytes) * 1000 / m_limit;
    const qint64 wait = allowedAt - m_clock.elapsed();
    if (wait > 0)
        return static_cast<int>(qMin<qint64>(wait, 1000));
    m_bytes += bytes;
    return 0;
}

} // namespace isocket
