#include "core/senderconnection.h"

#include "core/backoff.h"
#include "core/config.h"
#include "core/fsname.h"
#include "core/logging.h"
#include "core/secret.h"


#include <cerrno>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <QPointer>
#include <QScopedValueRollback>
#include <QSslSocket>

namespace isocket {

namespace {

// Stop reading files while this much is still queued in the socket.
constexpr qint64 HighWater = 4 * 1024 * 1024;
// QTcpSocket sends what write() buffered only once the event loop runs again, and one turn of
// pumpData() may buffer up to HighWater: 1,000 files of 4 KiB read before the first byte left,
// the receiver idle meanwhile, the STOREDs that came in unread. Handing the socket what is
// buffered every 256 KiB keeps both ends busy: 10,000 x 4 KiB 0.80 -> 0.73 s (issue 6).
constexpr qint64 FlushBytes = 256 * 1024;
// DATA frames from this size on are written directly (see writeData()).
constexpr qint64 DirectWriteMinBytes = 64 * 1024;
constexpr qint64 ProgressIntervalMs = 100;

} // namespace

QString linkStateName(LinkState state)
{
    switch (state) {
    case LinkState::Disconnected: return QStringLiteral("disconnected");
    case LinkState::Connecting: return QStringLiteral("connecting");
    case LinkState::Authenticating: return QStringLiteral("authenticating");
    case LinkState::Ready: return QStringLiteral("connected");
    case LinkState::Retrying: return QStringLiteral("retrying");
    case LinkState::Refused: return QStringLiteral("refused");
    case LinkState::Stopped: return QStringLiteral("stopped");
    }
    return QString();
}

SenderConnection::SenderConnection(int index, const SenderOptions &options, QObject *parent,
                                   std::shared_ptr<ReceiverPool> pool,
                                   std::shared_ptr<RateLimiter> rate)
    : QObject(parent), m_index(index), m_options(options), m_pool(std::move(pool)),
      m_rate(std::move(rate))
{
    if (!m_rate)
        m_rate = std::make_shared<RateLimiter>(m_options.bwlimit);
    if (!m_pool)
        m_pool = std::make_shared<ReceiverPool>(m_options.receiverList(),
                                                m_options.retryIntervalMs, m_options.retryMaxMs);
    m_pendingOrder.share = m_streamOrder.share = qMax(1, m_options.liveShare);
    m_homeTimer.setSingleShot(true);
    connect(&m_homeTimer, &QTimer::timeout, this, [this] {
        m_wantHome = true;
        maybeGoHome();
    });
    // Up to a window of files per connection (the live link too) between END and STORED, twice
    // over for safety.
    const long fileLimit = openFileLimit();
    m_keepFiles = fileLimit < 0 || 2L * m_options.window * (m_options.jobs + 1) + 256 <= fileLimit;
    m_reconnectTimer.setSingleShot(true);
    connect(&m_reconnectTimer, &QTimer::timeout, this, &SenderConnection::connectNow);
    m_watchdog.setSingleShot(true);
    m_watchdog.setInterval(m_options.timeoutMs);
    m_throttle.setSingleShot(true);
    connect(&m_throttle, &QTimer::timeout, this, &SenderConnection::pumpData);
    m_flushTimer.setSingleShot(true);
    m_flushTimer.setInterval(0);
    connect(&m_flushTimer, &QTimer::timeout, this, &SenderConnection::flushReports);
    connect(&m_watchdog, &QTimer::timeout, this, [this] {
        lose(Error{ErrorCode::Timeout,
                   QStringLiteral("no answer from %1:%2 for %3 s")
                       .arg(m_options.host).arg(m_options.port).arg(m_options.timeoutMs / 1000)});
    });
}

SenderConnection::~SenderConnection() = default;

void SenderConnection::start()
{
    connectNow();
}

FileReport &SenderConnection::report(FileReport::Kind kind, const FileTicket &ticket)
{
    FileReport &r = m_reports.emplace_back();
    r.kind = kind;
    r.ticket = ticket;
    if (!m_flushTimer.isActive())
        m_flushTimer.start();
    return r;
}

void SenderConnection::reportProgress(FileReport::Kind kind, const Transfer &t, qint64 done)
{
    FileReport &r = report(kind, t.ticket);
    r.done = done;
    r.size = t.offered.size;
}

void SenderConnection::reportDelivered(const FileTicket &ticket, const FileStamp &read,
                                       qint64 bytesSent, qint64 durationMs)
{
    FileReport &r = report(FileReport::Kind::Delivered, ticket);
    r.read = read;
    r.done = bytesSent;
    r.durationMs = durationMs;
}

void SenderConnection::reportFailed(const FileTicket &ticket, const Error &error)
{
    report(FileReport::Kind::Failed, ticket).error = error;
}

void SenderConnection::flushReports()
{
    m_flushTimer.stop();
    if (m_reports.isEmpty())
        return;
    Q_EMIT reported(m_index, std::exchange(m_reports, {}));
}

void SenderConnection::setState(LinkState state, const QString &detail, int retryInMs)
{
    flushReports();
    m_state = state;
    Q_EMIT stateChanged(m_index, state, detail, retryInMs);
}

void SenderConnection::dropSocket()
{
    if (!m_socket)
        return;
    // Nothing of it reaches us any more; it is closed and deleted on the next turn of the event
    // loop, not now: lose() is mostly called from one of the socket's own signals (readyRead,
    // encrypted, errorOccurred), and a QSslSocket torn down inside its own handshake or
    // decryption code freed its TLS state twice (AddressSanitizer: double free, issue 15).
    QAbstractSocket *socket = m_socket;
    m_socket = nullptr;
    socket->disconnect(this);
    QMetaObject::invokeMethod(socket, &QAbstractSocket::abort, Qt::QueuedConnection);
    socket->deleteLater();
}

void SenderConnection::connectNow()
{
    if (m_stopping)
        return;
    if (!m_options.secretFile.isEmpty()) {
        auto secret = readSecretFile(m_options.secretFile);
        if (!secret) {
            lose(secret.error());
            return;
        }
        m_options.secret = secret.value();
    }
    m_homeTimer.stop();
    m_wantHome = false;
    const ReceiverPool::Choice choice = m_pool->choose(m_index);
    if (choice.delayMs > 0) {
        // Every receiver is backing off (another link saw them fail): wait for the first free.
        dropSocket();
        m_receiver = -1;
        setState(LinkState::Retrying, m_pool->downList().join(QStringLiteral("; ")),
                 choice.delayMs);
        m_reconnectTimer.start(choice.delayMs);
        return;
    }
    m_receiver = choice.receiver;
    const ReceiverAddress address = m_pool->address(m_receiver);
    m_options.host = address.host; // every message of this connection names it
    m_options.port = address.port;
    Q_EMIT receiverChanged(m_index, address.toString());
    dropSocket();
    if (m_options.tls) {
        auto *tls = new QSslSocket(this);
        tls->setSslConfiguration(tlsConfiguration(*m_options.tls));
        connect(tls, &QSslSocket::encrypted, this, &SenderConnection::onEncrypted);
        // What QSslSocket encrypted waits in a buffer of its own until the kernel takes it:
        // reading goes on when that drains (see pendingBytes()).
        connect(tls, &QSslSocket::encryptedBytesWritten, this, &SenderConnection::onBytesWritten);
        m_socket = tls;
    } else {
        m_socket = new QTcpSocket(this);
        connect(m_socket, &QTcpSocket::connected, this, &SenderConnection::onConnected);
    }
    m_socket->setReadBufferSize(2 * proto::MaxDataFrame);
    connect(m_socket, &QTcpSocket::readyRead, this, &SenderConnection::onReadyRead);
    connect(m_socket, &QTcpSocket::bytesWritten, this, &SenderConnection::onBytesWritten);
    connect(m_socket, &QTcpSocket::errorOccurred, this, &SenderConnection::onSocketError);
    m_reader = proto::FrameReader();
    m_fleet.clear();
    m_fleetOpen = false;
    setState(LinkState::Connecting, QStringLiteral("%1:%2").arg(m_options.host).arg(m_options.port));
    if (auto *tls = qobject_cast<QSslSocket *>(m_socket))
        tls->connectToHostEncrypted(m_options.host, m_options.port);
    else
        m_socket->connectToHost(m_options.host, m_options.port);
    armWatchdog();
}

void SenderConnection::onEncrypted()
{
    // The TLS handshake proved the receiver holds the key of the certificate it showed; it is
    // ours only if that is the certificate we pinned. Nothing is sent before this check.
    auto *tls = static_cast<QSslSocket *>(m_socket);
    const Fingerprint shown = fingerprintOf(tls->peerCertificate());
    if (!m_options.receiverFingerprints.contains(shown)) {
        lose(Error{ErrorCode::AuthFailed,
                   QStringLiteral("the receiver at %1:%2 showed the key %3, not the pinned %4 "
                                  "(send.receiver_fingerprint): another machine, or its key "
                                  "changed; nothing sent")
                       .arg(m_options.host)
                       .arg(m_options.port)
                       .arg(shown.isEmpty() ? QStringLiteral("(none)") : fingerprintText(shown),
                            fingerprintsText(m_options.receiverFingerprints))});
        return;
    }
    onConnected();
}

void SenderConnection::onConnected()
{
    m_socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);
    m_socket->setSocketOption(QAbstractSocket::KeepAliveOption, 1);
    setState(LinkState::Authenticating);
    m_handshake = Handshake::AwaitChallenge;
    m_reader.setMaxFrame(proto::MaxHandshakeFrame);
    m_clientNonce = proto::randomNonce();
    if (m_options.monitor)
        send(proto::Hello{proto::MonitorVersion, proto::Version, helloSource(), m_clientNonce});
    else
        send(proto::Hello{proto::MinVersion, proto::Version, m_options.source, m_clientNonce});
}

void SenderConnection::send(const proto::Message &message)
{
    m_socket->write(proto::encode(message, m_version));
}

void SenderConnection::armWatchdog()
{
    // Only while we wait for the receiver: an idle link costs no wake-ups.
    if (m_state != LinkState::Ready || !m_offers.empty() || !m_closesSent.empty())
        m_watchdog.start();
    else
        m_watchdog.stop();
}

void SenderConnection::onSocketError()
{
    if (!m_socket)
        return;
    // The receiver's last words first (an ERROR saying why): over TLS the close may be
    // reported before the bytes that came with it were read.
    if (m_socket->bytesAvailable() > 0) {
        QPointer<SenderConnection> self(this);
        onReadyRead();
        if (!self || !m_socket)
            return;
    }
    const auto err = m_socket->error();
    const ErrorCode code = m_state == LinkState::Connecting ? ErrorCode::ConnectFailed
                                                            : ErrorCode::PeerClosed;
    if (err == QAbstractSocket::RemoteHostClosedError && m_state == LinkState::Ready
        && m_offers.empty())
        qCInfo(lcSend) << "receiver closed the connection";
    lose(Error{code, QStringLiteral("%1:%2: %3").arg(m_options.host).arg(m_options.port)
                         .arg(m_socket->errorString())});
}

void SenderConnection::lose(const Error &error)
{
    flushReports();
    m_watchdog.stop();
    dropSocket();
    // Everything not confirmed goes back to the engine, unmarked.
    QList<FileTicket> back;
    for (auto &[id, t] : m_offers)
        back.append(t->ticket);
    for (const FileTicket &t : m_pending)
        back.append(t);
    m_offers.clear();
    m_pending.clear();
    m_pendingOrder.clear();
    m_streamQueue.clear();
    m_streamOrder.clear();
    m_current = 0;
    if (!back.isEmpty())
        Q_EMIT returned(m_index, back);
    for (const auto &[id, dbtag] : m_closesSent)
        Q_EMIT dbtagClosed(m_index, dbtag, error);
    m_closesSent.clear();

    m_homeTimer.stop();
    m_wantHome = false;
    if (m_stopping)
        return;
    // The receiver failed us (refused, timed out, failed authentication or the protocol): it
    // backs off, for every link, and this one moves to another receiver if there is one.
    const int failedReceiver = std::exchange(m_receiver, -1);
    const bool blamed = failedReceiver >= 0;
    const bool news = blamed && m_pool->failed(failedReceiver, error.toString());
    const int receivers = m_pool->size();
    // A daemon in the field keeps trying what either side's operator may fix (a secret, a
    // version): it says so loudly and retries with backoff, reading the secret file again.
    const bool fixable = error.code == ErrorCode::AuthFailed ||
                         error.code == ErrorCode::BadVersion || error.code == ErrorCode::ConfigError;
    const bool retries = isTransient(error.code) || (fixable && m_options.maxConnectAttempts == 0)
                         || (blamed && receivers > 1);
    if (retries)
        ++m_failedAttempts;
    // With several receivers, each gets its share of the attempts.
    const bool givingUp = !retries
                          || (m_options.maxConnectAttempts > 0
                              && m_failedAttempts >= m_options.maxConnectAttempts * receivers);
    const auto nextDelay = [&] {
        return blamed ? m_pool->choose(m_index).delayMs
                      : backoffDelayMs(m_failedAttempts, m_options.retryIntervalMs,
                                       m_options.retryMaxMs);
    };
    if (!givingUp && blamed && receivers > 1) {
        const int delay = nextDelay();
        const QString next = delay == 0 ? QStringLiteral("; trying another receiver")
                                        : QStringLiteral("; every receiver is down, retrying in "
                                                         "%1 ms")
                                              .arg(delay);
        // What an operator must fix (a secret, a version) is said loudly, once per reason.
        if (!isTransient(error.code) && news)
            qCCritical(lcSend).noquote() << error.toString() << next;
        else
            qCWarning(lcSend).noquote() << error.toString() << next;
        setState(isTransient(error.code) ? LinkState::Retrying : LinkState::Refused,
                 error.toString(), delay);
        m_reconnectTimer.start(delay);
        return;
    }
    if (!givingUp && !isTransient(error.code)) {
        const int delay = nextDelay();
        if (error.toString() != m_lastRefusal)
            qCCritical(lcSend).noquote() << error.toString() << "; retrying every"
                                         << m_options.retryMaxMs / 1000 << "s at most";
        else
            qCWarning(lcSend).noquote() << error.toString() << "; retrying in" << delay << "ms";
        m_lastRefusal = error.toString();
        setState(LinkState::Refused, error.toString(), delay);
        m_reconnectTimer.start(delay);
        return;
    }
    if (givingUp) {
        if (isTransient(error.code))
            qCCritical(lcSend).noquote() << "giving up after" << m_failedAttempts << "attempts:"
                                         << error.toString();
        else
            qCCritical(lcSend).noquote() << error.toString();
        setState(LinkState::Refused, error.toString());
        for (const Close &c : m_closesWaiting)
            Q_EMIT dbtagClosed(m_index, c.dbtag, error);
        m_closesWaiting.clear();
        Q_EMIT fatal(m_index, error);
        return;
    }
    const int delay = nextDelay();
    qCWarning(lcSend).noquote() << error.toString() << "; reconnecting in" << delay << "ms";
    setState(LinkState::Retrying, error.toString(), delay);
    m_reconnectTimer.start(delay);
}

QString SenderConnection::helloSource() const
{
    return m_options.monitor ? QChar(proto::MonitorMark) + m_options.source : m_options.source;
}

void SenderConnection::sendStatus(const QByteArray &json)
{
    if (m_state != LinkState::Ready || !m_socket || m_options.monitor ||
        m_version < proto::StatusVersion || json.isEmpty())
        return;
    if (json.size() > proto::MaxStatusBytes) {
        qCWarning(lcSend) << "status report of" << json.size() << "bytes not sent: over"
                          << proto::MaxStatusBytes;
        return;
    }
    send(proto::Status{json});
}

void SenderConnection::retryNow()
{
    if (m_state == LinkState::Retrying || m_state == LinkState::Refused) {
        m_reconnectTimer.stop();
        m_failedAttempts = 0;
        m_pool->reset();
        connectNow();
    }
}

void SenderConnection::shutdown()
{
    m_stopping = true;
    m_reconnectTimer.stop();
    m_homeTimer.stop();
    lose(Error{ErrorCode::PeerClosed, QStringLiteral("stopped")});
    for (const Close &c : m_closesWaiting)
        Q_EMIT dbtagClosed(m_index, c.dbtag, Error{ErrorCode::PeerClosed, QStringLiteral("stopped")});
    m_closesWaiting.clear();
    setState(LinkState::Stopped);
    flushReports();
    Q_EMIT stopped(m_index);
}

void SenderConnection::onReadyRead()
{
    if (m_socket && !m_options.tls && m_state == LinkState::Authenticating &&
        m_handshake == Handshake::AwaitChallenge) {
        char first = 0;
        if (m_socket->peek(&first, 1) == 1 &&
            (first == TlsAlertRecord || first == TlsHandshakeRecord)) {
            lose(Error{ErrorCode::AuthFailed,
                       QStringLiteral("the receiver at %1:%2 speaks TLS, and this ED plain TCP: "
                                      "give it a key (general.cert, general.key; `isocket "
                                      "keygen`) and pin the receiver (send.receiver_fingerprint)")
                           .arg(m_options.host)
                           .arg(m_options.port)});
            return;
        }
    }
    while (m_socket) {
        auto r = m_reader.read(m_socket);
        if (!r) {
            lose(r.error());
            return;
        }
        if (!r.value())
            break;
        handle(*r.value());
    }
    armWatchdog();
}

void SenderConnection::handle(const proto::Message &message)
{
    if (const auto *e = std::get_if<proto::ErrorMsg>(&message)) {
        lose(Error{e->code, QStringLiteral("receiver: %1").arg(e->message)});
        return;
    }
    if (m_state == LinkState::Authenticating) {
        // Only the handshake's frames, each in its turn; nothing else before WELCOME.
        const auto *c = std::get_if<proto::Challenge>(&message);
        const auto *w = std::get_if<proto::Welcome>(&message);
        if (c && m_handshake == Handshake::AwaitChallenge) {
            handleChallenge(*c);
        } else if (w && m_handshake == Handshake::AwaitWelcome) {
            handleWelcome(*w);
        } else {
            lose(Error{ErrorCode::BadFrame,
                       QStringLiteral("%1 from the receiver at %2:%3 before it proved the "
                                      "shared secret: not trusted")
                           .arg(proto::typeName(proto::typeOf(message)), m_options.host)
                           .arg(m_options.port)});
        }
        return;
    }
    if (m_state != LinkState::Ready) {
        lose(Error{ErrorCode::BadFrame,
                   QStringLiteral("unexpected %1 from the receiver")
                       .arg(proto::typeName(proto::typeOf(message)))});
        return;
    }
    if (const auto *f = std::get_if<proto::Fleet>(&message); f && m_options.monitor) {
        if (f->first) {
            m_fleet.clear();
            m_fleetOpen = true;
        } else if (!m_fleetOpen) {
            lose(Error{ErrorCode::BadFrame, QStringLiteral("FLEET continued without a start")});
            return;
        }
        if (m_fleet.size() + f->json.size() > proto::MaxFleetBytes) {
            lose(Error{ErrorCode::FrameTooLarge,
                       QStringLiteral("FLEET document over %1 bytes").arg(proto::MaxFleetBytes)});
            return;
        }
        m_fleet += f->json;
        if (f->last) {
            m_fleetOpen = false;
            Q_EMIT fleetReceived(std::exchange(m_fleet, {}));
        }
    } else if (m_options.monitor) {
        lose(Error{ErrorCode::BadFrame, QStringLiteral("unexpected %1 from the receiver")
                                            .arg(proto::typeName(proto::typeOf(message)))});
    } else if (const auto *a = std::get_if<proto::Accept>(&message)) {
        handleAccept(*a);
    } else if (const auto *s = std::get_if<proto::Stored>(&message)) {
        handleStored(*s);
    } else if (const auto *cl = std::get_if<proto::Closed>(&message)) {
        handleClosed(*cl);
    } else {
        lose(Error{ErrorCode::BadFrame,
                   QStringLiteral("unexpected %1 from the receiver").arg(proto::typeName(proto::typeOf(message)))});
    }
}

void SenderConnection::handleWelcome(const proto::Welcome &w)
{
    m_maxInFlight = qMax<quint32>(1, qMin<quint32>(w.maxInFlight, proto::MaxInFlight));
    m_failedAttempts = 0;
    m_lastRefusal.clear();
    m_pool->succeeded(m_receiver);
    m_reader.setMaxFrame(proto::MaxDataFrame);
    qCInfo(lcSend).noquote() << "connected to" << m_options.host << m_options.port << "as"
                             << m_options.source;
    setState(LinkState::Ready);
    while (!m_closesWaiting.empty()) {
        Close waiting = std::move(m_closesWaiting.front());
        m_closesWaiting.pop_front();
        closeDbtag(waiting.dbtag, waiting.files);
    }
    armHomeTimer();
    pumpOffers();
}

void SenderConnection::handleChallenge(const proto::Challenge &c)
{
    if (c.version < proto::MinVersion || c.version > proto::Version) {
        lose(Error{ErrorCode::BadVersion, QStringLiteral("receiver chose protocol version %1").arg(c.version)});
        return;
    }
    if (m_options.monitor && c.version < proto::MonitorVersion) {
        lose(Error{ErrorCode::BadVersion,
                   QStringLiteral("receiver chose protocol version %1; a monitor needs %2")
                       .arg(c.version)
                       .arg(proto::MonitorVersion)});
        return;
    }
    const QByteArray expected = proto::proof(m_options.secret, proto::Role::Receiver, m_clientNonce,
                                             c.nonce, helloSource());
    if (!proto::proofMatches(expected, c.proof)) {
        // An impostor (or a receiver with another secret): never trust its acknowledgements.
        const QString receiver = QStringLiteral("the receiver at %1:%2").arg(m_options.host).arg(m_options.port);
        const QString why = secretMismatch(m_options.secret, c.proof, proto::Role::Receiver,
                                           m_clientNonce, c.nonce, helloSource(), receiver);
        // Said to the receiver too, so that its operator sees a failed authentication.
        send(proto::ErrorMsg{ErrorCode::AuthFailed,
                             QStringLiteral("the sender '%1' could not verify this receiver's "
                                            "proof of the shared secret")
                                 .arg(m_options.source)});
        m_socket->flush();
        lose(Error{ErrorCode::AuthFailed,
                   QStringLiteral("%1 could not prove it knows the shared secret: %2")
                       .arg(receiver, why)});
        return;
    }
    m_handshake = Handshake::AwaitWelcome;
    m_version = c.version;
    m_reader.setVersion(m_version);
    Q_EMIT versionAgreed(m_index, m_version);
    send(proto::Auth{proto::proof(m_options.secret, proto::Role::Sender, m_clientNonce, c.nonce,
                                  helloSource())});
}

int SenderConnection::room() const
{
    if (m_state != LinkState::Ready)
        return 0;
    const int cap = qMin<int>(m_options.window, static_cast<int>(m_maxInFlight));
    return qMax(0, cap - static_cast<int>(m_offers.size() + m_pending.size()));
}

void SenderConnection::addTickets(const QList<FileTicket> &tickets)
{
    if (m_state != LinkState::Ready) {
        flushReports();
        Q_EMIT returned(m_index, tickets);
        return;
    }
    for (const FileTicket &t : tickets)
        m_pendingOrder.push(m_pending, t, t.live);
    pumpOffers();
}

void SenderConnection::pumpOffers()
{
    const int cap = qMin<int>(m_options.window, static_cast<int>(m_maxInFlight));
    while (m_state == LinkState::Ready && !m_pending.empty()
           && static_cast<int>(m_offers.size()) < cap) {
        FileTicket ticket = std::move(m_pending.front());
        m_pending.pop_front();
        m_pendingOrder.popped();
        // Before version 3 a name travels as UTF-8 text without control characters; the engine
        // makes such files skipped entries on those connections (EdEngine::setPeerVersion()).
        const NameRules rules = nameRules();
        if (auto r = validateName(ticket.dbtag, QStringLiteral("dbtag"), rules); !r) {
            reportFailed(ticket, r.error());
            continue;
        }
        if (auto r = validateRelativePath(ticket.relPath, QStringLiteral("path"), rules); !r) {
            reportFailed(ticket, r.error());
            continue;
        }
        // A symbolic link the engine follows is read at its target, which is resolved (no link
        // in it) and opened without following links: it is still the file found inside the
        // data root, or the offer fails.
        const QString source = ticket.linkTarget.isEmpty() ? ticket.absPath : ticket.linkTarget;
        struct stat st;
        if (::lstat(nativePath(source).constData(), &st) != 0) {
            const int err = errno;
            reportFailed(ticket, Error{err == ENOENT ? ErrorCode::FileVanished : ErrorCode::IoError,
                                       QStringLiteral("%1: %2").arg(displayName(ticket.absPath),
                                                                    osError(err))});
            continue;
        }
        if (!S_ISREG(st.st_mode)) {
            reportFailed(
                ticket, Error{ErrorCode::Unsupported,
                              QStringLiteral("%1 is not a regular file").arg(displayName(source))});
            continue;
        }
        auto t = std::make_unique<Transfer>();
        t->ticket = std::move(ticket);
        t->id = m_nextId++;
        t->offered = stampOf(st);
        send(proto::Offer{t->id, t->ticket.dbtag, t->ticket.relPath,
                          static_cast<quint64>(t->offered.size), t->offered.mtimeNs});
        m_offers.emplace(t->id, std::move(t));
    }
    armWatchdog();
    maybeGoHome();
}

void SenderConnection::handleAccept(const proto::Accept &a)
{
    auto it = m_offers.find(a.id);
    if (it == m_offers.end() || it->second->streaming) {
        lose(Error{ErrorCode::BadFrame, QStringLiteral("ACCEPT for unknown file %1").arg(a.id)});
        return;
    }
    Transfer &t = *it->second;
    if (a.decision == proto::Decision::Refused) {
        const FileTicket ticket = t.ticket;
        m_offers.erase(it);
        reportFailed(ticket, Error{a.code, QStringLiteral("receiver refused %1/%2: %3")
                                               .arg(ticket.dbtag, ticket.relPath, a.message)});
        pumpOffers();
        return;
    }
    const QString &source = t.ticket.linkTarget.isEmpty() ? t.ticket.absPath : t.ticket.linkTarget;
    t.fd = UniqueFd(::open(nativePath(source).constData(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!t.fd.valid()) {
        const int err = errno;
        cancel(a.id, Error{err == ENOENT ? ErrorCode::FileVanished : ErrorCode::IoError,
                           QStringLiteral("%1: %2").arg(t.ticket.absPath, osError(err))});
        return;
    }
    // A file streamed from the start needs no stat here: pumpData() compares the file with what
    // was offered after reading it, before END. Where its content is used before that (already
    // stored, resume), it must be the file that was offered now.
    if (a.decision == proto::Decision::AlreadyStored || a.offset > 0) {
        struct stat st;
        if (::fstat(t.fd.get(), &st) != 0) {
            const int err = errno;
            cancel(a.id, Error{ErrorCode::IoError,
                               QStringLiteral("%1: %2").arg(t.ticket.absPath, osError(err))});
            return;
        }
        if (stampOf(st) != t.offered) {
            cancel(a.id, Error{ErrorCode::FileChanged,
                               QStringLiteral("%1 changed").arg(t.ticket.absPath)});
            return;
        }
    }
    if (t.offered.size > m_options.chunkSize) // one read of a small file has nothing to gain
        ::posix_fadvise(t.fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    if (a.decision == proto::Decision::AlreadyStored) {
        // Same size and mtime at the final name: if the content is ours too, it is delivered.
        if (auto r = hashFileRange(t.fd.get(), t.offered.size, t.hasher); !r) {
            cancel(a.id, r.error());
            return;
        }
        if (t.hasher.result() == a.hash) {
            const FileTicket ticket = t.ticket;
            const FileStamp stamp = t.offered;
            send(proto::Cancel{a.id});
            m_offers.erase(it);
            qCInfo(lcSend).noquote() << "already on the receiver:" << ticket.dbtag + QLatin1Char('/') + ticket.relPath;
            reportDelivered(ticket, stamp, 0, 0); // nothing streamed
            pumpOffers();
            return;
        }
        t.hasher.reset();
        t.offset = 0;
    } else if (a.offset > 0) {
        // Resume: only if the receiver's partial is a prefix of our file.
        if (a.offset <= static_cast<quint64>(t.offered.size)
            && hashFileRange(t.fd.get(), static_cast<qint64>(a.offset), t.hasher).ok()
            && t.hasher.result() == a.hash) {
            t.offset = static_cast<qint64>(a.offset);
        } else {
            t.hasher.reset();
            t.offset = 0;
        }
    }
    t.pos = t.offset;
    t.streaming = true;
    m_streamOrder.push(m_streamQueue, a.id, t.ticket.live);
    if (m_current == 0)
        startNextStream();
}

void SenderConnection::startNextStream()
{
    while (m_current == 0 && !m_streamQueue.empty()) {
        const quint32 id = m_streamQueue.front();
        m_streamQueue.pop_front();
        m_streamOrder.popped();
        auto it = m_offers.find(id);
        if (it == m_offers.end())
            continue;
        m_current = id;
        Transfer &t = *it->second;
        t.clock.start(); // duration and rate count from the first byte, not from the queue
        send(proto::Begin{id, static_cast<quint64>(t.offset)});
        reportProgress(FileReport::Kind::Started, t, t.offset);
    }
    pumpData();
}

void SenderConnection::onBytesWritten()
{
    armWatchdog();
    if (!m_pumping)
        pumpData();
}

qint64 SenderConnection::pendingBytes() const
{
    // bytesToWrite() of a QSslSocket counts only what it has not encrypted yet; without the
    // encrypted rest, a 1 GiB file was read into 400 MiB of buffers ahead of the network.
    auto *tls = m_options.tls ? static_cast<QSslSocket *>(m_socket) : nullptr;
    return m_socket->bytesToWrite() + (tls ? tls->encryptedBytesToWrite() : 0);
}

bool SenderConnection::writeData(quint32 id, const char *data, qint64 size)
{
    // Our caller's loop goes on after us: the bytesWritten of our flushes starts no other.
    QScopedValueRollback pumping(m_pumping, true);
    const QByteArray head = proto::encodeDataHead(id, static_cast<quint32>(size));
    // Over TLS every byte goes through QSslSocket, which encrypts it.
    const bool direct = size >= DirectWriteMinBytes && !m_options.tls;
    qint64 sent = 0; // by us, straight to the kernel
    if (direct) {
        // QTcpSocket copies what it is given into a buffer of its own, fresh memory of each
        // sender process (a page fault per 4 KiB: half of those of a sender of 16 MiB), and
        // hands it to the kernel only once the event loop runs again. A large frame goes
        // straight to the kernel instead when nothing waits in that buffer (what does is
        // flushed first, to keep the order); only what the kernel does not take waits there,
        // and then the kernel is full: the caller stops reading until it has taken that.
        // Small frames are left to QTcpSocket, which sends many of them in one write.
        if (m_socket->bytesToWrite() > 0)
            m_socket->flush();
        if (m_socket->bytesToWrite() == 0) {
            iovec iov[2] = {{const_cast<char *>(head.constData()), size_t(head.size())},
                            {const_cast<char *>(data), size_t(size)}};
            msghdr msg = {};
            msg.msg_iov = iov;
            msg.msg_iovlen = 2;
            // A failure (the kernel's buffer full, or the connection broken) sends nothing
            // here: QTcpSocket takes all of it and waits, or reports the error, as for any
            // write.
            const int fd = int(m_socket->socketDescriptor());
            sent = qMax<qint64>(0, ::sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL));
            if (sent > 0)
                armWatchdog();
            if (sent == head.size() + size)
                return true;
        }
    }
    // What we did not send goes through QTcpSocket.
    if (sent < head.size())
        m_socket->write(head.constData() + sent, head.size() - sent);
    const qint64 done = qMax<qint64>(0, sent - head.size());
    m_socket->write(data + done, size - done);
    if (direct)
        return false;
    m_unflushed += size;
    if (m_unflushed >= FlushBytes) {
        m_unflushed = 0;
        m_socket->flush();
    }
    return pendingBytes() < HighWater;
}

void SenderConnection::pumpData()
{
    while (m_socket && m_current != 0 && pendingBytes() < HighWater) {
        auto it = m_offers.find(m_current);
        if (it == m_offers.end()) {
            m_current = 0;
            startNextStream();
            return;
        }
        Transfer &t = *it->second;
        const qint64 left = t.offered.size - t.pos;
        if (left > 0) {
            const qint64 want = qMin<qint64>(left, m_options.chunkSize);
            if (const int wait = m_rate->take(want); wait > 0) {
                if (!m_throttle.isActive())
                    m_throttle.start(wait);
                return;
            }
            m_buffer.resize(want);
            const ssize_t n = ::pread(t.fd.get(), m_buffer.data(), static_cast<size_t>(want), t.pos);
            if (n <= 0) {
                const int err = errno;
                cancel(t.id, n == 0 ? Error{ErrorCode::FileChanged,
                                            QStringLiteral("%1 shrank while it was read").arg(t.ticket.absPath)}
                                    : Error{ErrorCode::IoError, QStringLiteral("cannot read %1: %2")
                                                                    .arg(t.ticket.absPath, osError(err))});
                continue;
            }
            t.hasher.add(m_buffer.constData(), n);
            const bool kernelFull = !writeData(t.id, m_buffer.constData(), n);
            t.pos += n;
            const qint64 ms = t.clock.elapsed();
            if (ms - t.lastProgressMs >= ProgressIntervalMs) {
                t.lastProgressMs = ms;
                reportProgress(FileReport::Kind::Progress, t, t.pos);
            }
            if (kernelFull)
                return; // reading more now only fills memory: bytesWritten pumps on
            continue;
        }
        // All read: the file must not have changed while we read it.
        struct stat st;
        if (::fstat(t.fd.get(), &st) != 0 || stampOf(st) != t.offered) {
            cancel(t.id, Error{ErrorCode::FileChanged,
                               QStringLiteral("%1 changed while it was read").arg(t.ticket.absPath)});
            continue;
        }
        send(proto::End{t.id, t.hasher.result()});
        t.ended = true;
        if (!m_keepFiles)
            t.fd.reset();
        reportProgress(FileReport::Kind::Progress, t, t.pos);
        m_current = 0;
        startNextStream();
        return;
    }
}

void SenderConnection::cancel(quint32 id, const Error &error)
{
    auto it = m_offers.find(id);
    if (it == m_offers.end())
        return;
    const FileTicket ticket = it->second->ticket;
    send(proto::Cancel{id});
    m_offers.erase(it);
    if (m_current == id)
        m_current = 0;
    reportFailed(ticket, error);
    startNextStream();
    pumpOffers();
}

void SenderConnection::handleStored(const proto::Stored &s)
{
    auto it = m_offers.find(s.id);
    if (it == m_offers.end() || !it->second->ended) {
        lose(Error{ErrorCode::BadFrame, QStringLiteral("STORED for file %1 that was not sent").arg(s.id)});
        return;
    }
    std::unique_ptr<Transfer> t = std::move(it->second);
    m_offers.erase(it);
    if (s.code == ErrorCode::Ok) {
        reportDelivered(t->ticket, t->offered, t->offered.size - t->offset, t->clock.elapsed());
        if (t->fd.valid())
            m_reports.last().file = std::make_shared<const UniqueFd>(std::move(t->fd));
    } else {
        reportFailed(t->ticket, Error{s.code, QStringLiteral("receiver could not store %1/%2: %3")
                                                  .arg(displayName(t->ticket.dbtag),
                                                       displayName(t->ticket.relPath), s.message)});
    }
    pumpOffers();
}

void SenderConnection::closeDbtag(const QString &dbtag, const QList<proto::ManifestEntry> &files)
{
    if (m_state != LinkState::Ready) {
        m_closesWaiting.push_back({dbtag, files});
        return;
    }
    const quint32 id = m_nextId++;
    QList<proto::ManifestEntry> listed = files;
    if (m_version < proto::SkippedVersion &&
        std::any_of(files.cbegin(), files.cend(),
                    [](const proto::ManifestEntry &e) { return !e.skipped.isEmpty(); })) {
        // Its manifest could not name them: the dbtag is not finished as if it were whole.
        flushReports();
        Q_EMIT dbtagClosed(m_index, dbtag,
                           Error{ErrorCode::Unsupported,
                                 QStringLiteral("%1 has skipped entries, and the receiver speaks "
                                                "protocol version %2, whose manifest cannot name "
                                                "them; upgrade the receiver")
                                     .arg(dbtag)
                                     .arg(m_version)});
        return;
    }
    if (m_version < proto::OutsideVersion) // a v1 receiver knows no MANIFEST_OUTSIDE
        listed.removeIf([](const proto::ManifestEntry &e) { return e.outside; });
    if (!proto::namesAreBytes(m_version)) {
        if (auto r = validateName(dbtag, QStringLiteral("dbtag"), NameRules::Text); !r) {
            flushReports();
            Q_EMIT dbtagClosed(m_index, dbtag,
                               Error{ErrorCode::Unsupported,
                                     QStringLiteral("%1; the receiver speaks protocol version %2, "
                                                    "whose names are UTF-8 text; upgrade the "
                                                    "receiver")
                                         .arg(r.error().message)
                                         .arg(m_version)});
            return;
        }
        // A skipped entry's name is text for humans there, written as the ED shows it.
        for (proto::ManifestEntry &e : listed)
            if (!e.skipped.isEmpty() && !validateRelativePath(e.path, QString(), NameRules::Text))
                e.path = displayName(e.path);
    }
    send(proto::CloseDbtag{id, dbtag, static_cast<quint32>(listed.size())});
    for (const proto::Manifest &m : proto::splitManifest(id, listed, m_version))
        send(m);
    m_closesSent.emplace(id, dbtag);
    armWatchdog();
}

void SenderConnection::handleClosed(const proto::Closed &c)
{
    auto it = m_closesSent.find(c.id);
    if (it == m_closesSent.end()) {
        lose(Error{ErrorCode::BadFrame, QStringLiteral("CLOSED for unknown request %1").arg(c.id)});
        return;
    }
    const QString dbtag = it->second;
    m_closesSent.erase(it);
    flushReports();
    Q_EMIT dbtagClosed(m_index, dbtag, Error{c.code, c.message});
    maybeGoHome();
}

void SenderConnection::armHomeTimer()
{
    const int home = m_pool->home(m_index);
    if (m_receiver < 0 || m_receiver == home)
        return;
    m_homeTimer.start(m_pool->msUntilFree(home));
}

bool SenderConnection::busy() const
{
    return !m_offers.empty() || !m_pending.empty() || !m_closesSent.empty()
           || !m_closesWaiting.empty();
}

void SenderConnection::maybeGoHome()
{
    if (!m_wantHome || m_stopping || m_state != LinkState::Ready || busy())
        return;
    m_wantHome = false;
    const int home = m_pool->home(m_index);
    if (const int wait = m_pool->msUntilFree(home); wait > 0) {
        m_homeTimer.start(wait); // it failed again meanwhile (tried by another link)
        return;
    }
    // Nothing in flight: this connection ends without a loss. Anything the Sender posts to it
    // meanwhile comes back (addTickets) or waits for the next connection (closeDbtag).
    qCInfo(lcSend).noquote() << "leaving" << m_pool->address(m_receiver).toString()
                             << "for this link's own receiver" << m_pool->address(home).toString();
    m_watchdog.stop();
    dropSocket();
    m_receiver = -1;
    setState(LinkState::Retrying, QStringLiteral("back to its own receiver"), 0);
    m_reconnectTimer.start(0); // not from inside the socket's signal that brought us here
}

} // namespace isocket
