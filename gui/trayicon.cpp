#include "gui/trayicon.h"

#include <QApplication>
#include <QMenu>
#include <QPainter>
#include <QPainterPath>
#include <QSystemTrayIcon>
#include <QWidget>

namespace isocket::gui {

namespace {

bool s_availableForTesting = false;

// The role's mark, `s` pixels square: a disc with a white arrow, up for a sender (blue), down
// into a tray for a receiver (green). The shapes tell them apart; colour only helps.
void paintRole(QPainter &p, TrayRole role, qreal s)
{
    p.setRenderHint(QPainter::Antialiasing);
    const bool sender = role == TrayRole::Sender;
    p.setPen(QPen(Qt::white, std::max<qreal>(1, s / 16)));
    p.setBrush(sender ? QColor(0x1f, 0x5f, 0xb0) : QColor(0x2e, 0x7d, 0x32));
    p.drawEllipse(QRectF(0.5, 0.5, s - 1, s - 1));
    const qreal w = std::max<qreal>(1.5, s / 7);
    QPen pen(Qt::white, w, Qt::SolidLine, Qt::RoundCap, Qt::RoundJoin);
    p.setPen(pen);
    p.setBrush(Qt::NoBrush);
    QPainterPath path;
    if (sender) {
        path.moveTo(s / 2, s * 0.78);
        path.lineTo(s / 2, s * 0.24);
        path.moveTo(s * 0.28, s * 0.45);
        path.lineTo(s / 2, s * 0.23);
        path.lineTo(s * 0.72, s * 0.45);
    } else {
        path.moveTo(s / 2, s * 0.2);
        path.lineTo(s / 2, s * 0.58);
        path.moveTo(s * 0.32, s * 0.42);
        path.lineTo(s / 2, s * 0.6);
        path.lineTo(s * 0.68, s * 0.42);
        // the tray
        path.moveTo(s * 0.24, s * 0.6);
        path.lineTo(s * 0.24, s * 0.76);
        path.lineTo(s * 0.76, s * 0.76);
        path.lineTo(s * 0.76, s * 0.6);
    }
    p.drawPath(path);
}

} // namespace

bool TrayIcon::available()
{
    return s_availableForTesting || QSystemTrayIcon::isSystemTrayAvailable();
}

void TrayIcon::setAvailableForTesting(bool available)
{
    s_availableForTesting = available;
}

TrayIcon *TrayIcon::create(QWidget *window, const QString &title, TrayRole role)
{
    if (!available())
        return nullptr;
    return new TrayIcon(window, title, role);
}

QImage TrayIcon::render(TrayRole role, Badge badge, int size)
{
    QImage img = appIcon().pixmap(size, size).toImage().convertToFormat(
        QImage::Format_ARGB32_Premultiplied);
    if (img.size() != QSize(size, size)) {
        img = QImage(size, size, QImage::Format_ARGB32_Premultiplied);
        img.fill(Qt::transparent);
    }
    QPainter p(&img);
    // The role in the upper left, the state in the lower right: a quarter each, not
    // overlapping, so that both read at 16 px.
    const int r = size / 2;
    p.save();
    paintRole(p, role, r);
    p.restore();
    const int b = size / 2 + size / 8;
    p.drawPixmap(size - b, size - b, badgeIcon(badge).pixmap(b, b));
    p.end();
    return img;
}

TrayIcon::TrayIcon(QWidget *window, const QString &title, TrayRole role)
    : QObject(window),
      m_window(window),
      m_title(title),
      m_role(role),
      m_tray(new QSystemTrayIcon(this)),
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
    // A click on a notification brings the window.
    connect(m_tray, &QSystemTrayIcon::messageClicked, m_window, [this] {
        m_window->showNormal();
        m_window->raise();
        m_window->activateWindow();
    });
    updateIcon();
    m_tray->setToolTip(title);
    m_tray->show();
}

void TrayIcon::addAction(QAction *action)
{
    m_menu->addAction(action);
}

void TrayIcon::showMessage(const QString &title, const QString &text, bool warning)
{
    m_tray->showMessage(title, text,
                        warning ? QSystemTrayIcon::Warning : QSystemTrayIcon::Information);
    Q_EMIT messageShown(title, text);
}

QIcon TrayIcon::icon() const
{
    return m_tray->icon();
}

void TrayIcon::setStatus(Badge badge, const QString &state, const QString &throughput)
{
    m_tray->setToolTip(QStringLiteral("%1\n%2\n%3").arg(m_title, state, throughput));
    if (badge == m_badge)
        return;
    m_badge = badge;
    updateIcon();
}

void TrayIcon::updateIcon()
{
    QIcon icon;
    for (int size : {16, 22, 24, 32, 48, 64})
        icon.addPixmap(QPixmap::fromImage(render(m_role, m_badge, size)));
    m_tray->setIcon(icon);
}

} // namespace isocket::gui
