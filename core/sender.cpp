#include "core/sender.h"

#include "core/fsname.h"
#include "core/logging.h"

#include <QMutex>

#include <algorithm>

namespace isocket {

// What the Sender knows of one connection. The SenderConnection itself lives in the link's
// thread (a child of its host); `conn` is published under `mutex` while it exists, so calls are
// posted to a live object only.
struct Sender::Link
{
    int index = 0;
    bool live = false; // the live link: live files only (see sender.h)
    std::unique_ptr<EventLoopThread> thread;
    QMutex mutex;
    SenderConnection *conn = nullptr;
    bool stopAsked = false; // stop() came before `conn` was published: it shuts down at once
    LinkState state = LinkState::Disconnected;
    QString receiver; // "host:port" it is on or tries
    int assigned = 0; // tickets handed to it and not yet reported back
    bool closeBusy = false;

    template <typename F>
    void post(F &&fn)
    {
        QMutexLocker lock(&mutex);
        if (conn)
            QMetaObject::invokeMethod(conn, std::forward<F>(fn), Qt::QueuedConnection);
    }

    void requestStop()
    {
        QMutexLocker lock(&mutex);
        stopAsked = true;
        if (conn)
            QMetaObject::invokeMethod(conn, &SenderConnection::shutdown, Qt::QueuedConnection);
    }
};

Sender::Sender(EdEngine *engine, SenderOptions options, QObject *parent)
    : QObject(parent), m_engine(engine), m_options(std::move(options))
{
    qRegisterMetaType<LinkState>();
    qRegisterMetaType<FileStamp>();
    qRegisterMetaType<Error>();
    qRegisterMetaType<QList<FileTicket>>();
    qRegisterMetaType<QList<FileReport>>();
    qRegisterMetaType<QList<proto::ManifestEntry>>();
    m_options.jobs = qBound(1, m_options.jobs, 32);
    m_pool = std::make_shared<ReceiverPool>(m_options.receiverList(), m_options.retryIntervalMs,
                                            m_options.retryMaxMs);
    m_rate = std::make_shared<RateLimiter>(m_options.bwlimit);
    connect(m_engine, &EdEngine::filesAvailable, this, qOverload<>(&Sender::feed));
    connect(m_engine, &EdEngine::dbtagReadyToClose, this,
            [this](const QString &dbtag, const QList<proto::ManifestEntry> &files) {
                m_closes.push_back({dbtag, files});
                dispatchCloses();
            });
}

Sender::~Sender()
{
    m_stopping = true;
    stop();
    // Each link's thread ends once its connection has stopped (tickets in flight returned).
    for (auto &link : m_links)
        link->thread->wait();
}

void Sender::start()
{
    // `jobs` links, and the live link last.
    for (int i = 0; i <= m_options.jobs; ++i) {
        auto link = std::make_shared<Link>();
        link->index = i;
        link->live = isLiveLink(i);
        m_links.push_back(link);
        const SenderOptions options = m_options;
        link->thread = std::make_unique<EventLoopThread>(QStringLiteral("isocket-link-%1").arg(i));
        link->thread->start();
        EventLoopThread *thread = link->thread.get();
        thread->post([link, options, this, thread, pool = m_pool, rate = m_rate] {
            auto *conn = new SenderConnection(link->index, options, thread->host(), pool, rate);
            connect(conn, &SenderConnection::receiverChanged, this,
                    [this](int index, const QString &receiver) {
                        m_links[index]->receiver = receiver;
                        Q_EMIT linkReceiverChanged(index, receiver);
                    });
            // Signals come back queued into the Sender's thread; `this` outlives the thread.
            connect(conn, &SenderConnection::stateChanged, this,
                    [this](int index, LinkState state, const QString &detail, int retryIn) {
                        m_links[index]->state = state;
                        Q_EMIT linkStateChanged(index, state, detail, retryIn);
                        if (state == LinkState::Ready) {
                            // Alone on its receiver (several receivers: each hears it).
                            const QString &receiver = m_links[index]->receiver;
                            const bool alone = std::none_of(
                                m_links.cbegin(), m_links.cend(), [&](const auto &l) {
                                    return l->index != index && l->state == LinkState::Ready
                                           && l->receiver == receiver;
                                });
                            if (alone) // the receiver hears our health again after a reconnect
                                sendStatus(*m_links[index]);
                            feed(*m_links[index]);
                            dispatchCloses();
                        }
                    });
            connect(conn, &SenderConnection::versionAgreed, this,
                    [this](int, quint16 version) { m_engine->setPeerVersion(version); });
            connect(conn, &SenderConnection::reported, this, &Sender::onReports);
            connect(conn, &SenderConnection::returned, this, &Sender::onReturned);
            connect(conn, &SenderConnection::dbtagClosed, this,
                    [this](int index, const QString &dbtag, const Error &result) {
                        m_links[index]->closeBusy = false;
                        m_engine->dbtagClosed(dbtag, result);
                        dispatchCloses();
                    });
            connect(conn, &SenderConnection::fatal, this, [this](int, const Error &error) {
                if (++m_fatalLinks == static_cast<int>(m_links.size()))
                    Q_EMIT permanentError(error);
            });
            // Its thread ends with it (in that thread: nothing is posted to it afterwards).
            connect(conn, &SenderConnection::stopped, conn, [link, thread] {
                {
                    QMutexLocker lock(&link->mutex);
                    link->conn = nullptr;
                }
                thread->quit();
            });
            connect(conn, &SenderConnection::stopped, this, [this] {
                if (++m_stoppedLinks == static_cast<int>(m_links.size()))
                    Q_EMIT stopped();
            });
            bool stopAsked = false;
            {
                QMutexLocker lock(&link->mutex);
                link->conn = conn;
                stopAsked = link->stopAsked;
            }
            conn->start();
            if (stopAsked) // stop() found no connection to post to: it stops the way it would have
                QMetaObject::invokeMethod(conn, &SenderConnection::shutdown, Qt::QueuedConnection);
        });
    }
}

void Sender::stop()
{
    m_stopping = true;
    for (auto &link : m_links)
        link->requestStop();
}

void Sender::retryNow()
{
    m_fatalLinks = 0;
    m_pool->reset();
    for (auto &link : m_links)
        link->post([c = link.get()] {
            if (c->conn)
                c->conn->retryNow();
        });
}

void Sender::setBandwidthLimit(qint64 bytesPerSecond)
{
    m_options.bwlimit = bytesPerSecond;
    m_rate->setLimit(bytesPerSecond); // shared by the links: no need to tell each
}

void Sender::setPaused(bool paused)
{
    m_paused = paused;
    if (!paused)
        feed();
}

void Sender::setStatusReport(const QByteArray &json)
{
    if (json == m_statusReport)
        return;
    m_statusReport = json;
    // One ready link per receiver: with several, each of them knows our health.
    QStringList told;
    for (auto &link : m_links) {
        if (link->state == LinkState::Ready && !told.contains(link->receiver)) {
            told << link->receiver;
            sendStatus(*link);
        }
    }
}

void Sender::sendStatus(Link &link)
{
    if (m_statusReport.isEmpty())
        return;
    link.post([c = &link, json = m_statusReport] {
        if (c->conn)
            c->conn->sendStatus(json);
    });
}

int Sender::inFlight() const
{
    int n = 0;
    for (const auto &link : m_links)
        n += link->assigned;
    return n;
}

void Sender::feed()
{
    for (auto &link : m_links)
        feed(*link);
}

void Sender::feed(Link &link)
{
    if (m_paused || m_stopping || link.state != LinkState::Ready)
        return;
    // The live files go to the live link first, while it has room; the others take what it
    // leaves (everything while it is not ready).
    if (!link.live && !m_links.empty())
        feed(*m_links.back());
    // Keep each link's window full; the link itself limits what it offers at once. But a link
    // takes its share of what waits, not a whole window: the first link ready would otherwise
    // take a batch smaller than a window alone, and the other connections (and receivers of
    // the list) get none of it. One queued call (one wake-up of the link's thread) for all the
    // tickets of this turn.
    const qint64 links = qMax<qint64>(1, qint64(m_links.size()) - 1); // the live link aside
    const qint64 share = (qint64(m_engine->queuedCount()) + inFlight() + links - 1) / links;
    const int limit = int(std::min<qint64>(m_options.window, std::max<qint64>(share, MinShare)));
    const EdEngine::Take take = link.live ? EdEngine::Take::LiveOnly : EdEngine::Take::Any;
    QList<FileTicket> tickets;
    while (link.assigned < limit) {
        auto ticket = m_engine->takeNext(take);
        if (!ticket)
            break;
        ++link.assigned;
        tickets.append(std::move(*ticket));
    }
    if (tickets.isEmpty())
        return;
    link.post([c = &link, tickets = std::move(tickets)] {
        if (c->conn)
            c->conn->addTickets(tickets);
    });
}

void Sender::dispatchCloses()
{
    while (!m_closes.empty()) {
        Link *free = nullptr;
        for (auto &link : m_links)
            if (link->state == LinkState::Ready && !link->closeBusy) {
                free = link.get();
                break;
            }
        if (!free)
            return;
        PendingClose c = std::move(m_closes.front());
        m_closes.pop_front();
        free->closeBusy = true;
        free->post([link = free, c] {
            if (link->conn)
                link->conn->closeDbtag(c.dbtag, c.files);
        });
    }
}

void Sender::onReports(int index, const QList<FileReport> &reports)
{
    Link &link = *m_links[index];
    QList<FileUpdate> updates;
    updates.reserve(reports.size());
    for (const FileReport &r : reports) {
        FileUpdate &u = updates.emplace_back();
        u.ticket = r.ticket;
        u.done = r.done;
        u.size = r.size;
        u.durationMs = r.durationMs;
        u.error = r.error;
        switch (r.kind) {
        case FileReport::Kind::Started: u.kind = FileUpdate::Kind::Started; break;
        case FileReport::Kind::Progress: u.kind = FileUpdate::Kind::Progress; break;
        case FileReport::Kind::Delivered: u.kind = FileUpdate::Kind::Delivered; break;
        case FileReport::Kind::Failed: u.kind = FileUpdate::Kind::Failed; break;
        }
    }
    // First what happened on the link, then what the engine makes of it (a file marked, queued
    // again), so that whoever follows both sees them in that order.
    Q_EMIT filesReported(updates);
    for (const FileReport &r : reports) {
        if (r.kind == FileReport::Kind::Delivered) {
            onDelivered(link, r);
        } else if (r.kind == FileReport::Kind::Failed) {
            --link.assigned;
            m_engine->fileFailed(r.ticket, r.error);
        }
    }
    feed(link); // once for the batch
}

void Sender::onDelivered(Link &link, const FileReport &r)
{
    --link.assigned;
    const qint64 bytes = r.done;
    const qint64 ms = r.durationMs;
    // "sent" only for a version that was marked: one that changed while it was read is not
    // (markDelivered() says so and queues it again).
    if (m_engine->markDelivered(r.ticket, r.read, r.file ? r.file->get() : -1)) {
        const double rate = ms > 0 ? bytes / 1048576.0 / (ms / 1000.0) : 0.0;
        // printf style: cheaper than QDebug for a line per file (issue 6)
        qCInfo(lcSend, "sent %s/%s (%lld bytes, %lld ms, %.1f MiB/s)",
               qUtf8Printable(displayName(r.ticket.dbtag)),
               qUtf8Printable(displayName(r.ticket.relPath)), static_cast<long long>(r.read.size),
               static_cast<long long>(ms), rate);
    }
}

void Sender::onReturned(int index, const QList<FileTicket> &tickets)
{
    m_links[index]->assigned -= static_cast<int>(tickets.size());
    // Back to the front of the queue, in their order.
    for (auto it = tickets.crbegin(); it != tickets.crend(); ++it)
        m_engine->returnTicket(*it);
    feed();
}

} // namespace isocket
