#pragma once
// The logging categories of isocket, declared in one place. Default level: info.
// Enable debug with QT_LOGGING_RULES="isocket.*.debug=true" or the CLI's --verbose.

#include "core/error.h"

#include <QLoggingCategory>

namespace isocket {

Q_DECLARE_LOGGING_CATEGORY(lcScan)
Q_DECLARE_LOGGING_CATEGORY(lcWatch)
Q_DECLARE_LOGGING_CATEGORY(lcSend)
Q_DECLARE_LOGGING_CATEGORY(lcRecv)
Q_DECLARE_LOGGING_CATEGORY(lcProto)
Q_DECLARE_LOGGING_CATEGORY(lcConfig)
Q_DECLARE_LOGGING_CATEGORY(lcGui)
Q_DECLARE_LOGGING_CATEGORY(lcCli)

// Message pattern for console programs: time, level, category, message (stderr).
void installConsoleMessagePattern();

// One log line in that pattern ("2026-11-25T23:37:06.022 info  isocket.send: …\n"), UTF-8.
// Formatted without Qt's pattern engine (QDateTime and QCalendar per line): a receiver or a
// sender logs a line per file, thousands per second in a flood of small files (issue 6).
QByteArray formatLogLine(QtMsgType type, const QMessageLogContext &context, const QString &message);

// The same line for the journal: a syslog priority prefix that journald reads ("<4>", as
// sd-daemon.h's SD_WARNING), no timestamp (the journal keeps its own), then level, category and
// message: "<4>warn  isocket.send: …\n". journalctl -p warning then selects by level.
QByteArray formatJournalLine(QtMsgType type, const QMessageLogContext &context,
                             const QString &message);

// Whether stderr is a stream to the journal: JOURNAL_STREAM ("DEVICE:INODE", systemd.exec(5))
// names stderr's device and inode. Not when stderr was redirected elsewhere by the service.
bool stderrIsJournal();

// Console programs: every message to stderr as formatLogLine() (formatJournalLine() when
// stderrIsJournal() at the time of the call), one write(2) per line (whole lines even with
// several threads logging). Installs installConsoleMessagePattern() too, for handlers that use
// qFormatLogMessage().
void installConsoleLogHandler();

// Appends every log line to `path` too (the CLI's --log, general.log), as formatLogLine(), and
// passes each message on to the handler installed before (the console). Each line is one
// write(2) to an O_APPEND descriptor under a lock, so lines from any number of threads arrive
// whole and in one piece, and a line never meets a descriptor being opened or closed. Calling it
// again switches to the new file; on failure the previous file (if any) stays in use.
Result<void> openLogFile(const QString &path);
// Stops writing to the log file and closes it; messages still go to the console handler.
void closeLogFile();

// Reads the local time zone once per process instead of once per log line: each timestamp
// of the message pattern calls tzset(), which with TZ unset stat()s /etc/localtime every time.
// Sets TZ=:/etc/localtime when TZ is unset (the same zone); a change of the system's time zone
// then shows in the timestamps after a restart. Call first thing in main(), while the process
// has a single thread (setenv is not thread-safe).
void pinLocalTimeZone();

// Turns on debug output for every isocket category.
void enableVerboseLogging();

} // namespace isocket
