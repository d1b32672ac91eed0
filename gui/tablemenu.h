#pragma once
// TableMenu: the context menu and the copy shortcut of a table. Every row of the table's model
// names a path (in `pathRole`: a file, or a folder for dbtags, datasets and EDs); the menu
// offers "Copy path" (Ctrl+C: the selected rows' full paths, one per line), "Open containing
// folder" (a folder row opens itself), "Retry this file" where the window can (a retry
// handler says which rows), and "Show in log" (the log filtered to lines about the row).
// Folders are opened by the desktop through an opener that tests replace.
//
// A child of the view; its actions act on the view's selected rows. GUI thread.

#include <QObject>
#include <QUrl>

#include <functional>

class QAction;
class QMenu;
class QModelIndex;
class QTableView;

namespace isocket::gui {

class TableMenu : public QObject
{
    Q_OBJECT

public:
    enum class Rows
    {
        Files,
        Folders
    };
    using Opener = std::function<void(const QUrl &url)>;

    TableMenu(QTableView *view, int pathRole, Rows rows);

    // "Retry this file": `can` tells whether a row may be retried, `retry` does it.
    void setRetry(std::function<bool(const QModelIndex &row)> can,
                  std::function<void(const QModelIndex &row)> retry);
    // "Show in log": `show` gets the text to filter the log with (the row's file or folder name).
    void setShowInLog(std::function<void(const QString &text)> show);
    // Replaces QDesktopServices::openUrl (tests).
    void setOpener(Opener opener) { m_opener = std::move(opener); }

    QStringList selectedPaths() const;
    // The URL "Open containing folder" opens for `path`, built from the name's bytes.
    QUrl folderUrl(const QString &path) const;

    QAction *copyAction() const { return m_copy; }
    QAction *openAction() const { return m_open; }
    QAction *retryAction() const { return m_retry; }
    QAction *showInLogAction() const { return m_showInLog; }
    QMenu *menu() const { return m_menu; }

protected:
    // Ctrl+C reaches the view as a key press when no shortcut took it: QAbstractItemView would
    // copy the current cell's text only.
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    void update();
    QList<QModelIndex> selectedRows() const;

    QTableView *m_view;
    int m_pathRole;
    Rows m_rows;
    QMenu *m_menu;
    QAction *m_copy;
    QAction *m_open;
    QAction *m_retry;
    QAction *m_showInLog;
    std::function<bool(const QModelIndex &)> m_canRetry;
    std::function<void(const QModelIndex &)> m_doRetry;
    std::function<void(const QString &)> m_show;
    Opener m_opener;
};

} // namespace isocket::gui
