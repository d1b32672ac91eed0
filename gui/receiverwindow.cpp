#include "gui/receiverwindow.h"

#include "gui/columnfitter.h"
#include "gui/datasetmodel.h"
#include "gui/elidingdelegate.h"
#include "gui/fleetmodel.h"
#include "gui/format.h"
#include "gui/healthwidgets.h"
#include "gui/incomingmodel.h"
#include "gui/logmodel.h"
#include "gui/logpane.h"
#include "gui/offthread.h"
#include "gui/peermodel.h"
#include "gui/progressdelegate.h"
#include "gui/settingsdialog.h"
#include "gui/statevisuals.h"
#include "gui/tablemenu.h"
#include "gui/throughputchart.h"
#include "gui/trayicon.h"
#include "gui/widgetfactory.h"
#include "gui/windowlifecycle.h"
#include "gui/windowstate.h"
#include "core/fleetregistry.h"
#include "core/logging.h"

#include <QAction>
#include <QComboBox>
#include <QCloseEvent>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QMenuBar>
#include <QProgressBar>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QVBoxLayout>

#include <algorithm>
#include <memory>

namespace isocket::gui {

namespace {

QSortFilterProxyModel *sorted(QAbstractItemModel *model, int role, QObject *parent)
{
    auto *proxy = new QSortFilterProxyModel(parent);
    proxy->setSourceModel(model);
    proxy->setSortRole(role);
    return proxy;
}

} // namespace

ReceiverWindow::ReceiverWindow(ReceiverSetup setup, LogModel *log, QWidget *parent)
    : QMainWindow(parent),
      m_service(new ReceiverService(std::move(setup), ReceiverService::Threading::OwnThread, this)),
      m_peers(new PeerModel(this)),
      m_incoming(new IncomingModel(this)),
      m_datasets(new DatasetModel(this)),
      m_fleet(new FleetModel(this))
{
    setObjectName(QStringLiteral("receiverWindow"));
    setWindowTitle(QStringLiteral("isocket — receiver"));
    setWindowIcon(appIcon());

    // Straight from the service's thread, queued: batches of values.
    ReceiverService *s = m_service;
    connect(s, &ReceiverService::updated, m_peers, &PeerModel::onUpdates);
    connect(s, &ReceiverService::updated, m_incoming, &IncomingModel::onUpdates);
    connect(s, &ReceiverService::updated, m_datasets, &DatasetModel::onUpdates);
    connect(s, &ReceiverService::statusChanged, this, [this](const ReceiverStatus &status) {
        const bool changed = status.run != m_status.run;
        m_status = status;
        if (changed)
            updateState();
        if (changed && status.run == ReceiverStatus::Run::Listening) {
            // The registry is loaded and the root exists: what is known from before this run.
            m_fleet->setFleet(m_service->fleet());
            loadCompletedFromDisk(status.root);
        }
        updateHealth();
        m_lifecycle->reportHealth(status);
    });
    connect(s, &ReceiverService::fleetChanged, m_fleet, &FleetModel::setFleet);

    m_quit = new QAction(QStringLiteral("&Quit"), this);
    m_quit->setShortcut(QKeySequence::Quit);
    connect(m_quit, &QAction::triggered, this, [this] { m_lifecycle->requestQuit(); });
    auto *settings = new QAction(QStringLiteral("S&ettings…"), this);
    settings->setObjectName(QStringLiteral("settingsAction"));
    settings->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Comma));
    settings->setToolTip(QStringLiteral("Change the disk reserve, threads and partials' age in "
                                        "the configuration file. Ctrl+,"));
    connect(settings, &QAction::triggered, this, [this] { openSettings(); });
    QMenu *fileMenu = menuBar()->addMenu(QStringLiteral("&File"));
    fileMenu->addAction(settings);
    fileMenu->addSeparator();
    fileMenu->addAction(m_quit);

    buildLayout(log);

    m_tick.setInterval(1000);
    connect(&m_tick, &QTimer::timeout, this, &ReceiverWindow::updateStatus);
    m_tray = TrayIcon::create(this, QStringLiteral("isocket receiver"), TrayRole::Receiver);
    m_lifecycle = new WindowLifecycle(this, m_tray, TrayRole::Receiver, [this] {
        return PendingWork{0, 0, m_peers->connectedSources(), m_incoming->receivingCount()};
    });
    if (m_tray)
        m_tray->addAction(m_quit);

    WindowState{QStringLiteral("receiverWindow"), this, headers(), {m_splitter, m_lower}}.restore();
    updateState();
    updateHealth();
    updateStatus();
}

ReceiverWindow::~ReceiverWindow() = default;

void ReceiverWindow::start()
{
    m_service->start();
}

QList<QHeaderView *> ReceiverWindow::headers() const
{
    return {m_fleetView->horizontalHeader(), m_peerView->horizontalHeader(),
            m_incomingView->horizontalHeader(),
            m_datasetView->horizontalHeader(), m_logPane->view()->horizontalHeader()};
}

void ReceiverWindow::buildLayout(LogModel *log)
{
    auto *central = new QWidget(this);
    auto *layout = new QVBoxLayout(central);
    const QFontMetrics fm = fontMetrics();

    m_headline = new HeadlineBar(central);
    layout->addWidget(m_headline);
    m_notices = new NoticeArea(central);
    connect(m_notices, &NoticeArea::actionTriggered, this, [this](NoticeAction action) {
        if (action == NoticeAction::ChangeSettings)
            Q_EMIT startSettingsRequested();
    });
    layout->addWidget(m_notices);

    auto *box = new QGroupBox(QStringLiteral("Receiver"), central);
    m_icon = new QLabel(box);
    m_state = new QLabel(box);
    m_state->setObjectName(QStringLiteral("listenState"));
    QFont bold = m_state->font();
    bold.setBold(true);
    m_state->setFont(bold);
    m_address = new QLabel(box);
    m_address->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_root = new QLabel(m_service->setup().options.root, box);
    m_root->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_root->setToolTip(QStringLiteral("Files are stored as <root>/<source>/<dbtag>/<path>"));
    auto *stateRow = new QHBoxLayout;
    stateRow->addWidget(m_icon);
    stateRow->addWidget(m_state, 1);
    auto *form = new QFormLayout(box);
    form->addRow(QStringLiteral("State:"), stateRow);
    form->addRow(QStringLiteral("Listening on:"), m_address);
    form->addRow(QStringLiteral("Receive root:"), m_root);
    m_disk = new QProgressBar(box);
    m_disk->setObjectName(QStringLiteral("diskSpace"));
    m_disk->setAccessibleName(QStringLiteral("Free space on the receive root's filesystem"));
    m_disk->setRange(0, 1000);
    m_disk->setTextVisible(true);
    form->addRow(QStringLiteral("Disk:"), m_disk);
    m_chart = new ThroughputChart(&m_incoming->throughput(), central);
    m_chart->setCaption(QStringLiteral("Received"));
    auto *top = new QHBoxLayout;
    top->addWidget(box, 2);
    top->addWidget(m_chart, 3);
    layout->addLayout(top);

    m_splitter = new QSplitter(Qt::Vertical, central);
    m_splitter->setObjectName(QStringLiteral("mainSplitter"));
    m_splitter->setChildrenCollapsible(false);

    m_edTabs = new QTabWidget(m_splitter);
    m_edTabs->setObjectName(QStringLiteral("edTabs"));
    m_fleetView = makeTable(QStringLiteral("fleetView"), QStringLiteral("Every ED seen"), m_edTabs);
    m_fleetView->setModel(sorted(m_fleet, FleetModel::SortRole, this));
    m_fleetView->setTextElideMode(Qt::ElideRight); // the reason reads from its start
    m_fleetView->setSortingEnabled(true);
    m_fleetView->sortByColumn(FleetModel::Source, Qt::AscendingOrder);
    QHeaderView *fh = m_fleetView->horizontalHeader();
    fh->setStretchLastSection(true);
    fh->resizeSection(FleetModel::Source, fm.horizontalAdvance(QStringLiteral("ed-source-000")) + 24);
    fh->resizeSection(FleetModel::State, fm.horizontalAdvance(QStringLiteral("Degraded")) + 40);
    fh->resizeSection(FleetModel::Backlog, fm.horizontalAdvance(QStringLiteral("00,000 files, 000.0 MiB")) + 16);
    fh->resizeSection(FleetModel::Oldest, fm.horizontalAdvance(QStringLiteral("00 min 00 s")) + 16);
    fh->resizeSection(FleetModel::Eta, fm.horizontalAdvance(QStringLiteral("00 min 00 s")) + 16);
    fh->resizeSection(FleetModel::LastSeen, fm.horizontalAdvance(QStringLiteral("2025-01-01 00:00")) + 16);
    fh->resizeSection(FleetModel::LiveDbtag, fm.horizontalAdvance(QStringLiteral("DC20250101120000")) + 16);
    fh->resizeSection(FleetModel::Received, fm.horizontalAdvance(QStringLiteral("00,000 files, 000.0 MiB")) + 16);
    fh->resizeSection(FleetModel::Datasets, fm.horizontalAdvance(QStringLiteral("Datasets")) + 16);

    m_peerView = makeTable(QStringLiteral("peerView"), QStringLiteral("Connected EDs"), m_edTabs);
    m_peers->setRoot(m_service->setup().options.root);
    m_incoming->setRoot(m_service->setup().options.root);
    m_datasets->setRoot(m_service->setup().options.root);
    m_peerView->setModel(sorted(m_peers, PeerModel::SortRole, this));
    m_peerView->setSortingEnabled(true);
    m_peerView->sortByColumn(PeerModel::Source, Qt::AscendingOrder);
    QHeaderView *ph = m_peerView->horizontalHeader();
    ph->setStretchLastSection(false);
    ph->setSectionResizeMode(PeerModel::LastFile, QHeaderView::Stretch);
    ph->resizeSection(PeerModel::Source, fm.horizontalAdvance(QStringLiteral("(not authenticated) — refused: wrong secret")) + 30);
    ph->resizeSection(PeerModel::Address, fm.horizontalAdvance(QStringLiteral("000.000.000.000")) + 20);
    new TableMenu(m_peerView, PeerModel::PathRole, TableMenu::Rows::Folders);
    m_edTabs->addTab(m_fleetView, QStringLiteral("F&leet: every ED seen"));
    m_edTabs->addTab(m_peerView, QStringLiteral("Connected &EDs"));

    m_incomingView = makeTable(QStringLiteral("incomingView"), QStringLiteral("Incoming files"), m_splitter);
    m_incomingView->setModel(m_incoming);
    m_incomingView->setItemDelegateForColumn(
        IncomingModel::Progress, new ProgressDelegate(IncomingModel::ProgressRole, m_incomingView));
    m_incomingView->setItemDelegateForColumn(IncomingModel::File,
                                             new TailElidingDelegate(m_incomingView));
    m_incomingView->setSelectionMode(QAbstractItemView::ExtendedSelection);
    QHeaderView *ih = m_incomingView->horizontalHeader();
    ih->resizeSection(IncomingModel::Source, fm.horizontalAdvance(QStringLiteral("ed-source-00")) + 12);
    ih->resizeSection(IncomingModel::Progress, fm.horizontalAdvance(QStringLiteral("100 %")) * 4);
    ih->resizeSection(IncomingModel::Status, fm.horizontalAdvance(QStringLiteral("interrupted")) + 40);
    ih->resizeSection(IncomingModel::Size, fm.horizontalAdvance(QStringLiteral("000.0 KiB")) + 20);
    ih->resizeSection(IncomingModel::Rate, fm.horizontalAdvance(QStringLiteral("000.0 MiB/s")) + 20);
    ih->resizeSection(IncomingModel::Time, fm.horizontalAdvance(QStringLiteral("00:00:00")) + 20);
    new ColumnFitter(m_incomingView, IncomingModel::File,
                     fm.horizontalAdvance(QStringLiteral("DC20250101120000/DC20250101T120000-00Z.dat")));
    auto *incomingMenu = new TableMenu(m_incomingView, IncomingModel::PathRole, TableMenu::Rows::Files);

    m_datasetView = makeTable(QStringLiteral("datasetView"), QStringLiteral("Completed datasets"), m_splitter);
    m_datasetView->setModel(sorted(m_datasets, DatasetModel::SortRole, this));
    m_datasetView->setSortingEnabled(true);
    m_datasetView->sortByColumn(DatasetModel::Completed, Qt::DescendingOrder);
    QHeaderView *dh = m_datasetView->horizontalHeader();
    dh->setStretchLastSection(true);
    dh->resizeSection(DatasetModel::Dbtag, fm.horizontalAdvance(QStringLiteral("DC20250101120000")) + 36);
    dh->resizeSection(DatasetModel::Source, fm.horizontalAdvance(QStringLiteral("ed-source-00")) + 12);
    dh->resizeSection(DatasetModel::Files, fm.horizontalAdvance(QStringLiteral("Files")) + 16);
    dh->resizeSection(DatasetModel::Bytes, fm.horizontalAdvance(QStringLiteral("000.0 MiB")) + 16);
    m_datasetView->setSelectionMode(QAbstractItemView::ExtendedSelection);
    auto *datasetMenu = new TableMenu(m_datasetView, DatasetModel::PathRole, TableMenu::Rows::Folders);

    m_logPane = new LogPane(log, m_splitter);
    for (TableMenu *menu : {incomingMenu, datasetMenu})
        menu->setShowInLog([this](const QString &text) { m_logPane->showLinesAbout(text); });

    m_lower = new QSplitter(Qt::Horizontal, m_splitter);
    m_lower->setObjectName(QStringLiteral("lowerSplitter"));
    m_lower->addWidget(section(heading(QStringLiteral("&Completed datasets (newest first)"), m_datasetView, m_lower), m_datasetView, m_lower));
    m_lower->addWidget(section(heading(QStringLiteral("Lo&g"), m_logPane->view(), m_lower), m_logPane, m_lower));
    m_lower->setStretchFactor(0, 1);
    m_lower->setStretchFactor(1, 1);

    m_splitter->addWidget(m_edTabs);
    m_splitter->addWidget(section(heading(QStringLiteral("I&ncoming files"), m_incomingView, m_splitter), m_incomingView, m_splitter));
    m_splitter->addWidget(m_lower);
    m_splitter->setStretchFactor(0, 4);
    m_splitter->setStretchFactor(1, 3);
    m_splitter->setStretchFactor(2, 3);
    layout->addWidget(m_splitter, 1);
    setCentralWidget(central);

    setTabOrder(m_edTabs, m_incomingView);
    setTabOrder(m_incomingView, m_datasetView);
    setTabOrder(m_datasetView, m_logPane->levelBox());

    m_statusText = new QLabel(this);
    statusBar()->addWidget(m_statusText, 1);
    resize(fm.averageCharWidth() * 140, fm.height() * 48);
}

void ReceiverWindow::updateState()
{
    Badge badge = Badge::Waiting;
    QString text = QStringLiteral("starting");
    QString tip = QStringLiteral("Opening the receive root and the listening socket.");
    const ReceiverOptions &o = m_service->setup().options;
    switch (m_status.run) {
    case ReceiverStatus::Run::Stopped:
    case ReceiverStatus::Run::Starting: break;
    case ReceiverStatus::Run::Listening:
        badge = Badge::Connected;
        text = QStringLiteral("listening");
        tip = QStringLiteral("Accepting EDs; each must prove it holds the shared secret%1.")
                  .arg(o.secret.isEmpty() ? QStringLiteral(" (none set: loopback only)") : QString());
        break;
    case ReceiverStatus::Run::Failed:
        badge = Badge::Refused;
        // Short: the banner above says why and what to do (a long error here widened the
        // window and squashed the tables).
        text = QStringLiteral("not listening");
        tip = QStringLiteral("The receiver could not start: %1. Fix the cause, then change "
                             "the settings (the banner above) or restart.")
                  .arg(m_status.error);
        break;
    }
    m_state->setText(text);
    m_state->setToolTip(tip);
    m_state->setStyleSheet(QStringLiteral("color: %1").arg(badgeColor(badge).name()));
    const int size = fontMetrics().height();
    m_icon->setPixmap(badgeIcon(badge).pixmap(QSize(size, size), devicePixelRatioF()));
    m_address->setText(m_status.run == ReceiverStatus::Run::Listening
                           ? m_status.address
                           : m_service->setup().address.toString() + QLatin1Char(':')
                                 + QString::number(m_service->setup().port));
    setWindowTitle(QStringLiteral("isocket — receiver %1").arg(m_address->text()));
    updateStatus();
}

SettingsDialog *ReceiverWindow::openSettings()
{
    const QString path = m_configFile.isEmpty() ? Config::defaultPath() : m_configFile;
    auto *dialog = new SettingsDialog(SettingsDialog::Side::Receiver, path, this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    // The receiver takes none of these while it runs.
    connect(dialog, &SettingsDialog::saved, this, [this, path](const Config &, const QStringList &keys) {
        const QString text = QStringLiteral("Settings saved to %1; %2 take(s) effect after restart")
                                 .arg(path, keys.join(QStringLiteral(", ")));
        qCInfo(lcGui).noquote() << text;
        statusBar()->showMessage(text, 10000);
    });
    dialog->open();
    return dialog;
}

void ReceiverWindow::loadCompletedFromDisk(const QString &root)
{
    // A walk of the receive root and a read of each manifest: off the GUI thread (runOffThread:
    // dropped if the window is gone by then).
    runOffThread<QList<DatasetRow>>(
        this,
        [root] {
            QList<DatasetRow> rows;
            for (const CompletedDataset &d : completedDatasets(root))
                rows.append(
                    DatasetRow{QString(), d.source, d.dbtag, d.files, d.bytes, d.completed});
            return rows;
        },
        [this](const QList<DatasetRow> &rows) {
            m_datasets->addFromDisk(rows);
            Q_EMIT datasetsLoaded(int(rows.size()));
        });
}

void ReceiverWindow::updateHealth()
{
    m_headline->setHeadline(receiverHeadline(m_status));
    m_notices->setNotices(receiverNotices(m_status));
    const ReceiverHealth &h = m_status.health;
    m_disk->setToolTip(QStringLiteral("Free space on the receive root's filesystem. Under the "
                                      "reserve (receive.reserve) files are refused and wait on "
                                      "the EDs."));
    if (h.freeBytes < 0 || h.totalBytes <= 0) {
        m_disk->setValue(0);
        m_disk->setFormat(freeSpaceText(h));
        return;
    }
    // The bar is the space used; the text says what is free against the reserve.
    const double used = 1.0 - double(h.freeBytes) / double(h.totalBytes);
    m_disk->setValue(int(std::clamp(used, 0.0, 1.0) * 1000));
    m_disk->setFormat((h.diskFull ? QStringLiteral("disk full: ") : QString()) + freeSpaceText(h));
    // A light fill, so that the dark text over it stays readable; red when under the reserve.
    const QColor c = h.diskFull ? QColor(0xf2, 0x9b, 0x9b) : QColor(0xa8, 0xd5, 0xaa);
    m_disk->setStyleSheet(QStringLiteral("QProgressBar { border: 1px solid #9a9a9a; border-radius: "
                                         "2px; background: white; text-align: center; color: "
                                         "#202020; } QProgressBar::chunk { background: %1; }")
                              .arg(c.name()));
}

void ReceiverWindow::updateStatus()
{
    const double rate = m_incoming->throughput().rate(5);
    const QString text =
        QStringLiteral("%1 ED(s) connected · %2 file(s) stored (%3) · %4 receiving · %5 dataset(s) "
                       "complete · %6")
            .arg(m_peers->connectedSources())
            .arg(m_incoming->storedCount())
            .arg(formatBytes(m_incoming->storedBytes()))
            .arg(m_incoming->receivingCount())
            .arg(m_datasets->completedCount())
            .arg(formatRate(rate));
    m_statusText->setText(text);
    if (m_tray)
        m_tray->setStatus(m_headline->headline().badge, m_headline->text(),
                          QStringLiteral("%1 · %2 ED(s)").arg(formatRate(rate)).arg(m_peers->connectedSources()));
    if (isVisible()) {
        m_peers->tick();
        if (++m_ticks % 5 == 0)
            m_fleet->tick(); // ages ("last seen", "oldest unsent") in seconds are enough
    }
}

void ReceiverWindow::flushModels()
{
    m_peers->flush();
    m_incoming->flush();
    m_datasets->flush();
    m_fleet->flush();
    updateStatus();
}

void ReceiverWindow::showEvent(QShowEvent *event)
{
    QMainWindow::showEvent(event);
    m_tick.start();
    updateStatus();
}

void ReceiverWindow::hideEvent(QHideEvent *event)
{
    QMainWindow::hideEvent(event);
    m_tick.stop();
}

void ReceiverWindow::closeEvent(QCloseEvent *event)
{
    if (!m_lifecycle->allowClose(event)) // hidden to the tray, or a question asked
        return;
    WindowState{QStringLiteral("receiverWindow"), this, headers(), {m_splitter, m_lower}}.save();
    QMainWindow::closeEvent(event);
}

} // namespace isocket::gui
