#pragma once
// WindowLifecycle: how an operator window closes, quits and notifies (issue 17), the same for
// the sender and the receiver window, which only forward their close event, their Quit action
// and their status snapshots here.
// - Closing (X, Alt+F4) while work is pending and a tray exists hides to the tray; the first
//   time, a tray message says that isocket keeps running and how to quit. Quit asks first
//   while work is pending, naming it (a window-modal QMessageBox, opened without a nested
//   event loop: question()); nothing pending, it quits at once. Without a tray closing is
//   quitting. The decision is decideClose() (gui/closepolicy.h) over pending().
// - The health verdict of each snapshot goes through a NotificationPolicy to the tray
//   (entering Degraded/Failing with the reason, the recovery; rate-limited); a held change is
//   looked at again by a single-shot timer. A failure to start is also logged (once).
// Child of its window; the tray icon (may be null) belongs to the window. GUI thread.

#include "core/edevents.h"
#include "core/receiverservice.h"
#include "gui/closepolicy.h"
#include "gui/notificationpolicy.h"
#include "gui/trayicon.h"

#include <QMessageBox>
#include <QObject>
#include <QPointer>
#include <QTimer>

#include <functional>

class QCloseEvent;
class QWidget;

namespace isocket::gui {

class WindowLifecycle : public QObject
{
    Q_OBJECT

public:
    WindowLifecycle(QWidget *window, TrayIcon *tray, TrayRole role,
                    std::function<PendingWork()> pending);

    CloseDecision decision(CloseRequest request) const;
    // From the window's closeEvent(): true when the window may close (the quit is decided);
    // otherwise the event is ignored and the window hidden or the question asked.
    bool allowClose(QCloseEvent *event);
    // File ▸ Quit, Ctrl+Q, the tray's Quit.
    void requestQuit();
    // The open quit question, or null.
    QMessageBox *question() const { return m_question; }
    bool quitting() const { return m_quitting; }

    // The verdict of a snapshot, for the notifications.
    void reportHealth(const EdStatus &status);
    void reportHealth(const ReceiverStatus &status);
    void reportHealth(Verdict verdict, const QString &reason);

Q_SIGNALS:
    // The operator chose to quit (or nothing was pending): the application should end.
    void quitConfirmed();

private:
    void ask();
    void quitNow();
    void hideToTray();
    void show(const std::optional<TrayMessage> &message);

    QWidget *m_window;
    QPointer<TrayIcon> m_tray;
    TrayRole m_role;
    std::function<PendingWork()> m_pending;
    NotificationPolicy m_notifications;
    QTimer m_notifyTimer; // single shot: a held notification's time
    QPointer<QMessageBox> m_question;
    bool m_quitting = false;
    bool m_toldKeepsRunning = false;
    bool m_loggedStartFailure = false;
};

} // namespace isocket::gui
