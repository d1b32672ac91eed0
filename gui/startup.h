#pragma once
// How isocket-gui starts: `--role sender|receiver|monitor` with the console program's options and
// configuration file (the same key table, via core's CommandLine), or without a role the
// StartupDialog asks for the role and the missing settings. Produces the setup of the chosen
// side with the mapping every face uses (EdAgentSetup::fromConfig(), ReceiverSetup::fromConfig(),
// MonitorSetup::fromConfig()). A monitor (`--role monitor --to HOST:PORT --secret-file F`) has no
// dialog: it needs only the receiver's address and the secret.
// GUI thread.

#include "core/edagent.h"
#include "core/fleetmonitor.h"
#include "core/receiverservice.h"

#include <QStringList>

namespace isocket::gui {

struct Startup
{
    enum class Role { Sender, Receiver, Monitor };
    int exitCode = -1; // >= 0: exit with it now (help printed, usage error, dialog cancelled)
    Role role = Role::Sender;
    EdAgentSetup sender;
    ReceiverSetup receiver;
    MonitorSetup monitor;
};

// Parses `args` (args[0] is the program); may show the StartupDialog. Errors go to stderr (and
// to a message box when the dialog was used).
Startup resolveStartup(const QStringList &args);

} // namespace isocket::gui
