#pragma once
// The console's side of the command line: core's CommandLine (core/commandline.h) parsed and
// its help or error printed, errors printed, sizes in words, and a reload's log file and
// warnings.

#include "core/commandline.h"

#include <QStringList>

#include <initializer_list>
#include <utility>

namespace isocket::cli {

// Parses `cl` (CommandLine::parse()) and says what it has to say: the help on stdout, an error
// on stderr as printError() does. Returns what CommandLine::parse() returns.
int parse(CommandLine &cl, const QStringList &args);

// Prints to stderr: "isocket <command>: <message>".
void printError(const QString &command, const QString &message);

// "512 B", "40.0 KiB", "1.5 GiB".
QString humanBytes(qint64 bytes);

// On SIGHUP, both commands: opens `next`'s log file (or closes it when none is set; a failure
// keeps the previous one, with an error), then warns about each key in `restartOnly` whose value
// changed (the bool) and the general keys only a restart applies (TLS identity, transport).
void applyReload(const Config &next, const Config &running,
                 std::initializer_list<std::pair<const char *, bool>> restartOnly);

} // namespace isocket::cli
