#include "gui/tablemenu.h"

#include "core/fsname.h"

#include <QAction>
#include <QClipboard>
#include <QDesktopServices>
#include <QGuiApplication>
#include <QItemSelectionModel>
#include <QKeyEvent>
#include <QMenu>
#include <QTableView>

#include <algorithm>

namespace isocket::gui {

TableMenu::TableMenu(QTableView *view, int pathRole, Rows rows)
    : QObject(view), m_view(view), m_pathRole(pathRole), m_rows(rows), m_menu(new QMenu(view)),
      m_copy(new QAction(QStringLiteral("&Copy path"), this)),
      m_open(new QAction(rows == Rows::Folders ? QStringLiteral("&Open folder")
                                               : QStringLiteral("&Open containing folder"),
                         this)),
      m_retry(new QAction(QStringLiteral("&Retry this file"), this)),
      m_showInLog(new QAction(QStringLiteral("Show in &log"), this)),
      m_opener([](const QUrl &url) { QDesktopServices::openUrl(url); })
{
    m_copy->setShortcut(QKeySequence::Copy);
    m_copy->setShortcutContext(Qt::WidgetWithChildrenShortcut);
    m_copy->setToolTip(QStringLiteral("Copy the full path of the selected rows, one per line"));
    view->addAction(m_copy); // Ctrl+C while the table has the focus
    view->installEventFilter(this);
    connect(m_copy, &QAction::triggered, this, [this] {
        const QStringList paths = selectedPaths();
        if (!paths.isEmpty())
            QGuiApplication::clipboard()->setText(paths.join(QLatin1Char('\n')));
    });
    connect(m_open, &QAction::triggered, this, [this] {
        const QStringList paths = selectedPaths();
        if (!paths.isEmpty())
            m_opener(folderUrl(paths.first()));
    });
    connect(m_retry, &QAction::triggered, this, [this] {
        if (!m_doRetry)
            return;
        for (const QModelIndex &row : selectedRows())
            if (!m_canRetry || m_canRetry(row))
                m_doRetry(row);
    });
    connect(m_showInLog, &QAction::triggered, this, [this] {
        const QStringList paths = selectedPaths();
        if (m_show && !paths.isEmpty())
            // The name, not the whole path: the log names files by path in various spellings.
            m_show(paths.first().section(QLatin1Char('/'), -1, -1));
    });

    m_menu->addAction(m_copy);
    m_menu->addAction(m_open);
    m_menu->addAction(m_retry);
    m_menu->addAction(m_showInLog);
    m_retry->setVisible(false);
    m_showInLog->setVisible(false);

    view->setContextMenuPolicy(Qt::CustomContextMenu);
    connect(view, &QWidget::customContextMenuRequested, this, [this](const QPoint &pos) {
        const QModelIndex at = m_view->indexAt(pos);
        if (at.isValid() && !m_view->selectionModel()->isRowSelected(at.row(), at.parent()))
            m_view->selectionModel()->select(at, QItemSelectionModel::ClearAndSelect |
                                                     QItemSelectionModel::Rows);
        update();
        if (!selectedRows().isEmpty())
            m_menu->popup(m_view->viewport()->mapToGlobal(pos));
    });
    connect(m_menu, &QMenu::aboutToShow, this, &TableMenu::update);
}

bool TableMenu::eventFilter(QObject *watched, QEvent *event)
{
    if (watched == m_view && event->type() == QEvent::KeyPress &&
        static_cast<QKeyEvent *>(event)->matches(QKeySequence::Copy)) {
        m_copy->trigger();
        return true;
    }
    return QObject::eventFilter(watched, event);
}

void TableMenu::setRetry(std::function<bool(const QModelIndex &)> can,
                         std::function<void(const QModelIndex &)> retry)
{
    m_canRetry = std::move(can);
    m_doRetry = std::move(retry);
    m_retry->setVisible(bool(m_doRetry));
}

void TableMenu::setShowInLog(std::function<void(const QString &)> show)
{
    m_show = std::move(show);
    m_showInLog->setVisible(bool(m_show));
}

QList<QModelIndex> TableMenu::selectedRows() const
{
    if (!m_view->selectionModel())
        return {};
    QList<QModelIndex> rows = m_view->selectionModel()->selectedRows();
    std::sort(rows.begin(), rows.end(),
              [](const QModelIndex &a, const QModelIndex &b) { return a.row() < b.row(); });
    return rows;
}

QStringList TableMenu::selectedPaths() const
{
    QStringList paths;
    for (const QModelIndex &row : selectedRows()) {
        const QString path = row.data(m_pathRole).toString();
        if (!path.isEmpty())
            paths << path;
    }
    return paths;
}

QUrl TableMenu::folderUrl(const QString &path) const
{
    QString folder = path;
    if (m_rows == Rows::Files) {
        const qsizetype slash = path.lastIndexOf(QLatin1Char('/'));
        folder = slash > 0 ? path.left(slash) : QStringLiteral("/");
    }
    // Built from the name's bytes: QUrl::fromLocalFile would re-encode a name that is not
    // UTF-8 and name another directory.
    return QUrl::fromEncoded("file://" + fsEncode(folder).toPercentEncoding("/"), QUrl::StrictMode);
}

void TableMenu::update()
{
    const QList<QModelIndex> rows = selectedRows();
    bool hasPath = false;
    for (const QModelIndex &row : rows)
        hasPath = hasPath || !row.data(m_pathRole).toString().isEmpty();
    m_open->setEnabled(hasPath); // Copy stays enabled: Ctrl+C on nothing copies nothing
    m_showInLog->setEnabled(hasPath && m_show);
    bool retryable = false;
    if (m_doRetry)
        for (const QModelIndex &row : rows)
            retryable = retryable || !m_canRetry || m_canRetry(row);
    m_retry->setEnabled(retryable);
}

} // namespace isocket::gui
