#include "gui/startup.h"

#include "cli/options.h"
#include "core/tls.h"
#include "gui/startupdialog.h"

#include <QMessageBox>

namespace isocket::gui {

namespace {

const QString Command = QStringLiteral("gui");

QStringList sectionsFor(const QString &role)
{
    if (role == QLatin1String("sender"))
        return {QStringLiteral("data"), QStringLiteral("send"), QStringLiteral("general")};
    if (role == QLatin1String("receiver"))
        return {QStringLiteral("receive"), QStringLiteral("general")};
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

Result<SenderSetup> senderSetupFrom(const Config &config, const QByteArray &secret)
{
    const QString source = config.effectiveSource();
    if (auto r = validateName(source, QStringLiteral("source name")); !r)
        return Error{ErrorCode::UsageError, r.error().message + QStringLiteral(" (set --source)")};
    SenderSetup s;
    s.scan = ScanOptions{config.dataRoot, config.prefix, config.doneParse, config.doneWatch};
    s.engine.watch = true;
    s.engine.settleMs = config.settleMs;
    s.engine.retryIntervalMs = config.retryIntervalMs;
    s.engine.retryMaxMs = config.retryMaxMs;
    s.sender.host = config.server;
    s.sender.port = config.port;
    s.sender.source = source;
    s.sender.secret = secret;
    s.sender.secretFile = config.secretFile; // read again before each connection
    s.sender.jobs = config.jobs;
    s.sender.window = config.window;
    s.sender.retryIntervalMs = config.retryIntervalMs;
    s.sender.retryMaxMs = config.retryMaxMs;
    s.sender.bwlimit = config.bwlimit / qMax(1, config.jobs);
    auto transport = transportFromConfig(config, Side::Sender);
    if (!transport)
        return Error{ErrorCode::UsageError, transport.error().message};
    s.sender.tls = transport.value().tls;
    s.sender.receiverFingerprints = transport.value().receiverFingerprints;
    return s;
}

Result<ReceiverSetup> receiverSetupFrom(const Config &config, const QByteArray &secret)
{
    ReceiverSetup s;
    if (config.listenHost == QLatin1String("localhost"))
        s.address = QHostAddress(QHostAddress::LocalHost);
    else if (!s.address.setAddress(config.listenHost))
        return Error{ErrorCode::UsageError,
                     QStringLiteral("--listen: '%1' is not an IP address").arg(config.listenHost)};
    auto transport = transportFromConfig(config, Side::Receiver);
    if (!transport)
        return Error{ErrorCode::UsageError, transport.error().message};
    // Receiver::listen() checks the address against the transport (TLS, or plain with the
    // opt-in and a secret) before it binds, as for the console program.
    s.port = config.listenPort;
    s.options = ReceiverOptions{config.receiveRoot, secret, config.reserveBytes,
                                config.syncPerFile ? CommitSync::PerFile : CommitSync::Auto,
                                config.receiveThreads, config.partialMaxAgeSecs};
    s.options.arrival = config.arrivalByLink ? CommitArrival::Link : CommitArrival::Rename;
    s.options.tls = transport.value().tls;
    s.options.plainOptIn = transport.value().plainOptIn;
    s.options.peersFile = config.peersFile;
    return s;
}

Startup resolveStartup(const QStringList &args)
{
    Startup out;
    const QString role = prescanRole(args);
    if (!role.isEmpty() && role != QLatin1String("sender") && role != QLatin1String("receiver")) {
        cli::printError(Command, QStringLiteral("--role: '%1' is neither sender nor receiver").arg(role));
        out.exitCode = cli::ExitUsage;
        return out;
    }
    cli::CommandLine cl(Command,
                        QStringLiteral("The operator window of isocket: --role sender on an edge "
                                       "device, --role receiver on DRMS. Without --role a dialog "
                                       "asks for the role and its settings."),
                        sectionsFor(role));
    cl.parser().addOption({QStringLiteral("role"), QStringLiteral("sender or receiver"),
                           QStringLiteral("ROLE")});
    if (role == QLatin1String("sender"))
        cl.parser().addOption({QStringLiteral("to"),
                               QStringLiteral("receiver address, shorthand for --server and --port"),
                               QStringLiteral("HOST:PORT")});
    if (const int rc = cl.parse(args); rc >= 0) {
        out.exitCode = rc;
        return out;
    }
    Config config = cl.config();
    if (cl.isSet(QStringLiteral("to"))) {
        auto hp = parseHostPort(cl.parser().value(QStringLiteral("to")), QStringLiteral("--to"));
        if (!hp || hp.value().second == 0) {
            cli::printError(Command, hp ? QStringLiteral("--to: port 0 is not a receiver port")
                                        : hp.error().message);
            out.exitCode = cli::ExitUsage;
            return out;
        }
        config.server = hp.value().first;
        config.port = hp.value().second;
    }

    bool dialog = false;
    Startup::Role chosen = role == QLatin1String("receiver") ? Startup::Role::Receiver
                                                             : Startup::Role::Sender;
    if (role.isEmpty()) {
        StartupDialog ask(config);
        if (ask.exec() != QDialog::Accepted) {
            out.exitCode = cli::ExitOk;
            return out;
        }
        config = ask.config();
        chosen = ask.role() == StartupDialog::Role::Receiver ? Startup::Role::Receiver
                                                              : Startup::Role::Sender;
        dialog = true;
    }

    auto fail = [&](const QString &message) {
        cli::printError(Command, message);
        if (dialog)
            QMessageBox::critical(nullptr, QStringLiteral("isocket"), message);
        out.exitCode = cli::ExitUsage;
        return out;
    };
    auto secret = cli::readSecretFile(config.secretFile);
    if (!secret)
        return fail(secret.error().message);
    out.role = chosen;
    if (chosen == Startup::Role::Sender) {
        auto s = senderSetupFrom(config, secret.value());
        if (!s)
            return fail(s.error().message);
        out.sender = s.value();
    } else {
        auto r = receiverSetupFrom(config, secret.value());
        if (!r)
            return fail(r.error().message);
        out.receiver = r.value();
    }
    return out;
}

} // namespace isocket::gui
