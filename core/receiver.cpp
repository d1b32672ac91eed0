#include "core/receiver.h"

#include <QTcpSocket>

#include "core/logging.h"
#include "core/receiverconnection.h"

namespace isocket {

Receiver::Receiver(ReceiverOptions options, QObject *parent)
    : QObject(parent), m_options(std::move(options)),
      m_store(m_options.root, m_options.reserveBytes), m_committer(m_options.sync)
{
    qRegisterMetaType<isocket::ErrorCode>("isocket::ErrorCode");
    connect(&m_server, &QTcpServer::newConnection, this, &Receiver::acceptConnections);
    connect(&m_committer, &Committer::committed, this, &Receiver::onCommitted);
    m_manifestWriter.setObjectName(QStringLiteral("isocket-manifest"));
    m_manifestWriter.setMaxThreadCount(1);
}

Receiver::~Receiver()
{
    m_manifestWriter.waitForDone(); // its results are posted to us: none after this
    // Connections are children and go with QObject's destructor; they never call back into
    // us from their own destructors.
    m_server.close();
}

void Receiver::writeManifest(ReceiverConnection *connection, ReceiveStore::ManifestDraft draft,
                             quint32 closeId, const QString &dbtag, int files)
{
    QPointer<ReceiverConnection> target(connection);
    m_manifestWriter.start([this, target, draft = std::move(draft), closeId, dbtag, files] {
        Result<void> result = draft.write();
        QMetaObject::invokeMethod(
            this,
            [this, target, draft, closeId, dbtag, files, result = std::move(result)] {
                if (result)
                    m_store.manifestWritten(draft);
                if (target)
                    target->manifestWritten(closeId, dbtag, files, draft.bytes, result);
            },
            Qt::QueuedConnection);
    });
}

bool Receiver::listen(const QHostAddress &address, quint16 port)
{
    if (m_options.secret.isEmpty() && !address.isLoopback()) {
        m_errorString = QStringLiteral("refusing to listen on %1 without a shared secret: anyone "
                                       "could write files; give a secret file or listen on "
                                       "127.0.0.1")
                            .arg(address.toString());
        return false;
    }
    if (auto r = m_store.open(); !r) {
        m_errorString = r.error().message;
        return false;
    }
    if (!m_server.listen(address, port)) {
        m_errorString = QStringLiteral("cannot listen on %1:%2: %3")
                            .arg(address.toString())
                            .arg(port)
                            .arg(m_server.errorString());
        return false;
    }
    qCInfo(lcRecv).noquote() << "listening on" << m_server.serverAddress().toString()
                             << m_server.serverPort() << "storing into" << m_options.root;
    return true;
}

quint16 Receiver::serverPort() const
{
    return m_server.serverPort();
}

QHostAddress Receiver::serverAddress() const
{
    return m_server.serverAddress();
}

int Receiver::connectionCount() const
{
    return int(findChildren<ReceiverConnection *>(Qt::FindDirectChildrenOnly).size());
}

void Receiver::close()
{
    m_server.close();
    const auto connections = findChildren<ReceiverConnection *>(Qt::FindDirectChildrenOnly);
    for (ReceiverConnection *c : connections)
        c->abort();
}

void Receiver::acceptConnections()
{
    while (QTcpSocket *socket = m_server.nextPendingConnection()) {
        const quint64 id = m_nextConnectionId++;
        auto *c = new ReceiverConnection(id, socket, this); // child of this
        connect(c, &ReceiverConnection::peerAuthenticated, this, &Receiver::peerAuthenticated);
        connect(c, &ReceiverConnection::authFailed, this,
                [this](const QString &peer, const QString &reason) {
                    ++m_authFailures;
                    emit authFailed(peer, reason);
                });
        connect(c, &ReceiverConnection::fileStarted, this, &Receiver::fileStarted);
        connect(c, &ReceiverConnection::fileProgress, this, &Receiver::fileProgress);
        connect(c, &ReceiverConnection::fileStored, this, &Receiver::fileStored);
        connect(c, &ReceiverConnection::fileFailed, this, &Receiver::fileFailed);
        connect(c, &ReceiverConnection::dbtagCompleted, this, &Receiver::dbtagCompleted);
        connect(c, &ReceiverConnection::finished, this, &Receiver::peerDisconnected);
        qCDebug(lcRecv).noquote() << "connection" << id << "from" << c->peerAddress();
        emit peerConnected(id, c->peerAddress());
    }
}

bool Receiver::claim(const QString &key)
{
    if (m_busy.contains(key))
        return false;
    m_busy.insert(key);
    return true;
}

void Receiver::release(const QString &key)
{
    m_busy.remove(key);
}

quint64 Receiver::commit(ReceiverConnection *connection, const QString &key, CommittingFile file,
                         CommitJob job)
{
    const quint64 token = m_committer.submit(std::move(job));
    m_pending.insert(token, PendingCommit{connection, key, std::move(file)});
    return token;
}

void Receiver::onCommitted(quint64 token, ErrorCode code, const QString &message)
{
    const PendingCommit pending = m_pending.take(token);
    release(pending.key);
    if (code == ErrorCode::Ok)
        m_store.remember(pending.file.source, pending.file.dbtag, pending.file.path,
                         pending.file.stamp);
    if (pending.connection && pending.connection->onCommitted(token, code, message))
        return;
    // The connection went away while the file was being committed: the sender will hear
    // AlreadyStored next time, but the outcome is a fact to report now.
    const CommittingFile &f = pending.file;
    if (code == ErrorCode::Ok) {
        qCInfo(lcRecv).noquote() << "stored" << f.source << f.dbtag << f.path << f.size
                                 << "bytes (sender gone before the acknowledgement)";
        emit fileStored(f.source, f.dbtag, f.path, f.size, f.clock.elapsed());
    } else {
        qCWarning(lcRecv).noquote()
            << "not stored" << f.source << f.dbtag << f.path << errorName(code) << ":" << message;
        emit fileFailed(f.source, f.dbtag, f.path, code, message);
    }
}

} // namespace isocket
