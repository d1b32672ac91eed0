#pragma once
// ReceiverWorker: the Receiver, on the ReceiverSession's worker thread, so that socket reads
// and file writes never compete with painting. start() (invoked queued, in that thread)
// creates it and listens; shutdown() closes and destroys it there. Every Receiver signal is
// forwarded; the session receives them queued in the GUI thread. Owned by the ReceiverSession.

#include "core/receiver.h"

#include <QHostAddress>
#include <QObject>

#include <memory>

namespace isocket::gui {

struct ReceiverSetup
{
    ReceiverOptions options;
    QHostAddress address = QHostAddress(QHostAddress::LocalHost);
    quint16 port = 12345;
};

class ReceiverWorker : public QObject
{
    Q_OBJECT

public:
    explicit ReceiverWorker(ReceiverSetup setup);
    ~ReceiverWorker() override;

    // In the worker thread only.
    void start();
    void shutdown();

Q_SIGNALS:
    void listening(const QString &address, quint16 port);
    void listenFailed(const QString &error);
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
    ReceiverSetup m_setup;
    std::unique_ptr<Receiver> m_receiver;
};

} // namespace isocket::gui
