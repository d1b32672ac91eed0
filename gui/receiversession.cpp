#include "gui/receiversession.h"

namespace isocket::gui {

ReceiverSession::ReceiverSession(ReceiverSetup setup, QObject *parent)
    : QObject(parent), m_setup(setup), m_worker(std::make_unique<ReceiverWorker>(std::move(setup)))
{
    qRegisterMetaType<isocket::ErrorCode>("isocket::ErrorCode");
    m_thread.setObjectName(QStringLiteral("isocket-receiver"));
    ReceiverWorker *w = m_worker.get();
    w->moveToThread(&m_thread);
    connect(w, &ReceiverWorker::listening, this, [this](const QString &address, quint16 port) {
        m_state = State::Listening;
        m_address = address + QLatin1Char(':') + QString::number(port);
        m_port = port;
        Q_EMIT listening(address, port);
    });
    connect(w, &ReceiverWorker::listenFailed, this, [this](const QString &error) {
        m_state = State::Failed;
        m_error = error;
        Q_EMIT listenFailed(error);
    });
    connect(w, &ReceiverWorker::peerConnected, this, &ReceiverSession::peerConnected);
    connect(w, &ReceiverWorker::peerAuthenticated, this, &ReceiverSession::peerAuthenticated);
    connect(w, &ReceiverWorker::peerDisconnected, this, &ReceiverSession::peerDisconnected);
    connect(w, &ReceiverWorker::authFailed, this, &ReceiverSession::authFailed);
    connect(w, &ReceiverWorker::fileStarted, this, &ReceiverSession::fileStarted);
    connect(w, &ReceiverWorker::fileProgress, this, &ReceiverSession::fileProgress);
    connect(w, &ReceiverWorker::fileStored, this, &ReceiverSession::fileStored);
    connect(w, &ReceiverWorker::fileFailed, this, &ReceiverSession::fileFailed);
    connect(w, &ReceiverWorker::dbtagCompleted, this, &ReceiverSession::dbtagCompleted);
    m_thread.start();
}

ReceiverSession::~ReceiverSession()
{
    QMetaObject::invokeMethod(
        m_worker.get(),
        [w = m_worker.get()] {
            w->shutdown();
            QThread::currentThread()->quit();
        },
        Qt::QueuedConnection);
    m_thread.wait();
}

void ReceiverSession::start()
{
    QMetaObject::invokeMethod(m_worker.get(), [w = m_worker.get()] { w->start(); },
                              Qt::QueuedConnection);
}

} // namespace isocket::gui
