#pragma once
// MonitorView: the body of the monitor window (issue 16), fed values only: the receiver's
// health as the headline, the monitor's own link to the receiver as a notice while it is not
// ready ("connecting", "wrong secret"…), a line counting the fleet by verdict, the fleet table
// (FleetModel: every ED with its verdict in a shape, a word and a colour, backlog, oldest
// unsent, ETA, last seen, live dbtag) and, for the ED selected in it, its dbtags by state and
// what its last report says. Read-only: it offers no action on an ED. The window connects a
// FleetMonitor's signals to the slots; tests feed values. A 5 s timer ages the texts while
// visible. GUI thread.

#include "core/edevents.h"
#include "core/health.h"

#include <QList>
#include <QTimer>
#include <QWidget>

#include <optional>

class QLabel;
class QSortFilterProxyModel;
class QTableView;
class QTableWidget;

namespace isocket::gui {

class FleetModel;
class HeadlineBar;
class NoticeArea;

class MonitorView : public QWidget
{
    Q_OBJECT

public:
    // `receiver` ("host:port") and `secretFile` are named in the link's notices.
    MonitorView(const QString &receiver, const QString &secretFile, QWidget *parent = nullptr);

    void showFleet(const QList<isocket::FleetEntry> &fleet);
    void showReceiver(const isocket::ReceiverHealth &health);
    void showLink(const isocket::LinkStatus &link);

    // Selects the row of `source` (false when it is not in the fleet).
    bool selectSource(const QString &source);
    QString selectedSource() const;

    FleetModel *fleetModel() const { return m_fleet; }
    QTableView *fleetView() const { return m_view; }
    HeadlineBar *headline() const { return m_headline; }
    NoticeArea *notices() const { return m_notices; }
    QLabel *summary() const { return m_summary; }
    QLabel *detailTitle() const { return m_detailTitle; }
    QTableWidget *dbtagStates() const { return m_states; }
    QLabel *detailText() const { return m_detail; }
    void flush(); // applies pending model changes now (tests, before a grab)

protected:
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void updateHeadline();
    void updateSummary();
    void updateDetail();

    QString m_receiverAddress;
    QString m_secretFile;
    std::optional<ReceiverHealth> m_receiver;
    LinkStatus m_link;
    FleetModel *m_fleet;
    QSortFilterProxyModel *m_proxy;
    HeadlineBar *m_headline;
    NoticeArea *m_notices;
    QLabel *m_summary;
    QTableView *m_view;
    QLabel *m_detailTitle;
    QTableWidget *m_states;
    QLabel *m_detail;
    QTimer m_tick; // 5 s, only while visible: ages
};

} // namespace isocket::gui
