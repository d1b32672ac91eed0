#include "core/sentmark.h"

#include "core/fsname.h"

#include <cerrno>

#include <fcntl.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace isocket::SentMark {

namespace {

QByteArray recordOf(const FileStamp &s)
{
    return QByteArray::number(s.size) + ' ' + QByteArray::number(s.mtimeNs);
}

bool unsupported(int err)
{
    return err == ENOTSUP || err == EOPNOTSUPP || err == ENODATA;
}

} // namespace

Mark markOf(const QByteArray &path, const struct stat &st)
{
    if (!(st.st_mode & S_IWGRP))
        return Mark::Unsent;
    char buf[64];
    const ssize_t n = ::lgetxattr(path.constData(), AttributeName, buf, sizeof buf);
    if (n < 0)
        return Mark::Outside; // marked by hand or by the original: g+w alone decides
    return QByteArray(buf, n) == recordOf(stampOf(st)) ? Mark::Sent : Mark::Unsent;
}

bool isSent(const QByteArray &path, const struct stat &st)
{
    return markOf(path, st) != Mark::Unsent;
}

bool isSent(const QString &path)
{
    const QByteArray native = nativePath(path);
    struct stat st;
    if (::lstat(native.constData(), &st) != 0)
        return false;
    return isSent(native, st);
}

Result<void> mark(const QString &path, const FileStamp &expected, int readFd)
{
    UniqueFd opened;
    if (readFd < 0) {
        opened.reset(::open(nativePath(path).constData(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
        if (!opened.valid()) {
            const int err = errno;
            if (err == ENOENT)
                return Error{ErrorCode::FileVanished,
                             QStringLiteral("%1 was deleted").arg(displayName(path))};
            return Error{ErrorCode::IoError,
                         QStringLiteral("cannot open %1: %2").arg(displayName(path), osError(err))};
        }
    }
    const int fd = readFd < 0 ? opened.get() : readFd;
    struct stat st;
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        return Error{ErrorCode::IoError,
                     QStringLiteral("cannot stat %1: %2").arg(displayName(path), osError(err))};
    }
    if (stampOf(st) != expected)
        return Error{ErrorCode::FileChanged,
                     QStringLiteral("%1 changed while it was sent (size %2 → %3)")
                         .arg(displayName(path))
                         .arg(expected.size)
                         .arg(static_cast<qint64>(st.st_size))};
    const QByteArray record = recordOf(expected);
    if (::fsetxattr(fd, AttributeName, record.constData(), static_cast<size_t>(record.size()), 0) != 0
        && !unsupported(errno)) {
        const int err = errno;
        return Error{ErrorCode::IoError, QStringLiteral("cannot record the sent state of %1: %2")
                                             .arg(displayName(path), osError(err))};
    }
    if (::fchmod(fd, (st.st_mode & 07777) | S_IWGRP) != 0) {
        const int err = errno;
        return Error{
            ErrorCode::IoError,
            QStringLiteral("cannot mark %1 (g+w): %2").arg(displayName(path), osError(err))};
    }
    return {};
}

Result<void> clear(const QString &path)
{
    const QByteArray native = nativePath(path);
    struct stat st;
    if (::lstat(native.constData(), &st) != 0) {
        const int err = errno;
        return Error{err == ENOENT ? ErrorCode::FileVanished : ErrorCode::IoError,
                     QStringLiteral("cannot stat %1: %2").arg(displayName(path), osError(err))};
    }
    if (!S_ISREG(st.st_mode))
        return Error{ErrorCode::Unsupported,
                     QStringLiteral("%1 is not a regular file").arg(displayName(path))};
    if (::lremovexattr(native.constData(), AttributeName) != 0 && !unsupported(errno)) {
        const int err = errno;
        return Error{ErrorCode::IoError, QStringLiteral("cannot clear the record of %1: %2")
                                             .arg(displayName(path), osError(err))};
    }
    if ((st.st_mode & S_IWGRP) && ::chmod(native.constData(), (st.st_mode & 07777) & ~S_IWGRP) != 0) {
        const int err = errno;
        return Error{
            ErrorCode::IoError,
            QStringLiteral("cannot clear g+w of %1: %2").arg(displayName(path), osError(err))};
    }
    return {};
}

} // namespace isocket::SentMark
