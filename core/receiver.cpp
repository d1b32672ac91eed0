#include "core/receiver.h"

#include <QDateTime>
#include <QFile>
#include <QSocketNotifier>
#include <QSysInfo>
#include <QThread>
#include <QtEndian>
#include <QSslSocket>
#include <QTcpSocket>

#include <algorithm>

#include <cerrno>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/fsname.h"
#include "core/logging.h"
#include "core/partialsweeper.h"
#include "core/receiverconnection.h"

namespace isocket {

namespace {

// How long accepting pauses after running out of file descriptors.
constexpr int AcceptPauseMs = 250;
// Connections accepted per wake-up of the listening socket, so that a flood of them does not
// keep the receiver's thread from everything else.
constexpr int AcceptBurst = 64;

// The peer's address as bytes (the key of the per-peer cap); empty when unknown.
QByteArray peerKey(int fd)
{
    sockaddr_storage addr = {};
    socklen_t len = sizeof addr;
    if (::getpeername(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0)
        return QByteArray();
    if (addr.ss_family == AF_INET) {
        const auto *in = reinterpret_cast<const sockaddr_in *>(&addr);
        return QByteArray(reinterpret_cast<const char *>(&in->sin_addr), sizeof in->sin_addr);
    }
    if (addr.ss_family == AF_INET6) {
        const auto *in6 = reinterpret_cast<const sockaddr_in6 *>(&addr);
        return QByteArray(reinterpret_cast<const char *>(&in6->sin6_addr),
                          sizeof in6->sin6_addr);
    }
    return QByteArray();
}

QString describePeer(const QByteArray &peer)
{
    if (peer.size() == 4)
        return QHostAddress(qFromBigEndian<quint32>(peer.constData())).toString();
    if (peer.size() == 16)
        return QHostAddress(reinterpret_cast<const quint8 *>(peer.constData())).toString();
    return QStringLiteral("(unknown address)");
}

} // namespace

// Only listens: accepting is ours (Receiver::acceptPending()). QTcpServer's own accept loop
// retries at once when accept() fails for want of file descriptors, which spins a core for as
// long as connections wait (issue 13).
class Receiver::Listener : public QTcpServer
{
protected:
    void incomingConnection(qintptr socketDescriptor) override { ::close(int(socketDescriptor)); }
};

Receiver::Receiver(ReceiverOptions options, QObject *parent)
    : QObject(parent), m_options(std::move(options)),
      m_store(m_options.root, m_options.reserveBytes),
      m_committer(std::make_unique<Committer>(
          Committer::syncFor(m_options.root, m_options.sync, &m_rootFsType), m_options.arrival)),
      m_server(std::make_unique<Listener>()),
      m_fleet(std::make_shared<FleetRegistry>(m_options.root))
{
    qRegisterMetaType<isocket::ErrorCode>("isocket::ErrorCode");
    qRegisterMetaType<isocket::ReceivedFile>();
    m_manifestWriter.setObjectName(QStringLiteral("isocket-manifest"));
    m_manifestWriter.setMaxThreadCount(1);
    m_partialHasher.setObjectName(QStringLiteral("isocket-hash"));
    m_partialHasher.setMaxThreadCount(2);
    m_sweeper.setObjectName(QStringLiteral("isocket-sweep"));
    m_sweeper.setMaxThreadCount(1);
    m_sweepTimer.setInterval(
        int(std::clamp<qint64>(m_options.partialMaxAgeSecs / 4, 60, 24 * 3600) * 1000));
    connect(&m_sweepTimer, &QTimer::timeout, this, &Receiver::sweepPartials);
    m_acceptPause.setSingleShot(true);
    connect(&m_acceptPause, &QTimer::timeout, this, [this] {
        if (m_acceptNotifier)
            m_acceptNotifier->setEnabled(true);
    });
    m_spareFd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    startIo();
}

Receiver::~Receiver()
{
    m_stopSweep = true;
    m_sweeper.waitForDone(); // it claims files in the registry
    m_acceptNotifier.reset(); // before the socket it watches
    m_server->close();
    // Connections go with their threads; then nothing submits a commit, starts a manifest or
    // hashes a partial any more. The committer goes next: its answers (on its own thread) use
    // the registry and the store, and are posted to I/O threads that take nothing any more
    // (answer() says so) or to us (dropped with us). So are the pools' answers.
    stopIo();
    m_committer.reset();
    m_manifestWriter.waitForDone();
    m_partialHasher.waitForDone();
    m_fleet->disconnectAll();
    if (auto r = m_fleet->save(); !r)
        qCWarning(lcRecv).noquote() << r.error().message;
    if (m_spareFd >= 0)
        ::close(m_spareFd);
}

void Receiver::startIo()
{
    int n = m_options.ioThreads > 0 ? m_options.ioThreads : QThread::idealThreadCount();
    n = qBound(1, n, MaxIoThreads);
    for (int i = 0; i < n; ++i) {
        m_io.push_back(std::make_unique<EventLoopThread>(QStringLiteral("isocket-recv-%1").arg(i)));
        m_io.back()->start();
    }
}

void Receiver::stopIo()
{
    for (auto &io : m_io) {
        io->quit();
        io->wait(); // its host, and with it its connections, deleted on the way out
    }
    // Accepted just before: their threads stopped before taking them.
    std::lock_guard lock(m_unservedMutex);
    for (const qintptr fd : std::as_const(m_unserved))
        ::close(int(fd));
    m_unserved.clear();
}

void Receiver::onEachIoThread(const std::function<void(QObject *host)> &fn)
{
    for (auto &io : m_io) {
        if (QObject *host = io->host())
            QMetaObject::invokeMethod(
                host, [&fn, host] { fn(host); }, Qt::BlockingQueuedConnection);
    }
}

EventLoopThread *Receiver::ioThreadOf(const QObject *object) const
{
    for (const auto &io : m_io)
        if (io->thread() == object->thread())
            return io.get();
    Q_ASSERT(false); // connections live in our I/O threads only
    return nullptr;
}

QByteArray Receiver::secret() const
{
    std::lock_guard lock(m_secretMutex);
    return m_options.secret;
}

QByteArray Receiver::monitorSecret() const
{
    std::lock_guard lock(m_secretMutex);
    return m_options.monitorSecret.isEmpty() ? m_options.secret : m_options.monitorSecret;
}

QByteArray Receiver::fleetDocument() const
{
    {
        std::lock_guard lock(m_fleetMutex);
        if (!m_fleetDocument.isEmpty())
            return m_fleetDocument;
    }
    // Nobody published one yet (a Receiver without its service): the registry alone.
    return isocket::fleetDocument(ReceiverHealth{}, m_fleet->entries());
}

void Receiver::publishFleet(const QByteArray &document)
{
    {
        std::lock_guard lock(m_fleetMutex);
        m_fleetDocument = document;
    }
    if (m_monitors.load() == 0)
        return;
    for (auto &io : m_io) {
        io->post([host = io->host(), document] {
            const auto connections =
                host->findChildren<ReceiverConnection *>(Qt::FindDirectChildrenOnly);
            for (ReceiverConnection *c : connections)
                c->sendFleet(document);
        });
    }
}

bool Receiver::setSecret(const QByteArray &secret)
{
    // As listen(): plain TCP off this machine needs the secret; TLS proves the ED by its key.
    if (secret.isEmpty() && !m_options.tls && isListening()
        && !m_server->serverAddress().isLoopback())
        return false;
    std::lock_guard lock(m_secretMutex);
    m_options.secret = secret;
    return true;
}

void Receiver::probeIoThreads(std::function<void()> alive)
{
    auto left = std::make_shared<std::atomic<int>>(0);
    for (const auto &io : m_io)
        if (io->host())
            ++*left;
    if (*left == 0) {
        QMetaObject::invokeMethod(this, std::move(alive), Qt::QueuedConnection);
        return;
    }
    auto shared = std::make_shared<std::function<void()>>(std::move(alive));
    for (const auto &io : m_io) {
        io->post([this, left, shared] {
            // The last thread to answer hands the verdict back. `this` is alive: our
            // destructor waits for the I/O threads, and drops what is posted to us after.
            if (--*left == 0)
                QMetaObject::invokeMethod(this, *shared, Qt::QueuedConnection);
        });
    }
}

void Receiver::writeManifest(ReceiveStore::ManifestDraft draft, QObject *replyTo,
                             ManifestReply reply)
{
    EventLoopThread *io = ioThreadOf(replyTo);
    m_manifestWriter.start([this, io, target = QPointer<QObject>(replyTo), draft = std::move(draft),
                            reply = std::move(reply)] {
        Result<void> result = draft.write();
        if (result)
            m_store.manifestWritten(draft);
        // The destructor waits for this pool after the I/O threads are gone: answer()
        // then drops it.
        answer(io, [target, reply, result = std::move(result)] {
            if (target)
                reply(result);
        });
    });
}

void Receiver::findPartial(const FileSlot &slot, qint64 size, QObject *replyTo, PartialReply reply)
{
    EventLoopThread *io = ioThreadOf(replyTo);
    m_partialHasher.start(
        [this, io, target = QPointer<QObject>(replyTo), slot, size, reply = std::move(reply)] {
            auto found = m_store.findPartial(slot, size);
            answer(io, [target, reply, found = std::move(found)] {
                if (target)
                    reply(found);
            });
        });
}

bool Receiver::answer(EventLoopThread *io, std::function<void()> fn)
{
    std::lock_guard lock(m_answersMutex);
    auto &queue = m_answers[io];
    if (!queue.empty()) { // a drain is posted already and has not run yet
        queue.push_back(std::move(fn));
        return true;
    }
    const bool posted = io->post([this, io] {
        std::vector<std::function<void()>> batch;
        {
            std::lock_guard drain(m_answersMutex);
            batch.swap(m_answers[io]);
        }
        for (const auto &queued : batch)
            queued();
    });
    if (posted)
        queue.push_back(std::move(fn));
    return posted;
}

bool Receiver::listen(const QHostAddress &address, quint16 port)
{
    if (m_options.tls) {
        if (auto r = tlsAvailable(); !r) {
            m_errorCode = ErrorCode::ConfigError;
            m_errorString = r.error().message;
            return false;
        }
        if (m_options.peersFile.isEmpty()) {
            m_errorCode = ErrorCode::ConfigError;
            m_errorString = QStringLiteral("TLS needs the list of EDs this receiver accepts "
                                           "(receive.peers, --peers): lines 'SOURCE FINGERPRINT'");
            return false;
        }
        auto peers = PeerList::load(m_options.peersFile);
        if (!peers) {
            m_errorCode = ErrorCode::ConfigError;
            m_errorString = peers.error().message;
            return false;
        }
        std::lock_guard lock(m_peersMutex);
        m_peers = std::make_shared<const PeerList>(peers.value());
    } else if (!address.isLoopback()) {
        // Plain TCP off this machine: anyone on the way reads the data, so only when asked for.
        if (!m_options.plainOptIn) {
            m_errorCode = ErrorCode::ConfigError;
            m_errorString = QStringLiteral("refusing plain TCP on %1, which is not a loopback "
                                           "address: give this receiver a key (general.cert, "
                                           "general.key; `isocket keygen`) and its EDs "
                                           "(receive.peers), or opt in to plain TCP with "
                                           "general.transport = plain")
                                .arg(address.toString());
            return false;
        }
        if (m_options.secret.isEmpty()) {
            m_errorCode = ErrorCode::ConfigError;
            m_errorString = QStringLiteral("refusing to listen on %1 without a shared secret: "
                                           "anyone could write files; give a secret file or "
                                           "listen on 127.0.0.1")
                                .arg(address.toString());
            return false;
        }
        qCWarning(lcRecv).noquote()
            << "plain TCP on" << address.toString()
            << "(general.transport = plain): the data and the source names travel unencrypted, "
               "and the shared secret is the only proof of an ED";
    }
    m_errorCode = ErrorCode::IoError;
    if (auto r = m_store.open(); !r) {
        m_errorString = r.error().message;
        return false;
    }
    warnAboutReserve();
    if (m_options.sync == CommitSync::Auto && !m_rootFsType.isEmpty()
        && !Committer::syncfsMakesDurable(m_rootFsType))
        qCInfo(lcRecv).noquote()
            << QStringLiteral("receive root on %1: an fsync per file (syncfs does not make it "
                              "durable there)")
                   .arg(m_rootFsType);
    if (!m_server->listen(address, port)) {
        m_errorString = QStringLiteral("cannot listen on %1:%2: %3")
                            .arg(address.toString())
                            .arg(port)
                            .arg(m_server->errorString());
        return false;
    }
    // Before the first connection is accepted (below, on this thread). Its name among the
    // receivers that may share the root: host and port are unique among those running.
    m_fleet->setInstance(
        QStringLiteral("%1-%2").arg(QSysInfo::machineHostName()).arg(m_server->serverPort()));
    m_fleet->load();
    m_server->pauseAccepting(); // see Listener
    m_acceptNotifier =
        std::make_unique<QSocketNotifier>(m_server->socketDescriptor(), QSocketNotifier::Read);
    connect(m_acceptNotifier.get(), &QSocketNotifier::activated, this, &Receiver::acceptPending);
    qCInfo(lcRecv).noquote() << "listening on" << m_server->serverAddress().toString()
                             << m_server->serverPort() << "storing into" << m_options.root << "with"
                             << m_io.size() << "I/O thread(s),"
                             << (m_options.tls ? QStringLiteral("TLS, key %1, %2 ED key(s) accepted")
                                                     .arg(fingerprintText(m_options.tls->fingerprint))
                                                     .arg(peers()->size())
                                               : QStringLiteral("plain TCP"));
    if (m_options.partialMaxAgeSecs > 0) {
        sweepPartials();
        m_sweepTimer.start();
    }
    return true;
}

void Receiver::sweepPartials()
{
    if (m_sweeping || m_options.partialMaxAgeSecs <= 0)
        return;
    m_sweeping = true;
    const qint64 cutoff = QDateTime::currentSecsSinceEpoch() - m_options.partialMaxAgeSecs;
    m_sweeper.start([this, cutoff] {
        const PartialClaims claims{[this](const QString &key) { return claim(key); },
                                   [this](const QString &key) { release(key); }};
        const SweepStats stats = sweepStalePartials(m_options.root, cutoff, claims, m_stopSweep);
        // Posted to us: the destructor waits for this thread first, so `this` is alive, and
        // what is still queued is dropped with us.
        QMetaObject::invokeMethod(
            this,
            [this, stats] {
                m_sweeping = false;
                if (stats.removed > 0 || stats.inUse > 0 || stats.errors > 0)
                    qCInfo(lcRecv).noquote()
                        << "partial sweep: removed" << stats.removed << "stale partial(s),"
                        << stats.bytes << "bytes;" << stats.inUse << "in use kept;" << stats.errors
                        << "error(s)";
                emit partialsSwept(stats.removed, stats.bytes, stats.inUse);
            },
            Qt::QueuedConnection);
    });
}

Result<int> Receiver::reloadPeers()
{
    if (!m_options.tls)
        return 0;
    auto loaded = PeerList::load(m_options.peersFile);
    if (!loaded) {
        qCWarning(lcRecv).noquote() << "peers file not reloaded, the old list stays:"
                                    << loaded.error().message;
        return loaded.error();
    }
    auto list = std::make_shared<const PeerList>(loaded.value());
    {
        std::lock_guard lock(m_peersMutex);
        m_peers = list;
    }
    qCInfo(lcRecv).noquote() << "peers file" << m_options.peersFile << "reloaded:" << list->size()
                             << "ED key(s) accepted";
    // A key taken off the list is cut off now, not at its next reconnect.
    for (const auto &io : m_io) {
        io->post([io = io.get(), list] {
            const auto connections =
                io->host()->findChildren<ReceiverConnection *>(Qt::FindDirectChildrenOnly);
            for (ReceiverConnection *c : connections)
                c->recheckPeer(*list);
        });
    }
    return list->size();
}

std::shared_ptr<const PeerList> Receiver::peers() const
{
    std::lock_guard lock(m_peersMutex);
    return m_peers;
}

bool Receiver::isListening() const
{
    return m_server->isListening();
}

quint16 Receiver::serverPort() const
{
    return m_server->serverPort();
}

QHostAddress Receiver::serverAddress() const
{
    return m_server->serverAddress();
}

void Receiver::close()
{
    m_acceptNotifier.reset();
    m_acceptPause.stop();
    m_server->close();
    m_sweepTimer.stop();
    onEachIoThread([](QObject *host) {
        const auto connections =
            host->findChildren<ReceiverConnection *>(Qt::FindDirectChildrenOnly);
        for (ReceiverConnection *c : connections)
            c->abort();
    });
    m_fleet->disconnectAll();
    if (auto r = m_fleet->save(); !r)
        qCWarning(lcRecv).noquote() << r.error().message;
}

void Receiver::acceptPending()
{
    if (!m_acceptNotifier)
        return;
    const int listenFd = int(m_server->socketDescriptor());
    for (int i = 0; i < AcceptBurst; ++i) {
        const int fd = ::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            const int error = errno;
            if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM)
                onOutOfDescriptors(error);
            else if (error != EAGAIN && error != EWOULDBLOCK && error != EINTR &&
                     error != ECONNABORTED && error != EPROTO)
                qCWarning(lcRecv).noquote() << "accept:" << qt_error_string(error);
            return;
        }
        if (m_outOfFds) {
            m_outOfFds = false;
            qCInfo(lcRecv) << "file descriptors available again: accepting connections";
        }
        const QByteArray peer = peerKey(fd);
        if (!admit(peer)) {
            ::close(fd);
            ++m_rejected;
            ++m_rejectsUnlogged;
            if (!m_rejectLogClock.isValid() || m_rejectLogClock.elapsed() >= 1000) {
                m_rejectLogClock.start();
                qCWarning(lcRecv).noquote()
                    << "closed" << std::exchange(m_rejectsUnlogged, 0)
                    << "new connection(s): too many not authenticated yet (last from"
                    << describePeer(peer) << "; caps" << m_options.maxUnauthenticated << "in all,"
                    << m_options.maxUnauthenticatedPerPeer << "per address)";
            }
            continue;
        }
        serve(fd, peer);
    }
}

void Receiver::onOutOfDescriptors(int error)
{
    if (!m_outOfFds) {
        m_outOfFds = true;
        qCWarning(lcRecv).noquote()
            << QStringLiteral("cannot accept connections: %1; refusing new ones until "
                              "descriptors are free again (raise the open-file limit, "
                              "LimitNOFILE= in the service, if legitimate EDs meet this)")
                   .arg(qt_error_string(error));
    }
    // Take the oldest waiting connection off the queue with the spare descriptor and close it:
    // its peer learns at once instead of waiting for a reply that cannot come.
    if (m_spareFd >= 0) {
        ::close(m_spareFd);
        const int fd = ::accept4(int(m_server->socketDescriptor()), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) {
            ::close(fd);
            ++m_rejected;
        }
        m_spareFd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    // The listening socket stays readable while connections wait: not watched for a moment.
    m_acceptNotifier->setEnabled(false);
    m_acceptPause.start(AcceptPauseMs);
}

int Receiver::unauthenticatedCount() const
{
    std::lock_guard lock(m_admitMutex);
    return m_unauthenticated;
}

bool Receiver::admit(const QByteArray &peer)
{
    std::lock_guard lock(m_admitMutex);
    if (m_unauthenticated >= m_options.maxUnauthenticated)
        return false;
    int &fromPeer = m_unauthenticatedByPeer[peer];
    if (fromPeer >= m_options.maxUnauthenticatedPerPeer) {
        if (fromPeer == 0)
            m_unauthenticatedByPeer.remove(peer);
        return false;
    }
    ++fromPeer;
    ++m_unauthenticated;
    return true;
}

void Receiver::leave(const QByteArray &peer)
{
    std::lock_guard lock(m_admitMutex);
    --m_unauthenticated;
    auto it = m_unauthenticatedByPeer.find(peer);
    if (it != m_unauthenticatedByPeer.end() && --it.value() <= 0)
        m_unauthenticatedByPeer.erase(it);
}

void Receiver::warnAboutReserve() const
{
    struct statvfs vfs;
    if (m_options.reserveBytes <= 0 || ::statvfs(nativePath(m_options.root).constData(), &vfs) != 0)
        return;
    const qint64 total = qint64(vfs.f_blocks) * qint64(vfs.f_frsize);
    const qint64 free = qint64(vfs.f_bavail) * qint64(vfs.f_frsize);
    if (m_options.reserveBytes >= total)
        qCWarning(lcRecv).noquote()
            << QStringLiteral("the reserve (receive.reserve, --reserve) of %1 bytes is larger than "
                              "the whole filesystem of %2 (%3 bytes): every file will be refused; "
                              "set it below that, for example %4 (5 %)")
                   .arg(m_options.reserveBytes)
                   .arg(m_options.root)
                   .arg(total)
                   .arg(total / 20);
    else if (m_options.reserveBytes >= free)
        qCWarning(lcRecv).noquote()
            << QStringLiteral("only %1 bytes are free on the filesystem of %2, less than the "
                              "reserve (receive.reserve, --reserve) of %3: files are refused "
                              "until space is freed or the reserve lowered")
                   .arg(free)
                   .arg(m_options.root)
                   .arg(m_options.reserveBytes);
}

bool Receiver::mayLogUnauthenticated()
{
    int suppressed = 0;
    {
        std::lock_guard lock(m_logMutex);
        if (!m_logWindow.isValid() || m_logWindow.elapsed() >= UnauthenticatedLogWindowMs) {
            m_logWindow.start();
            m_logLines = 0;
            suppressed = std::exchange(m_logSuppressed, 0);
        }
        if (m_logLines >= UnauthenticatedLogLines) {
            ++m_logSuppressed;
            return false;
        }
        ++m_logLines;
    }
    if (suppressed > 0)
        qCWarning(lcRecv).noquote()
            << suppressed << "more line(s) about peers that had not authenticated left out";
    return true;
}

void Receiver::serve(qintptr socketDescriptor, const QByteArray &peer)
{
    const quint64 id = m_nextConnectionId++;
    ++m_connections;
    // In turn: the two connections of an ED land on two threads.
    EventLoopThread *io = m_io[size_t(id % m_io.size())].get();
    {
        std::lock_guard lock(m_unservedMutex);
        m_unserved.insert(socketDescriptor);
    }
    io->post([this, io, socketDescriptor, id, peer] {
        {
            std::lock_guard lock(m_unservedMutex);
            m_unserved.remove(socketDescriptor);
        }
        QTcpSocket *socket = m_options.tls ? new QSslSocket : new QTcpSocket;
        if (!socket->setSocketDescriptor(socketDescriptor)) {
            qCWarning(lcRecv).noquote()
                << "connection" << id << "dropped:" << socket->errorString();
            delete socket;
            ::close(int(socketDescriptor));
            leave(peer);
            QMetaObject::invokeMethod(
                this, [this] { --m_connections; }, Qt::QueuedConnection);
            return;
        }
        // A child of the thread's host.
        auto *c = new ReceiverConnection(id, socket, peer, *this, io->host());
        // Re-emitted by us, in our thread (queued: we live in another one).
        connect(c, &ReceiverConnection::peerAuthenticated, this, &Receiver::peerAuthenticated);
        connect(c, &ReceiverConnection::authFailed, this,
                [this](const QString &address, const QString &reason) {
                    ++m_authFailures;
                    emit authFailed(address, reason);
                });
        // Per-file events the connection reports through ConnectionHost: they cross to this
        // thread only when somebody listens.
        connect(c, &ReceiverConnection::finished, this, [this](quint64 connId) {
            --m_connections;
            emit peerDisconnected(connId);
        });
        // Posted before anything the connection emits: peerConnected comes first.
        QMetaObject::invokeMethod(
            this,
            [this, id, peer = c->peerAddress()] {
                qCDebug(lcRecv).noquote() << "connection" << id << "from" << peer;
                emit peerConnected(id, peer);
            },
            Qt::QueuedConnection);
    });
}

bool Receiver::claim(const QString &key)
{
    std::lock_guard lock(m_busyMutex);
    if (m_busy.contains(key))
        return false;
    m_busy.insert(key);
    return true;
}

void Receiver::release(const QString &key)
{
    std::lock_guard lock(m_busyMutex);
    m_busy.remove(key);
}

void Receiver::commit(const QString &key, CommittingFile file, CommitJob job, QObject *replyTo,
                      CommitReply reply)
{
    EventLoopThread *io = ioThreadOf(replyTo);
    job.source = file.source; // batches are fair between EDs
    m_committer->submit(
        std::move(job), [this, key, file = std::move(file), io, target = QPointer<QObject>(replyTo),
                         reply = std::move(reply)](ErrorCode code, const QString &message) {
            // On the committer's thread, once the file is durable (or failed): free for another
            // connection, known to the store, and then told to the connection, in its thread.
            release(key);
            if (code == ErrorCode::Ok)
                m_store.remember(file.source, file.dbtag, file.path, file.stamp);
            const bool posted = answer(io, [this, target, reply, file, code, message] {
                if (target && reply(code, message))
                    return;
                reportCommittedLater(file, code, message);
            });
            if (!posted)
                reportCommittedLater(file, code, message);
        });
}

void Receiver::reportCommittedLater(const CommittingFile &file, ErrorCode code,
                                    const QString &message)
{
    QMetaObject::invokeMethod(
        this, [this, file, code, message] { reportCommitted(file, code, message); },
        Qt::QueuedConnection);
}

void Receiver::reportFileStarted(quint64 connId, const QString &source, const QString &dbtag,
                                 const QString &path, qint64 size, qint64 offset)
{
    forward(&Receiver::fileStarted, ReceivedFile{.connId = connId, .source = source, .dbtag = dbtag,
                                                 .path = path, .size = size, .done = offset});
}

void Receiver::reportFileProgress(quint64 connId, const QString &source, const QString &dbtag,
                                  const QString &path, qint64 bytesDone, qint64 size)
{
    forward(&Receiver::fileProgress, ReceivedFile{.connId = connId, .source = source,
                                                  .dbtag = dbtag, .path = path, .size = size,
                                                  .done = bytesDone});
}

void Receiver::reportFileStored(const QString &source, const QString &dbtag, const QString &path,
                                qint64 size, qint64 durationMs)
{
    m_tally->filesStored.fetch_add(1, std::memory_order_relaxed);
    m_tally->bytesStored.fetch_add(size, std::memory_order_relaxed);
    m_fleet->fileStored(source, size);
    forward(&Receiver::fileStored, ReceivedFile{.source = source, .dbtag = dbtag, .path = path,
                                                .size = size, .durationMs = durationMs});
}

void Receiver::reportFileFailed(const QString &source, const QString &dbtag, const QString &path,
                                ErrorCode code, const QString &message)
{
    m_tally->filesFailed.fetch_add(1, std::memory_order_relaxed);
    if (code == ErrorCode::DiskFull)
        forward(&Receiver::diskFullRefused);
    forward(&Receiver::fileFailed, ReceivedFile{.source = source, .dbtag = dbtag, .path = path,
                                                .code = code, .message = message});
}

void Receiver::reportDbtagCompleted(const QString &source, const QString &dbtag, int files,
                                    qint64 bytes)
{
    m_fleet->datasetCompleted(source);
    forward(&Receiver::dbtagCompleted, source, dbtag, files, bytes);
}

void Receiver::reportCommitted(const CommittingFile &f, ErrorCode code, const QString &message)
{
    // The connection went away while the file was being committed: the sender will hear
    // AlreadyStored next time, but the outcome is a fact to report now.
    if (code == ErrorCode::Ok) {
        qCInfo(lcRecv).noquote() << "stored" << f.source << displayName(f.dbtag)
                                 << displayName(f.path) << f.size
                                 << "bytes (sender gone before the acknowledgement)";
        m_tally->filesStored.fetch_add(1, std::memory_order_relaxed);
        m_tally->bytesStored.fetch_add(f.size, std::memory_order_relaxed);
        m_fleet->fileStored(f.source, f.size);
        emit fileStored({.source = f.source, .dbtag = f.dbtag, .path = f.path, .size = f.size,
                         .durationMs = f.clock.elapsed()});
    } else {
        qCWarning(lcRecv).noquote() << "not stored" << f.source << displayName(f.dbtag)
                                    << displayName(f.path) << errorName(code) << ":" << message;
        m_tally->filesFailed.fetch_add(1, std::memory_order_relaxed);
        if (code == ErrorCode::DiskFull)
            emit diskFullRefused();
        emit fileFailed({.source = f.source, .dbtag = f.dbtag, .path = f.path, .code = code,
                         .message = message});
    }
}

} // namespace isocket
