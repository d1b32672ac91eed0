#include "gui/closepolicy.h"

#include <QStringList>

namespace isocket::gui {

QString PendingWork::describe() const
{
    QStringList parts;
    if (inFlight > 0 && queued > 0)
        parts << QStringLiteral("%1 file(s) in flight and %2 queued").arg(inFlight).arg(queued);
    else if (inFlight > 0)
        parts << QStringLiteral("%1 file(s) in flight").arg(inFlight);
    else if (queued > 0)
        parts << QStringLiteral("%1 file(s) queued").arg(queued);
    if (connectedEds > 0)
        parts << QStringLiteral("%1 ED(s) connected").arg(connectedEds);
    if (incoming > 0)
        parts << QStringLiteral("%1 file(s) coming in").arg(incoming);
    return parts.join(QStringLiteral(", "));
}

CloseDecision decideClose(CloseRequest request, bool trayAvailable, const PendingWork &pending)
{
    if (pending.isEmpty())
        return CloseDecision::QuitNow;
    if (request == CloseRequest::Close && trayAvailable)
        return CloseDecision::Hide;
    return CloseDecision::Ask;
}

QString quitQuestion(bool sender, const PendingWork &pending)
{
    return sender ? QStringLiteral("Stop sending and quit? %1. Nothing is lost: what is not "
                                   "on the receiver yet is sent after the next start.")
                        .arg(pending.describe())
                  : QStringLiteral("Stop receiving and quit? %1. Nothing is lost: the EDs keep "
                                   "their files and send them again once a receiver runs.")
                        .arg(pending.describe());
}

QString keepsRunningMessage(bool sender, const PendingWork &pending)
{
    return QStringLiteral("isocket keeps %1 in the background (%2). To stop it, choose Quit in "
                          "this icon's menu or File ▸ Quit (Ctrl+Q) in the window.")
        .arg(sender ? QStringLiteral("sending") : QStringLiteral("receiving"),
             pending.describe());
}

} // namespace isocket::gui
