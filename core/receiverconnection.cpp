#include "core/receiverconnection.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>

#include <QPointer>
#include <QSslSocket>
#include <QTcpSocket>

#include "core/config.h"
#include "core/fsname.h"
#include "core/logging.h"
#include "core/receiver.h"
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

// Start writeback every this many bytes of a file (write-behind, see handleData).
constexpr qint64 WriteBehindBytes = 8 * 1024 * 1024;

QString rate(qint64 bytes, qint64 ms)
{
    const double mib = double(bytes) / (1024.0 * 1024.0);
    const double seconds = qMax<qint64>(ms, 1) / 1000.0;
    return QStringLiteral("%1 MiB/s").arg(mib / seconds, 0, 'f', 1);
}

} // namespace

ReceiverConnection::ReceiverConnection(quint64 id, QTcpSocket *socket, const QByteArray &peer,
                                       Receiver *receiver, QObject *parent)
    : QObject(parent), m_id(id), m_socket(socket), m_receiver(receiver), m_peerKey(peer)
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
        if (std::any_of(m_transfers.begin(), m_transfers.end(),
                        [](const auto &e) { return e.second.stage == Transfer::Stage::Hashing; }))
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
        m_tls->setSslConfiguration(tlsConfiguration(*m_receiver->options().tls));
        connect(m_tls, &QSslSocket::errorOccurred, this, [this](QAbstractSocket::SocketError e) {
            if (e != QAbstractSocket::SslHandshakeFailedError ||
                !m_receiver->mayLogUnauthenticated())
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
        m_receiver->leave(m_peerKey);
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
    m_receiver->store().startBatch();
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
        if (m_receiver->mayLogUnauthenticated())
            qCWarning(lcRecv).noquote() << "authentication failed:" << m_peerAddress << reason;
        m_phase = Phase::Closing;
        leaveUnauthenticated(); // it reads nothing more into memory: its place is free
        m_socket->disconnectFromHost();
        return;
    }
    if (auto *m = std::get_if<ErrorMsg>(&message)) {
        // The peer gives up on us; say nothing back.
        if (!handshake || m_receiver->mayLogUnauthenticated())
            qCWarning(lcRecv).noquote() << m_peerAddress << "sent ERROR" << errorName(m->code)
                                        << printable(m->message, handshake ? 200 : 1024);
        m_phase = Phase::Closing;
        leaveUnauthenticated(); // it reads nothing more into memory: its place is free
        m_socket->disconnectFromHost();
        return;
    }
    fail(ErrorCode::BadFrame,
         QStringLiteral("%1 not expected %2")
             .arg(typeName(typeOf(message)),
                  handshake ? QStringLiteral("during the handshake") : QStringLiteral("here")));
}

void ReceiverConnection::handleHello(const Hello &m)
{
    if (auto r = validateName(m.source, QStringLiteral("source")); !r)
        return fail(ErrorCode::BadPath, r.error().message);
    if (m.minVersion > Version || m.maxVersion < MinVersion)
        return fail(ErrorCode::BadVersion,
                    QStringLiteral("versions %1..%2 offered, this receiver speaks %3..%4")
                        .arg(m.minVersion)
                        .arg(m.maxVersion)
                        .arg(MinVersion)
                        .arg(Version));
    if (m_tls) {
        const Fingerprint fingerprint = fingerprintOf(m_tls->peerCertificate());
        if (auto why = peerRefusal(*m_receiver->peers(), m.source, fingerprint)) {
            emit authFailed(m_peerAddress, *why);
            return fail(ErrorCode::AuthFailed, *why, true); // the peer's part is cut short
        }
        m_fingerprint = fingerprint;
    }
    m_version = qMin(m.maxVersion, Version);
    m_reader.setVersion(m_version);
    m_source = m.source;
    m_clientNonce = m.nonce;
    m_serverNonce = randomNonce();
    send(Challenge{
        m_version, m_serverNonce,
        proof(m_receiver->secret(), Role::Receiver, m_clientNonce, m_serverNonce, m_source)});
    m_phase = Phase::AwaitAuth;
}

void ReceiverConnection::handleAuth(const Auth &m)
{
    const QByteArray expected =
        proof(m_receiver->secret(), Role::Sender, m_clientNonce, m_serverNonce, m_source);
    if (!proofMatches(expected, m.proof)) {
        const QString reason =
            QStringLiteral("source '%1' does not know the shared secret: %2")
                .arg(printable(m_source, 64),
                     secretMismatch(m_receiver->secret(), m.proof, Role::Sender, m_clientNonce,
                                    m_serverNonce, m_source, QStringLiteral("the ED")));
        emit authFailed(m_peerAddress, reason);
        return fail(ErrorCode::AuthFailed, reason);
    }
    m_deadline.stop();
    m_phase = Phase::Ready;
    leaveUnauthenticated();
    // A peer that floods us now is held back by TCP, not buffered here: one DATA frame in
    // flight plus the next.
    m_reader.setMaxFrame(MaxDataFrame);
    m_socket->setReadBufferSize(2 * qint64(MaxDataFrame));
    send(Welcome{MaxInFlight, MaxChunk});
    qCInfo(lcRecv).noquote() << m_peerAddress << "authenticated as" << m_source;
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
            .arg(printable(source, 64), fingerprintText(fingerprint),
                 m_receiver->options().peersFile);
    return QStringLiteral("source '%1' has the key %2, which the peers file %3 lists for '%4' "
                          "only: one ED cannot write as another")
        .arg(printable(source, 64), fingerprintText(fingerprint), m_receiver->options().peersFile,
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

std::optional<Error> ReceiverConnection::completeRefusal(const QString &dbtag, const QString &path)
{
    auto complete = m_receiver->store().isComplete(m_source, dbtag);
    if (!complete)
        return complete.error();
    if (!complete.value())
        return std::nullopt;
    // An older ED would take a code it does not know for a broken frame.
    const ErrorCode code = m_version >= DatasetCompleteVersion ? ErrorCode::DatasetComplete
                                                               : ErrorCode::BadPath;
    return Error{code, QStringLiteral("%1/%2/%3: the dataset is complete on the receiver (it has "
                                      "its finished.isocket), and a file of it is never written "
                                      "again; a new version belongs in a new dbtag")
                           .arg(m_source, displayName(dbtag), displayName(path))};
}

QString ReceiverConnection::describe(const Offer &offer) const
{
    return m_source + QLatin1Char('/') + offer.dbtag + QLatin1Char('/') + offer.path;
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
    m_receiver->forward(&Receiver::fileFailed,
                        ReceivedFile{.source = m_source, .dbtag = offer.dbtag, .path = offer.path,
                                     .code = code, .message = message});
}

void ReceiverConnection::handleOffer(const Offer &m)
{
    if (m_transfers.count(m.id))
        return fail(ErrorCode::BadFrame, QStringLiteral("OFFER id %1 already in flight").arg(m.id));
    if (m_transfers.size() >= MaxInFlight)
        return fail(ErrorCode::BadFrame,
                    QStringLiteral("more than %1 offers in flight").arg(MaxInFlight));
    if (m.size > quint64(std::numeric_limits<qint64>::max()))
        return refuse(m, ErrorCode::BadFrame, QStringLiteral("size out of range"));
    const qint64 size = qint64(m.size);

    // Validation first: an invalid path must not reach the registry or the disk.
    if (auto r = validateName(m.dbtag, QStringLiteral("dbtag"), nameRules()); !r)
        return refuse(m, ErrorCode::BadPath, r.error().message);
    if (auto r = validateRelativePath(m.path, QStringLiteral("path"), nameRules()); !r)
        return refuse(m, ErrorCode::BadPath, r.error().message);
    if (auto r = ReceiveStore::checkReservedNames(m.path); !r)
        return refuse(m, ErrorCode::BadPath, r.error().message);

    const QString key = describe(m);
    if (!m_receiver->claim(key))
        return refuse(m, ErrorCode::Busy,
                      QStringLiteral("%1 is being written by another connection").arg(key));

    ReceiveStore &store = m_receiver->store();
    auto slot = store.locate(m_source, m.dbtag, m.path, nameRules());
    if (!slot) {
        m_receiver->release(key);
        return refuse(m, slot.error().code, slot.error().message);
    }
    auto stored = store.storedHash(slot.value(), size, m.mtimeNs);
    if (!stored) {
        m_receiver->release(key);
        return refuse(m, stored.error().code, stored.error().message);
    }
    if (stored.value()) {
        // Outstanding until the sender compares hashes: CANCEL (same file) or BEGIN(0) to
        // overwrite the stored copy. The key stays claimed meanwhile.
        Transfer &t = m_transfers[m.id];
        t.offer = m;
        t.key = key;
        Accept a;
        a.id = m.id;
        a.decision = Decision::AlreadyStored;
        a.hash = *stored.value();
        send(a);
        qCDebug(lcRecv).noquote() << printable(describe(m)) << "already stored";
        return;
    }
    if (auto refusal = completeRefusal(m.dbtag, m.path)) {
        m_receiver->release(key);
        return refuse(m, refusal->code, refusal->message);
    }
    if (store.writesAnonymously(slot.value(), size))
        return acceptOffer(m, key, slot.value(), std::optional<PartialInfo>());
    auto probe = store.probePartial(slot.value(), size);
    if (!probe.exists || probe.known) // no partial (most offers), or one we know: no reading
        return acceptOffer(m, key, slot.value(), std::move(probe.known));
    if (probe.length >= AsyncPartialBytes) {
        // Reading it back takes a while (a second per GiB or more: partials are written past
        // the page cache), and this thread serves other connections: it is hashed on another
        // one and ACCEPTed when done (partialFound()).
        Transfer &t = m_transfers[m.id];
        t.offer = m;
        t.key = key;
        t.stage = Transfer::Stage::Hashing;
        t.generation = ++m_generation;
        m_receiver->findPartial(this, m.id, t.generation, slot.value(), size);
        return;
    }
    acceptOffer(m, key, slot.value(), store.findPartial(slot.value(), size));
}

void ReceiverConnection::partialFound(quint32 id, quint64 generation, const FileSlot &slot,
                                      const Result<std::optional<PartialInfo>> &partial)
{
    auto it = m_transfers.find(id);
    if (m_phase != Phase::Ready || it == m_transfers.end() ||
        it->second.stage != Transfer::Stage::Hashing || it->second.generation != generation)
        return; // cancelled (its key released then), or the connection is going
    const Offer m = it->second.offer;
    const QString key = it->second.key;
    m_transfers.erase(it); // acceptOffer() makes it again; the key stays claimed
    acceptOffer(m, key, slot, partial);
    if (m_phase == Phase::Ready && !m_transfers.empty())
        m_idle.start(IdleTimeoutMs); // the peer's turn now
}

void ReceiverConnection::acceptOffer(const Offer &m, const QString &key, const FileSlot &slot,
                                     const Result<std::optional<PartialInfo>> &partial)
{
    if (!partial) {
        m_receiver->release(key);
        return refuse(m, partial.error().code, partial.error().message);
    }
    const qint64 size = qint64(m.size);
    const qint64 offset = partial.value() ? partial.value()->length : 0;
    auto space = m_receiver->store().checkSpace(slot, size - offset);
    if (!space) {
        m_receiver->release(key);
        return refuse(m, space.error().code, space.error().message);
    }

    Transfer &t = m_transfers[m.id];
    t.space = std::move(space).value();
    t.offer = m;
    t.key = key;
    t.offeredOffset = offset;
    Accept a;
    a.id = m.id;
    a.decision = Decision::Send;
    a.offset = quint64(offset);
    if (partial.value()) {
        t.hasher = partial.value()->hasher;
        a.hash = t.hasher.result();
    }
    send(a);
}

void ReceiverConnection::handleBegin(const Begin &m)
{
    auto it = m_transfers.find(m.id);
    if (it == m_transfers.end() || it->second.stage != Transfer::Stage::Offered)
        return fail(ErrorCode::BadFrame, QStringLiteral("BEGIN for id %1 not offered").arg(m.id));
    if (m_current)
        return fail(ErrorCode::BadFrame,
                    QStringLiteral("BEGIN %1 while %2 is not ended").arg(m.id).arg(*m_current));
    Transfer &t = it->second;
    if (m.offset != 0 && m.offset != quint64(t.offeredOffset))
        return fail(ErrorCode::BadFrame, QStringLiteral("BEGIN %1 at offset %2, accepted %3")
                                             .arg(m.id)
                                             .arg(m.offset)
                                             .arg(t.offeredOffset));
    t.stage = Transfer::Stage::Writing;
    t.startOffset = qint64(m.offset);
    t.written = qint64(m.offset);
    t.flushed = t.written;
    if (m.offset == 0)
        t.hasher.reset();
    t.clock.start();
    t.progressClock.start();
    m_current = m.id;

    // The slot is looked up again here rather than held since OFFER: a thousand offers in
    // flight must not pin a thousand directory fds. The store's directory cache makes this
    // cheap (at most one path resolution per batch); the slot is then held until END.
    auto slot = m_receiver->store().locate(m_source, t.offer.dbtag, t.offer.path, nameRules());
    if (!slot) {
        failTransfer(t, slot.error().code, slot.error().message);
    } else if (auto refusal = completeRefusal(t.offer.dbtag, t.offer.path)) {
        // Stored already and the ED's copy differs (BEGIN after AlreadyStored): the stored one
        // stays, the ED hears why at END.
        failTransfer(t, refusal->code, refusal->message);
    } else {
        t.slot = std::move(slot).value();
        // A new small file needs no name until it is complete (no partial found at OFFER, none
        // to resume): see ReceiveStore::AnonymousMaxBytes.
        const bool anonymous = t.offeredOffset == 0 && t.written == 0 &&
                               m_receiver->store().writesAnonymously(*t.slot, qint64(t.offer.size));
        auto fd = m_receiver->store().openPartial(*t.slot, t.written, anonymous);
        if (!fd) {
            failTransfer(t, fd.error().code, fd.error().message);
        } else {
            t.file = std::move(fd).value();
            m_writer.start(t.file.get(), t.written, qint64(t.offer.size) - t.written);
        }
    }
    m_receiver->forward(&Receiver::fileStarted,
                        ReceivedFile{.connId = m_id, .source = m_source, .dbtag = t.offer.dbtag,
                                     .path = t.offer.path, .size = qint64(t.offer.size),
                                     .done = t.startOffset});
}

void ReceiverConnection::failTransfer(Transfer &t, ErrorCode code, const QString &message)
{
    if (t.failure != ErrorCode::Ok)
        return;
    t.failure = code;
    t.failureMessage = message;
    t.file.reset();
    if (code == ErrorCode::DiskFull)
        m_receiver->store().spaceChanged();
}

void ReceiverConnection::handleData(const Data &m)
{
    if (!m_current || *m_current != m.id)
        return fail(ErrorCode::BadFrame,
                    QStringLiteral("DATA for id %1 outside its BEGIN/END").arg(m.id));
    Transfer &t = m_transfers.at(m.id);
    const qint64 size = qint64(t.offer.size);
    if (m.bytes.size() > size - t.written)
        return fail(ErrorCode::BadFrame,
                    QStringLiteral("DATA for id %1 beyond its size %2").arg(m.id).arg(size));
    if (t.failure == ErrorCode::Ok) {
        if (auto r = m_writer.write(m.bytes.constData(), m.bytes.size()); !r)
            failWrite(t, r.error());
        else
            t.hasher.add(m.bytes);
    }
    received(t, m.bytes.size());
}

bool ReceiverConnection::readDataDirect()
{
    if (m_phase != Phase::Ready || m_close || !m_current)
        return false;
    const auto head = m_reader.peekData(m_socket);
    if (!head || head->id != *m_current)
        return false;
    Transfer &t = m_transfers.at(head->id);
    if (t.failure != ErrorCode::Ok || head->size > qint64(t.offer.size) - t.written)
        return false;
    const auto stage = m_writer.reserve(head->size);
    if (!stage)
        failWrite(t, stage.error()); // the frame goes on the usual way, to be counted
    if (!stage || !stage.value())
        return false;
    if (auto r = m_reader.readPayload(m_socket, *head, stage.value()); !r) {
        fail(r.error().code, r.error().message);
        return true;
    }
    t.hasher.add(stage.value(), head->size);
    if (auto r = m_writer.commit(head->size); !r)
        failWrite(t, r.error());
    received(t, head->size);
    return true;
}

void ReceiverConnection::failWrite(Transfer &t, const Error &error)
{
    failTransfer(t, error.code, describe(t.offer) + QStringLiteral(": ") + error.message);
}

void ReceiverConnection::received(Transfer &t, qint64 bytes)
{
    const qint64 size = qint64(t.offer.size);
    t.written += bytes;
    if (t.written - t.spaceCounted >= WriteBehindBytes) {
        // Now on the filesystem (its free space shows it): no longer promised.
        t.space.written(t.written - t.spaceCounted);
        t.spaceCounted = t.written;
    }
    if (t.failure == ErrorCode::Ok && !m_writer.direct() &&
        t.written - t.flushed >= WriteBehindBytes) {
        // Write-behind: hand the pages to the disk while the rest arrives, so the sync
        // after END finds little left to write. Otherwise nothing of a 1 GiB file reaches the
        // disk before its last byte (it stays under the dirty thresholds) and the disk idles
        // during the transfer. Asynchronous; an error here shows up at that sync.
        ::sync_file_range(t.file.get(), t.flushed, t.written - t.flushed, SYNC_FILE_RANGE_WRITE);
        t.flushed = t.written;
    }
    if (t.progressClock.elapsed() >= 100) {
        t.progressClock.restart();
        m_receiver->forward(&Receiver::fileProgress,
                            ReceivedFile{.connId = m_id, .source = m_source, .dbtag = t.offer.dbtag,
                                         .path = t.offer.path, .size = size, .done = t.written});
    }
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
    Transfer &t = m_transfers.at(m.id);
    const qint64 size = qint64(t.offer.size);
    // A file written directly is finished by the writer's pool (its last write, then its mtime
    // and xattr) while the next one arrives; the committer waits for that before syncing it.
    const Hash128 hash = t.hasher.result();
    const bool overlapped =
        t.failure == ErrorCode::Ok && m_writer.direct() && t.written == size && hash == m.hash;
    if (t.failure == ErrorCode::Ok && !overlapped) {
        if (auto r = m_writer.finish(); !r)
            failTransfer(t, r.error().code,
                         describe(t.offer) + QStringLiteral(": ") + r.error().message);
    }
    auto removePartial = [&] {
        t.file.reset();
        if (t.slot)
            m_receiver->store().removePartial(*t.slot);
        t.slot.reset();
    };
    if (t.failure != ErrorCode::Ok) {
        removePartial();
        return replyStored(t, t.failure, t.failureMessage);
    }
    if (t.written != size) {
        removePartial();
        return replyStored(t, ErrorCode::ChecksumMismatch,
                           QStringLiteral("%1: END after %2 of %3 bytes")
                               .arg(describe(t.offer))
                               .arg(t.written)
                               .arg(size));
    }
    if (hash != m.hash) {
        removePartial();
        return replyStored(t, ErrorCode::ChecksumMismatch,
                           QStringLiteral("%1: received xxh128 %2, sender says %3")
                               .arg(describe(t.offer), toHex(hash), toHex(m.hash)));
    }
    // Its mtime and xattr, on another thread when that can be: 0 or an errno.
    auto finishFile = [mtimeNs = t.offer.mtimeNs, hash](int fd) {
        const auto r = ReceiveStore::finish(fd, mtimeNs, hash);
        return r ? 0 : r.error().code == ErrorCode::DiskFull ? ENOSPC : EIO;
    };
    std::shared_future<int> written;
    std::function<int(int)> finishLater;
    if (overlapped) {
        written = m_writer.finishAsync(finishFile);
    } else if (t.slot->anonymous) {
        // Written unnamed: nothing can see it before the committer links it in, so the committer
        // finishes it (small files: two syscalls of the few left on this thread per file).
        finishLater = finishFile;
    } else if (auto r = ReceiveStore::finish(t.file.get(), t.offer.mtimeNs, hash); !r) {
        removePartial();
        return replyStored(t, r.error().code,
                           describe(t.offer) + QStringLiteral(": ") + r.error().message);
    }
    // Its inode, size and mtime as finished: once committed, the store knows its hash without
    // opening it again (the manifest, a repeated OFFER). Without them it reads the xattr.
    StoredStamp stamp;
    if (struct stat st; ::fstat(t.file.get(), &st) == 0)
        stamp = {st.st_dev, st.st_ino, size, t.offer.mtimeNs, hash};
    // The directory the partial was created in at BEGIN: the rename must happen there.
    CommitJob job;
    // Checked again right before the rename: a directory moved away meanwhile gets no file.
    job.inPlace = [store = &m_receiver->store(), slot = *t.slot] {
        return store->stillInPlace(slot);
    };
    job.file = std::move(t.file);
    job.dir = std::move(t.slot->dir);
    if (!t.slot->anonymous)
        job.partName = t.slot->partName;
    job.finalName = t.slot->name;
    job.written = std::move(written);
    job.finish = std::move(finishLater);
    t.slot.reset();
    t.stage = Transfer::Stage::Committing;
    // The registry entry now belongs to the commit: it outlives this connection if need be.
    t.token = m_receiver->commit(
        this, t.key, {m_source, t.offer.dbtag, t.offer.path, size, t.clock, stamp}, std::move(job));
    t.key.clear();
    m_tokens[t.token] = m.id;
}

bool ReceiverConnection::onCommitted(quint64 token, ErrorCode code, const QString &message)
{
    auto it = m_tokens.find(token);
    if (it == m_tokens.end())
        return false;
    const quint32 id = it->second;
    m_tokens.erase(it);
    auto t = m_transfers.find(id);
    if (t == m_transfers.end())
        return false;
    replyStored(t->second, code, message);
    return true;
}

void ReceiverConnection::replyStored(Transfer &t, ErrorCode code, const QString &messageIn)
{
    // Copies: `t` (which may own messageIn, e.g. t.failureMessage) is erased below.
    const QString message = messageIn;
    const Offer offer = t.offer;
    const qint64 ms = t.clock.isValid() ? t.clock.elapsed() : 0;
    const qint64 received = t.written - t.startOffset;
    if (!t.key.isEmpty())
        m_receiver->release(t.key);
    m_transfers.erase(offer.id);
    if (code == ErrorCode::DiskFull)
        m_receiver->store().spaceChanged();
    if (m_phase == Phase::Ready)
        send(Stored{offer.id, code, code == ErrorCode::Ok ? QString() : message});
    if (code == ErrorCode::Ok) {
        // printf style: a line per file, thousands per second in a flood of small files, where
        // building it with QDebug cost more than writing the file (issue 6)
        qCInfo(lcRecv, "stored %s %s %s %llu bytes in %lld ms (%s)", qUtf8Printable(m_source),
               qUtf8Printable(displayName(offer.dbtag)), qUtf8Printable(printable(offer.path)),
               static_cast<unsigned long long>(offer.size), static_cast<long long>(ms),
               qUtf8Printable(rate(received, ms)));
        m_receiver->forward(&Receiver::fileStored,
                            ReceivedFile{.source = m_source, .dbtag = offer.dbtag,
                                         .path = offer.path, .size = qint64(offer.size),
                                         .durationMs = ms});
    } else {
        qCWarning(lcRecv).noquote() << "not stored" << printable(describe(offer)) << errorName(code)
                                    << ":" << printable(message);
        m_receiver->forward(&Receiver::fileFailed,
                            ReceivedFile{.source = m_source, .dbtag = offer.dbtag,
                                         .path = offer.path, .code = code, .message = message});
    }
}

void ReceiverConnection::handleCancel(const Cancel &m)
{
    auto it = m_transfers.find(m.id);
    // An id already finished (a CANCEL crossing our STORED or a Refused ACCEPT) is ignored;
    // so is a CANCEL after END: STORED follows anyway.
    if (it == m_transfers.end() || it->second.stage == Transfer::Stage::Committing)
        return;
    if (m_current == m.id) {
        flushStaged(it->second);
        m_current.reset();
    }
    qCDebug(lcRecv).noquote() << describe(it->second.offer) << "cancelled; partial kept";
    dropTransfer(m.id);
}

void ReceiverConnection::flushStaged(Transfer &t)
{
    if (t.stage != Transfer::Stage::Writing || t.failure != ErrorCode::Ok || !t.file.valid())
        return;
    if (auto r = m_writer.finish(); !r)
        qCWarning(lcRecv).noquote()
            << describe(t.offer) << "partial incomplete:" << r.error().message;
}

void ReceiverConnection::dropTransfer(quint32 id)
{
    auto it = m_transfers.find(id);
    if (it == m_transfers.end())
        return;
    const Transfer &t = it->second;
    // Written up to here (flushStaged() came first) and hashed so far: a resume of it will
    // not have to read it back. Remembered before the key is free for another connection.
    if (t.stage == Transfer::Stage::Writing && t.failure == ErrorCode::Ok && t.file.valid() &&
        t.slot && m_current != id)
        m_receiver->store().rememberPartial(*t.slot, t.file.get(), t.written, t.hasher);
    if (!t.key.isEmpty())
        m_receiver->release(t.key);
    m_transfers.erase(it); // closes the partial, which stays for a resume
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
        if (m_close->bytes > m_receiver->maxManifestBytes()) {
            const quint32 id = m_close->id;
            m_close.reset();
            return fail(ErrorCode::FrameTooLarge,
                        QStringLiteral("MANIFEST %1 is over %2 bytes of entries")
                            .arg(id)
                            .arg(m_receiver->maxManifestBytes()));
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
    auto draft =
        m_receiver->store().prepareManifest(m_source, close.dbtag, close.entries, nameRules());
    if (!draft)
        return manifestWritten(close.id, close.dbtag, int(close.entries.size()), 0, draft.error());
    // Its write and two fsyncs happen off this thread, which serves many connections: 50 EDs
    // closing their dbtags at once queued 100 fsyncs here.
    m_receiver->writeManifest(this, std::move(draft).value(), close.id, close.dbtag,
                              int(close.entries.size()));
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
    m_receiver->forward(&Receiver::dbtagCompleted, m_source, dbtag, files, bytes);
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
    if (authenticated || m_receiver->mayLogUnauthenticated())
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
            flushStaged(it->second);
    }
    m_current.reset();
    m_close.reset();
    std::vector<quint32> ids;
    for (const auto &[id, t] : m_transfers)
        if (t.stage != Transfer::Stage::Committing)
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
    m_tokens.clear();
    leaveUnauthenticated();
    qCDebug(lcRecv).noquote() << m_peerAddress << "disconnected";
    emit finished(m_id);
    deleteLater();
}

} // namespace isocket
