#include "gui/monitorwindow.h"

#include "gui/fleetmodel.h"
#include "gui/logpane.h"
#include "gui/monitorview.h"
#include "gui/statevisuals.h"
#include "gui/widgetfactory.h"
#include "gui/windowstate.h"

#include <QAction>
#include <QCloseEvent>
#include <QFontMetrics>
#include <QHeaderView>
#include <QMenuBar>
#include <QSplitter>
#include <QTableView>

namespace isocket::gui {

MonitorWindow::MonitorWindow(MonitorSetup setup, LogModel *log, QWidget *parent)
    : QMainWindow(parent), m_monitor(new FleetMonitor(std::move(setup), this))
{
    setObjectName(QStringLiteral("monitorWindow"));
    const QString receiver = m_monitor->setup().receiverAddress();
    setWindowTitle(QStringLiteral("isocket — monitor of %1").arg(receiver));
    setWindowIcon(appIcon());

    m_splitter = new QSplitter(Qt::Vertical, this);
    m_splitter->setObjectName(QStringLiteral("monitorMainSplitter"));
    m_splitter->setChildrenCollapsible(false);
    m_view = new MonitorView(receiver, m_monitor->setup().link.secretFile, m_splitter);
    m_logPane = new LogPane(log, m_splitter);
    m_splitter->addWidget(m_view);
    m_splitter->addWidget(section(heading(QStringLiteral("Lo&g"), m_logPane->view(), m_splitter),
                                  m_logPane, m_splitter));
    m_splitter->setStretchFactor(0, 4);
    m_splitter->setStretchFactor(1, 1);
    setCentralWidget(m_splitter);

    // Same thread: the monitor's values go straight to the view.
    connect(m_monitor, &FleetMonitor::fleetChanged, m_view, &MonitorView::showFleet);
    connect(m_monitor, &FleetMonitor::receiverChanged, m_view, &MonitorView::showReceiver);
    connect(m_monitor, &FleetMonitor::linkChanged, m_view, &MonitorView::showLink);

    auto *quit = new QAction(QStringLiteral("&Quit"), this);
    quit->setShortcut(QKeySequence::Quit);
    connect(quit, &QAction::triggered, this, &QWidget::close);
    menuBar()->addMenu(QStringLiteral("&File"))->addAction(quit);

    const QFontMetrics fm = fontMetrics();
    resize(fm.averageCharWidth() * 150, fm.height() * 44);
    saveOrRestore(false);
}

MonitorWindow::~MonitorWindow() = default;

void MonitorWindow::start()
{
    m_monitor->start();
}

void MonitorWindow::saveOrRestore(bool save)
{
    const WindowState state{QStringLiteral("monitorWindow"), this,
                            {m_view->fleetView()->horizontalHeader(),
                             m_logPane->view()->horizontalHeader()},
                            {m_splitter}};
    save ? state.save() : state.restore();
}

void MonitorWindow::closeEvent(QCloseEvent *event)
{
    saveOrRestore(true);
    m_monitor->stop();
    QMainWindow::closeEvent(event);
}

} // namespace isocket::gui
