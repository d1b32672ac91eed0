#pragma once
// TrayIcon: the system tray entry of a window, where QSystemTrayIcon::isSystemTrayAvailable():
// an icon showing the state (the same shapes as in the window), a tooltip with the state and
// the throughput, a menu to show the window or quit; a click toggles the window. create()
// returns nullptr where there is no tray. Child of its window. GUI thread.

#include "gui/statevisuals.h"

#include <QObject>

class QAction;
class QMenu;
class QSystemTrayIcon;
class QWidget;

namespace isocket::gui {

class TrayIcon : public QObject
{
    Q_OBJECT

public:
    static TrayIcon *create(QWidget *window, const QString &title);

    void setStatus(Badge badge, const QString &state, const QString &throughput);
    void addAction(QAction *action);

private:
    TrayIcon(QWidget *window, const QString &title);

    QWidget *m_window;
    QString m_title;
    QSystemTrayIcon *m_tray;
    QMenu *m_menu;
    Badge m_badge = Badge::Idle;
};

} // namespace isocket::gui
