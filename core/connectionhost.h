#pragma once
// ConnectionHost: what a ReceiverConnection, and each IncomingFile it writes, needs from the
// receiver that serves it, and nothing more. The Receiver implements it; a test may too.
//
// Threads: the connection lives in one of the receiver's I/O threads and calls every member from
// there; members marked "any thread" are also called from the committer's and the pools'
// threads. An asynchronous call (findPartial(), writeManifest(), commit()) answers in the thread
// of its `replyTo` (the connection), through its `reply`, only while `replyTo` still exists;
// replyTo must live in one of the receiver's I/O threads.

#include "core/checksum.h"
#include "core/committer.h"
#include "core/error.h"
#include "core/receivestore.h"

#include <QByteArray>
#include <QElapsedTimer>
#include <QString>

#include <functional>
#include <memory>

class QObject;

namespace isocket {

class FleetRegistry;
class PeerList;
struct ReceiverOptions;

// A file handed to the committer, as the receiver reports it when its connection is gone.
struct CommittingFile
{
    QString source;
    QString dbtag;
    QString path;
    qint64 size = 0;
    QElapsedTimer clock; // started at BEGIN
    StoredStamp stamp;   // remembered by the store once committed (when valid)
};

class ConnectionHost
{
public:
    using PartialReply = std::function<void(const Result<std::optional<PartialInfo>> &)>;
    using ManifestReply = std::function<void(const Result<void> &)>;
    // True when the connection took the outcome (it still tracked the file and answered
    // STORED); false: the host reports it (fileStored / fileFailed).
    using CommitReply = std::function<bool(ErrorCode code, const QString &message)>;

    virtual ~ConnectionHost() = default;

    // Set once, before the receiver listens (any thread).
    virtual const ReceiverOptions &options() const = 0;
    // The shared secret and the peers list in force: a reload may replace them (any thread).
    virtual QByteArray secret() const = 0;
    virtual std::shared_ptr<const PeerList> peers() const = 0;
    // The secret of monitors (version 4, a HELLO whose source starts with a dot): the monitor
    // secret when one is set, else the shared secret. Any thread.
    virtual QByteArray monitorSecret() const = 0;

    // The fleet registry: authenticated sources, their STATUS, auth failures (thread-safe).
    virtual FleetRegistry &fleet() = 0;
    // The FLEET document a monitor gets when it joins (any thread); a monitor connection counts
    // itself in (+1) once authenticated and out (-1) when it goes, so that the host posts the
    // later documents to its I/O threads only while monitors listen.
    virtual QByteArray fleetDocument() const = 0;
    virtual void countMonitor(int delta) = 0;

    // Gives back a place among the connections not authenticated yet (Receiver::admit()), once
    // per connection. Any thread.
    virtual void leave(const QByteArray &peer) = 0;
    // Whether a line caused by a peer that has not authenticated may be logged now (any thread).
    virtual bool mayLogUnauthenticated() = 0;

    // The registry of files being written, keyed by "<source>/<dbtag>/<path>": two connections
    // never write the same file. Any thread.
    virtual bool claim(const QString &key) = 0;
    virtual void release(const QString &key) = 0;
    // The store the files go to; thread-safe.
    virtual ReceiveStore &store() = 0;

    // Looks for and hashes the partial of an offered file (ReceiveStore::findPartial()) on a
    // thread of the host's own.
    virtual void findPartial(const FileSlot &slot, qint64 size, QObject *replyTo,
                             PartialReply reply) = 0;
    // Writes and syncs a dbtag's manifest on a thread of the host's own, one at a time.
    virtual void writeManifest(ReceiveStore::ManifestDraft draft, QObject *replyTo,
                               ManifestReply reply) = 0;
    // Hands a finished file to the committer. `key` stays claimed until the file is durable (or
    // failed), even when the connection goes away first; the committer answers the connection's
    // thread directly. When `replyTo` is gone by then, or `reply` returns false, the host
    // reports the outcome from `file`.
    virtual void commit(const QString &key, CommittingFile file, CommitJob job, QObject *replyTo,
                        CommitReply reply) = 0;

    // Per-file and per-dbtag events, passed on to whoever listens to the receiver (from the
    // connection's thread; the host emits them in its own).
    virtual void reportFileStarted(quint64 connId, const QString &source, const QString &dbtag,
                                   const QString &path, qint64 size, qint64 offset) = 0;
    virtual void reportFileProgress(quint64 connId, const QString &source, const QString &dbtag,
                                    const QString &path, qint64 bytesDone, qint64 size) = 0;
    virtual void reportFileStored(const QString &source, const QString &dbtag, const QString &path,
                                  qint64 size, qint64 durationMs) = 0;
    virtual void reportFileFailed(const QString &source, const QString &dbtag, const QString &path,
                                  ErrorCode code, const QString &message) = 0;
    virtual void reportDbtagCompleted(const QString &source, const QString &dbtag, int files,
                                      qint64 bytes) = 0;
};

} // namespace isocket
