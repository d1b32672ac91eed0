#include "core/metricstext.h"

#include <algorithm>
#include <cmath>

namespace isocket {

namespace {

constexpr Verdict Verdicts[] = {Verdict::Ok, Verdict::Behind, Verdict::Degraded, Verdict::Failing};

QString number(double v)
{
    if (std::isnan(v))
        return QStringLiteral("NaN");
    if (std::isinf(v))
        return v > 0 ? QStringLiteral("+Inf") : QStringLiteral("-Inf");
    if (v == std::floor(v) && std::fabs(v) < 9e15)
        return QString::number(qint64(v));
    return QString::number(v, 'g', 17);
}

// One metric family: HELP and TYPE once, then its samples.
class Family
{
public:
    Family(QString &out, const char *name, const char *type, const char *help)
        : m_out(out), m_name(QLatin1String(name))
    {
        m_out += QStringLiteral("# HELP %1 %2\n# TYPE %1 %3\n")
                     .arg(m_name, QLatin1String(help), QLatin1String(type));
    }
    // labels: already formatted `a="x",b="y"`, or empty.
    Family &sample(double value, const QString &labels = QString())
    {
        m_out += m_name;
        if (!labels.isEmpty())
            m_out += QLatin1Char('{') + labels + QLatin1Char('}');
        m_out += QLatin1Char(' ') + number(value) + QLatin1Char('\n');
        return *this;
    }

private:
    QString &m_out;
    QString m_name;
};

QString label(const char *name, const QString &value)
{
    return QLatin1String(name) + QStringLiteral("=\"") + escapeLabelValue(value)
           + QLatin1Char('"');
}

void verdictFamily(QString &out, const char *name, const char *help, Verdict current,
                   const QString &extraLabels = QString())
{
    Family f(out, name, "gauge", help);
    for (const Verdict v : Verdicts) {
        const QString l = label("verdict", verdictName(v));
        f.sample(v == current ? 1 : 0,
                 extraLabels.isEmpty() ? l : extraLabels + QLatin1Char(',') + l);
    }
}

double seconds(const QDateTime &t)
{
    return t.isValid() ? t.toMSecsSinceEpoch() / 1000.0 : 0;
}

} // namespace

QString escapeLabelValue(const QString &text)
{
    QString out;
    out.reserve(text.size());
    for (const QChar c : text) {
        if (c == QLatin1Char('\\'))
            out += QStringLiteral("\\\\");
        else if (c == QLatin1Char('"'))
            out += QStringLiteral("\\\"");
        else if (c == QLatin1Char('\n'))
            out += QStringLiteral("\\n");
        else
            out += c;
    }
    return out;
}

QByteArray edMetrics(const EdStatus &status, const EdCounters &counters)
{
    const EdHealth &h = status.health;
    QString out;
    const QString who = label("source", status.source) + QLatin1Char(',')
                        + label("receiver", status.receiver);
    Family(out, "isocket_ed_up", "gauge",
           "1 while a connection to the receiver is ready, else 0")
        .sample(h.connected ? 1 : 0, who);
    verdictFamily(out, "isocket_ed_verdict",
                  "The ED's overall verdict: 1 for the current one (ok, behind, degraded, failing)",
                  h.verdict);
    Family(out, "isocket_ed_running", "gauge", "1 while the sender runs (scanned, watching)")
        .sample(status.run == EdStatus::Run::Running ? 1 : 0);
    Family(out, "isocket_ed_paused", "gauge", "1 while paused by the operator")
        .sample(status.paused || h.paused ? 1 : 0);
    Family(out, "isocket_ed_backlog_files", "gauge",
           "Files waiting to be sent (queued, in flight, waiting to retry)")
        .sample(double(h.backlogFiles));
    Family(out, "isocket_ed_backlog_bytes", "gauge", "Bytes of the files waiting to be sent")
        .sample(double(h.backlogBytes));
    Family(out, "isocket_ed_oldest_unsent_age_seconds", "gauge",
           "Age of the oldest unsent file (since its modification), 0 when none")
        .sample(double(h.oldestUnsentAgeSeconds()));
    Family(out, "isocket_ed_catch_up_files", "gauge",
           "Of the files waiting, those outside the live dbtag (catching up; the live go first)")
        .sample(double(h.catchUpFiles));
    Family(out, "isocket_ed_oldest_catch_up_age_seconds", "gauge",
           "Age of the oldest file catching up (since its modification), 0 when none")
        .sample(double(h.oldestCatchUpAgeSeconds()));
    Family(out, "isocket_ed_rate_bytes_per_second", "gauge",
           "Delivery rate over the last seconds")
        .sample(h.rateBytesPerSecond);
    if (h.etaSeconds >= 0)
        Family(out, "isocket_ed_eta_seconds", "gauge",
               "Estimated time until caught up at the current rate")
            .sample(double(h.etaSeconds));
    Family(out, "isocket_ed_files_sent_total", "counter",
           "Files delivered and marked sent since the daemon started")
        .sample(double(counters.filesSent));
    Family(out, "isocket_ed_bytes_sent_total", "counter",
           "Bytes of the files marked sent since the daemon started")
        .sample(double(counters.bytesSent));
    Family(out, "isocket_ed_failed_files", "gauge",
           "Files failed for good and dbtags that could not be finished")
        .sample(std::max<double>(status.failed, h.failedFiles));
    Family(out, "isocket_ed_refused_files", "gauge",
           "Files the receiver refuses (disk full, reserve, permanent errors)")
        .sample(h.refusedFiles);
    Family(out, "isocket_ed_auth_failing", "gauge",
           "1 while the receiver refuses this ED's credentials")
        .sample(h.authFailing ? 1 : 0);
    Family(out, "isocket_ed_local_trouble", "gauge",
           "1 while the ED has local trouble (data root missing, inotify overflow, no watches)")
        .sample(h.localTrouble.isEmpty() ? 0 : 1);
    Family(out, "isocket_ed_dbtags_finished_total", "counter",
           "Dbtags finished (finished.watch written) since the daemon started")
        .sample(status.dbtagsFinished);
    {
        Family f(out, "isocket_ed_dbtags", "gauge", "Dbtags of the data root by state");
        for (const char *state : {"live", "closed", "done", "abnormal"})
            f.sample(h.dbtagsByState.value(QLatin1String(state)),
                     label("state", QLatin1String(state)));
    }
    {
        Family f(out, "isocket_ed_links", "gauge", "Connections to the receiver by state");
        QMap<QString, int> byState;
        for (const char *state :
             {"disconnected", "connecting", "authenticating", "connected", "retrying", "refused",
              "stopped"})
            byState.insert(QLatin1String(state), 0);
        for (const LinkStatus &link : status.links)
            ++byState[linkStateName(link.state)];
        for (auto it = byState.cbegin(); it != byState.cend(); ++it)
            f.sample(it.value(), label("state", it.key()));
    }
    return out.toUtf8();
}

QByteArray receiverMetrics(const ReceiverStatus &status, const QList<FleetEntry> &fleet,
                           const QDateTime &now, int maxSources)
{
    const ReceiverHealth &h = status.health;
    QString out;
    Family(out, "isocket_receiver_up", "gauge", "1 while the receiver listens")
        .sample(status.run == ReceiverStatus::Run::Listening ? 1 : 0,
                label("address", status.address));
    verdictFamily(out, "isocket_receiver_verdict",
                  "The receiver's own verdict: 1 for the current one (ok, behind, degraded, "
                  "failing)",
                  h.verdict);
    Family(out, "isocket_receiver_files_stored_total", "counter",
           "Files stored durably since the receiver started")
        .sample(double(status.stored));
    Family(out, "isocket_receiver_bytes_stored_total", "counter",
           "Bytes of the files stored since the receiver started")
        .sample(double(status.bytesStored));
    Family(out, "isocket_receiver_files_failed_total", "counter",
           "Files that failed since the receiver started")
        .sample(double(status.failed));
    if (h.freeBytes >= 0)
        Family(out, "isocket_receiver_free_bytes", "gauge",
               "Free space of the receive root's filesystem")
            .sample(double(h.freeBytes));
    if (h.totalBytes >= 0)
        Family(out, "isocket_receiver_size_bytes", "gauge",
               "Size of the receive root's filesystem")
            .sample(double(h.totalBytes));
    Family(out, "isocket_receiver_reserve_bytes", "gauge",
           "Free space the receiver always keeps (receive.reserve)")
        .sample(double(h.reserveBytes));
    Family(out, "isocket_receiver_disk_full", "gauge",
           "1 while free space is under the reserve and files are refused")
        .sample(h.diskFull ? 1 : 0);
    Family(out, "isocket_receiver_connections", "gauge", "Connections open now")
        .sample(std::max(status.connections, h.connections));
    Family(out, "isocket_receiver_auth_failures_total", "counter",
           "Failed authentications since the receiver started")
        .sample(double(std::max<qint64>(status.authFailures, h.authFailures)));
    Family(out, "isocket_receiver_partials_removed_total", "counter",
           "Stale partial files removed (receive.partial_max_age) since the receiver started")
        .sample(status.partialsRemoved);

    // The fleet: the worst first, then by name; at most maxSources with labels.
    QList<std::pair<Verdict, const FleetEntry *>> order;
    order.reserve(fleet.size());
    for (const FleetEntry &entry : fleet)
        order.append({entry.verdict(now), &entry});
    std::sort(order.begin(), order.end(), [](const auto &a, const auto &b) {
        return a.first != b.first ? a.first > b.first : a.second->source < b.second->source;
    });
    if (order.size() > maxSources)
        order.resize(maxSources);
    Family(out, "isocket_receiver_sources", "gauge", "EDs the receiver has ever seen")
        .sample(double(fleet.size()));
    {
        Family f(out, "isocket_receiver_sources_by_verdict", "gauge",
                 "EDs the receiver has ever seen, by their verdict");
        QMap<Verdict, int> counts;
        for (const FleetEntry &entry : fleet)
            ++counts[entry.verdict(now)];
        for (const Verdict v : Verdicts)
            f.sample(counts.value(v), label("verdict", verdictName(v)));
    }
    if (order.isEmpty())
        return out.toUtf8();
    auto perSource = [&](const char *name, const char *type, const char *help, auto value) {
        Family f(out, name, type, help);
        for (const auto &[verdict, entry] : std::as_const(order)) {
            const std::optional<double> v = value(*entry, verdict);
            if (v)
                f.sample(*v, label("source", entry->source));
        }
    };
    perSource("isocket_receiver_source_connected", "gauge",
              "1 while an authenticated connection from the ED is open",
              [](const FleetEntry &e, Verdict) -> std::optional<double> {
                  return e.connected ? 1 : 0;
              });
    {
        Family f(out, "isocket_receiver_source_verdict", "gauge",
                 "Each ED's verdict as the receiver sees it: 1 for the current one");
        for (const auto &[verdict, entry] : std::as_const(order))
            for (const Verdict v : Verdicts)
                f.sample(v == verdict ? 1 : 0, label("source", entry->source) + QLatin1Char(',')
                                                   + label("verdict", verdictName(v)));
    }
    perSource("isocket_receiver_source_last_seen_timestamp_seconds", "gauge",
              "When the ED was last seen (Unix time)",
              [](const FleetEntry &e, Verdict) -> std::optional<double> {
                  if (!e.lastSeen.isValid())
                      return std::nullopt;
                  return seconds(e.lastSeen);
              });
    perSource("isocket_receiver_source_files_received_total", "counter",
              "Files received from the ED since it was first seen",
              [](const FleetEntry &e, Verdict) -> std::optional<double> {
                  return double(e.filesReceived);
              });
    perSource("isocket_receiver_source_bytes_received_total", "counter",
              "Bytes received from the ED since it was first seen",
              [](const FleetEntry &e, Verdict) -> std::optional<double> {
                  return double(e.bytesReceived);
              });
    perSource("isocket_receiver_source_datasets_completed", "gauge",
              "Dbtags of the ED complete on the receiver (with their manifest)",
              [](const FleetEntry &e, Verdict) -> std::optional<double> {
                  return double(e.datasetsCompleted);
              });
    perSource("isocket_receiver_source_backlog_files", "gauge",
              "Files waiting on the ED, as it last reported",
              [](const FleetEntry &e, Verdict) -> std::optional<double> {
                  if (!e.health)
                      return std::nullopt;
                  return double(e.health->backlogFiles);
              });
    perSource("isocket_receiver_source_backlog_bytes", "gauge",
              "Bytes waiting on the ED, as it last reported",
              [](const FleetEntry &e, Verdict) -> std::optional<double> {
                  if (!e.health)
                      return std::nullopt;
                  return double(e.health->backlogBytes);
              });
    perSource("isocket_receiver_source_oldest_unsent_age_seconds", "gauge",
              "Age of the ED's oldest unsent file as of now, from its last report",
              [&now](const FleetEntry &e, Verdict) -> std::optional<double> {
                  if (!e.health)
                      return std::nullopt;
                  if (!e.health->oldestUnsent.isValid())
                      return 0.0;
                  return double(std::max<qint64>(0, e.health->oldestUnsent.secsTo(now)));
              });
    return out.toUtf8();
}

} // namespace isocket
