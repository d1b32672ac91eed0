#pragma once
// Receiver: the DRMS side's facade. Listens on TCP, authenticates EDs and stores their files at
// `<root>/<source>/<dbtag>/<path>` (ReceiveStore), durable before they are acknowledged
// (Committer). Many EDs and many connections per ED at once.
//
// Owns the listening server, the store, the committer (its worker thread) and one
// ReceiverConnection per accepted socket (children; each deletes itself when its peer goes).
// Also holds the registry of files being written, so two connections never write the same file.
// Lives in the thread that created it (normally the main thread); calls return at once.
//
// Signals state facts with value types, for the GUI and the CLI. fileProgress comes at most
// about 10 times a second per transfer. Every fileStarted ends in fileStored or fileFailed unless
// the peer goes away first (then the partial is kept and resumed when the file is offered again).

#include "core/committer.h"
#include "core/error.h"
#include "core/receivestore.h"

#include <QByteArray>
#include <QElapsedTimer>
#include <QHash>
#include <QHostAddress>
#include <QObject>
#include <QPointer>
#include <QSet>
#include <QString>
#include <QTcpServer>
#include <QThreadPool>

namespace isocket {

class ReceiverConnection;

struct ReceiverOptions
{
    QString root;            // must exist
    QByteArray secret;       // empty: an empty HMAC key (only on a loopback address)
    qint64 reserveBytes = 0; // free space always kept on the root's filesystem
    CommitSync sync = CommitSync::Auto;
};

class Receiver : public QObject
{
    Q_OBJECT

public:
    explicit Receiver(ReceiverOptions options, QObject *parent = nullptr);
    ~Receiver() override;

    // Opens the root and starts listening. False with errorString() on failure, also when the
    // secret is empty and `address` is not a loopback address.
    bool listen(const QHostAddress &address, quint16 port);
    QString errorString() const { return m_errorString; }
    quint16 serverPort() const;
    QHostAddress serverAddress() const;
    bool isListening() const { return m_server.isListening(); }

    // Stops listening and drops every connection (partials are kept for a later resume).
    void close();

    int authFailureCount() const { return m_authFailures; }
    int connectionCount() const;
    // The thread that writes dbtag manifests (tests hold it up).
    QThreadPool &manifestWriter() { return m_manifestWriter; }

signals:
    void peerConnected(quint64 connId, const QString &peerAddress);
    void peerAuthenticated(quint64 connId, const QString &source);
    void peerDisconnected(quint64 connId);
    void authFailed(const QString &peerAddress, const QString &reason);
    void fileStarted(quint64 connId, const QString &source, const QString &dbtag,
                     const QString &path, qint64 size, qint64 offset);
    void fileProgress(quint64 connId, const QString &source, const QString &dbtag,
                      const QString &path, qint64 bytesDone, qint64 size);
    void fileStored(const QString &source, const QString &dbtag, const QString &path, qint64 size,
                    qint64 durationMs);
    void fileFailed(const QString &source, const QString &dbtag, const QString &path,
                    isocket::ErrorCode code, const QString &message);
    void dbtagCompleted(const QString &source, const QString &dbtag, int files, qint64 bytes);

private:
    friend class ReceiverConnection;

    // The registry of files being written, keyed by "<source>/<dbtag>/<path>".
    bool claim(const QString &key);
    void release(const QString &key);
    // Hands a finished partial to the committer; `key` stays claimed until it is durable, even
    // when `connection` goes away first. The result goes to connection->onCommitted(), or, when
    // the connection is gone, is reported here (fileStored/fileFailed) from `file`.
    struct CommittingFile
    {
        QString source;
        QString dbtag;
        QString path;
        qint64 size = 0;
        QElapsedTimer clock; // started at BEGIN
        StoredStamp stamp;   // remembered by the store once committed (when valid)
    };
    quint64 commit(ReceiverConnection *connection, const QString &key, CommittingFile file,
                   CommitJob job);
    ReceiveStore &store() { return m_store; }
    // Writes and syncs a dbtag's manifest on a thread of its own (one at a time), then calls
    // connection->manifestWritten() here, if the connection is still there.
    void writeManifest(ReceiverConnection *connection, ReceiveStore::ManifestDraft draft,
                       quint32 closeId, const QString &dbtag, int files);
    const QByteArray &secret() const { return m_options.secret; }

    void acceptConnections();
    void onCommitted(quint64 token, ErrorCode code, const QString &message);

    struct PendingCommit
    {
        QPointer<ReceiverConnection> connection;
        QString key;
        CommittingFile file;
    };

    ReceiverOptions m_options;
    ReceiveStore m_store;
    Committer m_committer;
    QThreadPool m_manifestWriter; // one thread: drafts of the same dbtag never overlap
    QTcpServer m_server;
    QString m_errorString;
    QSet<QString> m_busy;
    QHash<quint64, PendingCommit> m_pending;
    quint64 m_nextConnectionId = 1;
    int m_authFailures = 0;
};

} // namespace isocket
