#pragma once
// SenderWorker: the ED engine and its Sender, on the SenderSession's worker thread. start()
// (invoked queued, in that thread) creates both, so their timers, notifiers and blocking file
// work live there; shutdown() destroys them there (the Sender returns tickets in flight and
// waits for its pool). Every signal of the engine and the Sender is forwarded; the session
// receives them queued in the GUI thread. Owned by the SenderSession.

#include "core/edengine.h"
#include "core/sender.h"

#include <QObject>

#include <memory>

namespace isocket::gui {

struct SenderSetup
{
    ScanOptions scan;
    EngineOptions engine;
    SenderOptions sender;
};

class SenderWorker : public QObject
{
    Q_OBJECT

public:
    explicit SenderWorker(SenderSetup setup);
    ~SenderWorker() override;

    // In the worker thread only.
    void start();
    void shutdown();
    void setPaused(bool paused);
    void retryNow();
    void rescan();

Q_SIGNALS:
    void started(bool ok, const QString &error);
    void dbtagStateChanged(const isocket::DbtagStatus &status);
    void dbtagRemoved(const QString &dbtag);
    void fileQueued(const isocket::FileTicket &ticket);
    void fileDropped(const isocket::FileTicket &ticket, const QString &reason);
    void fileFailedPermanently(const isocket::FileTicket &ticket, const isocket::Error &error);
    void dbtagFinished(const QString &dbtag);
    void watcherUnreliable(const QString &reason);
    void idle();
    void linkStateChanged(int link, isocket::LinkState state, const QString &detail, int retryInMs);
    void fileStarted(const isocket::FileTicket &ticket, qint64 offset, qint64 size);
    void fileProgress(const isocket::FileTicket &ticket, qint64 done, qint64 size);
    void fileDelivered(const isocket::FileTicket &ticket, qint64 bytesSent, qint64 durationMs);
    void fileFailed(const isocket::FileTicket &ticket, const isocket::Error &error);
    void permanentError(const isocket::Error &error);
    void pausedChanged(bool paused);

private:
    SenderSetup m_setup;
    std::unique_ptr<EdEngine> m_engine;
    std::unique_ptr<Sender> m_sender; // declared after the engine: destroyed first
};

} // namespace isocket::gui
