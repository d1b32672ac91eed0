// `isocket receive`: the DRMS side. Stores the files EDs send under the receive root until
// SIGINT or SIGTERM.

#include "cli/cli.h"
#include "cli/options.h"
#include "core/logging.h"
#include "core/receiver.h"

#include <csignal>
#include <cstdio>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <QCoreApplication>
#include <QDir>
#include <QHostAddress>
#include <QSocketNotifier>

namespace isocket::cli {

namespace {

int s_signalPipe[2] = {-1, -1};

void onSignal(int)
{
    const char byte = 1;
    // Async-signal-safe; a full pipe already carries a pending wake-up.
    [[maybe_unused]] const ssize_t n = ::write(s_signalPipe[1], &byte, 1);
}

// Turns SIGINT/SIGTERM into a readable fd for the event loop (the self-pipe trick).
bool installSignalPipe()
{
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, s_signalPipe) != 0)
        return false;
    struct sigaction sa = {};
    sa.sa_handler = onSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    return ::sigaction(SIGINT, &sa, nullptr) == 0 && ::sigaction(SIGTERM, &sa, nullptr) == 0;
}

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
        printError(command,
                   QStringLiteral("--listen: '%1' is not an IP address").arg(config.listenHost));
        return ExitUsage;
    }
    auto secret = readSecretFile(config.secretFile);
    if (!secret) {
        printError(command, secret.error().message);
        return ExitUsage;
    }
    if (secret.value().isEmpty() && !address.isLoopback()) {
        printError(command, QStringLiteral("--listen %1 is not a loopback address: a shared "
                                           "secret is required (--secret-file)")
                                .arg(address.toString()));
        return ExitUsage;
    }

    if (!QDir().mkpath(config.receiveRoot)) {
        printError(command,
                   QStringLiteral("cannot create the receive root %1").arg(config.receiveRoot));
        return ExitFailure;
    }
    if (!installSignalPipe()) {
        printError(command, QStringLiteral("cannot install signal handlers"));
        return ExitFailure;
    }

    Receiver receiver(ReceiverOptions{config.receiveRoot, secret.value(), config.reserveBytes});
    if (!receiver.listen(address, config.listenPort)) {
        printError(command, receiver.errorString());
        return ExitFailure;
    }
    std::printf("listening %s\n",
                qPrintable(hostPort(receiver.serverAddress(), receiver.serverPort())));
    std::fflush(stdout);

    QSocketNotifier notifier(qintptr(s_signalPipe[0]), QSocketNotifier::Read);
    QObject::connect(&notifier, &QSocketNotifier::activated, &receiver, [&receiver, &notifier] {
        char buffer[16];
        while (::read(s_signalPipe[0], buffer, sizeof buffer) > 0) {
        }
        notifier.setEnabled(false);
        qCInfo(lcCli) << "signal received; closing";
        receiver.close();
        QCoreApplication::quit();
    });
    QCoreApplication::exec();
    return ExitOk;
}

} // namespace isocket::cli
