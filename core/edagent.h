#pragma once
// EdAgent: the ED side as one object, for every face (the console's `isocket send`, the sender
// window, and whatever comes: a status command, a metrics endpoint). It owns the EdEngine and
// its Sender, starts, stops, pauses them, retries the connections now, rescans; and it gives
// what happens as batches of values: the file updates of a tick, the dbtags that changed, and a
// status snapshot (core/edevents.h).
//
// Built from an EdAgentSetup, which EdAgentSetup::fromConfig() makes from the configuration:
// the one mapping from the configuration's keys to the engine's and the sender's options, with
// its checks, that every face uses.
//
// Threads. The agent object belongs to the thread that creates it (a face's thread); the engine
// and the sender live in the agent's engine thread: with Threading::CallerThread that is the
// same thread (the console runs them in its event loop), with Threading::OwnThread a thread of
// the agent's own, an EventLoopThread (a window keeps painting). Every call here returns at once and runs in the
// engine thread; status() may be called from any thread. The signals are emitted in the engine
// thread: connect to them from any thread (a receiver in another thread gets them queued). The
// destructor stops the sender (tickets in flight go back unmarked), destroys engine and sender
// in their thread and, with OwnThread, joins it.
//
// Promises: the updates come in the order they happened (a tick's in one list, or in lists of
// 1024 when a tick has more), a file's Started before its
// Progress and its Delivered or Failed; statusChanged() follows every change of the snapshot,
// at most once a tick; start() is answered by a snapshot whose run is Running or Failed.

#include "core/config.h"
#include "core/edengine.h"
#include "core/edevents.h"
#include "core/error.h"
#include "core/senderconnection.h"

#include <QElapsedTimer>
#include <QHash>
#include <QTimer>
#include <QObject>
#include <QStringList>
#include <QTimer>

#include <memory>
#include <mutex>
#include <optional>


namespace isocket {

class EventLoopThread;

class Sender;

// Everything an EdAgent runs with. Plain values: a face may show or compare them.
struct EdAgentSetup
{
    ScanOptions scan;
    EngineOptions engine;
    SenderOptions sender;
    // The secret file could not be read. Not an error for a daemon that may run without it for
    // a while (each connection reads the file again, so fixing it is enough); see Run.
    QString secretProblem;
    // Worth a warning when the agent starts (plain TCP off this machine).
    QStringList warnings;
    // The verdict's limits (core/health.h, docs/HEALTH.md), and how often the ages, the rate
    // and the grace are looked at again while the verdict depends on the clock.
    EdHealthRules health;
    int healthTickMs = 5000;

    struct Run
    {
        bool once = false;          // one pass (send --once): no watchers, attempts bounded
        bool secretRequired = true; // an unreadable secret file is an error
    };
    // The one mapping from the configuration (data.*, send.*, general.*) to the options, with
    // its checks: the source name, the transport (TLS keys, pins, the plain opt-in), the secret
    // file. Errors are UsageError and name the key.
    static Result<EdAgentSetup> fromConfig(const Config &config, Run run);
    static Result<EdAgentSetup> fromConfig(const Config &config)
    {
        return fromConfig(config, Run{});
    }

    // "host:port", "[v6]:port"; several receivers: "a:1, b:2".
    QString receiverAddress() const;
};

class EdAgent : public QObject
{
    Q_OBJECT

public:
    enum class Threading { CallerThread, OwnThread };

    explicit EdAgent(EdAgentSetup setup, Threading threading = Threading::OwnThread,
                     QObject *parent = nullptr);
    ~EdAgent() override;

    const EdAgentSetup &setup() const { return m_setup; }

    // Scans the root, starts the watchers and the connections. With CallerThread it is done
    // when this returns (status().run is Running or Failed).
    void start();
    // Stops the connections (tickets in flight go back to the engine unmarked).
    void stop();
    void setPaused(bool paused); // paused: no new file is handed to a connection
    // send.bwlimit while running: bytes per second for all connections together (0: none),
    // shared among them as at start; each connection takes it for its next chunk.
    void setBandwidthLimit(qint64 bytesPerSecond);
    void retryNow();             // reconnect every waiting or refused link now
    void rescan();               // scan the data root again now
    // Send one file again now (a file failed for good, or waiting for a delayed retry): it
    // goes through the engine's queue like any other (EdEngine::retryFile()).
    void retryFile(const QString &dbtag, const QString &relPath);

    // Any thread: the snapshot of the last tick; in the engine thread with the counts of now.
    EdStatus status() const;

Q_SIGNALS:
    void statusChanged(const isocket::EdStatus &status);
    void filesChanged(const QList<isocket::FileUpdate> &updates);
    void dbtagsChanged(const QList<isocket::DbtagStatus> &dbtags);
    void dbtagsRemoved(const QStringList &names);

private:
    // In the engine thread.
    template <typename F>
    void post(F &&fn);
    void doStart();
    void shutdown();
    bool filesWatched() const; // filesChanged() has a receiver: updates are gathered
    void addUpdate(FileUpdate update);
    void handOverIfLarge(); // a batch of 1024 updates goes at once (bounded memory)
    void touch(); // the snapshot changed: statusChanged() at the end of the tick
    void schedule();
    void flush();
    void refreshCounts(EdStatus &status) const;
    // The receiver hears our health (Sender::setStatusReport(), STATUS) when it changed, at
    // most every StatusReportMs; a change within that is sent when it is up.
    static constexpr int StatusReportMs = 2000;
    void reportHealth();
    // The health's facts, from the events (engine thread).
    void onLinkState(LinkState state, const QString &detail);
    void updateReceivers(); // m_status.receivers from the pool and the links; under m_statusMutex
    void onFileReports(const QList<FileUpdate> &updates);
    void onDbtagState(const DbtagStatus &status);
    void onDbtagRemoved(const QString &name);
    void addDelivered(qint64 bytes);
    double deliveredRate(qint64 nowMs);
    // Assesses the health into m_status.health (under m_statusMutex) and runs the slow timer
    // while the verdict depends on the clock. True when it changed (`at` aside).
    bool updateHealth();

    EdAgentSetup m_setup;
    Threading m_threading;
    std::unique_ptr<EventLoopThread> m_thread; // OwnThread
    QObject *m_context = nullptr;      // lives in the engine thread; queued calls go to it
    // Engine thread only.
    std::unique_ptr<EdEngine> m_engine;
    std::unique_ptr<Sender> m_sender; // declared after the engine: destroyed first
    QList<FileUpdate> m_updates;
    QList<DbtagStatus> m_dbtags;
    QStringList m_removed;
    bool m_flushPosted = false;
    bool m_statusDirty = false;
    std::optional<EdHealth> m_reportedHealth; // the last one handed to the Sender
    QElapsedTimer m_reportClock;              // since then
    QTimer *m_reportTimer = nullptr;          // single shot, armed while a report waits
    EdHealthInputs m_health;
    std::unique_ptr<QTimer> m_healthTimer;
    QHash<QString, DbtagState> m_tagStates; // by dbtag: dbtagsByState without a scan
    // Bytes marked sent per second, the last 10 s (a ring), and since when the ring has been
    // filling (the rate's window before it is 10 s long).
    struct RateSlot
    {
        qint64 second = -1;
        qint64 bytes = 0;
    };
    RateSlot m_rate[10];
    qint64 m_rateSinceMs = -1;
    // Written in the engine thread, read anywhere.
    mutable std::mutex m_statusMutex;
    EdStatus m_status;
};

} // namespace isocket
