#pragma once
// Throughput: bytes per second over the last few minutes, in a fixed ring of one-second
// buckets (bounded memory whatever the traffic). Fed with byte counts as they are reported;
// the clock advances on each call, so quiet seconds read as zero without any timer.
// A plain value-like class; used in the GUI thread.

#include <QElapsedTimer>
#include <QList>

#include <array>

namespace isocket::gui {

class Throughput
{
public:
    static constexpr int Seconds = 300; // five minutes of history

    Throughput();

    void add(qint64 bytes);
    // Average rate over the last `seconds` complete seconds (plus the current one).
    double rate(int seconds = 5) const;
    // The link's rate: the bytes of the last `windowMs`, over the time since the first of them
    // came (at least a tenth of a second), so a short burst reads as the speed it moved at, and a
    // link that went quiet falls to zero once the window has passed.
    double linkRate(int windowMs = 5000) const;
    // One value per second, oldest first, the current (partial) second last; Seconds values.
    QList<qint64> samples() const;
    qint64 total() const { return m_total; }

    // For tests: pretend `ms` milliseconds passed.
    void advanceForTest(qint64 ms) { m_offsetMs += ms; }

private:
    qint64 nowSecond() const;
    void roll(qint64 second) const;

    QElapsedTimer m_clock;
    qint64 m_offsetMs = 0;
    mutable std::array<qint64, Seconds> m_buckets{};
    mutable qint64 m_second = 0; // the second the newest bucket counts
    qint64 m_total = 0;
    // Tenths of a second, the last FineSlots of them, for linkRate().
    static constexpr int FineSlots = 100;
    void rollFine(qint64 tenth) const;
    mutable std::array<qint64, FineSlots> m_fine{};
    mutable std::array<qint64, FineSlots> m_fineFirstMs{}; // when the slot's first bytes came
    mutable qint64 m_tenth = 0; // the tenth the newest fine slot counts
};

} // namespace isocket::gui
