// `isocket receive`: the DRMS side. Stores the files EDs send under the receive root until
// SIGINT or SIGTERM; SIGHUP reloads (reloadReceive()). Under systemd (Type=notify) it says
// READY=1 once it listens, its headline in STATUS=, and feeds the watchdog from the event loops
// of its I/O threads.

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/servicenotifier.h"
#include "cli/unixsignals.h"
#include "core/logging.h"
#include "core/receiver.h"
#include "core/tls.h"

#include <cstdio>

#include <QCoreApplication>
#include <QDir>
#include <QHostAddress>
#include <QTimer>

namespace isocket::cli {

namespace {

QString hostPort(const QHostAddress &address, quint16 port)
{
    const QString host = address.protocol() == QAbstractSocket::IPv6Protocol
                             ? QLatin1Char('[') + address.toString() + QLatin1Char(']')
                             : address.toString();
    return host + QLatin1Char(':') + QString::number(port);
}

// The receiver's one-line health headline (systemd STATUS=, `systemctl status`).
QString receiveHeadline(const Receiver &receiver, int stored, int failed)
{
    return QStringLiteral("listening %1; %2 connection(s), %3 file(s) stored, %4 failed, %5 "
                          "authentication failure(s)")
        .arg(hostPort(receiver.serverAddress(), receiver.serverPort()))
        .arg(receiver.connectionCount())
        .arg(stored)
        .arg(failed)
        .arg(receiver.authFailureCount());
}

// SIGHUP (systemctl reload, logrotate): the one place a reload does its work. Reads the
// configuration file and the options again, then the secret file, and reopens the log file (a
// rotated log starts anew at its path). On an error the running settings stay, and the error is
// logged; what only a restart can change is named in a warning.
bool reloadReceive(const CommandLine &cl, Config &running, Receiver &receiver)
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
            << receiver.serverAddress().toString() << "is not a loopback address";
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
                 {"receive.peers", next.peersFile != running.peersFile}});
    // With TLS, the EDs' keys (receive.peers); the old list stays when the file is broken.
    (void)receiver.reloadPeers();
    running.secretFile = next.secretFile;
    running.logFile = next.logFile;
    qCInfo(lcCli) << "reloaded: secret file and log file read again";
    return true;
}

} // namespace

int runReceive(const QStringList &args)
{
    const QString command = QStringLiteral("receive");
    CommandLine cl(command,
                   QStringLiteral("Receive files from edge devices and store them under "
                                  "<root>/<source>/<dbtag>/<path>, verified and durable. Runs "
                                  "until SIGINT or SIGTERM; SIGHUP re-reads the configuration "
                                  "and the secret file and reopens the log file. Prints "
                                  "'listening ADDR:PORT' once ready."),
                   {QStringLiteral("receive"), QStringLiteral("general")});
    if (const int rc = cl.parse(args); rc >= 0)
        return rc;
    Config &config = cl.config();

    QHostAddress address;
    if (config.listenHost == QLatin1String("localhost"))
        address = QHostAddress(QHostAddress::LocalHost);
    else if (!address.setAddress(config.listenHost)) {
        printError(command, config.keyMessage(QStringLiteral("receive.listen"),
                                              QStringLiteral("'%1' is not an IP address")
                                                  .arg(config.listenHost)));
        return ExitUsage;
    }
    auto secret = readSecretFile(config.secretFile);
    if (!secret) {
        printError(command, secret.error().message);
        return ExitUsage;
    }
    auto transport = transportFromConfig(config, Side::Receiver);
    if (!transport) {
        printError(command, transport.error().message);
        return ExitUsage;
    }

    if (!QDir().mkpath(config.receiveRoot)) {
        printError(command,
                   QStringLiteral("cannot create the receive root %1").arg(config.receiveRoot));
        return ExitFailure;
    }
    ReceiverOptions options{config.receiveRoot, secret.value(), config.reserveBytes,
                            config.syncPerFile ? CommitSync::PerFile : CommitSync::Auto,
                            config.receiveThreads, config.partialMaxAgeSecs};
    options.arrival = config.arrivalByLink ? CommitArrival::Link : CommitArrival::Rename;
    options.tls = transport.value().tls;
    options.plainOptIn = transport.value().plainOptIn;
    options.peersFile = config.peersFile;
    Receiver receiver(options);
    // Before "listening": from then on a SIGHUP reloads, it never kills.
    UnixSignals signals_;
    if (!receiver.listen(address, config.listenPort)) {
        printError(command, receiver.errorString());
        // What the configuration asked for cannot work (TLS without its peers, plain TCP off
        // this machine without the opt-in): a usage error, as for a bad value.
        return receiver.errorCode() == ErrorCode::ConfigError ? ExitUsage : ExitFailure;
    }
    std::printf("listening %s\n",
                qPrintable(hostPort(receiver.serverAddress(), receiver.serverPort())));
    std::fflush(stdout);

    ServiceNotifier service;
    int stored = 0;
    int failed = 0;
    QTimer statusTimer; // STATUS= at most once a second, and only when it changed
    if (service.isActive()) {
        QObject::connect(&receiver, &Receiver::fileStored, &service, [&stored] { ++stored; });
        QObject::connect(&receiver, &Receiver::fileFailed, &service, [&failed] { ++failed; });
        QObject::connect(&statusTimer, &QTimer::timeout, &service,
                         [&] { service.setStatus(receiveHeadline(receiver, stored, failed)); });
        statusTimer.start(1000);
    }
    // The watchdog is fed only when every I/O thread's event loop turns, not just ours.
    service.setWatchdogProbe(
        [&receiver](std::function<void()> alive) { receiver.probeIoThreads(std::move(alive)); });

    QObject::connect(&signals_, &UnixSignals::terminationRequested, &receiver,
                     [&receiver, &service](int number) {
                         qCInfo(lcCli) << "stopping on signal" << number;
                         service.stopping();
                         receiver.close();
                         QCoreApplication::quit();
                     });
    QObject::connect(&signals_, &UnixSignals::reloadRequested, &receiver, [&] {
        service.reloading();
        reloadReceive(cl, config, receiver);
        service.reloaded(receiveHeadline(receiver, stored, failed));
    });
    service.ready(receiveHeadline(receiver, stored, failed));
    QCoreApplication::exec();
    return ExitOk;
}

} // namespace isocket::cli
