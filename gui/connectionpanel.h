#pragma once
// ConnectionPanel: the sender's connection to the receiver at a glance: the receiver's
// address, the state in words with a shaped icon (connected / authenticating / refused: wrong
// secret / retrying in N s), the source name, and a "&Retry now" button. Follows the
// EdAgent's status snapshots (statusChanged(), queued from its thread); a 1 s timer runs only
// while a retry countdown is shown and the panel is visible. GUI thread.

#include "core/edevents.h"
#include "gui/linksummary.h"
#include "gui/statevisuals.h"

#include <QTimer>
#include <QWidget>

class QLabel;
class QPushButton;

namespace isocket {
class EdAgent;
} // namespace isocket

namespace isocket::gui {

class ConnectionPanel : public QWidget
{
    Q_OBJECT

public:
    explicit ConnectionPanel(EdAgent *agent, QWidget *parent = nullptr);

    QString stateText() const;
    QString receiverText() const; // the receiver, or each of the list and how it fares
    Badge badge() const { return m_badge; }
    QPushButton *retryButton() const { return m_retry; }

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void refresh();

    LinkSummary m_links;
    bool m_paused = false;
    QList<ReceiverLinkStatus> m_receivers;
    QLabel *m_icon;
    QLabel *m_state;
    QLabel *m_address;
    QLabel *m_source;
    QPushButton *m_retry;
    QTimer m_countdown;
    Badge m_badge = Badge::Idle;
};

} // namespace isocket::gui
