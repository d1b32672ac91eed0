// `isocket receive`: the DRMS side. Stores the files EDs send under the receive root until
// SIGINT or SIGTERM.

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/unixsignals.h"
#include "core/logging.h"
#include "core/receiver.h"
#include "core/tls.h"

#include <cstdio>

#include <QCoreApplication>
#include <QDir>
#include <QHostAddress>

namespace isocket::cli {

namespace {

QString hostPort(const QHostAddress &address, quint16 port)
{
    const QString host = address.protocol() == QAbstractSocket::IPv6Protocol
                             ? QLatin1Char('[') + address.toString() + QLatin1Char(']')
                             : address.toString();
    return host + QLatin1Char(':') + QString::number(port);
}

} // namespace

int runReceive(const QStringList &args)
{
    const QString command = QStringLiteral("receive");
    CommandLine cl(command,
                   QStringLiteral("Receive files from edge devices and store them under "
                                  "<root>/<source>/<dbtag>/<path>, verified and durable. Runs "
                                  "until SIGINT or SIGTERM. Prints 'listening ADDR:PORT' once "
                                  "ready."),
                   {QStringLiteral("receive"), QStringLiteral("general")});
    if (const int rc = cl.parse(args); rc >= 0)
        return rc;
    const Config &config = cl.config();

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

    QObject::connect(&signals_, &UnixSignals::terminationRequested, &receiver, [&receiver](int number) {
        qCInfo(lcCli) << "stopping on signal" << number;
        receiver.close();
        QCoreApplication::quit();
    });
    QObject::connect(&signals_, &UnixSignals::reloadRequested, &receiver,
                     [&receiver] { (void)receiver.reloadPeers(); });
    QCoreApplication::exec();
    return ExitOk;
}

} // namespace isocket::cli
