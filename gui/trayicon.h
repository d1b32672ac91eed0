#pragma once
// TrayIcon: the system tray entry of a window, where a system tray exists: the application
// icon with the role's mark in its upper left corner (a sender: an arrow up out of a disc; a
// receiver: an arrow down into a tray) and the state's badge in its lower right corner (the
// same shapes as in the window); a tooltip with the state and the throughput; a menu to show
// the window or quit; a click toggles the window; desktop notifications (showMessage()).
// create() returns nullptr where there is no tray. Child of its window. GUI thread.

#include "gui/statevisuals.h"

#include <QImage>
#include <QObject>

class QAction;
class QMenu;
class QSystemTrayIcon;
class QWidget;

namespace isocket::gui {

enum class TrayRole { Sender, Receiver };

class TrayIcon : public QObject
{
    Q_OBJECT

public:
    static TrayIcon *create(QWidget *window, const QString &title, TrayRole role);
    // Whether create() makes an icon: QSystemTrayIcon::isSystemTrayAvailable(), or a test
    // said so (offscreen there is no tray; the icon is made all the same, and shows nothing).
    static bool available();
    static void setAvailableForTesting(bool available);

    // The icon as the tray shows it, `size` pixels square.
    static QImage render(TrayRole role, Badge badge, int size);

    void setStatus(Badge badge, const QString &state, const QString &throughput);
    void addAction(QAction *action);
    // A desktop notification; `warning`: the critical look.
    void showMessage(const QString &title, const QString &text, bool warning);
    QIcon icon() const;

Q_SIGNALS:
    // A notification was handed to the desktop (tests follow them here).
    void messageShown(const QString &title, const QString &text);

private:
    TrayIcon(QWidget *window, const QString &title, TrayRole role);
    void updateIcon();

    QWidget *m_window;
    QString m_title;
    TrayRole m_role;
    QSystemTrayIcon *m_tray;
    QMenu *m_menu;
    Badge m_badge = Badge::Idle;
};

} // namespace isocket::gui
