#include "core/rootwatcher.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <QDir>
#include <QFileInfo>

#include "core/logging.h"

namespace isocket {

RootWatcher::RootWatcher(QObject *parent) : QObject(parent), m_watcher(this), m_timer(this)
{
    m_timer.setSingleShot(true);
    m_timer.setInterval(DefaultCoalesceInterval);
    connect(&m_timer, &QTimer::timeout, this, &RootWatcher::changed);
    connect(&m_watcher, &QFileSystemWatcher::directoryChanged, this,
            &RootWatcher::onDirectoryChanged);
}

RootWatcher::~RootWatcher()
{
    if (m_mountsNotifier)
        m_mountsNotifier->setEnabled(false);
}

bool RootWatcher::setRoot(const QString &dir)
{
    if (!m_watcher.directories().isEmpty())
        m_watcher.removePaths(m_watcher.directories());
    m_timer.stop();
    m_root = QDir::cleanPath(QFileInfo(dir).absoluteFilePath());
    m_errorString.clear();

    const QFileInfo info(m_root);
    if (!info.isDir()) {
        m_errorString = info.exists()
                            ? QStringLiteral("cannot watch %1: not a directory").arg(m_root)
                            : QStringLiteral("cannot watch %1: no such directory").arg(m_root);
        return false;
    }
    struct stat st;
    if (::stat(nativePath(m_root).constData(), &st) == 0) {
        m_dev = st.st_dev;
        m_ino = st.st_ino;
    }
    if (!m_watcher.addPath(m_root)) {
        m_errorString = QStringLiteral("cannot watch %1: the file system watcher refused it "
                                       "(permissions, or the sysctl fs.inotify.max_user_watches)")
                            .arg(m_root);
        return false;
    }
    // A directory's own watch does not tell when it is renamed (QFileSystemWatcher does not
    // report a directory moved away), nor when another directory takes its name: its parent's
    // does. Without it (the root is "/"), only the mount table and the root's own watch tell.
    m_parent = QFileInfo(m_root).path();
    if (m_parent == m_root || !m_watcher.addPath(m_parent))
        m_parent.clear();
    if (!m_mounts.valid()) {
        // A filesystem mounted over the root changes no directory: the mount table tells.
        m_mounts.reset(::open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC));
        if (m_mounts.valid()) {
            m_mountsNotifier =
                std::make_unique<QSocketNotifier>(m_mounts.get(), QSocketNotifier::Exception, this);
            connect(m_mountsNotifier.get(), &QSocketNotifier::activated, this,
                    &RootWatcher::onMountsChanged);
        }
    }
    qCDebug(lcWatch).noquote() << "watching the data root" << m_root;
    return true;
}

bool RootWatcher::isWatching() const
{
    return !m_root.isEmpty() && m_watcher.directories().contains(m_root);
}

bool RootWatcher::rootReplaced() const
{
    struct stat st;
    return ::stat(nativePath(m_root).constData(), &st) != 0 || quint64(st.st_dev) != m_dev ||
           quint64(st.st_ino) != m_ino;
}

void RootWatcher::onMountsChanged()
{
    // Read it to the end: older kernels signal a change until the table is read again.
    char buf[4096];
    ::lseek(m_mounts.get(), 0, SEEK_SET);
    while (::read(m_mounts.get(), buf, sizeof buf) > 0) {
    }
    if (!m_root.isEmpty() && rootReplaced() && !m_timer.isActive())
        m_timer.start();
}

void RootWatcher::setCoalesceInterval(std::chrono::milliseconds interval)
{
    m_timer.setInterval(interval);
}

std::chrono::milliseconds RootWatcher::coalesceInterval() const
{
    return m_timer.intervalAsDuration();
}

void RootWatcher::onDirectoryChanged(const QString &path)
{
    if (!m_parent.isEmpty() && path == m_parent && path != m_root) {
        // Another entry of the parent changed: ours only when the root is not what it was.
        if (!rootReplaced())
            return;
    } else if (!isWatching()) {
        // QFileSystemWatcher drops a path that was deleted, and says so only by this same
        // signal: look whether we still watch it.
        qCWarning(lcWatch).noquote()
            << "the data root" << m_root << "was deleted or moved away; it is no longer watched";
    }
    // Armed by the first change of a burst and never restarted, so that a steady stream of
    // changes cannot postpone changed() forever.
    if (!m_timer.isActive())
        m_timer.start();
}

} // namespace isocket
