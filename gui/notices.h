#pragma once
// What the windows say about health (issue 16): the headline (the verdict in a shape, a word
// and the reason) and a notice for every failing state, in words that say what to do, with
// the action that helps (retry now, resume, rescan). Pure functions of the core's snapshots
// (EdStatus with its EdHealth, ReceiverStatus with its ReceiverHealth, a monitor's LinkStatus):
// the widgets (gui/healthwidgets.h) only show them, and tests check the words without a window.
// A notice is there while its state lasts: the next snapshot without the state drops it.

#include "core/edevents.h"
#include "core/health.h"
#include "core/receiverservice.h"
#include "gui/statevisuals.h"

#include <QDateTime>
#include <QList>
#include <QMetaType>
#include <QString>

#include <optional>

namespace isocket::gui {

struct Headline
{
    Badge badge = Badge::Waiting;
    QString word; // "OK", "Behind", "Degraded", "Failing", "Starting"
    QString text; // the reason: "Up to date", "Receiver disk full since 22:25, 30 files waiting"
    QString tooltip;
    friend bool operator==(const Headline &, const Headline &) = default;
};

// What the operator can do about a notice, from its button.
// ChangeSettings: reopen the start dialog (a start failed: fix the settings from the window).
enum class NoticeAction { None, RetryNow, Resume, Rescan, ChangeSettings };

// The failing states the windows tell apart. Stable: tests and the widgets key on them.
enum class NoticeKind {
    StartFailed,       // the ED or the receiver could not start
    ReceiverDown,      // the receiver cannot be reached
    WrongSecret,       // the receiver refuses our credentials
    LinkRefused,       // the receiver refuses us for another reason (version, TLS), or gave up
    ReceiverRefusing,  // the receiver refuses files (disk full, under its reserve, errors)
    RootMissing,       // the ED's data root is gone
    WatchOverflow,     // the inotify queue overflowed: a rescan was done
    OutOfWatches,      // no inotify watches left
    LocalTrouble,      // other trouble on the ED
    Paused,            // sending paused by the operator
    FailedFiles,       // files failed for good
    AbnormalDbtags,    // dbtags closed abnormally
    DiskFull,          // the receiver's own disk is under the reserve
    MonitorLink,       // a monitor's connection to the receiver is not ready
};

struct Notice
{
    Notice() = default;
    Notice(NoticeKind k, Badge b, QString t, NoticeAction a = NoticeAction::None,
           QString caption = QString())
        : kind(k), badge(b), text(std::move(t)), action(a), actionText(std::move(caption))
    {
    }

    NoticeKind kind = NoticeKind::LocalTrouble;
    Badge badge = Badge::Abnormal;
    QString text; // what is wrong, since when, and what to do
    NoticeAction action = NoticeAction::None;
    QString actionText; // the button's caption, with its mnemonic
    friend bool operator==(const Notice &, const Notice &) = default;
};

Headline edHeadline(const EdStatus &status);
// `secretFile`: the ED's general.secret_file (named in the wrong-secret notice);
// `abnormalDbtags`: dbtags closed abnormally (the dbtag model counts them).
QList<Notice> edNotices(const EdStatus &status, const QString &secretFile, int abnormalDbtags);

Headline receiverHeadline(const ReceiverStatus &status);
QList<Notice> receiverNotices(const ReceiverStatus &status);

// A monitor: the receiver's health as its headline (none yet: waiting for the first report),
// and its own link to the receiver as a notice while the link is not ready.
Headline monitorHeadline(const std::optional<ReceiverHealth> &receiver, const LinkStatus &link);
QList<Notice> monitorNotices(const LinkStatus &link, const QString &receiver,
                             const QString &secretFile);

// Free space against the reserve, in words: "41.2 GiB free of 100.0 GiB, reserve 2.0 GiB";
// "free space unknown" when it is.
QString freeSpaceText(const ReceiverHealth &health);

} // namespace isocket::gui

Q_DECLARE_METATYPE(isocket::gui::NoticeAction)
Q_DECLARE_METATYPE(isocket::gui::NoticeKind)
