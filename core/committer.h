#pragma once
// Committer: makes received files durable and visible in groups, on a worker thread.
//
// submit() takes a job {partial fd, directory fd, partial name, final name} and returns a token
// at once. The worker drains everything queued as one batch: it makes the partials durable,
// renames each over its final name, makes the renames durable, and reports each token. While it
// syncs, new jobs accumulate, so a burst of small files shares the cost.
// Fair between EDs (issue 19): when jobs of several sources (CommitJob::source) wait and one
// source has more than MaxSourceShare of them, a batch takes at most MaxSourceShare jobs of
// each source, in their order; the rest wait for the next batch. One ED's flood then does not
// make the batch that another ED's file waits for, and its own, as long as the flood: where a
// batch's cost grows with its files (an fsync each), that file waits for at most
// MaxSourceShare files of each other source, not for every file queued before it.
//
// Two ways to make a batch durable:
//  - An fsync per file: the writeback of every file of the batch started at once
//    (sync_file_range(SYNC_FILE_RANGE_WRITE)), then an fsync of each, concurrently (a small
//    private pool: the block layer merges their cache flushes, where one after the other each
//    waits for its own), then one fsync per distinct directory. Costs the batch's own data and
//    inodes, whatever else is dirty on the filesystem.
//  - syncfs: one syncfs(2) per filesystem before the renames and one after them. In a stream of
//    batches the two merge: the syncfs that makes batch N+1's files durable before their
//    renames also makes batch N's renames durable, and batch N is reported after it; with
//    nothing queued, batch N gets its second syncfs at once. Two cache flushes per batch
//    instead of one per file (issue 6: 10,000 × 4 KiB), but syncfs also writes back everything
//    else dirty on that filesystem: a receiver sharing its disk with an rsync that had left
//    ~40 MB dirty ran at half its speed (issue 19).
// CommitSync::PerFile always uses the first. CommitSync::Auto (the default) uses syncfs for a
// batch of SyncfsMinBatch files or more only while the system has at most SyncfsMaxOtherDirty
// bytes dirty or under writeback besides the batch's own (/proc/meminfo, read once per batch:
// the kernel counts dirty pages per system, not per filesystem, so dirty data on another disk
// also counts, which only errs on the side of the fsyncs); else the fsyncs. A batch's cost then
// never grows with other processes' dirty data. A batch held for the next syncfs whose next
// batch goes the per-file way gets an fsync of its directories instead. Auto uses syncfs only
// where syncfs reports writeback errors (Linux 5.8 and later); syncFor() keeps it off the
// filesystems where syncfs does not make data durable.
// Idle, the worker blocks on a condition variable; nothing polls.
//
// Owns its worker thread (stopped and joined by the destructor; jobs still queued then are
// dropped unreported, their partials left to be resumed, and a batch linked but not yet synced is
// dropped unreported too: its files are at their final names and a repeated OFFER finds them
// there) and the fds of queued jobs. Lives in the thread that created it. Each job is answered
// exactly once, in submission order within its source: by committed(), emitted in that thread, or, for a job
// submitted with a `done` function, by that function, called on the committer's own thread
// (so the answer can go straight to the thread that waits for it; see Receiver::commit()).

#include "core/error.h"
#include "core/fileutil.h"

#include <QObject>
#include <QString>
#include <QThreadPool>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

class QThread;

namespace isocket {

struct CommitJob
{
    UniqueFd file; // the partial, written and finished (mtime, xattr)
    SharedFd dir;  // the directory holding partName and finalName (shared with the store's cache)
    QString partName; // empty: `file` is anonymous (O_TMPFILE), linked in at finalName
    QString finalName;
    // When valid, the file's data, mtime and xattr are still being written: 0 once they are, or
    // an errno. The committer waits for it before making the file durable.
    std::shared_future<int> written = {};
    // When set (and `written` is not), the committer runs it on `file` first: its mtime and xattr,
    // off the thread that receives (issue 6). 0 or an errno, like `written`.
    std::function<int(int fd)> finish = {};
    // When set, called before the rename or link that makes the file visible (once per
    // directory of a batch, right before its files are placed): false when
    // `dir` is no longer where the file belongs (moved or removed since the transfer began,
    // ReceiveStore::stillInPlace()). The file then fails with io-error and is not placed.
    std::function<bool()> inPlace = {};
    // Whose file it is (the ED's source name): batches are shared fairly between sources.
    QString source = {};
    quint64 token = 0; // set by submit()
};

enum class CommitSync
{
    Auto,
    PerFile
};

// How a file appears at its final name. Rename: always by a rename (inotify IN_MOVED_TO, what
// consumers on DRMS wait for). Link: a file written unnamed (O_TMPFILE) is linked in at its
// final name when that is free (IN_CREATE only; one directory operation less).
enum class CommitArrival
{
    Rename,
    Link
};

class Committer : public QObject
{
    Q_OBJECT

public:
    // Auto: batches of at least this many files may be synced with syncfs, while at most
    // SyncfsMaxOtherDirty bytes besides their own wait for writeback (about what a batch of
    // per-file fsyncs costs more than a syncfs, on the disks measured: bench/syncbench.cpp).
    static constexpr size_t SyncfsMinBatch = 4;
    static constexpr qint64 SyncfsMaxOtherDirty = 4 << 20;
    // With several sources waiting, the most jobs of one source a batch takes.
    static constexpr size_t MaxSourceShare = 256;

    struct Stats
    {
        quint64 batches = 0;       // batches committed
        quint64 files = 0;         // jobs in them
        quint64 syncfsBatches = 0; // batches made durable with syncfs
        quint64 syncfsCalls = 0;   // syncfs(2) calls (per filesystem)
    };

    explicit Committer(CommitSync sync = CommitSync::Auto,
                       CommitArrival arrival = CommitArrival::Rename, QObject *parent = nullptr);
    ~Committer() override;

    // Queues the job; returns its token (never 0). Thread-safe, returns at once.
    quint64 submit(CommitJob job);
    // The outcome of a job as committed() has it, called on the committer's thread instead of
    // committed() (keep it short: it holds up the next batch). Called unless the committer is
    // destroyed first (see above).
    using Done = std::function<void(ErrorCode code, const QString &message)>;
    quint64 submit(CommitJob job, Done done);
    // Queues the jobs together (they land in the same batch); returns their tokens in order.
    std::vector<quint64> submit(std::vector<CommitJob> jobs);

    // False when Auto cannot use syncfs on this kernel (it does not report writeback errors).
    static bool syncfsReportsErrors();
    // Whether syncfs(2) makes a filesystem of this type durable. `type` as the kernel names it
    // in /proc/self/mountinfo ("ext4", "fuse.glusterfs"). Only local filesystems whose sync_fs
    // writes back and flushes the disk: on FUSE (GlusterFS…) syncfs returns 0 at once without
    // reaching the server (measured: 17 us on a GlusterFS replica-2 mount, where one fsync takes
    // 8 ms), and for NFS, CIFS, Ceph and the unknown an fsync per file is what they promise.
    static bool syncfsMakesDurable(const QString &type);
    // What a receiver writing into `root` uses: `requested`, or PerFile where the root's
    // filesystem does not honour syncfs. `type` gets the filesystem type (empty if unknown: the
    // root does not exist yet; then `requested`).
    static CommitSync syncFor(const QString &root, CommitSync requested, QString *type = nullptr);

    // Puts the job's file at its final name: renames the partial, or links the anonymous file
    // in under a hidden name (LinkPrefix...) and renames that: either way the final name
    // appears by a rename (IN_MOVED_TO). 0 or an errno.
    static int placeFile(const CommitJob &job, CommitArrival arrival = CommitArrival::Rename);
    static constexpr const char *LinkPrefix = ".isocket-link-";
    Stats stats() const; // thread-safe

    // What makes a file or a directory durable: fsync(2) unless replaced (tests count and fail
    // calls through it). 0 or an errno. Called on the committer's threads; set it before the
    // first submit().
    enum class SyncTarget
    {
        File,
        Directory
    };
    using SyncFunction = std::function<int(int fd, SyncTarget target)>;
    void setSyncFunction(SyncFunction sync);
    // The bytes dirty or under writeback on the system (Auto's choice; -1: unknown, then an
    // fsync per file): /proc/meminfo unless replaced (tests). Same rules as setSyncFunction().
    using DirtyProbe = std::function<qint64()>;
    void setDirtyProbe(DirtyProbe probe);
    static qint64 systemDirtyBytes();

signals:
    // The file of `token` is at its final name and durable (code Ok), or it is not (an error,
    // the partial left in place).
    void committed(quint64 token, isocket::ErrorCode code, const QString &message);

private:
    static QByteArray hiddenLinkName();
    struct Outcome
    {
        quint64 token;
        ErrorCode code;
        QString message;
    };
    // A batch of jobs on its way to their final names, one entry per file (committer.cpp).
    struct Batch;
    void run();
    // Moves the next batch from m_queue to `batch` (m_mutex held): all of it, or a fair share
    // of each source's jobs (MaxSourceShare).
    void takeBatch(std::deque<CommitJob> &batch);
    // The worker's round: the steps below, in this order.
    void processBatch(std::deque<CommitJob> &jobs);
    // The data durable before the rename: wait for the writers, then either
    static void waitUntilWritten(Batch &batch);
    void syncEachFile(Batch &batch);    // an fsync per file, concurrently, or
    void syncFilesystems(Batch &batch); // one syncfs per filesystem (answers the held batch)
    void placeFiles(Batch &batch);      // rename (or link) into place
    void count(const Batch &batch);
    // The rename durable before the answer: an fsync per directory, or the next syncfs.
    void syncDirectories(Batch &batch);
    void holdForNextSyncfs(Batch &batch);
    // Auto: whether a syncfs now writes back little besides the batch's own data.
    bool syncfsCostsOnlyThisBatch(const Batch &batch) const;
    // Reports the held batch after an fsync of its directories (the next batch goes per file).
    void finishLinkedByDirectories();
    void answer(Batch &batch);
    void deliver(const std::vector<Outcome> &outcomes);

    // A filesystem to syncfs, through a directory on it; `err` the result of the last call.
    struct SyncedFs
    {
        dev_t dev;
        SharedFd dir;
        int err = 0;
    };
    static size_t fsIndex(std::vector<SyncedFs> &filesystems, dev_t dev, const SharedFd &dir);
    static QString dirSyncFailure(int err);
    // Reports the linked batch; `synced` starts with its filesystems, just synced.
    void finishLinked(const std::vector<SyncedFs> &synced);

    int sync(int fd, SyncTarget target) const;

    const CommitArrival m_arrival;
    const bool m_useSyncfs;
    SyncFunction m_sync;      // empty: fsync(2)
    DirtyProbe m_dirtyProbe;  // empty: systemDirtyBytes()

    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::deque<CommitJob> m_queue;
    std::unordered_map<quint64, Done> m_done; // by token: the jobs answered by a function
    bool m_stop = false;
    quint64 m_nextToken = 1;
    std::atomic<quint64> m_batches{0};
    std::atomic<quint64> m_files{0};
    std::atomic<quint64> m_syncfsBatches{0};
    std::atomic<quint64> m_syncfsCalls{0};
    // A batch put in place through syncfs, whose links wait for the next syncfs (worker only).
    struct Linked
    {
        std::vector<Outcome> outcomes;
        std::vector<std::pair<size_t, size_t>> fsOf; // {outcome placed, index into filesystems}
        std::vector<SyncedFs> filesystems;
        std::vector<std::pair<size_t, size_t>> dirOf; // {outcome placed, index into dirs}
        std::vector<SharedFd> dirs; // its directories that got a file (finishLinkedByDirectories)
    } m_linked;
    QThreadPool m_syncPool; // used by the worker only; outlives it (declared before m_thread)

    struct ThreadStopper
    {
        Committer *committer;
        void operator()(QThread *thread) const;
    };
    std::unique_ptr<QThread, ThreadStopper> m_thread;
};

} // namespace isocket
