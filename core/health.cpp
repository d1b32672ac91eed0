#include "core/health.h"

#include <QJsonArray>
#include <QJsonValue>
#include <QLocale>

#include <climits>
#include <cmath>

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

qint64 EdHealth::oldestCatchUpAgeSeconds() const
{
    if (!oldestCatchUp.isValid() || !at.isValid())
        return 0;
    return qMax<qint64>(0, oldestCatchUp.secsTo(at));
}

QString EdHealth::catchingUpText() const
{
    if (catchUpFiles <= 0)
        return QString();
    return QStringLiteral("catching up: %1 %2, oldest %3")
        .arg(healthCount(catchUpFiles),
             catchUpFiles == 1 ? QStringLiteral("file") : QStringLiteral("files"),
             healthDuration(oldestCatchUpAgeSeconds()));
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
    o.insert(QStringLiteral("catch_up_files"), double(catchUpFiles));
    o.insert(QStringLiteral("oldest_catch_up"), timeText(oldestCatchUp));
    o.insert(QStringLiteral("oldest_catch_up_age_seconds"), double(oldestCatchUpAgeSeconds()));
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
    h.catchUpFiles = r.integer("catch_up_files"); // 0 from an ED before issue 19
    h.oldestCatchUp = r.time("oldest_catch_up");
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

// --- words ---

QString healthCount(qint64 n)
{
    static const QLocale english(QLocale::English, QLocale::UnitedStates);
    return english.toString(n); // "5,990"
}

QString healthBytes(qint64 bytes)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = static_cast<double>(qMax<qint64>(0, bytes));
    int u = 0;
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        ++u;
    }
    if (u == 0)
        return QStringLiteral("%1 B").arg(qMax<qint64>(0, bytes));
    // "374 MiB", "1.2 GiB": one decimal under 10 only
    return QStringLiteral("%1 %2").arg(v, 0, 'f', v < 10 ? 1 : 0).arg(QLatin1String(units[u]));
}

QString healthDuration(qint64 seconds)
{
    seconds = qMax<qint64>(0, seconds);
    if (seconds < 60)
        return QStringLiteral("%1 s").arg(seconds);
    if (seconds < 3600)
        return QStringLiteral("%1 min").arg(seconds / 60);
    if (seconds < 2 * 86400)
        return QStringLiteral("%1 h %2 min").arg(seconds / 3600).arg(seconds % 3600 / 60);
    return QStringLiteral("%1 days").arg(seconds / 86400);
}

QString healthClock(const QDateTime &t, const QDateTime &now)
{
    if (!t.isValid())
        return QStringLiteral("?");
    const QDateTime local = t.toLocalTime();
    if (local.date() == now.toLocalTime().date())
        return local.toString(QStringLiteral("HH:mm"));
    return local.toString(QStringLiteral("yyyy-MM-dd HH:mm"));
}

// --- the rules ---

namespace {

QString filesWaiting(qint64 n)
{
    return n == 1 ? QStringLiteral("1 file waiting")
                  : QStringLiteral("%1 files waiting").arg(healthCount(n));
}

qint64 ageSeconds(const QDateTime &since, const QDateTime &now)
{
    return since.isValid() ? qMax<qint64>(0, since.secsTo(now)) : 0;
}

bool overflowRemembered(const EdHealthInputs &in, const QDateTime &now, const EdHealthRules &rules)
{
    return in.lastOverflow.isValid() &&
           ageSeconds(in.lastOverflow, now) < rules.overflowMemorySeconds;
}

qint64 etaOf(const EdHealthInputs &in)
{
    if (in.backlogFiles <= 0)
        return 0;
    if (in.rateBytesPerSecond <= 0)
        return -1;
    return qint64(std::ceil(double(in.backlogBytes) / in.rateBytesPerSecond));
}

} // namespace

EdHealth assessEdHealth(const EdHealthInputs &in, const QDateTime &now, const EdHealthRules &rules)
{
    EdHealth h;
    h.at = now.toUTC();
    h.connected = in.connected;
    if (!in.connected) {
        h.downSince = in.downSince;
        h.downCause = in.downCause;
    }
    h.authFailing = in.authCode != ErrorCode::Ok;
    h.authFailingSince = h.authFailing ? in.authFailingSince : QDateTime();
    if (in.diskFullSince.isValid()) {
        h.refusal =
            in.diskFullCause.isEmpty() ? QStringLiteral("receiver disk full") : in.diskFullCause;
        h.refusingSince = in.diskFullSince;
        h.refusedFiles = int(qMin<qint64>(in.backlogFiles, INT_MAX)); // every waiting file
    } else if (!in.permanentRefusal.isEmpty()) {
        h.refusal = in.permanentRefusal;
        h.refusingSince = in.permanentRefusalSince;
        h.refusedFiles = in.permanentlyRefusedFiles;
    }
    if (in.rootMissing)
        h.localTrouble = QStringLiteral("data root missing");
    else if (!in.watcherTrouble.isEmpty())
        h.localTrouble = QStringLiteral("out of inotify watches");
    else if (overflowRemembered(in, now, rules))
        h.localTrouble = QStringLiteral("inotify queue overflow");
    h.paused = in.paused;
    h.backlogFiles = in.backlogFiles;
    h.backlogBytes = in.backlogBytes;
    h.oldestUnsent = in.backlogFiles > 0 ? in.oldestUnsent : QDateTime();
    h.catchUpFiles = in.catchUpFiles;
    h.oldestCatchUp = in.catchUpFiles > 0 ? in.oldestCatchUp : QDateTime();
    h.rateBytesPerSecond = in.rateBytesPerSecond;
    h.etaSeconds = etaOf(in);
    h.liveDbtag = in.liveDbtag;
    h.dbtagsByState = in.dbtagsByState;
    h.failedFiles = in.failedFiles;

    const qint64 down = in.connected ? 0 : ageSeconds(in.downSince, now);
    const bool waiting = in.backlogFiles > 0;
    const QString cause = in.downCause.isEmpty() ? QStringLiteral("no answer yet") : in.downCause;
    auto set = [&h](Verdict v, QString reason) {
        h.verdict = v;
        h.reason = std::move(reason);
        return h;
    };

    // Failing: nothing moves until an operator acts.
    if (!in.startError.isEmpty())
        return set(Verdict::Failing, in.rootMissing
                                         ? QStringLiteral("Data root %1 is missing").arg(in.root)
                                         : QStringLiteral("Cannot start: %1").arg(in.startError));
    if (in.rootMissing)
        return set(Verdict::Failing, QStringLiteral("Data root %1 is missing").arg(in.root));
    if (h.authFailing) {
        const QString since = healthClock(in.authFailingSince, now);
        if (in.authCode == ErrorCode::AuthFailed)
            return set(Verdict::Failing,
                       QStringLiteral("Wrong secret: the receiver refuses us since %1").arg(since));
        if (in.authCode == ErrorCode::BadVersion)
            return set(Verdict::Failing,
                       QStringLiteral("Protocol versions do not match: the receiver refuses us "
                                      "since %1")
                           .arg(since));
        return set(Verdict::Failing,
                   QStringLiteral("The receiver refuses us since %1: %2").arg(since, in.authCause));
    }
    if (in.diskFullSince.isValid())
        return set(Verdict::Failing,
                   QStringLiteral("Receiver disk full since %1, %2")
                       .arg(healthClock(in.diskFullSince, now), filesWaiting(in.backlogFiles)));
    if (!in.connected && waiting && down >= rules.downGraceSeconds)
        return set(Verdict::Failing,
                   QStringLiteral("Cannot reach the receiver since %1: %2, %3")
                       .arg(healthClock(in.downSince, now), cause, filesWaiting(in.backlogFiles)));

    // Degraded: it may move, but something needs a look.
    if (in.paused)
        return set(
            Verdict::Degraded,
            waiting
                ? QStringLiteral("Paused by the operator, %1").arg(filesWaiting(in.backlogFiles))
                : QStringLiteral("Paused by the operator"));
    if (!in.connected && down >= rules.downGraceSeconds)
        return set(Verdict::Degraded,
                   QStringLiteral("Cannot reach the receiver since %1: %2 (nothing waiting)")
                       .arg(healthClock(in.downSince, now), cause));
    if (!in.watcherTrouble.isEmpty())
        return set(Verdict::Degraded,
                   QStringLiteral("File watching is unreliable: %1").arg(in.watcherTrouble));
    if (overflowRemembered(in, now, rules))
        return set(Verdict::Degraded,
                   QStringLiteral("The inotify queue overflowed at %1: changes were missed, the "
                                  "data root was scanned again")
                       .arg(healthClock(in.lastOverflow, now)));
    if (in.failedFiles > 0) {
        const QString n = in.failedFiles == 1
                              ? QStringLiteral("1 file")
                              : QStringLiteral("%1 files").arg(healthCount(in.failedFiles));
        return set(Verdict::Degraded,
                   in.lastFailure.isEmpty()
                       ? QStringLiteral("%1 failed for good").arg(n)
                       : QStringLiteral("%1 failed for good, the last: %2").arg(n, in.lastFailure));
    }

    // Behind: work waits, but it moves.
    if (!in.connected && waiting)
        return set(Verdict::Behind,
                   QStringLiteral("Reconnecting to the receiver (down since %1: "
                                  "%2), %3")
                       .arg(healthClock(in.downSince, now), cause, filesWaiting(in.backlogFiles)));
    const qint64 age = waiting ? ageSeconds(in.oldestUnsent, now) : 0;
    if (waiting && (age > rules.behindSeconds || h.etaSeconds > rules.behindSeconds)) {
        QString reason =
            QStringLiteral("Behind: %1 %2, %3, oldest %4")
                .arg(healthCount(in.backlogFiles),
                     in.backlogFiles == 1 ? QStringLiteral("file") : QStringLiteral("files"),
                     healthBytes(in.backlogBytes), healthDuration(age));
        if (h.etaSeconds > 0)
            reason += QStringLiteral(", about %1 to catch up").arg(healthDuration(h.etaSeconds));
        // The live data goes first (EdEngine::takeNext()): say how much older data waits.
        if (const QString catchingUp = h.catchingUpText(); !catchingUp.isEmpty())
            reason += QStringLiteral("; ") + catchingUp;
        return set(Verdict::Behind, reason);
    }
    if (!in.connected)
        return set(Verdict::Ok, QStringLiteral("Up to date (connecting to the receiver)"));
    return set(Verdict::Ok, QStringLiteral("Up to date"));
}

bool edHealthMovesWithTime(const EdHealthInputs &in, const QDateTime &now,
                           const EdHealthRules &rules)
{
    if (in.backlogFiles > 0 || in.rateBytesPerSecond > 0) // ages, the rate, the ETA
        return true;
    if (!in.connected && ageSeconds(in.downSince, now) < rules.downGraceSeconds)
        return true; // the grace runs out
    return overflowRemembered(in, now, rules);
}

ReceiverHealth assessReceiverHealth(const ReceiverHealthInputs &in, const QDateTime &now)
{
    ReceiverHealth h = in.facts;
    h.at = now.toUTC();
    if (!h.listening) {
        h.verdict = Verdict::Failing;
        h.reason = in.notListening.isEmpty()
                       ? QStringLiteral("Not listening")
                       : QStringLiteral("Not listening: %1").arg(in.notListening);
        return h;
    }
    const QString space =
        h.freeBytes >= 0 ? QStringLiteral("%1 free").arg(healthBytes(h.freeBytes)) : QString();
    if (h.diskFull) {
        h.verdict = Verdict::Failing;
        h.reason = h.reserveBytes > 0 && h.freeBytes >= 0
                       ? QStringLiteral("Disk full: %1, reserve %2; files are refused")
                             .arg(space, healthBytes(h.reserveBytes))
                       : QStringLiteral("Disk full: files are refused");
        return h;
    }
    if (in.lastAuthFailure.isValid() &&
        ageSeconds(in.lastAuthFailure, now) < in.authMemorySeconds) {
        h.verdict = Verdict::Degraded;
        h.reason = QStringLiteral("Listening on %1; %2 failed to authenticate, the last from %3 "
                                  "at %4")
                       .arg(h.address,
                            h.authFailures == 1
                                ? QStringLiteral("1 connection")
                                : QStringLiteral("%1 connections").arg(healthCount(h.authFailures)),
                            in.lastAuthFailurePeer, healthClock(in.lastAuthFailure, now));
        return h;
    }
    h.verdict = Verdict::Ok;
    h.reason = space.isEmpty() ? QStringLiteral("Listening on %1").arg(h.address)
                               : QStringLiteral("Listening on %1, %2").arg(h.address, space);
    return h;
}

} // namespace isocket
