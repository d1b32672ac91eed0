#include "core/rootwatcher.h"

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

RootWatcher::~RootWatcher() = default;

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
    if (!m_watcher.addPath(m_root)) {
        m_errorString = QStringLiteral("cannot watch %1: the file system watcher refused it "
                                       "(permissions, or the sysctl fs.inotify.max_user_watches)")
                            .arg(m_root);
        return false;
    }
    qCDebug(lcWatch).noquote() << "watching the data root" << m_root;
    return true;
}

bool RootWatcher::isWatching() const
{
    return !m_watcher.directories().isEmpty();
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
    Q_UNUSED(path);
    // QFileSystemWatcher drops a path that was deleted or moved away, and says so only by this
    // same signal: look whether we still watch it.
    if (!isWatching())
        qCWarning(lcWatch).noquote()
            << "the data root" << m_root << "was deleted or moved away; it is no longer watched";
    // Armed by the first change of a burst and never restarted, so that a steady stream of
    // changes cannot postpone changed() forever.
    if (!m_timer.isActive())
        m_timer.start();
}

} // namespace isocket
