#pragma once
// How isocket-gui starts: `--role sender|receiver` with the console program's options and
// configuration file (the same key table, via cli::CommandLine), or without a role the
// StartupDialog asks for the role and the missing settings. Produces the setup of the chosen
// side, validated the way `isocket send` / `isocket receive` validate it. GUI thread.

#include "core/config.h"
#include "gui/receiverworker.h"
#include "gui/senderworker.h"

#include <QStringList>

namespace isocket::gui {

struct Startup
{
    enum class Role { Sender, Receiver };
    int exitCode = -1; // >= 0: exit with it now (help printed, usage error, dialog cancelled)
    Role role = Role::Sender;
    SenderSetup sender;
    ReceiverSetup receiver;
};

// Parses `args` (args[0] is the program); may show the StartupDialog. Errors go to stderr (and
// to a message box when the dialog was used).
Startup resolveStartup(const QStringList &args);

// The setups from a configuration and a secret, as the console program builds them.
// Errors name the setting.
Result<SenderSetup> senderSetupFrom(const Config &config, const QByteArray &secret);
Result<ReceiverSetup> receiverSetupFrom(const Config &config, const QByteArray &secret);

} // namespace isocket::gui
