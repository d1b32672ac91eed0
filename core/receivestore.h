#pragma once
// ReceiveStore: the receiver's filesystem side, no sockets. Files land at
// `<root>/<source>/<dbtag>/<path>`.
//
// Every directory below the root is opened component by component with
// openat(O_DIRECTORY | O_NOFOLLOW) from the root's directory fd (created with mkdirat when
// missing), every file with openat(O_NOFOLLOW) and every rename is a renameat inside one
// directory fd: a symbolic link planted anywhere inside the root is refused
// (SymlinkRefused), never followed, so nothing is ever written outside the root.
//
// A file is written to a hidden partial `.<name>.isocket-part` next to its final name (names
// starting with '.' are refused on the wire, so a partial never collides with data and
// readers of the tree can skip hidden names). A partial left by a dropped connection or a
// crash is resumed when the same file is offered again: its length and prefix hash go back in
// the ACCEPT. The manifest `finished.isocket` is written atomically through the dbtag's dir fd.
//
// Directory fds are cached (LRU of DirCacheSize, keyed by source/dbtag/subdirectories, shared
// with transfers and commit jobs): a file costs no walk by hand, only one in-kernel resolution
// from the root that proves the cached directory is still there (not removed, not moved).
// Why that keeps the no-symlink guarantee is explained at dirFor() in the .cpp. The free space is read
// with statvfs at most every SpaceCacheMs, minus the bytes accepted since.
//
// Owns the root's directory fd and the cache. Plain object; its functions block on the disk only
// and may be called from any thread (the receiver's I/O threads share one store): each call
// holds the store's lock, except while it reads a file to hash it.

#include "core/checksum.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fileutil.h"
#include "core/fsname.h"

#include <QElapsedTimer>
#include <QHash>
#include <QList>
#include <QSet>
#include <QStringList>
#include <QString>

#include <mutex>
#include <optional>
#include <vector>

#include <sys/types.h>

namespace isocket {

// Where one offered file goes: its final directory (an open fd) and names inside it.
struct FileSlot
{
    SharedFd dir;        // the directory holding the final name (shared with the store's cache)
    dev_t dev = 0;       // its filesystem
    QStringList dirPath; // source, dbtag and subdirectories: the key of `dir` in the cache
    QString name;        // the final name (last path component)
    QString partName;    // the hidden partial next to it
    bool anonymous = false; // the file being written has no name yet (O_TMPFILE): no partial

    int dirFd() const { return dir->get(); }
};

// A partial found for an offered file: its length and the hash of those bytes.
struct PartialInfo
{
    qint64 length = 0;
    Hasher hasher; // state after `length` bytes, to continue the whole-file hash
};

// A file this store verified and saw committed: the inode it was written to, the size and mtime
// it was given and the hash it was verified with.
struct StoredStamp
{
    dev_t dev = 0;
    ino_t ino = 0;
    qint64 size = -1; // -1: unknown, not remembered
    qint64 mtimeNs = 0;
    Hash128 hash{};

    bool valid() const { return size >= 0; }
};

// One line of a manifest, as written.
struct StoredEntry
{
    QString path;
    qint64 size = 0;
    Hash128 hash{};
    bool outside = false; // sent outside isocket: listed as `outside` instead of a hash
    QString skipped{};    // not empty: skipped on the ED, the reason (`skipped  -  path  why`)
};

class ReceiveStore
{
public:
    static constexpr const char *HashXattr = "user.isocket.xxh128";
    static constexpr const char *ManifestName = isocket::ManifestName;
    static constexpr const char *PartSuffix = ".isocket-part";
    // The partial of a file whose name leaves no room for the suffix:
    // LongPartPrefix + 32 hex digits of the name's XXH3-128 + PartSuffix, the name in the
    // xattr PartNameXattr.
    static constexpr const char *LongPartPrefix = ".isocket-long-";
    static constexpr const char *PartNameXattr = "user.isocket.name";
    // The name of the partial of a file called `name` (in the same directory).
    static QString partialName(const QString &name);
    // BadPath when a component of the relative `path`, at any depth, is a name the receiver
    // writes for itself (its manifest; reservedReason(), the list the ED skips by too): a
    // directory or file of that name would pass for a complete dataset to consumers, and block
    // the manifest. Hidden names (partials, temporary files) are refused by
    // validateRelativePath() already.
    static Result<void> checkReservedNames(const QString &path);

    ReceiveStore(QString root, qint64 reserveBytes);

    // Opens the root directory (it must exist). Called once before anything else.
    Result<void> open();
    const QString &root() const { return m_root; }
    qint64 reserveBytes() const { return m_reserveBytes; }

    // Cached directory fds (LRU).
    static constexpr int DirCacheSize = 64;
    // How long a statvfs result is reused (minus the bytes accepted since).
    static constexpr qint64 SpaceCacheMs = 100;

    // Validates source, dbtag and path (BadPath; the top-level `finished.isocket` is reserved),
    // then opens, creating what is missing, the directories down to the file's own.
    // SymlinkRefused when any component is a symbolic link.
    //
    // The directory fd comes from a small cache (see dirFor()), used only once its path,
    // resolved again from the root without following symlinks, leads to it (once per batch,
    // startBatch()): a directory removed, replaced or moved away is walked again, so a file is
    // never placed in a directory that is no longer at its path under the root.
    // `rules`: how the dbtag and path are checked (NameRules::Bytes on a version 3 connection).
    Result<FileSlot> locate(const QString &source, const QString &dbtag, const QString &path,
                            NameRules rules = NameRules::Text);

    // Whether <source>/<dbtag> holds its manifest (finished.isocket): the dataset was confirmed
    // whole, and its files are never written again (docs/SECURITY.md). False when the dbtag
    // does not exist yet.
    Result<bool> isComplete(const QString &source, const QString &dbtag);

    // Whether the slot's directory is still at its path under the root (same dev/ino, no
    // symlink on the way): checked by the committer right before a file is renamed or linked
    // into it. Any thread; needs no lock (the root fd is fixed after open()).
    bool stillInPlace(const FileSlot &slot) const;

    // Starts a batch of requests handled in one go (the frames of one read from a socket): a
    // cached directory found in place by locate() during a batch is not checked again in
    // the same batch. Its requests were read together; a removal between two of them is no
    // different from one just after the check, which BEGIN handles (see dirFor()).
    void startBatch()
    {
        std::lock_guard lock(m_mutex);
        ++m_batch;
    }

    // The hash of the final file when it exists as a regular file with this size and mtime
    // (remembered, else from its xattr, else computed); nullopt when it is missing or differs.
    Result<std::optional<Hash128>> storedHash(const FileSlot &slot, qint64 size, qint64 mtimeNs);

    // The usable partial of the final file: one with 0 < length <= size, hashed. nullopt when
    // there is none (a longer one is useless and is removed).
    Result<std::optional<PartialInfo>> findPartial(const FileSlot &slot, qint64 size);
    // Partials this process left (a dropped connection, a cancel) or read back once: their
    // inode, size and mtime then, and the hash state of those bytes, so that the resume that
    // usually follows needs no reading back (again). At most MaxKnownPartials, the oldest
    // forgotten first. `fd` is the partial, `length` bytes written and all of them in `hasher`
    // (not remembered when the file holds another length).
    static constexpr int MaxKnownPartials = 4096;
    void rememberPartial(const FileSlot &slot, int fd, qint64 length, const Hasher &hasher);
    // The partial of `slot` as it is now, from one stat, without reading it: whether anything
    // is at its name (also what findPartial() would refuse, which it then reports), its length
    // if a regular file, and, for one remembered unchanged with 0 < length <= size, what
    // findPartial() would find.
    struct PartialProbe
    {
        bool exists = false;
        qint64 length = 0;
        std::optional<PartialInfo> known;
    };
    PartialProbe probePartial(const FileSlot &slot, qint64 size);

    // Files up to this size that have no partial are written to an unnamed file (O_TMPFILE)
    // in their final directory and linked in at commit: no hidden name to create, rename and
    // look up, which is most of the directory work of a small file. Resuming them is not worth
    // a name: a dropped transfer of one starts again at 0.
    static constexpr qint64 AnonymousMaxBytes = 1024 * 1024;

    // Whether a new file of `size` bytes at `slot` is written anonymously here: small enough,
    // and the filesystem and /proc allow it (as far as known). Such a file is never resumed, so
    // the OFFER does not look for its partial (a leftover of one, from a filesystem without
    // O_TMPFILE, is left alone like any stale partial).
    bool writesAnonymously(const FileSlot &slot, qint64 size) const
    {
        std::lock_guard lock(m_mutex);
        return size <= AnonymousMaxBytes && m_procFd && !m_noTmpfile.contains(slot.dev);
    }

    // Opens the partial for writing at `offset`: 0 creates or truncates it; a positive offset
    // requires the partial to hold at least that many bytes, and cuts anything beyond.
    // `anonymous` (offset 0 only): write to an unnamed file instead (slot.anonymous is set),
    // where the filesystem and /proc allow it; otherwise the named partial as above.
    // When the slot's cached directory turns out to be gone (ENOENT: removed, maybe replaced),
    // the cache entry is dropped, `slot` is located again from the root and the open retried
    // once.
    Result<UniqueFd> openPartial(FileSlot &slot, qint64 offset, bool anonymous = false);

    // Space promised to one file being received: `needed` bytes counted against the free space
    // of its filesystem, and so against the reserve, on every connection, until they are
    // written or the file is given up. Move-only; what is left goes back when it does.
    class SpaceClaim
    {
    public:
        SpaceClaim() = default;
        SpaceClaim(SpaceClaim &&other) noexcept { *this = std::move(other); }
        SpaceClaim &operator=(SpaceClaim &&other) noexcept;
        SpaceClaim(const SpaceClaim &) = delete;
        SpaceClaim &operator=(const SpaceClaim &) = delete;
        ~SpaceClaim() { reset(); }
        // `bytes` more of the file are on the filesystem now (its free space shows them).
        void written(qint64 bytes);
        void reset(); // gives back what is left
        qint64 remaining() const { return m_remaining; }

    private:
        friend class ReceiveStore;
        ReceiveStore *m_store = nullptr;
        dev_t m_dev = 0;
        qint64 m_remaining = 0;
    };
    // DiskFull when the free space of the slot's filesystem, minus what is promised to files
    // being received and `needed`, is below the reserve; otherwise `needed` is promised to the
    // claim returned. The statvfs result is reused for SpaceCacheMs, minus what was written
    // since; a refusal is always confirmed by a fresh statvfs (issue 13: with files in flight
    // on several connections the reserve was not kept, the disk filled to 0 bytes free).
    Result<SpaceClaim> checkSpace(const FileSlot &slot, qint64 needed);
    // Looks at the free space again at the next check (after an ENOSPC / DiskFull anywhere).
    void spaceChanged()
    {
        std::lock_guard lock(m_mutex);
        for (SpaceState &state : m_space)
            state.atMs = -1;
    }
    // Bytes promised to files being received on the filesystem of the root (tests, status).
    qint64 promisedBytes() const;

    // Removes the partial (after a checksum mismatch or an I/O error); an anonymous file goes
    // with its last fd.
    void removePartial(const FileSlot &slot);

    // Files committed by this process, so that the manifest and a repeated OFFER need not open
    // them for their xattr: the hash is used only while the final name is still that inode with
    // that size and mtime (the same trust as the xattr, which travels with the inode). At most
    // MaxRememberedFiles, whole dbtags forgotten least recently stored first; a dbtag is
    // forgotten once its manifest is written.
    static constexpr int MaxRememberedFiles = 65536;
    void remember(const QString &source, const QString &dbtag, const QString &path,
                  const StoredStamp &stamp);

    // `<root>/<source>/<dbtag>/finished.isocket`, written atomically in two steps, so that a
    // thread serving many connections does not wait for the disk: prepareManifest() checks that
    // each entry exists at its final name (regular file, no symlink) with that size and builds
    // the text (on the store's thread: it uses the hashes the store remembers; Incomplete names
    // the first missing or mismatched file, and nothing is written then); ManifestDraft::write()
    // writes and syncs it (any thread, one draft of a dbtag at a time); manifestWritten() then
    // lets the store forget the dbtag's hashes.
    struct ManifestEntryIn
    {
        QString path;
        qint64 size = 0;
        bool outside = false; // sent outside isocket: not checked, listed without a hash
        QString skipped{};    // skipped on the ED (the reason): not checked, listed as skipped
    };
    struct ManifestDraft
    {
        SharedFd dir; // the dbtag directory
        QString dbtagKey;
        QString shown; // the manifest's path, for messages
        QByteArray text;
        qint64 bytes = 0;
        Result<void> write() const;
    };
    Result<ManifestDraft> prepareManifest(const QString &source, const QString &dbtag,
                                          const QList<ManifestEntryIn> &entries,
                                          NameRules rules = NameRules::Text);
    void manifestWritten(const ManifestDraft &draft);

    // The header and lines of a manifest (also used by tests). A dbtag or path that
    // needsEscape() is written as displayName() shows it, and the header then ends with
    // ` escaped=<k>` (docs/PROTOCOL.md section 2.4); other names are written as they are.
    static QByteArray manifestText(const QString &source, const QString &dbtag,
                                   const QList<StoredEntry> &entries);

    // Writes `bytes` at `offset` of `fd` (pwrite, whole). DiskFull on ENOSPC.
    static Result<void> writeAt(int fd, qint64 offset, const char *data, qint64 size);

    // Sets the mtime (nanoseconds) and the hash xattr of a finished partial. A filesystem
    // without user xattrs is not an error (the hash is then computed when needed).
    static Result<void> finish(int fd, qint64 mtimeNs, const Hash128 &hash);

private:
    Result<UniqueFd> openDir(int parent, const QString &name, bool create, const QString &shown);
    Result<UniqueFd> openDirs(const QStringList &components, bool create);
    Result<std::optional<Hash128>> hashOf(int dirFd, const QString &name, qint64 size,
                                          const QString &shown);
    std::optional<Hash128> remembered(const QString &dbtagKey, const QString &path,
                                      const struct stat &st) const;

    struct CachedDir
    {
        SharedFd fd;
        dev_t dev = 0;
        ino_t ino = 0;
        quint64 liveBatch = 0; // the batch in which it was last found at its path
        quint64 used = 0;      // LRU stamp
    };
    // The open directory `<root>/<components>`, from the cache when possible.
    Result<CachedDir> dirFor(const QStringList &components);
    // Whether `<root>/<components>`, resolved without following any symlink, is dev/ino.
    bool reachableAt(const QStringList &components, dev_t dev, ino_t ino) const;
    void forgetDir(const QStringList &components, const SharedFd &fd);
    qint64 nowMs() const;

    struct SpaceState
    {
        dev_t dev = 0;
        qint64 avail = 0;    // f_bavail * f_frsize at `atMs`, minus what was written since
        qint64 promised = 0; // the remaining bytes of every live SpaceClaim on it
        qint64 atMs = -1;    // -1: to be read again
    };
    Result<qint64> refreshSpace(SpaceState &state, const FileSlot &slot);
    SpaceState *spaceState(dev_t dev); // under m_mutex; nullptr when unknown
    void spaceWritten(dev_t dev, qint64 bytes);
    void spaceReleased(dev_t dev, qint64 bytes);

    // Every call but the static ones takes it: the receiver's I/O threads share the store. It is
    // held over the syscalls of a call too (creating a file, a directory), but not while a file
    // is read to be hashed (findPartial(), storedHash()), which can take seconds.
    mutable std::mutex m_mutex;
    QString m_root;
    QSet<dev_t> m_noTmpfile; // filesystems that refused O_TMPFILE
    bool m_procFd = false;   // /proc/self/fd exists: an anonymous file can be linked in
    qint64 m_reserveBytes = 0;
    UniqueFd m_rootFd;
    QHash<QString, CachedDir> m_dirs;
    struct RememberedDbtag
    {
        QHash<QString, StoredStamp> files; // by path inside the dbtag
        quint64 used = 0;                  // LRU stamp
    };
    QHash<QString, RememberedDbtag> m_remembered; // by "source/dbtag"
    struct KnownPartial
    {
        dev_t dev = 0;
        ino_t ino = 0;
        FileStamp stamp;
        Hasher hasher;
        quint64 order = 0;
    };
    QHash<QString, KnownPartial> m_knownPartials; // by "source/dbtag/dirs/.name.isocket-part"
    // Records it; m_mutex held.
    void knowPartial(const QString &key, const struct stat &st, const Hasher &hasher);
    quint64 m_knownOrder = 0;
    qsizetype m_rememberedFiles = 0;
    quint64 m_rememberUse = 0;
    quint64 m_dirUse = 0;
    quint64 m_batch = 1;
    std::vector<SpaceState> m_space;
    QElapsedTimer m_clock;
};

} // namespace isocket
