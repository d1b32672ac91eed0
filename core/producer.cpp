#include "core/producer.h"

#include <algorithm>
#include <cerrno>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <QDate>
#include <QDateTime>
#include <QDir>
#include <QPointer>
#include <QTime>
#include <QTimeZone>

namespace isocket {

namespace {

constexpr int ProgressIntervalMs = 100;
constexpr int TimestampLength = 14; // yyyyMMddHHmmss
constexpr mode_t FileMode = 0644;
constexpr mode_t DirMode = 0755;

// splitmix64's finaliser: a good 64-bit mix, cheap enough for gigabytes.
quint64 mix64(quint64 z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

quint64 fileKey(quint32 seed, int dbtagNumber, int fileNumber)
{
    return mix64(mix64(mix64(seed) ^ static_cast<quint64>(dbtagNumber)) ^
                 static_cast<quint64>(fileNumber));
}

// Byte p of a file is byte p % 8 of mix64(key ^ p / 8): any range can be produced on its own,
// so chunk boundaries never change the contents.
void fillPattern(char *out, quint64 key, qint64 offset, qint64 length)
{
    qint64 i = 0;
    while (i < length) {
        const qint64 pos = offset + i;
        const quint64 word = mix64(key ^ static_cast<quint64>(pos / 8));
        const int first = static_cast<int>(pos % 8);
        const int count = static_cast<int>(std::min<qint64>(8 - first, length - i));
        for (int b = 0; b < count; ++b)
            out[i + b] = static_cast<char>(word >> (8 * (first + b)));
        i += count;
    }
}

QString timestampName(const QString &prefix, qint64 secs)
{
    return prefix + QDateTime::fromSecsSinceEpoch(secs, QTimeZone::utc())
                        .toString(QStringLiteral("yyyyMMddHHmmss"));
}

// UTC seconds of a dbtag name `<prefix><yyyyMMddHHmmss>`, or -1 for any other name.
qint64 timestampOf(const QString &prefix, const QString &name)
{
    if (!name.startsWith(prefix) || name.size() != prefix.size() + TimestampLength)
        return -1;
    const QString digits = name.mid(prefix.size());
    const QDate date = QDate::fromString(digits.left(8), QStringLiteral("yyyyMMdd"));
    const QTime time = QTime::fromString(digits.mid(8), QStringLiteral("HHmmss"));
    if (!date.isValid() || !time.isValid())
        return -1;
    return QDateTime(date, time, QTimeZone::utc()).toSecsSinceEpoch();
}

// mkdir -p with the OS reason on failure.
Result<void> makePath(const QString &path)
{
    const QString clean = QDir::cleanPath(QDir(path).absolutePath());
    const QStringList parts = clean.split(QLatin1Char('/'), Qt::SkipEmptyParts);
    QString current;
    for (const QString &part : parts) {
        current += QLatin1Char('/') + part;
        if (::mkdir(nativePath(current).constData(), DirMode) != 0 && errno != EEXIST) {
            const int err = errno;
            return Error{
                ErrorCode::IoError,
                QStringLiteral("cannot create directory %1: %2").arg(current, osError(err))};
        }
    }
    struct stat st;
    if (::stat(nativePath(clean).constData(), &st) != 0 || !S_ISDIR(st.st_mode))
        return Error{ErrorCode::BadPath, QStringLiteral("%1 is not a directory").arg(clean)};
    return {};
}

// Creates (or truncates) `path` with mode exactly 0644, whatever the umask.
Result<UniqueFd> createFile(const QString &path, int extraFlags)
{
    UniqueFd fd(::open(nativePath(path).constData(), O_WRONLY | O_CREAT | O_CLOEXEC | extraFlags,
                       FileMode));
    if (!fd.valid() || ::fchmod(fd.get(), FileMode) != 0) {
        const int err = errno;
        return Error{ErrorCode::IoError,
                     QStringLiteral("cannot create %1: %2").arg(path, osError(err))};
    }
    return fd;
}

Result<void> closeFile(UniqueFd &fd, const QString &path)
{
    if (::close(fd.release()) != 0) {
        const int err = errno;
        return Error{ErrorCode::IoError,
                     QStringLiteral("cannot close %1: %2").arg(path, osError(err))};
    }
    return {};
}

} // namespace

Producer::Producer(ProducerOptions options, QObject *parent)
    : QObject(parent), m_options(std::move(options))
{
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, &Producer::runStep);
}

Producer::~Producer() = default;

QByteArray Producer::expectedContents(quint32 seed, int dbtagNumber, int fileNumber, qint64 size)
{
    QByteArray out(size, Qt::Uninitialized);
    fillPattern(out.data(), fileKey(seed, dbtagNumber, fileNumber), 0, size);
    return out;
}

QString Producer::relativeFilePath(int fileNumber, bool subdirs)
{
    const QString name = QStringLiteral("data-%1.dat").arg(fileNumber, 6, 10, QLatin1Char('0'));
    if (!subdirs || fileNumber % 3 != 0)
        return name;
    return QStringLiteral("sub-%1/").arg((fileNumber / 3 - 1) % 2 + 1) + name;
}

void Producer::start()
{
    if (m_running)
        return;
    m_running = true;
    m_lastStampSecs = -1;
    m_dbtagNumber = 0;
    m_fileNumber = 0;
    m_filesWritten = 0;
    m_bytesWritten = 0;
    m_dbtagPaths.clear();
    m_errorString.clear();
    // Even a bad option is reported from the event loop: start() never emits.
    schedule(Step::Begin, 0);
}

void Producer::stop()
{
    if (!m_running)
        return;
    m_errorString = QStringLiteral("stopped");
    finish(false, false);
}

void Producer::schedule(Step step, int delayMs)
{
    m_next = step;
    m_timer.start(delayMs);
}

void Producer::runStep()
{
    if (!m_running)
        return;
    switch (m_next) {
    case Step::Begin:
        begin();
        break;
    case Step::StartDbtag:
        startDbtag();
        break;
    case Step::StartFile:
        startFile();
        break;
    case Step::ContinueFile:
        writeChunk();
        break;
    }
}

void Producer::begin()
{
    const ProducerOptions &o = m_options;
    QString problem;
    if (o.root.isEmpty())
        problem = QStringLiteral("no data root given");
    else if (o.prefix.contains(QLatin1Char('/')) || o.prefix.startsWith(QLatin1Char('.')))
        problem = QStringLiteral("'%1' cannot start a directory name").arg(o.prefix);
    else if (o.doneParse.isEmpty() || o.doneParse.contains(QLatin1Char('/')))
        problem = QStringLiteral("'%1' is not a marker name").arg(o.doneParse);
    else if (o.dbtags < 1)
        problem = QStringLiteral("dbtags must be at least 1, not %1").arg(o.dbtags);
    else if (o.files < 0)
        problem = QStringLiteral("files must not be negative (%1)").arg(o.files);
    else if (o.size < 0)
        problem = QStringLiteral("size must not be negative (%1)").arg(o.size);
    else if (o.intervalMs < 0)
        problem = QStringLiteral("interval must not be negative (%1)").arg(o.intervalMs);
    if (!problem.isEmpty())
        return fail(problem);

    if (auto r = makePath(o.root); !r)
        return fail(r.error().message);

    // Names must also grow past the dbtags a previous run left in the root.
    const QStringList existing = QDir(o.root).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    for (const QString &name : existing)
        m_lastStampSecs = std::max(m_lastStampSecs, timestampOf(o.prefix, name));

    m_buffer.resize(static_cast<qsizetype>(std::min(o.size, ChunkSize)));
    m_progressClock.start();
    QPointer<Producer> self(this);
    emit progress(0, filesTotal());
    if (!self || !m_running)
        return;
    startDbtag();
}

void Producer::startDbtag()
{
    ++m_dbtagNumber;
    m_fileNumber = 0;
    qint64 secs = QDateTime::currentSecsSinceEpoch();
    if (secs <= m_lastStampSecs)
        secs = m_lastStampSecs + 1;
    for (;;) {
        const QString path = QDir(m_options.root).filePath(timestampName(m_options.prefix, secs));
        if (::mkdir(nativePath(path).constData(), DirMode) == 0) {
            m_dbtagPath = path;
            break;
        }
        const int err = errno;
        if (err != EEXIST)
            return fail(QStringLiteral("cannot create dbtag %1: %2").arg(path, osError(err)));
        ++secs; // taken (by another producer, or a name from the future): try the next second
    }
    m_lastStampSecs = secs;
    m_dbtagPaths.append(m_dbtagPath);

    QPointer<Producer> self(this);
    emit dbtagStarted(m_dbtagPath);
    if (!self || !m_running)
        return;
    if (m_options.files == 0)
        return closeDbtag();
    schedule(Step::StartFile, m_options.intervalMs);
}

void Producer::startFile()
{
    ++m_fileNumber;
    const QString rel = relativeFilePath(m_fileNumber, m_options.subdirs);
    m_filePath = m_dbtagPath + QLatin1Char('/') + rel;
    const qsizetype slash = rel.lastIndexOf(QLatin1Char('/'));
    if (slash > 0) {
        const QString dir = m_dbtagPath + QLatin1Char('/') + rel.left(slash);
        if (::mkdir(nativePath(dir).constData(), DirMode) != 0 && errno != EEXIST) {
            const int err = errno;
            return fail(QStringLiteral("cannot create directory %1: %2").arg(dir, osError(err)));
        }
    }
    auto fd = createFile(m_filePath, O_EXCL);
    if (!fd)
        return fail(fd.error().message);
    m_fd = std::move(fd.value());
    m_fileKey = fileKey(m_options.seed, m_dbtagNumber, m_fileNumber);
    m_fileOffset = 0;
    writeChunk();
}

void Producer::writeChunk()
{
    const qint64 size = m_options.size;
    qint64 length = std::min(size - m_fileOffset, ChunkSize);
    // Small even-numbered files arrive in two writes, so a watcher can catch one half-written.
    if (m_fileOffset == 0 && size <= ChunkSize && size >= 2 && m_fileNumber % 2 == 0)
        length = size / 2;

    fillPattern(m_buffer.data(), m_fileKey, m_fileOffset, length);
    const char *p = m_buffer.constData();
    qint64 left = length;
    while (left > 0) {
        const ssize_t n = ::write(m_fd.get(), p, static_cast<size_t>(left));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            const int err = errno;
            return fail(QStringLiteral("cannot write %1: %2").arg(m_filePath, osError(err)));
        }
        p += n;
        left -= n;
        m_bytesWritten += n;
    }
    m_fileOffset += length;
    if (m_fileOffset < size)
        return schedule(Step::ContinueFile, 0);
    completeFile();
}

void Producer::completeFile()
{
    if (auto r = closeFile(m_fd, m_filePath); !r)
        return fail(r.error().message);
    ++m_filesWritten;

    QPointer<Producer> self(this);
    emit fileWritten(m_filePath, m_options.size);
    if (!self || !m_running)
        return;
    emitProgress(m_filesWritten == filesTotal());
    if (!self || !m_running)
        return;
    if (m_fileNumber < m_options.files)
        return schedule(Step::StartFile, m_options.intervalMs);
    closeDbtag();
}

void Producer::closeDbtag()
{
    const bool last = m_dbtagNumber == m_options.dbtags;
    if (!(last && m_options.leaveOpen)) {
        const QString marker = m_dbtagPath + QLatin1Char('/') + m_options.doneParse;
        auto fd = createFile(marker, O_TRUNC);
        if (!fd)
            return fail(fd.error().message);
        if (auto r = closeFile(fd.value(), marker); !r)
            return fail(r.error().message);
        QPointer<Producer> self(this);
        emit dbtagClosed(m_dbtagPath);
        if (!self || !m_running)
            return;
    }
    if (last)
        return finish(true, false);
    // Yield before the next dbtag, so a run of empty dbtags never hogs the event loop.
    schedule(Step::StartDbtag, 0);
}

void Producer::emitProgress(bool force)
{
    if (!force && m_filesWritten != 1 && m_progressClock.elapsed() < ProgressIntervalMs)
        return;
    m_progressClock.restart();
    emit progress(m_filesWritten, filesTotal());
}

void Producer::fail(const QString &message)
{
    m_errorString = message;
    finish(false, true);
}

void Producer::finish(bool ok, bool reportFailure)
{
    m_running = false;
    m_timer.stop();
    m_fd.reset();
    QPointer<Producer> self(this);
    if (reportFailure) {
        emit failed(m_errorString);
        if (!self)
            return;
    }
    emit finished(ok);
}

} // namespace isocket
