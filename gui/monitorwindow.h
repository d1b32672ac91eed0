#pragma once
// MonitorWindow: `isocket-gui --role monitor` on a workstation (issue 16). Owns a FleetMonitor
// (a read-only client of a receiver: core/fleetmonitor.h) and shows what it follows in a
// MonitorView: the receiver's health as the headline, the link to it as a notice while it is not
// ready, the fleet (every ED, its verdict, backlog, oldest unsent, ETA, last seen, live dbtag)
// and the selected ED's dbtags by state; the log below. Read-only: it offers no action on an
// ED. Does no I/O itself. Owns the monitor, the view and the widgets (children); the LogModel is
// shared and not owned. Persists geometry and column layouts (QSettings). GUI thread (the
// monitor's small traffic runs in it).

#include "core/fleetmonitor.h"

#include <QMainWindow>

class QSplitter;

namespace isocket::gui {

class LogModel;
class LogPane;
class MonitorView;

class MonitorWindow : public QMainWindow
{
    Q_OBJECT

public:
    MonitorWindow(MonitorSetup setup, LogModel *log, QWidget *parent = nullptr);
    ~MonitorWindow() override;

    void start();

    FleetMonitor *monitor() const { return m_monitor; }
    MonitorView *view() const { return m_view; }

protected:
    void closeEvent(QCloseEvent *event) override;

private:
    void saveOrRestore(bool save);

    FleetMonitor *m_monitor;
    MonitorView *m_view = nullptr;
    LogPane *m_logPane = nullptr;
    QSplitter *m_splitter = nullptr;
};

} // namespace isocket::gui
