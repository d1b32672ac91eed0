#pragma once
// The console program's entry: `isocket <command> [options]`. Thin over core.

#include <QStringList>

namespace isocket::cli {

// Runs the command in `args` (args[0] is the program). Returns the exit status:
// 0 success, 1 runtime failure, 2 usage or configuration error.
int run(const QStringList &args);

int runScan(const QStringList &args);
int runSend(const QStringList &args);
int runReceive(const QStringList &args);
int runSimulate(const QStringList &args);
int runKeygen(const QStringList &args);

} // namespace isocket::cli
