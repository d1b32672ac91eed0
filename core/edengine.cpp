#include "core/edengine.h"

#include "core/backoff.h"
#include "core/config.h"
#include "core/fsname.h"
#include "core/inotifywatcher.h"
#include "core/logging.h"
#include "core/rootwatcher.h"
#include "core/sentmark.h"


#include <cerrno>
#include <limits>
#include <csignal>
#include <mutex>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <QDir>

namespace isocket {

namespace {

enum class Writer { None, Open, Unknown };

// Whether some process holds `path` open for writing. A read lease can only be taken when no
// one does (F_SETLEASE fails with EAGAIN otherwise). Where no lease can be had (not the owner
// without CAP_LEASE, a filesystem without leases) the answer is Unknown.
Writer writerOf(const QString &path)
{
    static std::once_flag sigioOnce;
    std::call_once(sigioOnce, [] {
        // Taking a lease makes us the owner of SIGIO for the file; should a writer open it in the
        // instant before we release the lease, the kernel signals us. SIGIO's default action would
        // end the process: ignore it unless somebody else already handles it.
        struct sigaction old;
        if (::sigaction(SIGIO, nullptr, &old) == 0 && old.sa_handler == SIG_DFL)
            ::signal(SIGIO, SIG_IGN);
    });
    UniqueFd fd(::open(nativePath(path).constData(), O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid())
        return Writer::Unknown;
    if (::fcntl(fd.get(), F_SETLEASE, F_RDLCK) == 0) {
        ::fcntl(fd.get(), F_SETLEASE, F_UNLCK);
        return Writer::None;
    }
    return errno == EAGAIN ? Writer::Open : Writer::Unknown;
}

bool hasSentRecord(const QString &path)
{
    char buf[64];
    return ::lgetxattr(nativePath(path).constData(), SentMark::AttributeName, buf, sizeof buf) >= 0;
}

qint64 nowMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

bool sameManifest(const QList<proto::ManifestEntry> &a, const QList<proto::ManifestEntry> &b)
{
    return std::equal(a.cbegin(), a.cend(), b.cbegin(), b.cend(),
                      [](const proto::ManifestEntry &x, const proto::ManifestEntry &y) {
                          return x.path == y.path && x.size == y.size && x.outside == y.outside &&
                                 x.skipped == y.skipped;
                      });
}

// The manifest of a dbtag's listing, its skipped entries last; false in *allSent when a file in
// it is not marked sent.
QList<proto::ManifestEntry> manifestOf(const QList<DataFile> &files,
                                       const QList<SkippedEntry> &skipped, bool *allSent)
{
    QList<proto::ManifestEntry> manifest;
    manifest.reserve(files.size() + skipped.size());
    *allSent = true;
    for (const DataFile &f : files) {
        if (!f.sent) {
            *allSent = false;
            break;
        }
        manifest.append({f.relPath, static_cast<quint64>(f.stamp.size), f.outside, {}});
    }
    for (const SkippedEntry &e : skipped)
        manifest.append({e.path, 0, false, e.reason});
    return manifest;
}

} // namespace

EdEngine::EdEngine(ScanOptions scan, EngineOptions options, QObject *parent)
    : QObject(parent), m_scanner(std::move(scan)), m_options(options)
{
    qRegisterMetaType<FileTicket>();
    qRegisterMetaType<DbtagStatus>();
    m_retryTimer.setSingleShot(true);
    m_settleTimer.setSingleShot(true);
    m_settleTimer.setInterval(m_options.settleMs);
    m_unreliableTimer.setInterval(10000);
    connect(&m_retryTimer, &QTimer::timeout, this, &EdEngine::onRetryTimer);
    connect(&m_settleTimer, &QTimer::timeout, this, &EdEngine::onSettleTimer);
    m_quietTimer.setSingleShot(true);
    connect(&m_quietTimer, &QTimer::timeout, this, &EdEngine::onQuietTimer);
    connect(&m_unreliableTimer, &QTimer::timeout, this, [this] {
        // The live dbtag, and the closed ones whose writers' close events may not come.
        for (TagRec &tag : m_tags) {
            if (tag.name == m_liveName || tag.waiting > 0) {
                sweep(tag);
                maybeUnwatch(tag);
                maybeClose(tag);
            }
        }
        checkIdle();
    });
    // Only while the data root is missing: nothing can be watched until it is back.
    m_rootLostTimer.setInterval(1000);
    connect(&m_rootLostTimer, &QTimer::timeout, this, &EdEngine::onRootChanged);
}

EdEngine::~EdEngine() = default;

QDateTime EdEngine::oldestUnsent() const
{
    if (m_liveMtimes.empty() && m_catchUpMtimes.empty())
        return {};
    qint64 oldest = std::numeric_limits<qint64>::max();
    if (!m_liveMtimes.empty())
        oldest = *m_liveMtimes.begin();
    if (!m_catchUpMtimes.empty())
        oldest = qMin(oldest, *m_catchUpMtimes.begin());
    return QDateTime::fromMSecsSinceEpoch(oldest / 1000000, Qt::UTC);
}

QDateTime EdEngine::oldestCatchUp() const
{
    if (m_catchUpMtimes.empty())
        return {};
    return QDateTime::fromMSecsSinceEpoch(*m_catchUpMtimes.begin() / 1000000, Qt::UTC);
}

bool EdEngine::start()
{
    const QString root = m_scanner.options().root;
    if (m_options.watch) {
        // Watch the root before scanning it, so that a dbtag created meanwhile is not missed.
        m_rootWatcher = std::make_unique<RootWatcher>();
        if (!m_rootWatcher->setRoot(root)) {
            m_errorString = m_rootWatcher->errorString();
            return false;
        }
        connect(m_rootWatcher.get(), &RootWatcher::changed, this, &EdEngine::onRootChanged);
        struct stat st;
        if (::stat(nativePath(root).constData(), &st) == 0) {
            m_rootDev = st.st_dev;
            m_rootIno = st.st_ino;
        }
        QString why;
        m_inotify = InotifyWatcher::create(&why);
        if (!m_inotify) {
            m_errorString = QStringLiteral("cannot watch %1: %2").arg(root, why);
            return false;
        }
        connect(m_inotify.get(), &InotifyWatcher::fileClosed, this, &EdEngine::onFileClosed);
        connect(m_inotify.get(), &InotifyWatcher::directoryAdded, this, &EdEngine::onDirectoryAdded);
        connect(m_inotify.get(), &InotifyWatcher::overflowed, this, [this] {
            qCWarning(lcWatch) << "rescanning after an inotify queue overflow";
            rescan();
            Q_EMIT watcherOverflowed();
        });
        connect(m_inotify.get(), &InotifyWatcher::watchLimitReached, this, [this](const QString &path) {
            const QString reason = QStringLiteral(
                "out of inotify watches at %1: raise the sysctl fs.inotify.max_user_watches; "
                "rescanning the live dbtag every %2 s meanwhile")
                                       .arg(path).arg(m_unreliableTimer.interval() / 1000);
            if (!m_unreliable) {
                m_unreliable = true;
                m_unreliableTimer.start();
                Q_EMIT watcherUnreliable(reason);
            }
        });
        connect(m_inotify.get(), &InotifyWatcher::directoryGone, this, [this](const QString &path) {
            // A watched dbtag deleted, moved or replaced: its watch is gone.
            if (const QString name = m_watched.take(path); !name.isEmpty())
                if (TagRec *tag = tagOf(name))
                    tag->watchPath.clear();
            onRootChanged();
        });
    }
    auto result = m_scanner.scan(true);
    if (!result) {
        m_errorString = result.error().message;
        return false;
    }
    applyScan(result.value(), true);
    checkIdle();
    return true;
}

void EdEngine::rescan()
{
    auto result = m_scanner.scan(false);
    if (!result) {
        qCWarning(lcScan) << "rescan failed:" << result.error().message;
        return;
    }
    applyScan(result.value(), false);
    for (TagRec &tag : m_tags) {
        if (tag.state != DbtagState::Live && tag.state != DbtagState::Closed)
            continue;
        for (FileRec &rec : tag.files)
            if (rec.state == FileState::Failed) // the operator asked: try them again
                setState(tag, rec, FileState::New);
        sweep(tag);
        maybeClose(tag);
    }
    checkIdle();
}

EdEngine::TagRec *EdEngine::tagOf(const QString &name)
{
    auto it = m_tags.find(name);
    return it == m_tags.end() ? nullptr : &*it;
}

std::pair<EdEngine::TagRec *, QHash<QString, EdEngine::FileRec>::iterator>
EdEngine::recordOf(const FileTicket &ticket)
{
    TagRec *tag = tagOf(ticket.dbtag);
    if (!tag)
        return {nullptr, {}};
    auto it = tag->files.find(ticket.relPath);
    if (it == tag->files.end())
        return {nullptr, {}};
    return {tag, it};
}

void EdEngine::applyScan(const QList<DbtagInfo> &infos, bool initial)
{
    QSet<QString> seen;
    for (const DbtagInfo &info : infos) {
        seen.insert(info.name);
        TagRec *tag = tagOf(info.name);
        if (tag && (tag->dev != info.dev || tag->ino != info.ino)) {
            // Another directory under the same name: what we knew of the old one is stale.
            qCWarning(lcScan).noquote()
                << "dbtag" << displayName(info.name) << "was replaced; rescanning it";
            forgetTag(info.name);
            tag = nullptr;
        }
        const bool isNew = !tag;
        if (isNew) {
            TagRec rec;
            rec.name = info.name;
            rec.path = info.path;
            rec.seq = m_nextSeq++;
            rec.state = info.state;
            rec.dev = info.dev;
            rec.ino = info.ino;
            rec.lastActivity = QDateTime::fromMSecsSinceEpoch(info.mtimeNs / 1000000);
            m_seqToTag.insert(rec.seq, rec.name);
            tag = &*m_tags.insert(info.name, rec);
        }
        const DbtagState old = tag->state;
        tag->newest = info.newest;
        tag->state = info.state;
        tag->parse = info.hasParse;
        if (isNew) {
            if (info.state == DbtagState::Live) {
                makeLive(*tag);
            } else if (info.state == DbtagState::Closed) {
                if (info.listed) {
                    setSkipped(*tag, info.skipped, QString());
                    addFiles(*tag, info.files, QString());
                } else
                    sweep(*tag);
                maybeClose(*tag);
            }
        } else if (old != info.state) {
            qCInfo(lcScan).noquote()
                << displayName(info.name) << stateName(old) << "→" << stateName(info.state);
            if (old == DbtagState::Live)
                endLive(*tag);
            if (info.state == DbtagState::Live)
                makeLive(*tag);
            else if (info.state == DbtagState::Closed)
                maybeClose(*tag);
        }
        if (isNew && !initial)
            qCInfo(lcScan).noquote()
                << "new dbtag" << displayName(info.name) << stateName(info.state);
        if (isNew || old != info.state)
            emitStatus(*tag);
    }
    // dbtags removed from disk: forget them and whatever of them was queued.
    const QStringList names = m_tags.keys();
    for (const QString &name : names) {
        if (seen.contains(name))
            continue;
        qCInfo(lcScan).noquote() << "dbtag" << displayName(name)
                                 << "was removed; dropping its queue";
        forgetTag(name);
    }
}

void EdEngine::forgetTag(const QString &name)
{
    auto found = m_tags.find(name);
    if (found == m_tags.end())
        return;
    TagRec &tag = *found;
    if (m_liveName == name)
        m_liveName.clear();
    unwatchTag(tag);
    for (auto it = tag.files.begin(); it != tag.files.end(); ++it) {
        if (it->state == FileState::Settling)
            m_settling.remove(tag.path + QLatin1Char('/') + it.key());
        setState(tag, *it, FileState::New);
    }
    if (tag.closing)
        --m_closing;
    for (Queue *queue : {&m_queue, &m_liveQueue}) {
        if (auto it = queue->find(tag.seq); it != queue->end()) {
            m_queuedCount -= static_cast<int>(it->second.size());
            queue->erase(it);
        }
    }
    m_seqToTag.remove(tag.seq);
    m_tags.erase(found);
    Q_EMIT dbtagRemoved(name);
}

bool EdEngine::watchTag(TagRec &tag)
{
    if (!m_inotify)
        return false;
    if (!tag.watchPath.isEmpty())
        return true;
    if (!m_inotify->addTree(tag.path))
        return false;
    // Spelled as the watcher spells the paths it reports.
    tag.watchPath = QDir::cleanPath(tag.path); // absolute already (the root is resolved)
    m_watched.insert(tag.watchPath, tag.name);
    return true;
}

void EdEngine::unwatchTag(TagRec &tag)
{
    if (tag.watchPath.isEmpty())
        return;
    if (m_inotify)
        m_inotify->removeTree(tag.watchPath);
    m_watched.remove(tag.watchPath);
    tag.watchPath.clear();
}

void EdEngine::maybeUnwatch(TagRec &tag)
{
    if (tag.name != m_liveName && tag.waiting == 0 && !tag.quietHold)
        unwatchTag(tag);
}

bool EdEngine::quietEnough(TagRec &tag)
{
    struct stat st;
    if (::stat(nativePath(tag.path).constData(), &st) != 0)
        return true; // gone: the scan forgets it
    const qint64 changedMs = qint64(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
    const qint64 quietAt = changedMs + m_options.quietMs;
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    if (now >= quietAt) {
        if (std::exchange(tag.quietHold, false))
            maybeUnwatch(tag);
        return true;
    }
    if (!tag.quietHold) {
        qCInfo(lcScan).noquote()
            << QStringLiteral("%1 has no %2 and is not the newest, but changed %3 s ago: its files "
                              "are sent, it is finished once nothing changed in it for %4 s")
                   .arg(tag.name, m_scanner.options().doneParse)
                   .arg((now - changedMs) / 1000)
                   .arg(m_options.quietMs / 1000);
    }
    tag.quietHold = true;
    if (!m_options.watch)
        return false; // one pass: left for a later one
    watchTag(tag); // files made in it meanwhile are sent on their close events
    m_quietChecks.emplace(quietAt, tag.name);
    const qint64 first = m_quietChecks.begin()->first;
    m_quietTimer.start(int(qBound<qint64>(0, first - now + 10, qint64(24) * 3600 * 1000)));
    return false;
}

void EdEngine::onQuietTimer()
{
    const qint64 now = QDateTime::currentMSecsSinceEpoch();
    while (!m_quietChecks.empty() && m_quietChecks.begin()->first <= now) {
        const QString name = m_quietChecks.begin()->second;
        m_quietChecks.erase(m_quietChecks.begin());
        TagRec *tag = tagOf(name);
        if (!tag || !tag->quietHold || tag->state != DbtagState::Closed)
            continue;
        sweep(*tag); // anything an event did not bring
        maybeClose(*tag);
    }
    if (!m_quietChecks.empty())
        m_quietTimer.start(
            int(qBound<qint64>(0, m_quietChecks.begin()->first - now + 10, qint64(24) * 3600 * 1000)));
}

EdEngine::TagRec *EdEngine::watchedTagOf(const QString &path, QString *relPath)
{
    for (auto it = m_watched.cbegin(); it != m_watched.cend(); ++it) {
        if (path.size() > it.key().size() + 1 && path.startsWith(it.key()) &&
            path.at(it.key().size()) == QLatin1Char('/')) {
            *relPath = path.mid(it.key().size() + 1);
            return tagOf(it.value());
        }
    }
    return nullptr;
}

void EdEngine::makeLive(TagRec &tag)
{
    m_liveName = tag.name;
    if (!tag.live) {
        // From now on its files go ahead of the backlog: what it has queued moves to the live
        // queue, and its busy files stop counting as catching up.
        if (auto node = m_queue.extract(tag.seq))
            m_liveQueue.insert(std::move(node));
        for (FileRec &rec : tag.files) {
            if (!isBusy(rec.state))
                continue;
            if (auto it = m_catchUpMtimes.find(rec.backlogMtimeNs); it != m_catchUpMtimes.end())
                m_catchUpMtimes.erase(it);
            m_liveMtimes.insert(rec.backlogMtimeNs);
            --m_catchUpFiles;
        }
        tag.live = true;
    }
    if (m_inotify && !watchTag(tag))
        qCWarning(lcWatch).noquote()
            << "cannot watch the live dbtag" << displayName(tag.path) << "; relying on rescans";
    else if (m_inotify)
        qCInfo(lcWatch).noquote() << "watching live dbtag" << displayName(tag.name);
    // Sweep after the watch is in place: a file closed meanwhile is seen by one or the other.
    sweep(tag);
    // finished.parse written between the scan that found this dbtag live and the watch has no
    // event: look for it now that the watch is in place, or the dbtag would stay live for ever.
    struct stat st;
    const QString marker = tag.path + QLatin1Char('/') + m_scanner.options().doneParse;
    if (m_inotify && ::lstat(nativePath(marker).constData(), &st) == 0)
        QMetaObject::invokeMethod(this, &EdEngine::onRootChanged, Qt::QueuedConnection);
}

void EdEngine::endLive(TagRec &tag)
{
    if (m_liveName == tag.name)
        m_liveName.clear();
    // Pick up the rest while the watch is still in place. A file still held open by a writer
    // (the producer may finish its last file after creating the next dbtag) or still changing
    // is not sent yet: the watch stays until its close event comes.
    sweep(tag);
    maybeUnwatch(tag);
}

void EdEngine::sweep(TagRec &tag, const QString &subdir)
{
    const QString dir = subdir.isEmpty() ? tag.path : tag.path + QLatin1Char('/') + subdir;
    const QString relPrefix = subdir.isEmpty() ? QString() : subdir + QLatin1Char('/');
    QList<SkippedEntry> skipped;
    auto files = listFiles(tag, dir, relPrefix, &skipped);
    if (!files) {
        if (files.error().code != ErrorCode::FileVanished)
            qCWarning(lcScan) << files.error().message;
        return;
    }
    setSkipped(tag, skipped, relPrefix);
    addFiles(tag, files.value(), relPrefix);
}

Scanner::KnownSent EdEngine::knownSent(const TagRec &tag, const QString &relPrefix) const
{
    // A file recorded Sent with this very size and mtime was marked by us (or found marked with
    // its record checked): g+w still set, its record holds that stamp. Reading it again is moot.
    return [&tag, relPrefix](const QString &relPath, const FileStamp &stamp) {
        const auto it = tag.files.constFind(relPrefix + relPath);
        return it != tag.files.cend() && it->state == FileState::Sent && !it->outside &&
               it->stamp == stamp;
    };
}

void EdEngine::setPeerVersion(quint16 version)
{
    m_peerVersion = version;
}

QString EdEngine::unsendableName(const TagRec &tag, const QString &relPath) const
{
    if (m_peerVersion == 0 || proto::namesAreBytes(m_peerVersion))
        return QString();
    auto r = validateName(tag.name, QStringLiteral("dbtag"), NameRules::Text);
    if (r)
        r = validateRelativePath(relPath, QStringLiteral("path"), NameRules::Text);
    if (r)
        return QString();
    return QStringLiteral("%1, and the receiver speaks protocol version %2, whose names are UTF-8 "
                          "text; upgrade the receiver")
        .arg(r.error().message)
        .arg(m_peerVersion);
}

Result<QList<DataFile>> EdEngine::listFiles(const TagRec &tag, const QString &dir,
                                            const QString &relPrefix, QList<SkippedEntry> *skipped)
{
    auto files = m_scanner.listFiles(dir, knownSent(tag, relPrefix), skipped);
    if (!files || !skipped || m_peerVersion == 0 || proto::namesAreBytes(m_peerVersion))
        return files;
    QList<DataFile> kept = std::move(files).value();
    kept.removeIf([&](const DataFile &f) {
        const QString why = unsendableName(tag, relPrefix + f.relPath);
        if (why.isEmpty())
            return false;
        skipped->append({f.relPath, why});
        return true;
    });
    return kept;
}

void EdEngine::setSkipped(TagRec &tag, const QList<SkippedEntry> &skipped, const QString &relPrefix)
{
    // A listing of a subdirectory replaces what was known under it only.
    for (auto it = tag.skipped.begin(); it != tag.skipped.end();)
        it = it.key().startsWith(relPrefix) ? tag.skipped.erase(it) : std::next(it);
    for (const SkippedEntry &e : skipped) {
        const QString path = relPrefix + e.path;
        tag.skipped.insert(path, e.reason);
        const QString key = tag.name + QLatin1Char('/') + path + QLatin1Char('\n') + e.reason;
        if (m_warnedSkips.contains(key))
            continue; // once, not at every listing
        m_warnedSkips.insert(key);
        qCWarning(lcScan).noquote()
            << displayName(tag.path + QLatin1Char('/') + path) << "is not sent:"
            << e.reason + QStringLiteral("; the dbtag's manifest will "
                                         "name it as skipped");
    }
}

Result<void> EdEngine::checkStill(const FileRec &rec, const FileStamp &read, int fd)
{
    struct stat st;
    const int rc = fd >= 0 ? ::fstat(fd, &st) : ::stat(nativePath(rec.linkTarget).constData(), &st);
    if (rc != 0) {
        const int err = errno;
        return Error{err == ENOENT ? ErrorCode::FileVanished : ErrorCode::IoError,
                     QStringLiteral("%1: %2").arg(rec.linkTarget, osError(err))};
    }
    if (stampOf(st) != read)
        return Error{ErrorCode::FileChanged, QStringLiteral("%1 changed").arg(rec.linkTarget)};
    return {};
}

void EdEngine::addFiles(TagRec &tag, const QList<DataFile> &files, const QString &relPrefix)
{
    for (const DataFile &f : files) {
        const QString rel = relPrefix + f.relPath;
        if (!relPrefix.isEmpty() && !m_scanner.isDataPath(rel))
            continue;
        auto it = tag.files.find(rel);
        if (it == tag.files.end()) {
            FileRec rec;
            rec.stamp = f.stamp;
            rec.linkTarget = f.linkTarget;
            it = tag.files.insert(rel, rec);
            tag.bytes += f.stamp.size;
            if (f.sent) {
                it->outside = f.outside;
                setState(tag, *it, FileState::Sent);
            } else {
                considerFile(tag, rel, f.stamp, true);
            }
        } else if (!f.sent && (it->state == FileState::Sent || it->state == FileState::Waiting
                               || it->state == FileState::New)) {
            tag.bytes += f.stamp.size - it->stamp.size;
            it->linkTarget = f.linkTarget;
            considerFile(tag, rel, f.stamp, true); // rewritten since it was marked, or closed now
        }
    }
}

void EdEngine::considerFile(TagRec &tag, const QString &relPath, const FileStamp &stamp, bool fromSweep)
{
    FileRec &rec = tag.files[relPath];
    const QString abs = tag.path + QLatin1Char('/') + relPath;
    if (rec.state == FileState::Queued || rec.state == FileState::InFlight
        || rec.state == FileState::Delayed) {
        rec.stamp = stamp;
        return; // already on its way; the mark compares what was read with what is there
    }
    // A link's content is its target's: whether a writer holds that is what counts.
    const QString source = rec.linkTarget.isEmpty() ? abs : rec.linkTarget;
    if (fromSweep && (tag.state == DbtagState::Live || tag.state == DbtagState::Closed)) {
        Writer writer = writerOf(source);
        // A closed dbtag is watched only while a writer holds one of its files. A file closed
        // before that watch began has no event: ask again once it is in place.
        if (writer == Writer::Open && tag.watchPath.isEmpty() && watchTag(tag))
            writer = writerOf(source);
        switch (writer) {
        case Writer::Open:
            // Still being written: its close event will queue it.
            qCDebug(lcWatch) << "still open for writing, waiting for its close:" << abs;
            setState(tag, rec, FileState::Waiting);
            rec.stamp = stamp;
            return;
        case Writer::Unknown:
            // In a closed dbtag, a file last modified more than a settling time ago was still
            // for that long already (a backlog is not held up by a settling time).
            if (tag.state == DbtagState::Closed &&
                stamp.mtimeNs <= (nowMs() - m_options.settleMs) * 1000000)
                break;
            if (rec.state != FileState::Settling) {
                setState(tag, rec, FileState::Settling);
                rec.stamp = stamp;
                m_settling.insert(abs, {tag.name, relPath});
                if (!m_settleTimer.isActive())
                    m_settleTimer.start();
            }
            return;
        case Writer::None:
            break;
        }
    }
    m_settling.remove(abs);
    rec.stamp = stamp;
    enqueue(tag, relPath);
}

bool EdEngine::isBusy(FileState state)
{
    return state == FileState::Queued || state == FileState::InFlight
           || state == FileState::Delayed || state == FileState::Settling;
}

void EdEngine::setState(TagRec &tag, FileRec &rec, FileState state)
{
    auto isPending = [&](FileState s) { return isBusy(s) || s == FileState::Waiting; };
    if (rec.state == state)
        return;
    m_busy += int(isBusy(state)) - int(isBusy(rec.state));
    std::multiset<qint64> &mtimes = tag.live ? m_liveMtimes : m_catchUpMtimes;
    if (isBusy(rec.state)) {
        m_backlogBytes -= rec.backlogSize;
        if (auto it = mtimes.find(rec.backlogMtimeNs); it != mtimes.end())
            mtimes.erase(it);
        if (!tag.live)
            --m_catchUpFiles;
    }
    if (isBusy(state)) {
        rec.backlogSize = qMax<qint64>(0, rec.stamp.size);
        rec.backlogMtimeNs = rec.stamp.mtimeNs;
        m_backlogBytes += rec.backlogSize;
        mtimes.insert(rec.backlogMtimeNs);
        if (!tag.live)
            ++m_catchUpFiles;
    }
    tag.pending += int(isPending(state)) - int(isPending(rec.state));
    tag.waiting += int(state == FileState::Waiting) - int(rec.state == FileState::Waiting);
    if (rec.state == FileState::Sent) {
        --tag.sent;
        tag.bytesSent -= rec.stamp.size;
    } else if (rec.state == FileState::Failed) {
        --tag.failed;
    }
    rec.state = state;
    if (state == FileState::Sent) {
        ++tag.sent;
        tag.bytesSent += rec.stamp.size;
    } else if (state == FileState::Failed) {
        ++tag.failed;
    }
}

void EdEngine::enqueue(TagRec &tag, const QString &relPath, bool front)
{
    FileRec &rec = tag.files[relPath];
    setState(tag, rec, FileState::Queued);
    auto &q = (tag.live ? m_liveQueue : m_queue)[tag.seq];
    if (front)
        q.push_front(relPath);
    else
        q.push_back(relPath);
    const bool wasEmpty = m_queuedCount == 0;
    ++m_queuedCount;
    tag.lastActivity = QDateTime::currentDateTimeUtc();
    Q_EMIT fileQueued(ticketFor(tag, relPath, rec));
    if (wasEmpty)
        Q_EMIT filesAvailable();
}

FileTicket EdEngine::ticketFor(const TagRec &tag, const QString &relPath, const FileRec &rec) const
{
    return FileTicket{tag.name,  relPath,      tag.path + QLatin1Char('/') + relPath,
                      rec.stamp, rec.attempts, rec.linkTarget, tag.live};
}

std::optional<FileTicket> EdEngine::takeNext(Take take)
{
    auto dropEmpty = [](Queue &queue) {
        while (!queue.empty() && queue.begin()->second.empty())
            queue.erase(queue.begin());
        return queue.empty();
    };
    for (;;) {
        const bool noBacklog = dropEmpty(m_queue);
        const bool noLive = dropEmpty(m_liveQueue);
        if (noLive && (noBacklog || take == Take::LiveOnly))
            break;
        // Live first, but the backlog gets one file after every liveShare live ones.
        const bool live = !noLive && (noBacklog || take == Take::LiveOnly
                                      || m_liveStreak < qMax(1, m_options.liveShare));
        Queue &queue = live ? m_liveQueue : m_queue;
        auto first = queue.begin();
        const QString rel = first->second.front();
        first->second.pop_front();
        --m_queuedCount;
        TagRec *tag = tagOf(m_seqToTag.value(first->first));
        if (!tag)
            continue;
        auto it = tag->files.find(rel);
        if (it == tag->files.end() || it->state != FileState::Queued)
            continue; // stale entry
        if (const QString why = unsendableName(*tag, rel); !why.isEmpty()) {
            // Queued before the receiver's version was known: a skipped entry after all.
            removeFile(*tag, rel);
            tag->skipped.insert(rel, why);
            const QString key = tag->name + QLatin1Char('/') + rel + QLatin1Char('\n') + why;
            if (!m_warnedSkips.contains(key)) { // once, as setSkipped() says it
                m_warnedSkips.insert(key);
                qCWarning(lcScan).noquote()
                    << displayName(tag->path + QLatin1Char('/') + rel) << "is not sent:"
                    << why + QStringLiteral("; the dbtag's manifest will name it as skipped");
            }
            emitStatus(*tag);
            maybeClose(*tag);
            continue;
        }
        setState(*tag, *it, FileState::InFlight);
        // The share is of the links that carry both (the live link takes nothing else).
        if (take == Take::LiveOnly)
            ; // leaves the streak as it is
        else if (!live)
            m_liveStreak = 0;
        else if (!noBacklog)
            ++m_liveStreak;
        return ticketFor(*tag, rel, *it);
    }
    return std::nullopt;
}

bool EdEngine::markDelivered(const FileTicket &ticket, const FileStamp &read, int fd)
{
    auto [tag, it] = recordOf(ticket);
    if (!tag)
        return false;
    // A symbolic link has no mode or xattr of its own to mark (and marking its target would
    // mark another entry): it counts as sent in this engine's memory only, if its target is
    // still the version that was read (DataFile::linkTarget).
    const auto marked = it->linkTarget.isEmpty() ? SentMark::mark(ticket.absPath, read, fd)
                                                 : checkStill(*it, read, fd);
    if (!marked) {
        fileFailed(ticket, marked.error());
        return false;
    }
    it->attempts = 0;
    it->outside = false;
    // The size may have changed since the file was queued: account the bytes that were sent.
    tag->bytes += read.size - it->stamp.size;
    it->stamp = read;
    setState(*tag, *it, FileState::Sent);
    tag->lastActivity = QDateTime::currentDateTimeUtc();
    Q_EMIT fileMarked(ticketFor(*tag, ticket.relPath, *it));
    emitStatus(*tag);
    maybeClose(*tag);
    checkIdle();
    return true;
}

void EdEngine::fileFailed(const FileTicket &ticket, const Error &error)
{
    auto [tag, it] = recordOf(ticket);
    if (!tag)
        return;
    if (error.code == ErrorCode::FileVanished) {
        qCInfo(lcSend).noquote() << displayName(ticket.absPath)
                                 << "was deleted before it was sent; dropped";
        Q_EMIT fileDropped(ticket, error.message);
        removeFile(*tag, ticket.relPath);
    } else if (error.code == ErrorCode::FileChanged) {
        // Written again while it was read: that version is not marked (the receiver may hold
        // it, but it is not what the ED holds now); the new one is sent (its close event may
        // come too). Never logged as "sent".
        qCInfo(lcSend).noquote() << displayName(ticket.absPath)
                                 << "changed while it was read; not marked, it will be sent again";
        enqueue(*tag, ticket.relPath);
    } else if (isTransient(error.code)
               && (m_options.maxAttempts <= 0 || it->attempts + 1 < m_options.maxAttempts)) {
        const int attempts = ++it->attempts;
        const int delay = backoffDelayMs(attempts, m_options.retryIntervalMs, m_options.retryMaxMs);
        qCWarning(lcSend).noquote() << displayName(ticket.absPath) << error.toString() << "; retry"
                                    << attempts << "in" << delay << "ms";
        setState(*tag, *it, FileState::Delayed);
        m_delayed.emplace(nowMs() + delay, std::make_pair(tag->name, ticket.relPath));
        armRetryTimer();
    } else {
        qCCritical(lcSend).noquote()
            << "cannot send" << displayName(ticket.absPath) << ":" << error.toString()
            << (isTransient(error.code) ? "(giving up)" : "");
        setState(*tag, *it, FileState::Failed);
        Q_EMIT fileFailedPermanently(ticket, error);
    }
    emitStatus(*tag);
    checkIdle();
}

void EdEngine::returnTicket(const FileTicket &ticket)
{
    auto [tag, it] = recordOf(ticket);
    if (!tag || it->state != FileState::InFlight)
        return;
    enqueue(*tag, ticket.relPath, true);
}

bool EdEngine::retryFile(const QString &dbtag, const QString &relPath)
{
    TagRec *tag = tagOf(dbtag);
    if (!tag)
        return false;
    auto it = tag->files.find(relPath);
    if (it == tag->files.end())
        return false;
    if (it->state == FileState::Delayed) {
        for (auto d = m_delayed.begin(); d != m_delayed.end(); ++d) {
            if (d->second.first == dbtag && d->second.second == relPath) {
                m_delayed.erase(d);
                break;
            }
        }
        armRetryTimer();
    } else if (it->state != FileState::Failed) {
        return false;
    }
    qCInfo(lcSend).noquote() << displayName(tag->path + QLatin1Char('/') + relPath)
                             << "is sent again (the operator asked)";
    it->attempts = 0;
    enqueue(*tag, relPath);
    emitStatus(*tag);
    checkIdle();
    return true;
}

void EdEngine::removeFile(TagRec &tag, const QString &relPath)
{
    auto it = tag.files.find(relPath);
    if (it == tag.files.end())
        return;
    setState(tag, *it, FileState::New); // keeps the counters consistent
    tag.bytes -= it->stamp.size;
    m_settling.remove(tag.path + QLatin1Char('/') + relPath);
    tag.files.erase(it);
    maybeClose(tag);
}

void EdEngine::armRetryTimer()
{
    if (m_delayed.empty()) {
        m_retryTimer.stop();
        return;
    }
    const qint64 wait = qMax<qint64>(0, m_delayed.begin()->first - nowMs());
    m_retryTimer.start(static_cast<int>(qMin<qint64>(wait, 24 * 3600 * 1000)));
}

void EdEngine::onRetryTimer()
{
    const qint64 now = nowMs();
    while (!m_delayed.empty() && m_delayed.begin()->first <= now) {
        const auto [name, rel] = m_delayed.begin()->second;
        m_delayed.erase(m_delayed.begin());
        TagRec *tag = tagOf(name);
        if (!tag)
            continue;
        if (rel.isEmpty()) { // a dbtag close to ask again
            if (tag->closing)
                requestClose(*tag);
            continue;
        }
        auto it = tag->files.find(rel);
        if (it != tag->files.end() && it->state == FileState::Delayed)
            enqueue(*tag, rel);
    }
    armRetryTimer();
}

void EdEngine::onSettleTimer()
{
    for (auto it = m_settling.begin(); it != m_settling.end();) {
        const auto [name, rel] = it.value();
        TagRec *tag = tagOf(name);
        auto rit = tag ? tag->files.find(rel) : QHash<QString, FileRec>::iterator();
        if (!tag || rit == tag->files.end() || rit->state != FileState::Settling) {
            it = m_settling.erase(it);
            continue;
        }
        struct stat st;
        const QString source = rit->linkTarget.isEmpty() ? it.key() : rit->linkTarget;
        if (::lstat(nativePath(source).constData(), &st) != 0) {
            it = m_settling.erase(it);
            removeFile(*tag, rel);
            continue;
        }
        const FileStamp now = stampOf(st);
        if (now == rit->stamp) {
            it = m_settling.erase(it);
            enqueue(*tag, rel);
        } else {
            rit->stamp = now; // still changing: wait another round
            ++it;
        }
    }
    if (!m_settling.isEmpty())
        m_settleTimer.start();
    checkIdle();
}

void EdEngine::onFileClosed(const QString &path)
{
    QString rel;
    TagRec *tag = watchedTagOf(path, &rel);
    if (!tag)
        return;
    const ScanOptions &opt = m_scanner.options();
    const bool live = tag->name == m_liveName;
    if (rel == opt.doneParse) {
        if (live) {
            qCInfo(lcWatch).noquote() << displayName(tag->name) << "finished by the producer";
            onRootChanged(); // it is closed now: stop watching, pick up the rest
        }
        return;
    }
    if (!m_scanner.isDataPath(rel))
        return;
    if (!live) {
        // A closed dbtag watched for a writer: judge what is there as its listing would (a new
        // file that is g+w there was sent outside isocket).
        sweep(*tag);
        maybeUnwatch(*tag);
        maybeClose(*tag);
        emitStatus(*tag);
        checkIdle();
        return;
    }
    struct stat st;
    const QByteArray native = nativePath(path);
    if (::lstat(native.constData(), &st) != 0 || !S_ISREG(st.st_mode))
        return;
    const FileStamp stamp = stampOf(st);
    auto it = tag->files.find(rel);
    if (it != tag->files.end() && it->state == FileState::Sent) {
        if (it->stamp == stamp)
            return; // a late event of the version that was sent
        if (auto r = SentMark::clear(path); !r)
            qCWarning(lcWatch) << r.error().message;
    } else if (it == tag->files.end() && (st.st_mode & S_IWGRP) && !hasSentRecord(path)) {
        if (!tag->umaskWarned) {
            tag->umaskWarned = true;
            qCWarning(lcWatch).noquote()
                << displayName(path) << "was created group-writable; g+w means 'sent' to isocket. "
                << "The producer's umask is probably 002: set umask 022. Sending it anyway.";
        }
        if (auto r = SentMark::clear(path); !r)
            qCWarning(lcWatch) << r.error().message;
    }
    if (it == tag->files.end()) {
        FileRec rec;
        rec.stamp = stamp;
        tag->files.insert(rel, rec);
        tag->bytes += stamp.size;
    } else {
        tag->bytes += stamp.size - it->stamp.size;
        if (it->state == FileState::Sent || it->state == FileState::Failed)
            setState(*tag, *it, FileState::New);
        it->outside = false; // written again: this version is isocket's to send
    }
    considerFile(*tag, rel, stamp, false);
    emitStatus(*tag);
}

void EdEngine::onDirectoryAdded(const QString &path)
{
    QString rel;
    TagRec *tag = watchedTagOf(path, &rel);
    if (!tag)
        return;
    sweep(*tag, rel);
    emitStatus(*tag);
}

bool EdEngine::checkRoot()
{
    if (!m_rootWatcher)
        return true; // one pass: nothing to keep watching
    const QString root = m_scanner.options().root;
    struct stat st;
    const bool present = ::stat(nativePath(root).constData(), &st) == 0 && S_ISDIR(st.st_mode);
    if (present && !m_rootLost && m_rootWatcher->isWatching() && quint64(st.st_dev) == m_rootDev &&
        quint64(st.st_ino) == m_rootIno)
        return true;
    // Deleted, moved away, made again or mounted over: what we know of it is stale, and so are
    // the watches.
    const QStringList names = m_tags.keys();
    for (const QString &name : names)
        forgetTag(name);
    if (present && m_rootWatcher->setRoot(root)) {
        qCWarning(lcScan).noquote()
            << "the data root" << root << (m_rootLost ? "is back" : "was replaced or mounted over")
            << "; scanning it again";
        m_rootDev = st.st_dev;
        m_rootIno = st.st_ino;
        const bool wasLost = std::exchange(m_rootLost, false);
        m_rootLostTimer.stop();
        if (wasLost)
            Q_EMIT rootLostChanged(false);
        return true;
    }
    if (!m_rootLost) {
        m_rootLost = true;
        qCCritical(lcScan).noquote()
            << "the data root" << root << "is gone; nothing is sent until it is back";
        m_rootLostTimer.start();
        Q_EMIT rootLostChanged(true);
    }
    return false;
}

void EdEngine::onRootChanged()
{
    if (!checkRoot()) {
        checkIdle();
        return;
    }
    auto result = m_scanner.scan(false);
    if (!result) {
        qCWarning(lcScan) << result.error().message;
        return;
    }
    applyScan(result.value(), false);
    checkIdle();
}

void EdEngine::maybeClose(TagRec &tag)
{
    if (tag.state != DbtagState::Closed || tag.closing || tag.pending > 0 || tag.failed > 0)
        return;
    if (!tag.parse && !quietEnough(tag))
        return;
    tag.closing = true;
    ++m_closing;
    requestClose(tag);
}

void EdEngine::requestClose(TagRec &tag)
{
    // List once more: only a dbtag whose every file on disk is marked may be closed.
    QList<SkippedEntry> skipped;
    auto files = listFiles(tag, tag.path, QString(), &skipped);
    bool allSent = false;
    QList<proto::ManifestEntry> manifest;
    if (files.ok()) {
        setSkipped(tag, skipped, QString());
        manifest = manifestOf(files.value(), skipped, &allSent);
    }
    if (!allSent) {
        tag.closing = false;
        --m_closing;
        if (files.ok())
            addFiles(tag, files.value(), QString());
        else
            qCWarning(lcScan) << files.error().message;
        emitStatus(tag);
        return;
    }
    const auto outside = std::count_if(manifest.cbegin(), manifest.cend(),
                                       [](const proto::ManifestEntry &f) { return f.outside; });
    QStringList skips;
    for (auto it = tag.skipped.cbegin(); it != tag.skipped.cend(); ++it)
        skips << displayName(it.key()) + QStringLiteral(" (") + it.value() + QLatin1Char(')');
    if (outside > 0 && outside + skips.size() == manifest.size()) {
        // Every file was sent outside isocket (the original's fsync_x1): the receiver has none
        // of them and must not be asked, nor get the dbtag at all. What was skipped is said
        // here, since no manifest will name it.
        tag.closing = false;
        --m_closing;
        if (!skips.isEmpty())
            qCWarning(lcSend).noquote()
                << displayName(tag.name) << "is finished without the receiver with" << skips.size()
                << "entries skipped:" << skips.join(u", ");
        writeDoneWatch(tag, QStringLiteral("all %1 files were marked sent outside isocket (g+w "
                                           "without its record); finished without the receiver")
                                .arg(outside));
        return;
    }
    if (!skips.isEmpty())
        qCWarning(lcSend).noquote()
            << displayName(tag.name) << "is finished with" << skips.size()
            << "entries skipped, named in the receiver's manifest:" << skips.join(u", ");
    tag.manifest = manifest;
    emitStatus(tag);
    Q_EMIT dbtagReadyToClose(tag.name, manifest);
}

void EdEngine::dbtagClosed(const QString &dbtag, const Error &result)
{
    TagRec *tag = tagOf(dbtag);
    if (!tag || !tag->closing)
        return;
    if (result.code != ErrorCode::Ok) {
        qCWarning(lcSend).noquote() << "receiver did not confirm" << dbtag << "complete:"
                                    << result.toString();
        if (isTransient(result.code) && result.code != ErrorCode::Incomplete) {
            // Ask again later; the dbtag stays "closing".
            m_delayed.emplace(nowMs() + m_options.retryIntervalMs, std::make_pair(tag->name, QString()));
            armRetryTimer();
            return;
        }
        tag->closing = false;
        --m_closing;
        // The receiver names the file it lacks first: "<path>: <why>", the path as
        // displayName() shows it (an older receiver: as it is).
        QString missing;
        for (qsizetype at = result.message.indexOf(QLatin1String(": ")); at > 0;
             at = result.message.indexOf(QLatin1String(": "), at + 1)) {
            const QString named = result.message.left(at);
            if (tag->files.contains(named)) {
                missing = named;
            } else if (const auto bytes = unescapeName(named)) {
                if (const QString path = fsDecode(*bytes); tag->files.contains(path))
                    missing = path;
            }
        }
        if (result.code == ErrorCode::Incomplete && !missing.isEmpty()) {
            // The receiver lacks a file we marked: unmark it and send it again.
            if (tag->files.value(missing).linkTarget.isEmpty())
                if (auto r = SentMark::clear(tag->path + QLatin1Char('/') + missing); !r)
                    qCWarning(lcSend) << r.error().message;
            enqueue(*tag, missing);
        } else {
            qCCritical(lcSend).noquote() << "cannot finish" << dbtag << ":" << result.toString();
            ++m_closeFailures;
        }
        emitStatus(*tag);
        checkIdle();
        return;
    }
    tag->closing = false;
    --m_closing;
    // Files that came, went or changed since the manifest was made: the receiver confirmed
    // another dbtag than the one on disk now. Send what is new and ask again.
    QList<SkippedEntry> skipped;
    auto files = listFiles(*tag, tag->path, QString(), &skipped);
    bool allSent = false;
    const bool unchanged =
        files.ok() && sameManifest(manifestOf(files.value(), skipped, &allSent), tag->manifest);
    if (!unchanged || !allSent) {
        qCInfo(lcSend).noquote() << dbtag
                                 << "changed while the receiver confirmed it; not finished";
        if (files.ok())
            addFiles(*tag, files.value(), QString());
        maybeClose(*tag);
        emitStatus(*tag);
        checkIdle();
        return;
    }
    writeDoneWatch(*tag, QStringLiteral("complete on the receiver: %1 files, %2 bytes")
                             .arg(tag->sent)
                             .arg(tag->bytesSent));
}

void EdEngine::writeDoneWatch(TagRec &tag, const QString &how)
{
    const auto written = writeFileAtomically(tag.path, m_scanner.options().doneWatch, QByteArray());
    if (!written) {
        qCCritical(lcSend).noquote() << "cannot write" << m_scanner.options().doneWatch << "in"
                                     << displayName(tag.path) << ":" << written.error().message;
        ++m_closeFailures;
        emitStatus(tag);
        checkIdle();
        return;
    }
    tag.state = DbtagState::Done;
    tag.lastActivity = QDateTime::currentDateTimeUtc();
    // Only a dbtag on its way to done compares its listing with the manifest: a done one holding
    // on to it cost a daemon a path for every file it ever finished (100,000 files: ~12 MiB).
    tag.manifest = {};
    qCInfo(lcSend).noquote() << displayName(tag.name) << how + QStringLiteral("; wrote")
                             << m_scanner.options().doneWatch;
    emitStatus(tag);
    Q_EMIT dbtagFinished(tag.name);
    checkIdle();
}

DbtagStatus EdEngine::statusOf(const TagRec &tag)
{
    return DbtagStatus{tag.name,
                       tag.path,
                       tag.state,
                       tag.newest,
                       static_cast<int>(tag.files.size()),
                       tag.sent,
                       tag.failed,
                       static_cast<int>(tag.skipped.size()),
                       tag.bytes,
                       tag.bytesSent,
                       tag.closing,
                       tag.lastActivity};
}

void EdEngine::emitStatus(const TagRec &tag)
{
    Q_EMIT dbtagStateChanged(statusOf(tag));
}

QList<DbtagStatus> EdEngine::dbtags() const
{
    QList<const TagRec *> ordered;
    for (const TagRec &tag : m_tags)
        ordered.append(&tag);
    std::sort(ordered.begin(), ordered.end(),
              [](const TagRec *a, const TagRec *b) { return a->seq < b->seq; });
    QList<DbtagStatus> out;
    for (const TagRec *tag : ordered)
        out.append(statusOf(*tag));
    return out;
}

QStringList EdEngine::filesHeldOpen() const
{
    QStringList paths;
    for (const TagRec &tag : m_tags) {
        if (tag.waiting == 0)
            continue;
        for (auto it = tag.files.cbegin(); it != tag.files.cend(); ++it)
            if (it->state == FileState::Waiting)
                paths.append(tag.path + QLatin1Char('/') + it.key());
    }
    paths.sort();
    return paths;
}

int EdEngine::failedCount() const
{
    int n = m_closeFailures;
    for (const TagRec &tag : m_tags)
        n += tag.failed;
    return n;
}

bool EdEngine::isIdle() const
{
    return m_busy == 0 && m_closing == 0;
}

void EdEngine::checkIdle()
{
    const bool nowIdle = isIdle();
    if (nowIdle && !m_wasIdle)
        Q_EMIT idle();
    m_wasIdle = nowIdle;
}

} // namespace isocket
