#include "core/inotifywatcher.h"

#include <cerrno>
#include <climits>
#include <cstring>

#include <dirent.h>
#include <fcntl.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <QDir>
#include <QFile>
#include <QPointer>

#include "core/fileutil.h"
#include "core/fsname.h"
#include "core/logging.h"

namespace isocket {

namespace {

// IN_MOVED_FROM is not a completion event; it is watched so that a subdirectory renamed inside
// the tree (or moved out of it) drops its watches under the old path before MOVED_TO re-adds it.
constexpr quint32 DirectoryMask = IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE |
                                  IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK;

// The contents of a /proc/sys file (empty when unreadable), for warnings that tell the operator
// what to raise.
QString procValue(const QString &path)
{
    QFile file(path);
    return file.open(QIODevice::ReadOnly) ? QString::fromLatin1(file.readAll().trimmed())
                                          : QString();
}

// "the sysctl fs.inotify.max_user_<what> (now N)", and the limit of this user namespace where
// it is lower: in a container that is the one that ran out
// (/proc/sys/user/max_inotify_<what>, set per user namespace).
QString limitHint(const char *what)
{
    const QString global = QStringLiteral("max_user_") + QLatin1String(what);
    const QString perNs = QStringLiteral("/proc/sys/user/max_inotify_") + QLatin1String(what);
    const QString value = procValue(QStringLiteral("/proc/sys/fs/inotify/") + global);
    QString hint = QStringLiteral("the sysctl fs.inotify.%1 (now %2)")
                       .arg(global, value.isEmpty() ? QStringLiteral("unknown") : value);
    const QString nsValue = procValue(perNs);
    if (!nsValue.isEmpty() && !value.isEmpty() && nsValue.toLongLong() < value.toLongLong())
        hint += QStringLiteral(", or this user namespace's %1 (now %2)").arg(perNs, nsValue);
    return hint;
}

// `dir` made absolute and clean by string operations only: a path of names that are not UTF-8
// must not pass through QFileInfo (core/fsname.h).
QString absoluteClean(const QString &dir)
{
    return QDir::cleanPath(
        dir.startsWith(QLatin1Char('/')) ? dir : QDir::currentPath() + QLatin1Char('/') + dir);
}

QString childPath(const QString &dir, const QString &name)
{
    if (dir.endsWith(QLatin1Char('/')))
        return dir + name;
    return dir + QLatin1Char('/') + name;
}

bool isUnder(const QString &path, const QString &dir)
{
    if (path == dir)
        return true;
    if (dir.endsWith(QLatin1Char('/')))
        return path.startsWith(dir);
    return path.startsWith(dir + QLatin1Char('/'));
}

bool isHidden(const QString &name)
{
    return name.startsWith(QLatin1Char('.'));
}

// One event of a read(): its watch, its mask, and its name (bytes, without the NUL padding).
struct RawEvent
{
    int wd = -1;
    quint32 mask = 0;
    QByteArrayView name;
};

// The events of a buffer read from the inotify fd, one at a time.
class EventReader
{
public:
    explicit EventReader(const QByteArray &buffer) : m_buffer(buffer) {}

    bool atEnd() const { return m_offset >= m_buffer.size(); }

    // The next event into *event; false, with a warning, when what is left does not hold a whole
    // one (which is treated as an overflow).
    bool next(RawEvent *event)
    {
        const qsizetype left = m_buffer.size() - m_offset;
        inotify_event header;
        if (left < qsizetype(sizeof header)) {
            qCWarning(lcWatch) << "truncated inotify event buffer:" << left
                               << "bytes left over; treated as an overflow";
            return false;
        }
        std::memcpy(&header, m_buffer.constData() + m_offset, sizeof header);
        if (left - qsizetype(sizeof header) < qsizetype(header.len)) {
            qCWarning(lcWatch) << "truncated inotify event buffer: a name of" << header.len
                               << "bytes does not fit; treated as an overflow";
            return false;
        }
        const char *const name = m_buffer.constData() + m_offset + sizeof header;
        *event = {header.wd, header.mask, QByteArrayView(name, qstrnlen(name, header.len))};
        m_offset += qsizetype(sizeof header) + header.len;
        return true;
    }

private:
    const QByteArray &m_buffer;
    qsizetype m_offset = 0;
};

} // namespace

std::unique_ptr<InotifyWatcher> InotifyWatcher::create(QString *errorString)
{
    UniqueFd fd(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    if (!fd.valid()) {
        const int err = errno;
        if (errorString) {
            *errorString =
                QStringLiteral("cannot create an inotify instance: %1").arg(osError(err));
            if (err == EMFILE)
                *errorString += QStringLiteral("; raise ") + limitHint("instances");
        }
        return nullptr;
    }
    return std::unique_ptr<InotifyWatcher>(new InotifyWatcher(std::move(fd)));
}

InotifyWatcher::InotifyWatcher(UniqueFd fd)
    : m_fd(std::move(fd)), m_notifier(m_fd.get(), QSocketNotifier::Read, this)
{
    connect(&m_notifier, &QSocketNotifier::activated, this, &InotifyWatcher::readEvents);
}

InotifyWatcher::~InotifyWatcher()
{
    m_notifier.setEnabled(false);
    for (auto it = m_pathByWd.cbegin(); it != m_pathByWd.cend(); ++it)
        ::inotify_rm_watch(m_fd.get(), it.key());
    // m_notifier, then m_fd (which closes the descriptor), are destroyed after this body.
}

bool InotifyWatcher::addTree(const QString &dir)
{
    const QString top = absoluteClean(dir);
    QString limitPath;
    const bool ok = watchRecursively(top, true, &limitPath);
    if (ok)
        m_tops.insert(top);
    if (!limitPath.isEmpty())
        emit watchLimitReached(limitPath); // may delete this: touch no member afterwards
    return ok;
}

bool InotifyWatcher::watchRecursively(const QString &dir, bool top, QString *limitPath,
                                      QSet<int> *seen)
{
    QStringList pending{dir};
    bool dirWatched = false;
    while (!pending.isEmpty()) {
        const QString path = pending.takeLast();
        const bool isStart = path == dir;
        // Below the start, never follow a symbolic link that replaced a directory meanwhile.
        const quint32 mask = (top && isStart) ? DirectoryMask : DirectoryMask | IN_DONT_FOLLOW;
        const int wd = ::inotify_add_watch(m_fd.get(), nativePath(path).constData(), mask);
        if (wd < 0) {
            const int err = errno;
            const QString reason = osError(err);
            if (isStart)
                m_errorString =
                    QStringLiteral("cannot watch %1: %2").arg(displayName(path), reason);
            if (err == ENOSPC) {
                qCWarning(lcWatch).noquote()
                    << QStringLiteral("cannot watch %1: the inotify watch limit is reached; "
                                      "raise %2. Falling back to rescans.")
                           .arg(displayName(path), limitHint("watches"));
                *limitPath = path;
                return dirWatched;
            }
            if (err == ENOENT || err == ENOTDIR) {
                // Gone (or replaced) between its listing and now: nothing left to watch there.
                qCDebug(lcWatch).noquote() << "not watching" << displayName(path) << ":" << reason;
            } else if (!isStart || !top) {
                qCWarning(lcWatch).noquote() << "cannot watch" << displayName(path) << ":" << reason
                                             << "; files completed there are found by rescans only";
            }
            if (isStart)
                return false;
            continue;
        }
        if (isStart)
            dirWatched = true;

        if (seen)
            seen->insert(wd);
        // The same directory under another name (renamed while we looked): keep the new name.
        const auto old = m_pathByWd.constFind(wd);
        if (old != m_pathByWd.cend() && *old != path)
            m_wdByPath.remove(*old);
        // Another directory now at this path: the old one was replaced or moved away unseen.
        const auto replaced = m_wdByPath.constFind(path);
        if (replaced != m_wdByPath.cend() && *replaced != wd) {
            ::inotify_rm_watch(m_fd.get(), *replaced);
            m_pathByWd.remove(*replaced);
        }
        m_pathByWd.insert(wd, path);
        m_wdByPath.insert(path, wd);

        // Its subdirectories, by readdir(): names are bytes (core/fsname.h), which QDirIterator
        // would hand back re-encoded and so reach no directory.
        if (DIR *d = ::opendir(nativePath(path).constData())) {
            while (const dirent *e = ::readdir(d)) {
                if (e->d_name[0] == '.')
                    continue; // ".", "..", hidden
                bool isDir = e->d_type == DT_DIR;
                if (e->d_type == DT_UNKNOWN) {
                    struct stat st;
                    isDir = ::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                            S_ISDIR(st.st_mode);
                }
                if (isDir)
                    pending.append(childPath(path, fsDecode(QByteArrayView(e->d_name))));
            }
            ::closedir(d);
        }
    }
    if (dirWatched)
        qCDebug(lcWatch).noquote() << "watching" << displayName(dir) << "recursively";
    return dirWatched;
}

void InotifyWatcher::removeTree(const QString &dir)
{
    const QString top = absoluteClean(dir);
    forgetTree(top);
}

void InotifyWatcher::clear()
{
    for (auto it = m_pathByWd.cbegin(); it != m_pathByWd.cend(); ++it)
        ::inotify_rm_watch(m_fd.get(), it.key());
    m_pathByWd.clear();
    m_wdByPath.clear();
    m_tops.clear();
}

QStringList InotifyWatcher::watchedDirectories() const
{
    QStringList dirs = m_wdByPath.keys();
    dirs.sort();
    return dirs;
}

QStringList InotifyWatcher::forgetTree(const QString &dir)
{
    for (auto it = m_wdByPath.begin(); it != m_wdByPath.end();) {
        if (isUnder(it.key(), dir)) {
            ::inotify_rm_watch(m_fd.get(), it.value());
            m_pathByWd.remove(it.value());
            it = m_wdByPath.erase(it);
        } else {
            ++it;
        }
    }
    QStringList tops;
    for (auto it = m_tops.begin(); it != m_tops.end();) {
        if (isUnder(*it, dir)) {
            tops.append(*it);
            it = m_tops.erase(it);
        } else {
            ++it;
        }
    }
    return tops;
}

void InotifyWatcher::readEvents()
{
    int available = 0;
    if (::ioctl(m_fd.get(), FIONREAD, &available) < 0) {
        qCWarning(lcWatch).noquote()
            << "ioctl(FIONREAD) on the inotify fd failed:" << osError(errno);
        available = 0;
    }
    // At least room for one event with the longest name, so that read() never fails with EINVAL.
    const qsizetype size = qMax<qsizetype>(available, sizeof(inotify_event) + NAME_MAX + 1);
    QByteArray buffer(size, Qt::Uninitialized);
    ssize_t n;
    do {
        n = ::read(m_fd.get(), buffer.data(), size_t(size));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno != EAGAIN)
            qCWarning(lcWatch).noquote() << "reading the inotify fd failed:" << osError(errno);
        return;
    }
    buffer.truncate(n);
    processEvents(buffer);
}

void InotifyWatcher::processEvents(const QByteArray &buffer)
{
    // A slot may delete this watcher: stop as soon as one did.
    const QPointer<InotifyWatcher> self(this);
    EventReader events(buffer);
    RawEvent event;
    while (!events.atEnd()) {
        if (!events.next(&event)) {
            handleLostEvents();
            return;
        }
        if (event.mask & IN_Q_OVERFLOW) {
            handleOverflow();
            return; // the kernel puts nothing after an overflow; resync made older wds stale
        }
        dispatch(event.wd, event.mask, event.name);
        if (!self)
            return;
    }
}

void InotifyWatcher::dispatch(int wd, quint32 mask, QByteArrayView rawName)
{
    const auto found = m_pathByWd.constFind(wd);
    if (found == m_pathByWd.cend())
        return; // a watch we removed; its late events do not matter any more
    const QString dir = *found;
    if (mask & (IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF)) {
        handleWatchedDirectoryGone(dir, mask);
        return;
    }

    const QString name = fsDecode(rawName);
    if (name.isEmpty())
        return;
    const QString path = childPath(dir, name);
    if (!(mask & IN_ISDIR)) {
        if ((mask & (IN_CLOSE_WRITE | IN_MOVED_TO)) && !isHidden(name))
            emit fileClosed(path);
    } else if (mask & IN_MOVED_FROM) {
        handleDirectoryMovedOut(path);
    } else if ((mask & (IN_CREATE | IN_MOVED_TO)) && !isHidden(name)) {
        handleNewDirectory(path);
    }
}

void InotifyWatcher::handleOverflow()
{
    qCWarning(lcWatch).noquote()
        << "the inotify event queue overflowed and changes were lost; rescanning."
        << QStringLiteral("Raise the sysctl fs.inotify.max_queued_events (now %1)")
               .arg(procValue(QStringLiteral("/proc/sys/fs/inotify/max_queued_events")));
    handleLostEvents();
}

void InotifyWatcher::handleWatchedDirectoryGone(const QString &dir, quint32 mask)
{
    // The directory itself is gone (deleted, moved, unmounted). A subdirectory that is deleted
    // needs nothing more; one moved within the tree was already dropped by the parent's
    // IN_MOVED_FROM, and its new name re-added by IN_MOVED_TO.
    if (!m_tops.contains(dir) && !(mask & (IN_MOVE_SELF | IN_IGNORED)))
        return;
    const QStringList gone = forgetTree(dir);
    const QPointer<InotifyWatcher> self(this);
    for (const QString &top : gone) {
        qCWarning(lcWatch).noquote()
            << "watched directory" << displayName(top) << "was deleted or moved away";
        emit directoryGone(top);
        if (!self)
            return;
    }
}

void InotifyWatcher::handleDirectoryMovedOut(const QString &path)
{
    // Renamed inside the tree (IN_MOVED_TO re-adds it under its new name) or moved out of it:
    // its watches under the old path go.
    const QStringList gone = forgetTree(path);
    const QPointer<InotifyWatcher> self(this);
    for (const QString &top : gone) {
        emit directoryGone(top);
        if (!self)
            return;
    }
}

void InotifyWatcher::handleLostEvents()
{
    // Lost events may include directories created, renamed or removed: walk every tree again so
    // that the watches match the disk before the engine's rescan (which follows overflowed())
    // looks. Re-adding an existing watch keeps its wd, so nothing is unwatched meanwhile.
    QSet<int> seen;
    QString limitPath;
    QStringList gone;
    const QStringList tops(m_tops.cbegin(), m_tops.cend());
    for (const QString &top : tops) {
        QString limit;
        if (!watchRecursively(top, true, &limit, &seen)) {
            m_tops.remove(top);
            gone.append(top);
        }
        if (limitPath.isEmpty())
            limitPath = limit;
    }
    for (auto it = m_pathByWd.begin(); it != m_pathByWd.end();) {
        if (seen.contains(it.key())) {
            ++it;
            continue;
        }
        ::inotify_rm_watch(m_fd.get(), it.key());
        if (m_wdByPath.value(it.value(), -1) == it.key())
            m_wdByPath.remove(it.value());
        it = m_pathByWd.erase(it);
    }

    const QPointer<InotifyWatcher> self(this);
    for (const QString &top : std::as_const(gone)) {
        qCWarning(lcWatch).noquote()
            << "watched directory" << displayName(top) << "is gone:" << m_errorString;
        emit directoryGone(top);
        if (!self)
            return;
    }
    if (!limitPath.isEmpty()) {
        emit watchLimitReached(limitPath);
        if (!self)
            return;
    }
    emit overflowed();
}

void InotifyWatcher::handleNewDirectory(const QString &path)
{
    QString limitPath;
    const bool watched = watchRecursively(path, false, &limitPath);
    const QPointer<InotifyWatcher> self(this);
    if (!limitPath.isEmpty()) {
        emit watchLimitReached(limitPath);
        if (!self)
            return;
    }
    if (watched) {
        qCDebug(lcWatch).noquote() << "new directory" << displayName(path);
        emit directoryAdded(path);
    }
}

} // namespace isocket
