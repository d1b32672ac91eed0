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

#include "core/error.h"

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
    // Catching up: the part of the backlog outside the live dbtag (dbtags found closed by a
    // scan: older data than the live files, which go ahead of it), and its oldest file's mtime.
    qint64 catchUpFiles = 0;
    QDateTime oldestCatchUp;
    double rateBytesPerSecond = 0; // delivered, over the last seconds
    qint64 etaSeconds = -1;        // to caught up at that rate; -1 when unknown
    QString liveDbtag;             // the newest dbtag while a producer writes it
    QMap<QString, int> dbtagsByState; // stateName(DbtagState) -> count
    int failedFiles = 0;              // failed for good

    // Seconds since the oldest unsent file was written (0 when none), as of `at`.
    qint64 oldestUnsentAgeSeconds() const;
    // Seconds since the oldest file catching up was written (0 when none), as of `at`.
    qint64 oldestCatchUpAgeSeconds() const;
    // "catching up: 1,980 files, oldest 3 h"; empty when nothing is catching up.
    QString catchingUpText() const;

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

// --- The verdict rules (docs/HEALTH.md). Pure functions of values, so that each rule is
// tested with numbers, not with a network.

// The limits the ED's rules use. Defaults for a daemon; tests shorten them.
struct EdHealthRules
{
    qint64 downGraceSeconds = 60; // a shorter outage is "behind" (retried), a longer "failing"
    qint64 behindSeconds = 30;    // oldest unsent older than this, or an ETA longer: "behind"
    qint64 overflowMemorySeconds = 600; // an inotify overflow is reported this long
};

// What the ED knows of itself at one moment: EdAgent gathers it from the engine's and the
// sender's events (running counters, never a scan of the files).
struct EdHealthInputs
{
    QString root;       // the data root
    QString startError; // not empty: the engine could not start (why)
    bool rootMissing = false;

    bool connected = false; // any link ready
    QDateTime downSince;    // not connected: since when (the start, or the last link lost)
    QString downCause;      // not connected: the last attempt's error ("" while connecting)
    // The receiver refuses our credentials: the code (AuthFailed, BadVersion, ConfigError) and
    // since when; ErrorCode::Ok when it does not.
    ErrorCode authCode = ErrorCode::Ok;
    QDateTime authFailingSince;
    QString authCause;

    // The receiver's disk is full (DiskFull refusals, no file stored since): since when.
    QDateTime diskFullSince;
    QString diskFullCause;
    // The last file the receiver refused for good (a permanent refusal), and how many were.
    QString permanentRefusal;
    QDateTime permanentRefusalSince;
    int permanentlyRefusedFiles = 0;

    QString watcherTrouble; // out of inotify watches (sticky: until a restart)
    QDateTime lastOverflow; // the last inotify queue overflow (the root was rescanned)
    bool paused = false;

    qint64 backlogFiles = 0; // queued + in flight + waiting to retry (or to settle)
    qint64 backlogBytes = 0;
    QDateTime oldestUnsent;        // the oldest of them's mtime
    qint64 catchUpFiles = 0;       // of them, outside the live dbtag (EdEngine::catchUpFiles())
    QDateTime oldestCatchUp;       // the oldest of those's mtime
    double rateBytesPerSecond = 0; // delivered over the last seconds
    QString liveDbtag;
    QMap<QString, int> dbtagsByState;
    int failedFiles = 0; // failed for good (and dbtags that could not be finished)
    QString lastFailure; // the last file failed for good: why
};

// The verdict and its reason from the facts, as of `now` (which becomes EdHealth::at). The
// rules, first match wins (docs/HEALTH.md):
//   Failing   the engine could not start; the data root is missing; the receiver refuses our
//             secret or version; the receiver's disk is full; the receiver cannot be reached
//             for longer than downGraceSeconds while files wait.
//   Degraded  paused by the operator; the receiver cannot be reached for long but nothing
//             waits; the watcher is unreliable (out of watches; an overflow less than
//             overflowMemorySeconds ago); files failed for good (permanent refusals among them).
//   Behind    the receiver cannot be reached for less than downGraceSeconds while files wait;
//             the oldest unsent file is older than behindSeconds, or the ETA is longer.
//   Ok        otherwise ("Up to date").
EdHealth assessEdHealth(const EdHealthInputs &in, const QDateTime &now,
                        const EdHealthRules &rules = {});
// Whether assessEdHealth() of the same inputs may change with the clock alone (an age in the
// reason, a grace running out, a rate decaying): the ED's slow health timer runs only then.
bool edHealthMovesWithTime(const EdHealthInputs &in, const QDateTime &now,
                           const EdHealthRules &rules = {});

// The receiver's: `facts` with everything but verdict, reason and at filled in (diskFull
// included). Failing: not listening (`notListening` says why), or the disk is full.
// Degraded: an authentication failure less than authMemorySeconds ago. Ok: listening.
struct ReceiverHealthInputs
{
    ReceiverHealth facts;
    QString notListening;      // why, when not listening
    QDateTime lastAuthFailure; // the last authentication failure, and from where
    QString lastAuthFailurePeer;
    qint64 authMemorySeconds = 600;
};
ReceiverHealth assessReceiverHealth(const ReceiverHealthInputs &in, const QDateTime &now);

// Words for the reasons: "5,990", "374 MiB", "3 min", "22:25" (local time; with the date when
// not today).
QString healthCount(qint64 n);
QString healthBytes(qint64 bytes);
QString healthDuration(qint64 seconds);
QString healthClock(const QDateTime &t, const QDateTime &now);

} // namespace isocket

Q_DECLARE_METATYPE(isocket::EdHealth)
Q_DECLARE_METATYPE(isocket::ReceiverHealth)
Q_DECLARE_METATYPE(isocket::FleetEntry)
