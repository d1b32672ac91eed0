#pragma once
// The Prometheus text exposition format (version 0.0.4) of both sides, built from the same
// snapshots as the status JSON (core/statusjson.h), on each scrape: nothing is kept between
// scrapes. The HTTP side is the console's (cli/metricsserver.h); docs/STATUS.md lists every
// metric. Plain functions, any thread.
//
// Names and units per the Prometheus conventions: `isocket_<side>_…`, `_total` for counters,
// `_bytes`, `_seconds`, `_timestamp_seconds`; an enumeration as one series per value, 1 for the
// current one (`isocket_ed_verdict{verdict="ok"} 1`). Label values escaped (\\, \", \n).

#include "core/statusjson.h"

#include <QByteArray>
#include <QDateTime>
#include <QList>

namespace isocket {

// Sources of the receiver's fleet exported with labels, at most: the worst verdicts first, then
// by name. isocket_receiver_sources counts them all.
constexpr int MaxMetricSources = 1000;

// `text` as a label value between double quotes: \ → \\, " → \", newline → \n.
QString escapeLabelValue(const QString &text);

QByteArray edMetrics(const EdStatus &status, const EdCounters &counters);
QByteArray receiverMetrics(const ReceiverStatus &status, const QList<FleetEntry> &fleet,
                           const QDateTime &now, int maxSources = MaxMetricSources);

} // namespace isocket
