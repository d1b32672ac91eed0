// `isocket send`: the ED daemon (or one pass with --once) that ships every completed file.
// SIGHUP reloads (reloadSend()). Under systemd (Type=notify) it says READY=1 once it watches,
// its headline in STATUS=, and feeds the watchdog from the engine's event loop.

#include "cli/cli.h"
#include "cli/options.h"
#include "cli/servicenotifier.h"
#include "cli/statusfaces.h"
#include "cli/unixsignals.h"
#include "core/edagent.h"
#include "core/fsname.h"
#include "core/logging.h"
#include "core/metricstext.h"
#include "core/secret.h"
#include "core/statusjson.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QHash>
#include <QTimer>

#include <cstdio>

namespace isocket::cli {

namespace {

// The sender's one-line health headline (systemd STATUS=, `systemctl status`).
QString sendHeadline(const EdStatus &status, qsizetype marked)
{
    return QStringLiteral("sending %1 to %2; %3 queued, %4 sent, %5 failed")
        .arg(status.root, status.receiver)
        .arg(status.queued)
        .arg(marked)
        .arg(status.failed);
}

// SIGHUP (systemctl reload, logrotate): the one place a reload does its work. Reads the
// configuration file and the options again, checks the secret file (each connection attempt
// reads it anyway) and reopens the log file (a rotated log starts anew at its path). On an
// error the running settings stay, and the error is logged; what only a restart can change is
// named in a warning. send.bwlimit applies at once (EdAgent::setBandwidthLimit(), as the
// window's settings dialog applies it).
bool reloadSend(const CommandLine &cl, Config &running, EdAgent &agent)
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
                 {"send.receiver_fingerprint",
                  next.receiverFingerprint != running.receiverFingerprint}});
    if (next.bwlimit != running.bwlimit) {
        agent.setBandwidthLimit(next.bwlimit);
        running.bwlimit = next.bwlimit;
        qCInfo(lcCli).noquote() << "send.bwlimit is now" << next.bwlimit
                                << "bytes per second (0: no limit)";
    }
    running.logFile = next.logFile;
    qCInfo(lcCli) << "reloaded: secret file and log file read again";
    return true;
}

// The command line of `isocket send`.
struct SendCommandLine : CommandLine
{
    SendCommandLine()
        : CommandLine(
              QStringLiteral("send"),
              QStringLiteral(
                  "Send every completed data file of the data root to the receiver, mark each "
                  "one (g+w) once the receiver stored it durably, and write finished.watch "
                  "into a dbtag once the receiver confirmed it complete. Runs until stopped "
                  "(SIGINT/SIGTERM), watching the live dbtag; SIGHUP re-reads the "
                  "configuration and the secret file and reopens the log file. --once sends "
                  "what is there and exits."),
              {QStringLiteral("data"), QStringLiteral("send"), QStringLiteral("general"),
               QStringLiteral("status")})
    {
        parser().addOption({QStringLiteral("to"),
                            QStringLiteral("receiver address, shorthand for --server and --port; "
                                           "several receivers: a list (\"a:1, b:2\") or --to "
                                           "again; the connections spread over them and move "
                                           "to another when one is down"),
                            QStringLiteral("HOST:PORT")});
        parser().addOption({QStringLiteral("once"),
                            QStringLiteral("send everything unsent now (the live dbtag too), then "
                                           "exit: 0 when all went, 1 otherwise")});
    }
};

// The parse and the mapping (EdAgentSetup::fromConfig()): -1 with `setup` to go on, else the
// exit code, with the help or the error printed.
int prepareSend(CommandLine &cl, const QStringList &args, EdAgentSetup &setup)
{
    if (const int rc = parse(cl, args); rc >= 0)
        return rc;
    if (auto to = cl.applyTo(); !to) {
        printError(cl.command(), to.error().message);
        return ExitUsage;
    }
    const bool once = cl.isSet(QStringLiteral("once"));
    // A daemon in the field does not stop for an unreadable secret file: each connection reads
    // it again, so fixing it is enough (the connections say what is wrong until then).
    auto mapped = EdAgentSetup::fromConfig(cl.config(), {once, once});
    if (!mapped) {
        printError(cl.command(), mapped.error().message);
        return ExitUsage;
    }
    setup = std::move(mapped).value();
    return -1;
}

} // namespace

Result<EdAgentSetup> sendSetup(const QStringList &args)
{
    SendCommandLine cl;
    EdAgentSetup setup;
    if (const int rc = prepareSend(cl, args, setup); rc >= 0)
        return Error{ErrorCode::UsageError, QStringLiteral("isocket send exits with %1").arg(rc)};
    return setup;
}

int runSend(const QStringList &args)
{
    SendCommandLine cl;
    EdAgentSetup setup;
    if (const int rc = prepareSend(cl, args, setup); rc >= 0)
        return rc;
    Config &config = cl.config();
    const bool once = cl.isSet(QStringLiteral("once"));
    EdAgent agent(std::move(setup), EdAgent::Threading::CallerThread);

    int exitCode = ExitOk;
    // The summary counts files, not attempts: each file delivered and marked once, with the
    // size of the version marked last (a version that changed while it was read is not marked,
    // and the file is counted when its new version is).
    // Keyed by a 64-bit hash of (dbtag, path), not by the path: a daemon keeps an entry for every
    // file it ever marked (100,000 files: 5 MiB less at the peak, bench queue).
    QHash<size_t, qint64> marked; // hash of (dbtag, path) → size
    EdCounters counters;           // every file marked, for the status and the metrics
    QElapsedTimer clock;
    clock.start();
    QObject::connect(&agent, &EdAgent::filesChanged, &agent,
                     [&](const QList<FileUpdate> &updates) {
                         for (const FileUpdate &u : updates) {
                             if (u.kind != FileUpdate::Kind::Marked)
                                 continue;
                             marked.insert(qHashMulti(QHashSeed::globalSeed(), u.ticket.dbtag,
                                                      u.ticket.relPath),
                                           u.size);
                             ++counters.filesSent;
                             counters.bytesSent += u.size;
                         }
                     });
    auto quit = [&](int code) {
        exitCode = code;
        QCoreApplication::exit(code);
    };
    ServiceNotifier service;
    QTimer statusTimer; // STATUS= at most once a second, and only when it changed
    if (service.isActive()) {
        QObject::connect(&statusTimer, &QTimer::timeout, &service,
                         [&] { service.setStatus(sendHeadline(agent.status(), marked.size())); });
        statusTimer.start(1000);
    }
    UnixSignals signals_;
    QObject::connect(&signals_, &UnixSignals::reloadRequested, &signals_, [&] {
        service.reloading();
        reloadSend(cl, config, agent);
        service.reloaded(sendHeadline(agent.status(), marked.size()));
    });
    QObject::connect(&signals_, &UnixSignals::terminationRequested, &signals_, [&](int number) {
        qCInfo(lcCli) << "stopping on signal" << number;
        service.stopping();
        // A daemon asked to stop did its job; one pass that was cut short did not.
        quit(once && !agent.status().idle ? ExitFailure : ExitOk);
    });
    auto onIdle = [&](const EdStatus &status) {
        if (!once)
            return;
        // One pass has no close event to wait for: a file a writer still holds open stays
        // unsent, and the pass did not send everything.
        for (const QString &path : status.heldOpen)
            printError(
                QStringLiteral("send"),
                QStringLiteral("%1 is still open for writing; not sent").arg(displayName(path)));
        if (status.failed > 0) {
            printError(QStringLiteral("send"),
                       QStringLiteral("%1 file(s) or dbtag(s) could not be sent; see the log")
                           .arg(status.failed));
            quit(ExitFailure);
        } else if (!status.heldOpen.isEmpty()) {
            quit(ExitFailure);
        } else {
            quit(ExitOk);
        }
    };
    EdStatus seen;
    QObject::connect(&agent, &EdAgent::statusChanged, &agent, [&](const EdStatus &status) {
        if (status.unreliableCount > seen.unreliableCount)
            qCCritical(lcCli).noquote() << status.unreliable;
        const bool fatal = status.fatalCount > seen.fatalCount;
        const bool becameIdle = status.idleCount > seen.idleCount && status.idle;
        seen = status;
        if (fatal) {
            printError(QStringLiteral("send"), status.fatal);
            quit(ExitFailure);
        } else if (becameIdle) {
            onIdle(status);
        }
    });

    agent.start();
    const EdStatus started = agent.status();
    seen = started;
    if (started.run != EdStatus::Run::Running) {
        printError(QStringLiteral("send"), started.error);
        return ExitFailure;
    }
    qCInfo(lcCli).noquote() << "sending" << started.root << "to"
                            << receiverListText(config.receivers())
                            << "as" << started.source << (once ? "(once)" : "");
    // The daemon answers `isocket status` and, when asked, serves /metrics; one pass does not.
    StatusFaces faces;
    if (!once
        && !startStatusFaces(
            config, Role::Ed, cl.command(),
            [&agent, &counters] { return edStatusJson(agent.status(), counters); },
            [&agent, &counters] { return edMetrics(agent.status(), counters); }, faces)) {
        agent.stop();
        return ExitFailure;
    }
    // The engine's event loop is this thread's: the watchdog's timer ticks in it.
    service.ready(sendHeadline(started, marked.size()));
    if (once && started.idle)
        onIdle(started);
    else
        QCoreApplication::exec();

    agent.stop();
    const int finished = agent.status().dbtagsFinished;
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
