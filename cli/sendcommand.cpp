// `isocket send`: the ED daemon (or one pass with --once) that ships every completed file.
// SIGHUP reloads (reloadSend()). Under systemd (Type=notify) it says READY=1 once it watches,
// its headline in STATUS=, and feeds the watchdog from the engine's event loop.

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/servicenotifier.h"
#include "cli/unixsignals.h"
#include "core/edengine.h"
#include "core/fsname.h"
#include "core/logging.h"
#include "core/sender.h"
#include "core/tls.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QHash>
#include <QTimer>

#include <cstdio>

namespace isocket::cli {

namespace {

// The sender's one-line health headline (systemd STATUS=, `systemctl status`).
QString sendHeadline(const EdEngine &engine, const Config &config, qsizetype marked)
{
    return QStringLiteral("sending %1 to %2:%3; %4 queued, %5 sent, %6 failed")
        .arg(engine.scanOptions().root, config.server)
        .arg(config.port)
        .arg(engine.queuedCount())
        .arg(marked)
        .arg(engine.failedCount());
}

// SIGHUP (systemctl reload, logrotate): the one place a reload does its work. Reads the
// configuration file and the options again, checks the secret file (each connection attempt
// reads it anyway) and reopens the log file (a rotated log starts anew at its path). On an
// error the running settings stay, and the error is logged; what only a restart can change is
// named in a warning.
bool reloadSend(const CommandLine &cl, Config &running)
{
    qCInfo(lcCli) << "reloading the configuration";
    auto config = cl.reread();
    if (!config) {
        qCCritical(lcCli).noquote()
            << "reload failed, the running settings stay:" << config.error().message;
        return false;
    }
    const Config &next = config.value();
    if (auto secret = readSecretFile(next.secretFile); !secret)
        qCCritical(lcCli).noquote()
            << secret.error().message << "; read again before each connection attempt";
    applyReload(next, running,
                {{"general.secret_file", next.secretFile != running.secretFile},
                 {"data.root", next.dataRoot != running.dataRoot},
                 {"data.prefix", next.prefix != running.prefix},
                 {"data.done_parse", next.doneParse != running.doneParse},
                 {"data.done_watch", next.doneWatch != running.doneWatch},
                 {"data.settle", next.settleMs != running.settleMs},
                 {"send.server", next.server != running.server},
                 {"send.port", next.port != running.port},
                 {"send.source", next.source != running.source},
                 {"send.jobs", next.jobs != running.jobs},
                 {"send.window", next.window != running.window},
                 {"send.retry_interval", next.retryIntervalMs != running.retryIntervalMs},
                 {"send.retry_max", next.retryMaxMs != running.retryMaxMs},
                 {"send.bwlimit", next.bwlimit != running.bwlimit},
                 {"send.receiver_fingerprint",
                  next.receiverFingerprint != running.receiverFingerprint}});
    running.logFile = next.logFile;
    qCInfo(lcCli) << "reloaded: secret file and log file read again";
    return true;
}

} // namespace

int runSend(const QStringList &args)
{
    CommandLine cl(
        QStringLiteral("send"),
        QStringLiteral("Send every completed data file of the data root to the receiver, mark each "
                       "one (g+w) once the receiver stored it durably, and write finished.watch "
                       "into a dbtag once the receiver confirmed it complete. Runs until stopped "
                       "(SIGINT/SIGTERM), watching the live dbtag; SIGHUP re-reads the "
                       "configuration and the secret file and reopens the log file. --once sends "
                       "what is there and exits."),
        {QStringLiteral("data"), QStringLiteral("send"), QStringLiteral("general")});
    cl.parser().addOption({QStringLiteral("to"),
                           QStringLiteral("receiver address, shorthand for --server and --port"),
                           QStringLiteral("HOST:PORT")});
    cl.parser().addOption({QStringLiteral("once"),
                           QStringLiteral("send everything unsent now (the live dbtag too), then "
                                          "exit: 0 when all went, 1 otherwise")});
    if (const int rc = cl.parse(args); rc >= 0)
        return rc;
    Config &config = cl.config();
    if (cl.isSet(QStringLiteral("to"))) {
        auto hp = parseHostPort(cl.parser().value(QStringLiteral("to")), QStringLiteral("--to"));
        if (!hp || hp.value().second == 0) {
            printError(QStringLiteral("send"),
                       hp ? QStringLiteral("--to: port 0 is not a receiver port") : hp.error().message);
            return ExitUsage;
        }
        config.server = hp.value().first;
        config.port = hp.value().second;
    }
    const QString source = config.effectiveSource();
    if (auto r = validateName(source, QStringLiteral("source name")); !r) {
        printError(QStringLiteral("send"), r.error().message + QStringLiteral(" (set --source)"));
        return ExitUsage;
    }
    const bool once = cl.isSet(QStringLiteral("once"));
    auto transport = transportFromConfig(config, Side::Sender);
    if (!transport) {
        printError(QStringLiteral("send"), transport.error().message);
        return ExitUsage;
    }
    if (!transport.value().tls && transport.value().plainOptIn)
        qCWarning(lcCli).noquote() << "plain TCP to" << config.server
                                   << "(general.transport = plain): the data travels unencrypted, "
                                      "and the shared secret is the only proof of the receiver";
    auto secret = readSecretFile(config.secretFile);
    if (!secret && once) {
        printError(QStringLiteral("send"), secret.error().message);
        return ExitUsage;
    }
    // A daemon in the field does not stop for it: each connection reads the file again, so
    // fixing it is enough (the connections say what is wrong until then).
    if (!secret)
        qCCritical(lcCli).noquote() << secret.error().message
                                    << "; read again before each connection attempt";

    EngineOptions engineOptions;
    engineOptions.watch = !once;
    engineOptions.settleMs = config.settleMs;
    engineOptions.retryIntervalMs = config.retryIntervalMs;
    engineOptions.retryMaxMs = config.retryMaxMs;
    engineOptions.maxAttempts = once ? 5 : 0; // one pass must end
    EdEngine engine(ScanOptions{config.dataRoot, config.prefix, config.doneParse, config.doneWatch},
                    engineOptions);

    SenderOptions senderOptions;
    senderOptions.host = config.server;
    senderOptions.port = config.port;
    senderOptions.source = source;
    senderOptions.secret = secret ? secret.value() : QByteArray();
    senderOptions.secretFile = config.secretFile;
    senderOptions.jobs = config.jobs;
    senderOptions.window = config.window;
    senderOptions.retryIntervalMs = config.retryIntervalMs;
    senderOptions.retryMaxMs = config.retryMaxMs;
    senderOptions.maxConnectAttempts = once ? 5 : 0;
    senderOptions.bwlimit = config.bwlimit / qMax(1, config.jobs);
    senderOptions.tls = transport.value().tls;
    senderOptions.receiverFingerprints = transport.value().receiverFingerprints;
    Sender sender(&engine, senderOptions);

    int exitCode = ExitOk;
    // The summary counts files, not attempts: each file delivered and marked once, with the
    // size of the version marked last (a version that changed while it was read is not marked,
    // and the file is counted when its new version is).
    QHash<QString, qint64> marked; // dbtag/path → size
    int finished = 0;
    QElapsedTimer clock;
    clock.start();
    QObject::connect(&engine, &EdEngine::fileMarked, &engine, [&](const FileTicket &t) {
        marked.insert(t.dbtag + QLatin1Char('/') + t.relPath, t.stamp.size);
    });
    QObject::connect(&engine, &EdEngine::dbtagFinished, &engine, [&] { ++finished; });
    QObject::connect(&engine, &EdEngine::watcherUnreliable, &engine,
                     [](const QString &reason) { qCCritical(lcCli).noquote() << reason; });
    auto quit = [&](int code) {
        exitCode = code;
        QCoreApplication::exit(code);
    };
    QObject::connect(&sender, &Sender::permanentError, &sender, [&](const Error &error) {
        printError(QStringLiteral("send"), error.toString());
        quit(ExitFailure);
    });
    ServiceNotifier service;
    QTimer statusTimer; // STATUS= at most once a second, and only when it changed
    if (service.isActive()) {
        QObject::connect(&statusTimer, &QTimer::timeout, &service,
                         [&] { service.setStatus(sendHeadline(engine, config, marked.size())); });
        statusTimer.start(1000);
    }
    UnixSignals signals_;
    QObject::connect(&signals_, &UnixSignals::reloadRequested, &signals_, [&] {
        service.reloading();
        reloadSend(cl, config);
        service.reloaded(sendHeadline(engine, config, marked.size()));
    });
    QObject::connect(&signals_, &UnixSignals::terminationRequested, &signals_, [&](int number) {
        qCInfo(lcCli) << "stopping on signal" << number;
        service.stopping();
        // A daemon asked to stop did its job; one pass that was cut short did not.
        quit(once && !engine.isIdle() ? ExitFailure : ExitOk);
    });
    auto onIdle = [&] {
        if (!once)
            return;
        const int failed = engine.failedCount();
        // One pass has no close event to wait for: a file a writer still holds open stays
        // unsent, and the pass did not send everything.
        const QStringList heldOpen = engine.filesHeldOpen();
        for (const QString &path : heldOpen)
            printError(
                QStringLiteral("send"),
                QStringLiteral("%1 is still open for writing; not sent").arg(displayName(path)));
        if (failed > 0) {
            printError(QStringLiteral("send"),
                       QStringLiteral("%1 file(s) or dbtag(s) could not be sent; see the log").arg(failed));
            quit(ExitFailure);
        } else if (!heldOpen.isEmpty()) {
            quit(ExitFailure);
        } else {
            quit(ExitOk);
        }
    };
    QObject::connect(&engine, &EdEngine::idle, &engine, onIdle);

    if (!engine.start()) {
        printError(QStringLiteral("send"), engine.errorString());
        return ExitFailure;
    }
    qCInfo(lcCli).noquote() << "sending" << engine.scanOptions().root << "to"
                            << config.server + QLatin1Char(':') + QString::number(config.port)
                            << "as" << source << (once ? "(once)" : "");
    sender.start();
    // The engine's event loop is this thread's: the watchdog's timer ticks in it.
    service.ready(sendHeadline(engine, config, marked.size()));
    if (once && engine.isIdle())
        onIdle();
    else
        QCoreApplication::exec();

    sender.stop();
    const auto files = marked.size();
    qint64 bytes = 0;
    for (const qint64 size : std::as_const(marked))
        bytes += size;
    if (once || exitCode == ExitOk)
        std::printf("sent %lld file(s), %lld bytes in %.1f s; %d dbtag(s) finished\n",
                    static_cast<long long>(files), static_cast<long long>(bytes),
                    clock.elapsed() / 1000.0, finished);
    return exitCode;
}

} // namespace isocket::cli
