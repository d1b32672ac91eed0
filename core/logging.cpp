#include "core/logging.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <QFile>

namespace isocket {

Q_LOGGING_CATEGORY(lcScan, "isocket.scan", QtInfoMsg)
Q_LOGGING_CATEGORY(lcWatch, "isocket.watch", QtInfoMsg)
Q_LOGGING_CATEGORY(lcSend, "isocket.send", QtInfoMsg)
Q_LOGGING_CATEGORY(lcRecv, "isocket.recv", QtInfoMsg)
Q_LOGGING_CATEGORY(lcProto, "isocket.proto", QtInfoMsg)
Q_LOGGING_CATEGORY(lcConfig, "isocket.config", QtInfoMsg)
Q_LOGGING_CATEGORY(lcGui, "isocket.gui", QtInfoMsg)
Q_LOGGING_CATEGORY(lcCli, "isocket.cli", QtInfoMsg)

void installConsoleMessagePattern()
{
    qSetMessagePattern(QStringLiteral(
        "%{time yyyy-MM-ddThh:mm:ss.zzz} "
        "%{if-debug}debug%{endif}%{if-info}info %{endif}%{if-warning}warn %{endif}"
        "%{if-critical}crit %{endif}%{if-fatal}fatal%{endif} %{category}: %{message}"));
}

QByteArray formatLogLine(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    struct timespec now = {};
    ::clock_gettime(CLOCK_REALTIME, &now);
    // The date and time to the second change once a second: formatted once per second and thread.
    thread_local time_t cachedSecond = -1;
    thread_local char cachedStamp[32] = {};
    if (now.tv_sec != cachedSecond) {
        struct tm local = {};
        ::localtime_r(&now.tv_sec, &local);
        std::strftime(cachedStamp, sizeof cachedStamp, "%Y-%m-%dT%H:%M:%S", &local);
        cachedSecond = now.tv_sec;
    }
    const char *level = "info ";
    switch (type) {
    case QtDebugMsg:
        level = "debug";
        break;
    case QtInfoMsg:
        break;
    case QtWarningMsg:
        level = "warn ";
        break;
    case QtCriticalMsg:
        level = "crit ";
        break;
    case QtFatalMsg:
        level = "fatal";
        break;
    }
    char head[64];
    const int n = std::snprintf(head, sizeof head, "%s.%03ld %s ", cachedStamp,
                                long(now.tv_nsec / 1000000), level);
    const char *category = context.category ? context.category : "default";
    const QByteArray text = message.toUtf8();
    QByteArray line;
    line.reserve(n + qsizetype(std::strlen(category)) + 3 + text.size());
    line.append(head, n).append(category).append(": ").append(text).append('\n');
    return line;
}

QByteArray formatJournalLine(QtMsgType type, const QMessageLogContext &context,
                             const QString &message)
{
    // sd-daemon.h: SD_CRIT "<2>", SD_WARNING "<4>", SD_INFO "<6>", SD_DEBUG "<7>".
    const char *head = "<6>info  ";
    switch (type) {
    case QtDebugMsg:
        head = "<7>debug ";
        break;
    case QtInfoMsg:
        break;
    case QtWarningMsg:
        head = "<4>warn  ";
        break;
    case QtCriticalMsg:
        head = "<2>crit  ";
        break;
    case QtFatalMsg:
        head = "<2>fatal ";
        break;
    }
    const char *category = context.category ? context.category : "default";
    const QByteArray text = message.toUtf8();
    QByteArray line;
    line.reserve(9 + qsizetype(std::strlen(category)) + 3 + text.size());
    line.append(head).append(category).append(": ").append(text).append('\n');
    return line;
}

bool stderrIsJournal()
{
    const QByteArray stream = qgetenv("JOURNAL_STREAM");
    const qsizetype colon = stream.indexOf(':');
    if (colon <= 0)
        return false;
    bool devOk = false;
    bool inoOk = false;
    const qulonglong dev = stream.left(colon).toULongLong(&devOk);
    const qulonglong ino = stream.mid(colon + 1).toULongLong(&inoOk);
    struct stat st = {};
    if (!devOk || !inoOk || ::fstat(STDERR_FILENO, &st) != 0)
        return false;
    return qulonglong(st.st_dev) == dev && qulonglong(st.st_ino) == ino;
}

namespace {

void writeLine(int fd, const QByteArray &line)
{
    const char *p = line.constData();
    qsizetype left = line.size();
    while (left > 0) {
        const ssize_t n = ::write(fd, p, size_t(left));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; // closed or full: nothing better to do with a log line
        p += n;
        left -= n;
    }
}

void consoleHandler(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    writeLine(STDERR_FILENO, formatLogLine(type, context, message));
}

void journalHandler(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    writeLine(STDERR_FILENO, formatJournalLine(type, context, message));
}

// The log file. Qt calls the message handler from whichever thread logs, without a lock of its
// own: the receiver's I/O threads log at once (issue 13: a QFile shared by them corrupted the
// heap). The lock covers the descriptor's swap and each line's write.
struct LogFile
{
    std::mutex mutex;
    int fd = -1;
    bool handlerInstalled = false;
    QtMessageHandler next = nullptr; // the handler installed before ours
};

LogFile &logFile()
{
    // Never destroyed: messages may come until the very last moment (other threads, static
    // destructors), and a destroyed mutex must not meet them.
    static LogFile *const file = new LogFile;
    return *file;
}

void fileHandler(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    const QByteArray line = formatLogLine(type, context, message);
    LogFile &file = logFile();
    QtMessageHandler next = nullptr;
    {
        const std::lock_guard lock(file.mutex);
        if (file.fd >= 0)
            writeLine(file.fd, line);
        next = file.next;
    }
    if (next)
        next(type, context, message);
}

} // namespace

void installConsoleLogHandler()
{
    installConsoleMessagePattern();
    qInstallMessageHandler(stderrIsJournal() ? journalHandler : consoleHandler);
}

Result<void> openLogFile(const QString &path)
{
    const int fd = ::open(QFile::encodeName(path).constData(),
                          O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("cannot open %1: %2").arg(path, qt_error_string(errno))};
    LogFile &file = logFile();
    int old = -1;
    {
        // Installed under the lock: a message logged meanwhile waits in fileHandler() until
        // `next` is known, and so still reaches the console.
        const std::lock_guard lock(file.mutex);
        old = file.fd;
        file.fd = fd;
        if (!file.handlerInstalled) {
            file.next = qInstallMessageHandler(fileHandler);
            file.handlerInstalled = true;
        }
    }
    if (old >= 0)
        ::close(old);
    return {};
}

void closeLogFile()
{
    LogFile &file = logFile();
    int old = -1;
    {
        const std::lock_guard lock(file.mutex);
        old = file.fd;
        file.fd = -1;
    }
    if (old >= 0)
        ::close(old);
}

void pinLocalTimeZone()
{
    // glibc's tzset() returns at once while TZ is set and unchanged; unset, it re-checks the
    // default zone file (a stat per call, per log line).
    if (!qEnvironmentVariableIsSet("TZ"))
        qputenv("TZ", ":/etc/localtime");
}

void enableVerboseLogging()
{
    QLoggingCategory::setFilterRules(QStringLiteral("isocket.*.debug=true"));
}

} // namespace isocket
