#include "core/edagent.h"

#include <QJsonDocument>

#include "core/logging.h"
#include "core/secret.h"
#include "core/sender.h"
#include "core/tls.h"

#include "core/eventloopthread.h"

#include <QFileInfo>
#include <QMetaMethod>
#include <QThread>

namespace isocket {

Result<EdAgentSetup> EdAgentSetup::fromConfig(const Config &config, Run run)
{
    EdAgentSetup s;
    const QString source = config.effectiveSource();
    if (auto r = validateName(source, QStringLiteral("source name")); !r)
        return Error{ErrorCode::UsageError, r.error().message + QStringLiteral(" (set --source)")};
    auto transport = transportFromConfig(config, Side::Sender);
    if (!transport)
        return Error{ErrorCode::UsageError, transport.error().message};
    if (!transport.value().tls && transport.value().plainOptIn)
        s.warnings << QStringLiteral("plain TCP to %1 (general.transport = plain): the data "
                                     "travels unencrypted, and the shared secret is the only "
                                     "proof of the receiver")
                          .arg(config.server);
    auto secret = readSecretFile(config.secretFile);
    if (!secret && (run.secretRequired || run.once))
        return Error{ErrorCode::UsageError, secret.error().message};
    if (!secret)
        s.secretProblem = secret.error().message;

    s.scan = ScanOptions{config.dataRoot, config.prefix, config.doneParse, config.doneWatch};
    s.engine.watch = !run.once;
    s.engine.settleMs = config.settleMs;
    s.engine.retryIntervalMs = config.retryIntervalMs;
    s.engine.retryMaxMs = config.retryMaxMs;
    s.engine.maxAttempts = run.once ? 5 : 0; // one pass must end
    const QList<ReceiverAddress> receivers = config.receivers();
    s.sender.host = receivers.first().host;
    s.sender.port = receivers.first().port;
    if (receivers.size() > 1)
        s.sender.receivers = receivers;
    s.sender.source = source;
    s.sender.secret = secret ? secret.value() : QByteArray();
    s.sender.secretFile = config.secretFile; // read again before each connection attempt
    s.sender.jobs = config.jobs;
    s.sender.window = config.window;
    s.sender.retryIntervalMs = config.retryIntervalMs;
    s.sender.retryMaxMs = config.retryMaxMs;
    s.sender.maxConnectAttempts = run.once ? 5 : 0;
    s.sender.bwlimit = config.bwlimit; // for the links together (one RateLimiter)
    s.sender.tls = transport.value().tls;
    s.sender.receiverFingerprints = transport.value().receiverFingerprints;
    return s;
}

QString EdAgentSetup::receiverAddress() const
{
    return receiverListText(sender.receiverList());
}

EdAgent::EdAgent(EdAgentSetup setup, Threading threading, QObject *parent)
    : QObject(parent), m_setup(std::move(setup)), m_threading(threading)
{
    qRegisterMetaType<FileTicket>();
    qRegisterMetaType<DbtagStatus>();
    qRegisterMetaType<FileUpdate>();
    qRegisterMetaType<QList<FileUpdate>>();
    qRegisterMetaType<QList<DbtagStatus>>();
    qRegisterMetaType<EdStatus>();
    qRegisterMetaType<LinkState>();
    qRegisterMetaType<Error>();
    m_status.receiver = m_setup.receiverAddress();
    m_status.source = m_setup.sender.source;
    m_status.root = m_setup.scan.root;
    m_status.bwlimit = m_setup.sender.bwlimit;
    if (threading == Threading::OwnThread) {
        m_thread = std::make_unique<EventLoopThread>(QStringLiteral("isocket-sender"));
        m_context = m_thread->host(); // lives until the thread ends, in the destructor
        m_thread->start();
    } else {
        m_context = this;
    }
}

EdAgent::~EdAgent()
{
    if (m_threading == Threading::CallerThread) {
        shutdown();
        return;
    }
    QMetaObject::invokeMethod(
        m_context,
        [this] {
            shutdown();
            QThread::currentThread()->quit();
        },
        Qt::QueuedConnection);
    m_thread->wait(); // the host (m_context) goes with the thread
}

template <typename F>
void EdAgent::post(F &&fn)
{
    if (m_threading == Threading::CallerThread)
        fn();
    else
        QMetaObject::invokeMethod(m_context, std::forward<F>(fn), Qt::QueuedConnection);
}

void EdAgent::start()
{
    post([this] { doStart(); });
}

void EdAgent::stop()
{
    post([this] {
        if (m_sender)
            m_sender->stop();
    });
}

void EdAgent::setPaused(bool paused)
{
    post([this, paused] {
        if (!m_sender)
            return;
        m_sender->setPaused(paused);
        m_health.paused = paused;
        std::lock_guard lock(m_statusMutex);
        m_status.paused = paused;
        touch();
    });
}

void EdAgent::retryNow()
{
    post([this] {
        if (m_sender)
            m_sender->retryNow();
    });
}

void EdAgent::retryFile(const QString &dbtag, const QString &relPath)
{
    post([this, dbtag, relPath] {
        if (m_engine)
            m_engine->retryFile(dbtag, relPath);
    });
}

void EdAgent::setBandwidthLimit(qint64 bytesPerSecond)
{
    post([this, bytesPerSecond] {
        const qint64 total = qMax<qint64>(0, bytesPerSecond);
        if (m_sender)
            m_sender->setBandwidthLimit(total);
        std::lock_guard lock(m_statusMutex);
        m_status.bwlimit = total;
        touch();
    });
}

void EdAgent::rescan()
{
    post([this] {
        if (m_engine)
            m_engine->rescan();
    });
}

EdStatus EdAgent::status() const
{
    std::lock_guard lock(m_statusMutex);
    EdStatus status = m_status;
    // In the engine thread the counts are read now, not at the last tick (the console asks
    // whether a pass is idle when it is stopped).
    const QThread *engineThread = m_thread ? m_thread->thread() : thread();
    if (QThread::currentThread() == engineThread)
        refreshCounts(status);
    return status;
}

void EdAgent::doStart()
{
    if (m_engine)
        return;
    m_engine = std::make_unique<EdEngine>(m_setup.scan, m_setup.engine);
    EdEngine *e = m_engine.get();
    QObject *c = m_context;
    auto update = [](FileUpdate::Kind kind, const FileTicket &ticket) {
        FileUpdate u;
        u.kind = kind;
        u.ticket = ticket;
        return u;
    };
    connect(e, &EdEngine::fileQueued, c, [this, update](const FileTicket &t) {
        addUpdate(update(FileUpdate::Kind::Queued, t));
    });
    connect(e, &EdEngine::fileMarked, c, [this, update](const FileTicket &t) {
        addDelivered(t.stamp.size);
        FileUpdate u = update(FileUpdate::Kind::Marked, t);
        u.size = t.stamp.size;
        addUpdate(std::move(u));
    });
    connect(e, &EdEngine::fileDropped, c, [this, update](const FileTicket &t, const QString &why) {
        FileUpdate u = update(FileUpdate::Kind::Dropped, t);
        u.reason = why;
        addUpdate(std::move(u));
    });
    connect(e, &EdEngine::fileFailedPermanently, c,
            [this, update](const FileTicket &t, const Error &error) {
                m_health.lastFailure = error.toString();
                // Refused by the receiver (SenderConnection::handleAccept), not failed here.
                if (error.message.startsWith(QLatin1String("receiver refused"))) {
                    if (m_health.permanentRefusal.isEmpty())
                        m_health.permanentRefusalSince = QDateTime::currentDateTimeUtc();
                    m_health.permanentRefusal = error.message;
                    ++m_health.permanentlyRefusedFiles;
                }
                FileUpdate u = update(FileUpdate::Kind::FailedForGood, t);
                u.error = error;
                addUpdate(std::move(u));
            });
    connect(e, &EdEngine::dbtagStateChanged, c, [this](const DbtagStatus &s) {
        onDbtagState(s);
        m_dbtags.append(s);
        schedule();
    });
    connect(e, &EdEngine::dbtagRemoved, c, [this](const QString &name) {
        onDbtagRemoved(name);
        m_removed.append(name);
        schedule();
    });
    connect(e, &EdEngine::dbtagFinished, c, [this] {
        std::lock_guard lock(m_statusMutex);
        ++m_status.dbtagsFinished;
        touch();
    });
    connect(e, &EdEngine::watcherUnreliable, c, [this](const QString &reason) {
        m_health.watcherTrouble = reason;
        std::lock_guard lock(m_statusMutex);
        m_status.unreliable = reason;
        ++m_status.unreliableCount;
        touch();
    });
    connect(e, &EdEngine::watcherOverflowed, c, [this] {
        m_health.lastOverflow = QDateTime::currentDateTimeUtc();
        touch();
    });
    connect(e, &EdEngine::rootLostChanged, c, [this](bool lost) {
        m_health.rootMissing = lost;
        touch();
    });
    connect(e, &EdEngine::idle, c, [this] {
        std::lock_guard lock(m_statusMutex);
        ++m_status.idleCount;
        touch();
    });

    SenderOptions senderOptions = m_setup.sender;
    senderOptions.liveShare = m_setup.engine.liveShare; // the engine's and the links' order agree
    m_sender = std::make_unique<Sender>(e, senderOptions);
    Sender *s = m_sender.get();
    connect(s, &Sender::filesReported, c, [this](const QList<FileUpdate> &updates) {
        onFileReports(updates);
        if (filesWatched()) {
            m_updates.append(updates);
            handOverIfLarge();
        } else {
            m_statusDirty = true;
        }
        schedule();
    });
    connect(s, &Sender::linkStateChanged, c,
            [this](int link, LinkState state, const QString &detail, int retryInMs) {
                std::lock_guard lock(m_statusMutex);
                if (link < 0 || link > 64)
                    return;
                while (m_status.links.size() <= link)
                    m_status.links.append(LinkStatus());
                LinkStatus &l = m_status.links[link];
                l.live = m_sender && m_sender->isLiveLink(link);
                l.state = state;
                l.detail = detail;
                l.retryAt = state == LinkState::Retrying
                                ? QDateTime::currentDateTimeUtc().addMSecs(retryInMs)
                                : QDateTime();
                if (state == LinkState::Ready)
                    m_status.fatal.clear(); // the operator fixed it and retried
                m_status.receiversDown = m_sender ? m_sender->receiversDownList() : QStringList();
                updateReceivers();
                onLinkState(state, detail);
                touch();
            });
    connect(s, &Sender::linkReceiverChanged, c, [this](int link, const QString &receiver) {
        std::lock_guard lock(m_statusMutex);
        if (link < 0 || link > 64)
            return;
        while (m_status.links.size() <= link)
            m_status.links.append(LinkStatus());
        m_status.links[link].receiver = receiver;
        updateReceivers();
        touch();
    });
    connect(s, &Sender::permanentError, c, [this](const Error &error) {
        std::lock_guard lock(m_statusMutex);
        m_status.fatal = error.toString();
        ++m_status.fatalCount;
        touch();
    });

    for (const QString &warning : std::as_const(m_setup.warnings))
        qCWarning(lcSend).noquote() << warning;
    if (!m_setup.secretProblem.isEmpty())
        qCCritical(lcSend).noquote()
            << m_setup.secretProblem << "; read again before each connection attempt";

    m_health.root = m_setup.scan.root;
    m_health.downSince = QDateTime::currentDateTimeUtc(); // not connected yet
    m_healthTimer = std::make_unique<QTimer>();
    m_healthTimer->setInterval(qMax(10, m_setup.healthTickMs));
    connect(m_healthTimer.get(), &QTimer::timeout, c, [this] {
        if (updateHealth())
            touch();
    });
    const bool ok = e->start();
    if (!ok) {
        m_health.startError = e->errorString();
        m_health.rootMissing = !QFileInfo(m_setup.scan.root).isDir();
    } else {
        m_health.root = e->scanOptions().root;
    }
    {
        std::lock_guard lock(m_statusMutex);
        if (!ok) {
            m_status.run = EdStatus::Run::Failed;
            m_status.error = e->errorString();
        } else {
            m_status.run = EdStatus::Run::Running;
            m_status.root = e->scanOptions().root;
        }
    }
    if (!ok) {
        m_sender.reset();
        m_engine.reset();
    } else {
        s->start();
    }
    {
        std::lock_guard lock(m_statusMutex);
        refreshCounts(m_status);
        touch();
    }
}

void EdAgent::shutdown()
{
    m_healthTimer.reset();
    if (m_sender)
        m_sender->stop();
    m_sender.reset(); // waits for the connections' threads
    delete std::exchange(m_reportTimer, nullptr);
    m_engine.reset();
}

bool EdAgent::filesWatched() const
{
    // Nobody listening: no list is kept.
    static const QMetaMethod signal = QMetaMethod::fromSignal(&EdAgent::filesChanged);
    return isSignalConnected(signal);
}

void EdAgent::addUpdate(FileUpdate update)
{
    if (filesWatched()) {
        m_updates.append(std::move(update));
        handOverIfLarge();
    } else {
        m_statusDirty = true; // the counts moved
    }
    schedule();
}

void EdAgent::handOverIfLarge()
{
    // A scan that queues 100,000 files in one turn would gather 100,000 updates (15 MiB of the
    // sender's memory, bench: queue): a large batch goes at once, in order, and the turn's end
    // hands over the rest.
    constexpr qsizetype MaxBatch = 1024;
    if (m_updates.size() >= MaxBatch) {
        m_statusDirty = true;
        Q_EMIT filesChanged(std::exchange(m_updates, {}));
    }
}

void EdAgent::touch()
{
    m_statusDirty = true;
    schedule();
}

void EdAgent::schedule()
{
    if (m_flushPosted)
        return;
    m_flushPosted = true;
    QMetaObject::invokeMethod(m_context, [this] { flush(); }, Qt::QueuedConnection);
}

void EdAgent::refreshCounts(EdStatus &status) const
{
    if (!m_engine)
        return;
    status.queued = m_engine->queuedCount();
    status.failed = m_engine->failedCount();
    status.idle = m_engine->isIdle();
    status.heldOpen = status.idle ? m_engine->filesHeldOpen() : QStringList();
}

void EdAgent::flush()
{
    m_flushPosted = false;
    const QList<FileUpdate> updates = std::exchange(m_updates, {});
    const QList<DbtagStatus> dbtags = std::exchange(m_dbtags, {});
    const QStringList removed = std::exchange(m_removed, {});
    if (!updates.isEmpty())
        m_statusDirty = true; // the counts moved
    if (!dbtags.isEmpty())
        Q_EMIT dbtagsChanged(dbtags);
    if (!removed.isEmpty())
        Q_EMIT dbtagsRemoved(removed);
    if (!updates.isEmpty())
        Q_EMIT filesChanged(updates);
    if (m_statusDirty) {
        m_statusDirty = false;
        EdStatus snapshot;
        updateHealth();
        {
            std::lock_guard lock(m_statusMutex);
            refreshCounts(m_status);
            snapshot = m_status;
        }
        reportHealth();
        Q_EMIT statusChanged(snapshot);
    }
}

void EdAgent::reportHealth()
{
    if (!m_sender)
        return;
    EdHealth health;
    {
        std::lock_guard lock(m_statusMutex);
        health = m_status.health;
    }
    // When it was computed is not a change.
    auto same = [](EdHealth a, EdHealth b) {
        a.at = b.at;
        return a == b;
    };
    if (m_reportedHealth && same(*m_reportedHealth, health))
        return;
    if (!m_reportTimer) {
        m_reportTimer = new QTimer(m_context);
        m_reportTimer->setSingleShot(true);
        connect(m_reportTimer, &QTimer::timeout, m_context, [this] { reportHealth(); });
    }
    if (m_reportClock.isValid() && m_reportClock.elapsed() < StatusReportMs) {
        if (!m_reportTimer->isActive())
            m_reportTimer->start(int(StatusReportMs - m_reportClock.elapsed()));
        return;
    }
    m_reportClock.restart();
    m_reportedHealth = health;
    m_sender->setStatusReport(QJsonDocument(health.toJson()).toJson(QJsonDocument::Compact));
}

void EdAgent::updateReceivers()
{
    // m_statusMutex is held.
    if (!m_sender)
        return;
    const QDateTime now = QDateTime::currentDateTimeUtc();
    QList<ReceiverLinkStatus> receivers;
    for (const ReceiverPool::State &state : m_sender->receivers()) {
        ReceiverLinkStatus r;
        r.address = state.address.toString();
        r.down = state.down;
        r.why = state.why;
        if (state.down)
            r.retryAt = now.addMSecs(state.retryInMs);
        for (const LinkStatus &l : std::as_const(m_status.links))
            r.readyLinks += l.state == LinkState::Ready && l.receiver == r.address ? 1 : 0;
        receivers.append(std::move(r));
    }
    m_status.receivers = std::move(receivers);
}

// --- health (core/health.h) ---

namespace {

// The code at the end of a link's detail: Error::toString() writes "message (code-name)".
ErrorCode trailingCode(const QString &detail)
{
    for (ErrorCode code : {ErrorCode::AuthFailed, ErrorCode::BadVersion, ErrorCode::ConfigError}) {
        if (detail.endsWith(QLatin1Char('(') + errorName(code) + QLatin1Char(')')))
            return code;
    }
    return ErrorCode::Ok;
}

} // namespace

void EdAgent::onLinkState(LinkState state, const QString &detail)
{
    // m_statusMutex is held: m_status.links is current.
    bool anyReady = false;
    for (const LinkStatus &l : std::as_const(m_status.links))
        anyReady = anyReady || l.state == LinkState::Ready;
    const QDateTime now = QDateTime::currentDateTimeUtc();
    if (anyReady) {
        m_health.connected = true;
        m_health.downSince = QDateTime();
        m_health.downCause.clear();
        m_health.authCode = ErrorCode::Ok;
        m_health.authFailingSince = QDateTime();
        m_health.authCause.clear();
        return;
    }
    if (m_health.connected || !m_health.downSince.isValid()) {
        m_health.connected = false;
        m_health.downSince = now;
    }
    if (state == LinkState::Retrying || state == LinkState::Refused)
        m_health.downCause = detail;
    else if (state == LinkState::Stopped)
        m_health.downCause = QStringLiteral("stopped");
    // Several receivers (send.server as a list): name each one that is down, and why.
    if (state != LinkState::Stopped && m_setup.sender.receivers.size() > 1
        && !m_status.receiversDown.isEmpty())
        m_health.downCause = QStringLiteral("receivers down: ")
                             + m_status.receiversDown.join(QStringLiteral("; "));
    if (state == LinkState::Refused) {
        const ErrorCode code = trailingCode(detail);
        if (code != ErrorCode::Ok) {
            if (m_health.authCode == ErrorCode::Ok)
                m_health.authFailingSince = now;
            m_health.authCode = code;
            m_health.authCause = detail;
        }
    }
}

void EdAgent::onFileReports(const QList<FileUpdate> &updates)
{
    for (const FileUpdate &u : updates) {
        if (u.kind == FileUpdate::Kind::Failed && u.error.code == ErrorCode::DiskFull) {
            if (!m_health.diskFullSince.isValid())
                m_health.diskFullSince = QDateTime::currentDateTimeUtc();
            m_health.diskFullCause = u.error.message;
        } else if (u.kind == FileUpdate::Kind::Delivered) {
            m_health.diskFullSince = QDateTime(); // the receiver stores again
            m_health.diskFullCause.clear();
        }
    }
}

void EdAgent::onDbtagState(const DbtagStatus &status)
{
    // Called for every file's progress in a dbtag: the counts move only when its state does.
    auto it = m_tagStates.find(status.name);
    if (it != m_tagStates.end() && *it == status.state)
        return;
    if (it != m_tagStates.end()) {
        const QString old = stateName(*it);
        if (--m_health.dbtagsByState[old] <= 0)
            m_health.dbtagsByState.remove(old);
        *it = status.state;
    } else {
        m_tagStates.insert(status.name, status.state);
    }
    ++m_health.dbtagsByState[stateName(status.state)];
    if (status.state == DbtagState::Live)
        m_health.liveDbtag = status.name;
    else if (m_health.liveDbtag == status.name)
        m_health.liveDbtag.clear();
}

void EdAgent::onDbtagRemoved(const QString &name)
{
    const auto it = m_tagStates.constFind(name);
    if (it == m_tagStates.cend())
        return;
    const QString old = stateName(*it);
    if (--m_health.dbtagsByState[old] <= 0)
        m_health.dbtagsByState.remove(old);
    m_tagStates.erase(it);
    if (m_health.liveDbtag == name)
        m_health.liveDbtag.clear();
}

void EdAgent::addDelivered(qint64 bytes)
{
    const qint64 nowMs = QDateTime::currentMSecsSinceEpoch();
    deliveredRate(nowMs); // forgets a stale ring first
    const qint64 second = nowMs / 1000;
    RateSlot &slot = m_rate[second % 10];
    if (slot.second != second)
        slot = RateSlot{second, 0};
    slot.bytes += qMax<qint64>(0, bytes);
    if (m_rateSinceMs < 0)
        m_rateSinceMs = nowMs;
}

double EdAgent::deliveredRate(qint64 nowMs)
{
    const qint64 second = nowMs / 1000;
    qint64 bytes = 0;
    for (const RateSlot &slot : m_rate)
        if (slot.second >= 0 && second - slot.second < 10)
            bytes += slot.bytes;
    if (bytes == 0) {
        m_rateSinceMs = -1; // nothing in the window: the next delivery starts it again
        return 0;
    }
    const double window = qBound(1.0, (nowMs - m_rateSinceMs) / 1000.0, 10.0);
    return double(bytes) / window;
}

bool EdAgent::updateHealth()
{
    if (m_engine) {
        m_health.backlogFiles = m_engine->backlogFiles();
        m_health.backlogBytes = m_engine->backlogBytes();
        m_health.oldestUnsent = m_engine->oldestUnsent();
        m_health.catchUpFiles = m_engine->catchUpFiles();
        m_health.oldestCatchUp = m_engine->oldestCatchUp();
        m_health.failedFiles = m_engine->failedCount();
    }
    if (m_health.failedFiles == 0) { // retried, or gone: no permanent refusal stands
        m_health.permanentRefusal.clear();
        m_health.permanentRefusalSince = QDateTime();
        m_health.permanentlyRefusedFiles = 0;
    }
    if (m_health.backlogFiles == 0) { // nothing waits: no refusal stands
        m_health.diskFullSince = QDateTime();
        m_health.diskFullCause.clear();
    }
    const QDateTime now = QDateTime::currentDateTimeUtc();
    m_health.rateBytesPerSecond = deliveredRate(now.toMSecsSinceEpoch());
    EdHealth health = assessEdHealth(m_health, now, m_setup.health);
    if (m_healthTimer) {
        const bool moves = edHealthMovesWithTime(m_health, now, m_setup.health);
        if (moves && !m_healthTimer->isActive())
            m_healthTimer->start();
        else if (!moves)
            m_healthTimer->stop();
    }
    std::lock_guard lock(m_statusMutex);
    EdHealth old = m_status.health;
    old.at = health.at;
    const bool changed = !(old == health);
    m_status.health = std::move(health);
    return changed;
}

} // namespace isocket
