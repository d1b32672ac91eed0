#include "gui/sendersession.h"

namespace isocket::gui {

SenderSession::SenderSession(SenderSetup setup, QObject *parent)
    : QObject(parent), m_setup(setup), m_worker(std::make_unique<SenderWorker>(std::move(setup)))
{
    m_thread.setObjectName(QStringLiteral("isocket-sender"));
    SenderWorker *w = m_worker.get();
    w->moveToThread(&m_thread);
    // Worker → session: queued, since the worker lives in m_thread.
    connect(w, &SenderWorker::started, this, [this](bool ok, const QString &error) {
        m_running = ok;
        Q_EMIT started(ok, error);
    });
    connect(w, &SenderWorker::dbtagStateChanged, this, &SenderSession::dbtagStateChanged);
    connect(w, &SenderWorker::dbtagRemoved, this, &SenderSession::dbtagRemoved);
    connect(w, &SenderWorker::fileQueued, this, &SenderSession::fileQueued);
    connect(w, &SenderWorker::fileDropped, this, &SenderSession::fileDropped);
    connect(w, &SenderWorker::fileFailedPermanently, this, &SenderSession::fileFailedPermanently);
    connect(w, &SenderWorker::dbtagFinished, this, &SenderSession::dbtagFinished);
    connect(w, &SenderWorker::watcherUnreliable, this, &SenderSession::watcherUnreliable);
    connect(w, &SenderWorker::fileStarted, this, &SenderSession::fileStarted);
    connect(w, &SenderWorker::fileProgress, this, &SenderSession::fileProgress);
    connect(w, &SenderWorker::fileDelivered, this, &SenderSession::fileDelivered);
    connect(w, &SenderWorker::fileFailed, this, &SenderSession::fileFailed);
    connect(w, &SenderWorker::permanentError, this, &SenderSession::permanentError);
    connect(w, &SenderWorker::pausedChanged, this, [this](bool paused) {
        m_paused = paused;
        Q_EMIT pausedChanged(paused);
    });
    connect(w, &SenderWorker::linkStateChanged, this,
            [this](int link, LinkState state, const QString &detail, int retryInMs) {
                m_links.update(link, state, detail, retryInMs);
                Q_EMIT linksChanged();
            });
    m_thread.start();
}

SenderSession::~SenderSession()
{
    post([w = m_worker.get()] {
        w->shutdown();
        QThread::currentThread()->quit();
    });
    m_thread.wait();
}

template <typename F>
void SenderSession::post(F &&fn)
{
    QMetaObject::invokeMethod(m_worker.get(), std::forward<F>(fn), Qt::QueuedConnection);
}

void SenderSession::start()
{
    post([w = m_worker.get()] { w->start(); });
}

void SenderSession::setPaused(bool paused)
{
    post([w = m_worker.get(), paused] { w->setPaused(paused); });
}

void SenderSession::retryNow()
{
    post([w = m_worker.get()] { w->retryNow(); });
}

void SenderSession::rescan()
{
    post([w = m_worker.get()] { w->rescan(); });
}

QString SenderSession::receiverAddress() const
{
    const QString &host = m_setup.sender.host;
    return (host.contains(QLatin1Char(':')) ? QLatin1Char('[') + host + QLatin1Char(']') : host)
           + QLatin1Char(':') + QString::number(m_setup.sender.port);
}

} // namespace isocket::gui
