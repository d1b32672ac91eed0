#pragma once
// The console program's entry: `isocket <command> [options]`. Thin over core.

#include "core/edagent.h"
#include "core/receiverservice.h"

#include <QJsonObject>
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
int runStatus(const QStringList &args);

// One dbtag as `isocket scan --json` shows it (also in `isocket status --json` without daemon).
QJsonObject dbtagJson(const DbtagInfo &tag);

// What `isocket send ARGS` / `isocket receive ARGS` would run with: the same parse and mapping
// as runSend() / runReceive(), nothing started (a dry run; the test that every configuration
// key reaches the engine the same way from every face). An error when the command would exit
// before starting (its message was printed).
Result<EdAgentSetup> sendSetup(const QStringList &args);
Result<ReceiverSetup> receiveSetup(const QStringList &args);

} // namespace isocket::cli
