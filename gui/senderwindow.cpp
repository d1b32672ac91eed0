#include "gui/senderwindow.h"

#include "gui/columnfitter.h"
#include "gui/connectionpanel.h"
#include "gui/dbtagmodel.h"
#include "gui/elidingdelegate.h"
#include "gui/format.h"
#include "gui/healthwidgets.h"
#include "gui/logmodel.h"
#include "gui/logpane.h"
#include "gui/offthread.h"
#include "gui/problemsmodel.h"
#include "gui/progressdelegate.h"
#include "gui/settingsdialog.h"
#include "gui/statevisuals.h"
#include "gui/tablemenu.h"
#include "gui/throughputchart.h"
#include "gui/transfermodel.h"
#include "gui/trayicon.h"
#include "gui/widgetfactory.h"
#include "gui/windowlifecycle.h"
#include "gui/windowstate.h"
#include "core/fsname.h"
#include "core/logging.h"
#include "core/senthistory.h"

#include <QAction>
#include <QComboBox>
#include <QPushButton>
#include <QApplication>
#include <QCloseEvent>
#include <QDesktopServices>
#include <QGroupBox>
#include <QHeaderView>
#include <QLabel>
#include <QMenuBar>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTabWidget>
#include <QStatusBar>
#include <QTableView>
#include <QToolBar>
#include <QUrl>
#include <QVBoxLayout>

namespace isocket::gui {

SenderWindow::SenderWindow(EdAgentSetup setup, LogModel *log, QWidget *parent)
    : QMainWindow(parent),
      m_agent(new EdAgent(std::move(setup), EdAgent::Threading::OwnThread, this)),
      m_dbtags(new DbtagModel(this)),
      m_transfers(new TransferModel(this)),
      m_problems(new ProblemsModel(this)),
      m_dbtagProxy(new QSortFilterProxyModel(this))
{
    setObjectName(QStringLiteral("senderWindow"));
    setWindowTitle(QStringLiteral("isocket — sender %1 → %2")
                       .arg(m_agent->setup().sender.source, m_agent->setup().receiverAddress()));
    setWindowIcon(appIcon());

    // Straight from the agent's thread, queued: batches of values.
    EdAgent *a = m_agent;
    connect(a, &EdAgent::dbtagsChanged, m_dbtags, &DbtagModel::updateStatuses);
    connect(a, &EdAgent::dbtagsRemoved, m_dbtags, &DbtagModel::removeDbtags);
    connect(a, &EdAgent::filesChanged, m_transfers, &TransferModel::onFilesChanged);
    connect(a, &EdAgent::filesChanged, m_dbtags, &DbtagModel::onFilesChanged);
    connect(a, &EdAgent::filesChanged, m_problems, &ProblemsModel::onFilesChanged);
    connect(a, &EdAgent::statusChanged, this, [this](const EdStatus &status) {
        m_status = status;
        if (status.paused != m_paused) {
            m_paused = status.paused;
            m_pause->setChecked(m_paused);
            m_pause->setText(m_paused ? QStringLiteral("Resume &sending")
                                      : QStringLiteral("&Pause sending"));
        }
        updateHealth();
        updateStatus();
        m_lifecycle->reportHealth(status);
    });
    connect(m_dbtags, &QAbstractItemModel::dataChanged, this, &SenderWindow::updateHealth);
    connect(m_dbtags, &QAbstractItemModel::rowsRemoved, this, &SenderWindow::updateHealth);

    buildActions();
    buildLayout(log);

    m_tick.setInterval(1000);
    connect(&m_tick, &QTimer::timeout, this, &SenderWindow::updateStatus);

    m_tray = TrayIcon::create(this, QStringLiteral("isocket sender"), TrayRole::Sender);
    m_lifecycle = new WindowLifecycle(this, m_tray, TrayRole::Sender, [this] {
        return PendingWork{m_status.queued, m_transfers->inFlightCount()};
    });
    if (m_tray) {
        m_tray->addAction(m_pause);
        m_tray->addAction(m_quit);
    }

    WindowState{QStringLiteral("senderWindow"), this,
                {m_dbtagView->horizontalHeader(), m_transferView->horizontalHeader(),
                 m_logPane->view()->horizontalHeader()},
                {m_splitter}}
        .restore();
    updateHealth();
    updateStatus();
}

SenderWindow::~SenderWindow() = default;

void SenderWindow::start()
{
    m_agent->start();
    loadDeliveredFromDisk();
}

void SenderWindow::loadDeliveredFromDisk()
{
    // What earlier runs delivered, from the sent marks on disk: a walk of the newest dbtags, off
    // the GUI thread (runOffThread: dropped if the window is gone by then).
    constexpr int Shown = 200;
    const ScanOptions &scan = m_agent->setup().scan;
    runOffThread<QList<SentFile>>(
        this,
        [scan] {
            return recentlySent(resolveRoot(scan.root), scan.prefix,
                                {scan.doneParse, scan.doneWatch}, Shown);
        },
        [this](const QList<SentFile> &files) {
            m_transfers->addDeliveredFromDisk(files);
            Q_EMIT deliveredLoaded(int(files.size()));
        });
}

SettingsDialog *SenderWindow::openSettings()
{
    auto *dialog = new SettingsDialog(SettingsDialog::Side::Sender,
                                      m_configFile.isEmpty() ? Config::defaultPath() : m_configFile,
                                      this);
    dialog->setAttribute(Qt::WA_DeleteOnClose);
    connect(dialog, &SettingsDialog::saved, this, &SenderWindow::applySettings);
    dialog->open();
    return dialog;
}

void SenderWindow::applySettings(const Config &saved, const QStringList &changedKeys)
{
    // What the running agent takes now; the rest is read at the next start.
    QStringList later;
    for (const QString &key : changedKeys) {
        if (key == QLatin1String("send.bwlimit"))
            m_agent->setBandwidthLimit(saved.bwlimit);
        else
            later.append(key);
    }
    QString text = QStringLiteral("Settings saved to %1")
                       .arg(m_configFile.isEmpty() ? Config::defaultPath() : m_configFile);
    if (changedKeys.contains(QLatin1String("send.bwlimit")))
        text += QStringLiteral("; send.bwlimit applies now");
    if (!later.isEmpty())
        text += QStringLiteral("; %1 take(s) effect after restart")
                    .arg(later.join(QStringLiteral(", ")));
    qCInfo(lcGui).noquote() << text;
    statusBar()->showMessage(text, 10000);
}

void SenderWindow::buildActions()
{
    m_pause = new QAction(badgeIcon(Badge::Paused), QStringLiteral("&Pause sending"), this);
    m_pause->setCheckable(true);
    m_pause->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_P));
    m_pause->setToolTip(QStringLiteral("Hand no new file to the connections (files in flight "
                                       "finish). Ctrl+P"));
    connect(m_pause, &QAction::toggled, m_agent, &EdAgent::setPaused);

    m_rescan = new QAction(QStringLiteral("Re&scan now"), this);
    m_rescan->setShortcut(QKeySequence::Refresh);
    m_rescan->setToolTip(QStringLiteral("Scan the data root again now (new dbtags, changed "
                                        "markers, files missed). F5"));
    connect(m_rescan, &QAction::triggered, m_agent, &EdAgent::rescan);

    m_retry = new QAction(QStringLiteral("&Retry connection now"), this);
    m_retry->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
    m_retry->setToolTip(QStringLiteral("Reconnect to the receiver now. Ctrl+R"));
    connect(m_retry, &QAction::triggered, m_agent, &EdAgent::retryNow);

    m_openFolder = new QAction(QStringLiteral("&Open dbtag folder"), this);
    m_openFolder->setShortcut(QKeySequence::Open);
    m_openFolder->setToolTip(QStringLiteral("Open the selected dbtag's folder in the file "
                                            "manager. Ctrl+O"));
    m_openFolder->setEnabled(false);
    connect(m_openFolder, &QAction::triggered, this, &SenderWindow::openSelectedDbtag);

    m_quit = new QAction(QStringLiteral("&Quit"), this);
    m_quit->setShortcut(QKeySequence::Quit);
    connect(m_quit, &QAction::triggered, this, [this] { m_lifecycle->requestQuit(); });

    m_settings = new QAction(QStringLiteral("S&ettings…"), this);
    m_settings->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Comma));
    m_settings->setToolTip(QStringLiteral("Change the bandwidth limit, connections and retries "
                                          "in the configuration file. Ctrl+,"));
    connect(m_settings, &QAction::triggered, this, [this] { openSettings(); });

    QMenu *file = menuBar()->addMenu(QStringLiteral("&File"));
    file->addAction(m_openFolder);
    file->addAction(m_settings);
    file->addSeparator();
    file->addAction(m_quit);
    QMenu *transfer = menuBar()->addMenu(QStringLiteral("&Transfer"));
    transfer->addAction(m_pause);
    transfer->addAction(m_rescan);
    transfer->addAction(m_retry);

    QToolBar *bar = addToolBar(QStringLiteral("Actions"));
    bar->setObjectName(QStringLiteral("actionsToolBar"));
    bar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
    bar->addAction(m_pause);
    bar->addAction(m_rescan);
    bar->addAction(m_retry);
    bar->addAction(m_openFolder);
}

void SenderWindow::buildLayout(LogModel *log)
{
    auto *central = new QWidget(this);
    auto *layout = new QVBoxLayout(central);

    // Top: the verdict, then what needs attention, each with its action.
    m_headline = new HeadlineBar(central);
    layout->addWidget(m_headline);
    m_notices = new NoticeArea(central);
    connect(m_notices, &NoticeArea::actionTriggered, this, [this](NoticeAction action) {
        switch (action) {
        case NoticeAction::None: break;
        case NoticeAction::RetryNow: m_agent->retryNow(); break;
        case NoticeAction::Resume: m_agent->setPaused(false); break;
        case NoticeAction::Rescan: m_agent->rescan(); break;
        case NoticeAction::ChangeSettings: Q_EMIT startSettingsRequested(); break;
        }
    });
    layout->addWidget(m_notices);

    // Then the connection and the chart side by side.
    auto *connectionBox = new QGroupBox(QStringLiteral("Connection"), central);
    m_connection = new ConnectionPanel(m_agent, connectionBox);
    auto *cl = new QVBoxLayout(connectionBox);
    cl->addWidget(m_connection);
    cl->addStretch(1);
    m_chart = new ThroughputChart(&m_transfers->throughput(), central);
    m_chart->setCaption(QStringLiteral("Sent"));
    auto *top = new QHBoxLayout;
    top->addWidget(connectionBox, 2);
    top->addWidget(m_chart, 3);
    layout->addLayout(top);

    m_splitter = new QSplitter(Qt::Vertical, central);
    m_splitter->setObjectName(QStringLiteral("mainSplitter"));
    m_splitter->setChildrenCollapsible(false);

    m_dbtagView = makeTable(QStringLiteral("dbtagView"), QStringLiteral("Dbtags"), m_splitter);
    m_dbtagProxy->setSourceModel(m_dbtags);
    m_dbtagProxy->setSortRole(DbtagModel::SortRole);
    m_dbtagView->setModel(m_dbtagProxy);
    m_dbtagView->setSortingEnabled(true);
    m_dbtagView->sortByColumn(DbtagModel::Name, Qt::DescendingOrder);
    m_dbtagView->setItemDelegateForColumn(
        DbtagModel::Progress, new ProgressDelegate(DbtagModel::ProgressRole, m_dbtagView));
    m_dbtagView->setItemDelegateForColumn(DbtagModel::Name, new TailElidingDelegate(m_dbtagView));
    QHeaderView *dh = m_dbtagView->horizontalHeader();
    const QFontMetrics fm = fontMetrics();
    dh->resizeSection(DbtagModel::State, fm.horizontalAdvance(QStringLiteral("closed abnormally")) + 48);
    dh->resizeSection(DbtagModel::Progress, fm.horizontalAdvance(QStringLiteral("100 %")) * 4);
    dh->resizeSection(DbtagModel::Files, fm.horizontalAdvance(QStringLiteral("00000 / 00000")) + 24);
    dh->resizeSection(DbtagModel::Bytes, fm.horizontalAdvance(QStringLiteral("000.0 MiB / 000.0 MiB")) + 24);
    dh->resizeSection(DbtagModel::LastActivity, fm.horizontalAdvance(QStringLiteral("2025-01-01 00:00")) * 6 / 5 + 16); // bold rows
    new ColumnFitter(m_dbtagView, DbtagModel::Name,
                     fm.horizontalAdvance(QStringLiteral("DC20250101120000")) + 24);
    auto *dbtagMenu = new TableMenu(m_dbtagView, DbtagModel::PathRole, TableMenu::Rows::Folders);
    connect(m_dbtagView, &QAbstractItemView::doubleClicked, this, &SenderWindow::openSelectedDbtag);
    connect(m_dbtagView->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            [this] { m_openFolder->setEnabled(!selectedDbtagPath().isEmpty()); });

    m_transferView = makeTable(QStringLiteral("transferView"), QStringLiteral("Transfers"), m_splitter);
    m_transferView->setModel(m_transfers);
    m_transferView->setItemDelegateForColumn(
        TransferModel::Progress, new ProgressDelegate(TransferModel::ProgressRole, m_transferView));
    m_transferView->setItemDelegateForColumn(TransferModel::File,
                                             new TailElidingDelegate(m_transferView));
    m_transferView->setSelectionMode(QAbstractItemView::ExtendedSelection);
    QHeaderView *th = m_transferView->horizontalHeader();
    th->resizeSection(TransferModel::Status, fm.horizontalAdvance(QStringLiteral("queued #000")) + 40);
    th->resizeSection(TransferModel::Progress, fm.horizontalAdvance(QStringLiteral("100 %")) * 4);
    th->resizeSection(TransferModel::Size, fm.horizontalAdvance(QStringLiteral("000.0 KiB")) + 20);
    th->resizeSection(TransferModel::Took, fm.horizontalAdvance(QStringLiteral("took 00 min 00 s")) + 20);
    th->resizeSection(TransferModel::Time, fm.horizontalAdvance(QStringLiteral("00:00:00")) + 20);
    const int fileWidth = fm.horizontalAdvance(QStringLiteral("DC20250101120000/DC20250101T120000-00Z.dat"));
    new ColumnFitter(m_transferView, TransferModel::File, fileWidth);
    auto *transferMenu = new TableMenu(m_transferView, TransferModel::PathRole, TableMenu::Rows::Files);
    transferMenu->setRetry(
        [](const QModelIndex &row) {
            const int kind = row.data(TransferModel::KindRole).toInt();
            return kind == TransferRow::Failed || kind == TransferRow::Retrying;
        },
        [this](const QModelIndex &row) {
            m_agent->retryFile(row.data(TransferModel::DbtagRole).toString(),
                               row.data(TransferModel::RelPathRole).toString());
        });

    // The log and, apart from it, the files that failed (with a retry).
    m_logTabs = new QTabWidget(m_splitter);
    m_logTabs->setObjectName(QStringLiteral("logTabs"));
    m_logPane = new LogPane(log, m_logTabs);
    m_problemsView = makeTable(QStringLiteral("problemsView"), QStringLiteral("Problems"), m_logTabs);
    m_problemsView->setModel(m_problems);
    m_problemsView->setSelectionMode(QAbstractItemView::ExtendedSelection);
    m_problemsView->setItemDelegateForColumn(ProblemsModel::File,
                                             new TailElidingDelegate(m_problemsView));
    QHeaderView *ph = m_problemsView->horizontalHeader();
    ph->resizeSection(ProblemsModel::Status, fm.horizontalAdvance(QStringLiteral("will retry (00 failed)")) + 40);
    ph->resizeSection(ProblemsModel::Reason, fm.horizontalAdvance(QStringLiteral("disk-full: the receiver's disk is full")) + 16);
    ph->resizeSection(ProblemsModel::Time, fm.horizontalAdvance(QStringLiteral("00:00:00")) + 20);
    new ColumnFitter(m_problemsView, ProblemsModel::File, fileWidth);
    auto *problemsMenu = new TableMenu(m_problemsView, ProblemsModel::PathRole, TableMenu::Rows::Files);
    problemsMenu->setRetry(nullptr, [this](const QModelIndex &row) {
        m_agent->retryFile(row.data(ProblemsModel::DbtagRole).toString(),
                           row.data(ProblemsModel::RelPathRole).toString());
    });
    for (TableMenu *menu : {dbtagMenu, transferMenu, problemsMenu})
        menu->setShowInLog([this](const QString &text) {
            m_logTabs->setCurrentWidget(m_logPane);
            m_logPane->showLinesAbout(text);
        });
    m_logTabs->addTab(m_logPane, QStringLiteral("Log"));
    m_logTabs->addTab(m_problemsView, QStringLiteral("Problems"));
    auto problemsTitle = [this](int count, int forGood) {
        m_logTabs->setTabText(m_logTabs->indexOf(m_problemsView),
                              count == 0 ? QStringLiteral("Problems")
                                         : QStringLiteral("Problems (%1)").arg(count));
        m_logTabs->setTabIcon(m_logTabs->indexOf(m_problemsView),
                              count == 0     ? QIcon()
                              : forGood > 0 ? badgeIcon(Badge::Failed)
                                            : badgeIcon(Badge::Waiting));
    };
    connect(m_problems, &ProblemsModel::countChanged, this, problemsTitle);

    m_splitter->addWidget(section(heading(QStringLiteral("&Dbtags"), m_dbtagView, central), m_dbtagView, m_splitter));
    m_splitter->addWidget(section(heading(QStringLiteral("Tra&nsfers — in flight, queued next, last delivered"), m_transferView, central), m_transferView, m_splitter));
    m_splitter->addWidget(section(heading(QStringLiteral("Lo&g and problems"), m_logPane->view(), central), m_logTabs, m_splitter));
    m_splitter->setStretchFactor(0, 3);
    m_splitter->setStretchFactor(1, 4);
    m_splitter->setStretchFactor(2, 2);
    layout->addWidget(m_splitter, 1);
    setCentralWidget(central);

    setTabOrder(m_connection->retryButton(), m_dbtagView);
    setTabOrder(m_dbtagView, m_transferView);
    setTabOrder(m_transferView, m_logPane->levelBox());

    m_statusText = new QLabel(this);
    m_statusText->setObjectName(QStringLiteral("statusText"));
    statusBar()->addWidget(m_statusText, 1);
    resize(fm.averageCharWidth() * 140, fm.height() * 48);
}

QString SenderWindow::selectedDbtagPath() const
{
    const QModelIndexList rows = m_dbtagView->selectionModel()->selectedRows();
    return rows.isEmpty() ? QString() : rows.first().data(DbtagModel::PathRole).toString();
}

void SenderWindow::openSelectedDbtag()
{
    const QString path = selectedDbtagPath();
    if (!path.isEmpty())
        // The desktop opens it, not us. Built from the name's bytes: QUrl::fromLocalFile would
        // re-encode a name that is not UTF-8 and name another directory.
        QDesktopServices::openUrl(
            QUrl::fromEncoded("file://" + fsEncode(path).toPercentEncoding("/"), QUrl::StrictMode));
}

void SenderWindow::updateHealth()
{
    m_headline->setHeadline(edHeadline(m_status));
    m_notices->setNotices(
        edNotices(m_status, m_agent->setup().sender.secretFile, m_dbtags->abnormalCount()));
}

void SenderWindow::updateStatus()
{
    const TransferModel *t = m_transfers;
    // The link's rate: bytes on the wire over the last seconds (a file's own time is in its row).
    const double rate = t->linkRate();
    const QString text = QStringLiteral("%1 file(s) delivered (%2) · %3 in flight · %4 queued · link %5")
                             .arg(t->deliveredCount())
                             .arg(formatBytes(t->deliveredBytes()))
                             .arg(t->inFlightCount())
                             .arg(t->queuedCount())
                             .arg(formatRate(rate));
    m_statusText->setText(text + (m_paused ? QStringLiteral(" · paused") : QString()));
    // The tray says the verdict once the agent reports one, else the connection's state.
    const bool verdict = m_status.health.at.isValid();
    if (m_tray)
        m_tray->setStatus(verdict    ? m_headline->headline().badge
                          : m_paused ? Badge::Paused
                                     : m_connection->badge(),
                          verdict ? m_headline->text() : m_connection->stateText(),
                          QStringLiteral("%1 · %2 delivered").arg(formatRate(rate)).arg(t->deliveredCount()));
    if (isVisible() && t->inFlightCount() > 0)
        m_transfers->flush(); // rates and ETAs move with time
}

void SenderWindow::flushModels()
{
    m_dbtags->flush();
    m_transfers->flush();
    m_problems->flush();
    updateStatus();
    updateHealth();
}

void SenderWindow::showEvent(QShowEvent *event)
{
    QMainWindow::showEvent(event);
    m_tick.start();
    updateStatus();
}

void SenderWindow::hideEvent(QHideEvent *event)
{
    QMainWindow::hideEvent(event);
    m_tick.stop();
}

void SenderWindow::closeEvent(QCloseEvent *event)
{
    if (!m_lifecycle->allowClose(event)) // hidden to the tray, or a question asked
        return;
    WindowState{QStringLiteral("senderWindow"), this,
                {m_dbtagView->horizontalHeader(), m_transferView->horizontalHeader(),
                 m_logPane->view()->horizontalHeader()},
                {m_splitter}}
        .save();
    QMainWindow::closeEvent(event);
}

} // namespace isocket::gui
