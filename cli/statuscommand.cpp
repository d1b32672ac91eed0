// `isocket status`: asks the running daemon (`isocket send` on an ED, `isocket receive` on DRMS)
// through its control socket (cli/controlsocket.h) how it is; with no daemon it says so and, on
// an ED, reads the disk as `isocket scan` does. Prints the verdict and its reason, then the
// details (on DRMS one line per ED of its fleet), or the JSON of docs/STATUS.md with --json.
// Exit status: 0 when the verdict is ok, 1 otherwise (behind, degraded, failing, no daemon), 2
// for a usage error.

#include "cli/cli.h"
#include "cli/controlsocket.h"
#include "cli/options.h"
#include "core/fsname.h"
#include "core/health.h"
#include "core/logging.h"
#include "core/scanner.h"
#include "core/statusjson.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>

#include <cstdio>
#include <optional>

namespace isocket::cli {

namespace {

constexpr int QueryTimeoutMs = 10000;

QString ageText(qint64 secs)
{
    if (secs < 0)
        return QStringLiteral("-");
    if (secs < 120)
        return QStringLiteral("%1 s").arg(secs);
    if (secs < 2 * 3600)
        return QStringLiteral("%1 min").arg(secs / 60);
    if (secs < 2 * 86400)
        return QStringLiteral("%1 h").arg(secs / 3600);
    return QStringLiteral("%1 d").arg(secs / 86400);
}

QString timeAndAge(const QDateTime &t, const QDateTime &now)
{
    if (!t.isValid())
        return QStringLiteral("-");
    return QStringLiteral("%1 (%2 ago)")
        .arg(t.toLocalTime().toString(QStringLiteral("yyyy-MM-dd HH:mm:ss")),
             ageText(t.secsTo(now)));
}

// The place to name when nobody answers: the first default whose directory exists.
QString expectedPath(const Config &config, Role role)
{
    if (!config.controlSocket.isEmpty())
        return config.controlSocket;
    const QStringList candidates = controlSocketCandidates(role);
    for (const QString &path : candidates)
        if (QFileInfo(path).absoluteDir().exists())
            return path;
    return candidates.constLast();
}

// The ED as the disk shows it, with no daemon to ask: the unsent files of every dbtag.
QJsonObject edFromDisk(const Config &config, const QString &socketPath)
{
    const QDateTime now = QDateTime::currentDateTimeUtc();
    EdHealth h;
    h.at = now;
    h.verdict = Verdict::Failing;
    const QString noDaemon = QStringLiteral("No isocket daemon answers on %1").arg(socketPath);
    Scanner scanner(ScanOptions{config.dataRoot, config.prefix, config.doneParse,
                                config.doneWatch});
    auto result = scanner.scan(true);
    QJsonArray dbtags;
    if (!result) {
        h.localTrouble = result.error().message;
        h.reason = noDaemon + QStringLiteral("; ") + result.error().message;
    } else {
        qint64 oldestNs = 0;
        for (const DbtagInfo &tag : result.value()) {
            dbtags.append(dbtagJson(tag));
            h.dbtagsByState[stateName(tag.state)] += 1;
            if (tag.state == DbtagState::Live)
                h.liveDbtag = displayName(tag.name);
            for (const DataFile &f : tag.files) {
                if (f.sent)
                    continue;
                ++h.backlogFiles;
                h.backlogBytes += f.stamp.size;
                if (oldestNs == 0 || f.stamp.mtimeNs < oldestNs)
                    oldestNs = f.stamp.mtimeNs;
            }
        }
        if (oldestNs != 0)
            h.oldestUnsent = QDateTime::fromMSecsSinceEpoch(oldestNs / 1000000, Qt::UTC);
        h.reason = h.backlogFiles == 0
                       ? noDaemon + QStringLiteral("; nothing unsent on the disk")
                       : noDaemon + QStringLiteral("; %1 file(s), %2 unsent on the disk, the "
                                                   "oldest written %3 ago")
                                        .arg(h.backlogFiles)
                                        .arg(humanBytes(h.backlogBytes),
                                             ageText(h.oldestUnsentAgeSeconds()));
    }
    return QJsonObject{
        {QStringLiteral("schema"), StatusSchemaVersion},
        {QStringLiteral("role"), QStringLiteral("ed")},
        {QStringLiteral("daemon"), false},
        {QStringLiteral("control_socket"), socketPath},
        {QStringLiteral("verdict"), verdictName(h.verdict)},
        {QStringLiteral("reason"), h.reason},
        {QStringLiteral("root"), result ? scanner.options().root : config.dataRoot},
        {QStringLiteral("prefix"), config.prefix},
        {QStringLiteral("health"), h.toJson()},
        {QStringLiteral("dbtags"), dbtags},
    };
}

QJsonObject receiverNoDaemon(const QString &socketPath)
{
    return QJsonObject{
        {QStringLiteral("schema"), StatusSchemaVersion},
        {QStringLiteral("role"), QStringLiteral("receiver")},
        {QStringLiteral("daemon"), false},
        {QStringLiteral("control_socket"), socketPath},
        {QStringLiteral("verdict"), verdictName(Verdict::Failing)},
        {QStringLiteral("reason"),
         QStringLiteral("No isocket daemon answers on %1").arg(socketPath)},
    };
}

void row(const char *label, const QString &value)
{
    std::printf("  %-13s %s\n", label, qPrintable(value));
}

void printEd(const QJsonObject &o)
{
    const QDateTime now = QDateTime::currentDateTimeUtc();
    const std::optional<EdHealth> h = EdHealth::fromJson(o.value(QStringLiteral("health")).toObject());
    const bool daemon = o.value(QStringLiteral("daemon")).toBool();
    if (daemon) {
        row("source", o.value(QStringLiteral("source")).toString() + QStringLiteral(" -> ")
                          + o.value(QStringLiteral("receiver")).toString());
        row("run", o.value(QStringLiteral("run")).toString()
                       + (o.value(QStringLiteral("paused")).toBool() ? QStringLiteral(", paused")
                                                                     : QString()));
    }
    row("root", o.value(QStringLiteral("root")).toString());
    if (!h)
        return;
    if (daemon) {
        row("connection", h->connected ? QStringLiteral("up")
                                       : QStringLiteral("down since %1%2")
                                             .arg(timeAndAge(h->downSince, now),
                                                  h->downCause.isEmpty()
                                                      ? QString()
                                                      : QStringLiteral(": ") + h->downCause));
        if (h->authFailing)
            row("auth", QStringLiteral("failing since %1").arg(timeAndAge(h->authFailingSince, now)));
        if (!h->refusal.isEmpty())
            row("refused", QStringLiteral("%1 since %2, %3 file(s)")
                               .arg(h->refusal, timeAndAge(h->refusingSince, now))
                               .arg(h->refusedFiles));
    }
    if (!h->localTrouble.isEmpty())
        row("trouble", h->localTrouble);
    row("backlog", QStringLiteral("%1 file(s), %2").arg(h->backlogFiles).arg(humanBytes(h->backlogBytes)));
    row("oldest unsent", timeAndAge(h->oldestUnsent, now));
    if (h->catchUpFiles > 0) // the backlog outside the live dbtag, which goes first
        row("catching up", QStringLiteral("%1 file(s), oldest %2")
                               .arg(h->catchUpFiles)
                               .arg(timeAndAge(h->oldestCatchUp, now)));
    if (daemon) {
        row("rate", QStringLiteral("%1/s%2")
                        .arg(humanBytes(qint64(h->rateBytesPerSecond)),
                             h->etaSeconds >= 0
                                 ? QStringLiteral(", caught up in about %1").arg(ageText(h->etaSeconds))
                                 : QString()));
        row("sent", QStringLiteral("%1 file(s), %2 since start; %3 dbtag(s) finished")
                        .arg(qint64(o.value(QStringLiteral("files_sent")).toDouble()))
                        .arg(humanBytes(qint64(o.value(QStringLiteral("bytes_sent")).toDouble())))
                        .arg(o.value(QStringLiteral("dbtags_finished")).toInt()));
    }
    if (!h->liveDbtag.isEmpty())
        row("live dbtag", h->liveDbtag);
    QStringList states;
    for (auto it = h->dbtagsByState.cbegin(); it != h->dbtagsByState.cend(); ++it)
        states << QStringLiteral("%1 %2").arg(it.key()).arg(it.value());
    if (!states.isEmpty())
        row("dbtags", states.join(QStringLiteral(", ")));
    const int failed = std::max(h->failedFiles, o.value(QStringLiteral("failed")).toInt());
    if (failed > 0)
        row("failed", QStringLiteral("%1 (see the log)").arg(failed));
    QStringList links;
    for (const QJsonValue &v : o.value(QStringLiteral("links")).toArray()) {
        const QJsonObject l = v.toObject();
        const QString detail = l.value(QStringLiteral("detail")).toString();
        links << l.value(QStringLiteral("state")).toString()
                     + (detail.isEmpty() ? QString() : QStringLiteral(" (%1)").arg(detail));
    }
    if (!links.isEmpty())
        row("links", links.join(QStringLiteral(", ")));
    // Each receiver of the list (send.server, --to), when there are several.
    const QJsonArray receivers = o.value(QStringLiteral("receivers")).toArray();
    for (qsizetype i = 0; receivers.size() > 1 && i < receivers.size(); ++i) {
        const QJsonObject r = receivers.at(i).toObject();
        const int ready = r.value(QStringLiteral("ready_links")).toInt();
        const QDateTime retry = QDateTime::fromString(
            r.value(QStringLiteral("retry_at")).toString(), Qt::ISODateWithMs);
        const QString state =
            r.value(QStringLiteral("up")).toBool()
                ? QStringLiteral("up, %1 connection(s)").arg(ready)
                : QStringLiteral("down: %1%2")
                      .arg(r.value(QStringLiteral("why")).toString(),
                           retry.isValid() && retry > now
                               ? QStringLiteral(", next try in %1")
                                     .arg(ageText(now.secsTo(retry)))
                               : QString());
        row(i == 0 ? "receivers" : "",
            r.value(QStringLiteral("address")).toString() + QStringLiteral(" ") + state);
    }
}

void printReceiver(const QJsonObject &o)
{
    const QDateTime now = QDateTime::currentDateTimeUtc();
    if (!o.value(QStringLiteral("daemon")).toBool())
        return;
    const std::optional<ReceiverHealth> h =
        ReceiverHealth::fromJson(o.value(QStringLiteral("health")).toObject());
    row("listening", o.value(QStringLiteral("address")).toString());
    row("root", o.value(QStringLiteral("root")).toString());
    if (h) {
        if (h->freeBytes >= 0)
            row("disk", QStringLiteral("%1 free of %2, reserve %3%4")
                            .arg(humanBytes(h->freeBytes), humanBytes(h->totalBytes),
                                 humanBytes(h->reserveBytes),
                                 h->diskFull ? QStringLiteral(": FULL, files are refused")
                                             : QString()));
    }
    row("connections", QString::number(o.value(QStringLiteral("connections")).toInt()));
    row("stored", QStringLiteral("%1 file(s), %2 since start; %3 failed")
                      .arg(qint64(o.value(QStringLiteral("files_stored")).toDouble()))
                      .arg(humanBytes(qint64(o.value(QStringLiteral("bytes_stored")).toDouble())))
                      .arg(qint64(o.value(QStringLiteral("files_failed")).toDouble())));
    row("auth failures", QString::number(o.value(QStringLiteral("auth_failures")).toInt()));
    const QJsonArray fleet = o.value(QStringLiteral("fleet")).toArray();
    std::printf("\n");
    if (fleet.isEmpty()) {
        std::printf("(no ED seen yet)\n");
        return;
    }
    std::printf("%-24s %-9s %22s %14s  %s\n", "SOURCE", "VERDICT", "BACKLOG", "OLDEST UNSENT",
                "LAST SEEN");
    for (const QJsonValue &v : fleet) {
        const QJsonObject e = v.toObject();
        const std::optional<FleetEntry> entry = FleetEntry::fromJson(e);
        if (!entry)
            continue;
        QString backlog = QStringLiteral("-");
        QString oldest = QStringLiteral("-");
        if (entry->health) {
            backlog = QStringLiteral("%1 file(s), %2")
                          .arg(entry->health->backlogFiles)
                          .arg(humanBytes(entry->health->backlogBytes));
            if (entry->health->oldestUnsent.isValid())
                oldest = ageText(entry->health->oldestUnsent.secsTo(now));
        }
        const QString seen = entry->connected ? QStringLiteral("connected")
                                              : timeAndAge(entry->lastSeen, now);
        std::printf("%-24s %-9s %22s %14s  %s\n", qPrintable(entry->source),
                    qPrintable(e.value(QStringLiteral("verdict")).toString()),
                    qPrintable(backlog), qPrintable(oldest), qPrintable(seen));
    }
}

} // namespace

int runStatus(const QStringList &args)
{
    CommandLine cl(QStringLiteral("status"),
                   QStringLiteral("Ask the running isocket daemon (send on an edge device, receive "
                                  "on the receiver) how it is, through its control socket: the "
                                  "verdict and its reason, then the details; on the receiver one "
                                  "line per ED. With no daemon it says so and, for an edge "
                                  "device, reads the data root as scan does. Exit status 0 when "
                                  "the verdict is ok, 1 when not (or no daemon answers), 2 for a "
                                  "usage error."),
                   {QStringLiteral("data"), QStringLiteral("status.control_socket")});
    cl.parser().addOption({QStringLiteral("json"),
                           QStringLiteral("print the status as JSON on stdout (docs/STATUS.md)")});
    cl.parser().addOption({QStringLiteral("role"),
                           QStringLiteral("which daemon to ask: ed (isocket send) or receiver "
                                          "(isocket receive); default: the one that answers, ed "
                                          "first"),
                           QStringLiteral("ed|receiver")});
    if (const int rc = parse(cl, args); rc >= 0)
        return rc;
    const Config &config = cl.config();
    QList<Role> roles{Role::Ed, Role::Receiver};
    if (cl.isSet(QStringLiteral("role"))) {
        const QString role = cl.parser().value(QStringLiteral("role"));
        if (role == QLatin1String("ed"))
            roles = {Role::Ed};
        else if (role == QLatin1String("receiver"))
            roles = {Role::Receiver};
        else {
            printError(cl.command(),
                       QStringLiteral("--role: must be ed or receiver, not '%1'").arg(role));
            return ExitUsage;
        }
    }

    std::optional<QJsonObject> answer;
    QString tried;
    QString why;
    for (const Role role : std::as_const(roles)) {
        const QString path = clientControlSocketPath(config, role);
        if (path.isEmpty())
            continue;
        auto r = queryControlSocket(path, QueryTimeoutMs);
        if (r) {
            answer = r.value();
            break;
        }
        if (tried.isEmpty()) {
            tried = path;
            why = r.error().message;
        }
        if (!config.controlSocket.isEmpty())
            break; // one place given: whichever daemon listens there
    }
    if (answer && answer->contains(QStringLiteral("request_error"))) {
        printError(cl.command(), answer->value(QStringLiteral("request_error")).toString());
        return ExitFailure;
    }
    if (!answer) {
        const Role role = roles.constFirst();
        if (tried.isEmpty())
            tried = expectedPath(config, role);
        else
            qCDebug(lcCli).noquote() << why;
        printError(cl.command(),
                   role == Role::Ed
                       ? QStringLiteral("no isocket daemon answers on %1; reading the disk").arg(tried)
                       : QStringLiteral("no isocket daemon answers on %1").arg(tried));
        answer = role == Role::Ed ? edFromDisk(config, tried) : receiverNoDaemon(tried);
    }

    const std::optional<Verdict> verdict =
        verdictFromName(answer->value(QStringLiteral("verdict")).toString());
    if (!verdict) {
        printError(cl.command(), QStringLiteral("the daemon's answer has no verdict"));
        return ExitFailure;
    }
    if (cl.isSet(QStringLiteral("json"))) {
        std::fputs(QJsonDocument(*answer).toJson(QJsonDocument::Indented).constData(), stdout);
    } else {
        std::printf("%s: %s\n", qPrintable(verdictName(*verdict).toUpper()),
                    qPrintable(answer->value(QStringLiteral("reason")).toString()));
        if (answer->value(QStringLiteral("role")).toString() == QLatin1String("receiver"))
            printReceiver(*answer);
        else
            printEd(*answer);
    }
    return verdictExitCode(*verdict);
}

} // namespace isocket::cli
