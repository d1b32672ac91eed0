#include "gui/startup.h"

#include "core/commandline.h"
#include "core/logging.h"
#include "gui/monitorwindow.h"
#include "gui/receiverwindow.h"
#include "gui/senderwindow.h"
#include "gui/startupdialog.h"
#include "gui/windowlifecycle.h"

#include <QMainWindow>

#include <cstdio>

namespace isocket::gui {

namespace {

const QString Command = QStringLiteral("gui");

// Prints to stderr: "isocket gui: <message>", as the console commands say theirs.
void printError(const QString &message)
{
    std::fprintf(stderr, "isocket %s: %s\n", qPrintable(Command), qPrintable(message));
}

QStringList sectionsFor(const QString &role)
{
    if (role == QLatin1String("sender"))
        return {QStringLiteral("data"), QStringLiteral("send"), QStringLiteral("general")};
    if (role == QLatin1String("receiver"))
        return {QStringLiteral("receive"), QStringLiteral("general")};
    if (role == QLatin1String("monitor")) // the receiver's address is --to
        return {QStringLiteral("general"), QStringLiteral("send.source"),
                QStringLiteral("send.receiver_fingerprint")};
    return {QStringLiteral("general")};
}

// --role decides which options exist (--root is the data root of a sender and the receive
// root of a receiver), so it is looked up before the real parse.
QString prescanRole(const QStringList &args)
{
    for (int i = 1; i < args.size(); ++i) {
        if (args[i] == QLatin1String("--role") && i + 1 < args.size())
            return args[i + 1];
        if (args[i].startsWith(QLatin1String("--role=")))
            return args[i].mid(7);
    }
    return QString();
}

} // namespace

Startup resolveStartup(const QStringList &args)
{
    Startup out;
    const QString role = prescanRole(args);
    if (!role.isEmpty() && role != QLatin1String("sender") && role != QLatin1String("receiver")
        && role != QLatin1String("monitor")) {
        printError(QStringLiteral("--role: '%1' is not sender, receiver or monitor").arg(role));
        out.exitCode = ExitUsage;
        return out;
    }
    CommandLine cl(Command,
                   QStringLiteral("The operator window of isocket: --role sender on an edge "
                                  "device, --role receiver on DRMS, --role monitor on a "
                                  "workstation (the fleet a receiver knows, read-only). Without "
                                  "--role a dialog asks for the role and its settings."),
                   sectionsFor(role));
    cl.parser().addOption({QStringLiteral("role"), QStringLiteral("sender, receiver or monitor"),
                           QStringLiteral("ROLE")});
    if (role == QLatin1String("sender") || role == QLatin1String("monitor"))
        cl.parser().addOption({QStringLiteral("to"),
                               QStringLiteral("receiver address, shorthand for --server and "
                                              "--port; several receivers: a list (\"a:1, b:2\") "
                                              "or --to again; the connections spread over them "
                                              "and move to another when one is down"),
                               QStringLiteral("HOST:PORT")});
    if (const int rc = cl.parse(args); rc >= 0) {
        if (!cl.helpText().isEmpty())
            std::fputs(qPrintable(cl.helpText()), stdout);
        if (!cl.errorText().isEmpty())
            printError(cl.errorText());
        out.exitCode = rc;
        return out;
    }
    if (auto to = cl.applyTo(); !to) {
        printError(to.error().message);
        out.exitCode = ExitUsage;
        return out;
    }
    Config config = cl.config();
    out.configFile = cl.parser().value(QStringLiteral("config"));
    if (out.configFile.isEmpty())
        out.configFile = Config::defaultPath();

    Startup::Role chosen = role == QLatin1String("receiver") ? Startup::Role::Receiver
                           : role == QLatin1String("monitor") ? Startup::Role::Monitor
                                                              : Startup::Role::Sender;
    if (role.isEmpty()) {
        StartupDialog ask(config);
        // The dialog stays open until its answers make a setup (a secret file that cannot be
        // read, TLS keys missing…), saying what is wrong.
        ask.setValidator([](StartupDialog::Role r, const Config &c) {
            Startup probe;
            return setupFromConfig(r == StartupDialog::Role::Receiver ? Startup::Role::Receiver
                                                                     : Startup::Role::Sender,
                                   c, probe);
        });
        if (ask.exec() != QDialog::Accepted) {
            out.exitCode = ExitOk;
            return out;
        }
        config = ask.config();
        chosen = ask.role() == StartupDialog::Role::Receiver ? Startup::Role::Receiver
                                                              : Startup::Role::Sender;
    }
    if (const QString error = setupFromConfig(chosen, config, out); !error.isEmpty()) {
        printError(error);
        out.exitCode = ExitUsage;
    }
    return out;
}

QString setupFromConfig(Startup::Role role, const Config &config, Startup &out)
{
    out.role = role;
    out.config = config;
    if (role == Startup::Role::Sender) {
        auto s = EdAgentSetup::fromConfig(config);
        if (!s)
            return s.error().message;
        out.sender = s.value();
    } else if (role == Startup::Role::Monitor) {
        auto m = MonitorSetup::fromConfig(config);
        if (!m)
            return m.error().message;
        out.monitor = m.value();
    } else {
        auto r = ReceiverSetup::fromConfig(config);
        if (!r)
            return r.error().message;
        out.receiver = r.value();
    }
    return QString();
}

Launcher::Launcher(LogModel *log, QObject *parent) : QObject(parent), m_log(log) {}

Launcher::~Launcher() = default;

void Launcher::launch(const Startup &startup)
{
    m_startup = startup;
    std::unique_ptr<QMainWindow> window;
    if (startup.role == Startup::Role::Sender) {
        auto w = std::make_unique<SenderWindow>(startup.sender, m_log);
        w->setConfigFile(startup.configFile);
        connect(w.get(), &SenderWindow::startSettingsRequested, this, &Launcher::changeSettings);
        connect(w->lifecycle(), &WindowLifecycle::quitConfirmed, this, &Launcher::quitConfirmed);
        w->start();
        window = std::move(w);
    } else if (startup.role == Startup::Role::Monitor) {
        auto w = std::make_unique<MonitorWindow>(startup.monitor, m_log);
        w->start();
        window = std::move(w);
    } else {
        auto w = std::make_unique<ReceiverWindow>(startup.receiver, m_log);
        w->setConfigFile(startup.configFile);
        connect(w.get(), &ReceiverWindow::startSettingsRequested, this, &Launcher::changeSettings);
        connect(w->lifecycle(), &WindowLifecycle::quitConfirmed, this, &Launcher::quitConfirmed);
        w->start();
        window = std::move(w);
    }
    window->show();
    if (m_window) { // replaced: the old one goes once its signal handlers are done
        m_window->hide();
        m_window.release()->deleteLater();
    }
    m_window = std::move(window);
}

void Launcher::changeSettings()
{
    if (m_dialog) {
        m_dialog->raise();
        m_dialog->activateWindow();
        return;
    }
    if (!m_window || m_startup.role == Startup::Role::Monitor)
        return;
    const auto role = m_startup.role == Startup::Role::Receiver ? StartupDialog::Role::Receiver
                                                                 : StartupDialog::Role::Sender;
    // A child of the window it changes: window-modal to it, and gone with it.
    auto *dialog = new StartupDialog(m_startup.config, m_window.get(), role);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    auto next = std::make_shared<Startup>();
    dialog->setValidator([next](StartupDialog::Role r, const Config &c) {
        return setupFromConfig(r == StartupDialog::Role::Receiver ? Startup::Role::Receiver
                                                                 : Startup::Role::Sender,
                               c, *next);
    });
    connect(dialog, &QDialog::accepted, this, [this, next] {
        qCInfo(lcGui) << "starting again with the settings changed in the start dialog";
        launch(*next);
        Q_EMIT windowReplaced(m_window.get());
    });
    m_dialog = dialog;
    dialog->open();
}

} // namespace isocket::gui
