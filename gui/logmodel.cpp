#include "gui/logmodel.h"

#include "gui/statevisuals.h"

namespace isocket::gui {

LogModel::LogModel(QObject *parent) : KeyedTableModel<LogRow>(parent) {}

int LogModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

void LogModel::append(const LogEntry &entry)
{
    const bool problem = logLevelRank(entry.type) >= logLevelRank(QtWarningMsg);
    std::deque<LogRow> &queue = problem ? m_problems : m_lines;
    queue.push_back(LogRow{QString::number(m_next++), entry});
    while (queue.size() > size_t(problem ? MaxProblems : MaxLines))
        queue.pop_front();
    changed();
}

QList<LogRow> LogModel::composeRows() const
{
    // Both queues are in arrival order (keys are increasing numbers): merge them.
    QList<LogRow> rows;
    rows.reserve(qsizetype(m_lines.size() + m_problems.size()));
    auto a = m_lines.cbegin();
    auto b = m_problems.cbegin();
    while (a != m_lines.cend() || b != m_problems.cend()) {
        if (b == m_problems.cend() || (a != m_lines.cend() && a->key.toULongLong() < b->key.toULongLong()))
            rows.append(*a++);
        else
            rows.append(*b++);
    }
    return rows;
}

QVariant LogModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return QVariant();
    const LogEntry &e = rowAt(index.row()).entry;
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Time: return e.time.toString(QStringLiteral("hh:mm:ss.zzz"));
        case Level: return logLevelName(e.type);
        case Category: return e.category;
        case Message: return e.message;
        }
        break;
    case Qt::DecorationRole:
        if (index.column() == Level) {
            if (e.type == QtWarningMsg)
                return badgeIcon(Badge::Abnormal);
            if (e.type == QtCriticalMsg || e.type == QtFatalMsg)
                return badgeIcon(Badge::Failed);
        }
        break;
    case Qt::ForegroundRole:
        if (e.type == QtWarningMsg)
            return badgeColor(Badge::Abnormal);
        if (e.type == QtCriticalMsg || e.type == QtFatalMsg)
            return badgeColor(Badge::Failed);
        if (e.type == QtDebugMsg)
            return QColor(0x70, 0x70, 0x70);
        break;
    case Qt::ToolTipRole:
        if (index.column() == Message)
            return e.message;
        if (index.column() == Time)
            return e.time.toString(Qt::ISODateWithMs);
        break;
    case LevelRole: return int(e.type);
    }
    return QVariant();
}

QVariant LogModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole || section < 0
        || section >= ColumnCount)
        return QVariant();
    switch (section) {
    case Time: return QStringLiteral("Time");
    case Level: return QStringLiteral("Level");
    case Category: return QStringLiteral("Category");
    case Message: return QStringLiteral("Message");
    }
    return QVariant();
}

LogFilterModel::LogFilterModel(QObject *parent) : QSortFilterProxyModel(parent) {}

void LogFilterModel::setMinimumLevel(QtMsgType type)
{
    if (type == m_minimum)
        return;
    m_minimum = type;
    invalidateFilter();
}

void LogFilterModel::setText(const QString &text)
{
    if (text == m_text)
        return;
    m_text = text;
    invalidateFilter();
}

bool LogFilterModel::filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const
{
    const QModelIndex level = sourceModel()->index(sourceRow, LogModel::Level, sourceParent);
    const auto type = QtMsgType(level.data(LogModel::LevelRole).toInt());
    if (logLevelRank(type) < logLevelRank(m_minimum))
        return false;
    if (m_text.isEmpty())
        return true;
    for (int c : {int(LogModel::Message), int(LogModel::Category)}) {
        if (sourceModel()->index(sourceRow, c, sourceParent).data().toString().contains(
                m_text, Qt::CaseInsensitive))
            return true;
    }
    return false;
}

} // namespace isocket::gui
