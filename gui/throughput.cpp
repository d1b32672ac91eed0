#include "gui/throughput.h"

#include <algorithm>

namespace isocket::gui {

Throughput::Throughput()
{
    m_clock.start();
}

qint64 Throughput::nowSecond() const
{
    return (m_clock.elapsed() + m_offsetMs) / 1000;
}

void Throughput::roll(qint64 second) const
{
    if (second <= m_second)
        return;
    const qint64 steps = std::min<qint64>(second - m_second, Seconds);
    for (qint64 i = 1; i <= steps; ++i)
        m_buckets[size_t((m_second + i) % Seconds)] = 0;
    m_second = second;
}

void Throughput::add(qint64 bytes)
{
    if (bytes <= 0)
        return;
    roll(nowSecond());
    m_buckets[size_t(m_second % Seconds)] += bytes;
    const qint64 nowMs = m_clock.elapsed() + m_offsetMs;
    rollFine(nowMs / 100);
    if (m_fine[size_t(m_tenth % FineSlots)] == 0)
        m_fineFirstMs[size_t(m_tenth % FineSlots)] = nowMs;
    m_fine[size_t(m_tenth % FineSlots)] += bytes;
    m_total += bytes;
}

double Throughput::rate(int seconds) const
{
    seconds = std::clamp(seconds, 1, Seconds - 1);
    const qint64 now = nowSecond();
    roll(now);
    qint64 sum = 0;
    for (int i = 0; i <= seconds; ++i)
        sum += m_buckets[size_t((now - i + Seconds) % Seconds)];
    // The current second is partial: count it by the fraction elapsed.
    const double partial = double((m_clock.elapsed() + m_offsetMs) % 1000) / 1000.0;
    return double(sum) / (seconds + partial);
}

void Throughput::rollFine(qint64 tenth) const
{
    if (tenth <= m_tenth)
        return;
    const qint64 steps = std::min<qint64>(tenth - m_tenth, FineSlots);
    for (qint64 i = 1; i <= steps; ++i)
        m_fine[size_t((m_tenth + i) % FineSlots)] = 0;
    m_tenth = tenth;
}

double Throughput::linkRate(int windowMs) const
{
    const qint64 nowMs = m_clock.elapsed() + m_offsetMs;
    rollFine(nowMs / 100);
    const int span = std::clamp(windowMs / 100, 1, FineSlots - 1);
    qint64 sum = 0;
    qint64 firstMs = -1;
    for (int i = span; i >= 0; --i) {
        const qint64 tenth = m_tenth - i;
        if (tenth < 0)
            continue;
        const qint64 bytes = m_fine[size_t(tenth % FineSlots)];
        if (bytes > 0 && firstMs < 0)
            firstMs = m_fineFirstMs[size_t(tenth % FineSlots)];
        sum += bytes;
    }
    if (firstMs < 0)
        return 0.0;
    // From the first report of the window until now (the bytes of that report moved before
    // it; the window is long enough for that to matter little); at least a tenth.
    const qint64 spanMs = std::max<qint64>(100, nowMs - firstMs);
    return double(sum) * 1000.0 / double(spanMs);
}

QList<qint64> Throughput::samples() const
{
    roll(nowSecond());
    QList<qint64> out;
    out.reserve(Seconds);
    for (int i = Seconds - 1; i >= 0; --i)
        out.append(m_buckets[size_t((m_second - i + Seconds * 2) % Seconds)]);
    return out;
}

} // namespace isocket::gui
