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
// Why that keeps the no-symlink guarantee is explained above reachableAt() in the .cpp. The free
// space is read with statvfs at most every SpaceCacheMs, minus the bytes accepted since.
//
// Owns the root's directory fd and four caches, each a small class with a lock of its own (the
// .cpp): the open directories, the hashes of files it committed, the partials it knows, and the
// free space per filesystem. Plain object; its functions block on the disk only and may be
// called from any thread (the receiver's I/O threads share one store): a call holds the lock of
// the cache it uses, never while it reads a file to hash it.
//
// Its API names no POSIX type: a FileSlot is a handle only the store looks into, and what the
// committer needs from it the store puts in a CommitJob itself (prepareCommit()). The fds,
// devices and inodes stay in the .cpp; this is where another kind of store would plug in.

#include "core/checksum.h"
#include "core/config.h"
#include "core/error.h"
#include "core/fileutil.h"
#include "core/fsname.h"

#include "core/committer.h"

#include <QElapsedTimer>
#include <QList>
#include <QSet>
#include <QStringList>
#include <QString>

#include <memory>
#include <mutex>
#include <optional>

namespace isocket {

// Where one offered file goes (its final directory, held open, and the names in it), from
// ReceiveStore::locate(). A handle: only the store looks into it. Copies share the directory.
class FileSlot
{
public:
    FileSlot() = default;
    // The file being written has no name yet (ReceiveStore::openPartial()): no partial to keep.
    bool anonymous() const;

private:
    friend class ReceiveStore;
    struct Data;
    std::shared_ptr<const Data> d;
};

// A partial found for an offered file: its length and the hash of those bytes.
struct PartialInfo
{
    qint64 length = 0;
    Hasher hasher; // state after `length` bytes, to continue the whole-file hash
};

// A file this store verified and saw committed: the file it was written to (which only the store
// looks at), the size and mtime it was given and the hash it was verified with.
class StoredStamp
{
public:
    qint64 size = -1; // -1: unknown, not remembered
    qint64 mtimeNs = 0;
    Hash128 hash{};

    bool valid() const { return size >= 0; }

private:
    friend class ReceiveStore;
    quint64 m_device = 0;
    quint64 m_inode = 0;
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
    ~ReceiveStore();
    ReceiveStore(const ReceiveStore &) = delete;
    ReceiveStore &operator=(const ReceiveStore &) = delete;

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
    // The directory fd comes from a small cache (see DirCache), used only once its path,
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
    // different from one just after the check, which BEGIN handles (see DirCache).
    void startBatch();

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
    void rememberPartial(const FileSlot &slot, const UniqueFd &file, qint64 length,
                         const Hasher &hasher);
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
    bool writesAnonymously(const FileSlot &slot, qint64 size) const;

    // Opens the partial for writing at `offset`: 0 creates or truncates it; a positive offset
    // requires the partial to hold at least that many bytes, and cuts anything beyond.
    // `anonymous` (offset 0 only): write to an unnamed file instead (slot.anonymous() is set),
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
        quint64 m_device = 0; // the filesystem it is counted on
        qint64 m_remaining = 0;
    };
    // DiskFull when the free space of the slot's filesystem, minus what is promised to files
    // being received and `needed`, is below the reserve; otherwise `needed` is promised to the
    // claim returned. The statvfs result is reused for SpaceCacheMs, minus what was written
    // since; a refusal is always confirmed by a fresh statvfs (issue 13: with files in flight
    // on several connections the reserve was not kept, the disk filled to 0 bytes free).
    Result<SpaceClaim> checkSpace(const FileSlot &slot, qint64 needed);
    // Looks at the free space again at the next check (after an ENOSPC / DiskFull anywhere).
    void spaceChanged();
    // Bytes promised to files being received on the filesystem of the root (tests, status).
    qint64 promisedBytes() const;

    // Removes the partial (after a checksum mismatch or an I/O error); an anonymous file goes
    // with its last fd.
    void removePartial(const FileSlot &slot);

    // A finished file (`file`, from openPartial() at `slot`, written, with its mtime and xattr
    // set or about to be: the caller fills in CommitJob::written or CommitJob::finish) as the
    // committer takes it: renamed (or linked) into place in the slot's directory, only while
    // that directory is still at its path (stillInPlace()). `stamp` is what remember() takes
    // once it is committed.
    struct CommitRequest
    {
        CommitJob job;
        StoredStamp stamp;
    };
    CommitRequest prepareCommit(const FileSlot &slot, UniqueFd file, qint64 size, qint64 mtimeNs,
                                const Hash128 &hash);

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
    class ManifestDraft
    {
    public:
        qint64 bytes = 0; // of the files it lists
        Result<void> write() const;

    private:
        friend class ReceiveStore;
        SharedFd m_dir; // the dbtag directory
        QString m_dbtagKey;
        QString m_shown; // the manifest's path, for messages
        QByteArray m_text;
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
    class DirCache;      // the open directories below the root (LRU), and the batch count
    class StoredFiles;   // the hashes of files committed by this process (remember())
    class KnownPartials; // partials left or read back, with their hash state
    class SpaceLedger;   // free space per filesystem, and what is promised of it

    // "source/dbtag/dirs/.name.isocket-part": the key of a known partial.
    static QString partialKey(const FileSlot &slot);
    void spaceWritten(quint64 device, qint64 bytes);  // from a SpaceClaim
    void spaceReleased(quint64 device, qint64 bytes); // from a SpaceClaim
    qint64 nowMs() const;

    // Fixed once open() returned (read without a lock).
    QString m_root;
    qint64 m_reserveBytes = 0;
    bool m_procFd = false; // /proc/self/fd exists: an anonymous file can be linked in
    UniqueFd m_rootFd;
    QElapsedTimer m_clock;
    std::unique_ptr<DirCache> m_dirs;
    std::unique_ptr<StoredFiles> m_stored;
    std::unique_ptr<KnownPartials> m_partials;
    std::unique_ptr<SpaceLedger> m_space;
    mutable std::mutex m_tmpfileMutex;
    QSet<quint64> m_noTmpfile; // filesystems that refused O_TMPFILE
};

} // namespace isocket
