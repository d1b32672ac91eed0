#include "core/health.h"

#include <QJsonArray>
#include <QJsonValue>

namespace isocket {

namespace {

QString timeText(const QDateTime &t)
{
    return t.isValid() ? t.toUTC().toString(Qt::ISODateWithMs) : QString();
}

// A JSON object read strictly: a key that is there must have the expected type; a required
// key must be there. ok() false after the first violation.
class Reader
{
public:
    explicit Reader(const QJsonObject &json) : m_json(json) {}
    bool ok() const { return m_ok; }

    QString string(const char *key, bool required = false)
    {
        const QJsonValue v = value(key, required);
        if (v.isUndefined())
            return {};
        if (!v.isString())
            return fail();
        return v.toString();
    }
    bool boolean(const char *key)
    {
        const QJsonValue v = value(key, false);
        if (v.isUndefined())
            return false;
        if (!v.isBool()) {
            m_ok = false;
            return false;
        }
        return v.toBool();
    }
    qint64 integer(const char *key, qint64 fallback = 0)
    {
        const QJsonValue v = value(key, false);
        if (v.isUndefined())
            return fallback;
        if (!v.isDouble()) {
            m_ok = false;
            return fallback;
        }
        return qint64(v.toDouble());
    }
    double number(const char *key)
    {
        const QJsonValue v = value(key, false);
        if (v.isUndefined())
            return 0;
        if (!v.isDouble()) {
            m_ok = false;
            return 0;
        }
        return v.toDouble();
    }
    QDateTime time(const char *key)
    {
        const QString text = string(key);
        if (text.isEmpty())
            return {};
        QDateTime t = QDateTime::fromString(text, Qt::ISODateWithMs);
        if (!t.isValid()) {
            m_ok = false;
            return {};
        }
        return t.toUTC();
    }
    std::optional<Verdict> verdict(const char *key)
    {
        const auto v = verdictFromName(string(key, true));
        if (!v)
            m_ok = false;
        return v;
    }
    QJsonObject object(const char *key)
    {
        const QJsonValue v = value(key, false);
        if (v.isUndefined() || v.isNull())
            return {};
        if (!v.isObject()) {
            m_ok = false;
            return {};
        }
        return v.toObject();
    }
    template <typename T>
    QMap<QString, T> counts(const char *key)
    {
        QMap<QString, T> map;
        const QJsonObject o = object(key);
        for (auto it = o.begin(); it != o.end(); ++it) {
            if (!it.value().isDouble()) {
                m_ok = false;
                return {};
            }
            map.insert(it.key(), T(it.value().toDouble()));
        }
        return map;
    }
    bool has(const char *key) const { return m_json.contains(QLatin1String(key)); }

private:
    QJsonValue value(const char *key, bool required)
    {
        const QJsonValue v = m_json.value(QLatin1String(key));
        if (v.isUndefined() && required)
            m_ok = false;
        return v;
    }
    QString fail()
    {
        m_ok = false;
        return {};
    }

    QJsonObject m_json;
    bool m_ok = true;
};

template <typename T>
QJsonObject countsJson(const QMap<QString, T> &map)
{
    QJsonObject o;
    for (auto it = map.cbegin(); it != map.cend(); ++it)
        o.insert(it.key(), double(it.value()));
    return o;
}

} // namespace

QString verdictName(Verdict verdict)
{
    switch (verdict) {
    case Verdict::Ok: return QStringLiteral("ok");
    case Verdict::Behind: return QStringLiteral("behind");
    case Verdict::Degraded: return QStringLiteral("degraded");
    case Verdict::Failing: return QStringLiteral("failing");
    }
    return QStringLiteral("failing");
}

std::optional<Verdict> verdictFromName(const QString &name)
{
    for (Verdict v : {Verdict::Ok, Verdict::Behind, Verdict::Degraded, Verdict::Failing})
        if (verdictName(v) == name)
            return v;
    return std::nullopt;
}

int verdictExitCode(Verdict verdict)
{
    return verdict == Verdict::Ok ? 0 : 1;
}

qint64 EdHealth::oldestUnsentAgeSeconds() const
{
    if (!oldestUnsent.isValid() || !at.isValid())
        return 0;
    return qMax<qint64>(0, oldestUnsent.secsTo(at));
}

QJsonObject EdHealth::toJson() const
{
    QJsonObject o;
    o.insert(QStringLiteral("verdict"), verdictName(verdict));
    o.insert(QStringLiteral("reason"), reason);
    o.insert(QStringLiteral("at"), timeText(at));
    o.insert(QStringLiteral("connected"), connected);
    o.insert(QStringLiteral("down_since"), timeText(downSince));
    o.insert(QStringLiteral("down_cause"), downCause);
    o.insert(QStringLiteral("auth_failing"), authFailing);
    o.insert(QStringLiteral("auth_failing_since"), timeText(authFailingSince));
    o.insert(QStringLiteral("refusal"), refusal);
    o.insert(QStringLiteral("refusing_since"), timeText(refusingSince));
    o.insert(QStringLiteral("refused_files"), refusedFiles);
    o.insert(QStringLiteral("local_trouble"), localTrouble);
    o.insert(QStringLiteral("paused"), paused);
    o.insert(QStringLiteral("backlog_files"), double(backlogFiles));
    o.insert(QStringLiteral("backlog_bytes"), double(backlogBytes));
    o.insert(QStringLiteral("oldest_unsent"), timeText(oldestUnsent));
    o.insert(QStringLiteral("oldest_unsent_age_seconds"), double(oldestUnsentAgeSeconds()));
    o.insert(QStringLiteral("rate_bytes_per_second"), rateBytesPerSecond);
    o.insert(QStringLiteral("eta_seconds"), double(etaSeconds));
    o.insert(QStringLiteral("live_dbtag"), liveDbtag);
    o.insert(QStringLiteral("dbtags_by_state"), countsJson(dbtagsByState));
    o.insert(QStringLiteral("failed_files"), failedFiles);
    return o;
}

std::optional<EdHealth> EdHealth::fromJson(const QJsonObject &json)
{
    Reader r(json);
    EdHealth h;
    const auto verdict = r.verdict("verdict");
    h.verdict = verdict.value_or(Verdict::Failing);
    h.reason = r.string("reason");
    h.at = r.time("at");
    h.connected = r.boolean("connected");
    h.downSince = r.time("down_since");
    h.downCause = r.string("down_cause");
    h.authFailing = r.boolean("auth_failing");
    h.authFailingSince = r.time("auth_failing_since");
    h.refusal = r.string("refusal");
    h.refusingSince = r.time("refusing_since");
    h.refusedFiles = int(r.integer("refused_files"));
    h.localTrouble = r.string("local_trouble");
    h.paused = r.boolean("paused");
    h.backlogFiles = r.integer("backlog_files");
    h.backlogBytes = r.integer("backlog_bytes");
    h.oldestUnsent = r.time("oldest_unsent");
    h.rateBytesPerSecond = r.number("rate_bytes_per_second");
    h.etaSeconds = r.integer("eta_seconds", -1);
    h.liveDbtag = r.string("live_dbtag");
    h.dbtagsByState = r.counts<int>("dbtags_by_state");
    h.failedFiles = int(r.integer("failed_files"));
    if (!r.ok())
        return std::nullopt;
    return h;
}

QJsonObject ReceiverHealth::toJson() const
{
    QJsonObject o;
    o.insert(QStringLiteral("verdict"), verdictName(verdict));
    o.insert(QStringLiteral("reason"), reason);
    o.insert(QStringLiteral("at"), timeText(at));
    o.insert(QStringLiteral("listening"), listening);
    o.insert(QStringLiteral("address"), address);
    o.insert(QStringLiteral("free_bytes"), double(freeBytes));
    o.insert(QStringLiteral("total_bytes"), double(totalBytes));
    o.insert(QStringLiteral("reserve_bytes"), double(reserveBytes));
    o.insert(QStringLiteral("disk_full"), diskFull);
    o.insert(QStringLiteral("connections"), connections);
    o.insert(QStringLiteral("auth_failures"), double(authFailures));
    o.insert(QStringLiteral("auth_failures_by_peer"), countsJson(authFailuresByPeer));
    return o;
}

std::optional<ReceiverHealth> ReceiverHealth::fromJson(const QJsonObject &json)
{
    Reader r(json);
    ReceiverHealth h;
    h.verdict = r.verdict("verdict").value_or(Verdict::Failing);
    h.reason = r.string("reason");
    h.at = r.time("at");
    h.listening = r.boolean("listening");
    h.address = r.string("address");
    h.freeBytes = r.integer("free_bytes", -1);
    h.totalBytes = r.integer("total_bytes", -1);
    h.reserveBytes = r.integer("reserve_bytes");
    h.diskFull = r.boolean("disk_full");
    h.connections = int(r.integer("connections"));
    h.authFailures = r.integer("auth_failures");
    h.authFailuresByPeer = r.counts<qint64>("auth_failures_by_peer");
    if (!r.ok())
        return std::nullopt;
    return h;
}

Verdict FleetEntry::verdict(const QDateTime &now, qint64 staleSeconds) const
{
    if (!connected && (!lastSeen.isValid() || lastSeen.secsTo(now) > staleSeconds))
        return Verdict::Failing;
    return health ? health->verdict : Verdict::Behind;
}

QJsonObject FleetEntry::toJson() const
{
    QJsonObject o;
    o.insert(QStringLiteral("source"), source);
    o.insert(QStringLiteral("connected"), connected);
    o.insert(QStringLiteral("peer"), peer);
    o.insert(QStringLiteral("first_seen"), timeText(firstSeen));
    o.insert(QStringLiteral("last_seen"), timeText(lastSeen));
    o.insert(QStringLiteral("health"), health ? QJsonValue(health->toJson()) : QJsonValue());
    o.insert(QStringLiteral("files_received"), double(filesReceived));
    o.insert(QStringLiteral("bytes_received"), double(bytesReceived));
    o.insert(QStringLiteral("datasets_completed"), datasetsCompleted);
    o.insert(QStringLiteral("auth_failures"), double(authFailures));
    return o;
}

std::optional<FleetEntry> FleetEntry::fromJson(const QJsonObject &json)
{
    Reader r(json);
    FleetEntry e;
    e.source = r.string("source", true);
    e.connected = r.boolean("connected");
    e.peer = r.string("peer");
    e.firstSeen = r.time("first_seen");
    e.lastSeen = r.time("last_seen");
    const QJsonObject health = r.object("health");
    if (!health.isEmpty()) {
        e.health = EdHealth::fromJson(health);
        if (!e.health)
            return std::nullopt;
    }
    e.filesReceived = r.integer("files_received");
    e.bytesReceived = r.integer("bytes_received");
    e.datasetsCompleted = int(r.integer("datasets_completed"));
    e.authFailures = r.integer("auth_failures");
    if (!r.ok() || e.source.isEmpty())
        return std::nullopt;
    return e;
}

} // namespace isocket
