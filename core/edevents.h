#pragma once
// The value types the ED side's events leave core in (EdAgent, sender.h): a file's update, a
// connection's state, the status snapshot. Plain values, registered as metatypes, so that any
// face can take them across threads (queued connections) and keep them.

#include "core/edengine.h"
#include "core/error.h"
#include "core/health.h"

#include <QDateTime>
#include <QList>
#include <QMetaType>
#include <QString>
#include <QStringList>

namespace isocket {

enum class LinkState { Disconnected, Connecting, Authenticating, Ready, Retrying, Refused, Stopped };
QString linkStateName(LinkState state);

// What happened to one file. A tick's updates come as one list, in the order they happened.
struct FileUpdate
{
    enum class Kind : quint8 {
        Queued,        // waiting to be sent
        Started,       // a connection offered it; `done` is the offset it resumes from
        Progress,      // `done` bytes of `size` are on the receiver (at most ~10 a second)
        Delivered,     // the receiver stored it durably: `done` bytes streamed in durationMs
        Marked,        // marked sent on the ED (`size`: the size that was sent)
        Failed,        // this attempt failed (`error`); transient errors are retried
        FailedForGood, // failed for good (`error`): an operator must act
        Dropped,       // no longer to be sent (`reason`: deleted, replaced…)
    };
    Kind kind = Kind::Queued;
    FileTicket ticket;
    qint64 done = 0;       // Started: offset; Progress: bytes on the receiver; Delivered: streamed
    qint64 size = 0;       // Started, Progress, Marked: the file's size
    qint64 durationMs = 0; // Delivered
    Error error;           // Failed, FailedForGood
    QString reason;        // Dropped
};

// One connection to the receiver.
struct LinkStatus
{
    LinkState state = LinkState::Disconnected;
    QString detail;    // why (the error of a refusal or of the last attempt)
    QDateTime retryAt; // Retrying: when the next attempt is made (UTC)
    QString receiver;  // the receiver it is on, or tries ("host:port"); empty before the first
    bool live = false; // the live link (the last, one more than send.jobs; core/sender.h)
};

// One receiver of the list (send.server, --to), as the sender sees it now.
struct ReceiverLinkStatus
{
    QString address;    // "host:port"
    bool down = false;  // failed, and not reached since
    QString why;        // down: the last failure
    QDateTime retryAt;  // down: when it may be tried again (UTC)
    int readyLinks = 0; // connections ready to it now
    friend bool operator==(const ReceiverLinkStatus &, const ReceiverLinkStatus &) = default;
};

// The ED side at a glance: a snapshot, complete in itself (a face that connects late reads
// EdAgent::status() once, then follows statusChanged()).
struct EdStatus
{
    enum class Run : quint8 { Stopped, Starting, Running, Failed };
    Run run = Run::Stopped;
    QString root;        // the data root, resolved once running
    QString receiver;    // "host:port" ("[v6]:port"); several receivers: "a:1, b:2"
    QString source;      // the name the receiver files our dbtags under
    bool paused = false; // no new file is handed to a connection
    qint64 bwlimit = 0;  // bytes per second for all connections together (send.bwlimit); 0: none
    bool idle = false;   // nothing queued, in flight, waiting or closing
    int queued = 0;
    int failed = 0;          // files failed for good, and dbtags that could not be finished
    int dbtagsFinished = 0;  // since start
    QList<LinkStatus> links; // one per connection (send.jobs)
    // The receivers that failed and have not been reached since: "host:port (why)", in the
    // order of the list (send.server); empty when all are up.
    QStringList receiversDown;
    QList<ReceiverLinkStatus> receivers; // every receiver of the list, in its order
    QStringList heldOpen;    // when idle: files not sent because a writer holds them open
    QString error;           // Failed: why it could not start
    // Every link gave up (wrong secret, version, or one pass out of attempts): an operator must
    // act. Cleared once a link is ready again (after a retry). fatalCount counts the times.
    QString fatal;
    int fatalCount = 0;
    // The watcher cannot see every change (an inotify overflow, no watches left): the last
    // reason, and how many times it happened.
    QString unreliable;
    int unreliableCount = 0;
    int idleCount = 0; // how many times it became idle (one pass: once, at its end)
    EdHealth health;   // the verdict and what it is made of (core/health.h)
};

} // namespace isocket

Q_DECLARE_METATYPE(isocket::LinkState)
Q_DECLARE_METATYPE(isocket::LinkStatus)
Q_DECLARE_METATYPE(isocket::FileUpdate)
Q_DECLARE_METATYPE(isocket::EdStatus)
