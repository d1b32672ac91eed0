#include "gui/datasetmodel.h"

#include "gui/format.h"
#include "gui/statevisuals.h"
#include "core/fsname.h"

#include <QSet>

#include <algorithm>

namespace isocket::gui {

DatasetModel::DatasetModel(QObject *parent) : KeyedTableModel<DatasetRow>(parent) {}

int DatasetModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

void DatasetModel::onUpdates(const QList<ReceiverUpdate> &updates)
{
    for (const ReceiverUpdate &u : updates)
        if (u.kind == ReceiverUpdate::Kind::DbtagCompleted)
            onDbtagCompleted(u.source, u.dbtag, u.files, u.size);
}

void DatasetModel::onDbtagCompleted(const QString &source, const QString &dbtag, int files,
                                    qint64 bytes)
{
    const QString key = source + QLatin1Char('/') + dbtag;
    std::erase_if(m_rows, [&](const DatasetRow &r) { return r.key == key; });
    m_rows.push_front(DatasetRow{key, source, dbtag, files, bytes, QDateTime::currentDateTimeUtc()});
    while (m_rows.size() > size_t(MaxRows))
        m_rows.pop_back();
    ++m_count;
    changed();
}

void DatasetModel::addFromDisk(const QList<DatasetRow> &rows)
{
    QSet<QString> listed;
    for (const DatasetRow &r : m_rows)
        listed.insert(r.key);
    bool added = false;
    for (DatasetRow r : rows) {
        r.key = r.source + QLatin1Char('/') + r.dbtag;
        if (listed.contains(r.key))
            continue;
        listed.insert(r.key);
        // Newest first: before the first row completed earlier.
        const auto at = std::find_if(m_rows.begin(), m_rows.end(), [&](const DatasetRow &x) {
            return x.completed < r.completed;
        });
        m_rows.insert(at, r);
        added = true;
    }
    while (m_rows.size() > size_t(MaxRows))
        m_rows.pop_back();
    if (added)
        changed();
}

QList<DatasetRow> DatasetModel::composeRows() const
{
    return QList<DatasetRow>(m_rows.begin(), m_rows.end());
}

QVariant DatasetModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return QVariant();
    const DatasetRow &r = rowAt(index.row());
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Dbtag: return displayName(r.dbtag);
        case Source: return r.source;
        case Files: return r.files;
        case Bytes: return formatBytes(r.bytes);
        case Completed: return formatTime(r.completed);
        }
        break;
    case Qt::DecorationRole:
        if (index.column() == Dbtag)
            return badgeIcon(Badge::Done);
        break;
    case PathRole:
        return QString(m_root + QLatin1Char('/') + r.source + QLatin1Char('/') + r.dbtag);
    case Qt::ToolTipRole:
        if (index.column() == Dbtag)
            return displayName(m_root + QLatin1Char('/') + r.source + QLatin1Char('/') + r.dbtag);
        return QStringLiteral("Complete: the ED confirmed all %1 files of %2 and the completion "
                              "marker finished.isocket is written in %3/%2.")
            .arg(r.files).arg(displayName(r.dbtag), r.source);
    case Qt::TextAlignmentRole:
        if (index.column() == Files || index.column() == Bytes)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        break;
    case SortRole:
        switch (index.column()) {
        case Dbtag: return displayName(r.dbtag);
        case Source: return r.source;
        case Files: return r.files;
        case Bytes: return r.bytes;
        case Completed: return r.completed;
        }
        break;
    }
    return QVariant();
}

QVariant DatasetModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole || section < 0
        || section >= ColumnCount)
        return QVariant();
    switch (section) {
    case Dbtag: return QStringLiteral("Dataset (dbtag)");
    case Source: return QStringLiteral("Source");
    case Files: return QStringLiteral("Files");
    case Bytes: return QStringLiteral("Bytes");
    case Completed: return QStringLiteral("Completed");
    }
    return QVariant();
}

} // namespace isocket::gui
