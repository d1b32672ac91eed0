#include "gui/startup.h"

#include "core/commandline.h"
#include "gui/startupdialog.h"

#include <QMessageBox>

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

    bool dialog = false;
    Startup::Role chosen = role == QLatin1String("receiver") ? Startup::Role::Receiver
                           : role == QLatin1String("monitor") ? Startup::Role::Monitor
                                                              : Startup::Role::Sender;
    if (role.isEmpty()) {
        StartupDialog ask(config);
        if (ask.exec() != QDialog::Accepted) {
            out.exitCode = ExitOk;
            return out;
        }
        config = ask.config();
        chosen = ask.role() == StartupDialog::Role::Receiver ? Startup::Role::Receiver
                                                              : Startup::Role::Sender;
        dialog = true;
    }

    auto fail = [&](const QString &message) {
        printError(message);
        if (dialog)
            QMessageBox::critical(nullptr, QStringLiteral("isocket"), message);
        out.exitCode = ExitUsage;
        return out;
    };
    out.role = chosen;
    if (chosen == Startup::Role::Sender) {
        auto s = EdAgentSetup::fromConfig(config);
        if (!s)
            return fail(s.error().message);
        out.sender = s.value();
    } else if (chosen == Startup::Role::Monitor) {
        auto m = MonitorSetup::fromConfig(config);
        if (!m)
            return fail(m.error().message);
        out.monitor = m.value();
    } else {
        auto r = ReceiverSetup::fromConfig(config);
        if (!r)
            return fail(r.error().message);
        out.receiver = r.value();
    }
    return out;
}

} // namespace isocket::gui
