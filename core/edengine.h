#pragma once
// EdEngine: the ED side's facade. It owns the scanner, the watchers (RootWatcher on the data
// root, InotifyWatcher on the live dbtag) and the queue of files to send, and keeps, per dbtag,
// the state of every data file it knows: queued, in flight, waiting (delayed retry or settling),
// sent, failed.
//
// The transfer (Sender) takes tickets with takeNext() and reports back with markDelivered(),
// fileFailed() or returnTicket(); when every file of a closed dbtag is marked, the engine emits
// dbtagReadyToClose() with the manifest, and writes finished.watch (atomically) only after the
// transfer reports with dbtagClosed() that the receiver confirmed the dbtag complete.
// Files found g+w without isocket's record were sent outside isocket (the original, or by hand):
// they are never offered; the manifest names them as such (ManifestEntry::outside), and a dbtag
// whose every file is one of them is finished here without the receiver.
//
// Lives in one thread (the one that calls start()); every call and signal is in that thread.
// Blocking work here is small: directory listings of unfinished dbtags, stat/xattr/chmod of
// single files. A GUI runs the engine on a worker thread. Nothing fires while nothing changes:
// timers are armed only for delayed retries, settling files or an unreliable watcher.

#include "core/error.h"
#include "core/fileutil.h"
#include "core/protocol.h"
#include "core/scanner.h"

#include <QDateTime>
#include <QHash>
#include <QMap>
#include <QSet>
#include <QObject>
#include <QTimer>

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>

namespace isocket {

class InotifyWatcher;
class RootWatcher;

// One file handed to the transfer.
struct FileTicket
{
    QString dbtag;
    QString relPath;
    QString absPath;
    FileStamp stamp; // when queued; the transfer re-reads it
    int attempts = 0;
    // A symbolic link followed (DataFile::linkTarget): the file whose content is sent under
    // relPath, opened without following links. Empty: absPath itself.
    QString linkTarget{};
    // Of a live dbtag (EdEngine: the live queue): a connection offers and streams it ahead of
    // the backlog's files it already holds.
    bool live = false;
};

// What a GUI or the CLI shows about one dbtag.
struct DbtagStatus
{
    QString name;
    QString path;
    DbtagState state = DbtagState::Closed;
    bool newest = false;
    int files = 0;        // known data files (0 for done/abnormal: never listed)
    int sent = 0;
    int failed = 0;
    int skipped = 0; // entries not sent (links elsewhere, names not UTF-8…), named in
                     // the receiver's manifest
    qint64 bytes = 0;
    qint64 bytesSent = 0;
    bool closing = false; // waiting for the receiver to confirm it complete
    QDateTime lastActivity;
};

struct EngineOptions
{
    bool watch = true;          // false: one pass (send --once), no watchers
    int settleMs = 2000;        // stillness needed where no lease can tell about writers
    int retryIntervalMs = 2000; // first retry delay of a file after a transient error
    int retryMaxMs = 60000;     // cap of the exponential delay
    int maxAttempts = 0;        // transient failures before a file counts as failed (0: never)
    // A dbtag without finished.parse that is not the newest is finished ("the producer died")
    // only once its directory has not changed for this long: a producer that made the next
    // dbtag and then one more file in the previous one makes that one the newest by mtime,
    // and the new dbtag, still being written, must not be finished meanwhile.
    int quietMs = 60000;
    // Live first: while files of live dbtags and of the backlog both wait, takeNext() hands
    // out this many live files for each backlog file, so a backlog keeps moving under a
    // steady live stream (at least 1 / (liveShare + 1) of the files handed out).
    int liveShare = 4;
};

class EdEngine : public QObject
{
    Q_OBJECT

public:
    EdEngine(ScanOptions scan, EngineOptions options, QObject *parent = nullptr);
    ~EdEngine() override;

    // Scans the root, starts the watchers, queues every unsent file. False + errorString()
    // when the root cannot be read or watched.
    bool start();
    QString errorString() const { return m_errorString; }

    // Rescans everything now (operator action; also after an inotify overflow).
    void rescan();

    // --- the transfer's side ---
    bool hasQueued() const { return m_queuedCount > 0; }
    int queuedCount() const { return m_queuedCount; }
    // The next file to send; it is in flight until reported. Live first: the files of the live
    // dbtag (and of dbtags that were live while this engine watched them) go ahead of the
    // backlog (the dbtags found closed by a scan), liveShare of them for each backlog file
    // while both wait. Within each class: oldest dbtag first, then by mtime (or as queued).
    // LiveOnly: a live file or none (the Sender's live link).
    enum class Take { Any, LiveOnly };
    std::optional<FileTicket> takeNext(Take take = Take::Any);
    // The receiver stored the file durably; `read` is the size and mtime that were read and sent.
    // Marks it sent, unless it changed meanwhile (then it is queued again). `fd`: the file as
    // it was read, if still open (SentMark::mark()). True when it was marked.
    bool markDelivered(const FileTicket &ticket, const FileStamp &read, int fd = -1);
    // A transient error: retried with backoff. FileVanished: dropped. Otherwise: failed for good
    // (the operator must act; the dbtag cannot be finished).
    void fileFailed(const FileTicket &ticket, const Error &error);
    // Not attempted after all (connection lost before it was sent): back to the queue's front.
    void returnTicket(const FileTicket &ticket);
    // The operator asks to send one file again now: a file failed for good, or waiting for a
    // delayed retry, goes to the back of the queue with its attempts reset. False (nothing
    // done) when the file is unknown or in another state (queued, in flight, sent…).
    bool retryFile(const QString &dbtag, const QString &relPath);
    // The receiver's answer to dbtagReadyToClose(): Ok → finished.watch is written.
    void dbtagClosed(const QString &dbtag, const Error &result);
    // The protocol version a connection agreed on. Before version 3 names are UTF-8 text
    // without control characters: a file whose path is not (a name that is not UTF-8, a
    // newline…) is then a skipped entry, as it was before names became bytes, not an offer
    // the receiver would refuse for ever.
    void setPeerVersion(quint16 version);

    // --- state for views ---
    QList<DbtagStatus> dbtags() const;
    bool isIdle() const;
    int failedCount() const; // files failed for good, and dbtags that could not be finished
    // Files not sent because a writer holds them open (absolute paths, sorted). Their close
    // event sends them; without watchers (send --once) they stay unsent.
    QStringList filesHeldOpen() const;
    // The backlog: files queued, in flight, waiting to retry or settling (running counters,
    // O(log n) per change of a file's state, nothing scanned), their bytes and the oldest
    // one's mtime (null when none).
    int backlogFiles() const { return m_busy; }
    qint64 backlogBytes() const { return m_backlogBytes; }
    QDateTime oldestUnsent() const;
    // The part of the backlog that is catching up: files busy in dbtags that were never live
    // while this engine watched them (found closed by a scan), and the oldest one's mtime.
    int catchUpFiles() const { return m_catchUpFiles; }
    QDateTime oldestCatchUp() const;
    bool isRootLost() const { return m_rootLost; }
    const ScanOptions &scanOptions() const { return m_scanner.options(); }

Q_SIGNALS:
    void dbtagStateChanged(const isocket::DbtagStatus &status);
    void dbtagRemoved(const QString &dbtag);
    void fileQueued(const isocket::FileTicket &ticket);
    void filesAvailable(); // the queue went from empty to non-empty
    void fileMarked(const isocket::FileTicket &ticket);
    void fileDropped(const isocket::FileTicket &ticket, const QString &reason);
    void fileFailedPermanently(const isocket::FileTicket &ticket, const isocket::Error &error);
    void dbtagReadyToClose(const QString &dbtag, const QList<isocket::proto::ManifestEntry> &files);
    void dbtagFinished(const QString &dbtag);
    void watcherUnreliable(const QString &reason);
    void watcherOverflowed();        // events were lost; the root was scanned again
    void rootLostChanged(bool lost); // the data root went missing, or is back
    void idle(); // nothing queued, in flight, waiting or closing

private:
    // New: just found, not yet decided. Waiting: a writer holds it open (its close event will
    // queue it). Settling: no lease could tell; must be still for settleMs.
    enum class FileState : quint8 { New, Queued, InFlight, Delayed, Settling, Waiting, Sent, Failed };
    struct FileRec
    {
        FileStamp stamp;
        FileState state = FileState::New;
        int attempts = 0;
        bool outside = false; // Sent, but outside isocket (g+w without our record): never sent
        QString linkTarget{}; // a symbolic link followed (DataFile::linkTarget)
        // What it adds to the backlog while busy (the stamp when it became busy).
        qint64 backlogSize = 0;
        qint64 backlogMtimeNs = 0;
    };
    struct TagRec
    {
        QString name;
        QString path;
        DbtagState state = DbtagState::Closed;
        bool newest = false;
        quint64 seq = 0;
        QHash<QString, FileRec> files;
        int pending = 0; // Queued + InFlight + Delayed + Settling + Waiting
        int waiting = 0; // Waiting: held open by a writer
        int sent = 0;
        int failed = 0;
        qint64 bytes = 0;
        qint64 bytesSent = 0;
        bool closing = false;
        bool umaskWarned = false;
        QDateTime lastActivity;
        quint64 dev = 0; // the directory's identity (DbtagInfo)
        quint64 ino = 0;
        // The inotify watch's spelling of `path` while watched: the live dbtag, and a closed one
        // while a writer holds one of its files open (its close event sends the file).
        QString watchPath;
        QList<proto::ManifestEntry> manifest; // what dbtagReadyToClose() offered
        bool parse = false;     // finished.parse is there
        bool quietHold = false; // not finished until its directory is quiet (quietMs); watched
        // Live now, or was while this engine watched it: its files go to the live queue and do
        // not count as catching up. Set by makeLive(), never cleared.
        bool live = false;
        QMap<QString, QString> skipped;       // path (lossless) → reason, each warned about once
    };

    void applyScan(const QList<DbtagInfo> &infos, bool initial);
    void addFiles(TagRec &tag, const QList<DataFile> &files, const QString &relPrefix);
    // The skipped entries of a listing of `tag` (under relPrefix): new ones are warned about.
    void setSkipped(TagRec &tag, const QList<SkippedEntry> &skipped, const QString &relPrefix);
    // The scanner's listing of `dir` (relPrefix inside `tag`), with the files whose names the
    // receiver's protocol version cannot carry moved to `skipped` (setPeerVersion()).
    Result<QList<DataFile>> listFiles(const TagRec &tag, const QString &dir,
                                      const QString &relPrefix, QList<SkippedEntry> *skipped);
    // Why the receiver cannot be sent `relPath` of `tag` under its protocol version; empty when
    // it can.
    QString unsendableName(const TagRec &tag, const QString &relPath) const;
    void makeLive(TagRec &tag);
    void endLive(TagRec &tag);
    void sweep(TagRec &tag, const QString &subdir = QString());
    bool watchTag(TagRec &tag);
    void unwatchTag(TagRec &tag);
    // Stops watching a dbtag that is not live once no writer holds one of its files.
    void maybeUnwatch(TagRec &tag);
    // For a dbtag judged abandoned (no finished.parse, not the newest): how long ago its
    // directory changed is under quietMs: it is held (watched, its files sent, not finished)
    // and looked at again once it would be quiet. True when it may be finished now.
    bool quietEnough(TagRec &tag);
    void onQuietTimer();
    // The watched dbtag `path` (as the watcher spells it) lies in, and its path inside it.
    TagRec *watchedTagOf(const QString &path, QString *relPath);
    // Forgets a dbtag (removed or replaced on disk) and whatever of it was queued.
    void forgetTag(const QString &name);
    // Whether the data root is still the directory that start() found; if it was deleted,
    // replaced or mounted over, forgets everything and watches whatever is there now.
    bool checkRoot();
    // For Scanner::listFiles: the files of `tag` (under relPrefix) this engine knows marked sent.
    Scanner::KnownSent knownSent(const TagRec &tag, const QString &relPrefix = QString()) const;
    void considerFile(TagRec &tag, const QString &relPath, const FileStamp &stamp, bool fromSweep);
    void enqueue(TagRec &tag, const QString &relPath, bool front = false);
    static bool isBusy(FileState state); // counts in the backlog
    void setState(TagRec &tag, FileRec &rec, FileState state);
    void removeFile(TagRec &tag, const QString &relPath);
    void maybeClose(TagRec &tag);
    void requestClose(TagRec &tag);
    void writeDoneWatch(TagRec &tag, const QString &how);
    static DbtagStatus statusOf(const TagRec &tag);
    void emitStatus(const TagRec &tag);
    // For a delivered link: its target is still the version that was read (`fd`: as read).
    static Result<void> checkStill(const FileRec &rec, const FileStamp &read, int fd);
    void checkIdle();
    FileTicket ticketFor(const TagRec &tag, const QString &relPath, const FileRec &rec) const;
    TagRec *tagOf(const QString &name);
    // The dbtag and file record of a ticket; {nullptr, …} when either is gone.
    std::pair<TagRec *, QHash<QString, FileRec>::iterator> recordOf(const FileTicket &ticket);
    void onFileClosed(const QString &path);
    void onDirectoryAdded(const QString &path);
    void onRootChanged();
    void onRetryTimer();
    void onSettleTimer();
    void armRetryTimer();

    Scanner m_scanner;
    EngineOptions m_options;
    QString m_errorString;
    std::unique_ptr<InotifyWatcher> m_inotify;
    std::unique_ptr<RootWatcher> m_rootWatcher;
    QHash<QString, TagRec> m_tags;
    quint64 m_nextSeq = 1;
    QString m_liveName;
    QHash<QString, QString> m_watched; // watch path → dbtag, of the dbtags watched by inotify
    // The queues: per dbtag (by discovery order, oldest first), relative paths in send order;
    // one for the backlog, one for the live dbtags (TagRec::live). m_queuedCount counts both.
    using Queue = std::map<quint64, std::deque<QString>>;
    Queue m_queue;
    Queue m_liveQueue;
    int m_liveStreak = 0; // live files handed out in a row while the backlog waited
    QHash<quint64, QString> m_seqToTag;
    int m_queuedCount = 0;
    // Delayed retries: due time (ms since epoch) → (dbtag, relPath).
    std::multimap<qint64, std::pair<QString, QString>> m_delayed;
    QTimer m_retryTimer;
    // Files found by a sweep whose writer state is unknown: must be still for settleMs.
    QHash<QString, std::pair<QString, QString>> m_settling; // absPath → (dbtag, relPath)
    QTimer m_settleTimer;
    QTimer m_quietTimer;                       // the earliest of m_quietChecks
    std::multimap<qint64, QString> m_quietChecks; // ms since the epoch → dbtag held for quiet
    QTimer m_unreliableTimer;
    QTimer m_rootLostTimer; // runs only while the data root is missing
    quint64 m_rootDev = 0;
    quint64 m_rootIno = 0;
    bool m_rootLost = false;
    bool m_unreliable = false;
    int m_busy = 0;    // files Queued, InFlight, Delayed or Settling, in all dbtags
    qint64 m_backlogBytes = 0;             // their bytes (FileRec::backlogSize)
    // Their mtimes (FileRec::backlogMtimeNs): of live dbtags' files, and of the others'.
    std::multiset<qint64> m_liveMtimes;
    std::multiset<qint64> m_catchUpMtimes;
    int m_catchUpFiles = 0; // busy files of dbtags that are not live (TagRec::live)
    int m_closing = 0; // dbtags waiting for the receiver's confirmation
    int m_closeFailures = 0;
    bool m_wasIdle = false;
    QSet<QString> m_warnedSkips; // "dbtag/path\nreason" of skipped entries already warned about
    quint16 m_peerVersion = 0;   // of the receiver, once a connection agreed on it
};

} // namespace isocket

Q_DECLARE_METATYPE(isocket::FileTicket)
Q_DECLARE_METATYPE(isocket::DbtagStatus)
