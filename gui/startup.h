#pragma once
// How isocket-gui starts: `--role sender|receiver|monitor` with the console program's options and
// configuration file (the same key table, via core's CommandLine), or without a role the
// StartupDialog asks for the role and the missing settings. Produces the setup of the chosen
// side with the mapping every face uses (EdAgentSetup::fromConfig(), ReceiverSetup::fromConfig(),
// MonitorSetup::fromConfig()). A monitor (`--role monitor --to HOST:PORT --secret-file F`) has no
// dialog: it needs only the receiver's address and the secret.
//
// Launcher makes the window of a Startup, shows and starts it; when a sender or receiver window
// asks to change its settings (its start failed: the banner's "Change settings…"), it opens the
// StartupDialog on the settings that window started with, window-modal and without a nested
// event loop, and once they are accepted (and make a valid setup) replaces the window by a new
// one with them. Owns the window. GUI thread.

#include "core/config.h"
#include "core/edagent.h"
#include "core/fleetmonitor.h"
#include "core/receiverservice.h"
#include "gui/startupdialog.h"

#include <QObject>
#include <QPointer>
#include <QStringList>

#include <memory>

class QMainWindow;

namespace isocket::gui {

class LogModel;

struct Startup
{
    enum class Role { Sender, Receiver, Monitor };
    int exitCode = -1; // >= 0: exit with it now (help printed, usage error, dialog cancelled)
    Role role = Role::Sender;
    Config config; // what the setup was made from (the start dialog shows it again)
    EdAgentSetup sender;
    ReceiverSetup receiver;
    MonitorSetup monitor;
    // The INI file the windows' settings dialogs write: --config, else the console's default.
    QString configFile;
};

// Parses `args` (args[0] is the program); may show the StartupDialog. Errors go to stderr (and
// to the dialog when it was used: it stays open until its answers make a valid setup).
Startup resolveStartup(const QStringList &args);

// The setup of `role` from `config`: `out` filled, or the error message (naming the key).
QString setupFromConfig(Startup::Role role, const Config &config, Startup &out);

class Launcher : public QObject
{
    Q_OBJECT

public:
    explicit Launcher(LogModel *log, QObject *parent = nullptr);
    ~Launcher() override;

    // Makes, shows and starts the window of `startup`.
    void launch(const Startup &startup);
    QMainWindow *window() const { return m_window.get(); }
    // The start dialog while it is open (changeSettings()), or null.
    StartupDialog *dialog() const { return m_dialog; }
    void changeSettings();

Q_SIGNALS:
    // The operator quit the window (gui/windowlifecycle.h): the application should end.
    void quitConfirmed();
    // A new window replaced the one whose settings were changed.
    void windowReplaced(QMainWindow *window);

private:
    LogModel *m_log;
    Startup m_startup;
    std::unique_ptr<QMainWindow> m_window;
    QPointer<StartupDialog> m_dialog;
};

} // namespace isocket::gui
