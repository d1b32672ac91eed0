#pragma once
// RootWatcher: tells when the entries of the data root change (a dbtag directory appears, is
// removed or renamed), so that the engine rescans the root. It does not look inside the dbtags:
// markers and files there are reported by the InotifyWatcher of the live dbtag.
//
// Owns a QFileSystemWatcher and a single-shot QTimer (both members). Lives in the thread that
// created it and needs that thread's event loop.
//
// Signal: changed() — the root's entries changed since the last changed() (or since setRoot()).
// A burst of changes is coalesced: the timer is armed by the first change and changed() is
// emitted when it expires, at most coalesceInterval() after that change; nothing fires while the
// root is idle. Every change is followed by a changed() that is emitted after it. If the root
// itself is deleted or moved away, changed() is emitted and the root is no longer watched
// (isWatching() turns false; setRoot() again once it is back). changed() also follows when the
// root is no longer the directory setRoot() found (rootReplaced()): renamed or deleted and made
// again (seen through its parent directory, watched too), or a filesystem mounted over it (seen
// through the mount table, /proc/self/mountinfo, on a QSocketNotifier).

#include <chrono>

#include <QFileSystemWatcher>
#include <QObject>
#include <QSocketNotifier>
#include <QString>
#include <QTimer>

#include <memory>

#include "core/fileutil.h"

namespace isocket {

class RootWatcher : public QObject
{
    Q_OBJECT

public:
    static constexpr std::chrono::milliseconds DefaultCoalesceInterval{250};

    explicit RootWatcher(QObject *parent = nullptr);
    ~RootWatcher() override;

    // Watches `dir` (replacing any previous root). False, with errorString(), when it is not a
    // directory or cannot be watched; then nothing is watched.
    bool setRoot(const QString &dir);
    QString root() const { return m_root; }
    bool isWatching() const;
    // Whether the root path no longer leads to the directory setRoot() watched (gone, renamed,
    // made again, mounted over).
    bool rootReplaced() const;
    QString errorString() const { return m_errorString; }

    void setCoalesceInterval(std::chrono::milliseconds interval);
    std::chrono::milliseconds coalesceInterval() const;

    // True while a change has been seen and its changed() is still to come.
    bool hasPendingChange() const { return m_timer.isActive(); }

signals:
    void changed();

private:
    void onDirectoryChanged(const QString &path);
    void onMountsChanged();

    QFileSystemWatcher m_watcher;
    QTimer m_timer;
    QString m_root;
    QString m_parent;
    quint64 m_dev = 0;
    quint64 m_ino = 0;
    UniqueFd m_mounts;                                 // /proc/self/mountinfo
    std::unique_ptr<QSocketNotifier> m_mountsNotifier; // after m_mounts: destroyed first
    QString m_errorString;
};

} // namespace isocket
