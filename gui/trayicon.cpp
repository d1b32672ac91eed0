#include "gui/trayicon.h"

#include <QApplication>
#include <QMenu>
#include <QPainter>
#include <QSystemTrayIcon>
#include <QWidget>

namespace isocket::gui {

TrayIcon *TrayIcon::create(QWidget *window, const QString &title)
{
    if (!QSystemTrayIcon::isSystemTrayAvailable())
        return nullptr;
    return new TrayIcon(window, title);
}

TrayIcon::TrayIcon(QWidget *window, const QString &title)
    : QObject(window),
      m_window(window),
      m_title(title),
      m_tray(new QSystemTrayIcon(appIcon(), this)),
      m_menu(new QMenu(window))
{
    QAction *show = m_menu->addAction(QStringLiteral("&Show window"));
    connect(show, &QAction::triggered, m_window, [this] {
        m_window->showNormal();
        m_window->raise();
        m_window->activateWindow();
    });
    m_menu->addSeparator();
    m_tray->setContextMenu(m_menu);
    connect(m_tray, &QSystemTrayIcon::activated, this, [this](QSystemTrayIcon::ActivationReason r) {
        if (r != QSystemTrayIcon::Trigger)
            return;
        if (m_window->isVisible() && !m_window->isMinimized())
            m_window->hide();
        else {
            m_window->showNormal();
            m_window->activateWindow();
        }
    });
    m_tray->setToolTip(title);
    m_tray->show();
}

void TrayIcon::addAction(QAction *action)
{
    m_menu->addAction(action);
}

void TrayIcon::setStatus(Badge badge, const QString &state, const QString &throughput)
{
    m_tray->setToolTip(QStringLiteral("%1\n%2\n%3").arg(m_title, state, throughput));
    if (badge == m_badge)
        return;
    m_badge = badge;
    // The application icon with the state's badge in a corner.
    QIcon icon;
    for (int size : {16, 22, 24, 32, 48, 64}) {
        QPixmap pm = appIcon().pixmap(size, size);
        if (pm.isNull()) {
            pm = QPixmap(size, size);
            pm.fill(Qt::transparent);
        }
        QPainter p(&pm);
        const int b = size / 2 + size / 8;
        p.drawPixmap(size - b, size - b, badgeIcon(badge).pixmap(b, b));
        p.end();
        icon.addPixmap(pm);
    }
    m_tray->setIcon(icon);
}

} // namespace isocket::gui
