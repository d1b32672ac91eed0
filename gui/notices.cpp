#include "gui/notices.h"

#include "gui/format.h"
#include "gui/linksummary.h"

namespace isocket::gui {

namespace {

QString since(const QDateTime &time)
{
    return time.isValid() ? QStringLiteral(" since %1").arg(formatTime(time)) : QString();
}

Headline fromVerdict(Verdict verdict, const QString &reason)
{
    const VerdictLook look = verdictLook(verdict);
    return {look.badge, look.word, reason.isEmpty() ? look.word : reason, look.tooltip};
}

bool mentions(const QString &text, std::initializer_list<const char *> words)
{
    for (const char *w : words)
        if (text.contains(QLatin1String(w), Qt::CaseInsensitive))
            return true;
    return false;
}

// Its own mnemonic in both windows (Alt+A).
QString changeSettingsCaption()
{
    return QStringLiteral("Ch&ange settings…");
}

} // namespace

Headline edHeadline(const EdStatus &status)
{
    switch (status.run) {
    case EdStatus::Run::Failed:
        if (status.health.at.isValid() && !status.health.reason.isEmpty())
            return fromVerdict(status.health.verdict, status.health.reason);
        return {Badge::Failed, QStringLiteral("Failing"),
                QStringLiteral("Cannot start: %1").arg(status.error),
                QStringLiteral("The ED could not start; fix the cause and start it again.")};
    case EdStatus::Run::Stopped:
    case EdStatus::Run::Starting:
        return {Badge::Waiting, QStringLiteral("Starting"),
                QStringLiteral("Starting: scanning the data root"),
                QStringLiteral("Scanning the data root and connecting to the receiver.")};
    case EdStatus::Run::Running: break;
    }
    if (!status.health.at.isValid()) // not computed yet
        return {Badge::Waiting, QStringLiteral("Starting"), QStringLiteral("Starting"),
                QStringLiteral("Waiting for the first health report.")};
    return fromVerdict(status.health.verdict, status.health.reason);
}

QList<Notice> edNotices(const EdStatus &status, const QString &secretFile, int abnormalDbtags)
{
    QList<Notice> out;
    const EdHealth &h = status.health;
    const QString receiver = status.receiver.isEmpty() ? QStringLiteral("the receiver")
                                                       : status.receiver;
    // Its own mnemonic: Alt+R is the connection panel's "Retry now".
    const QString retry = QStringLiteral("Retry no&w");
    if (status.run == EdStatus::Run::Failed)
        out << Notice{NoticeKind::StartFailed, Badge::Failed,
                      QStringLiteral("Cannot start: %1. Fix it (the data root must exist and be "
                                     "readable), then change the settings or start isocket "
                                     "again.")
                          .arg(status.error),
                      NoticeAction::ChangeSettings, changeSettingsCaption()};
    if (status.run != EdStatus::Run::Running)
        return out;

    // The connection: refused for our credentials, refused otherwise, or not reachable.
    const LinkSummary links{status.links};
    QString refused;
    for (const LinkStatus &l : links.links)
        if (l.state == LinkState::Refused && refused.isEmpty())
            refused = l.detail;
    const bool ready = links.readyCount() > 0;
    if (h.authFailing || (!ready && links.wrongSecret())) {
        const QString file = secretFile.isEmpty() ? QStringLiteral("general.secret_file")
                                                  : secretFile;
        out << Notice{NoticeKind::WrongSecret, Badge::Refused,
                      QStringLiteral("%1 refuses this ED's credentials%2: wrong secret. Check "
                                     "that %3 holds the receiver's secret (isocket reads it "
                                     "again at every attempt), then retry.")
                          .arg(receiver, since(h.authFailingSince), file),
                      NoticeAction::RetryNow, retry};
    } else if (!status.fatal.isEmpty() && !ready) {
        out << Notice{NoticeKind::LinkRefused, Badge::Refused,
                      QStringLiteral("Sending stopped, an operator must act: %1. Fix it, then "
                                     "retry.")
                          .arg(status.fatal),
                      NoticeAction::RetryNow, retry};
    } else if (!refused.isEmpty() && !ready) {
        out << Notice{NoticeKind::LinkRefused, Badge::Refused,
                      QStringLiteral("%1 refuses this ED: %2. An operator must act; isocket "
                                     "keeps retrying.")
                          .arg(receiver, refused),
                      NoticeAction::RetryNow, retry};
    } else if (!ready && !h.connected) {
        // The health's cause, or a retrying link's (the same words).
        QString cause = h.downCause;
        for (const LinkStatus &l : links.links)
            if (cause.isEmpty() && l.state == LinkState::Retrying)
                cause = l.detail;
        if (!cause.isEmpty())
            out << Notice{NoticeKind::ReceiverDown,
                          h.verdict == Verdict::Failing ? Badge::Failed : Badge::Waiting,
                          QStringLiteral("%1 cannot be reached%2: %3. Check that the receiver "
                                         "runs and the network between; isocket retries by "
                                         "itself.")
                              .arg(receiver, since(h.downSince), cause),
                          NoticeAction::RetryNow, retry};
    }

    if (!h.refusal.isEmpty()) {
        const bool space = mentions(h.refusal, {"disk", "space", "reserve"});
        QString text = QStringLiteral("The receiver refuses files%1: %2; %3 file(s) waiting. ")
                           .arg(since(h.refusingSince), h.refusal)
                           .arg(h.refusedFiles);
        text += space ? QStringLiteral("Free space on DRMS (its receive root's filesystem); "
                                       "sending resumes by itself.")
                      : QStringLiteral("See the log on both sides; isocket retries by itself.");
        out << Notice{NoticeKind::ReceiverRefusing, Badge::Failed, text, NoticeAction::RetryNow,
                      retry};
    }

    QString trouble = h.localTrouble;
    if (!trouble.isEmpty())
        trouble[0] = trouble[0].toUpper(); // it starts a sentence here
    const QString rescan = QStringLiteral("Re&scan now");
    if (!trouble.isEmpty()) {
        if (mentions(trouble, {"root"}))
            out << Notice{NoticeKind::RootMissing, Badge::Failed,
                          QStringLiteral("%1: %2. Mount or create it; isocket notices when it "
                                         "is back and scans it again.")
                              .arg(trouble, status.root),
                          NoticeAction::Rescan, rescan};
        else if (mentions(trouble, {"overflow"}))
            out << Notice{NoticeKind::WatchOverflow, Badge::Abnormal,
                          QStringLiteral("%1: file watching missed changes, so a full rescan "
                                         "was done (nothing is lost). If it recurs, raise "
                                         "fs.inotify.max_queued_events.")
                              .arg(trouble)};
        else if (mentions(trouble, {"watches"}))
            out << Notice{NoticeKind::OutOfWatches, Badge::Abnormal,
                          QStringLiteral("%1: new files may be picked up late; isocket rescans "
                                         "until watching works again. Raise "
                                         "fs.inotify.max_user_watches.")
                              .arg(trouble),
                          NoticeAction::Rescan, rescan};
        else
            out << Notice{NoticeKind::LocalTrouble, Badge::Abnormal,
                          QStringLiteral("Trouble on this ED: %1. See the log.").arg(trouble),
                          NoticeAction::Rescan, rescan};
    } else if (!status.unreliable.isEmpty()) {
        out << Notice{NoticeKind::OutOfWatches, Badge::Abnormal,
                      QStringLiteral("File watching is unreliable: %1. New files may be picked "
                                     "up late; isocket rescans until watching works again.")
                          .arg(status.unreliable),
                      NoticeAction::Rescan, rescan};
    }

    if (status.paused || h.paused) {
        const qint64 files = h.at.isValid() ? h.backlogFiles : qint64(status.queued);
        out << Notice{NoticeKind::Paused, Badge::Paused,
                      QStringLiteral("Sending is paused by the operator: %1 file(s)%2 wait. "
                                     "Resume to send them.")
                          .arg(files)
                          .arg(h.backlogBytes > 0 ? QStringLiteral(" (%1)")
                                                        .arg(formatBytes(h.backlogBytes))
                                                  : QString()),
                      NoticeAction::Resume, QStringLiteral("Res&ume")};
    }

    if (const int failed = std::max(h.failedFiles, status.failed); failed > 0)
        out << Notice{NoticeKind::FailedFiles, Badge::Failed,
                      QStringLiteral("%1 file(s) or dbtag(s) failed for good: see the log for "
                                     "why; they are tried again after a restart.")
                          .arg(failed)};
    if (abnormalDbtags > 0)
        out << Notice{NoticeKind::AbnormalDbtags, Badge::Abnormal,
                      QStringLiteral("%1 dbtag(s) closed abnormally (finished.watch without "
                                     "finished.parse): nothing is sent from them; check the "
                                     "producer.")
                          .arg(abnormalDbtags)};
    return out;
}

Headline receiverHeadline(const ReceiverStatus &status)
{
    switch (status.run) {
    case ReceiverStatus::Run::Failed:
        return {Badge::Failed, QStringLiteral("Failing"),
                QStringLiteral("Not listening: %1").arg(status.error),
                QStringLiteral("The receiver could not start; fix the cause and restart.")};
    case ReceiverStatus::Run::Stopped:
    case ReceiverStatus::Run::Starting:
        return {Badge::Waiting, QStringLiteral("Starting"), QStringLiteral("Starting"),
                QStringLiteral("Opening the receive root and the listening socket.")};
    case ReceiverStatus::Run::Listening: break;
    }
    if (!status.health.at.isValid())
        return {Badge::Done, QStringLiteral("OK"),
                QStringLiteral("Listening on %1").arg(status.address),
                verdictLook(Verdict::Ok).tooltip};
    return fromVerdict(status.health.verdict, status.health.reason);
}

QList<Notice> receiverNotices(const ReceiverStatus &status)
{
    QList<Notice> out;
    if (status.run == ReceiverStatus::Run::Failed)
        out << Notice{NoticeKind::StartFailed, Badge::Failed,
                      QStringLiteral("Not listening: %1. %2")
                          .arg(status.error,
                               mentions(status.error, {"in use"})
                                   ? QStringLiteral("Another program listens on that port: "
                                                    "stop it, or choose another port in the "
                                                    "settings.")
                                   : QStringLiteral("Fix the cause, then change the settings "
                                                    "or start the receiver again.")),
                      NoticeAction::ChangeSettings, changeSettingsCaption()};
    const ReceiverHealth &h = status.health;
    if (status.run == ReceiverStatus::Run::Listening && h.diskFull)
        out << Notice{NoticeKind::DiskFull, Badge::Failed,
                      QStringLiteral("Disk full: %1. Files are refused and wait on the EDs. Free "
                                     "space under %2 (or lower receive.reserve); receiving "
                                     "resumes by itself.")
                          .arg(freeSpaceText(h), status.root)};
    return out;
}

Headline monitorHeadline(const std::optional<ReceiverHealth> &receiver, const LinkStatus &link)
{
    if (link.state == LinkState::Refused)
        return {Badge::Refused, QStringLiteral("Unknown"),
                QStringLiteral("No report: the receiver refuses this monitor"),
                QStringLiteral("See the notice below.")};
    if (!receiver)
        return {Badge::Waiting, QStringLiteral("Waiting"),
                QStringLiteral("Waiting for the receiver's first report"),
                QStringLiteral("Connecting to the receiver; its health and fleet come once it "
                               "accepts this monitor.")};
    Headline h = fromVerdict(receiver->verdict, receiver->reason);
    if (link.state != LinkState::Ready) // what it said last, said as such
        h.text += QStringLiteral(" (last report %1, reconnecting)").arg(formatTime(receiver->at));
    return h;
}

QList<Notice> monitorNotices(const LinkStatus &link, const QString &receiver,
                             const QString &secretFile)
{
    const QString detail = link.detail.isEmpty() ? QString() : QStringLiteral(": ") + link.detail;
    switch (link.state) {
    case LinkState::Ready: return {};
    case LinkState::Connecting:
    case LinkState::Authenticating:
        return {Notice{NoticeKind::MonitorLink, Badge::Waiting,
                       QStringLiteral("Connecting to the receiver at %1…").arg(receiver)}};
    case LinkState::Retrying:
        return {Notice{NoticeKind::MonitorLink, Badge::Waiting,
                       QStringLiteral("Cannot reach the receiver at %1%2. Check that it runs and "
                                      "the network between; retrying%3. What is shown is as of "
                                      "the last report.")
                           .arg(receiver, detail,
                                link.retryAt.isValid()
                                    ? QStringLiteral(" at %1").arg(formatTime(link.retryAt))
                                    : QString())}};
    case LinkState::Refused: {
        const bool secret = mentions(link.detail, {"secret", "auth"});
        return {Notice{NoticeKind::MonitorLink, Badge::Refused,
                       secret ? QStringLiteral("The receiver at %1 refuses this monitor: wrong "
                                               "secret (%2). Check that %3 holds the receiver's "
                                               "monitor secret (receive.monitor_secret_file, or "
                                               "its shared secret when it has none).")
                                    .arg(receiver, link.detail, secretFile)
                              : QStringLiteral("The receiver at %1 refuses this monitor%2.")
                                    .arg(receiver, detail)}};
    }
    case LinkState::Disconnected:
    case LinkState::Stopped:
        return {Notice{NoticeKind::MonitorLink, Badge::Idle,
                       QStringLiteral("Not connected to the receiver at %1%2.")
                           .arg(receiver, detail)}};
    }
    return {};
}

QString freeSpaceText(const ReceiverHealth &health)
{
    if (health.freeBytes < 0)
        return QStringLiteral("free space unknown");
    QString text = QStringLiteral("%1 free").arg(formatBytes(health.freeBytes));
    if (health.totalBytes > 0)
        text += QStringLiteral(" of %1").arg(formatBytes(health.totalBytes));
    text += QStringLiteral(", reserve %1").arg(formatBytes(health.reserveBytes));
    return text;
}

} // namespace isocket::gui
