#include "gui/senderworker.h"

namespace isocket::gui {

SenderWorker::SenderWorker(SenderSetup setup) : m_setup(std::move(setup)) {}

SenderWorker::~SenderWorker() = default;

void SenderWorker::start()
{
    m_engine = std::make_unique<EdEngine>(m_setup.scan, m_setup.engine);
    EdEngine *e = m_engine.get();
    connect(e, &EdEngine::dbtagStateChanged, this, &SenderWorker::dbtagStateChanged);
    connect(e, &EdEngine::dbtagRemoved, this, &SenderWorker::dbtagRemoved);
    connect(e, &EdEngine::fileQueued, this, &SenderWorker::fileQueued);
    connect(e, &EdEngine::fileDropped, this, &SenderWorker::fileDropped);
    connect(e, &EdEngine::fileFailedPermanently, this, &SenderWorker::fileFailedPermanently);
    connect(e, &EdEngine::dbtagFinished, this, &SenderWorker::dbtagFinished);
    connect(e, &EdEngine::watcherUnreliable, this, &SenderWorker::watcherUnreliable);
    connect(e, &EdEngine::idle, this, &SenderWorker::idle);

    m_sender = std::make_unique<Sender>(e, m_setup.sender);
    Sender *s = m_sender.get();
    connect(s, &Sender::linkStateChanged, this, &SenderWorker::linkStateChanged);
    connect(s, &Sender::fileStarted, this, &SenderWorker::fileStarted);
    connect(s, &Sender::fileProgress, this, &SenderWorker::fileProgress);
    connect(s, &Sender::fileDelivered, this, &SenderWorker::fileDelivered);
    connect(s, &Sender::fileFailed, this, &SenderWorker::fileFailed);
    connect(s, &Sender::permanentError, this, &SenderWorker::permanentError);

    if (!e->start()) {
        const QString error = e->errorString();
        m_sender.reset();
        m_engine.reset();
        Q_EMIT started(false, error);
        return;
    }
    s->start();
    Q_EMIT started(true, QString());
}

void SenderWorker::shutdown()
{
    if (m_sender)
        m_sender->stop();
    m_sender.reset(); // waits for the connections' threads
    m_engine.reset();
}

void SenderWorker::setPaused(bool paused)
{
    if (!m_sender)
        return;
    m_sender->setPaused(paused);
    Q_EMIT pausedChanged(paused);
}

void SenderWorker::retryNow()
{
    if (m_sender)
        m_sender->retryNow();
}

void SenderWorker::rescan()
{
    if (m_engine)
        m_engine->rescan();
}

} // namespace isocket::gui
