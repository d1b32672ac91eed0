#include "gui/dbtagmodel.h"

#include "gui/format.h"
#include "gui/statevisuals.h"
#include "core/fsname.h"

#include <QFont>

namespace isocket::gui {

DbtagModel::DbtagModel(QObject *parent) : KeyedTableModel<DbtagRow>(parent) {}

int DbtagModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

void DbtagModel::updateStatuses(const QList<DbtagStatus> &statuses)
{
    for (const DbtagStatus &status : statuses)
        updateStatus(status);
}

void DbtagModel::removeDbtags(const QStringList &names)
{
    for (const QString &name : names)
        removeDbtag(name);
}

void DbtagModel::updateStatus(const DbtagStatus &status)
{
    m_tags.insert(status.name, status);
    changed();
}

void DbtagModel::removeDbtag(const QString &name)
{
    m_inFlight.remove(name);
    if (m_tags.remove(name))
        changed();
}

void DbtagModel::onFilesChanged(const QList<FileUpdate> &updates)
{
    for (const FileUpdate &u : updates) {
        const bool started = u.kind == FileUpdate::Kind::Started;
        if (u.kind == FileUpdate::Kind::Progress)
            continue;
        auto it = m_inFlight.find(u.ticket.dbtag);
        if (started) {
            if (it == m_inFlight.end())
                it = m_inFlight.insert(u.ticket.dbtag, {});
            it->insert(u.ticket.relPath);
            changed();
        } else if (it != m_inFlight.end() && it->remove(u.ticket.relPath)) {
            if (it->isEmpty())
                m_inFlight.erase(it);
            changed();
        }
    }
}

void DbtagModel::clearInFlight()
{
    if (m_inFlight.isEmpty())
        return;
    m_inFlight.clear();
    changed();
}

const DbtagStatus *DbtagModel::statusOf(const QString &name) const
{
    const int row = rowOf(name);
    return row < 0 ? nullptr : &rowAt(row).status;
}

int DbtagModel::abnormalCount() const
{
    int n = 0;
    for (int i = 0; i < rowCount(); ++i)
        n += rowAt(i).status.state == DbtagState::Abnormal ? 1 : 0;
    return n;
}

QList<DbtagRow> DbtagModel::composeRows() const
{
    QList<DbtagRow> rows;
    rows.reserve(m_tags.size());
    for (auto it = m_tags.cbegin(); it != m_tags.cend(); ++it)
        rows.append(DbtagRow{it.key(), it.value(), int(m_inFlight.value(it.key()).size())});
    return rows;
}

static int stateRank(const DbtagStatus &s)
{
    switch (s.state) {
    case DbtagState::Live: return 0;
    case DbtagState::Closed: return s.failed > 0 ? 1 : 2;
    case DbtagState::Abnormal: return 3;
    case DbtagState::Done: return 4;
    }
    return 5;
}

QVariant DbtagModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return QVariant();
    const DbtagRow &row = rowAt(index.row());
    const DbtagStatus &s = row.status;
    const int pending = s.files - s.sent - s.failed;
    DbtagLook look = dbtagLook(s.state, s.closing, pending, s.failed);
    if (s.state == DbtagState::Closed && !s.closing && s.failed == 0 && pending > 0
        && row.inFlight == 0)
        look = {Badge::Waiting, QStringLiteral("waiting"),
                QStringLiteral("Closed, with files to send, but none is being sent now: waiting "
                               "for a connection to the receiver, a retry's delay, or a writer "
                               "that holds a file open. The connection panel and the log say "
                               "which.")};
    // Done and abnormal dbtags found finished are never listed; those finished now keep counts.
    const bool listed = s.files > 0 || s.state == DbtagState::Live || s.state == DbtagState::Closed;

    // Bytes delivered of the total (files when no bytes: empty files count too).
    const int percent = !listed ? -1
                        : s.bytes > 0 ? int(qMin<qint64>(100, s.bytesSent * 100 / s.bytes))
                        : s.files > 0 ? s.sent * 100 / s.files
                                      : (s.state == DbtagState::Done ? 100 : 0);

    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Name: return displayName(s.name);
        case State: return look.text;
        case Progress: return percent < 0 ? QStringLiteral("—") : QStringLiteral("%1 %").arg(percent);
        case Files:
            if (!listed)
                return QStringLiteral("—");
            // Entries that are not sent (links elsewhere, reserved names…) are never hidden.
            return s.skipped > 0 ? QStringLiteral("%1 / %2, %3 skipped")
                                       .arg(s.sent)
                                       .arg(s.files)
                                       .arg(s.skipped)
                                 : QStringLiteral("%1 / %2").arg(s.sent).arg(s.files);
        case Bytes:
            return listed ? QStringLiteral("%1 / %2").arg(formatBytes(s.bytesSent), formatBytes(s.bytes))
                          : QStringLiteral("—");
        case LastActivity: return formatTime(s.lastActivity);
        }
        break;
    case Qt::DecorationRole:
        if (index.column() == State)
            return badgeIcon(look.badge);
        break;
    case Qt::ToolTipRole:
        switch (index.column()) {
        case Name: return displayName(s.path);
        case State: return look.tooltip;
        case Progress:
            return listed ? QStringLiteral("%1 of %2 files, %3 of %4 delivered")
                                .arg(s.sent)
                                .arg(s.files)
                                .arg(formatBytes(s.bytesSent), formatBytes(s.bytes))
                          : QString();
        case Files:
            return listed ? QStringLiteral("%1 sent, %2 failed, %3 to go of %4 data files; %5 "
                                           "entries skipped (not sent: the log says why, the "
                                           "receiver's manifest names them)")
                                .arg(s.sent)
                                .arg(s.failed)
                                .arg(qMax(0, pending))
                                .arg(s.files)
                                .arg(s.skipped)
                          : QStringLiteral("Finished dbtags are not listed again.");
        case LastActivity:
            return s.lastActivity.isValid() ? s.lastActivity.toLocalTime().toString(Qt::ISODate)
                                            : QString();
        }
        break;
    case Qt::ForegroundRole:
        if (index.column() == State)
            return badgeColor(look.badge);
        break;
    case Qt::BackgroundRole:
        if (const QColor tint = badgeTint(look.badge); tint.isValid())
            return tint;
        break;
    case Qt::FontRole:
        if (badgeTint(look.badge).isValid() || (s.state == DbtagState::Live && index.column() == Name)) {
            QFont f;
            f.setBold(true);
            return f;
        }
        break;
    case Qt::TextAlignmentRole:
        if (index.column() == Files || index.column() == Bytes)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        break;
    case SortRole:
        switch (index.column()) {
        case Name: return s.name;
        case State: return stateRank(s);
        case Progress: return percent;
        case Files: return s.files;
        case Bytes: return s.bytes;
        case LastActivity: return s.lastActivity;
        }
        break;
    case PathRole: return s.path;
    case StateRole: return int(s.state);
    case ProgressRole: return percent;
    }
    return QVariant();
}

QVariant DbtagModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount)
        return QVariant();
    if (role == Qt::DisplayRole) {
        switch (section) {
        case Name: return QStringLiteral("Dbtag");
        case State: return QStringLiteral("State");
        case Progress: return QStringLiteral("Progress");
        case Files: return QStringLiteral("Files sent");
        case Bytes: return QStringLiteral("Bytes sent");
        case LastActivity: return QStringLiteral("Last activity");
        }
    }
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case State:
            return QStringLiteral("live: being written · closed, sending: sending the rest · "
                                  "waiting: files to send, none in flight · done: all on "
                                  "the receiver · closed abnormally: finished.watch without "
                                  "finished.parse");
        case Progress: return QStringLiteral("Bytes delivered of the dbtag's total");
        case Files: return QStringLiteral("Data files sent / known (markers are not counted)");
        }
    }
    return QVariant();
}

} // namespace isocket::gui
