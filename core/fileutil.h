#pragma once
// Small POSIX helpers the engine relies on for durability and safety: an owning fd, atomic
// small-file writes (temporary name, fsync, rename, directory fsync), and stat in nanoseconds.
// Plain functions, callable from any thread; none of them blocks on anything but the disk.

#include "core/error.h"

#include <QByteArray>
#include <QMetaType>
#include <QString>

#include <sys/stat.h>

#include <memory>

namespace isocket {

// Owns a file descriptor; closes it on destruction. Move-only.
class UniqueFd
{
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : m_fd(fd) {}
    ~UniqueFd() { reset(); }
    UniqueFd(UniqueFd &&other) noexcept : m_fd(other.release()) {}
    UniqueFd &operator=(UniqueFd &&other) noexcept
    {
        if (this != &other)
            reset(other.release());
        return *this;
    }
    UniqueFd(const UniqueFd &) = delete;
    UniqueFd &operator=(const UniqueFd &) = delete;

    int get() const { return m_fd; }
    bool valid() const { return m_fd >= 0; }
    int release()
    {
        const int fd = m_fd;
        m_fd = -1;
        return fd;
    }
    void reset(int fd = -1);

private:
    int m_fd = -1;
};

// An fd shared by several owners (a cached directory held by transfers and commit jobs); it
// closes when the last one lets go, on whichever thread that is.
using SharedFd = std::shared_ptr<const UniqueFd>;

// Size and modification time of a file, as the engine compares them.
struct FileStamp
{
    qint64 size = -1;
    qint64 mtimeNs = 0; // nanoseconds since the epoch

    bool valid() const { return size >= 0; }
    friend bool operator==(const FileStamp &, const FileStamp &) = default;
};

FileStamp stampOf(const struct stat &st);

// The text of errno, for messages ("No space left on device").
QString osError(int errnum);
// The transient code for a failed write, sync or link: DiskFull for ENOSPC and EDQUOT (the
// receiver's free space is looked at again), IoError for anything else.
ErrorCode writeErrorCode(int errnum);

// QString path → bytes for POSIX calls: exactly the bytes the name was read as (fsEncode(),
// core/fsname.h), so a name that is not UTF-8 reaches the same file.
QByteArray nativePath(const QString &path);

// Writes `contents` to `dir/name` atomically: a hidden temporary in the same directory, fsync,
// rename over the final name, fsync of the directory. Readers see either nothing or all of it.
Result<void> writeFileAtomically(const QString &dir, const QString &name, const QByteArray &contents);

// fsync() of a directory, so a rename or create inside it is durable.
Result<void> syncDirectory(const QString &dir);

// Raises this process's soft limit of open files to its hard limit and returns the new soft
// limit. A receiver holds a file per transfer being written or synced (up to a window per
// connection, many EDs at once), and the usual soft limit of 1024 is a select() relic Qt does not
// need (it polls). Call early in main().
long raiseOpenFileLimit();
// This process's soft limit of open files; -1 when unlimited or unknown.
long openFileLimit();

} // namespace isocket

Q_DECLARE_METATYPE(isocket::FileStamp)
