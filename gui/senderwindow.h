#pragma once
// SenderWindow: the ED operator's window. Connects an EdAgent (engine + sender on the agent's
// own thread) straight to its models (DbtagModel, TransferModel) and widgets (ConnectionPanel,
// ThroughputChart, LogPane, tray icon), and offers the operator's actions: pause/resume
// sending, rescan now, retry now, open a dbtag's folder (the desktop opens it). At the top the
// health headline (the verdict in a shape, a word and the reason) and a notice for every
// failing state with the action that helps (gui/notices.h), from the agent's snapshots. At start
// the files already delivered (their sent marks) are read off the GUI thread into the transfer
// list; File > Settings… edits the INI file (gui/settingsdialog.h). Does no file or
// socket I/O itself. Owns the agent and every model and widget (children); the LogModel is
// shared and not owned. Persists geometry and column layouts (QSettings). GUI thread.

#include "core/edagent.h"

#include <QMainWindow>
#include <QTimer>

class QAction;
class QLabel;
class QSortFilterProxyModel;
class QSplitter;
class QTabWidget;
class QTableView;

namespace isocket::gui {

class ConnectionPanel;
class DbtagModel;
class HeadlineBar;
class LogModel;
class LogPane;
class ProblemsModel;
class NoticeArea;
class SettingsDialog;
class ThroughputChart;
class TransferModel;
class TrayIcon;
class WindowLifecycle;

class SenderWindow : public QMainWindow
{
    Q_OBJECT

public:
    SenderWindow(EdAgentSetup setup, LogModel *log, QWidget *parent = nullptr);
    ~SenderWindow() override;

    void start();

    EdAgent *agent() const { return m_agent; }
    DbtagModel *dbtagModel() const { return m_dbtags; }
    TransferModel *transferModel() const { return m_transfers; }
    ProblemsModel *problemsModel() const { return m_problems; }
    QTableView *problemsView() const { return m_problemsView; }
    QTabWidget *logTabs() const { return m_logTabs; }
    LogPane *logPane() const { return m_logPane; }
    QLabel *statusText() const { return m_statusText; }
    ConnectionPanel *connectionPanel() const { return m_connection; }
    QTableView *dbtagView() const { return m_dbtagView; }
    QTableView *transferView() const { return m_transferView; }
    HeadlineBar *headline() const { return m_headline; }
    NoticeArea *notices() const { return m_notices; }
    QAction *pauseAction() const { return m_pause; }
    QAction *quitAction() const { return m_quit; }
    TrayIcon *trayIcon() const { return m_tray; }
    // Close to the tray, quit with a question, notifications (gui/windowlifecycle.h).
    WindowLifecycle *lifecycle() const { return m_lifecycle; }
    // Applies every pending model change now (before a grab, in tests).
    void flushModels();
    // The INI file the settings dialog edits: the one the window was started with (--config),
    // else the console's default (Config::defaultPath()).
    void setConfigFile(const QString &path) { m_configFile = path; }
    QString configFile() const { return m_configFile; }
    QAction *settingsAction() const { return m_settings; }
    // Opens the settings dialog (File > Settings…, Ctrl+,); it deletes itself when closed.
    SettingsDialog *openSettings();

Q_SIGNALS:
    // The files already marked sent at start were read (how many) and are in the transfer list.
    void deliveredLoaded(int count);

Q_SIGNALS:
    // The operator wants to change the settings the window started with (the start dialog).
    void startSettingsRequested();

protected:
    void closeEvent(QCloseEvent *event) override;
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void buildActions();
    void buildLayout(LogModel *log);
    void updateHealth();
    void updateStatus();
    void openSelectedDbtag();
    QString selectedDbtagPath() const;
    void loadDeliveredFromDisk();
    void applySettings(const Config &saved, const QStringList &changedKeys);

    EdAgent *m_agent;
    DbtagModel *m_dbtags;
    TransferModel *m_transfers;
    ProblemsModel *m_problems;
    QSortFilterProxyModel *m_dbtagProxy;
    ConnectionPanel *m_connection = nullptr;
    ThroughputChart *m_chart = nullptr;
    LogPane *m_logPane = nullptr;
    QTableView *m_dbtagView = nullptr;
    QTableView *m_transferView = nullptr;
    QTableView *m_problemsView = nullptr;
    QTabWidget *m_logTabs = nullptr;
    QSplitter *m_splitter = nullptr;
    HeadlineBar *m_headline = nullptr;
    NoticeArea *m_notices = nullptr;
    QLabel *m_statusText = nullptr;
    TrayIcon *m_tray = nullptr;
    WindowLifecycle *m_lifecycle = nullptr;
    QAction *m_pause = nullptr;
    QAction *m_rescan = nullptr;
    QAction *m_retry = nullptr;
    QAction *m_openFolder = nullptr;
    QAction *m_quit = nullptr;
    QAction *m_settings = nullptr;
    QString m_configFile;
    QTimer m_tick; // 1 s, only while visible: rates, ETAs, status line, tray tooltip
    EdStatus m_status; // the last snapshot
    bool m_paused = false;
};

} // namespace isocket::gui
