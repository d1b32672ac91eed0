#pragma once
// Sender: the transfer side of the ED. Feeds the engine's queue to `jobs` connections to the
// receiver and reports their outcomes back to the engine (markDelivered, fileFailed,
// returnTicket, dbtagClosed), so a file is marked sent only after the receiver stored it.
//
// The live link (issue 19): one more connection, the last (index `jobs`), that carries the
// files of live dbtags only (EdEngine::Take::LiveOnly) and is fed first. During a catch-up
// every other link streams a backlog file, with megabytes of it queued in the socket buffers
// on both ends; a live file handed to one of them waited for the rest of that file and for
// that queue (p99 ~100-300 ms on loopback, more on a slow network). On the live link it
// finds an empty pipe. A burst of live files larger than its window also goes to the other
// links (live first there too, SenderConnection's LiveFirst); while the live link is not
// ready, they take everything. It adds no bandwidth: send.bwlimit is one RateLimiter for all
// the links together.
//
// Lives in the engine's thread. Each connection (SenderConnection) runs in an event-loop thread
// of its own (EventLoopThread, one per link, ending when its connection has stopped); all
// traffic between them is queued calls and queued signals. The destructor stops the connections
// and waits for their threads, so no ticket is left in a thread that outlives us (tickets in
// flight return to the engine unmarked).
//
// Several receivers (SenderOptions::receivers): link i starts at receiver i mod N, and the links
// share one ReceiverPool, which tells which receivers back off after a failure; a link moves to
// another receiver when its own fails and returns to it once that one's backoff has expired and
// nothing is in flight on the link (core/receiverpool.h, SenderConnection).

#include "core/edengine.h"
#include "core/eventloopthread.h"
#include "core/senderconnection.h"

#include <QObject>

#include <deque>
#include <memory>
#include <vector>

namespace isocket {

class Sender : public QObject
{
    Q_OBJECT

public:
    // A link takes at least this many files when that many wait, even beyond its fair share of
    // the queue (enough to keep a connection's pipeline busy).
    static constexpr int MinShare = 32;

    Sender(EdEngine *engine, SenderOptions options, QObject *parent = nullptr);
    ~Sender() override;

    void start();
    void stop();                 // returns at once; stopped() follows
    void retryNow();             // reconnect every waiting link now
    void setPaused(bool paused); // paused: no new file is handed to a connection
    // Bytes per second for all the connections together (0: none), from their next chunk on.
    void setBandwidthLimit(qint64 bytesPerSecond);
    bool isPaused() const { return m_paused; }
    const SenderOptions &options() const { return m_options; }
    // The live link is the last, after the `jobs` others.
    bool isLiveLink(int link) const { return link == m_options.jobs; }
    int inFlight() const;
    // The ED's health as compact JSON (STATUS, protocol version 4): sent now on one ready link
    // per receiver, and again on a link that becomes ready while no other is ready on its
    // receiver (a reconnect, a move to another receiver). Identical JSON is
    // not sent again. The caller limits how often (EdAgent: on change, at most every 2 s).
    void setStatusReport(const QByteArray &json);
    // Each receiver, whether it is down and why (any thread).
    QList<ReceiverPool::State> receivers() const { return m_pool->states(); }
    QStringList receiversDownList() const { return m_pool->downList(); }

Q_SIGNALS:
    void linkStateChanged(int link, isocket::LinkState state, const QString &detail, int retryInMs);
    // The receiver ("host:port") link `link` connects to now; before its Connecting state.
    void linkReceiverChanged(int link, const QString &receiver);
    // What a connection reported in one batch (Started, Progress, Delivered, Failed), in order,
    // just before the engine is told (which then marks a Delivered file, or queues it again).
    void filesReported(const QList<isocket::FileUpdate> &updates);
    // Every link gave up (wrong secret, version, or --once out of attempts): an operator must act.
    void permanentError(const isocket::Error &error);
    void stopped();

private:
    struct Link;
    void feed();
    void feed(Link &link);
    void dispatchCloses();
    void onReports(int index, const QList<FileReport> &reports);
    void onDelivered(Link &link, const FileReport &report);
    void onReturned(int index, const QList<FileTicket> &tickets);
    void sendStatus(Link &link);

    EdEngine *m_engine;
    SenderOptions m_options;
    std::shared_ptr<ReceiverPool> m_pool;
    std::shared_ptr<RateLimiter> m_rate; // send.bwlimit, shared by the links
    std::vector<std::shared_ptr<Link>> m_links;
    struct PendingClose
    {
        QString dbtag;
        QList<proto::ManifestEntry> files;
    };
    std::deque<PendingClose> m_closes;
    QByteArray m_statusReport; // the latest STATUS payload
    bool m_paused = false;
    bool m_stopping = false;
    int m_stoppedLinks = 0;
    int m_fatalLinks = 0;
};

} // namespace isocket
