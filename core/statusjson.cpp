#include "core/statusjson.h"

#include <QJsonArray>

#include <algorithm>

namespace isocket {

namespace {

QString timeText(const QDateTime &t)
{
    return t.isValid() ? t.toUTC().toString(Qt::ISODateWithMs) : QString();
}

} // namespace

QString edRunName(EdStatus::Run run)
{
    switch (run) {
    case EdStatus::Run::Stopped: return QStringLiteral("stopped");
    case EdStatus::Run::Starting: return QStringLiteral("starting");
    case EdStatus::Run::Running: return QStringLiteral("running");
    case EdStatus::Run::Failed: return QStringLiteral("failed");
    }
    return QStringLiteral("failed");
}

QString receiverRunName(ReceiverStatus::Run run)
{
    switch (run) {
    case ReceiverStatus::Run::Stopped: return QStringLiteral("stopped");
    case ReceiverStatus::Run::Starting: return QStringLiteral("starting");
    case ReceiverStatus::Run::Listening: return QStringLiteral("listening");
    case ReceiverStatus::Run::Failed: return QStringLiteral("failed");
    }
    return QStringLiteral("failed");
}

QJsonObject edStatusJson(const EdStatus &status, const EdCounters &counters)
{
    QJsonArray links;
    for (const LinkStatus &link : status.links)
        links.append(QJsonObject{{QStringLiteral("state"), linkStateName(link.state)},
                                 {QStringLiteral("detail"), link.detail},
                                 {QStringLiteral("receiver"), link.receiver},
                                 {QStringLiteral("retry_at"), timeText(link.retryAt)},
                                 {QStringLiteral("live"), link.live}});
    QJsonArray receivers;
    for (const ReceiverLinkStatus &r : status.receivers)
        receivers.append(QJsonObject{{QStringLiteral("address"), r.address},
                                     {QStringLiteral("up"), !r.down},
                                     {QStringLiteral("why"), r.why},
                                     {QStringLiteral("retry_at"), timeText(r.retryAt)},
                                     {QStringLiteral("ready_links"), r.readyLinks}});
    return QJsonObject{
        {QStringLiteral("schema"), StatusSchemaVersion},
        {QStringLiteral("role"), QStringLiteral("ed")},
        {QStringLiteral("daemon"), true},
        {QStringLiteral("verdict"), verdictName(status.health.verdict)},
        {QStringLiteral("reason"), status.health.reason},
        {QStringLiteral("run"), edRunName(status.run)},
        {QStringLiteral("root"), status.root},
        {QStringLiteral("receiver"), status.receiver},
        {QStringLiteral("source"), status.source},
        {QStringLiteral("paused"), status.paused},
        {QStringLiteral("idle"), status.idle},
        {QStringLiteral("queued"), status.queued},
        {QStringLiteral("failed"), status.failed},
        {QStringLiteral("dbtags_finished"), status.dbtagsFinished},
        {QStringLiteral("files_sent"), double(counters.filesSent)},
        {QStringLiteral("bytes_sent"), double(counters.bytesSent)},
        {QStringLiteral("links"), links},
        {QStringLiteral("receivers_down"), QJsonArray::fromStringList(status.receiversDown)},
        {QStringLiteral("receivers"), receivers},
        {QStringLiteral("held_open"), QJsonArray::fromStringList(status.heldOpen)},
        {QStringLiteral("error"), status.error},
        {QStringLiteral("fatal"), status.fatal},
        {QStringLiteral("unreliable"), status.unreliable},
        {QStringLiteral("health"), status.health.toJson()},
    };
}

FleetVerdict fleetVerdict(const ReceiverHealth &health, const QList<FleetEntry> &fleet,
                          const QDateTime &now)
{
    FleetVerdict out{health.verdict, health.reason};
    QStringList notOk;
    for (const FleetEntry &entry : fleet) {
        const Verdict v = entry.verdict(now);
        out.verdict = std::max(out.verdict, v);
        if (v != Verdict::Ok && notOk.size() < 3) {
            QString why = entry.health ? entry.health->reason : QString();
            if (!entry.connected && v == Verdict::Failing)
                why = QStringLiteral("not seen since %1")
                          .arg(entry.lastSeen.isValid() ? timeText(entry.lastSeen)
                                                        : QStringLiteral("ever"));
            notOk << QStringLiteral("%1 %2%3").arg(entry.source, verdictName(v),
                                                  why.isEmpty() ? QString()
                                                                : QStringLiteral(" (%1)").arg(why));
        }
    }
    qsizetype bad = 0;
    for (const FleetEntry &entry : fleet)
        bad += entry.verdict(now) != Verdict::Ok;
    if (bad > 0) {
        const QString eds = QStringLiteral("%1 of %2 ED(s) not ok: %3%4")
                                .arg(bad)
                                .arg(fleet.size())
                                .arg(notOk.join(QStringLiteral("; ")),
                                     bad > notOk.size() ? QStringLiteral("; …") : QString());
        out.reason = health.verdict == Verdict::Ok || health.reason.isEmpty()
                         ? eds
                         : health.reason + QStringLiteral("; ") + eds;
    } else if (!fleet.isEmpty() && health.verdict == Verdict::Ok) {
        out.reason = (health.reason.isEmpty() ? QString() : health.reason + QStringLiteral("; "))
                     + QStringLiteral("%1 ED(s) ok").arg(fleet.size());
    }
    return out;
}

QJsonObject receiverStatusJson(const ReceiverStatus &status, const QList<FleetEntry> &fleet,
                               const QDateTime &now)
{
    QJsonArray eds;
    for (const FleetEntry &entry : fleet) {
        QJsonObject o = entry.toJson();
        o.insert(QStringLiteral("verdict"), verdictName(entry.verdict(now)));
        eds.append(o);
    }
    const FleetVerdict overall = fleetVerdict(status.health, fleet, now);
    return QJsonObject{
        {QStringLiteral("schema"), StatusSchemaVersion},
        {QStringLiteral("role"), QStringLiteral("receiver")},
        {QStringLiteral("daemon"), true},
        {QStringLiteral("verdict"), verdictName(overall.verdict)},
        {QStringLiteral("reason"), overall.reason},
        {QStringLiteral("run"), receiverRunName(status.run)},
        {QStringLiteral("address"), status.address},
        {QStringLiteral("port"), int(status.port)},
        {QStringLiteral("root"), status.root},
        {QStringLiteral("error"), status.error},
        {QStringLiteral("connections"), status.connections},
        {QStringLiteral("auth_failures"), status.authFailures},
        {QStringLiteral("files_stored"), double(status.stored)},
        {QStringLiteral("bytes_stored"), double(status.bytesStored)},
        {QStringLiteral("files_failed"), double(status.failed)},
        {QStringLiteral("partials_removed"), status.partialsRemoved},
        {QStringLiteral("partial_bytes_removed"), double(status.partialBytesRemoved)},
        {QStringLiteral("health"), status.health.toJson()},
        {QStringLiteral("fleet"), eds},
    };
}

} // namespace isocket
