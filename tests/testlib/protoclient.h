#pragma once
// ProtoClient: a test client speaking protocol v1 to a receiver, over QTcpSocket + FrameReader.
//
// Its waits spin the event loop (QTest::qWaitFor), so a Receiver in the same thread keeps
// serving while the test waits. Owns its socket. Failures are returned, never asserted, so a
// test states what it expects with QVERIFY/QCOMPARE.

#include "core/protocol.h"

#include <QByteArray>
#include <QDeadlineTimer>
#include <QString>
#include <QSslSocket>

#include <deque>
#include <optional>

namespace isocket::test {

class ProtoClient
{
public:
    ProtoClient();

    // Plain TCP.
    bool connectTo(quint16 port, const QString &host = QStringLiteral("127.0.0.1"));
    // TLS 1.3 as the e2e tests' ED (testTls(): its key, the receiver's fingerprint checked), or
    // with the given certificate and key; true once encrypted.
    bool connectTls(quint16 port, const QString &certFile = QString(),
                    const QString &keyFile = QString());
    // What the e2e tests' receivers speak (tlsByDefault()).
    bool connectE2e(quint16 port);

    struct HandshakeResult
    {
        bool ok = false;                 // WELCOME received
        bool receiverProofOk = false;    // the CHALLENGE proved the receiver knows our secret
        ErrorCode error = ErrorCode::Ok; // the receiver's ERROR, or what went wrong here
        QString message;
        proto::Welcome welcome;
        quint16 version = 0; // as the CHALLENGE chose it
    };
    // The version range the next HELLO offers (default: all this build speaks).
    void setVersions(quint16 min, quint16 max)
    {
        m_minVersion = min;
        m_maxVersion = max;
    }
    // HELLO → CHALLENGE → AUTH → WELCOME. A CHALLENGE whose proof fails is answered anyway
    // (so the receiver's side of the check can be tested) unless `stopOnBadProof`.
    HandshakeResult handshake(const QByteArray &secret, const QString &source,
                              bool stopOnBadProof = false);

    void send(const proto::Message &message);
    void sendRaw(const QByteArray &bytes);

    // The next message, waiting up to `timeoutMs`; nullopt on timeout or when the peer closed.
    std::optional<proto::Message> next(int timeoutMs = 10000);
    template <typename T> std::optional<T> expect(int timeoutMs = 10000)
    {
        auto m = next(timeoutMs);
        if (!m)
            return std::nullopt;
        if (auto *t = std::get_if<T>(&*m))
            return *t;
        m_unexpected = *m;
        return std::nullopt;
    }
    // The last message expect() did not want (for diagnostics).
    std::optional<proto::Message> unexpected() const { return m_unexpected; }

    std::optional<proto::Accept> offer(quint32 id, const QString &dbtag, const QString &path,
                                       qint64 size, qint64 mtimeNs);
    // BEGIN at `offset`, DATA in chunks from data[offset..], END with the hash of all of `data`
    // (or `endHash` if given). Does not wait.
    void streamFile(quint32 id, const QByteArray &data, qint64 offset = 0,
                    std::optional<Hash128> endHash = std::nullopt, int chunk = 64 * 1024);
    // streamFile, then waits for STORED.
    std::optional<proto::Stored> sendFile(quint32 id, const QByteArray &data, qint64 offset = 0);
    // OFFER + (if Send) sendFile. Returns the STORED code, or the ACCEPT's refusal code, or
    // AlreadyStored as Ok when `alreadyOk`.
    ErrorCode storeFile(quint32 id, const QString &dbtag, const QString &path,
                        const QByteArray &data, qint64 mtimeNs);

    // CLOSE_DBTAG + MANIFEST frames, then waits for CLOSED.
    std::optional<proto::Closed> closeDbtag(quint32 id, const QString &dbtag,
                                            const QList<proto::ManifestEntry> &entries);

    // Waits until the receiver closes the connection; the last ERROR it sent, if any.
    bool waitClosed(int timeoutMs = 10000);
    std::optional<proto::ErrorMsg> lastError() const { return m_lastError; }
    bool isConnected() const { return m_socket.state() == QAbstractSocket::ConnectedState; }
    void disconnect();
    QSslSocket &socket() { return m_socket; }

private:
    bool pump();
    QSslSocket m_socket; // plain until connectTls()
    proto::FrameReader m_reader;
    std::deque<proto::Message> m_inbox;
    std::optional<proto::Message> m_unexpected;
    std::optional<proto::ErrorMsg> m_lastError;
    bool m_readerFailed = false;
    quint16 m_minVersion = proto::MinVersion;
    quint16 m_maxVersion = proto::Version;
    quint16 m_version = proto::Version; // once a CHALLENGE chose it
};

} // namespace isocket::test
