#include "core/fileutil.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/fsname.h"

namespace isocket {

void UniqueFd::reset(int fd)
{
    if (m_fd >= 0)
        ::close(m_fd);
    m_fd = fd;
}

FileStamp stampOf(const struct stat &st)
{
    return FileStamp{static_cast<qint64>(st.st_size),
                     static_cast<qint64>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec};
}

ErrorCode writeErrorCode(int errnum)
{
    return errnum == ENOSPC || errnum == EDQUOT ? ErrorCode::DiskFull : ErrorCode::IoError;
}

QString osError(int errnum)
{
    return QString::fromLocal8Bit(std::strerror(errnum));
}

QByteArray nativePath(const QString &path)
{
    return fsEncode(path);
}

static Result<void> writeAll(int fd, const QByteArray &data, const QString &what)
{
    const char *p = data.constData();
    qsizetype left = data.size();
    while (left > 0) {
        const ssize_t n = ::write(fd, p, static_cast<size_t>(left));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            const int err = errno;
            return Error{writeErrorCode(err),
                         QStringLiteral("cannot write %1: %2").arg(what, osError(err))};
        }
        p += n;
        left -= n;
    }
    return {};
}

Result<void> syncDirectory(const QString &dir)
{
    UniqueFd fd(::open(nativePath(dir).constData(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd.valid() || ::fsync(fd.get()) != 0) {
        const int err = errno;
        return Error{ErrorCode::IoError,
                     QStringLiteral("cannot sync directory %1: %2").arg(dir, osError(err))};
    }
    return {};
}

Result<void> writeFileAtomically(const QString &dir, const QString &name, const QByteArray &contents)
{
    const QString finalPath = dir + QLatin1Char('/') + name;
    const QString tmpPath = dir + QStringLiteral("/.") + name + QStringLiteral(".isocket-tmp");
    const QByteArray tmpNative = nativePath(tmpPath);
    UniqueFd fd(::open(tmpNative.constData(),
                       O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!fd.valid()) {
        const int err = errno;
        return Error{writeErrorCode(err),
                     QStringLiteral("cannot create %1: %2").arg(tmpPath, osError(err))};
    }
    if (auto r = writeAll(fd.get(), contents, tmpPath); !r) {
        ::unlink(tmpNative.constData());
        return r;
    }
    if (::fsync(fd.get()) != 0) {
        const int err = errno;
        ::unlink(tmpNative.constData());
        return Error{writeErrorCode(err),
                     QStringLiteral("cannot sync %1: %2").arg(tmpPath, osError(err))};
    }
    fd.reset();
    if (::rename(tmpNative.constData(), nativePath(finalPath).constData()) != 0) {
        const int err = errno;
        ::unlink(tmpNative.constData());
        return Error{ErrorCode::IoError,
                     QStringLiteral("cannot rename %1 to %2: %3").arg(tmpPath, finalPath, osError(err))};
    }
    return syncDirectory(dir);
}

long openFileLimit()
{
    struct rlimit lim = {};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY)
        return -1;
    return long(lim.rlim_cur);
}

long raiseOpenFileLimit()
{
    struct rlimit lim = {};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return -1;
    if (lim.rlim_cur < lim.rlim_max) {
        struct rlimit raised = lim;
        raised.rlim_cur = lim.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &raised) == 0)
            lim = raised;
    }
    return lim.rlim_cur == RLIM_INFINITY ? -1 : long(lim.rlim_cur);
}

} // namespace isocket
