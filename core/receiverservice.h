#pragma once
// ReceiverService: the DRMS side as one object, for every face (the console's `isocket receive`,
// the receiver window, and whatever comes: a status command, a metrics endpoint). It owns the
// Receiver (with its I/O threads, committer and partial sweeper): creates the receive root,
// listens, closes; and it gives what happens as batches of values: the updates of a tick (peers
// and files, in the order they happened) and a status snapshot.
//
// Built from a ReceiverSetup, which ReceiverSetup::fromConfig() makes from the configuration:
// the one mapping from the configuration's keys to the receiver's options, with its checks,
// that every face uses.
//
// Threads. The service object belongs to the thread that creates it (a face's thread); the
// Receiver lives in the service's receiver thread: with Threading::CallerThread that same
// thread (the console), with Threading::OwnThread a thread of the service's own, an
// EventLoopThread (a window).
// start() returns at once and runs in the receiver thread; status() may be called from any
// thread; setSecret(), reloadPeers() and probeIoThreads() only in the receiver thread (a
// CallerThread face). The signals are emitted in the receiver thread: connect to them from any
// thread (a receiver in another thread gets them queued). The destructor closes the Receiver
// (partials are kept for a resume) in its thread and, with OwnThread, joins it.
//
// Promises: start() is answered by a snapshot whose run is Listening or Failed (with
// CallerThread: before it returns); a tick's updates come in the order they happened;
// statusChanged() follows every change of the snapshot, at most once a tick, except the file
// counts (stored, bytesStored, failed): status() reads them live, and they move a
// statusChanged() only when updated() is connected before start() (the files' updates are
// asked for only then: each costs a call across threads).
//
// The fleet (issue 16): fleet() is every source the receiver has ever seen (core/fleetregistry.h,
// kept under the receive root across restarts), from any thread; fleetChanged() follows a change
// of it at most once a second (a change wakes the service once, no timer ticks while nothing
// changes); the registry's file is rewritten at most every SaveIntervalMs while it changes, and
// when the service ends. Monitors connected to the receiver get the same list with the
// receiver's health (FLEET frames, docs/PROTOCOL.md 2.7) at the same moments.

#include "core/config.h"
#include "core/error.h"
#include "core/health.h"
#include "core/receiver.h"

#include <QElapsedTimer>
#include <QHostAddress>
#include <QTimer>
#include <QList>
#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QTimer>

#include <functional>
#include <memory>
#include <mutex>


namespace isocket {

class EventLoopThread;

// Everything a ReceiverService runs with. Plain values: a face may show or compare them.
struct ReceiverSetup
{
    ReceiverOptions options;
    QHostAddress address = QHostAddress(QHostAddress::LocalHost);
    quint16 port = 12345;
    // How often the free space of the receive root's filesystem is read (and the health
    // assessed again); also after every DiskFull refusal. At the same pace the fleet files of
    // the other receivers sharing the root are read (FleetRegistry::refreshPeers()).
    int spaceTickMs = 5000;

    // The one mapping from the configuration (receive.*, general.*) to the options, with its
    // checks: the listening address, the transport (TLS keys, the plain opt-in), the secret
    // file. Errors are UsageError and name the key. The receive root is created by start().
    static Result<ReceiverSetup> fromConfig(const Config &config);
};

// One thing that happened on the receiver: a peer's or a file's.
struct ReceiverUpdate
{
    enum class Kind : quint8 {
        PeerConnected,     // connId, peer (its address)
        PeerAuthenticated, // connId, source
        PeerDisconnected,  // connId
        AuthFailed,        // peer, message (the reason)
        FileStarted,       // connId, source, dbtag, path, size; done: the offset it resumes from
        FileProgress,      // connId, source, dbtag, path, size; done: bytes written (~10 a second)
        FileStored,        // source, dbtag, path, size, durationMs: durable at its final name
        FileFailed,        // source, dbtag, path, code, message
        DbtagCompleted,    // source, dbtag; files and size: the dbtag's count and bytes
    };
    Kind kind = Kind::FileStarted;
    quint64 connId = 0;
    QString peer;
    QString source;
    QString dbtag;
    QString path;
    qint64 size = 0;
    qint64 done = 0;
    qint64 durationMs = 0;
    int files = 0;
    ErrorCode code = ErrorCode::Ok;
    QString message;
};

// The receiver at a glance: a snapshot, complete in itself.
struct ReceiverStatus
{
    enum class Run : quint8 { Stopped, Starting, Listening, Failed };
    Run run = Run::Stopped;
    QString address; // "127.0.0.1:12345", "[::1]:12345" once listening; the asked one before
    quint16 port = 0;
    QString root;
    QString error;                      // Failed: why
    ErrorCode errorCode = ErrorCode::Ok; // Failed: ConfigError (a usage error) or IoError
    int connections = 0;
    int authFailures = 0;
    qint64 stored = 0;      // files stored since start
    qint64 bytesStored = 0; // their bytes
    qint64 failed = 0;      // files that failed since start
    int partialsRemoved = 0; // stale partials removed (receive.partial_max_age), since start
    qint64 partialBytesRemoved = 0;
    ReceiverHealth health; // the verdict and what it is made of (core/health.h)
};

class ReceiverService : public QObject
{
    Q_OBJECT

public:
    enum class Threading { CallerThread, OwnThread };

    explicit ReceiverService(ReceiverSetup setup, Threading threading = Threading::OwnThread,
                             QObject *parent = nullptr);
    ~ReceiverService() override;

    const ReceiverSetup &setup() const { return m_setup; }

    // Creates the receive root if missing, then listens.
    void start();
    ReceiverStatus status() const; // any thread
    // Every source ever seen, by name (any thread; empty before start()).
    QList<FleetEntry> fleet() const;
    static constexpr int FleetIntervalMs = 1000; // fleetChanged() at most this often
    static constexpr int SaveIntervalMs = 5000;  // the registry's file at most this often

    // Receiver thread only (see above).
    bool setSecret(const QByteArray &secret); // Receiver::setSecret()
    Result<int> reloadPeers();                // Receiver::reloadPeers()
    void probeIoThreads(std::function<void()> alive);

Q_SIGNALS:
    void statusChanged(const isocket::ReceiverStatus &status);
    void updated(const QList<isocket::ReceiverUpdate> &updates);
    void fleetChanged(const QList<isocket::FleetEntry> &fleet);

private:
    void doStart();
    void add(ReceiverUpdate update);
    void touch();
    void schedule();
    void flush();
    // The registry changed, or the receiver's health did: fleetChanged() (and FLEET to the
    // monitors) at most once every FleetIntervalMs. Receiver thread.
    void fleetDirty();
    void publishFleet();
    void saveFleet();
    void scheduleSave(); // arms the save timer when the registry has unsaved changes
    // Reads the free space, assesses the health into m_status.health (under m_statusMutex).
    // True when the verdict, the reason or a count changed.
    bool updateHealth(bool readSpace);
    void noteAuthFailure(const QString &peer);

    ReceiverSetup m_setup;
    Threading m_threading;
    std::unique_ptr<EventLoopThread> m_thread; // OwnThread
    QObject *m_context = nullptr;      // lives in the receiver thread
    // Receiver thread only.
    std::unique_ptr<Receiver> m_receiver;
    QList<ReceiverUpdate> m_updates;
    bool m_flushPosted = false;
    bool m_statusDirty = false;
    // Written in the receiver thread, read anywhere.
    mutable std::mutex m_statusMutex;
    ReceiverStatus m_status;
    std::shared_ptr<const ReceiverTally> m_tally; // once listening: stored, failed
    std::shared_ptr<FleetRegistry> m_fleet;       // once started; thread-safe
    // Receiver thread only.
    QTimer *m_fleetTimer = nullptr; // single shot, armed while a change waits to be published
    QTimer *m_saveTimer = nullptr;  // single shot, armed while a save waits
    QElapsedTimer m_fleetClock;     // since the last fleetChanged()
    QElapsedTimer m_saveClock;      // since the last save
    QList<FleetEntry> m_lastFleet;
    ReceiverHealth m_lastHealth;
    bool m_fleetPublished = false;
    // Receiver thread only: the health's facts.
    std::unique_ptr<QTimer> m_spaceTimer;
    ReceiverHealthInputs m_health;
    qint64 m_freeBytes = -1;
    qint64 m_totalBytes = -1;
    bool m_diskFullRefused = false; // a DiskFull refusal, and no file stored since
    QElapsedTimer m_lastDiskFullRefusal;
    static constexpr qint64 DiskFullMemoryMs = 120000;
    qint64 m_storedAtRefusal = 0;
};

} // namespace isocket

Q_DECLARE_METATYPE(isocket::ReceiverUpdate)
Q_DECLARE_METATYPE(isocket::ReceiverStatus)
