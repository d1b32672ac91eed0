#include "core/partialsweeper.h"

#include "core/committer.h"
#include "core/fileutil.h"
#include "core/fsname.h"
#include "core/logging.h"
#include "core/receivestore.h"

#include <QDateTime>

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

namespace isocket {

namespace {

// root/<source>/<dbtag>/<path>: a path has at most 4096 bytes, so no deeper than this.
constexpr int MaxDepth = 2 + 2048;

class Sweep
{
public:
    Sweep(qint64 cutoffSecs, const PartialClaims &claims, const std::atomic<bool> &stop)
        : m_cutoff(cutoffSecs), m_claims(claims), m_stop(stop)
    {
    }

    // `dir` (owned) is `rel` under the root, `depth` levels down (the root: 0, "").
    void walk(UniqueFd dir, const QString &rel, int depth);
    SweepStats stats;

private:
    void consider(int dirFd, const QByteArray &name, const QString &rel);
    void failed(const QString &what, const QString &path, int err)
    {
        ++stats.errors;
        qCWarning(lcRecv).noquote()
            << "partial sweep: cannot" << what << displayName(path) << ":" << osError(err);
    }

    qint64 m_cutoff;
    const PartialClaims &m_claims;
    const std::atomic<bool> &m_stop;
};

void Sweep::walk(UniqueFd dir, const QString &rel, int depth)
{
    DIR *d = ::fdopendir(dir.get());
    if (!d)
        return failed(QStringLiteral("read"), rel, errno);
    const int fd = dir.release(); // closedir() closes it
    while (!m_stop.load(std::memory_order_relaxed)) {
        errno = 0;
        const dirent *e = ::readdir(d);
        if (!e) {
            if (errno)
                failed(QStringLiteral("read"), rel, errno);
            break;
        }
        const QByteArray name(e->d_name);
        if (name == "." || name == "..")
            continue;
        unsigned char type = e->d_type;
        if (type == DT_UNKNOWN) { // a filesystem that does not say
            struct stat st = {};
            if (::fstatat(fd, name.constData(), &st, AT_SYMLINK_NOFOLLOW) == 0)
                type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
        }
        // Directories: the receiver names none with a leading '.', so none of those is ours.
        if (type == DT_DIR && !name.startsWith('.') && depth < MaxDepth) {
            const QString child =
                rel.isEmpty() ? fsDecode(name) : rel + QLatin1Char('/') + fsDecode(name);
            UniqueFd sub(
                ::openat(fd, name.constData(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (sub.valid())
                walk(std::move(sub), child, depth + 1);
            else if (errno != ENOENT)
                failed(QStringLiteral("open"), child, errno);
        } else if (type == DT_REG && depth >= 2) { // partials live in a dbtag or below it
            consider(fd, name, rel);
        }
    }
    ::closedir(d);
}

void Sweep::consider(int dirFd, const QByteArray &name, const QString &rel)
{
    if (name.startsWith(Committer::LinkPrefix)) {
        // A file linked in under its hidden name when the receiver died before the rename. Its
        // mtime is the ED's; the link is dated by its ctime. Nobody claims these names.
        struct stat st = {};
        if (::fstatat(dirFd, name.constData(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode) && st.st_ctim.tv_sec < m_cutoff &&
            ::unlinkat(dirFd, name.constData(), 0) == 0) {
            ++stats.removed;
            stats.bytes += st.st_size;
            qCInfo(lcRecv).noquote() << QStringLiteral("removed %1/%2, left by a receiver that "
                                                       "stopped while it stored a file")
                                            .arg(displayName(rel), displayBytes(name));
        }
        return;
    }
    const qsizetype suffix = qsizetype(std::strlen(ReceiveStore::PartSuffix));
    if (!name.startsWith('.') || !name.endsWith(ReceiveStore::PartSuffix) ||
        name.size() <= 1 + suffix)
        return;
    struct stat st = {};
    if (::fstatat(dirFd, name.constData(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
        st.st_mtim.tv_sec >= m_cutoff)
        return;
    QByteArray fileName = name.mid(1, name.size() - 1 - suffix);
    if (name.startsWith(ReceiveStore::LongPartPrefix)) {
        // A hashed name: whose partial it is, is in its xattr (left alone without one).
        char buf[256];
        UniqueFd fd(::openat(dirFd, name.constData(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
        const ssize_t n = fd.valid() ? ::fgetxattr(fd.get(), ReceiveStore::PartNameXattr, buf,
                                                   sizeof buf)
                                     : -1;
        if (n <= 0 ||
            ReceiveStore::partialName(fsDecode(QByteArray(buf, int(n)))) != fsDecode(name))
            return;
        fileName = QByteArray(buf, int(n));
    }
    const QString key = rel + QLatin1Char('/') + fsDecode(fileName);
    if (!m_claims.claim(key)) {
        ++stats.inUse;
        return;
    }
    // Claimed: nobody writes it now. Still the same stale file?
    struct stat now = {};
    if (::fstatat(dirFd, name.constData(), &now, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(now.st_mode) && now.st_mtim.tv_sec < m_cutoff) {
        if (::unlinkat(dirFd, name.constData(), 0) == 0) {
            ++stats.removed;
            stats.bytes += now.st_size;
            qCInfo(lcRecv).noquote()
                << QStringLiteral("removed the stale partial of %1 (%2 bytes, last written %3)")
                       .arg(key)
                       .arg(now.st_size)
                       .arg(
                           QDateTime::fromSecsSinceEpoch(now.st_mtim.tv_sec).toString(Qt::ISODate));
        } else if (errno != ENOENT) {
            failed(QStringLiteral("remove the partial of"), key, errno);
        }
    }
    m_claims.release(key);
}

} // namespace

SweepStats sweepStalePartials(const QString &root, qint64 cutoffSecs, const PartialClaims &claims,
                              const std::atomic<bool> &stop)
{
    Sweep sweep(cutoffSecs, claims, stop);
    UniqueFd dir(::open(nativePath(root).constData(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir.valid()) {
        ++sweep.stats.errors;
        qCWarning(lcRecv).noquote()
            << "partial sweep: cannot open" << root << ":" << osError(errno);
        return sweep.stats;
    }
    sweep.walk(std::move(dir), QString(), 0);
    return sweep.stats;
}

} // namespace isocket
