#pragma once
// InotifyWatcher: tells which files under a directory tree were completed (closed after writing,
// or renamed into place), straight from a raw inotify fd. Linux only.
//
// Owns the inotify fd (closed by the destructor after its watches are removed) and the
// QSocketNotifier on it. Lives in the thread that created it and is used only from there; it
// needs that thread's event loop. No timers, no polling: the notifier wakes it, it reads once
// (FIONREAD bytes) and turns every event into a signal.
//
// Signals (facts; a slot may call any method, or delete the watcher):
//   fileClosed(path)        a non-directory under a watched directory was closed after writing
//                           (IN_CLOSE_WRITE) or renamed into it (IN_MOVED_TO). Absolute path.
//                           Names starting with '.' (temporaries) are never reported. A file
//                           that is not yet closed is not reported.
//   directoryAdded(path)    a new subdirectory appeared (created, moved in, or renamed inside
//                           the tree) and it and every directory below it are now watched.
//                           Files completed in it before the watch existed are NOT reported:
//                           sweep `path` recursively. A file may therefore be seen twice (sweep
//                           and event); the receiver of these signals de-duplicates.
//   overflowed()            events were lost (kernel queue overflow): every tree has already
//                           been walked again, so the watches match the disk; rescan everything.
//   watchLimitReached(path) `path` could not be watched (fs.inotify.max_user_watches): events
//                           under it will not come; rely on rescans. May be emitted from inside
//                           addTree().
//   directoryGone(path)     a top directory given to addTree() was deleted or moved away; its
//                           watches are gone.

#include <memory>

#include <QHash>
#include <QObject>
#include <QSet>
#include <QSocketNotifier>
#include <QString>
#include <QStringList>

#include "core/fileutil.h"

namespace isocket {

class InotifyWatcher : public QObject
{
    Q_OBJECT

public:
    // A working watcher, or nullptr with the reason in *errorString (EMFILE names the sysctl
    // fs.inotify.max_user_instances).
    static std::unique_ptr<InotifyWatcher> create(QString *errorString = nullptr);
    ~InotifyWatcher() override;

    // Watches `dir` and, recursively, every subdirectory (symbolic links are not followed,
    // hidden directories are skipped). False, with errorString(), when `dir` itself cannot be
    // watched; a subdirectory that cannot be watched is logged (and may emit watchLimitReached).
    bool addTree(const QString &dir);
    // Stops watching `dir` and every directory below it. Events still queued for them are dropped.
    void removeTree(const QString &dir);
    // Stops watching everything.
    void clear();
    // Every watched directory, absolute, sorted.
    QStringList watchedDirectories() const;

    QString errorString() const { return m_errorString; }

    // The read path: parses a buffer of raw `struct inotify_event`s and emits the signals. Public
    // so that tests can inject events the kernel will not produce on demand (IN_Q_OVERFLOW).
    void processEvents(const QByteArray &buffer);

signals:
    void fileClosed(const QString &path);
    void directoryAdded(const QString &path);
    void overflowed();
    void watchLimitReached(const QString &path);
    void directoryGone(const QString &path);

private:
    explicit InotifyWatcher(UniqueFd fd);

    void readEvents();
    // Watches `dir` and the directories below it; true when `dir` itself is watched. The first
    // directory refused for the watch limit goes to *limitPath (the walk stops there); every wd
    // added or confirmed goes to *seen.
    bool watchRecursively(const QString &dir, bool top, QString *limitPath,
                          QSet<int> *seen = nullptr);
    // Drops the watches of `dir` and below; returns the top directories that were among them
    // (no longer tops).
    QStringList forgetTree(const QString &dir);
    // One event of processEvents(), to the handler of its kind. `rawName` as the kernel gave it.
    void dispatch(int wd, quint32 mask, QByteArrayView rawName);
    // The handlers. A slot of the signals they emit may delete this watcher: each touches no
    // member after an emit that did.
    void handleOverflow(); // IN_Q_OVERFLOW
    // IN_DELETE_SELF, IN_MOVE_SELF, IN_IGNORED: the watch of `dir` is gone.
    void handleWatchedDirectoryGone(const QString &dir, quint32 mask);
    void handleDirectoryMovedOut(const QString &path); // IN_MOVED_FROM of a subdirectory
    void handleNewDirectory(const QString &path);      // IN_CREATE, IN_MOVED_TO of one
    // Events were lost: re-walk every tree, then emit overflowed().
    void handleLostEvents();

    UniqueFd m_fd;
    QSocketNotifier m_notifier; // after m_fd: destroyed before the fd is closed
    QHash<int, QString> m_pathByWd;
    QHash<QString, int> m_wdByPath;
    QSet<QString> m_tops; // directories given to addTree()
    QString m_errorString;
};

} // namespace isocket
