#include "core/senthistory.h"

#include "core/fileutil.h"
#include "core/fsname.h"
#include "core/sentmark.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <functional>
#include <memory>

namespace isocket {

namespace {

struct DirCloser
{
    void operator()(DIR *d) const { ::closedir(d); }
};

// The names in `dir` but hidden ones, as exact QStrings.
QStringList entries(const QString &dir)
{
    QStringList names;
    std::unique_ptr<DIR, DirCloser> d(::opendir(nativePath(dir).constData()));
    if (!d)
        return names;
    while (const dirent *e = ::readdir(d.get())) {
        if (e->d_name[0] == '.')
            continue;
        names.append(fsDecode(QByteArrayView(e->d_name)));
    }
    return names;
}

void collect(const QString &root, const QString &dbtag, const QString &rel,
             const QStringList &markers, QList<SentFile> &out, int depth)
{
    if (depth > 64) // a loop of bind mounts is not walked forever
        return;
    const QString dir = root + QLatin1Char('/') + dbtag
                        + (rel.isEmpty() ? QString() : QLatin1Char('/') + rel);
    for (const QString &name : entries(dir)) {
        if (rel.isEmpty() && markers.contains(name))
            continue;
        const QString relPath = rel.isEmpty() ? name : rel + QLatin1Char('/') + name;
        const QByteArray native = nativePath(dir + QLatin1Char('/') + name);
        struct stat st = {};
        if (::lstat(native.constData(), &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            collect(root, dbtag, relPath, markers, out, depth + 1);
            continue;
        }
        if (!S_ISREG(st.st_mode) || !SentMark::isSent(native, st))
            continue;
        const qint64 ms = qint64(st.st_ctim.tv_sec) * 1000 + st.st_ctim.tv_nsec / 1000000;
        out.append(SentFile{dbtag, relPath, qint64(st.st_size),
                            QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC)});
    }
}

} // namespace

QList<SentFile> recentlySent(const QString &root, const QString &prefix,
                             const QStringList &markers, int limit)
{
    QList<SentFile> out;
    if (limit <= 0)
        return out;
    QStringList dbtags;
    for (const QString &name : entries(root)) {
        if (!name.startsWith(prefix))
            continue;
        struct stat st = {};
        if (::stat(nativePath(root + QLatin1Char('/') + name).constData(), &st) == 0
            && S_ISDIR(st.st_mode))
            dbtags.append(name);
    }
    // Names carry the time: the newest first, and enough of them to fill the list.
    std::sort(dbtags.begin(), dbtags.end(), std::greater<>());
    for (const QString &dbtag : std::as_const(dbtags)) {
        collect(root, dbtag, QString(), markers, out, 0);
        if (out.size() >= limit)
            break;
    }
    std::stable_sort(out.begin(), out.end(), [](const SentFile &a, const SentFile &b) {
        return a.markedAt > b.markedAt;
    });
    if (out.size() > limit)
        out.resize(limit);
    return out;
}

} // namespace isocket
