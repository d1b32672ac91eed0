#pragma once
// SenderSession: the GUI's facade over the ED side. Owns a worker QThread with the
// SenderWorker (engine + Sender) in it; every call here returns at once (a queued call into
// the worker), every signal arrives queued in the GUI thread. The destructor shuts the worker
// down in its thread, then quits and joins the thread (the only wait, on exit).
// Keeps the LinkSummary of the connections. Lives in the GUI thread.

#include "gui/linksummary.h"
#include "gui/senderworker.h"

#include <QObject>
#include <QThread>

#include <memory>

namespace isocket::gui {

class SenderSession : public QObject
{
    Q_OBJECT

public:
    explicit SenderSession(SenderSetup setup, QObject *parent = nullptr);
    ~SenderSession() override;

    void start();
    void setPaused(bool paused);
    void retryNow();
    void rescan();

    const SenderSetup &setup() const { return m_setup; }
    QString receiverAddress() const;
    const LinkSummary &links() const { return m_links; }
    bool isPaused() const { return m_paused; }
    bool isRunning() const { return m_running; }

Q_SIGNALS:
    void started(bool ok, const QString &error);
    void dbtagStateChanged(const isocket::DbtagStatus &status);
    void dbtagRemoved(const QString &dbtag);
    void fileQueued(const isocket::FileTicket &ticket);
    void fileDropped(const isocket::FileTicket &ticket, const QString &reason);
    void fileFailedPermanently(const isocket::FileTicket &ticket, const isocket::Error &error);
    void dbtagFinished(const QString &dbtag);
    void watcherUnreliable(const QString &reason);
    void fileStarted(const isocket::FileTicket &ticket, qint64 offset, qint64 size);
    void fileProgress(const isocket::FileTicket &ticket, qint64 done, qint64 size);
    void fileDelivered(const isocket::FileTicket &ticket, qint64 bytesSent, qint64 durationMs);
    void fileFailed(const isocket::FileTicket &ticket, const isocket::Error &error);
    void permanentError(const isocket::Error &error);
    void linksChanged();           // links() changed
    void pausedChanged(bool paused);

private:
    template <typename F>
    void post(F &&fn);

    SenderSetup m_setup;
    QThread m_thread;
    std::unique_ptr<SenderWorker> m_worker;
    LinkSummary m_links;
    bool m_paused = false;
    bool m_running = false;
};

} // namespace isocket::gui
