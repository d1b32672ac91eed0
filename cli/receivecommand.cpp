// `isocket receive`: the DRMS side. Stores the files EDs send under the receive root until
// SIGINT or SIGTERM; SIGHUP reloads (reloadReceive()). Under systemd (Type=notify) it says
// READY=1 once it listens, its headline in STATUS=, and feeds the watchdog from the event loops
// of its I/O threads.

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/servicenotifier.h"
#include "cli/statusfaces.h"
#include "cli/unixsignals.h"
#include "core/logging.h"
#include "core/metricstext.h"
#include "core/receiverservice.h"
#include "core/secret.h"
#include "core/statusjson.h"

#include <cstdio>

#include <QCoreApplication>
#include <QTimer>

namespace isocket::cli {

namespace {

// The receiver's one-line health headline (systemd STATUS=, `systemctl status`).
QString receiveHeadline(const ReceiverStatus &status)
{
    return QStringLiteral("listening %1; %2 connection(s), %3 file(s) stored, %4 failed, %5 "
                          "authentication failure(s)")
        .arg(status.address)
        .arg(status.connections)
        .arg(status.stored)
        .arg(status.failed)
        .arg(status.authFailures);
}

// SIGHUP (systemctl reload, logrotate): the one place a reload does its work. Reads the
// configuration file and the options again, then the secret file, and reopens the log file (a
// rotated log starts anew at its path). On an error the running settings stay, and the error is
// logged; what only a restart can change is named in a warning.
bool reloadReceive(const CommandLine &cl, Config &running, ReceiverService &receiver)
{
    qCInfo(lcCli) << "reloading the configuration";
    auto config = cl.reread();
    if (!config) {
        qCCritical(lcCli).noquote()
            << "reload failed, the running settings stay:" << config.error().message;
        return false;
    }
    const Config &next = config.value();
    auto secret = readSecretFile(next.secretFile);
    if (!secret) {
        qCCritical(lcCli).noquote()
            << "reload failed, the running settings stay:" << secret.error().message;
        return false;
    }
    if (!receiver.setSecret(secret.value())) {
        qCCritical(lcCli).noquote()
            << "reload failed, the running settings stay: no shared secret, and"
            << receiver.setup().address.toString() << "is not a loopback address";
        return false;
    }
    applyReload(next, running,
                {{"receive.listen",
                  next.listenHost != running.listenHost || next.listenPort != running.listenPort},
                 {"receive.root", next.receiveRoot != running.receiveRoot},
                 {"receive.reserve", next.reserveBytes != running.reserveBytes},
                 {"receive.sync", next.syncPerFile != running.syncPerFile},
                 {"receive.arrival", next.arrivalByLink != running.arrivalByLink},
                 {"receive.threads", next.receiveThreads != running.receiveThreads},
                 {"receive.partial_max_age", next.partialMaxAgeSecs != running.partialMaxAgeSecs},
                 {"receive.peers", next.peersFile != running.peersFile},
                 {"receive.monitor_secret_file",
                  next.monitorSecretFile != running.monitorSecretFile}});
    // With TLS, the EDs' keys (receive.peers); the old list stays when the file is broken.
    (void)receiver.reloadPeers();
    running.secretFile = next.secretFile;
    running.logFile = next.logFile;
    qCInfo(lcCli) << "reloaded: secret file and log file read again";
    return true;
}

// The command line of `isocket receive`.
struct ReceiveCommandLine : CommandLine
{
    ReceiveCommandLine()
        : CommandLine(QStringLiteral("receive"),
                      QStringLiteral("Receive files from edge devices and store them under "
                                     "<root>/<source>/<dbtag>/<path>, verified and durable. Runs "
                                     "until SIGINT or SIGTERM; SIGHUP re-reads the configuration "
                                     "and the secret file and reopens the log file. Prints "
                                     "'listening ADDR:PORT' once ready."),
                      {QStringLiteral("receive"), QStringLiteral("general"),
                       QStringLiteral("status")})
    {
    }
};

// The parse and the mapping (ReceiverSetup::fromConfig()): -1 with `setup` to go on, else the
// exit code, with the help or the error printed.
int prepareReceive(CommandLine &cl, const QStringList &args, ReceiverSetup &setup)
{
    if (const int rc = parse(cl, args); rc >= 0)
        return rc;
    auto mapped = ReceiverSetup::fromConfig(cl.config());
    if (!mapped) {
        printError(cl.command(), mapped.error().message);
        return ExitUsage;
    }
    setup = std::move(mapped).value();
    return -1;
}

} // namespace

Result<ReceiverSetup> receiveSetup(const QStringList &args)
{
    ReceiveCommandLine cl;
    ReceiverSetup setup;
    if (const int rc = prepareReceive(cl, args, setup); rc >= 0)
        return Error{ErrorCode::UsageError,
                     QStringLiteral("isocket receive exits with %1").arg(rc)};
    return setup;
}

int runReceive(const QStringList &args)
{
    ReceiveCommandLine cl;
    const QString command = cl.command();
    ReceiverSetup setup;
    if (const int rc = prepareReceive(cl, args, setup); rc >= 0)
        return rc;
    Config &config = cl.config();
    ReceiverService receiver(std::move(setup), ReceiverService::Threading::CallerThread);
    // Before "listening": from then on a SIGHUP reloads, it never kills.
    UnixSignals signals_;
    receiver.start();
    const ReceiverStatus started = receiver.status();
    if (started.run != ReceiverStatus::Run::Listening) {
        printError(command, started.error);
        // What the configuration asked for cannot work (TLS without its peers, plain TCP off
        // this machine without the opt-in): a usage error, as for a bad value.
        return started.errorCode == ErrorCode::ConfigError ? ExitUsage : ExitFailure;
    }
    std::printf("listening %s\n", qPrintable(started.address));
    std::fflush(stdout);
    // `isocket status` asks the control socket; /metrics when asked for. The fleet: every ED
    // ever seen (the receiver's fleet registry).
    StatusFaces faces;
    auto fleet = [&receiver] { return receiver.fleet(); };
    if (!startStatusFaces(
            config, Role::Receiver, command,
            [&receiver, fleet] {
                return receiverStatusJson(receiver.status(), fleet(),
                                          QDateTime::currentDateTimeUtc());
            },
            [&receiver, fleet] {
                return receiverMetrics(receiver.status(), fleet(),
                                       QDateTime::currentDateTimeUtc());
            },
            faces))
        return ExitFailure;

    ServiceNotifier service;
    QTimer statusTimer; // STATUS= at most once a second, and only when it changed
    if (service.isActive()) {
        QObject::connect(&statusTimer, &QTimer::timeout, &service,
                         [&] { service.setStatus(receiveHeadline(receiver.status())); });
        statusTimer.start(1000);
    }
    // The watchdog is fed only when every I/O thread's event loop turns, not just ours.
    service.setWatchdogProbe(
        [&receiver](std::function<void()> alive) { receiver.probeIoThreads(std::move(alive)); });

    QObject::connect(&signals_, &UnixSignals::terminationRequested, &receiver,
                     [&service](int number) {
                         qCInfo(lcCli) << "stopping on signal" << number;
                         service.stopping();
                         QCoreApplication::quit();
                     });
    QObject::connect(&signals_, &UnixSignals::reloadRequested, &receiver, [&] {
        service.reloading();
        reloadReceive(cl, config, receiver);
        service.reloaded(receiveHeadline(receiver.status()));
    });
    service.ready(receiveHeadline(receiver.status()));
    QCoreApplication::exec();
    return ExitOk;
}

} // namespace isocket::cli
