#include "core/committer.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <utility>
#include <vector>

#include <cstdio>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <QHash>
#include <QMetaObject>
#include <QPointer>
#include <QSemaphore>
#include <QRandomGenerator>
#include <QStorageInfo>
#include <QThread>

#include "core/fsname.h"
#include "core/logging.h"

namespace isocket {

namespace {

// Concurrent fsyncs per batch. Beyond ~16 the merged flushes gain nothing on the disks
// measured (bench/, issue 6); each costs an idle thread for the pool's expiry time.
constexpr int MaxParallelSyncs = 16;

} // namespace

void Committer::ThreadStopper::operator()(QThread *thread) const
{
    {
        std::lock_guard lock(committer->m_mutex);
        committer->m_stop = true;
    }
    committer->m_wake.notify_all();
    thread->wait();
    delete thread;
}

bool Committer::syncfsReportsErrors()
{
    // Before Linux 5.8 syncfs(2) returned 0 even when writing back a file had failed.
    static const bool reports = [] {
        struct utsname u = {};
        int major = 0;
        int minor = 0;
        if (::uname(&u) != 0 || std::sscanf(u.release, "%d.%d", &major, &minor) != 2)
            return false;
        return major > 5 || (major == 5 && minor >= 8);
    }();
    return reports;
}

bool Committer::syncfsMakesDurable(const QString &type)
{
    static const QStringList local = {
        QStringLiteral("ext2"),  QStringLiteral("ext3"),  QStringLiteral("ext4"),
        QStringLiteral("xfs"),   QStringLiteral("btrfs"), QStringLiteral("f2fs"),
        QStringLiteral("zfs"),   QStringLiteral("jfs"),   QStringLiteral("reiserfs"),
        QStringLiteral("tmpfs"), // nothing to make durable: syncfs costs nothing there
    };
    return local.contains(type);
}

CommitSync Committer::syncFor(const QString &root, CommitSync requested, QString *type)
{
    const QStorageInfo storage(root);
    const QString fs = storage.isValid() ? QString::fromLatin1(storage.fileSystemType()) : QString();
    if (type)
        *type = fs;
    if (requested == CommitSync::PerFile || fs.isEmpty() || syncfsMakesDurable(fs))
        return requested;
    return CommitSync::PerFile;
}

Committer::Committer(CommitSync sync, CommitArrival arrival, QObject *parent)
    : QObject(parent), m_arrival(arrival),
      m_useSyncfs(sync == CommitSync::Auto && syncfsReportsErrors()),
      m_thread(QThread::create([this] { run(); }), ThreadStopper{this})
{
    m_syncPool.setMaxThreadCount(MaxParallelSyncs);
    m_syncPool.setObjectName(QStringLiteral("isocket-sync"));
    m_thread->setObjectName(QStringLiteral("isocket-committer"));
    m_thread->start();
}

Committer::~Committer()
{
    m_thread.reset(); // stop and join before the members the worker uses go away
}

quint64 Committer::submit(CommitJob job)
{
    return submit(std::move(job), Done());
}

quint64 Committer::submit(CommitJob job, Done done)
{
    quint64 token;
    {
        std::lock_guard lock(m_mutex);
        token = m_nextToken++;
        job.token = token;
        m_queue.push_back(std::move(job));
        if (done)
            m_done.emplace(token, std::move(done));
    }
    m_wake.notify_one();
    return token;
}

std::vector<quint64> Committer::submit(std::vector<CommitJob> jobs)
{
    std::vector<quint64> tokens;
    tokens.reserve(jobs.size());
    {
        std::lock_guard lock(m_mutex);
        for (CommitJob &job : jobs) {
            job.token = m_nextToken++;
            tokens.push_back(job.token);
            m_queue.push_back(std::move(job));
        }
    }
    m_wake.notify_one();
    return tokens;
}

void Committer::setSyncFunction(SyncFunction sync)
{
    m_sync = std::move(sync);
}

int Committer::sync(int fd, SyncTarget target) const
{
    if (m_sync)
        return m_sync(fd, target);
    return ::fsync(fd) == 0 ? 0 : errno;
}

void Committer::setDirtyProbe(DirtyProbe probe)
{
    m_dirtyProbe = std::move(probe);
}

qint64 Committer::systemDirtyBytes()
{
    // Read with plain read(2): this runs once per batch, on the committer's thread.
    const UniqueFd fd(::open("/proc/meminfo", O_RDONLY | O_CLOEXEC));
    if (!fd.valid())
        return -1;
    char buf[8192];
    const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    qint64 total = 0;
    int found = 0;
    for (const char *key : {"\nDirty:", "\nWriteback:"}) {
        const char *line = std::strstr(buf, key);
        long long kib = 0;
        if (line && std::sscanf(line + std::strlen(key), "%lld", &kib) == 1) {
            total += kib * 1024;
            ++found;
        }
    }
    return found == 2 ? total : -1;
}

Committer::Stats Committer::stats() const
{
    return Stats{m_batches.load(), m_files.load(), m_syncfsBatches.load(), m_syncfsCalls.load()};
}

void Committer::run()
{
    for (;;) {
        std::deque<CommitJob> batch;
        {
            std::unique_lock lock(m_mutex);
            // With links waiting for their sync, go on at once: whatever has queued meanwhile
            // shares that sync, and with nothing queued it is the sync alone.
            if (m_linked.outcomes.empty())
                m_wake.wait(lock, [this] { return m_stop || !m_queue.empty(); });
            if (m_stop)
                return; // queued fds close with m_queue; no one is left to tell
            takeBatch(batch);
        }
        processBatch(batch);
    }
}

void Committer::takeBatch(std::deque<CommitJob> &batch)
{
    if (m_queue.size() <= MaxSourceShare
        || std::all_of(m_queue.cbegin(), m_queue.cend(),
                       [&](const CommitJob &job) { return job.source == m_queue.front().source; })) {
        batch.swap(m_queue); // nobody to be fair to
        return;
    }
    std::deque<CommitJob> rest;
    QHash<QString, size_t> taken;
    for (CommitJob &job : m_queue) {
        size_t &n = taken[job.source];
        if (n < MaxSourceShare) {
            ++n;
            batch.push_back(std::move(job));
        } else {
            rest.push_back(std::move(job));
        }
    }
    m_queue.swap(rest);
}

namespace {

QString cannot(int err, const QString &what, const QString &name)
{
    return QStringLiteral("cannot %1 %2: %3").arg(what, displayName(name), osError(err));
}

} // namespace

// A batch on its way to the final names: one File per job, in submission order, and the distinct
// directories they are in. Owns the jobs: their files close when it goes.
struct Committer::Batch
{
    struct File
    {
        CommitJob job;
        size_t dir = 0;      // index into dirs
        int writeError = 0;  // errno: its data, mtime or xattr were not written
        int syncError = 0;   // errno: it was not made durable
        bool placed = false; // at its final name, the rename not yet durable
        Outcome outcome;

        int notDurable() const { return writeError ? writeError : syncError; }
    };
    struct Dir
    {
        dev_t dev;
        ino_t ino;
        SharedFd fd;
        size_t fs = 0;            // syncfs: index into filesystems
        signed char inPlace = -1; // stillInPlace(), asked once per batch; -1: not yet
        bool renamed = false;     // a file was placed in it
        int syncError = 0;        // errno of its fsync (per-file sync)
    };

    explicit Batch(std::deque<CommitJob> &jobs);
    bool stillInPlace(const File &file);
    bool anyPlaced() const;
    std::vector<Outcome> takeOutcomes();

    std::vector<File> files;
    std::vector<Dir> dirs;
    // syncfs: the filesystems to sync, those of the batch held for this sync first.
    std::vector<SyncedFs> filesystems;
    bool viaSyncfs = false;

private:
    size_t dirIndex(const SharedFd &fd);
};

Committer::Batch::Batch(std::deque<CommitJob> &jobs)
{
    files.reserve(jobs.size());
    for (CommitJob &job : jobs) {
        const size_t dir = dirIndex(job.dir);
        const quint64 token = job.token;
        files.push_back({std::move(job), dir, 0, 0, false, {token, ErrorCode::Ok, QString()}});
    }
    jobs.clear();
}

size_t Committer::Batch::dirIndex(const SharedFd &fd)
{
    // Jobs usually share the store's cached fd of their directory: the same fd number (alive,
    // held by the batch) is the same directory without an fstat.
    const int dfd = fd->get();
    for (size_t i = 0; i < dirs.size(); ++i) {
        if (dirs[i].fd->get() == dfd)
            return i;
    }
    struct stat st = {};
    if (::fstat(dfd, &st) == 0) {
        for (size_t i = 0; i < dirs.size(); ++i) {
            if (dirs[i].dev == st.st_dev && dirs[i].ino == st.st_ino)
                return i;
        }
    }
    dirs.push_back({st.st_dev, st.st_ino, fd});
    return dirs.size() - 1;
}

bool Committer::Batch::stillInPlace(const File &file)
{
    // Asked once per directory: its files are placed together, microseconds apart (one path
    // resolution costs about what a rename does).
    if (!file.job.inPlace)
        return true;
    signed char &known = dirs[file.dir].inPlace;
    if (known < 0)
        known = file.job.inPlace() ? 1 : 0;
    return known == 1;
}

bool Committer::Batch::anyPlaced() const
{
    return std::any_of(files.cbegin(), files.cend(), [](const File &f) { return f.placed; });
}

std::vector<Committer::Outcome> Committer::Batch::takeOutcomes()
{
    std::vector<Outcome> outcomes;
    outcomes.reserve(files.size());
    for (File &file : files)
        outcomes.push_back(std::move(file.outcome));
    return outcomes;
}

void Committer::processBatch(std::deque<CommitJob> &jobs)
{
    Batch batch(jobs);

    // The data durable before the rename.
    waitUntilWritten(batch);
    // Auto: a batch of SyncfsMinBatch files or more, or any batch while the renames of the
    // previous one wait for their sync, is made durable with syncfs, if that writes back little
    // else: one per filesystem (usually one) before the renames, and that same call makes the
    // previous batch's renames durable. The renames of this batch are made durable by the next
    // batch's first syncfs, or, if none is queued by then, by a syncfs of their own (or, when
    // the next batch goes per file, an fsync of their directories): in a stream of batches,
    // one syncfs per batch instead of two.
    batch.viaSyncfs = m_useSyncfs &&
                      (batch.files.size() >= SyncfsMinBatch || !m_linked.outcomes.empty()) &&
                      syncfsCostsOnlyThisBatch(batch);
    if (batch.viaSyncfs) {
        syncFilesystems(batch); // answers the previous batch
    } else {
        finishLinkedByDirectories(); // the previous batch, if it waits for its sync
        syncEachFile(batch);
    }

    placeFiles(batch);
    count(batch);

    // The rename durable before the answer.
    if (batch.viaSyncfs && batch.anyPlaced()) {
        holdForNextSyncfs(batch);
        return; // closes the files; the directories stay open through m_linked
    }
    if (!batch.viaSyncfs)
        syncDirectories(batch);
    answer(batch);
}

bool Committer::syncfsCostsOnlyThisBatch(const Batch &batch) const
{
    const qint64 dirty = m_dirtyProbe ? m_dirtyProbe() : systemDirtyBytes();
    if (dirty < 0)
        return false;
    // The batch's own dirty data: its files written through the page cache (those with a
    // `written` future were written with direct I/O, all but their last few bytes).
    qint64 own = 0;
    for (const Batch::File &file : batch.files) {
        struct stat st = {};
        if (!file.job.written.valid() && ::fstat(file.job.file.get(), &st) == 0)
            own += st.st_size;
    }
    return dirty - own <= SyncfsMaxOtherDirty;
}

void Committer::waitUntilWritten(Batch &batch)
{
    // Files still being written (direct I/O, StreamWriter::finishAsync()): wait for them; files
    // still to be finished: finish them.
    for (Batch::File &file : batch.files) {
        if (file.job.written.valid())
            file.writeError = file.job.written.get();
        else if (file.job.finish)
            file.writeError = file.job.finish(file.job.file.get());
    }
}

void Committer::syncFilesystems(Batch &batch)
{
    batch.filesystems = std::move(m_linked.filesystems);
    for (Batch::Dir &dir : batch.dirs)
        dir.fs = fsIndex(batch.filesystems, dir.dev, dir.fd);
    for (SyncedFs &fs : batch.filesystems) {
        fs.err = ::syncfs(fs.dir->get()) == 0 ? 0 : errno;
        m_syncfsCalls.fetch_add(1, std::memory_order_relaxed);
    }
    for (Batch::File &file : batch.files) {
        file.syncError = batch.filesystems[batch.dirs[file.dir].fs].err;
        // syncfs reports a writeback error once per open file description of the filesystem,
        // and our directory fds may have been opened after an error another call already saw.
        // The file's own fd reports its own errors: after syncfs there is nothing left to
        // write, so this only waits for nothing and reads the error state.
        if (!file.syncError &&
            ::sync_file_range(file.job.file.get(), 0, 0, SYNC_FILE_RANGE_WAIT_AFTER) != 0)
            file.syncError = errno;
    }
    // The previous batch's renames are durable now (or their filesystem failed to sync).
    finishLinked(batch.filesystems);
}

void Committer::syncEachFile(Batch &batch)
{
    std::vector<Batch::File> &files = batch.files;
    // Start the writeback of every file at once, so that the fsyncs below find their data on
    // its way to the disk, in one stream, rather than each starting its own.
    if (files.size() > 1) {
        for (const Batch::File &file : files) {
            if (!file.notDurable())
                ::sync_file_range(file.job.file.get(), 0, 0, SYNC_FILE_RANGE_WRITE);
        }
    }
    auto syncOne = [this, &files](size_t j) {
        // fsync, not fdatasync: the mtime and the checksum xattr must survive a crash too, or
        // a re-send after a lost ack could not be recognised as "already stored". A file whose
        // data was not written is not synced: it fails anyway.
        if (!files[j].writeError)
            files[j].syncError = sync(files[j].job.file.get(), SyncTarget::File);
    };
    const int workers = static_cast<int>(qMin<size_t>(files.size(), MaxParallelSyncs));
    if (workers <= 1) {
        for (size_t j = 0; j < files.size(); ++j)
            syncOne(j);
        return;
    }
    std::atomic<size_t> next{0};
    QSemaphore done;
    for (int w = 0; w < workers; ++w) {
        m_syncPool.start([&] {
            for (size_t j = next++; j < files.size(); j = next++)
                syncOne(j);
            done.release();
        });
    }
    // Not QThreadPool::waitForDone(): in Qt 6 it also ends the pool's threads, so every batch
    // started up to MaxParallelSyncs new threads (about one clone per file with small files).
    done.acquire(workers);
}

void Committer::placeFiles(Batch &batch)
{
    for (Batch::File &file : batch.files) {
        const CommitJob &job = file.job;
        const bool anonymous = job.partName.isEmpty();
        if (const int err = file.notDurable()) {
            // A failed write counts as a failed sync of the file: it is not durable.
            file.outcome = {
                job.token, writeErrorCode(err),
                cannot(err, QStringLiteral("sync"), anonymous ? job.finalName : job.partName)};
        } else if (!batch.stillInPlace(file)) {
            file.outcome = {job.token, ErrorCode::IoError,
                            QStringLiteral("the directory of %1 was moved or removed while it "
                                           "arrived; not stored (it is sent again)")
                                .arg(displayName(job.finalName))};
            if (!anonymous) // our partial, in a directory that left the tree: not left behind
                ::unlinkat(job.dir->get(), nativePath(job.partName).constData(), 0);
        } else if (const int placeErr = placeFile(job, m_arrival)) {
            file.outcome = {
                job.token, writeErrorCode(placeErr),
                cannot(placeErr,
                       anonymous ? QStringLiteral("link in") : QStringLiteral("rename to"),
                       job.finalName)};
        } else {
            file.placed = true;
            batch.dirs[file.dir].renamed = true;
        }
    }
}

void Committer::count(const Batch &batch)
{
    if (batch.files.empty())
        return; // only the sync of the previous batch's renames
    m_batches.fetch_add(1, std::memory_order_relaxed);
    m_files.fetch_add(batch.files.size(), std::memory_order_relaxed);
    if (batch.viaSyncfs)
        m_syncfsBatches.fetch_add(1, std::memory_order_relaxed);
    qCDebug(lcRecv) << "committing" << batch.files.size() << "files," << batch.dirs.size()
                    << "directories" << (batch.viaSyncfs ? "(syncfs)" : "(fsync)");
}

void Committer::holdForNextSyncfs(Batch &batch)
{
    // Reported once the next syncfs (or an fsync of the directories) has made the renames
    // durable (run() does not wait for new jobs while a batch is held).
    std::vector<size_t> linkedDir(batch.dirs.size(), SIZE_MAX);
    for (size_t j = 0; j < batch.files.size(); ++j) {
        const Batch::File &file = batch.files[j];
        if (!file.placed)
            continue;
        m_linked.fsOf.push_back({j, batch.dirs[file.dir].fs});
        if (linkedDir[file.dir] == SIZE_MAX) {
            linkedDir[file.dir] = m_linked.dirs.size();
            m_linked.dirs.push_back(batch.dirs[file.dir].fd);
        }
        m_linked.dirOf.push_back({j, linkedDir[file.dir]});
    }
    m_linked.outcomes = batch.takeOutcomes();
    for (SyncedFs &fs : batch.filesystems)
        fs.err = 0;
    m_linked.filesystems = std::move(batch.filesystems);
}

void Committer::finishLinkedByDirectories()
{
    if (m_linked.outcomes.empty())
        return;
    std::vector<int> errors(m_linked.dirs.size(), 0);
    for (size_t d = 0; d < m_linked.dirs.size(); ++d)
        errors[d] = sync(m_linked.dirs[d]->get(), SyncTarget::Directory);
    for (const auto &[outcome, dir] : m_linked.dirOf) {
        if (const int err = errors[dir]) {
            Outcome &o = m_linked.outcomes[outcome];
            o.code = writeErrorCode(err);
            o.message = dirSyncFailure(err);
        }
    }
    deliver(m_linked.outcomes);
    m_linked = {};
}

void Committer::syncDirectories(Batch &batch)
{
    // An fsync of each directory that got a file.
    for (Batch::Dir &dir : batch.dirs) {
        if (dir.renamed)
            dir.syncError = sync(dir.fd->get(), SyncTarget::Directory);
    }
    for (Batch::File &file : batch.files) {
        if (const int err = file.placed ? batch.dirs[file.dir].syncError : 0)
            file.outcome = {file.outcome.token, writeErrorCode(err), dirSyncFailure(err)};
    }
}

void Committer::answer(Batch &batch)
{
    const std::vector<Outcome> outcomes = batch.takeOutcomes();
    batch.files.clear(); // close the fds before reporting
    if (!outcomes.empty())
        deliver(outcomes);
}

size_t Committer::fsIndex(std::vector<SyncedFs> &filesystems, dev_t dev, const SharedFd &dir)
{
    for (size_t f = 0; f < filesystems.size(); ++f)
        if (filesystems[f].dev == dev)
            return f;
    filesystems.push_back({dev, dir, 0});
    return filesystems.size() - 1;
}

QString Committer::dirSyncFailure(int err)
{
    return QStringLiteral("cannot sync the directory of a stored file: %1").arg(osError(err));
}

void Committer::finishLinked(const std::vector<SyncedFs> &synced)
{
    if (m_linked.outcomes.empty())
        return;
    for (const auto &[outcome, fs] : m_linked.fsOf) {
        // m_linked's filesystems are the first entries of `synced`, in the same order.
        if (const int err = synced[fs].err) {
            Outcome &o = m_linked.outcomes[outcome];
            o.code = writeErrorCode(err);
            o.message = dirSyncFailure(err);
        }
    }
    deliver(m_linked.outcomes);
    m_linked = {};
}

namespace {

// Links the unnamed file `fd` in as `name` in `dir`: 0 or an errno. linkat(AT_EMPTY_PATH) is
// one call with no path to walk, allowed since Linux 6.10 for a file the caller opened itself
// (before that only with CAP_DAC_READ_SEARCH: ENOENT); /proc/self/fd/N works everywhere /proc
// is mounted. Which one works is learnt on the first link.
int linkAnonymous(int fd, int dir, const char *name)
{
    static std::atomic<bool> emptyPath{true};
    if (emptyPath.load(std::memory_order_relaxed)) {
        if (::linkat(fd, "", dir, name, AT_EMPTY_PATH) == 0)
            return 0;
        if (errno != ENOENT)
            return errno;
    }
    const QByteArray self = "/proc/self/fd/" + QByteArray::number(fd);
    if (::linkat(AT_FDCWD, self.constData(), dir, name, AT_SYMLINK_FOLLOW) != 0)
        return errno;
    emptyPath.store(false, std::memory_order_relaxed); // ENOENT above was the permission
    return 0;
}

} // namespace

int Committer::placeFile(const CommitJob &job, CommitArrival arrival)
{
    const int dfd = job.dir->get();
    const QByteArray finalName = nativePath(job.finalName);
    if (!job.partName.isEmpty()) {
        return ::renameat(dfd, nativePath(job.partName).constData(), dfd, finalName.constData()) ==
                       0
                   ? 0
                   : errno;
    }
    // Linked in under a hidden name, then renamed to the final one: the final name appears
    // with IN_MOVED_TO, which is what consumers on DRMS wait for (incron, inotifywait -e
    // close_write,moved_to, lsyncd); a link alone fires only IN_CREATE (issue 14). The rename
    // also replaces an older version whole. The hidden name does not depend on the final
    // one (a name of 255 bytes has no room for a suffix); a leftover of a crash is removed by
    // the partial sweep.
    if (arrival == CommitArrival::Link) {
        const int linked = linkAnonymous(job.file.get(), dfd, finalName.constData());
        if (linked != EEXIST)
            return linked;
        // A file of that name exists (a new version): through a hidden name and a rename, so
        // that the final name always holds one whole version.
    }
    const QByteArray hidden = hiddenLinkName();
    if (const int err = linkAnonymous(job.file.get(), dfd, hidden.constData()))
        return err;
    if (::renameat(dfd, hidden.constData(), dfd, finalName.constData()) != 0) {
        const int err = errno;
        ::unlinkat(dfd, hidden.constData(), 0);
        return err;
    }
    return 0;
}

QByteArray Committer::hiddenLinkName()
{
    // Unique among receiver processes (a random tag each) and commits (a counter), and of one
    // length whatever the final name.
    static const QByteArray tag =
        QByteArray::number(QRandomGenerator::system()->generate64(), 16).rightJustified(16, '0');
    static std::atomic<quint64> counter{0};
    return QByteArray(LinkPrefix) + tag + '-' +
           QByteArray::number(counter.fetch_add(1, std::memory_order_relaxed), 16);
}

void Committer::deliver(const std::vector<Outcome> &outcomesIn)
{
    // Those submitted with a function are answered here, on this thread; the rest by
    // committed(), in the committer's thread.
    std::vector<std::pair<Done, const Outcome *>> direct;
    std::vector<Outcome> outcomes;
    {
        std::lock_guard lock(m_mutex);
        for (const Outcome &o : outcomesIn) {
            auto it = m_done.find(o.token);
            if (it == m_done.end()) {
                outcomes.push_back(o);
                continue;
            }
            direct.emplace_back(std::move(it->second), &o);
            m_done.erase(it);
        }
    }
    for (const auto &[done, o] : direct)
        done(o->code, o->message);
    if (outcomes.empty())
        return;
    QMetaObject::invokeMethod(
        this,
        [this, outcomes = std::move(outcomes)] {
            QPointer<Committer> self(this);
            for (const Outcome &o : outcomes) {
                emit committed(o.token, o.code, o.message);
                if (!self)
                    return;
            }
        },
        Qt::QueuedConnection);
}

} // namespace isocket
