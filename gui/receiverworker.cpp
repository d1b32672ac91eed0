#include "gui/receiverworker.h"

namespace isocket::gui {

ReceiverWorker::ReceiverWorker(ReceiverSetup setup) : m_setup(std::move(setup)) {}

ReceiverWorker::~ReceiverWorker() = default;

void ReceiverWorker::start()
{
    m_receiver = std::make_unique<Receiver>(m_setup.options);
    Receiver *r = m_receiver.get();
    connect(r, &Receiver::peerConnected, this, &ReceiverWorker::peerConnected);
    connect(r, &Receiver::peerAuthenticated, this, &ReceiverWorker::peerAuthenticated);
    connect(r, &Receiver::peerDisconnected, this, &ReceiverWorker::peerDisconnected);
    connect(r, &Receiver::authFailed, this, &ReceiverWorker::authFailed);
    connect(r, &Receiver::fileStarted, this, &ReceiverWorker::fileStarted);
    connect(r, &Receiver::fileProgress, this, &ReceiverWorker::fileProgress);
    connect(r, &Receiver::fileStored, this, &ReceiverWorker::fileStored);
    connect(r, &Receiver::fileFailed, this, &ReceiverWorker::fileFailed);
    connect(r, &Receiver::dbtagCompleted, this, &ReceiverWorker::dbtagCompleted);
    if (!r->listen(m_setup.address, m_setup.port)) {
        const QString error = r->errorString();
        m_receiver.reset();
        Q_EMIT listenFailed(error);
        return;
    }
    const QHostAddress a = r->serverAddress();
    const QString host = a.protocol() == QAbstractSocket::IPv6Protocol
                             ? QLatin1Char('[') + a.toString() + QLatin1Char(']')
                             : a.toString();
    Q_EMIT listening(host, r->serverPort());
}

void ReceiverWorker::shutdown()
{
    if (m_receiver)
        m_receiver->close();
    m_receiver.reset();
}

} // namespace isocket::gui
