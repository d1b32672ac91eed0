#pragma once
// What closing an operator window does (issue 17), as desktop sync clients do it: a window
// closed (X, Alt+F4) while work is pending and a system tray exists hides to the tray and keeps
// running; Quit (menu, Ctrl+Q, the tray's "Quit") asks first when work is pending, naming how
// much; nothing pending, it quits at once. Without a tray, closing is quitting. Pure functions of
// the window's state, so that tests check every case without a window. GUI thread or any.

#include <QString>

namespace isocket::gui {

// How the operator asked to go.
enum class CloseRequest {
    Close, // the window's close button, Alt+F4, the window manager
    Quit,  // File ▸ Quit, Ctrl+Q, the tray menu's Quit
};

enum class CloseDecision {
    Hide,    // hide to the tray, keep running
    Ask,     // ask whether to stop the pending work
    QuitNow, // nothing to lose: quit without a question
};

// The work a quit would stop: on a sender the files queued and in flight, on a receiver the
// EDs connected and the files coming in.
struct PendingWork
{
    qint64 queued = 0;
    qint64 inFlight = 0;
    int connectedEds = 0;
    qint64 incoming = 0;

    bool isEmpty() const
    {
        return queued <= 0 && inFlight <= 0 && connectedEds <= 0 && incoming <= 0;
    }
    // "3 file(s) in flight and 120 queued", "2 ED(s) connected, 4 file(s) coming in"; empty
    // when nothing is pending.
    QString describe() const;
};

CloseDecision decideClose(CloseRequest request, bool trayAvailable, const PendingWork &pending);

// The question a quit asks, naming the work: "Stop sending? 3 file(s) in flight and 120
// queued: they are sent after the next start." (`sender`: the sender's words, else the
// receiver's).
QString quitQuestion(bool sender, const PendingWork &pending);

// The tray message the first hide shows: that it keeps running, and how to quit.
QString keepsRunningMessage(bool sender, const PendingWork &pending);

} // namespace isocket::gui
