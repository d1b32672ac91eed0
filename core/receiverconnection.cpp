#include "core/receiverconnection.h"

#include <sys/socket.h>

#include <algorithm>

#include <QHostAddress>
#include <QJsonDocument>
#include <QJsonObject>
#include <QPointer>
#include <QSslSocket>
#include <QTcpSocket>

#include "core/config.h"
#include "core/fleetregistry.h"
#include "core/fsname.h"
#include "core/logging.h"
#include "core/receiver.h" // ReceiverOptions
#include "core/secret.h"

namespace isocket {

using namespace proto;

namespace {

// Peer-supplied text made safe for one log line (control characters escaped).
// `text` for a log line: control characters escaped, and at most `max` characters of it (what
// a peer chose to send us is not ours to copy whole).
QString printable(const QString &text, qsizetype max = 1024)
{
    // Names are bytes: shown escaped (core/fsname.h), as everywhere else.
    if (text.size() <= max)
        return displayName(text);
    return displayName(text.left(max)) + QStringLiteral("... (%1 characters)").arg(text.size());
}

// What a connection reads from its socket before it authenticated: enough for the largest
// handshake frame (MaxHandshakeFrame) and the next.
constexpr qint64 HandshakeReadBuffer = 2 * MaxHandshakeFrame;

QString rate(qint64 bytes, qint64 ms)
{
    const double mib = double(bytes) / (1024.0 * 1024.0);
    const double seconds = qMax<qint64>(ms, 1) / 1000.0;
    return QStringLiteral("%1 MiB/s").arg(mib / seconds, 0, 'f', 1);
}

} // namespace

ReceiverConnection::ReceiverConnection(quint64 id, QTcpSocket *socket, const QByteArray &peer,
                                       ConnectionHost &host, QObject *parent)
    : QObject(parent), m_id(id), m_socket(socket), m_host(host), m_peerKey(peer)
{
    m_socket->setParent(this);
    m_peerAddress = m_socket->peerAddress().toString() + QLatin1Char(':') +
                    QString::number(m_socket->peerPort());
    // Until WELCOME only handshake frames are legal: a peer without the secret makes us hold
    // one of them at most, in a small buffer (issue 13). handleAuth() widens both.
    m_reader.setMaxFrame(MaxHandshakeFrame);
    m_socket->setReadBufferSize(HandshakeReadBuffer);

    m_deadline.setSingleShot(true);
    connect(&m_deadline, &QTimer::timeout, this, [this] {
        if (m_phase == Phase::Closing) {
            m_socket->abort();
            return;
        }
        fail(ErrorCode::Timeout,
             QStringLiteral("handshake not finished within %1 s").arg(HandshakeTimeoutMs / 1000));
    });
    m_deadline.start(HandshakeTimeoutMs);
    m_idle.setSingleShot(true);
    connect(&m_idle, &QTimer::timeout, this, [this] {
        // While we hash a partial the peer waits for our ACCEPT: the silence is ours.
        if (std::any_of(m_transfers.begin(), m_transfers.end(), [](const auto &e) {
                return e.second->stage() == IncomingFile::Stage::Hashing;
            }))
            return m_idle.start(IdleTimeoutMs);
        fail(ErrorCode::Timeout, QStringLiteral("silent for %1 s with %2 files in flight")
                                     .arg(IdleTimeoutMs / 1000)
                                     .arg(m_transfers.size()));
    });
    m_socket->setSocketOption(QAbstractSocket::KeepAliveOption, 1);
    // Our answers are small frames the ED waits for (ACCEPT, STORED): never held back for
    // Nagle's algorithm, which over TLS (a record per write) cost 170 ms per batch.
    m_socket->setSocketOption(QAbstractSocket::LowDelayOption, 1);

    m_tls = qobject_cast<QSslSocket *>(m_socket);
    if (m_tls) {
        // The first byte tells a TLS ClientHello from a plain HELLO (readFrames() starts the
        // encryption, or answers a plain ERROR that says why); frames come only once the TLS
        // handshake is done (readyRead then carries decrypted bytes). The handshake deadline
        // above covers it too.
        m_tls->setSslConfiguration(tlsConfiguration(*m_host.options().tls));
        connect(m_tls, &QSslSocket::errorOccurred, this, [this](QAbstractSocket::SocketError e) {
            if (e != QAbstractSocket::SslHandshakeFailedError || !m_host.mayLogUnauthenticated())
                return;
            qCWarning(lcRecv).noquote()
                << "TLS handshake with" << m_peerAddress << "failed:"
                << printable(m_tls->errorString(), 200)
                << "(an ED without TLS? give it a key and this receiver's fingerprint)";
        });
    }

    connect(m_socket, &QTcpSocket::readyRead, this, &ReceiverConnection::onReadyRead);
    connect(m_socket, &QTcpSocket::disconnected, this, &ReceiverConnection::onDisconnected);
    connect(m_socket, &QTcpSocket::bytesWritten, this, [this] {
        // After an ERROR: once it has left, half-close so the peer reads it before we go.
        if (m_phase == Phase::Closing && !(m_tls && m_tls->isEncrypted()) &&
            m_socket->bytesToWrite() == 0)
            ::shutdown(int(m_socket->socketDescriptor()), SHUT_WR);
    });
    // Data may have arrived before we connected to readyRead.
    QMetaObject::invokeMethod(this, &ReceiverConnection::onReadyRead, Qt::QueuedConnection);
}

ReceiverConnection::~ReceiverConnection()
{
    leaveUnauthenticated();
}

void ReceiverConnection::leaveUnauthenticated()
{
    if (std::exchange(m_admitted, false))
        m_host.leave(m_peerKey);
}

void ReceiverConnection::abort()
{
    if (m_phase == Phase::Done)
        return;
    m_socket->abort();
    onDisconnected(); // no-op when abort() already reported the disconnection
}

void ReceiverConnection::onReadyRead()
{
    QPointer<ReceiverConnection> self(this);
    readFrames();
    if (self)
        m_writer.flush(); // all that has arrived is read: no stage held until the next frame
    if (self && m_tls && m_phase != Phase::Done && !m_heldBack)
        resumeDecrypting();
}

void ReceiverConnection::resumeDecrypting()
{
    // QSslSocket stops decrypting once its buffer holds readBufferSize() bytes, and starts
    // again only when a read asks it for more than its buffer holds. The reader takes whole
    // frames out of the buffer and leaves the first bytes of the next one, so that never
    // happens: with a large file the connection stalled for good after ~13 MiB. What QSslSocket
    // itself calls when a read drains it is asked for here (queued, as it does).
    static const int flush =
        QSslSocket::staticMetaObject.indexOfMethod("_q_flushReadBuffer()");
    if (flush >= 0 && m_tls->bytesAvailable() < m_tls->readBufferSize())
        QSslSocket::staticMetaObject.method(flush).invoke(m_tls, Qt::QueuedConnection);
}

void ReceiverConnection::readFrames()
{
    QPointer<ReceiverConnection> self(this);
    m_host.store().startBatch();
    while (self && m_phase != Phase::Done && !m_heldBack) {
        if (m_phase == Phase::Closing) {
            m_socket->readAll(); // drained and ignored until the peer closes
            return;
        }
        if (m_phase == Phase::AwaitHello && (!m_tls || !m_tls->isEncrypted())) {
            if (m_tls && m_tls->mode() != QSslSocket::UnencryptedMode)
                return; // the TLS handshake is under way
            // Unencrypted, QSslSocket peeks at the kernel's bytes without taking them.
            char first = 0;
            if (m_socket->peek(&first, 1) != 1)
                return;
            if (m_tls && first == TlsHandshakeRecord) {
                m_tls->startServerEncryption();
                return;
            }
            if (m_tls)
                return fail(ErrorCode::AuthFailed,
                            QStringLiteral("this receiver speaks TLS, and the ED plain TCP: give "
                                           "the ED a key (general.cert, general.key; `isocket "
                                           "keygen`) and pin this receiver "
                                           "(send.receiver_fingerprint)"),
                            true);
            if (first == TlsHandshakeRecord)
                return fail(ErrorCode::AuthFailed,
                            QStringLiteral("the peer speaks TLS, and this receiver plain TCP: "
                                           "give this receiver a key (general.cert, general.key) "
                                           "and its EDs (receive.peers)"),
                            true);
        }
        if (!readDataDirect()) {
            auto r = m_reader.read(m_socket);
            if (!r) {
                fail(r.error().code, r.error().message);
                return;
            }
            if (!r.value())
                return;
            handle(std::move(*r.value()));
        }
        if (self && m_phase == Phase::Ready) {
            if (m_transfers.empty())
                m_idle.stop();
            else
                m_idle.start(IdleTimeoutMs);
        }
    }
}

void ReceiverConnection::handle(Message &&message)
{
    const bool handshake = m_phase == Phase::AwaitHello || m_phase == Phase::AwaitAuth;
    if (m_phase == Phase::AwaitHello) {
        if (auto *m = std::get_if<Hello>(&message))
            return handleHello(*m);
    } else if (m_phase == Phase::AwaitAuth) {
        if (auto *m = std::get_if<Auth>(&message))
            return handleAuth(*m);
    } else if (m_phase == Phase::Ready && m_monitor) {
        // A monitor only listens (docs/PROTOCOL.md 2.7): any frame but ERROR is refused below.
    } else if (m_phase == Phase::Ready && m_close) {
        // Nothing else may come between CLOSE_DBTAG and its last MANIFEST.
        if (auto *m = std::get_if<Manifest>(&message))
            return handleManifest(*m);
    } else if (m_phase == Phase::Ready) {
        if (auto *m = std::get_if<Offer>(&message))
            return handleOffer(*m);
        if (auto *m = std::get_if<Begin>(&message))
            return handleBegin(*m);
        if (auto *m = std::get_if<Data>(&message))
            return holdBack(*m) ? void() : handleData(*m);
        if (auto *m = std::get_if<End>(&message))
            return handleEnd(*m);
        if (auto *m = std::get_if<Cancel>(&message))
            return handleCancel(*m);
        if (auto *m = std::get_if<CloseDbtag>(&message))
            return handleCloseDbtag(*m);
        if (auto *m = std::get_if<Manifest>(&message))
            return handleManifest(*m);
        if (auto *m = std::get_if<Status>(&message))
            return handleStatus(*m);
    }
    if (auto *m = std::get_if<ErrorMsg>(&message); m && m_phase == Phase::AwaitAuth &&
                                                     m->code == ErrorCode::AuthFailed) {
        // The ED could not verify our CHALLENGE: the secrets do not agree (or we are taken for
        // an impostor). A failed authentication for the operator, like a bad AUTH.
        const QString reason =
            QStringLiteral("source '%1' could not verify this receiver's proof: the shared "
                           "secrets differ, or one side has none")
                .arg(printable(m_source, 64));
        emit authFailed(m_peerAddress, reason);
        countAuthFailure();
        if (m_host.mayLogUnauthenticated())
            qCWarning(lcRecv).noquote() << "authentication failed:" << m_peerAddress << reason;
        m_phase = Phase::Closing;
        leaveUnauthenticated(); // it reads nothing more into memory: its place is free
        m_socket->disconnectFromHost();
        return;
    }
    if (auto *m = std::get_if<ErrorMsg>(&message)) {
        // The peer gives up on us; say nothing back.
        if (!handshake || m_host.mayLogUnauthenticated())
            qCWarning(lcRecv).noquote() << m_peerAddress << "sent ERROR" << errorName(m->code)
                                        << printable(m->message, handshake ? 200 : 1024);
        m_phase = Phase::Closing;
        leaveUnauthenticated(); // it reads nothing more into memory: its place is free
        m_socket->disconnectFromHost();
        return;
    }
    if (m_monitor && m_phase == Phase::Ready)
        return fail(ErrorCode::BadFrame,
                    QStringLiteral("%1 from a monitor: a monitor only listens")
                        .arg(typeName(typeOf(message))));
    fail(ErrorCode::BadFrame,
         QStringLiteral("%1 not expected %2")
             .arg(typeName(typeOf(message)),
                  handshake ? QStringLiteral("during the handshake") : QStringLiteral("here")));
}

QByteArray ReceiverConnection::peerSecret() const
{
    return m_monitor ? m_host.monitorSecret() : m_host.secret();
}

void ReceiverConnection::countAuthFailure()
{
    if (!m_monitor && !m_source.isEmpty())
        m_host.fleet().authFailed(m_source, peerHost());
}

QString ReceiverConnection::peerHost() const
{
    QHostAddress address = m_socket->peerAddress();
    bool v4 = false;
    if (const quint32 ip = address.toIPv4Address(&v4); v4)
        address = QHostAddress(ip);
    return address.toString();
}

void ReceiverConnection::handleStatus(const Status &m)
{
    QJsonParseError error{};
    const QJsonDocument json = QJsonDocument::fromJson(m.json, &error);
    std::optional<EdHealth> health;
    if (error.error == QJsonParseError::NoError && json.isObject())
        health = EdHealth::fromJson(json.object());
    if (!health) {
        if (!m_badStatusLog.isValid() || m_badStatusLog.elapsed() > 60'000) {
            m_badStatusLog.start();
            qCWarning(lcRecv).noquote()
                << m_peerAddress << QStringLiteral("(%1)").arg(m_source)
                << "sent a STATUS that is not a health report, ignored:"
                << (error.error != QJsonParseError::NoError ? error.errorString()
                                                            : QStringLiteral("keys missing"));
        }
        return;
    }
    m_host.fleet().statusReported(m_source, *health);
}

void ReceiverConnection::sendFleet(const QByteArray &document)
{
    if (!m_monitor || m_phase != Phase::Ready)
        return;
    for (const Fleet &frame : splitFleet(document))
        send(frame);
}

void ReceiverConnection::handleHello(const Hello &m)
{
    const bool monitor = isMonitorSource(m.source);
    if (auto r = validateName(monitor ? monitorName(m.source) : m.source,
                              monitor ? QStringLiteral("monitor name") : QStringLiteral("source"));
        !r)
        return fail(ErrorCode::BadPath, r.error().message);
    if (monitor && m.maxVersion < MonitorVersion)
        return fail(ErrorCode::BadVersion,
                    QStringLiteral("a monitor needs version %1, it offered %2..%3")
                        .arg(MonitorVersion)
                        .arg(m.minVersion)
                        .arg(m.maxVersion));
    if (m.minVersion > Version || m.maxVersion < MinVersion)
        return fail(ErrorCode::BadVersion,
                    QStringLiteral("versions %1..%2 offered, this receiver speaks %3..%4")
                        .arg(m.minVersion)
                        .arg(m.maxVersion)
                        .arg(MinVersion)
                        .arg(Version));
    if (m_tls) {
        const Fingerprint fingerprint = fingerprintOf(m_tls->peerCertificate());
        if (auto why = peerRefusal(*m_host.peers(), m.source, fingerprint)) {
            emit authFailed(m_peerAddress, *why);
            if (!monitor)
                m_host.fleet().authFailed(m.source, peerHost());
            return fail(ErrorCode::AuthFailed, *why, true); // the peer's part is cut short
        }
        m_fingerprint = fingerprint;
    }
    m_version = qMin(m.maxVersion, Version);
    m_reader.setVersion(m_version);
    m_source = m.source;
    m_monitor = monitor;
    m_clientNonce = m.nonce;
    m_serverNonce = randomNonce();
    send(Challenge{m_version, m_serverNonce,
                   proof(peerSecret(), Role::Receiver, m_clientNonce, m_serverNonce, m_source)});
    m_phase = Phase::AwaitAuth;
}

void ReceiverConnection::handleAuth(const Auth &m)
{
    const QByteArray secret = peerSecret();
    const QByteArray expected = proof(secret, Role::Sender, m_clientNonce, m_serverNonce, m_source);
    if (!proofMatches(expected, m.proof)) {
        const QString reason =
            QStringLiteral("%1 '%2' does not know the %3: %4")
                .arg(m_monitor ? QStringLiteral("monitor") : QStringLiteral("source"),
                     printable(m_source, 64),
                     m_monitor ? QStringLiteral("monitor secret") : QStringLiteral("shared secret"),
                     secretMismatch(secret, m.proof, Role::Sender, m_clientNonce, m_serverNonce,
                                    m_source,
                                    m_monitor ? QStringLiteral("the monitor")
                                              : QStringLiteral("the ED")));
        emit authFailed(m_peerAddress, reason);
        countAuthFailure();
        return fail(ErrorCode::AuthFailed, reason);
    }
    m_deadline.stop();
    m_phase = Phase::Ready;
    leaveUnauthenticated();
    // A peer that floods us now is held back by TCP, not buffered here: room for the largest
    // DATA frame whole (its length too) and a few small frames; the next waits in the kernel.
    // (Two frames' room cost a receiver serving 200 busy EDs up to 2 MiB per connection, and
    // up to twice that with TLS, whose socket has its own buffer of the same size.)
    m_reader.setMaxFrame(MaxDataFrame);
    m_socket->setReadBufferSize(qint64(MaxDataFrame) + 64 * 1024);
    send(Welcome{MaxInFlight, MaxChunk});
    m_registered = true;
    if (m_monitor) {
        // A monitor sends nothing more worth buffering: any frame is refused.
        m_reader.setMaxFrame(MaxHandshakeFrame);
        qCInfo(lcRecv).noquote() << m_peerAddress << "authenticated as the monitor"
                                 << monitorName(m_source);
        m_host.countMonitor(+1);
        sendFleet(m_host.fleetDocument());
    } else {
        m_host.fleet().authenticated(m_source, peerHost());
        qCInfo(lcRecv).noquote() << m_peerAddress << "authenticated as" << m_source;
    }
    emit peerAuthenticated(m_id, m_source);
}

std::optional<QString> ReceiverConnection::peerRefusal(const PeerList &peers,
                                                       const QString &source,
                                                       const Fingerprint &fingerprint) const
{
    if (fingerprint.isEmpty())
        return QStringLiteral("source '%1' showed no certificate; an ED proves who it is with "
                              "its key (`isocket keygen`, general.cert and general.key)")
            .arg(printable(source, 64));
    if (peers.allows(source, fingerprint))
        return std::nullopt;
    const QStringList listed = peers.sourcesOf(fingerprint);
    if (listed.isEmpty())
        return QStringLiteral("source '%1' has the key %2, which is not in the peers file %3: to "
                              "accept it, add the line '%1 %2' and reload (SIGHUP)")
            .arg(printable(source, 64), fingerprintText(fingerprint), m_host.options().peersFile);
    return QStringLiteral("source '%1' has the key %2, which the peers file %3 lists for '%4' "
                          "only: one ED cannot write as another")
        .arg(printable(source, 64), fingerprintText(fingerprint), m_host.options().peersFile,
             printable(listed.join(QStringLiteral("', '")), 200));
}

void ReceiverConnection::recheckPeer(const PeerList &peers)
{
    if (!m_tls || m_phase != Phase::Ready)
        return;
    if (auto why = peerRefusal(peers, m_source, m_fingerprint)) {
        qCWarning(lcRecv).noquote() << m_peerAddress << "closed after the reload:" << *why;
        emit authFailed(m_peerAddress, *why);
        fail(ErrorCode::AuthFailed, *why, true);
    }
}

QString ReceiverConnection::describe(const Offer &offer) const
{
    return m_source + QLatin1Char('/') + offer.dbtag + QLatin1Char('/') + offer.path;
}

std::unique_ptr<IncomingFile> ReceiverConnection::makeFile(const Offer &offer)
{
    // An older ED would take a code it does not know for a broken frame.
    const ErrorCode completeCode =
        m_version >= DatasetCompleteVersion ? ErrorCode::DatasetComplete : ErrorCode::BadPath;
    return std::make_unique<IncomingFile>(m_host, m_id, m_source, nameRules(), completeCode, offer);
}

void ReceiverConnection::refuse(const Offer &offer, ErrorCode code, const QString &message)
{
    Accept a;
    a.id = offer.id;
    a.decision = Decision::Refused;
    a.code = code;
    a.message = message;
    send(a);
    if (code == ErrorCode::Busy) {
        qCDebug(lcRecv).noquote() << describe(offer) << "busy on another connection";
        return;
    }
    qCWarning(lcRecv).noquote() << "refused" << printable(describe(offer)) << "from"
                                << m_peerAddress << ":" << printable(message);
    m_host.reportFileFailed(m_source, offer.dbtag, offer.path, code, message);
}

void ReceiverConnection::handleOffer(const Offer &m)
{
    if (m_transfers.count(m.id))
        return fail(ErrorCode::BadFrame, QStringLiteral("OFFER id %1 already in flight").arg(m.id));
    if (m_transfers.size() >= MaxInFlight)
        return fail(ErrorCode::BadFrame,
                    QStringLiteral("more than %1 offers in flight").arg(MaxInFlight));
    auto file = makeFile(m);
    const IncomingFile::Verdict verdict = file->examine();
    if (verdict.kind == IncomingFile::Verdict::Kind::Refused)
        return refuse(m, verdict.error.code, verdict.error.message); // its key released
    IncomingFile &f = *(m_transfers[m.id] = std::move(file));
    if (verdict.kind == IncomingFile::Verdict::Kind::Hashing) {
        // Hashed on another thread, ACCEPTed when done (partialFound()).
        f.generation = ++m_generation;
        f.hashPartial(this, [this, id = m.id, generation = f.generation](
                                const Result<std::optional<PartialInfo>> &partial) {
            partialFound(id, generation, partial);
        });
        return;
    }
    answerOffer(m.id, verdict);
}

void ReceiverConnection::partialFound(quint32 id, quint64 generation,
                                      const Result<std::optional<PartialInfo>> &partial)
{
    auto it = m_transfers.find(id);
    if (m_phase != Phase::Ready || it == m_transfers.end() ||
        it->second->stage() != IncomingFile::Stage::Hashing || it->second->generation != generation)
        return; // cancelled (its key released then), or the connection is going
    answerOffer(id, it->second->partialHashed(partial));
    if (m_phase == Phase::Ready && !m_transfers.empty())
        m_idle.start(IdleTimeoutMs); // the peer's turn now
}

void ReceiverConnection::answerOffer(quint32 id, const IncomingFile::Verdict &verdict)
{
    auto it = m_transfers.find(id);
    Q_ASSERT(it != m_transfers.end());
    Accept a;
    a.id = id;
    switch (verdict.kind) {
    case IncomingFile::Verdict::Kind::Refused: {
        const Offer offer = it->second->offer();
        m_transfers.erase(it); // releases its key
        return refuse(offer, verdict.error.code, verdict.error.message);
    }
    case IncomingFile::Verdict::Kind::AlreadyStored:
        a.decision = Decision::AlreadyStored;
        a.hash = verdict.hash;
        send(a);
        qCDebug(lcRecv).noquote() << printable(it->second->describe()) << "already stored";
        return;
    case IncomingFile::Verdict::Kind::Send:
        a.decision = Decision::Send;
        a.offset = quint64(verdict.offset);
        a.hash = verdict.hash;
        send(a);
        return;
    case IncomingFile::Verdict::Kind::Hashing:
        Q_ASSERT(false); // handled by handleOffer()
        return;
    }
}

void ReceiverConnection::handleBegin(const Begin &m)
{
    auto it = m_transfers.find(m.id);
    if (it == m_transfers.end() || it->second->stage() != IncomingFile::Stage::Offered)
        return fail(ErrorCode::BadFrame, QStringLiteral("BEGIN for id %1 not offered").arg(m.id));
    if (m_current)
        return fail(ErrorCode::BadFrame,
                    QStringLiteral("BEGIN %1 while %2 is not ended").arg(m.id).arg(*m_current));
    IncomingFile &f = *it->second;
    if (m.offset != 0 && m.offset != quint64(f.acceptedOffset()))
        return fail(ErrorCode::BadFrame, QStringLiteral("BEGIN %1 at offset %2, accepted %3")
                                             .arg(m.id)
                                             .arg(m.offset)
                                             .arg(f.acceptedOffset()));
    m_current = m.id;
    f.begin(m_writer, qint64(m.offset));
}

void ReceiverConnection::handleData(const Data &m)
{
    if (!m_current || *m_current != m.id)
        return fail(ErrorCode::BadFrame,
                    QStringLiteral("DATA for id %1 outside its BEGIN/END").arg(m.id));
    IncomingFile &f = *m_transfers.at(m.id);
    if (m.bytes.size() > f.remaining())
        return fail(ErrorCode::BadFrame, QStringLiteral("DATA for id %1 beyond its size %2")
                                             .arg(m.id)
                                             .arg(qint64(f.offer().size)));
    f.write(m_writer, m.bytes);
}

bool ReceiverConnection::readDataDirect()
{
    if (m_phase != Phase::Ready || m_close || !m_current)
        return false;
    const auto head = m_reader.peekData(m_socket);
    if (!head || head->id != *m_current)
        return false;
    IncomingFile &f = *m_transfers.at(head->id);
    char *stage = f.reserveDirect(m_writer, head->size);
    if (!stage)
        return false;
    if (auto r = m_reader.readPayload(m_socket, *head, stage); !r) {
        fail(r.error().code, r.error().message);
        return true;
    }
    f.wroteDirect(m_writer, stage, head->size);
    return true;
}

bool ReceiverConnection::holdBack(Data &m)
{
    if (!m_writer.wouldWait(m.bytes.size()))
        return false;
    m_heldBack = std::move(m);
    m_writer.setWake([this] {
        QMetaObject::invokeMethod(this, &ReceiverConnection::onWritable, Qt::QueuedConnection);
    });
    if (!m_writer.wouldWait(m_heldBack->bytes.size())) // the write ended before the wake was set
        QMetaObject::invokeMethod(this, &ReceiverConnection::onWritable, Qt::QueuedConnection);
    return true;
}

void ReceiverConnection::onWritable()
{
    if (!m_heldBack || m_phase == Phase::Done || m_writer.wouldWait(m_heldBack->bytes.size()))
        return; // a wake for another write, or one already served
    writeHeldBack();
    onReadyRead(); // what waits in the socket's buffer: no readyRead comes for it
    if (m_phase != Phase::Done && !m_heldBack) {
        // Qt stops reading a socket whose buffer is full, and starts again only once a read
        // empties it; the reader leaves a frame's first bytes in it, so re-arm it here
        // (setReadBufferSize() does: it reads on when the buffer has room).
        const qint64 cap = m_socket->readBufferSize();
        m_socket->setReadBufferSize(0);
        m_socket->setReadBufferSize(cap);
    }
}

void ReceiverConnection::writeHeldBack()
{
    m_writer.setWake({});
    const Data m = std::move(*m_heldBack);
    m_heldBack.reset();
    handleData(m);
}

void ReceiverConnection::handleEnd(const End &m)
{
    if (!m_current || *m_current != m.id)
        return fail(ErrorCode::BadFrame, QStringLiteral("END for id %1 without BEGIN").arg(m.id));
    m_current.reset();
    IncomingFile &f = *m_transfers.at(m.id);
    f.generation = ++m_generation;
    // The committer answers in this thread, as long as we are here; otherwise the host reports.
    const auto failure =
        f.end(m_writer, m.hash, this,
              [this, id = m.id, generation = f.generation](ErrorCode code, const QString &message) {
                  return onCommitted(id, generation, code, message);
              });
    if (failure)
        replyStored(m.id, failure->code, failure->message);
}

bool ReceiverConnection::onCommitted(quint32 id, quint64 generation, ErrorCode code,
                                     const QString &message)
{
    auto it = m_transfers.find(id);
    if (it == m_transfers.end() || it->second->stage() != IncomingFile::Stage::Committing ||
        it->second->generation != generation)
        return false;
    replyStored(id, code, message);
    return true;
}

void ReceiverConnection::replyStored(quint32 id, ErrorCode code, const QString &messageIn)
{
    // Copies: the file (which may own messageIn) is erased below.
    const QString message = messageIn;
    auto it = m_transfers.find(id);
    Q_ASSERT(it != m_transfers.end());
    const Offer offer = it->second->offer();
    const qint64 ms = it->second->elapsedMs();
    const qint64 received = it->second->receivedBytes();
    m_transfers.erase(it); // releases its key, unless its commit holds it
    if (code == ErrorCode::DiskFull)
        m_host.store().spaceChanged();
    if (m_phase == Phase::Ready)
        send(Stored{offer.id, code, code == ErrorCode::Ok ? QString() : message});
    if (code == ErrorCode::Ok) {
        // printf style: a line per file, thousands per second in a flood of small files, where
        // building it with QDebug cost more than writing the file (issue 6)
        qCInfo(lcRecv, "stored %s %s %s %llu bytes in %lld ms (%s)", qUtf8Printable(m_source),
               qUtf8Printable(displayName(offer.dbtag)), qUtf8Printable(printable(offer.path)),
               static_cast<unsigned long long>(offer.size), static_cast<long long>(ms),
               qUtf8Printable(rate(received, ms)));
        m_host.reportFileStored(m_source, offer.dbtag, offer.path, qint64(offer.size), ms);
    } else {
        qCWarning(lcRecv).noquote() << "not stored" << printable(describe(offer)) << errorName(code)
                                    << ":" << printable(message);
        m_host.reportFileFailed(m_source, offer.dbtag, offer.path, code, message);
    }
}

void ReceiverConnection::handleCancel(const Cancel &m)
{
    auto it = m_transfers.find(m.id);
    // An id already finished (a CANCEL crossing our STORED or a Refused ACCEPT) is ignored;
    // so is a CANCEL after END: STORED follows anyway.
    if (it == m_transfers.end() || it->second->stage() == IncomingFile::Stage::Committing)
        return;
    if (m_current == m.id) {
        it->second->flushStaged(m_writer);
        m_current.reset();
    }
    qCDebug(lcRecv).noquote() << it->second->describe() << "cancelled; partial kept";
    dropTransfer(m.id);
}

void ReceiverConnection::dropTransfer(quint32 id)
{
    auto it = m_transfers.find(id);
    if (it == m_transfers.end())
        return;
    it->second->keepForResume(m_current == id);
    m_transfers.erase(it); // releases its key, closes the partial, which stays for a resume
}

void ReceiverConnection::handleCloseDbtag(const CloseDbtag &m)
{
    if (m_transfers.count(m.id))
        return fail(ErrorCode::BadFrame,
                    QStringLiteral("CLOSE_DBTAG id %1 is an outstanding OFFER").arg(m.id));
    m_close = PendingClose{m.id, m.dbtag, m.fileCount, {}, 0};
    if (m.fileCount == 0)
        finishClose();
}

void ReceiverConnection::handleManifest(const Manifest &m)
{
    if (!m_close || m_close->id != m.id)
        return fail(ErrorCode::BadFrame,
                    QStringLiteral("MANIFEST for id %1 without CLOSE_DBTAG").arg(m.id));
    if (m.outside && m_version < OutsideVersion)
        return fail(ErrorCode::BadFrame,
                    QStringLiteral("MANIFEST_OUTSIDE on a version %1 connection").arg(m_version));
    if (m.skipped && m_version < SkippedVersion)
        return fail(ErrorCode::BadFrame,
                    QStringLiteral("MANIFEST_SKIPPED on a version %1 connection").arg(m_version));
    if (quint64(m_close->entries.size()) + quint64(m.entries.size()) > m_close->fileCount)
        return fail(ErrorCode::BadFrame, QStringLiteral("MANIFEST %1 has more than %2 entries")
                                             .arg(m.id)
                                             .arg(m_close->fileCount));
    for (const ManifestEntry &e : m.entries) {
        if (e.size > quint64(std::numeric_limits<qint64>::max()))
            return fail(ErrorCode::BadFrame, QStringLiteral("MANIFEST size out of range"));
        // Bounds what a peer can make us hold until the close is complete (issue 13 item 10):
        // fileCount alone allowed 10 million paths of 4 KiB.
        m_close->bytes += fsLength(e.path) + e.skipped.toUtf8().size() + ManifestEntryCost;
        if (m_close->bytes > m_host.options().maxManifestBytes) {
            const quint32 id = m_close->id;
            m_close.reset();
            return fail(ErrorCode::FrameTooLarge,
                        QStringLiteral("MANIFEST %1 is over %2 bytes of entries")
                            .arg(id)
                            .arg(m_host.options().maxManifestBytes));
        }
        m_close->entries.append({e.path, qint64(e.size), e.outside, e.skipped});
    }
    if (quint64(m_close->entries.size()) == m_close->fileCount)
        finishClose();
}

void ReceiverConnection::finishClose()
{
    const PendingClose close = std::move(*m_close);
    m_close.reset();
    auto draft = m_host.store().prepareManifest(m_source, close.dbtag, close.entries, nameRules());
    if (!draft)
        return manifestWritten(close.id, close.dbtag, int(close.entries.size()), 0, draft.error());
    // Its write and two fsyncs happen off this thread, which serves many connections: 50 EDs
    // closing their dbtags at once queued 100 fsyncs here.
    const qint64 bytes = draft.value().bytes;
    m_host.writeManifest(
        std::move(draft).value(), this,
        [this, id = close.id, dbtag = close.dbtag, files = int(close.entries.size()),
         bytes](const Result<void> &result) { manifestWritten(id, dbtag, files, bytes, result); });
}

void ReceiverConnection::manifestWritten(quint32 closeId, const QString &dbtag, int files,
                                         qint64 bytes, const Result<void> &result)
{
    if (m_phase == Phase::Done || m_phase == Phase::Closing)
        return;
    if (!result) {
        qCWarning(lcRecv).noquote() << "dbtag" << m_source << printable(dbtag)
                                    << "not closed:" << printable(result.error().message);
        send(Closed{closeId, result.error().code, result.error().message});
        return;
    }
    send(Closed{closeId, ErrorCode::Ok, QString()});
    qCInfo(lcRecv).noquote() << "dbtag" << m_source << displayName(dbtag) << "complete:" << files
                             << "files," << bytes << "bytes";
    m_host.reportDbtagCompleted(m_source, dbtag, files, bytes);
}

void ReceiverConnection::send(const Message &message)
{
    m_socket->write(encode(message, m_version));
}

void ReceiverConnection::fail(ErrorCode code, const QString &message, bool ownWords)
{
    if (m_phase == Phase::Closing || m_phase == Phase::Done)
        return;
    const bool authenticated = m_phase == Phase::Ready;
    if (authenticated || m_host.mayLogUnauthenticated())
        qCWarning(lcRecv).noquote()
            << "closing" << m_peerAddress
            << (m_source.isEmpty()  ? QString()
                : authenticated     ? QStringLiteral("(%1)").arg(m_source)
                                    : QStringLiteral("(claims to be '%1')").arg(printable(m_source, 64)))
            << errorName(code) << ":" << printable(message, authenticated || ownWords ? 1024 : 200);
    send(ErrorMsg{code, message});
    m_phase = Phase::Closing;
    leaveUnauthenticated(); // it reads nothing more into memory: its place is free
    cleanup();
    m_idle.stop();
    m_deadline.start(LingerMs);
    if (m_tls && m_tls->isEncrypted()) {
        // Sends what is queued (QSslSocket encrypts it later, in the event loop: a half-close
        // now would cut the ERROR off), then TLS's close_notify, then closes.
        m_socket->readAll();
        m_tls->disconnectFromHost();
        return;
    }
    m_socket->flush();
    if (m_socket->bytesToWrite() == 0)
        ::shutdown(int(m_socket->socketDescriptor()), SHUT_WR);
    m_socket->readAll();
}

void ReceiverConnection::cleanup()
{
    // Partials stay for a resume; commits in progress keep their registry entry until durable.
    if (m_heldBack) // received, so the partial has it (waiting for the disk now)
        writeHeldBack();
    if (m_current) {
        if (auto it = m_transfers.find(*m_current); it != m_transfers.end())
            it->second->flushStaged(m_writer);
    }
    m_current.reset();
    m_close.reset();
    std::vector<quint32> ids;
    for (const auto &[id, f] : m_transfers)
        if (f->stage() != IncomingFile::Stage::Committing)
            ids.push_back(id);
    for (quint32 id : ids)
        dropTransfer(id);
}

void ReceiverConnection::onDisconnected()
{
    if (m_phase == Phase::Done)
        return;
    m_phase = Phase::Done;
    m_deadline.stop();
    m_idle.stop();
    cleanup();
    m_transfers.clear();
    leaveUnauthenticated();
    if (std::exchange(m_registered, false)) {
        if (m_monitor)
            m_host.countMonitor(-1);
        else
            m_host.fleet().disconnected(m_source);
    }
    qCDebug(lcRecv).noquote() << m_peerAddress << "disconnected";
    emit finished(m_id);
    deleteLater();
}

} // namespace isocket
