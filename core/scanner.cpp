#include "core/scanner.h"

#include "core/fsname.h"
#include "core/logging.h"
#include "core/sentmark.h"

#include <algorithm>
#include <cerrno>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <QDir>
#include <QFileInfo>

namespace isocket {

QString stateName(DbtagState state)
{
    switch (state) {
    case DbtagState::Live: return QStringLiteral("live");
    case DbtagState::Closed: return QStringLiteral("closed");
    case DbtagState::Done: return QStringLiteral("done");
    case DbtagState::Abnormal: return QStringLiteral("abnormal");
    }
    return QString();
}

int DbtagInfo::unsentCount() const
{
    return static_cast<int>(std::count_if(files.cbegin(), files.cend(),
                                          [](const DataFile &f) { return !f.sent; }));
}

qint64 DbtagInfo::unsentBytes() const
{
    qint64 total = 0;
    for (const DataFile &f : files)
        if (!f.sent)
            total += f.stamp.size;
    return total;
}

QString resolveRoot(const QString &root)
{
    if (root.isEmpty())
        return root;
    const QFileInfo info(root);
    const QString canonical = info.canonicalFilePath();
    return canonical.isEmpty() ? QDir::cleanPath(info.absoluteFilePath()) : canonical;
}

Scanner::Scanner(ScanOptions options) : m_options(std::move(options))
{
    m_options.root = resolveRoot(m_options.root);
}

bool Scanner::isDbtagName(const QString &name) const
{
    return !name.startsWith(QLatin1Char('.')) && name.startsWith(m_options.prefix);
}

bool Scanner::isDataPath(const QString &relPath) const
{
    if (relPath.isEmpty() || relPath == m_options.doneParse || relPath == m_options.doneWatch)
        return false;
    for (const QStringView part : QStringView(relPath).split(QLatin1Char('/')))
        if (part.isEmpty() || part.startsWith(QLatin1Char('.')))
            return false;
    return true;
}

namespace {

QString kindOf(mode_t mode)
{
    if (S_ISFIFO(mode))
        return QStringLiteral("a fifo");
    if (S_ISSOCK(mode))
        return QStringLiteral("a socket");
    if (S_ISCHR(mode) || S_ISBLK(mode))
        return QStringLiteral("a device");
    if (S_ISDIR(mode))
        return QStringLiteral("a directory");
    return QStringLiteral("not a regular file");
}

struct WalkEntry
{
    QByteArray dirNative; // directory path, native encoding
    QString relPrefix;    // "" or "sub/"
};

} // namespace

Result<QList<DataFile>> Scanner::listFiles(const QString &dbtagPath, const KnownSent &knownSent,
                                           QList<SkippedEntry> *skipped) const
{
    QList<DataFile> files;
    QList<SkippedEntry> skips;
    const QString rootPrefix = m_options.root + QLatin1Char('/');
    QList<WalkEntry> pending{{nativePath(dbtagPath), QString()}};
    bool top = true;
    while (!pending.isEmpty()) {
        const WalkEntry entry = pending.takeLast();
        UniqueFd dirFd(::open(entry.dirNative.constData(),
                              O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!dirFd.valid()) {
            const int err = errno;
            if (!top && err == ENOENT)
                continue; // a subdirectory removed while we walked
            return Error{err == ENOENT ? ErrorCode::FileVanished : ErrorCode::IoError,
                         QStringLiteral("cannot read directory %1: %2")
                             .arg(displayBytes(entry.dirNative), osError(err))};
        }
        DIR *dir = ::fdopendir(dirFd.get());
        if (!dir) {
            const int err = errno;
            return Error{ErrorCode::IoError, QStringLiteral("cannot read directory %1: %2")
                                                 .arg(displayBytes(entry.dirNative), osError(err))};
        }
        dirFd.release(); // closedir() owns it now
        while (const dirent *d = ::readdir(dir)) {
            if (d->d_name[0] == '.')
                continue; // ".", "..", and hidden temporaries
            const QString name = fsDecode(QByteArrayView(d->d_name));
            const QString rel = entry.relPrefix + name;
            if (top && (name == m_options.doneParse || name == m_options.doneWatch))
                continue;
            struct stat st;
            if (::fstatat(::dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
                continue; // removed meanwhile
            auto skip = [&](const QString &reason) { skips.append({rel, reason}); };
            if (const QString reserved = reservedReason(name); !reserved.isEmpty()) {
                // A file of that name would fail on the receiver for ever: said once, instead.
                skip(reserved +
                     (S_ISDIR(st.st_mode) ? QStringLiteral("; nothing in it is sent") : QString()));
                continue;
            }
            const QByteArray childNative = entry.dirNative + '/' + d->d_name;
            if (S_ISLNK(st.st_mode)) {
                char *real = ::realpath(childNative.constData(), nullptr);
                if (!real) {
                    const int err = errno;
                    char target[4096];
                    const ssize_t n = ::readlink(childNative.constData(), target, sizeof target);
                    const QString to = n > 0 ? displayBytes(QByteArrayView(target, n)) : QString();
                    skip(err == ENOENT
                             ? QStringLiteral("symbolic link to %1, which does not exist").arg(to)
                             : QStringLiteral("symbolic link to %1: %2").arg(to, osError(err)));
                    continue;
                }
                const QByteArray realNative(real);
                ::free(real);
                const QString target = fsDecode(realNative);
                struct stat tst;
                if (!target.startsWith(rootPrefix)) {
                    skip(QStringLiteral("symbolic link to %1, outside the data root")
                             .arg(displayBytes(realNative)));
                } else if (::stat(realNative.constData(), &tst) != 0) {
                    skip(QStringLiteral("symbolic link to %1: %2")
                             .arg(displayName(target), osError(errno)));
                } else if (!S_ISREG(tst.st_mode)) {
                    skip(QStringLiteral("symbolic link to %1, %2; only links to files are "
                                        "followed")
                             .arg(displayName(target), kindOf(tst.st_mode)));
                } else {
                    const FileStamp stamp = stampOf(tst);
                    const bool sent = knownSent && knownSent(rel, stamp);
                    files.append({rel, stamp, sent, false, target});
                }
            } else if (S_ISDIR(st.st_mode)) {
                pending.append({childNative, rel + QLatin1Char('/')});
            } else if (S_ISREG(st.st_mode)) {
                const FileStamp stamp = stampOf(st);
                if ((st.st_mode & S_IWGRP) && knownSent && knownSent(rel, stamp)) {
                    files.append({rel, stamp, true, false, {}});
                    continue;
                }
                const SentMark::Mark mark = SentMark::markOf(childNative, st);
                files.append({rel,
                              stamp,
                              mark != SentMark::Mark::Unsent,
                              mark == SentMark::Mark::Outside,
                              {}});
            } else {
                skip(kindOf(st.st_mode) + QStringLiteral(", not a regular file"));
            }
        }
        ::closedir(dir);
        top = false;
    }
    std::sort(files.begin(), files.end(), [](const DataFile &a, const DataFile &b) {
        return a.stamp.mtimeNs != b.stamp.mtimeNs ? a.stamp.mtimeNs < b.stamp.mtimeNs
                                                  : a.relPath < b.relPath;
    });
    if (skipped) {
        std::sort(skips.begin(), skips.end(),
                  [](const SkippedEntry &a, const SkippedEntry &b) { return a.path < b.path; });
        *skipped = std::move(skips);
    }
    return files;
}

Result<QList<DbtagInfo>> Scanner::scan(bool withFiles) const
{
    const QByteArray rootNative = nativePath(m_options.root);
    DIR *dir = ::opendir(rootNative.constData());
    if (!dir) {
        const int err = errno;
        return Error{err == ENOENT ? ErrorCode::FileVanished : ErrorCode::IoError,
                     QStringLiteral("cannot read data root %1: %2").arg(m_options.root, osError(err))};
    }
    QList<DbtagInfo> tags;
    const QByteArray parseName = nativePath(m_options.doneParse);
    const QByteArray watchName = nativePath(m_options.doneWatch);
    while (const dirent *d = ::readdir(dir)) {
        const QString name = fsDecode(QByteArrayView(d->d_name));
        if (!isDbtagName(name))
            continue;
        struct stat st;
        if (::fstatat(::dirfd(dir), d->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISDIR(st.st_mode))
            continue;
        DbtagInfo tag;
        tag.name = name;
        tag.path = m_options.root + QLatin1Char('/') + name;
        tag.mtimeNs = stampOf(st).mtimeNs;
        tag.dev = st.st_dev;
        tag.ino = st.st_ino;
        const QByteArray base = rootNative + '/' + d->d_name + '/';
        struct stat mst;
        tag.hasParse = ::lstat(QByteArray(base + parseName).constData(), &mst) == 0;
        tag.hasWatch = ::lstat(QByteArray(base + watchName).constData(), &mst) == 0;
        tags.append(std::move(tag));
    }
    ::closedir(dir);

    std::sort(tags.begin(), tags.end(), [](const DbtagInfo &a, const DbtagInfo &b) {
        return a.mtimeNs != b.mtimeNs ? a.mtimeNs < b.mtimeNs : a.name < b.name;
    });

    // The newest among the dbtags without either marker: isocket's own writes of finished.watch
    // do not count, nor does a producer that writes finished.parse into the previous dbtag after
    // creating the next one. Ties go to the later name (sorted above), as names carry the time.
    for (auto it = tags.rbegin(); it != tags.rend(); ++it) {
        if (!it->hasWatch && !it->hasParse) {
            it->newest = true;
            break;
        }
    }
    for (DbtagInfo &tag : tags) {
        if (tag.hasWatch)
            tag.state = tag.hasParse ? DbtagState::Done : DbtagState::Abnormal;
        else if (tag.hasParse || !tag.newest)
            tag.state = DbtagState::Closed;
        else
            tag.state = DbtagState::Live;
        if (withFiles && tag.state != DbtagState::Done && tag.state != DbtagState::Abnormal) {
            auto files = listFiles(tag.path, {}, &tag.skipped);
            if (!files) {
                if (files.error().code == ErrorCode::FileVanished)
                    continue; // removed while we scanned
                return files.error();
            }
            tag.files = std::move(files).value();
            tag.listed = true;
        }
    }
    return tags;
}

} // namespace isocket
