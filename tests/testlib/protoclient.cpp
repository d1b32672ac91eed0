#include "tests/testlib/protoclient.h"

#include "core/tls.h"
#include "tests/testlib/processes.h"

#include <QTest>

#include "core/checksum.h"

namespace isocket::test {

using namespace proto;

ProtoClient::ProtoClient() = default;

bool ProtoClient::connectTo(quint16 port, const QString &host)
{
    m_socket.connectToHost(host, port);
    return QTest::qWaitFor(
               [this] {
                   return m_socket.state() == QAbstractSocket::ConnectedState ||
                          m_socket.state() == QAbstractSocket::UnconnectedState;
               },
               10000) &&
           m_socket.state() == QAbstractSocket::ConnectedState;
}

bool ProtoClient::connectTls(quint16 port, const QString &certFile, const QString &keyFile)
{
    const TestTls &t = testTls();
    auto identity = loadIdentity(certFile.isEmpty() ? t.edCert : certFile,
                                 keyFile.isEmpty() ? t.edKey : keyFile);
    if (!identity) {
        qWarning().noquote() << identity.error().message;
        return false;
    }
    m_socket.setSslConfiguration(tlsConfiguration(identity.value()));
    m_socket.connectToHostEncrypted(QStringLiteral("127.0.0.1"), port);
    const bool done = QTest::qWaitFor(
        [this] {
            return m_socket.isEncrypted() ||
                   m_socket.state() == QAbstractSocket::UnconnectedState;
        },
        10000);
    return done && m_socket.isEncrypted() &&
           fingerprintText(fingerprintOf(m_socket.peerCertificate())) == t.receiverFingerprint;
}

bool ProtoClient::connectE2e(quint16 port)
{
    return tlsByDefault() ? connectTls(port) : connectTo(port);
}

void ProtoClient::send(const Message &message)
{
    m_socket.write(encode(message, m_version));
}

void ProtoClient::sendRaw(const QByteArray &bytes)
{
    m_socket.write(bytes);
}

// Moves whole frames from the socket to the inbox; false once nothing more can come.
bool ProtoClient::pump()
{
    while (!m_readerFailed) {
        auto r = m_reader.read(&m_socket);
        if (!r) {
            m_readerFailed = true;
            break;
        }
        if (!r.value())
            break;
        if (auto *e = std::get_if<ErrorMsg>(&*r.value()))
            m_lastError = *e;
        m_inbox.push_back(std::move(*r.value()));
    }
    return !m_readerFailed && m_socket.state() == QAbstractSocket::ConnectedState;
}

std::optional<Message> ProtoClient::next(int timeoutMs)
{
    [[maybe_unused]] const bool arrived =
        QTest::qWaitFor([this] { return !pump() || !m_inbox.empty(); }, timeoutMs);
    pump();
    if (m_inbox.empty())
        return std::nullopt;
    Message m = std::move(m_inbox.front());
    m_inbox.pop_front();
    return m;
}

ProtoClient::HandshakeResult ProtoClient::handshake(const QByteArray &secret, const QString &source,
                                                    bool stopOnBadProof)
{
    HandshakeResult result;
    const QByteArray clientNonce = randomNonce();
    send(Hello{m_minVersion, m_maxVersion, source, clientNonce});
    auto challenge = expect<Challenge>();
    if (!challenge) {
        result.error = m_lastError ? m_lastError->code : ErrorCode::PeerClosed;
        result.message = m_lastError ? m_lastError->message : QStringLiteral("no CHALLENGE");
        return result;
    }
    result.version = challenge->version;
    m_version = challenge->version; // names are written and read as this version has them
    m_reader.setVersion(m_version);
    result.receiverProofOk = proofMatches(
        proof(secret, Role::Receiver, clientNonce, challenge->nonce, source), challenge->proof);
    if (!result.receiverProofOk && stopOnBadProof) {
        result.error = ErrorCode::AuthFailed;
        result.message = QStringLiteral("the receiver does not know our secret");
        return result;
    }
    send(Auth{proof(secret, Role::Sender, clientNonce, challenge->nonce, source)});
    auto welcome = expect<Welcome>();
    if (!welcome) {
        result.error = m_lastError ? m_lastError->code : ErrorCode::PeerClosed;
        result.message = m_lastError ? m_lastError->message : QStringLiteral("no WELCOME");
        return result;
    }
    result.ok = true;
    result.welcome = *welcome;
    return result;
}

std::optional<Accept> ProtoClient::offer(quint32 id, const QString &dbtag, const QString &path,
                                         qint64 size, qint64 mtimeNs)
{
    send(Offer{id, dbtag, path, quint64(size), mtimeNs});
    return expect<Accept>();
}

void ProtoClient::streamFile(quint32 id, const QByteArray &data, qint64 offset,
                             std::optional<Hash128> endHash, int chunk)
{
    send(Begin{id, quint64(offset)});
    for (qint64 pos = offset; pos < data.size(); pos += chunk)
        send(Data{id, data.mid(pos, chunk)});
    Hasher hasher;
    hasher.add(data);
    send(End{id, endHash ? *endHash : hasher.result()});
}

std::optional<Stored> ProtoClient::sendFile(quint32 id, const QByteArray &data, qint64 offset)
{
    streamFile(id, data, offset);
    return expect<Stored>(30000);
}

ErrorCode ProtoClient::storeFile(quint32 id, const QString &dbtag, const QString &path,
                                 const QByteArray &data, qint64 mtimeNs)
{
    auto a = offer(id, dbtag, path, data.size(), mtimeNs);
    if (!a)
        return ErrorCode::PeerClosed;
    if (a->decision == Decision::Refused)
        return a->code;
    if (a->decision == Decision::AlreadyStored)
        return ErrorCode::Ok;
    auto s = sendFile(id, data, qint64(a->offset));
    return s ? s->code : ErrorCode::PeerClosed;
}

std::optional<Closed> ProtoClient::closeDbtag(quint32 id, const QString &dbtag,
                                              const QList<ManifestEntry> &entries)
{
    send(CloseDbtag{id, dbtag, quint32(entries.size())});
    for (const Manifest &m : splitManifest(id, entries, m_version))
        send(m);
    return expect<Closed>(30000);
}

bool ProtoClient::waitClosed(int timeoutMs)
{
    return QTest::qWaitFor(
        [this] {
            pump();
            return m_socket.state() == QAbstractSocket::UnconnectedState;
        },
        timeoutMs);
}

void ProtoClient::disconnect()
{
    m_socket.abort();
}

} // namespace isocket::test
