#include "core/receivestore.h"

#include <atomic>
#include <cerrno>

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <QHash>

#include <mutex>
#include <vector>

#include "core/config.h"
#include "core/fsname.h"

namespace isocket {

namespace {

QByteArray enc(const QString &name)
{
    return nativePath(name);
}

Error osFailure(const QString &what, const QString &path, int err)
{
    if (err == ELOOP)
        return {ErrorCode::SymlinkRefused,
                QStringLiteral("%1 is a symbolic link (refused)").arg(displayName(path))};
    if (err == ENAMETOOLONG)
        return {ErrorCode::BadPath, QStringLiteral("%1: name too long").arg(displayName(path))};
    return {writeErrorCode(err),
            QStringLiteral("cannot %1 %2: %3").arg(what, displayName(path), osError(err))};
}

bool isSymlinkAt(int dir, const QByteArray &name)
{
    struct stat st;
    return ::fstatat(dir, name.constData(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
}

Result<void> syncFd(int fd, const QString &shown)
{
    if (::fsync(fd) != 0) {
        const int err = errno;
        return osFailure(QStringLiteral("sync"), shown, err);
    }
    return {};
}

} // namespace

qint64 ReceiveStore::nowMs() const
{
    return m_clock.elapsed();
}

Result<void> ReceiveStore::open()
{
    // The root itself is the operator's choice and may be a symlink; below it, nothing may.
    m_rootFd.reset(::open(enc(m_root).constData(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!m_rootFd.valid()) {
        const int err = errno;
        return Error{ErrorCode::IoError,
                     QStringLiteral("cannot open receive root %1: %2").arg(m_root, osError(err))};
    }
    return {};
}

namespace {

// The directory `name` in `parent`, created when missing and `create`; never through a symlink.
Result<UniqueFd> openDir(int parent, const QString &name, bool create, const QString &shown)
{
    const QByteArray n = enc(name);
    for (int attempt = 0; attempt < 3; ++attempt) {
        UniqueFd fd(
            ::openat(parent, n.constData(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (fd.valid())
            return fd;
        const int err = errno;
        if (err == ELOOP || (err == ENOTDIR && isSymlinkAt(parent, n)))
            return Error{ErrorCode::SymlinkRefused,
                         QStringLiteral("%1 is a symbolic link (refused)").arg(displayName(shown))};
        if (err == ENOTDIR)
            return Error{ErrorCode::BadPath,
                         QStringLiteral("%1 is not a directory").arg(displayName(shown))};
        if (err != ENOENT || !create)
            return osFailure(QStringLiteral("open directory"), shown, err);
        if (::mkdirat(parent, n.constData(), 0755) != 0 && errno != EEXIST) {
            const int mkErr = errno;
            return osFailure(QStringLiteral("create directory"), shown, mkErr);
        }
        // The new entry must survive a crash along with the files that go into it.
        if (auto r = syncFd(parent, shown + QStringLiteral("/..")); !r)
            return r.error();
    }
    return Error{ErrorCode::IoError,
                 QStringLiteral("cannot open directory %1").arg(displayName(shown))};
}

// The directory `<root>/<components>`, walked from `rootFd` component by component.
Result<UniqueFd> openDirs(const UniqueFd &rootFd, const QString &root,
                          const QStringList &components, bool create)
{
    if (!rootFd.valid())
        return Error{ErrorCode::IoError, QStringLiteral("receive root is not open")};
    UniqueFd current(::fcntl(rootFd.get(), F_DUPFD_CLOEXEC, 0));
    if (!current.valid()) {
        const int err = errno;
        return osFailure(QStringLiteral("open"), root, err);
    }
    QString shown = root;
    for (const QString &c : components) {
        shown += QLatin1Char('/') + c;
        auto next = openDir(current.get(), c, create, shown);
        if (!next)
            return next.error();
        current = std::move(next).value();
    }
    return current;
}

// The directory cache. Every miss walks the path from the root fd, component by component with
// openat(O_DIRECTORY | O_NOFOLLOW) exactly as before; a hit reuses that fd. Why a cached fd is
// still safe to write through:
//  - it was opened without following any symlink, so it names a directory that was inside the
//    root when opened; replacing a path component by a symlink later cannot redirect it;
//  - before a hit is used, the path is resolved again from the root without following any
//    symlink (reachableAt(): one openat2(RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH) and an fstat,
//    a few microseconds) and must lead to the cached directory's dev/ino. A directory removed
//    (rm -r, maybe replaced by a new directory or a symlink) or *moved* elsewhere, inside or out
//    of the root, fails that: the entry is dropped and the path walked again, which creates the
//    new directory or refuses the symlink. So a file offered after a move never lands in the
//    moved directory (issue 13 item 8; this used to be trusted for up to a second). Done once
//    per batch of frames read together (startBatch()): those arrived together, and a move
//    between two of them is no different from one just after the check;
//  - the committer checks again (stillInPlace(), once per directory of a commit batch) right
//    before the renames or links that make files visible, so a move during a transfer fails
//    that file (io-error, sent again) instead of placing it in the moved directory.
// Holders (a transfer between BEGIN and END, a commit job) share the fd; an evicted or replaced
// entry closes when the last of them lets go.
bool reachableAt(const UniqueFd &rootFd, const QStringList &components, dev_t dev, ino_t ino)
{
    const QByteArray path = enc(components.join(QLatin1Char('/')));
    UniqueFd fd;
    static std::atomic<bool> haveOpenat2{true};
    if (haveOpenat2.load(std::memory_order_relaxed)) {
        struct open_how how = {};
        how.flags = O_PATH | O_DIRECTORY | O_CLOEXEC;
        how.resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH;
        const long r = ::syscall(SYS_openat2, rootFd.get(), path.constData(), &how, sizeof how);
        if (r >= 0)
            fd.reset(int(r));
        else if (errno == ENOSYS)
            haveOpenat2.store(false, std::memory_order_relaxed);
        else if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV)
            return false; // gone, moved, or a symlink on the way: walk again
        // Anything else (ENAMETOOLONG: source, dbtag and a path of 4096 bytes may exceed
        // PATH_MAX together) is answered by the walk below.
    }
    if (!fd.valid()) {
        // Kernels before 5.6, or a path too long for one call: the same walk by hand.
        fd.reset(::fcntl(rootFd.get(), F_DUPFD_CLOEXEC, 0));
        for (const QString &c : components) {
            if (!fd.valid())
                return false;
            fd.reset(::openat(fd.get(), enc(c).constData(),
                              O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        }
        if (!fd.valid())
            return false;
    }
    struct stat st;
    return ::fstat(fd.get(), &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

} // namespace

struct FileSlot::Data
{
    SharedFd dir;           // the directory holding the final name (shared with the store's cache)
    dev_t dev = 0;          // its filesystem
    QStringList dirPath;    // source, dbtag and subdirectories: the key of `dir` in the cache
    QString name;           // the final name (last path component)
    QString partName;       // the hidden partial next to it
    bool anonymous = false; // the file being written has no name yet (O_TMPFILE): no partial

    int dirFd() const { return dir->get(); }
};

bool FileSlot::anonymous() const
{
    return d && d->anonymous;
}

// The open directories below the root: an LRU of DirCacheSize, keyed by source/dbtag/
// subdirectories. Its lock is held over a path walk too (one walk at a time, as before).
class ReceiveStore::DirCache
{
public:
    struct Entry
    {
        SharedFd fd;
        dev_t dev = 0;
        ino_t ino = 0;
        quint64 liveBatch = 0; // the batch in which it was last found at its path
        quint64 used = 0;      // LRU stamp
    };

    // The open directory `<root>/<components>`, from the cache when it is still in place.
    Result<Entry> get(const ReceiveStore &store, const QStringList &components)
    {
        std::lock_guard lock(m_mutex);
        const QString key = components.join(QLatin1Char('/'));
        auto it = m_dirs.find(key);
        if (it != m_dirs.end()) {
            if (it->liveBatch == m_batch ||
                reachableAt(store.m_rootFd, components, it->dev, it->ino)) {
                it->liveBatch = m_batch;
                it->used = ++m_use;
                return *it;
            }
            m_dirs.erase(it);
        }
        auto opened = openDirs(store.m_rootFd, store.m_root, components, true);
        if (!opened)
            return opened.error();
        struct stat st;
        if (::fstat(opened.value().get(), &st) != 0) {
            const int err = errno;
            return osFailure(QStringLiteral("stat"), store.m_root + QLatin1Char('/') + key, err);
        }
        Entry entry;
        entry.fd = std::make_shared<const UniqueFd>(std::move(opened).value());
        entry.dev = st.st_dev;
        entry.ino = st.st_ino;
        entry.liveBatch = m_batch;
        entry.used = ++m_use;
        m_dirs.insert(key, entry);
        if (m_dirs.size() > DirCacheSize) {
            auto oldest = m_dirs.begin();
            for (auto i = m_dirs.begin(); i != m_dirs.end(); ++i)
                if (i->used < oldest->used)
                    oldest = i;
            m_dirs.erase(oldest);
        }
        return entry;
    }

    // Drops the entry of `components` if it is still `fd`.
    void forget(const QStringList &components, const SharedFd &fd)
    {
        std::lock_guard lock(m_mutex);
        auto it = m_dirs.find(components.join(QLatin1Char('/')));
        if (it != m_dirs.end() && it->fd == fd)
            m_dirs.erase(it);
    }

    void startBatch()
    {
        std::lock_guard lock(m_mutex);
        ++m_batch;
    }

private:
    std::mutex m_mutex;
    QHash<QString, Entry> m_dirs;
    quint64 m_use = 0;
    quint64 m_batch = 1;
};

// The files committed by this process: their inode, size, mtime and hash, by dbtag. At most
// MaxRememberedFiles, whole dbtags forgotten least recently stored first.
class ReceiveStore::StoredFiles
{
public:
    void remember(const QString &dbtagKey, const QString &path, const StoredStamp &stamp)
    {
        std::lock_guard lock(m_mutex);
        RememberedDbtag &entry = m_dbtags[dbtagKey];
        entry.used = ++m_use;
        auto it = entry.files.find(path);
        if (it != entry.files.end()) {
            *it = stamp;
            return;
        }
        while (m_files >= MaxRememberedFiles && m_dbtags.size() > 1) {
            auto oldest = m_dbtags.end();
            for (auto i = m_dbtags.begin(); i != m_dbtags.end(); ++i)
                if (i.key() != dbtagKey && (oldest == m_dbtags.end() || i->used < oldest->used))
                    oldest = i;
            m_files -= oldest->files.size();
            m_dbtags.erase(oldest);
        }
        if (m_files >= MaxRememberedFiles)
            return; // one dbtag bigger than the cap: the rest of it is read from the xattrs
        m_dbtags[dbtagKey].files.insert(path, stamp);
        ++m_files;
    }

    // The hash of `path` when it is remembered and still the file `st` describes.
    std::optional<Hash128> lookup(const QString &dbtagKey, const QString &path,
                                  const struct stat &st) const
    {
        std::lock_guard lock(m_mutex);
        const auto dbtag = m_dbtags.constFind(dbtagKey);
        if (dbtag == m_dbtags.cend())
            return std::nullopt;
        const auto it = dbtag->files.constFind(path);
        if (it == dbtag->files.cend())
            return std::nullopt;
        const FileStamp stamp = stampOf(st);
        if (it->m_device != quint64(st.st_dev) || it->m_inode != quint64(st.st_ino) ||
            it->size != stamp.size || it->mtimeNs != stamp.mtimeNs)
            return std::nullopt;
        return it->hash;
    }

    void forgetDbtag(const QString &dbtagKey)
    {
        std::lock_guard lock(m_mutex);
        if (auto it = m_dbtags.find(dbtagKey); it != m_dbtags.end()) {
            m_files -= it->files.size();
            m_dbtags.erase(it);
        }
    }

private:
    struct RememberedDbtag
    {
        QHash<QString, StoredStamp> files; // by path inside the dbtag
        quint64 used = 0;                  // LRU stamp
    };
    mutable std::mutex m_mutex;
    QHash<QString, RememberedDbtag> m_dbtags; // by "source/dbtag"
    qsizetype m_files = 0;
    quint64 m_use = 0;
};

// Partials this process left or read back: their inode, size and mtime then and the hash state
// of their bytes. At most MaxKnownPartials, the oldest forgotten first.
class ReceiveStore::KnownPartials
{
public:
    void know(const QString &key, const struct stat &st, const Hasher &hasher)
    {
        std::lock_guard lock(m_mutex);
        if (m_partials.size() >= MaxKnownPartials && !m_partials.contains(key)) {
            auto oldest = m_partials.begin();
            for (auto it = m_partials.begin(); it != m_partials.end(); ++it)
                if (it->order < oldest->order)
                    oldest = it;
            m_partials.erase(oldest);
        }
        m_partials.insert(key, Known{st.st_dev, st.st_ino, stampOf(st), hasher, ++m_order});
    }

    // What is known of the partial `key`, when it is still the file `st` describes.
    std::optional<PartialInfo> lookup(const QString &key, const struct stat &st) const
    {
        std::lock_guard lock(m_mutex);
        const auto it = m_partials.constFind(key);
        if (it != m_partials.constEnd() && it->dev == st.st_dev && it->ino == st.st_ino &&
            it->stamp == stampOf(st))
            return PartialInfo{st.st_size, it->hasher};
        return std::nullopt;
    }

private:
    struct Known
    {
        dev_t dev = 0;
        ino_t ino = 0;
        FileStamp stamp;
        Hasher hasher;
        quint64 order = 0;
    };
    mutable std::mutex m_mutex;
    QHash<QString, Known> m_partials; // by "source/dbtag/dirs/.name.isocket-part"
    quint64 m_order = 0;
};

// The free space of each filesystem files are received on: read with statvfs at most every
// SpaceCacheMs, minus what was written since, and what is promised to files being received.
class ReceiveStore::SpaceLedger
{
public:
    SpaceLedger(const ReceiveStore &store) : m_store(store) {}

    // Promises `needed` bytes on the filesystem of `dirFd` (`dev`), or DiskFull.
    Result<qint64> promise(int dirFd, dev_t dev, qint64 needed)
    {
        std::lock_guard lock(m_mutex);
        State *state = find(dev);
        if (!state) {
            m_states.push_back(State{dev, 0, 0, -1});
            state = &m_states.back();
        }
        bool fresh = false;
        if (state->atMs < 0 || m_store.nowMs() - state->atMs > SpaceCacheMs) {
            if (auto r = refresh(*state, dirFd); !r)
                return r.error();
            fresh = true;
        }
        qint64 avail = state->avail - state->promised;
        const qint64 reserve = m_store.m_reserveBytes;
        if (avail - needed < reserve && !fresh) {
            // Never refuse on an estimate: look again.
            if (auto r = refresh(*state, dirFd); !r)
                return r.error();
            avail = state->avail - state->promised;
        }
        if (avail - needed >= reserve) {
            state->promised += needed;
            return needed;
        }
        state->atMs = -1; // the next offer looks again
        return Error{ErrorCode::DiskFull,
                     QStringLiteral("%1 bytes free (%2 of them promised to files being received), "
                                    "%3 needed, %4 reserved on %5")
                         .arg(state->avail)
                         .arg(state->promised)
                         .arg(needed)
                         .arg(reserve)
                         .arg(m_store.m_root)};
    }

    void written(quint64 dev, qint64 bytes)
    {
        std::lock_guard lock(m_mutex);
        if (State *state = find(dev_t(dev))) {
            state->promised -= bytes;
            state->avail -= bytes;
        }
    }

    void released(quint64 dev, qint64 bytes)
    {
        std::lock_guard lock(m_mutex);
        if (State *state = find(dev_t(dev)))
            state->promised -= bytes;
    }

    void changed()
    {
        std::lock_guard lock(m_mutex);
        for (State &state : m_states)
            state.atMs = -1;
    }

    qint64 promised() const
    {
        std::lock_guard lock(m_mutex);
        qint64 sum = 0;
        for (const State &s : m_states)
            sum += s.promised;
        return sum;
    }

private:
    struct State
    {
        dev_t dev = 0;
        qint64 avail = 0;    // f_bavail * f_frsize at `atMs`, minus what was written since
        qint64 promised = 0; // the remaining bytes of every live SpaceClaim on it
        qint64 atMs = -1;    // -1: to be read again
    };

    State *find(dev_t dev)
    {
        for (State &s : m_states)
            if (s.dev == dev)
                return &s;
        return nullptr;
    }

    Result<qint64> refresh(State &state, int dirFd)
    {
        struct statvfs vfs;
        if (::fstatvfs(dirFd, &vfs) != 0) {
            const int err = errno;
            state.atMs = -1;
            return osFailure(QStringLiteral("statvfs"), m_store.m_root, err);
        }
        state.avail = qint64(vfs.f_bavail) * qint64(vfs.f_frsize);
        state.atMs = m_store.nowMs();
        return state.avail;
    }

    const ReceiveStore &m_store;
    mutable std::mutex m_mutex;
    std::vector<State> m_states;
};

ReceiveStore::ReceiveStore(QString root, qint64 reserveBytes)
    : m_root(std::move(root)), m_reserveBytes(reserveBytes), m_dirs(std::make_unique<DirCache>()),
      m_stored(std::make_unique<StoredFiles>()), m_partials(std::make_unique<KnownPartials>()),
      m_space(std::make_unique<SpaceLedger>(*this))
{
    m_clock.start();
    // The committer links an anonymous file in through /proc/self/fd/N (linkat with
    // AT_EMPTY_PATH would need CAP_DAC_READ_SEARCH).
    m_procFd = ::access("/proc/self/fd", X_OK) == 0;
}

ReceiveStore::~ReceiveStore() = default;

bool ReceiveStore::stillInPlace(const FileSlot &slot) const
{
    struct stat st;
    if (::fstat(slot.d->dirFd(), &st) != 0 || st.st_nlink == 0)
        return false;
    return reachableAt(m_rootFd, slot.d->dirPath, st.st_dev, st.st_ino);
}

namespace {

// A file the receiver did not make as it is: more than one link (a hard link made by someone
// else may be a file outside the root: writing, hashing or answering its length would reach
// it) or another owner. Refused, never written through (issue 13).
std::optional<Error> foreignFile(const struct stat &st, const QString &name)
{
    if (st.st_nlink > 1)
        return Error{ErrorCode::Unsupported,
                     QStringLiteral("%1 has %2 hard links: refused (the receiver makes files with "
                                    "one; remove it)")
                         .arg(displayName(name))
                         .arg(qulonglong(st.st_nlink))};
    if (st.st_uid != ::geteuid())
        return Error{ErrorCode::Unsupported,
                     QStringLiteral("%1 belongs to user %2, not to the receiver: refused")
                         .arg(displayName(name))
                         .arg(st.st_uid)};
    return std::nullopt;
}

// One writer per partial, also across receivers sharing the root on a distributed filesystem
// (issue 20; GlusterFS passes these locks between its clients): a lock of the open file
// description, held until the file is committed or dropped, released by the kernel (or by the
// filesystem, for a client that died) with the last close. Taken before anything is truncated.
// False only when another holds it; a filesystem without locks (ENOLCK, EINVAL) has one
// receiver, and says yes.
bool lockPartial(int fd)
{
    struct flock lock = {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    return ::fcntl(fd, F_OFD_SETLK, &lock) == 0 || (errno != EAGAIN && errno != EACCES);
}

Error busyElsewhere(const QString &name)
{
    return Error{ErrorCode::Busy,
                 QStringLiteral("%1 is being written by another receiver").arg(displayName(name))};
}

} // namespace

QString ReceiveStore::partialName(const QString &name)
{
    const QByteArray bytes = enc(name);
    if (bytes.size() + 1 + qsizetype(qstrlen(PartSuffix)) <= 255)
        return QLatin1Char('.') + name + QLatin1String(PartSuffix);
    // No room for the suffix (names of up to 255 bytes are allowed): a name of fixed length
    // from the name's hash; the name itself goes into an xattr of the partial, for the sweep.
    Hasher hasher;
    hasher.add(bytes);
    return QLatin1String(LongPartPrefix) + toHex(hasher.result()) + QLatin1String(PartSuffix);
}

Result<void> ReceiveStore::checkReservedNames(const QString &path)
{
    for (QStringView part : QStringView(path).split(QLatin1Char('/')))
        if (const QString why = reservedReason(part); !why.isEmpty())
            return Error{ErrorCode::BadPath,
                         QStringLiteral("path '%1': %2").arg(displayName(path), why)};
    return {};
}

void ReceiveStore::startBatch()
{
    m_dirs->startBatch();
}

Result<FileSlot> ReceiveStore::locate(const QString &source, const QString &dbtag,
                                      const QString &path, NameRules rules)
{
    if (auto r = validateName(source, QStringLiteral("source")); !r)
        return r.error();
    if (auto r = validateName(dbtag, QStringLiteral("dbtag"), rules); !r)
        return r.error();
    if (auto r = validateRelativePath(path, QStringLiteral("path"), rules); !r)
        return r.error();
    if (auto r = checkReservedNames(path); !r)
        return r.error();
    QStringList parts = path.split(QLatin1Char('/'));
    const QString name = parts.takeLast();
    parts.prepend(dbtag);
    parts.prepend(source);
    auto dir = m_dirs->get(*this, parts);
    if (!dir)
        return dir.error();
    auto data = std::make_shared<FileSlot::Data>();
    data->dir = dir.value().fd;
    data->dev = dir.value().dev;
    data->dirPath = std::move(parts);
    data->name = name;
    data->partName = partialName(name);
    FileSlot slot;
    slot.d = std::move(data);
    return slot;
}

Result<bool> ReceiveStore::isComplete(const QString &source, const QString &dbtag)
{
    auto dir = m_dirs->get(*this, {source, dbtag});
    if (!dir)
        return dir.error();
    struct stat st = {};
    if (::fstatat(dir.value().fd->get(), ManifestName, &st, AT_SYMLINK_NOFOLLOW) == 0)
        return true;
    if (errno == ENOENT)
        return false;
    const int err = errno;
    return osFailure(QStringLiteral("stat"),
                     source + QLatin1Char('/') + dbtag + QLatin1Char('/') +
                         QLatin1String(ManifestName),
                     err);
}

namespace {

// The hash of the file `name` in `dirFd`: from its xattr, else read.
Result<std::optional<Hash128>> hashOf(int dirFd, const QString &name, qint64 size,
                                      const QString &shown)
{
    UniqueFd fd(::openat(dirFd, enc(name).constData(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
        const int err = errno;
        return osFailure(QStringLiteral("open"), shown, err);
    }
    char hex[64];
    const ssize_t n = ::fgetxattr(fd.get(), ReceiveStore::HashXattr, hex, sizeof hex);
    if (n == 32) {
        if (auto h = hashFromHex(QString::fromLatin1(hex, 32)))
            return std::optional<Hash128>(*h);
    }
    Hasher hasher;
    if (auto r = hashFileRange(fd.get(), size, hasher); !r)
        return r.error();
    return std::optional<Hash128>(hasher.result());
}

} // namespace

void ReceiveStore::remember(const QString &source, const QString &dbtag, const QString &path,
                            const StoredStamp &stamp)
{
    if (stamp.valid())
        m_stored->remember(source + QLatin1Char('/') + dbtag, path, stamp);
}

Result<std::optional<Hash128>> ReceiveStore::storedHash(const FileSlot &slotIn, qint64 size,
                                                        qint64 mtimeNs)
{
    // The lock only for the remembered hashes: reading a file to hash it holds up no other
    // thread.
    const FileSlot::Data &slot = *slotIn.d;
    const QByteArray n = enc(slot.name);
    struct stat st;
    if (::fstatat(slot.dirFd(), n.constData(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        const int err = errno;
        if (err == ENOENT)
            return std::optional<Hash128>();
        return osFailure(QStringLiteral("stat"), slot.name, err);
    }
    if (S_ISLNK(st.st_mode))
        return Error{ErrorCode::SymlinkRefused,
                     QStringLiteral("%1 is a symbolic link (refused)").arg(displayName(slot.name))};
    if (!S_ISREG(st.st_mode))
        return Error{
            ErrorCode::Unsupported,
            QStringLiteral("%1 exists and is not a regular file").arg(displayName(slot.name))};
    if (auto foreign = foreignFile(st, slot.name))
        return *foreign;
    const FileStamp stamp = stampOf(st);
    if (stamp.size != size || stamp.mtimeNs != mtimeNs)
        return std::optional<Hash128>();
    if (slot.dirPath.size() >= 2) {
        const QString dbtagKey = slot.dirPath.at(0) + QLatin1Char('/') + slot.dirPath.at(1);
        const QString path = (slot.dirPath.mid(2) << slot.name).join(QLatin1Char('/'));
        if (auto hash = m_stored->lookup(dbtagKey, path, st))
            return std::optional<Hash128>(*hash);
    }
    return hashOf(slot.dirFd(), slot.name, size, slot.name);
}

QString ReceiveStore::partialKey(const FileSlot &slot)
{
    return (QStringList(slot.d->dirPath) << slot.d->partName).join(QLatin1Char('/'));
}

Result<std::optional<PartialInfo>> ReceiveStore::findPartial(const FileSlot &slotIn, qint64 size)
{
    const FileSlot::Data &slot = *slotIn.d;
    // No lock while reading: hashing a large partial holds up no other thread's calls into
    // the store (only the result is recorded under it).
    const QByteArray n = enc(slot.partName);
    UniqueFd fd(::openat(slot.dirFd(), n.constData(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd.valid()) {
        const int err = errno;
        if (err == ENOENT)
            return std::optional<PartialInfo>();
        return osFailure(QStringLiteral("open"), slot.partName, err);
    }
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) {
        const int err = errno;
        return osFailure(QStringLiteral("stat"), slot.partName, err);
    }
    if (!S_ISREG(st.st_mode))
        return Error{
            ErrorCode::Unsupported,
            QStringLiteral("%1 exists and is not a regular file").arg(displayName(slot.partName))};
    if (auto foreign = foreignFile(st, slot.partName))
        return *foreign;
    if (st.st_size == 0)
        return std::optional<PartialInfo>();
    if (st.st_size > size) {
        ::unlinkat(slot.dirFd(), n.constData(), 0);
        return std::optional<PartialInfo>();
    }
    PartialInfo info;
    info.length = st.st_size;
    if (auto r = hashFileRange(fd.get(), info.length, info.hasher); !r)
        return r.error();
    // Read once: a resume that comes again (the sender gave up waiting, a cancel) finds it.
    // Stamped as it was before the read; had it changed since, the stamp no longer matches.
    m_partials->know(partialKey(slotIn), st, info.hasher);
    return std::optional<PartialInfo>(std::move(info));
}

void ReceiveStore::rememberPartial(const FileSlot &slot, const UniqueFd &file, qint64 length,
                                   const Hasher &hasher)
{
    struct stat st;
    if (slot.d->anonymous || length <= 0 || ::fstat(file.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size != length)
        return;
    m_partials->know(partialKey(slot), st, hasher);
}

ReceiveStore::PartialProbe ReceiveStore::probePartial(const FileSlot &slotIn, qint64 size)
{
    const FileSlot::Data &slot = *slotIn.d;
    struct stat st;
    PartialProbe probe;
    if (::fstatat(slot.dirFd(), enc(slot.partName).constData(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        probe.exists = errno != ENOENT;
        return probe;
    }
    probe.exists = true;
    if (!S_ISREG(st.st_mode) || foreignFile(st, slot.partName))
        return probe; // findPartial() says why
    probe.length = st.st_size;
    if (st.st_size == 0 || st.st_size > size)
        return probe;
    probe.known = m_partials->lookup(partialKey(slotIn), st);
    return probe;
}

bool ReceiveStore::writesAnonymously(const FileSlot &slot, qint64 size) const
{
    std::lock_guard lock(m_tmpfileMutex);
    return size <= AnonymousMaxBytes && m_procFd && !m_noTmpfile.contains(quint64(slot.d->dev));
}

Result<UniqueFd> ReceiveStore::openPartial(FileSlot &slotIn, qint64 offset, bool anonymous)
{
    // A slot is shared by its copies: this one gets data of its own.
    auto data = std::make_shared<FileSlot::Data>(*slotIn.d);
    slotIn.d = data;
    FileSlot::Data &slot = *data;
    slot.anonymous = false;
    if (anonymous && offset == 0 && writesAnonymously(slotIn, 0)) {
        UniqueFd fd(::openat(slot.dirFd(), ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644));
        if (fd.valid()) {
            slot.anonymous = true;
            return fd;
        }
        // Not supported by this filesystem (EOPNOTSUPP, or EISDIR/EINVAL from older kernels):
        // named partials there from now on. Anything else (ENOENT: the cached directory is
        // gone) takes the named path too, which handles it.
        if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) {
            std::lock_guard lock(m_tmpfileMutex);
            m_noTmpfile.insert(quint64(slot.dev));
        }
    }
    const QByteArray n = enc(slot.partName);
    UniqueFd fd;
    for (int attempt = 0;; ++attempt) {
        if (offset == 0) {
            // The usual case: no partial yet. A file we create ourselves is empty and regular:
            // no fstat, no truncate.
            fd.reset(::openat(slot.dirFd(), n.constData(),
                              O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
            if (fd.valid()) {
                if (!lockPartial(fd.get()))
                    return busyElsewhere(slot.name);
                if (slot.partName.startsWith(QLatin1String(LongPartPrefix))) {
                    // Best effort: without it the sweep cannot tell whose partial this is and
                    // leaves it (a later resume still finds it by its name).
                    const QByteArray name = enc(slot.name);
                    ::fsetxattr(fd.get(), PartNameXattr, name.constData(), size_t(name.size()), 0);
                }
                return fd;
            }
            if (errno == EEXIST)
                fd.reset(::openat(slot.dirFd(), n.constData(),
                                  O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
        } else {
            fd.reset(::openat(slot.dirFd(), n.constData(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
        }
        if (fd.valid())
            break;
        const int err = errno;
        if (err != ENOENT || attempt > 0)
            return osFailure(QStringLiteral("open"), slot.partName, err);
        // The cached directory may be gone (removed, perhaps replaced): walk again from the root.
        m_dirs->forget(slot.dirPath, slot.dir);
        auto dir = m_dirs->get(*this, slot.dirPath);
        if (!dir)
            return dir.error();
        slot.dir = dir.value().fd;
        slot.dev = dir.value().dev;
    }
    if (!lockPartial(fd.get()))
        return busyElsewhere(slot.name);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode))
        return Error{ErrorCode::IoError,
                     QStringLiteral("%1 is not a regular file").arg(displayName(slot.partName))};
    if (auto foreign = foreignFile(st, slot.partName))
        return *foreign;
    if (st.st_size < offset)
        return Error{ErrorCode::IoError, QStringLiteral("%1 shrank below the offset %2")
                                             .arg(displayName(slot.partName))
                                             .arg(offset)};
    if (st.st_size != offset && ::ftruncate(fd.get(), offset) != 0) {
        const int err = errno;
        return osFailure(QStringLiteral("truncate"), slot.partName, err);
    }
    return fd;
}

Result<ReceiveStore::SpaceClaim> ReceiveStore::checkSpace(const FileSlot &slot, qint64 needed)
{
    auto promised = m_space->promise(slot.d->dirFd(), slot.d->dev, needed);
    if (!promised)
        return promised.error();
    SpaceClaim claim;
    claim.m_store = this;
    claim.m_device = quint64(slot.d->dev);
    claim.m_remaining = needed;
    return claim;
}

void ReceiveStore::spaceWritten(quint64 device, qint64 bytes)
{
    m_space->written(device, bytes);
}

void ReceiveStore::spaceReleased(quint64 device, qint64 bytes)
{
    m_space->released(device, bytes);
}

void ReceiveStore::spaceChanged()
{
    m_space->changed();
}

qint64 ReceiveStore::promisedBytes() const
{
    return m_space->promised();
}

ReceiveStore::SpaceClaim &ReceiveStore::SpaceClaim::operator=(SpaceClaim &&other) noexcept
{
    if (this != &other) {
        reset();
        m_store = std::exchange(other.m_store, nullptr);
        m_device = other.m_device;
        m_remaining = std::exchange(other.m_remaining, 0);
    }
    return *this;
}

void ReceiveStore::SpaceClaim::written(qint64 bytes)
{
    bytes = qBound<qint64>(0, bytes, m_remaining);
    if (!m_store || bytes == 0)
        return;
    m_remaining -= bytes;
    m_store->spaceWritten(m_device, bytes);
}

void ReceiveStore::SpaceClaim::reset()
{
    if (m_store && m_remaining > 0)
        m_store->spaceReleased(m_device, m_remaining);
    m_store = nullptr;
    m_remaining = 0;
}

void ReceiveStore::removePartial(const FileSlot &slot)
{
    if (slot.d->anonymous)
        return;
    ::unlinkat(slot.d->dirFd(), enc(slot.d->partName).constData(), 0);
}

ReceiveStore::CommitRequest ReceiveStore::prepareCommit(const FileSlot &slot, UniqueFd file,
                                                        qint64 size, qint64 mtimeNs,
                                                        const Hash128 &hash)
{
    CommitRequest request;
    // Its inode, size and mtime as finished: once committed, the store knows its hash without
    // opening it again (the manifest, a repeated OFFER). Without them it reads the xattr.
    if (struct stat st; ::fstat(file.get(), &st) == 0) {
        request.stamp.m_device = quint64(st.st_dev);
        request.stamp.m_inode = quint64(st.st_ino);
        request.stamp.size = size;
        request.stamp.mtimeNs = mtimeNs;
        request.stamp.hash = hash;
    }
    // The directory the partial was created in at BEGIN: the rename must happen there.
    CommitJob &job = request.job;
    // Checked again right before the rename: a directory moved away meanwhile gets no file.
    job.inPlace = [this, slot] { return stillInPlace(slot); };
    job.file = std::move(file);
    job.dir = slot.d->dir;
    if (!slot.d->anonymous)
        job.partName = slot.d->partName;
    job.finalName = slot.d->name;
    return request;
}

Result<void> ReceiveStore::writeAt(int fd, qint64 offset, const char *data, qint64 size)
{
    while (size > 0) {
        const ssize_t n = ::pwrite(fd, data, size_t(size), off_t(offset));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            const int err = errno;
            return Error{writeErrorCode(err), QStringLiteral("write failed: %1").arg(osError(err))};
        }
        data += n;
        size -= n;
        offset += n;
    }
    return {};
}

Result<void> ReceiveStore::finish(int fd, qint64 mtimeNs, const Hash128 &hash)
{
    struct timespec times[2];
    times[0].tv_sec = 0;
    times[0].tv_nsec = UTIME_OMIT;
    times[1].tv_sec = time_t(mtimeNs / 1000000000LL);
    times[1].tv_nsec = long(mtimeNs % 1000000000LL);
    if (times[1].tv_nsec < 0) {
        times[1].tv_nsec += 1000000000L;
        times[1].tv_sec -= 1;
    }
    if (::futimens(fd, times) != 0) {
        const int err = errno;
        return Error{ErrorCode::IoError, QStringLiteral("cannot set mtime: %1").arg(osError(err))};
    }
    const QByteArray hex = toHex(hash).toLatin1();
    if (::fsetxattr(fd, HashXattr, hex.constData(), size_t(hex.size()), 0) != 0) {
        const int err = errno;
        if (err != ENOTSUP && err != EPERM)
            return Error{writeErrorCode(err),
                         QStringLiteral("cannot set the hash attribute: %1").arg(osError(err))};
    }
    return {};
}

QByteArray ReceiveStore::manifestText(const QString &source, const QString &dbtag,
                                      const QList<StoredEntry> &entries)
{
    qint64 bytes = 0;
    int outside = 0;
    int skipped = 0;
    for (const StoredEntry &e : entries) {
        bytes += e.size;
        outside += int(e.outside);
        skipped += int(!e.skipped.isEmpty());
    }
    // Names are bytes: one that would break the line format (a newline, a backslash, a byte
    // that is not UTF-8, another control character) is written escaped, and the header says how
    // many were, so that a consumer knows to unescape (docs/PROTOCOL.md section 2.4). Every
    // other name is written as it is, as it always was.
    int escaped = needsEscape(dbtag) ? 1 : 0;
    for (const StoredEntry &e : entries)
        escaped += int(needsEscape(e.path));
    auto name = [escaped](const QString &n) -> QByteArray {
        return escaped > 0 ? displayName(n).toUtf8() : fsEncode(n);
    };
    // A file sent outside isocket (by the original, or by hand) is named as such: the receiver
    // never held it, so it has no hash. The header counts them only when there are any.
    QByteArray text =
        QStringLiteral("# isocket manifest v1 source=%1 dbtag=").arg(source).toUtf8() +
        name(dbtag) +
        QStringLiteral(" files=%1 bytes=%2").arg(entries.size() - skipped).arg(bytes).toUtf8();
    if (outside > 0)
        text += QStringLiteral(" outside=%1").arg(outside).toUtf8();
    // An entry the ED skipped (a symbolic link it does not follow, a name it cannot send) is
    // named with the ED's reason: the dataset is whole but for these. Not counted in `files`.
    if (skipped > 0)
        text += QStringLiteral(" skipped=%1").arg(skipped).toUtf8();
    if (escaped > 0)
        text += QStringLiteral(" escaped=%1").arg(escaped).toUtf8();
    text += '\n';
    for (const StoredEntry &e : entries) {
        if (!e.skipped.isEmpty())
            text += "skipped  -  " + name(e.path) + "  " + e.skipped.toUtf8() + '\n';
        else
            text += (e.outside ? QByteArray("outside") : toHex(e.hash).toLatin1()) +
                    QStringLiteral("  %1  ").arg(e.size).toUtf8() + name(e.path) + '\n';
    }
    return text;
}

Result<ReceiveStore::ManifestDraft>
ReceiveStore::prepareManifest(const QString &source, const QString &dbtag,
                              const QList<ManifestEntryIn> &entries, NameRules rules)
{
    if (auto r = validateName(source, QStringLiteral("source")); !r)
        return r.error();
    if (auto r = validateName(dbtag, QStringLiteral("dbtag"), rules); !r)
        return r.error();
    const bool noneHere =
        std::all_of(entries.cbegin(), entries.cend(),
                    [](const ManifestEntryIn &e) { return e.outside || !e.skipped.isEmpty(); });
    auto dbtagDir = openDirs(m_rootFd, m_root, {source, dbtag}, noneHere);
    if (!dbtagDir) {
        if (dbtagDir.error().code == ErrorCode::IoError && !noneHere)
            return Error{ErrorCode::Incomplete,
                         QStringLiteral("%1: not stored").arg(displayName(entries.first().path))};
        return dbtagDir.error();
    }
    const int dfd = dbtagDir.value().get();

    const QString dbtagKey = source + QLatin1Char('/') + dbtag;
    QList<StoredEntry> stored;
    stored.reserve(entries.size());
    qint64 bytes = 0;
    for (const ManifestEntryIn &e : entries) {
        auto missing = [&](const QString &why) {
            // The path as displayName() shows it: the ED reads it back with unescapeName().
            return Error{ErrorCode::Incomplete,
                         QStringLiteral("%1: %2").arg(displayName(e.path), why)};
        };
        if (!e.skipped.isEmpty()) {
            // Text from the ED, one line of the manifest: no line breaks or other controls. The
            // path is a name (escaped by manifestText() if it must be).
            auto printable = [](QString text) {
                for (QChar &c : text)
                    if (c.unicode() < 0x20 || c.unicode() == 0x7F)
                        c = QLatin1Char('?');
                return text;
            };
            stored.append({e.path, 0, Hash128{}, false, printable(e.skipped)});
            continue;
        }
        if (!validateRelativePath(e.path, QStringLiteral("path"), rules) ||
            !checkReservedNames(e.path))
            return missing(QStringLiteral("not a valid path"));
        if (e.outside) { // the ED says it went another way: nothing here to check
            stored.append({e.path, e.size, Hash128{}, true});
            bytes += e.size;
            continue;
        }
        QStringList parts = e.path.split(QLatin1Char('/'));
        const QString name = parts.takeLast();
        UniqueFd dir; // only for files in subdirectories; else the dbtag's fd itself
        int parent = dfd;
        QString shown = source + QLatin1Char('/') + dbtag;
        for (const QString &c : parts) {
            shown += QLatin1Char('/') + c;
            auto next = openDir(parent, c, false, shown);
            if (!next)
                return missing(next.error().message);
            dir = std::move(next).value();
            parent = dir.get();
        }
        struct stat st;
        if (::fstatat(parent, enc(name).constData(), &st, AT_SYMLINK_NOFOLLOW) != 0)
            return missing(QStringLiteral("not stored"));
        if (!S_ISREG(st.st_mode))
            return missing(QStringLiteral("not a regular file"));
        if (st.st_size != e.size)
            return missing(QStringLiteral("stored with %1 bytes, expected %2")
                               .arg(qint64(st.st_size))
                               .arg(e.size));
        if (auto known = m_stored->lookup(dbtagKey, e.path, st)) {
            stored.append({e.path, e.size, *known});
            bytes += e.size;
            continue;
        }
        auto hash = hashOf(parent, name, e.size, e.path);
        if (!hash)
            return missing(hash.error().message);
        stored.append({e.path, e.size, *hash.value()});
        bytes += e.size;
    }

    ManifestDraft draft;
    draft.m_dir = std::make_shared<UniqueFd>(std::move(dbtagDir).value());
    draft.m_dbtagKey = dbtagKey;
    draft.m_shown = m_root + QLatin1Char('/') + source + QLatin1Char('/') + displayName(dbtag) +
                    QLatin1Char('/') + QLatin1String(ManifestName);
    draft.m_text = manifestText(source, dbtag, stored);
    draft.bytes = bytes;
    return draft;
}

Result<void> ReceiveStore::ManifestDraft::write() const
{
    const int dfd = m_dir->get();
    const QByteArray tmpName = QByteArray(".") + ManifestName + ".isocket-tmp";
    UniqueFd fd(::openat(dfd, tmpName.constData(),
                         O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd.valid()) {
        const int err = errno;
        return osFailure(QStringLiteral("create"), m_shown, err);
    }
    auto fail = [&](const Error &error) -> Result<void> {
        ::unlinkat(dfd, tmpName.constData(), 0);
        return error;
    };
    if (auto r = writeAt(fd.get(), 0, m_text.constData(), m_text.size()); !r)
        return fail(r.error());
    if (auto r = syncFd(fd.get(), m_shown); !r)
        return fail(r.error());
    fd.reset();
    if (::renameat(dfd, tmpName.constData(), dfd, ManifestName) != 0) {
        const int err = errno;
        return fail(osFailure(QStringLiteral("rename into"), m_shown, err));
    }
    return syncFd(dfd, m_shown);
}

void ReceiveStore::manifestWritten(const ManifestDraft &draft)
{
    m_stored->forgetDbtag(draft.m_dbtagKey);
}

} // namespace isocket
