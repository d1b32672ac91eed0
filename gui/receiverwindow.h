#pragma once
// ReceiverWindow: the DRMS operator's window. Connects a ReceiverService (the Receiver on the
// service's own thread) straight to its models (FleetModel: every ED ever seen; PeerModel,
// IncomingModel, DatasetModel) and widgets (the health headline and notices, the listening
// state, free space against the reserve, a ThroughputChart of received bytes, the LogPane, a
// tray icon). The datasets already complete on disk are read once at start off the GUI thread. Does no file or socket I/O itself. Owns the service, models and widgets (children); the LogModel is
// shared and not owned. Persists geometry and column layouts (QSettings). GUI thread.

#include "core/receiverservice.h"

#include <QMainWindow>
#include <QTimer>

class QAction;
class QHeaderView;
class QLabel;
class QProgressBar;
class QTabWidget;
class QSortFilterProxyModel;
class QSplitter;
class QTableView;

namespace isocket::gui {

class DatasetModel;
class FleetModel;
class HeadlineBar;
class IncomingModel;
class LogModel;
class LogPane;
class NoticeArea;
class PeerModel;
class SettingsDialog;
class ThroughputChart;
class TrayIcon;
class WindowLifecycle;

class ReceiverWindow : public QMainWindow
{
    Q_OBJECT

public:
    ReceiverWindow(ReceiverSetup setup, LogModel *log, QWidget *parent = nullptr);
    ~ReceiverWindow() override;

    void start();

    ReceiverService *service() const { return m_service; }
    PeerModel *peerModel() const { return m_peers; }
    IncomingModel *incomingModel() const { return m_incoming; }
    DatasetModel *datasetModel() const { return m_datasets; }
    FleetModel *fleetModel() const { return m_fleet; }
    QLabel *listenState() const { return m_state; }
    HeadlineBar *headline() const { return m_headline; }
    NoticeArea *notices() const { return m_notices; }
    QProgressBar *diskBar() const { return m_disk; }
    QTabWidget *edTabs() const { return m_edTabs; }
    QAction *quitAction() const { return m_quit; }
    TrayIcon *trayIcon() const { return m_tray; }
    // Close to the tray, quit with a question, notifications (gui/windowlifecycle.h).
    WindowLifecycle *lifecycle() const { return m_lifecycle; }
    void flushModels();
    // The INI file the settings dialog edits: the one the window was started with (--config),
    // else the console's default (Config::defaultPath()).
    void setConfigFile(const QString &path) { m_configFile = path; }
    QString configFile() const { return m_configFile; }
    // Opens the settings dialog (File > Settings…, Ctrl+,); it deletes itself when closed.
    SettingsDialog *openSettings();

Q_SIGNALS:
    // The datasets complete on disk at start were read (how many) and are in the model.
    void datasetsLoaded(int count);
    // The operator wants to change the settings the window started with (the start dialog).
    void startSettingsRequested();

protected:
    void closeEvent(QCloseEvent *event) override;
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void buildLayout(LogModel *log);
    void updateState();
    void updateHealth();
    void loadCompletedFromDisk(const QString &root);
    void updateStatus();
    QList<QHeaderView *> headers() const;

    ReceiverService *m_service;
    ReceiverStatus m_status; // the last snapshot
    PeerModel *m_peers;
    IncomingModel *m_incoming;
    DatasetModel *m_datasets;
    FleetModel *m_fleet;
    HeadlineBar *m_headline = nullptr;
    NoticeArea *m_notices = nullptr;
    QProgressBar *m_disk = nullptr;
    QTabWidget *m_edTabs = nullptr;
    QTableView *m_fleetView = nullptr;
    QLabel *m_icon = nullptr;
    QLabel *m_state = nullptr;
    QLabel *m_address = nullptr;
    QLabel *m_root = nullptr;
    QLabel *m_statusText = nullptr;
    ThroughputChart *m_chart = nullptr;
    LogPane *m_logPane = nullptr;
    QTableView *m_peerView = nullptr;
    QTableView *m_incomingView = nullptr;
    QTableView *m_datasetView = nullptr;
    QSplitter *m_splitter = nullptr;
    QSplitter *m_lower = nullptr;
    TrayIcon *m_tray = nullptr;
    WindowLifecycle *m_lifecycle = nullptr;
    QAction *m_quit = nullptr;
    QTimer m_tick; // 1 s, only while visible: rates, status line, tray tooltip, fleet ages
    int m_ticks = 0;
    QString m_configFile;
};

} // namespace isocket::gui
