#include "gui/connectionpanel.h"

#include "core/edagent.h"

#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QStyle>

namespace isocket::gui {

ConnectionPanel::ConnectionPanel(EdAgent *agent, QWidget *parent)
    : QWidget(parent),
      m_icon(new QLabel(this)),
      m_state(new QLabel(this)),
      m_address(new QLabel(agent->setup().receiverAddress(), this)),
      m_source(new QLabel(agent->setup().sender.source, this)),
      m_retry(new QPushButton(QStringLiteral("&Retry now"), this))
{
    setAccessibleName(QStringLiteral("Connection to the receiver"));
    m_state->setObjectName(QStringLiteral("connectionState"));
    m_state->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_address->setTextInteractionFlags(Qt::TextSelectableByMouse);
    QFont bold = m_state->font();
    bold.setBold(true);
    m_state->setFont(bold);
    m_retry->setToolTip(QStringLiteral("Reconnect now instead of waiting for the next attempt "
                                       "(also after fixing a refused secret). Ctrl+R"));
    connect(m_retry, &QPushButton::clicked, agent, &EdAgent::retryNow);

    auto *stateRow = new QHBoxLayout;
    stateRow->addWidget(m_icon);
    stateRow->addWidget(m_state, 1);
    stateRow->addWidget(m_retry);

    auto *form = new QFormLayout(this);
    form->setContentsMargins(0, 0, 0, 0);
    form->addRow(QStringLiteral("Receiver:"), m_address);
    form->addRow(QStringLiteral("State:"), stateRow);
    form->addRow(QStringLiteral("Source name:"), m_source);

    m_countdown.setInterval(1000);
    connect(&m_countdown, &QTimer::timeout, this, &ConnectionPanel::refresh);
    connect(agent, &EdAgent::statusChanged, this, [this](const EdStatus &status) {
        m_links.links = status.links;
        m_paused = status.paused;
        m_receivers = status.receivers;
        refresh();
    });
    refresh();
}

QString ConnectionPanel::stateText() const
{
    return m_state->text();
}

QString ConnectionPanel::receiverText() const
{
    return m_address->text();
}

void ConnectionPanel::refresh()
{
    const LinkSummary &links = m_links;
    const LinkSummary::Kind kind = links.kind();
    switch (kind) {
    case LinkSummary::Kind::Connected: m_badge = Badge::Connected; break;
    case LinkSummary::Kind::Refused: m_badge = Badge::Refused; break;
    case LinkSummary::Kind::Retrying:
    case LinkSummary::Kind::Connecting:
    case LinkSummary::Kind::Authenticating: m_badge = Badge::Waiting; break;
    case LinkSummary::Kind::Starting:
    case LinkSummary::Kind::Stopped: m_badge = Badge::Idle; break;
    }
    QString text = links.text(QDateTime::currentDateTimeUtc());
    if (m_paused)
        text += QStringLiteral(" · sending paused");
    m_state->setText(text);
    if (m_receivers.size() > 1) { // each receiver of the list, and how it fares
        QStringList lines;
        for (const ReceiverLinkStatus &r : std::as_const(m_receivers))
            lines << (r.down ? QStringLiteral("%1 — down: %2").arg(r.address, r.why)
                             : QStringLiteral("%1 — up, %2 connection(s)")
                                   .arg(r.address)
                                   .arg(r.readyLinks));
        m_address->setText(lines.join(QLatin1Char('\n')));
    }
    m_state->setStyleSheet(QStringLiteral("color: %1").arg(badgeColor(m_badge).name()));
    const int size = fontMetrics().height();
    m_icon->setPixmap(badgeIcon(m_badge).pixmap(QSize(size, size), devicePixelRatioF()));
    const QString tip = links.tooltip();
    m_state->setToolTip(tip);
    m_icon->setToolTip(tip);
    m_retry->setEnabled(kind == LinkSummary::Kind::Retrying || kind == LinkSummary::Kind::Refused);
    const bool counting = kind == LinkSummary::Kind::Retrying && isVisible();
    if (counting && !m_countdown.isActive())
        m_countdown.start();
    else if (!counting)
        m_countdown.stop();
}

void ConnectionPanel::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    refresh();
}

void ConnectionPanel::hideEvent(QHideEvent *event)
{
    QWidget::hideEvent(event);
    m_countdown.stop();
}

} // namespace isocket::gui
