#pragma once
// ReceiverSession: the GUI's facade over the DRMS side. Owns a worker QThread with the
// ReceiverWorker (the Receiver) in it; start() returns at once, listening() or listenFailed()
// follows; every signal arrives queued in the GUI thread. The destructor closes the receiver
// in its thread, then quits and joins the thread. Lives in the GUI thread.

#include "gui/receiverworker.h"

#include <QObject>
#include <QThread>

#include <memory>

namespace isocket::gui {

class ReceiverSession : public QObject
{
    Q_OBJECT

public:
    enum class State { Starting, Listening, Failed };

    explicit ReceiverSession(ReceiverSetup setup, QObject *parent = nullptr);
    ~ReceiverSession() override;

    void start();

    const ReceiverSetup &setup() const { return m_setup; }
    State state() const { return m_state; }
    QString listenAddress() const { return m_address; } // "127.0.0.1:12345" once listening
    quint16 port() const { return m_port; }
    QString errorString() const { return m_error; }

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
    QThread m_thread;
    std::unique_ptr<ReceiverWorker> m_worker;
    State m_state = State::Starting;
    QString m_address;
    quint16 m_port = 0;
    QString m_error;
};

} // namespace isocket::gui
