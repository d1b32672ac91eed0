#pragma once
// Exponential backoff with jitter, shared by file retries and reconnects.

#include <QRandomGenerator>
#include <QtGlobal>

namespace isocket {

// The delay before attempt `attempt` (1 = the first retry): first × 2^(attempt-1), capped at
// `cap`, then ±25 % jitter so that many files or EDs do not retry in lockstep.
inline int backoffDelayMs(int attempt, int firstMs, int capMs)
{
    const qint64 base = qMin<qint64>(capMs, qint64(firstMs) << qBound(0, attempt - 1, 20));
    return static_cast<int>(base * (75 + QRandomGenerator::global()->bounded(51)) / 100);
}

} // namespace isocket
