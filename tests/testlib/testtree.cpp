#include "tests/testlib/testtree.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QtDebug>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace isocket::test {

bool writeFile(const QString &path, const QByteArray &contents, unsigned mode)
{
    if (!QDir().mkpath(QFileInfo(path).absolutePath()))
        return false;
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly | QIODevice::Truncate) || f.write(contents) != contents.size()) {
        qWarning() << "cannot write" << path << f.errorString();
        return false;
    }
    f.close();
    return ::chmod(QFile::encodeName(path).constData(), mode) == 0;
}

bool writeFileAt(const QByteArray &path, const QByteArray &contents, unsigned mode)
{
    for (qsizetype slash = path.indexOf('/', 1); slash > 0; slash = path.indexOf('/', slash + 1))
        ::mkdir(path.left(slash).constData(), 0755); // EEXIST is fine; open() says the rest
    const int fd = ::open(path.constData(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        qWarning() << "cannot create" << path;
        return false;
    }
    const bool ok = ::write(fd, contents.constData(), size_t(contents.size())) == contents.size();
    ::close(fd);
    return ok && ::chmod(path.constData(), mode) == 0;
}

bool hasGroupWriteAt(const QByteArray &path)
{
    struct stat st;
    return ::lstat(path.constData(), &st) == 0 && (st.st_mode & S_IWGRP);
}

std::optional<QByteArray> readFileAt(const QByteArray &path)
{
    const int fd = ::open(path.constData(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return std::nullopt;
    QFile f;
    if (!f.open(fd, QIODevice::ReadOnly, QFileDevice::AutoCloseHandle)) {
        ::close(fd);
        return std::nullopt;
    }
    return f.readAll();
}

bool removeTreeAt(const QByteArray &path)
{
    struct stat st;
    if (::lstat(path.constData(), &st) != 0)
        return true;
    if (S_ISDIR(st.st_mode)) {
        ::chmod(path.constData(), 0755);
        if (DIR *d = ::opendir(path.constData())) {
            while (const dirent *e = ::readdir(d)) {
                const QByteArray name(e->d_name);
                if (name != "." && name != "..")
                    removeTreeAt(path + '/' + name);
            }
            ::closedir(d);
        }
        return ::rmdir(path.constData()) == 0;
    }
    return ::unlink(path.constData()) == 0;
}

bool setMtime(const QString &path, qint64 sec)
{
    struct timespec times[2];
    times[0].tv_sec = sec;
    times[0].tv_nsec = 0;
    times[1] = times[0];
    return ::utimensat(AT_FDCWD, QFile::encodeName(path).constData(), times, AT_SYMLINK_NOFOLLOW) == 0;
}

bool makeDbtag(const QString &root, const QString &name, bool parse, bool watch, qint64 mtimeSec,
               const QString &doneParse, const QString &doneWatch)
{
    const QString dir = root + QLatin1Char('/') + name;
    if (!QDir().mkpath(dir))
        return false;
    if (parse && !writeFile(dir + QLatin1Char('/') + doneParse, QByteArray()))
        return false;
    if (watch && !writeFile(dir + QLatin1Char('/') + doneWatch, QByteArray()))
        return false;
    return setMtime(dir, mtimeSec);
}

bool hasGroupWrite(const QString &path)
{
    struct stat st;
    return ::lstat(QFile::encodeName(path).constData(), &st) == 0 && (st.st_mode & S_IWGRP);
}

QByteArray patternBytes(qint64 size, quint32 seed)
{
    QByteArray out(size, Qt::Uninitialized);
    quint32 x = seed * 2654435761u + 0x9e3779b9u;
    for (qint64 i = 0; i < size; ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out[i] = static_cast<char>(x);
    }
    return out;
}

int timeoutFactor()
{
    bool ok = false;
    const int f = qEnvironmentVariableIntValue("ISOCKET_TIMEOUT_FACTOR", &ok);
    return ok && f > 0 ? f : 1;
}

} // namespace isocket::test
