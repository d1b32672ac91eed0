#pragma once
// SenderWindow: the ED operator's window. Connects an EdAgent (engine + sender on the agent's
// own thread) straight to its models (DbtagModel, TransferModel) and widgets (ConnectionPanel,
// ThroughputChart, LogPane, tray icon), and offers the operator's actions: pause/resume
// sending, rescan now, retry now, open a dbtag's folder (the desktop opens it). Does no file or
// socket I/O itself. Owns the agent and every model and widget (children); the LogModel is
// shared and not owned. Persists geometry and column layouts (QSettings). GUI thread.

#include "core/edagent.h"

#include <QMainWindow>
#include <QTimer>

class QAction;
class QLabel;
class QSortFilterProxyModel;
class QSplitter;
class QTableView;

namespace isocket::gui {

class ConnectionPanel;
class DbtagModel;
class LogModel;
class LogPane;
class ThroughputChart;
class TransferModel;
class TrayIcon;

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
    ConnectionPanel *connectionPanel() const { return m_connection; }
    QTableView *dbtagView() const { return m_dbtagView; }
    QTableView *transferView() const { return m_transferView; }
    QLabel *banner() const { return m_banner; }
    QAction *pauseAction() const { return m_pause; }
    // Applies every pending model change now (before a grab, in tests).
    void flushModels();

protected:
    void closeEvent(QCloseEvent *event) override;
    void showEvent(QShowEvent *event) override;
    void hideEvent(QHideEvent *event) override;

private:
    void buildActions();
    void buildLayout(LogModel *log);
    void updateBanner();
    void updateStatus();
    void openSelectedDbtag();
    QString selectedDbtagPath() const;

    EdAgent *m_agent;
    DbtagModel *m_dbtags;
    TransferModel *m_transfers;
    QSortFilterProxyModel *m_dbtagProxy;
    ConnectionPanel *m_connection = nullptr;
    ThroughputChart *m_chart = nullptr;
    LogPane *m_logPane = nullptr;
    QTableView *m_dbtagView = nullptr;
    QTableView *m_transferView = nullptr;
    QSplitter *m_splitter = nullptr;
    QLabel *m_banner = nullptr;
    QLabel *m_statusText = nullptr;
    TrayIcon *m_tray = nullptr;
    QAction *m_pause = nullptr;
    QAction *m_rescan = nullptr;
    QAction *m_retry = nullptr;
    QAction *m_openFolder = nullptr;
    QAction *m_quit = nullptr;
    QTimer m_tick; // 1 s, only while visible: rates, ETAs, status line, tray tooltip
    QString m_unreliable;
    QString m_fatal;
    QString m_refused; // a link refused and retrying (auth, version)
    QString m_startError;
    bool m_paused = false;
};

} // namespace isocket::gui
