#pragma once
// Receiver: the DRMS side's facade. Listens on TCP, authenticates EDs and stores their files at
// `<root>/<source>/<dbtag>/<path>` (ReceiveStore), durable before they are acknowledged
// (Committer). Many EDs and many connections per ED at once.
//
// Connections are served by a few threads of their own (ReceiverOptions::ioThreads), each with
// an event loop; an accepted socket goes to them in turn. One thread serving every connection
// was the receiver's limit: all data passed through one core, and on a busy machine that thread
// got only its share of the CPU among everything else that ran (issue 6: 50 EDs at once).
// What the connections share is made for that: the store and the registry of files being
// written lock, the committer's queue locks, and answers for a connection (a commit, a
// manifest, a hashed partial) are posted straight to its thread by the thread that has them
// (the committer's, a pool's), never through this one. A connection sees the receiver only
// through ConnectionHost (connectionhost.h), which the receiver implements.
//
// Owns the listening server, the store, the committer (its worker thread), the I/O threads
// (EventLoopThread) and, in them, one ReceiverConnection per accepted socket (each deletes itself
// when its peer goes; the rest go when the receiver does). Also holds the registry of files being
// written, so two connections never write the same file. Lives in the thread that created it
// (normally the main thread), where its signals are emitted; calls return at once, except close()
// and the destructor, which wait for the I/O threads to drop their connections.
//
// Partials nobody writes any more are removed once they are older than partialMaxAgeSecs
// (partialsweeper.h), on a thread of the receiver's own.
//
// Signals state facts with value types, for the GUI and the CLI. fileProgress comes at most
// about 10 times a second per transfer. Every fileStarted ends in fileStored or fileFailed unless
// the peer goes away first (then the partial is kept and resumed when the file is offered again).
// A connection's signals come in the order it emitted them; between connections there is no
// order.

#include "core/committer.h"
#include "core/connectionhost.h"
#include "core/error.h"
#include "core/eventloopthread.h"
#include "core/fleetregistry.h"
#include "core/protocol.h"
#include "core/receivestore.h"
#include "core/tls.h"

#include <QByteArray>
#include <QElapsedTimer>
#include <QHash>
#include <QHostAddress>
#include <QMetaMethod>
#include <QObject>
#include <QPointer>
#include <QSet>
#include <QString>
#include <QTcpServer>
#include <QThreadPool>
#include <QTimer>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

class QSocketNotifier;
class QThread;

namespace isocket {

// A file's event on the receiver: what fileStarted(), fileProgress(), fileStored() and
// fileFailed() carry. A value type, for any thread.
struct ReceivedFile
{
    quint64 connId = 0; // the connection (fileStarted, fileProgress)
    QString source = {};
    QString dbtag = {};
    QString path = {};
    qint64 size = 0;       // the file's size
    qint64 done = 0;       // fileStarted: the offset it resumes from; fileProgress: bytes written
    qint64 durationMs = 0; // fileStored: from BEGIN to durable at its final name
    ErrorCode code = ErrorCode::Ok; // fileFailed
    QString message = {};           // fileFailed
};

// What the receiver stored and failed since it was made: counted where it happens (the I/O and
// committer threads), read from any thread, and kept alive by whoever holds it (a face may read it
// after the Receiver is gone). No signal has to be connected for it to count.
struct ReceiverTally
{
    std::atomic<qint64> filesStored{0};
    std::atomic<qint64> bytesStored{0};
    std::atomic<qint64> filesFailed{0};
};

struct ReceiverOptions
{
    QString root;            // must exist
    QByteArray secret;       // empty: an empty HMAC key (only on a loopback address)
    qint64 reserveBytes = 0; // free space always kept on the root's filesystem
    CommitSync sync = CommitSync::Auto;
    // Threads that serve connections; 0: one per CPU core (QThread::idealThreadCount()), at
    // most MaxIoThreads.
    int ioThreads = 0;
    // Partials nobody has written for this long are removed (partialsweeper.h): at listen()
    // and then every quarter of it (at least a minute apart, at most a day). 0: kept forever.
    qint64 partialMaxAgeSecs = 0;
    // How a file appears at its final name (see Committer): by a rename, or, for a small file
    // written unnamed, by a link alone (receive.arrival = link).
    CommitArrival arrival = CommitArrival::Rename;
    // Connections that have not authenticated yet, at most this many at once (each costs at
    // most about 64 KiB until then: a handshake frame and a small read buffer), and at most
    // maxUnauthenticatedPerPeer of them from one address; past either cap a new connection is
    // closed as soon as it is accepted (issue 13).
    int maxUnauthenticated = 1024;
    int maxUnauthenticatedPerPeer = 128;
    // The entries of one CLOSE_DBTAG a connection may send, in bytes counted as
    // proto::MaxManifestBytes says; past it the connection is refused (frame-too-large).
    qint64 maxManifestBytes = proto::MaxManifestBytes;
    // TLS (docs/SECURITY.md): when set, every connection is TLS 1.3 with this identity, and an
    // ED is accepted only with a certificate listed in `peersFile` for the source it claims in
    // HELLO (the HMAC secret, when set, is a second factor). Unset: plain TCP, which on an
    // address that is not loopback needs `plainOptIn` (and a secret).
    std::shared_ptr<const TlsIdentity> tls = nullptr;
    QString peersFile = {};
    bool plainOptIn = false;
    // The secret of monitors (receive.monitor_secret_file; docs/PROTOCOL.md 2.7): when set, a
    // monitor proves this one and not `secret`, so the secret of a workstation cannot send
    // data. Empty: monitors prove `secret`.
    QByteArray monitorSecret = {};
};

// Serves its connections through ConnectionHost (private: only the connections it makes use it).
class Receiver : public QObject, private ConnectionHost
{
    Q_OBJECT

public:
    static constexpr int MaxIoThreads = 16;

    explicit Receiver(ReceiverOptions options, QObject *parent = nullptr);
    ~Receiver() override;

    // Opens the root and starts listening. False with errorString() on failure, also: with TLS,
    // when the peers file cannot be read; without TLS, when `address` is not a loopback address
    // and the plain opt-in or the secret is missing.
    bool listen(const QHostAddress &address, quint16 port);
    QString errorString() const { return m_errorString; }
    // ConfigError when what was asked for cannot work (a usage error), else IoError.
    ErrorCode errorCode() const { return m_errorCode; }
    quint16 serverPort() const;
    QHostAddress serverAddress() const;
    bool isListening() const;
    // Files stored and failed since the Receiver was made (any thread).
    std::shared_ptr<const ReceiverTally> tally() const { return m_tally; }
    // Every source ever seen (fleetregistry.h), loaded from the root by listen(); any thread.
    std::shared_ptr<FleetRegistry> fleetRegistry() const { return m_fleet; }
    // The FLEET document monitors get from now on; sent at once to every monitor connected.
    // Receiver thread.
    void publishFleet(const QByteArray &document);
    int monitorCount() const { return m_monitors.load(); }

    // Stops listening and drops every connection (partials are kept for a later resume); returns
    // once each I/O thread has dropped its own.
    void close();

    // Reads the peers file again (SIGHUP). On success the new list applies to every new
    // handshake, and an authenticated connection whose source and key it no longer pairs is
    // closed; on failure the old list stays. Returns the number of pairs listed.
    Result<int> reloadPeers();
    // The list in force (any thread); null without TLS.
    std::shared_ptr<const PeerList> peers() const override;
    bool usesTls() const { return m_options.tls != nullptr; }

    int authFailureCount() const { return m_authFailures; }
    // Connections accepted and not authenticated yet (any thread).
    int unauthenticatedCount() const;
    // Connections closed at once because of the caps above, or because we ran out of file
    // descriptors (any thread).
    int rejectedCount() const { return m_rejected; }
    // Connections accepted and not yet gone (peerDisconnected not yet emitted).
    int connectionCount() const { return m_connections; }
    int ioThreadCount() const { return int(m_io.size()); }
    // The thread that writes dbtag manifests (tests hold it up).
    QThreadPool &manifestWriter() { return m_manifestWriter; }
    // The threads that hash large partials offered for a resume (tests hold them up).
    QThreadPool &partialHasher() { return m_partialHasher; }
    // Removes the stale partials now (partialMaxAgeSecs), on a thread of its own, unless a
    // sweep is running or no age is set; partialsSwept() follows. listen() and a timer call it.
    void sweepPartials();

    // Replaces the shared secret for the handshakes that start from now on (a reload, SIGHUP);
    // connections already authenticated keep going. False, and the secret unchanged, when it is
    // empty while listening on an address that is not a loopback address.
    bool setSecret(const QByteArray &secret);
    // Calls `alive` in the receiver's thread once the event loop of every I/O thread has run a
    // task posted now (the service watchdog: a wedged thread never answers, so neither does
    // this). Without I/O threads (not listening) `alive` is queued at once.
    void probeIoThreads(std::function<void()> alive);

signals:
    void peerConnected(quint64 connId, const QString &peerAddress);
    void peerAuthenticated(quint64 connId, const QString &source);
    void peerDisconnected(quint64 connId);
    void authFailed(const QString &peerAddress, const QString &reason);
    void fileStarted(const isocket::ReceivedFile &file);
    void fileProgress(const isocket::ReceivedFile &file);
    void fileStored(const isocket::ReceivedFile &file);
    void fileFailed(const isocket::ReceivedFile &file);
    void dbtagCompleted(const QString &source, const QString &dbtag, int files, qint64 bytes);
    void partialsSwept(int removed, qint64 bytes, int inUse);
    // A file was refused or failed because the disk is full (or under the reserve).
    void diskFullRefused();

private:
    // ConnectionHost: called by the connections, from their I/O threads (the registry, the
    // store, the secret and the peers also from other threads); see connectionhost.h.
    const ReceiverOptions &options() const override { return m_options; } // set before listen()
    QByteArray secret() const override; // setSecret() may replace it
    QByteArray monitorSecret() const override;
    FleetRegistry &fleet() override { return *m_fleet; }
    QByteArray fleetDocument() const override;
    void countMonitor(int delta) override { m_monitors += delta; }
    void leave(const QByteArray &peer) override;
    bool mayLogUnauthenticated() override;
    bool claim(const QString &key) override;
    void release(const QString &key) override;
    ReceiveStore &store() override { return m_store; }
    // On m_partialHasher; the answer is posted straight to the connection's I/O thread.
    void findPartial(const FileSlot &slot, qint64 size, QObject *replyTo,
                     PartialReply reply) override;
    // On m_manifestWriter (one at a time: drafts of the same dbtag never overlap); the answer is
    // posted straight to the connection's I/O thread.
    void writeManifest(ReceiveStore::ManifestDraft draft, QObject *replyTo,
                       ManifestReply reply) override;
    // The committer's answer, on its thread, releases the key, lets the store remember the file
    // and posts the outcome straight to the connection's I/O thread; when the connection is
    // gone (or no longer tracks the file) it is reported here, in our thread (reportCommitted()).
    void commit(const QString &key, CommittingFile file, CommitJob job, QObject *replyTo,
                CommitReply reply) override;
    // Emitted in our thread, when connected at all (forward()).
    void reportFileStarted(quint64 connId, const QString &source, const QString &dbtag,
                           const QString &path, qint64 size, qint64 offset) override;
    void reportFileProgress(quint64 connId, const QString &source, const QString &dbtag,
                            const QString &path, qint64 bytesDone, qint64 size) override;
    void reportFileStored(const QString &source, const QString &dbtag, const QString &path,
                          qint64 size, qint64 durationMs) override;
    void reportFileFailed(const QString &source, const QString &dbtag, const QString &path,
                          ErrorCode code, const QString &message) override;
    void reportDbtagCompleted(const QString &source, const QString &dbtag, int files,
                              qint64 bytes) override;

    void startIo();
    void stopIo();
    // Accepts what the listening socket has (our own accept loop, so that running out of file
    // descriptors pauses accepting instead of spinning; see acceptPending()).
    void acceptPending();
    // Out of file descriptors: the oldest waiting connection is accepted with the spare fd and
    // closed (so it does not wait for a reply that never comes), and accepting pauses for a
    // moment; one warning per episode.
    void onOutOfDescriptors(int error);
    void serve(qintptr socketDescriptor, const QByteArray &peer);
    // The caps on connections not authenticated yet. admit() counts one for `peer` (an address,
    // raw bytes) or says no; leave() (above) gives it back, once, when the connection
    // authenticated or went away (any thread).
    bool admit(const QByteArray &peer);
    // mayLogUnauthenticated() (above): at most UnauthenticatedLogLines in each
    // UnauthenticatedLogWindowMs, then one line that says how many were left out. A peer
    // without credentials cannot flood the log.
    // A reserve the filesystem cannot keep is said at start, with what to set.
    void warnAboutReserve() const;
    static constexpr int UnauthenticatedLogLines = 20;
    static constexpr int UnauthenticatedLogWindowMs = 10'000;
    // Runs `fn` on each I/O thread and waits until all have.
    void onEachIoThread(const std::function<void(QObject *host)> &fn);
    // The I/O thread `object` lives in (called in that thread).
    EventLoopThread *ioThreadOf(const QObject *object) const;
    // Runs `fn` in the I/O thread `io`, with the other answers queued for it meanwhile (one
    // wake-up for a batch of commits). False, and `fn` dropped, when that thread is ending or
    // ended. Any thread.
    bool answer(EventLoopThread *io, std::function<void()> fn);
    // Emits `signal` with `args` in our thread, when it is connected at all (from an I/O thread).
    template <typename... Params, typename... Args>
    void forward(void (Receiver::*signal)(Params...), Args... args)
    {
        if (!isSignalConnected(QMetaMethod::fromSignal(signal)))
            return;
        QMetaObject::invokeMethod(
            this, [this, signal, args...] { (this->*signal)(args...); }, Qt::QueuedConnection);
    }
    // Posts reportCommitted() to our thread (any thread).
    void reportCommittedLater(const CommittingFile &file, ErrorCode code, const QString &message);
    void reportCommitted(const CommittingFile &file, ErrorCode code, const QString &message);

    ReceiverOptions m_options;
    QString m_rootFsType; // the receive root's filesystem type, when it existed at construction
    mutable std::mutex m_secretMutex; // m_options.secret, read by the I/O threads
    ReceiveStore m_store;
    // The threads that serve connections (EventLoopThread: connections are children of its
    // host). Declared before what their connections use, and stopped first by the destructor.
    std::vector<std::unique_ptr<EventLoopThread>> m_io;
    // Stopped by the destructor right after the I/O threads: its answers use the members below.
    std::unique_ptr<Committer> m_committer;
    QThreadPool m_manifestWriter; // one thread: drafts of the same dbtag never overlap
    QThreadPool m_sweeper;        // one thread: the partial sweep
    QThreadPool m_partialHasher;  // large partials offered for a resume
    QTimer m_sweepTimer;
    bool m_sweeping = false;
    std::atomic<bool> m_stopSweep{false};
    class Listener;
    std::unique_ptr<Listener> m_server;
    QString m_errorString;
    ErrorCode m_errorCode = ErrorCode::Ok;
    std::mutex m_busyMutex;
    QSet<QString> m_busy;
    std::mutex m_unservedMutex;
    QSet<qintptr> m_unserved; // accepted, not yet taken by their I/O thread
    std::mutex m_answersMutex;
    QHash<EventLoopThread *, std::vector<std::function<void()>>> m_answers; // see answer()
    mutable std::mutex m_admitMutex;
    int m_unauthenticated = 0;
    QHash<QByteArray, int> m_unauthenticatedByPeer;
    std::atomic<int> m_rejected{0};
    mutable std::mutex m_peersMutex;
    std::shared_ptr<const PeerList> m_peers; // with TLS; replaced whole by reloadPeers()
    std::mutex m_logMutex;
    QElapsedTimer m_logWindow;
    int m_logLines = 0;
    int m_logSuppressed = 0;
    std::unique_ptr<QSocketNotifier> m_acceptNotifier; // on the listening socket, while listening
    QTimer m_acceptPause;     // single shot: accepting resumes after running out of fds
    int m_spareFd = -1;       // /dev/null, given up to accept (and close) one connection
    bool m_outOfFds = false;  // an episode is on: warned once, "accepting again" logged after
    QElapsedTimer m_rejectLogClock; // at most one line about rejected connections a second
    int m_rejectsUnlogged = 0;
    quint64 m_nextConnectionId = 1;
    std::atomic<int> m_connections{0};
    std::shared_ptr<ReceiverTally> m_tally = std::make_shared<ReceiverTally>();
    std::shared_ptr<FleetRegistry> m_fleet;
    mutable std::mutex m_fleetMutex;
    QByteArray m_fleetDocument; // the last published one
    std::atomic<int> m_monitors{0};
    int m_authFailures = 0;
};

} // namespace isocket

Q_DECLARE_METATYPE(isocket::ReceivedFile)
