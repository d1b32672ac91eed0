#include "gui/incomingmodel.h"

#include "gui/format.h"
#include "gui/statevisuals.h"
#include "core/fsname.h"

#include <algorithm>

namespace isocket::gui {

IncomingModel::IncomingModel(QObject *parent) : KeyedTableModel<IncomingRow>(parent) {}

int IncomingModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QString IncomingModel::fileKey(const QString &source, const QString &dbtag, const QString &path)
{
    return source + QLatin1Char('/') + dbtag + QLatin1Char('/') + path;
}

void IncomingModel::onUpdates(const QList<ReceiverUpdate> &updates)
{
    for (const ReceiverUpdate &u : updates) {
        switch (u.kind) {
        case ReceiverUpdate::Kind::FileStarted:
            onFileStarted(u.connId, u.source, u.dbtag, u.path, u.size, u.done);
            break;
        case ReceiverUpdate::Kind::FileProgress:
            onFileProgress(u.connId, u.source, u.dbtag, u.path, u.done, u.size);
            break;
        case ReceiverUpdate::Kind::FileStored:
            onFileStored(u.source, u.dbtag, u.path, u.size, u.durationMs);
            break;
        case ReceiverUpdate::Kind::FileFailed:
            onFileFailed(u.source, u.dbtag, u.path, u.code, u.message);
            break;
        case ReceiverUpdate::Kind::PeerDisconnected: onPeerDisconnected(u.connId); break;
        case ReceiverUpdate::Kind::PeerConnected:
        case ReceiverUpdate::Kind::PeerAuthenticated:
        case ReceiverUpdate::Kind::AuthFailed:
        case ReceiverUpdate::Kind::DbtagCompleted: break;
        }
    }
}

void IncomingModel::onFileStarted(quint64 connId, const QString &source, const QString &dbtag,
                                  const QString &path, qint64 size, qint64 offset)
{
    Active a;
    a.connId = connId;
    a.row.key = QStringLiteral("a:") + fileKey(source, dbtag, path);
    a.row.kind = IncomingRow::Receiving;
    a.row.source = source;
    a.row.dbtag = dbtag;
    a.row.path = path;
    a.row.size = size;
    a.row.done = offset;
    a.row.when = QDateTime::currentDateTimeUtc();
    a.offset = offset;
    a.clock.start();
    a.order = m_nextOrder++;
    m_active.insert(fileKey(source, dbtag, path), a);
    changed();
}

void IncomingModel::onFileProgress(quint64, const QString &source, const QString &dbtag,
                                   const QString &path, qint64 bytesDone, qint64 size)
{
    auto it = m_active.find(fileKey(source, dbtag, path));
    if (it == m_active.end())
        return;
    m_throughput.add(bytesDone - it->row.done);
    it->row.done = std::max(it->row.done, bytesDone);
    it->row.size = size;
    changed();
}

void IncomingModel::finish(const QString &key, IncomingRow::Kind kind, qint64 size,
                           qint64 durationMs, const QString &detail, const QString &source,
                           const QString &dbtag, const QString &path)
{
    IncomingRow row;
    if (auto it = m_active.find(key); it != m_active.end()) {
        row = it->row;
        if (kind == IncomingRow::Stored)
            m_throughput.add(size - it->row.done);
        m_active.erase(it);
    } else if (kind == IncomingRow::Stored) {
        m_throughput.add(size);
    }
    row.key = QStringLiteral("h:%1").arg(m_nextHistory++);
    row.kind = kind;
    row.source = source;
    row.dbtag = dbtag;
    row.path = path;
    if (kind == IncomingRow::Stored) {
        row.size = size;
        row.done = size;
    }
    row.durationMs = durationMs;
    row.rate = durationMs > 0 ? double(row.size) * 1000.0 / double(durationMs) : 0.0;
    row.when = QDateTime::currentDateTimeUtc();
    row.detail = detail;
    m_history.push_front(std::move(row));
    while (m_history.size() > size_t(MaxHistory))
        m_history.pop_back();
    changed();
}

void IncomingModel::onFileStored(const QString &source, const QString &dbtag,
                                 const QString &path, qint64 size, qint64 durationMs)
{
    ++m_storedCount;
    m_storedBytes += size;
    finish(fileKey(source, dbtag, path), IncomingRow::Stored, size, durationMs, QString(), source,
           dbtag, path);
}

void IncomingModel::onFileFailed(const QString &source, const QString &dbtag,
                                 const QString &path, ErrorCode code, const QString &message)
{
    finish(fileKey(source, dbtag, path), IncomingRow::Failed, 0, 0,
           Error{code, message}.toString(), source, dbtag, path);
}

void IncomingModel::onPeerDisconnected(quint64 connId)
{
    QList<Active> gone;
    for (auto it = m_active.begin(); it != m_active.end();) {
        if (it->connId == connId) {
            gone.append(*it);
            it = m_active.erase(it);
        } else {
            ++it;
        }
    }
    for (const Active &a : gone) {
        m_active.insert(fileKey(a.row.source, a.row.dbtag, a.row.path), a);
        finish(fileKey(a.row.source, a.row.dbtag, a.row.path), IncomingRow::Interrupted, 0,
               a.clock.elapsed(),
               QStringLiteral("the ED went away; the partial file is kept and resumed"),
               a.row.source, a.row.dbtag, a.row.path);
    }
}

QList<IncomingRow> IncomingModel::composeRows() const
{
    std::vector<const Active *> active;
    for (const Active &a : m_active)
        active.push_back(&a);
    std::sort(active.begin(), active.end(),
              [](const Active *a, const Active *b) { return a->order < b->order; });
    QList<IncomingRow> rows;
    rows.reserve(qsizetype(active.size() + m_history.size()));
    for (const Active *a : active) {
        IncomingRow r = a->row;
        const qint64 ms = a->clock.elapsed();
        r.rate = ms > 0 ? double(r.done - a->offset) * 1000.0 / double(ms) : 0.0;
        rows.append(std::move(r));
    }
    for (const IncomingRow &h : m_history)
        rows.append(h);
    return rows;
}

QVariant IncomingModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return QVariant();
    const IncomingRow &r = rowAt(index.row());
    const int percent = r.size > 0 ? int(r.done * 100 / r.size) : (r.kind == IncomingRow::Stored ? 100 : 0);
    const Badge badge = r.kind == IncomingRow::Receiving ? Badge::Sending
                        : r.kind == IncomingRow::Stored  ? Badge::Done
                        : r.kind == IncomingRow::Failed  ? Badge::Failed
                                                         : Badge::Waiting;
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Source: return r.source;
        case File: return displayName(r.dbtag + QLatin1Char('/') + r.path);
        case Status:
            switch (r.kind) {
            case IncomingRow::Receiving: return QStringLiteral("receiving");
            case IncomingRow::Stored: return QStringLiteral("stored");
            case IncomingRow::Failed: return QStringLiteral("failed");
            case IncomingRow::Interrupted: return QStringLiteral("interrupted");
            }
            break;
        case Progress:
            return r.kind == IncomingRow::Receiving || r.kind == IncomingRow::Stored
                       ? QVariant(QStringLiteral("%1 %").arg(percent))
                       : QVariant();
        case Size: return formatBytes(r.size);
        case Rate: return r.kind == IncomingRow::Failed ? QString() : formatRate(r.rate);
        case Time: return formatTime(r.when);
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
        if (r.kind == IncomingRow::Failed)
            return badgeTint(Badge::Failed);
        break;
    case PathRole:
        return QString(m_root + QLatin1Char('/') + r.source + QLatin1Char('/') + r.dbtag
                       + QLatin1Char('/') + r.path);
    case Qt::ToolTipRole:
        if (index.column() == File)
            return displayName(m_root + QLatin1Char('/') + r.source + QLatin1Char('/') + r.dbtag
                               + QLatin1Char('/') + r.path);
        switch (r.kind) {
        case IncomingRow::Receiving:
            return QStringLiteral("Being written to a temporary name; renamed into place once "
                                  "verified and fsync'd.");
        case IncomingRow::Stored:
            return QStringLiteral("Verified, fsync'd and in place; acknowledged to the ED.");
        case IncomingRow::Failed:
        case IncomingRow::Interrupted: return r.detail;
        }
        break;
    case Qt::TextAlignmentRole:
        if (index.column() == Size || index.column() == Rate)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        break;
    case ProgressRole:
        return r.kind == IncomingRow::Receiving || r.kind == IncomingRow::Stored ? percent : -1;
    case SortRole:
        switch (index.column()) {
        case Source: return r.source;
        case File: return displayName(r.dbtag + QLatin1Char('/') + r.path);
        case Status: return int(r.kind);
        case Progress: return percent;
        case Size: return r.size;
        case Rate: return r.rate;
        case Time: return r.when;
        }
        break;
    }
    return QVariant();
}

QVariant IncomingModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole || section < 0
        || section >= ColumnCount)
        return QVariant();
    switch (section) {
    case Source: return QStringLiteral("Source");
    case File: return QStringLiteral("File");
    case Status: return QStringLiteral("Status");
    case Progress: return QStringLiteral("Progress");
    case Size: return QStringLiteral("Size");
    case Rate: return QStringLiteral("Rate");
    case Time: return QStringLiteral("Time");
    }
    return QVariant();
}

} // namespace isocket::gui
