#pragma once
// The health model (issue 16): what every face shows of an ED and of the receiver, the same
// values for the windows, `isocket status`, /metrics and the fleet registry. Plain values,
// registered as metatypes, each with a JSON form (the status command's output, the STATUS
// frame's payload, the registry's file): docs/STATUS.md documents the schema.
//
// Who fills what:
// - EdHealth: EdAgent, in EdStatus::health, at every tick that changes it.
// - ReceiverHealth: ReceiverService, in ReceiverStatus::health.
// - FleetEntry: the receiver's fleet registry (ReceiverService::fleet()), one per source ever
//   seen, with the last EdHealth the ED reported; a monitor (FleetMonitor) gets the same list.
//
// JSON: times are ISO 8601 UTC strings ("" when unknown), sizes in bytes, durations in seconds.
// fromJson() accepts what toJson() writes, ignores keys it does not know and refuses (nullopt)
// an object without the keys it needs or with one of the wrong type: a peer's report is input.

#include <QDateTime>
#include <QJsonObject>
#include <QList>
#include <QMap>
#include <QMetaType>
#include <QString>

#include <optional>

namespace isocket {

// One overall word for an ED or the receiver, from best to worst.
enum class Verdict : quint8 {
    Ok,       // up to date (or only the live dbtag moving)
    Behind,   // work waits, but it moves: a backlog, or a short outage still being retried
    Degraded, // it moves, but something needs a look: some files failed for good, the watcher
              // missed changes, paused by the operator, the receiver refuses some files
    Failing,  // nothing moves and an operator must act: receiver down for long, wrong secret,
              // receiver disk full, data root missing
};
QString verdictName(Verdict verdict);                      // "ok", "behind", "degraded", "failing"
std::optional<Verdict> verdictFromName(const QString &name);
// Exit code of `isocket status`: 0 for Ok, 1 for anything else.
int verdictExitCode(Verdict verdict);

struct EdHealth
{
    Verdict verdict = Verdict::Ok;
    QString reason;  // the headline in words: "Up to date", "Behind: 5,990 files, 374 MiB, …"
    QDateTime at;    // when it was computed (UTC)

    // The connection to the receiver (any link ready counts as up).
    bool connected = false;
    QDateTime downSince; // not connected: since when
    QString downCause;   // not connected: the last attempt's error
    bool authFailing = false; // the receiver refuses our credentials (or version)
    QDateTime authFailingSince;

    // The receiver refuses files (disk full, under its reserve, permanent errors).
    QString refusal; // the last refusal's reason in words; empty when none stands
    QDateTime refusingSince;
    int refusedFiles = 0; // files waiting or failed because of it

    // Trouble on the ED itself: "data root missing", "inotify queue overflow", "out of inotify
    // watches"; empty when none.
    QString localTrouble;
    bool paused = false;

    // What waits to be sent (queued, in flight, waiting to retry).
    qint64 backlogFiles = 0;
    qint64 backlogBytes = 0;
    QDateTime oldestUnsent;   // the oldest unsent file's modification time; null when none
    double rateBytesPerSecond = 0; // delivered, over the last seconds
    qint64 etaSeconds = -1;        // to caught up at that rate; -1 when unknown
    QString liveDbtag;             // the newest dbtag while a producer writes it
    QMap<QString, int> dbtagsByState; // stateName(DbtagState) -> count
    int failedFiles = 0;              // failed for good

    // Seconds since the oldest unsent file was written (0 when none), as of `at`.
    qint64 oldestUnsentAgeSeconds() const;

    QJsonObject toJson() const;
    static std::optional<EdHealth> fromJson(const QJsonObject &json);
    friend bool operator==(const EdHealth &, const EdHealth &) = default;
};

struct ReceiverHealth
{
    Verdict verdict = Verdict::Ok;
    QString reason; // "Listening on 127.0.0.1:12345", "Disk full: 1.2 GiB free, reserve 2 GiB"
    QDateTime at;
    bool listening = false;
    QString address;         // "host:port" when listening
    qint64 freeBytes = -1;   // on the receive root's filesystem; -1 unknown
    qint64 totalBytes = -1;
    qint64 reserveBytes = 0; // receive.reserve
    bool diskFull = false;   // free space under the reserve: files are refused
    int connections = 0;
    qint64 authFailures = 0; // since start
    // Authentication failures by peer address, at most 64 peers (the ones with most failures).
    QMap<QString, qint64> authFailuresByPeer;

    QJsonObject toJson() const;
    static std::optional<ReceiverHealth> fromJson(const QJsonObject &json);
    friend bool operator==(const ReceiverHealth &, const ReceiverHealth &) = default;
};

// One ED as the receiver knows it: every source it has ever seen, kept across restarts.
struct FleetEntry
{
    QString source;
    bool connected = false; // an authenticated connection from it is open now
    QString peer;           // the address it last connected from
    QDateTime firstSeen;
    QDateTime lastSeen;             // last frame from it (or now, while connected)
    std::optional<EdHealth> health; // the last STATUS it reported (health->at: when)
    qint64 filesReceived = 0;       // since it was first seen
    qint64 bytesReceived = 0;
    int datasetsCompleted = 0; // dbtags with a complete manifest under the root (from disk)
    qint64 authFailures = 0;   // connections that claimed this source and failed to authenticate

    // The ED's verdict as the receiver sees it: its reported one, or Failing when it has not
    // been seen for `staleSeconds` (a silent ED is not an ED that is well).
    Verdict verdict(const QDateTime &now, qint64 staleSeconds = 300) const;

    QJsonObject toJson() const;
    static std::optional<FleetEntry> fromJson(const QJsonObject &json);
    friend bool operator==(const FleetEntry &, const FleetEntry &) = default;
};

} // namespace isocket

Q_DECLARE_METATYPE(isocket::EdHealth)
Q_DECLARE_METATYPE(isocket::ReceiverHealth)
Q_DECLARE_METATYPE(isocket::FleetEntry)
