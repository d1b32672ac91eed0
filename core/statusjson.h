#pragma once
// The status of a running daemon as JSON: what `isocket status --json` prints, what the control
// socket of `isocket send` / `isocket receive` answers, and what a window or the metrics could
// show. One builder per side over the snapshots (EdStatus, ReceiverStatus) and the health model
// (core/health.h); docs/STATUS.md documents every key. Plain functions, any thread.
//
// The top level of both answers: "schema" (1), "role" ("ed" or "receiver"), "daemon" (true: a
// running daemon answered; false: `isocket status` read the disk), "verdict" and "reason" (the
// overall word and headline: the ED's own, or on the receiver the worst of the receiver and of
// every ED of its fleet), then the side's figures and its "health" object.

#include "core/edevents.h"
#include "core/health.h"
#include "core/receiverservice.h"

#include <QDateTime>
#include <QJsonObject>
#include <QList>

namespace isocket {

constexpr int StatusSchemaVersion = 1;

// What the daemon counted itself (not part of EdStatus): files marked sent since it started,
// and their bytes.
struct EdCounters
{
    qint64 filesSent = 0;
    qint64 bytesSent = 0;
};

QString edRunName(EdStatus::Run run);             // "stopped", "starting", "running", "failed"
QString receiverRunName(ReceiverStatus::Run run); // "stopped", "starting", "listening", "failed"

// `isocket send`'s answer: role "ed", the verdict and reason of status.health.
QJsonObject edStatusJson(const EdStatus &status, const EdCounters &counters);

// The receiver's overall verdict: the worst of its own and of every fleet entry's (as of `now`),
// and the headline that goes with it ("3 of 40 EDs not ok: ed-7 failing (…)").
struct FleetVerdict
{
    Verdict verdict = Verdict::Ok;
    QString reason;
};
FleetVerdict fleetVerdict(const ReceiverHealth &health, const QList<FleetEntry> &fleet,
                          const QDateTime &now);

// `isocket receive`'s answer: role "receiver", its figures, "health", and "fleet": every ED
// it has ever seen, each with "verdict" as the receiver sees it as of `now`.
QJsonObject receiverStatusJson(const ReceiverStatus &status, const QList<FleetEntry> &fleet,
                               const QDateTime &now);

} // namespace isocket
