#include "core/receiverservice.h"

#include "core/logging.h"
#include "core/fileutil.h"
#include "core/secret.h"
#include "core/tls.h"

#include <QDir>

#include <algorithm>
#include "core/eventloopthread.h"

#include <QMetaMethod>
#include <QThread>

#include <sys/statvfs.h>

namespace isocket {

namespace {

QString hostPort(const QHostAddress &address, quint16 port)
{
    const QString host = address.protocol() == QAbstractSocket::IPv6Protocol
                             ? QLatin1Char('[') + address.toString() + QLatin1Char(']')
                             : address.toString();
    return host + QLatin1Char(':') + QString::number(port);
}

// Whether the monitors would see nothing new: when it was computed is not a change.
bool sameHealth(ReceiverHealth a, const ReceiverHealth &b)
{
    a.at = b.at;
    return a == b;
}

} // namespace

Result<ReceiverSetup> ReceiverSetup::fromConfig(const Config &config)
{
    ReceiverSetup s;
    if (config.listenHost == QLatin1String("localhost"))
        s.address = QHostAddress(QHostAddress::LocalHost);
    else if (!s.address.setAddress(config.listenHost))
        return Error{ErrorCode::UsageError,
                     config.keyMessage(QStringLiteral("receive.listen"),
                                       QStringLiteral("'%1' is not an IP address")
                                           .arg(config.listenHost))};
    auto secret = readSecretFile(config.secretFile);
    if (!secret)
        return Error{ErrorCode::UsageError, secret.error().message};
    auto transport = transportFromConfig(config, Side::Receiver);
    if (!transport)
        return Error{ErrorCode::UsageError, transport.error().message};
    // Receiver::listen() checks the address against the transport (TLS, or plain with the
    // opt-in and a secret) before it binds.
    s.port = config.listenPort;
    s.options = ReceiverOptions{config.receiveRoot, secret.value(), config.reserveBytes,
                                config.syncPerFile ? CommitSync::PerFile : CommitSync::Auto,
                                config.receiveThreads, config.partialMaxAgeSecs};
    s.options.arrival = config.arrivalByLink ? CommitArrival::Link : CommitArrival::Rename;
    s.options.tls = transport.value().tls;
    s.options.plainOptIn = transport.value().plainOptIn;
    s.options.peersFile = config.peersFile;
    if (!config.monitorSecretFile.isEmpty()) {
        auto monitorSecret = readSecretFile(config.monitorSecretFile);
        if (!monitorSecret)
            return Error{ErrorCode::UsageError,
                         config.keyMessage(QStringLiteral("receive.monitor_secret_file"),
                                           monitorSecret.error().message)};
        if (monitorSecret.value().isEmpty())
            return Error{ErrorCode::UsageError,
                         config.keyMessage(QStringLiteral("receive.monitor_secret_file"),
                                           QStringLiteral("the file is empty")) };
        if (monitorSecret.value() == secret.value())
            return Error{ErrorCode::UsageError,
                         config.keyMessage(QStringLiteral("receive.monitor_secret_file"),
                                           QStringLiteral("the monitor secret is the shared "
                                                          "secret: a monitor's machine could "
                                                          "send data; make another one"))};
        s.options.monitorSecret = monitorSecret.value();
    }
    return s;
}

ReceiverService::ReceiverService(ReceiverSetup setup, Threading threading, QObject *parent)
    : QObject(parent), m_setup(std::move(setup)), m_threading(threading)
{
    qRegisterMetaType<ErrorCode>("isocket::ErrorCode");
    qRegisterMetaType<ReceiverUpdate>();
    qRegisterMetaType<QList<ReceiverUpdate>>();
    qRegisterMetaType<ReceiverStatus>();
    qRegisterMetaType<FleetEntry>();
    qRegisterMetaType<QList<FleetEntry>>();
    m_status.address = hostPort(m_setup.address, m_setup.port);
    m_status.port = m_setup.port;
    m_status.root = m_setup.options.root;
    if (threading == Threading::OwnThread) {
        m_thread = std::make_unique<EventLoopThread>(QStringLiteral("isocket-receiver"));
        m_context = m_thread->host(); // lives until the thread ends, in the destructor
        m_thread->start();
    } else {
        m_context = this;
    }
}

ReceiverService::~ReceiverService()
{
    auto shutdown = [this] {
        m_spaceTimer.reset();
        if (m_receiver)
            m_receiver->close();
        m_receiver.reset();
    };
    if (m_threading == Threading::CallerThread) {
        shutdown();
        return;
    }
    QMetaObject::invokeMethod(
        m_context,
        [shutdown] {
            shutdown();
            QThread::currentThread()->quit();
        },
        Qt::QueuedConnection);
    m_thread->wait(); // the host (m_context) goes with the thread
}

void ReceiverService::start()
{
    if (m_threading == Threading::CallerThread)
        doStart();
    else
        QMetaObject::invokeMethod(m_context, [this] { doStart(); }, Qt::QueuedConnection);
}

ReceiverStatus ReceiverService::status() const
{
    std::lock_guard lock(m_statusMutex);
    ReceiverStatus status = m_status;
    if (m_tally) {
        status.stored = m_tally->filesStored.load(std::memory_order_relaxed);
        status.bytesStored = m_tally->bytesStored.load(std::memory_order_relaxed);
        status.failed = m_tally->filesFailed.load(std::memory_order_relaxed);
    }
    return status;
}

QList<FleetEntry> ReceiverService::fleet() const
{
    std::shared_ptr<FleetRegistry> registry;
    {
        std::lock_guard lock(m_statusMutex);
        registry = m_fleet;
    }
    return registry ? registry->entries() : QList<FleetEntry>();
}

bool ReceiverService::setSecret(const QByteArray &secret)
{
    return m_receiver && m_receiver->setSecret(secret);
}

Result<int> ReceiverService::reloadPeers()
{
    if (!m_receiver)
        return Error{ErrorCode::IoError, QStringLiteral("not listening")};
    return m_receiver->reloadPeers();
}

void ReceiverService::probeIoThreads(std::function<void()> alive)
{
    if (m_receiver)
        m_receiver->probeIoThreads(std::move(alive));
    else
        QMetaObject::invokeMethod(m_context, std::move(alive), Qt::QueuedConnection);
}

void ReceiverService::doStart()
{
    if (m_receiver)
        return;
    {
        std::lock_guard lock(m_statusMutex);
        m_status.run = ReceiverStatus::Run::Starting;
    }
    auto fail = [this](ErrorCode code, const QString &error) {
        std::lock_guard lock(m_statusMutex);
        m_status.run = ReceiverStatus::Run::Failed;
        m_status.error = error;
        m_status.errorCode = code;
        m_health.notListening = error;
        touch();
    };
    if (!QDir().mkpath(m_setup.options.root)) {
        fail(ErrorCode::IoError,
             QStringLiteral("cannot create the receive root %1").arg(m_setup.options.root));
        return;
    }
    m_receiver = std::make_unique<Receiver>(m_setup.options);
    Receiver *r = m_receiver.get();
    QObject *c = m_context;
    using Kind = ReceiverUpdate::Kind;
    connect(r, &Receiver::peerConnected, c, [this](quint64 connId, const QString &peer) {
        ReceiverUpdate u;
        u.kind = Kind::PeerConnected;
        u.connId = connId;
        u.peer = peer;
        add(std::move(u));
    });
    connect(r, &Receiver::peerAuthenticated, c, [this](quint64 connId, const QString &source) {
        ReceiverUpdate u;
        u.kind = Kind::PeerAuthenticated;
        u.connId = connId;
        u.source = source;
        add(std::move(u));
    });
    connect(r, &Receiver::peerDisconnected, c, [this](quint64 connId) {
        ReceiverUpdate u;
        u.kind = Kind::PeerDisconnected;
        u.connId = connId;
        add(std::move(u));
    });
    connect(r, &Receiver::authFailed, c, [this](const QString &peer, const QString &reason) {
        ReceiverUpdate u;
        u.kind = Kind::AuthFailed;
        u.peer = peer;
        u.message = reason;
        noteAuthFailure(peer);
        add(std::move(u));
    });
    auto file = [](Kind kind, const ReceivedFile &f) {
        ReceiverUpdate u;
        u.kind = kind;
        u.connId = f.connId;
        u.source = f.source;
        u.dbtag = f.dbtag;
        u.path = f.path;
        u.size = f.size;
        u.done = f.done;
        u.durationMs = f.durationMs;
        u.code = f.code;
        u.message = f.message;
        return u;
    };
    // A file's updates are asked for only when someone listens: each is a call posted from an
    // I/O thread to this one, and the console listens to none (10,000 files of 4 KiB went at
    // 0.83x the rate when they were always asked for; bench: small). The counts of the snapshot
    // come from the Receiver's tally, which counts without any signal.
    if (isSignalConnected(QMetaMethod::fromSignal(&ReceiverService::updated))) {
        connect(r, &Receiver::fileStarted, c,
                [this, file](const ReceivedFile &f) { add(file(Kind::FileStarted, f)); });
        connect(r, &Receiver::fileProgress, c,
                [this, file](const ReceivedFile &f) { add(file(Kind::FileProgress, f)); });
        connect(r, &Receiver::fileStored, c,
                [this, file](const ReceivedFile &f) { add(file(Kind::FileStored, f)); });
        connect(r, &Receiver::fileFailed, c,
                [this, file](const ReceivedFile &f) { add(file(Kind::FileFailed, f)); });
    }
    connect(r, &Receiver::dbtagCompleted, c,
            [this](const QString &source, const QString &dbtag, int files, qint64 bytes) {
                ReceiverUpdate u;
                u.kind = Kind::DbtagCompleted;
                u.source = source;
                u.dbtag = dbtag;
                u.files = files;
                u.size = bytes;
                add(std::move(u));
            });
    connect(r, &Receiver::partialsSwept, c, [this](int removed, qint64 bytes, int) {
        std::lock_guard lock(m_statusMutex);
        m_status.partialsRemoved += removed;
        m_status.partialBytesRemoved += bytes;
        touch();
    });
    connect(r, &Receiver::diskFullRefused, c, [this] {
        if (!m_diskFullRefused && m_tally)
            m_storedAtRefusal = m_tally->filesStored.load(std::memory_order_relaxed);
        m_diskFullRefused = true;
        m_lastDiskFullRefusal.start();
        if (updateHealth(true))
            touch();
    });
    if (!r->listen(m_setup.address, m_setup.port)) {
        const QString error = r->errorString();
        const ErrorCode code = r->errorCode();
        m_receiver.reset();
        fail(code, error);
        return;
    }
    m_fleetTimer = new QTimer(c);
    m_fleetTimer->setSingleShot(true);
    connect(m_fleetTimer, &QTimer::timeout, c, [this] { publishFleet(); });
    m_saveTimer = new QTimer(c);
    m_saveTimer->setSingleShot(true);
    connect(m_saveTimer, &QTimer::timeout, c, [this] { saveFleet(); });
    // Called by whichever thread changed the registry, once per batch (takeChanged()).
    r->fleetRegistry()->setChangeCallback([this] {
        QMetaObject::invokeMethod(m_context, [this] { fleetDirty(); }, Qt::QueuedConnection);
    });
    {
        std::lock_guard lock(m_statusMutex);
        m_tally = r->tally();
        m_fleet = r->fleetRegistry();
        m_status.run = ReceiverStatus::Run::Listening;
        m_status.address = hostPort(r->serverAddress(), r->serverPort());
        m_status.port = r->serverPort();
    }
    m_spaceTimer = std::make_unique<QTimer>();
    m_spaceTimer->setInterval(qMax(10, m_setup.spaceTickMs));
    connect(m_spaceTimer.get(), &QTimer::timeout, c, [this] {
        if (updateHealth(true))
            touch();
        // The other receivers sharing the root: their writes raise no event here.
        if (m_fleet && m_fleet->refreshPeers())
            fleetDirty();
        scheduleSave();
    });
    m_spaceTimer->start();
    updateHealth(true);
    touch();
    fleetDirty(); // the registry as loaded
}

void ReceiverService::fleetDirty()
{
    if (!m_fleetTimer || m_fleetTimer->isActive())
        return;
    const qint64 since = m_fleetClock.isValid() ? m_fleetClock.elapsed() : FleetIntervalMs;
    m_fleetTimer->start(int(std::clamp<qint64>(FleetIntervalMs - since, 0, FleetIntervalMs)));
}

void ReceiverService::publishFleet()
{
    if (!m_receiver || !m_fleet)
        return;
    m_fleet->takeChanged(); // a change from now on wakes us again
    QList<FleetEntry> entries = m_fleet->entries();
    const ReceiverHealth health = status().health;
    const bool fleetMoved = !m_fleetPublished || entries != m_lastFleet;
    const bool healthMoved = !m_fleetPublished || !sameHealth(health, m_lastHealth);
    m_fleetPublished = true;
    if (fleetMoved || healthMoved) {
        m_fleetClock.restart();
        m_receiver->publishFleet(fleetDocument(health, entries));
        m_lastHealth = health;
    }
    if (fleetMoved) {
        m_lastFleet = std::move(entries);
        Q_EMIT fleetChanged(m_lastFleet);
    }
    scheduleSave();
}

void ReceiverService::scheduleSave()
{
    if (!m_fleet || !m_saveTimer || m_saveTimer->isActive() || !m_fleet->needsSave())
        return;
    const qint64 since = m_saveClock.isValid() ? m_saveClock.elapsed() : SaveIntervalMs;
    m_saveTimer->start(int(std::clamp<qint64>(SaveIntervalMs - since, 0, SaveIntervalMs)));
}

void ReceiverService::saveFleet()
{
    if (!m_fleet)
        return;
    m_saveClock.restart();
    if (auto r = m_fleet->save(); !r)
        qCWarning(lcRecv).noquote() << r.error().message;
}

void ReceiverService::add(ReceiverUpdate update)
{
    m_updates.append(std::move(update));
    m_statusDirty = true; // the counts moved
    schedule();
}

void ReceiverService::touch()
{
    m_statusDirty = true;
    schedule();
}

void ReceiverService::schedule()
{
    if (m_flushPosted)
        return;
    m_flushPosted = true;
    QMetaObject::invokeMethod(m_context, [this] { flush(); }, Qt::QueuedConnection);
}

void ReceiverService::flush()
{
    m_flushPosted = false;
    const QList<ReceiverUpdate> updates = std::exchange(m_updates, {});
    if (!updates.isEmpty())
        Q_EMIT updated(updates);
    if (!m_statusDirty)
        return;
    m_statusDirty = false;
    {
        std::lock_guard lock(m_statusMutex);
        if (m_receiver) {
            m_status.connections = m_receiver->connectionCount();
            m_status.authFailures = m_receiver->authFailureCount();
        }
    }
    updateHealth(false);
    const ReceiverStatus now = status();
    if (m_fleetPublished && !sameHealth(now.health, m_lastHealth))
        fleetDirty(); // the monitors see the receiver's health too
    Q_EMIT statusChanged(now);
}

void ReceiverService::noteAuthFailure(const QString &peer)
{
    // By host: the port changes with every connection ("1.2.3.4:5678", "::1:5678").
    const qsizetype colon = peer.lastIndexOf(QLatin1Char(':'));
    const QString host = colon > 0 ? peer.left(colon) : peer;
    m_health.lastAuthFailure = QDateTime::currentDateTimeUtc();
    m_health.lastAuthFailurePeer = host;
    QMap<QString, qint64> &byPeer = m_health.facts.authFailuresByPeer;
    constexpr qsizetype MaxPeers = 64;
    if (!byPeer.contains(host) && byPeer.size() >= MaxPeers) {
        // Bounded: the peer with the fewest failures makes room (the persistent ones stay).
        auto fewest = byPeer.begin();
        for (auto it = byPeer.begin(); it != byPeer.end(); ++it)
            if (it.value() < fewest.value())
                fewest = it;
        byPeer.erase(fewest);
    }
    ++byPeer[host];
}

bool ReceiverService::updateHealth(bool readSpace)
{
    if (readSpace) {
        // statvfs(): one system call (QStorageInfo reads the mount table as well). The space
        // an unprivileged writer may use, as the store's reserve check counts it.
        struct statvfs vfs;
        if (::statvfs(nativePath(m_setup.options.root).constData(), &vfs) == 0) {
            m_freeBytes = qint64(vfs.f_bavail) * qint64(vfs.f_frsize);
            m_totalBytes = qint64(vfs.f_blocks) * qint64(vfs.f_frsize);
        } else {
            m_freeBytes = m_totalBytes = -1;
        }
    }
    // A file stored since: there is room again. No refusal for two minutes (an ED retries
    // within one): nobody is refused any more, whatever the space.
    if (m_diskFullRefused && m_tally &&
        (m_tally->filesStored.load(std::memory_order_relaxed) > m_storedAtRefusal ||
         m_lastDiskFullRefusal.hasExpired(DiskFullMemoryMs)))
        m_diskFullRefused = false;
    const qint64 reserve = m_setup.options.reserveBytes;
    ReceiverHealth &f = m_health.facts;
    f.freeBytes = m_freeBytes;
    f.totalBytes = m_totalBytes;
    f.reserveBytes = reserve;
    f.diskFull = (m_freeBytes >= 0 && reserve > 0 && m_freeBytes < reserve) || m_diskFullRefused;
    std::lock_guard lock(m_statusMutex);
    f.listening = m_status.run == ReceiverStatus::Run::Listening;
    f.address = f.listening ? m_status.address : QString();
    if (m_receiver) {
        f.connections = m_receiver->connectionCount();
        f.authFailures = m_receiver->authFailureCount();
    }
    if (!f.listening && m_health.notListening.isEmpty())
        m_health.notListening = m_status.error;
    ReceiverHealth health = assessReceiverHealth(m_health, QDateTime::currentDateTimeUtc());
    const ReceiverHealth &old = m_status.health;
    // Free space moves all the time: a change counts when it shows (in the reason) or matters.
    const bool changed = old.verdict != health.verdict || old.reason != health.reason ||
                         old.listening != health.listening || old.diskFull != health.diskFull ||
                         old.connections != health.connections ||
                         old.authFailures != health.authFailures ||
                         old.authFailuresByPeer != health.authFailuresByPeer;
    m_status.health = std::move(health);
    return changed;
}

} // namespace isocket
