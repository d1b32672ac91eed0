#include "gui/problemsmodel.h"

#include "gui/format.h"
#include "gui/statevisuals.h"
#include "core/fsname.h"

namespace isocket::gui {

ProblemsModel::ProblemsModel(QObject *parent) : KeyedTableModel<ProblemRow>(parent) {}

int ProblemsModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

void ProblemsModel::onFilesChanged(const QList<FileUpdate> &updates)
{
    const int before = count();
    const int forGoodBefore = m_forGood;
    for (const FileUpdate &u : updates) {
        const QString key = u.ticket.dbtag + QLatin1Char('/') + u.ticket.relPath;
        switch (u.kind) {
        case FileUpdate::Kind::Failed:
            // Written again while read, or deleted: not a problem of the link or the receiver.
            if (u.error.code != ErrorCode::FileChanged && u.error.code != ErrorCode::FileVanished)
                add(u, false);
            break;
        case FileUpdate::Kind::FailedForGood:
            add(u, true);
            break;
        case FileUpdate::Kind::Delivered:
        case FileUpdate::Kind::Marked:
        case FileUpdate::Kind::Dropped:
            remove(key);
            break;
        case FileUpdate::Kind::Queued:
            // Queued again: for good only by the operator's retry (or a rescan, a rewrite).
            if (auto it = m_entries.find(key); it != m_entries.end() && it->forGood)
                remove(key);
            break;
        case FileUpdate::Kind::Started:
        case FileUpdate::Kind::Progress:
            break;
        }
    }
    if (count() != before || m_forGood != forGoodBefore)
        Q_EMIT countChanged(count(), m_forGood);
}

void ProblemsModel::add(const FileUpdate &u, bool forGood)
{
    const QString key = u.ticket.dbtag + QLatin1Char('/') + u.ticket.relPath;
    ProblemRow row;
    row.key = key;
    row.dbtag = u.ticket.dbtag;
    row.relPath = u.ticket.relPath;
    row.absPath = u.ticket.absPath;
    row.reason = u.error.toString();
    row.when = QDateTime::currentDateTimeUtc();
    row.forGood = forGood;
    if (auto it = m_entries.find(key); it != m_entries.end()) {
        row.attempts = it->attempts + (forGood ? 0 : 1);
        m_forGood -= it->forGood ? 1 : 0;
        m_order.erase(m_orderOf.value(key));
    } else {
        row.attempts = 1;
    }
    m_forGood += forGood ? 1 : 0;
    const quint64 order = m_next++;
    m_order.emplace(order, key);
    m_orderOf.insert(key, order);
    m_entries.insert(key, row);
    while (m_entries.size() > MaxEntries)
        remove(QString(m_order.begin()->second)); // a copy: remove() frees the node
    changed();
}

void ProblemsModel::remove(const QString &key)
{
    auto it = m_entries.find(key);
    if (it == m_entries.end())
        return;
    m_forGood -= it->forGood ? 1 : 0;
    m_order.erase(m_orderOf.take(key));
    m_entries.erase(it);
    changed();
}

QList<ProblemRow> ProblemsModel::composeRows() const
{
    // Newest first.
    QList<ProblemRow> rows;
    rows.reserve(m_entries.size());
    for (auto it = m_order.crbegin(); it != m_order.crend(); ++it)
        rows.append(m_entries.value(it->second));
    return rows;
}

QVariant ProblemsModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return QVariant();
    const ProblemRow &r = rowAt(index.row());
    const Badge badge = r.forGood ? Badge::Failed : Badge::Waiting;
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case File:
            return displayName(r.dbtag + QLatin1Char('/') + r.relPath);
        case Status:
            return r.forGood ? QStringLiteral("failed")
                             : QStringLiteral("will retry (%1 failed)").arg(r.attempts);
        case Reason:
            return r.reason;
        case Time:
            return formatTime(r.when);
        }
        break;
    case Qt::DecorationRole:
        if (index.column() == Status)
            return badgeIcon(badge);
        break;
    case Qt::ForegroundRole:
        if (index.column() == Status)
            return badgeColor(badge);
        break;
    case Qt::BackgroundRole:
        if (r.forGood)
            return badgeTint(Badge::Failed);
        break;
    case Qt::ToolTipRole:
        switch (index.column()) {
        case File:
            return displayName(r.absPath);
        case Status:
            return r.forGood ? QStringLiteral("Failed for good: an operator must act (fix the "
                                              "cause, then Retry this file).")
                             : QStringLiteral("A transient error: isocket sends it again with "
                                              "backoff; Retry this file sends it now.");
        case Reason:
            return r.reason;
        case Time:
            return r.when.toLocalTime().toString(Qt::ISODate);
        }
        break;
    case SortRole:
        switch (index.column()) {
        case File:
            return r.key;
        case Status:
            return int(r.forGood);
        case Reason:
            return r.reason;
        case Time:
            return r.when;
        }
        break;
    case PathRole:
        return r.absPath;
    case DbtagRole:
        return r.dbtag;
    case RelPathRole:
        return r.relPath;
    case ForGoodRole:
        return r.forGood;
    }
    return QVariant();
}

QVariant ProblemsModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole || section < 0 ||
        section >= ColumnCount)
        return QVariant();
    switch (section) {
    case File:
        return QStringLiteral("File");
    case Status:
        return QStringLiteral("Status");
    case Reason:
        return QStringLiteral("Reason");
    case Time:
        return QStringLiteral("Time");
    }
    return QVariant();
}

} // namespace isocket::gui
