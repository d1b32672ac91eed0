#include "gui/transfermodel.h"

#include <QSet>

#include "gui/format.h"
#include "gui/statevisuals.h"
#include "core/fsname.h"

#include <algorithm>

namespace isocket::gui {

TransferModel::TransferModel(QObject *parent) : KeyedTableModel<TransferRow>(parent) {}

int TransferModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

void TransferModel::onFilesChanged(const QList<FileUpdate> &updates)
{
    for (const FileUpdate &u : updates) {
        switch (u.kind) {
        case FileUpdate::Kind::Queued: onFileQueued(u.ticket); break;
        case FileUpdate::Kind::Started: onFileStarted(u.ticket, u.done, u.size); break;
        case FileUpdate::Kind::Progress: onFileProgress(u.ticket, u.done, u.size); break;
        case FileUpdate::Kind::Delivered: onFileDelivered(u.ticket, u.done, u.durationMs); break;
        case FileUpdate::Kind::Failed: onFileFailed(u.ticket, u.error); break;
        case FileUpdate::Kind::Dropped: onFileDropped(u.ticket, u.reason); break;
        case FileUpdate::Kind::Marked:
        case FileUpdate::Kind::FailedForGood: break; // the dbtag table shows these
        }
    }
}

void TransferModel::notePath(const FileTicket &t)
{
    const QString suffix = QLatin1Char('/') + t.relPath;
    if (!t.absPath.endsWith(suffix))
        return;
    const QString dir = t.absPath.left(t.absPath.size() - suffix.size());
    auto it = m_tagPaths.find(t.dbtag);
    if (it == m_tagPaths.end())
        m_tagPaths.insert(t.dbtag, dir);
    else if (*it != dir)
        *it = dir;
}

QString TransferModel::absPathOf(const QString &dbtag, const QString &relPath) const
{
    const auto it = m_tagPaths.constFind(dbtag);
    return it == m_tagPaths.cend() ? QString() : *it + QLatin1Char('/') + relPath;
}

void TransferModel::onFileQueued(const FileTicket &ticket)
{
    const QString key = fileKey(ticket);
    notePath(ticket);
    m_inFlight.remove(key); // a ticket returned by a lost connection is queued again
    auto it = m_queued.find(key);
    if (it != m_queued.end())
        m_queueOrder.erase(it->order);
    const quint64 order = m_nextOrder++;
    m_queued.insert(key, QueuedFile{order, ticket.stamp.size, QDateTime::currentDateTimeUtc()});
    m_queueOrder.emplace(order, key);
    changed();
}

void TransferModel::onFileStarted(const FileTicket &ticket, qint64 offset, qint64 size)
{
    const QString key = fileKey(ticket);
    if (auto it = m_queued.find(key); it != m_queued.end()) {
        m_queueOrder.erase(it->order);
        m_queued.erase(it);
    }
    Flight f;
    f.dbtag = ticket.dbtag;
    f.relPath = ticket.relPath;
    notePath(ticket);
    f.offset = offset;
    f.size = size;
    f.done = offset;
    f.started = QDateTime::currentDateTimeUtc();
    f.clock.start();
    f.order = m_nextOrder++;
    m_inFlight.insert(key, f);
    changed();
}

void TransferModel::onFileProgress(const FileTicket &ticket, qint64 done, qint64 size)
{
    auto it = m_inFlight.find(fileKey(ticket));
    if (it == m_inFlight.end())
        return;
    m_throughput.add(done - it->done);
    it->done = std::max(it->done, done);
    it->size = size;
    changed();
}

void TransferModel::addHistory(TransferRow row)
{
    row.key = QStringLiteral("h:%1").arg(m_nextHistory++);
    row.when = QDateTime::currentDateTimeUtc();
    m_history.push_front(std::move(row));
    while (m_history.size() > size_t(MaxHistory))
        m_history.pop_back();
    changed();
}

void TransferModel::onFileDelivered(const FileTicket &ticket, qint64 bytesSent, qint64 durationMs)
{
    const QString key = fileKey(ticket);
    TransferRow row;
    row.kind = TransferRow::Delivered;
    row.dbtag = ticket.dbtag;
    row.relPath = ticket.relPath;
    row.absPath = ticket.absPath;
    row.size = ticket.stamp.size;
    if (auto it = m_inFlight.find(key); it != m_inFlight.end()) {
        row.size = it->size;
        m_throughput.add(it->size - it->done);
        m_inFlight.erase(it);
    } else {
        m_throughput.add(bytesSent);
    }
    row.done = row.size;
    row.durationMs = durationMs;
    ++m_deliveredCount;
    m_deliveredBytes += row.size;
    addHistory(std::move(row));
}

void TransferModel::onFileFailed(const FileTicket &ticket, const Error &error)
{
    const QString key = fileKey(ticket);
    TransferRow row;
    row.dbtag = ticket.dbtag;
    row.relPath = ticket.relPath;
    row.absPath = ticket.absPath;
    row.size = ticket.stamp.size;
    if (auto it = m_inFlight.find(key); it != m_inFlight.end()) {
        row.done = it->done;
        row.durationMs = it->clock.elapsed();
        m_inFlight.erase(it);
    }
    if (error.code == ErrorCode::FileVanished)
        row.kind = TransferRow::Dropped;
    else if (isTransient(error.code))
        row.kind = TransferRow::Retrying;
    else {
        row.kind = TransferRow::Failed;
        ++m_failedCount;
    }
    row.detail = error.toString();
    addHistory(std::move(row));
}

void TransferModel::onFileDropped(const FileTicket &ticket, const QString &reason)
{
    const QString key = fileKey(ticket);
    auto it = m_queued.find(key);
    if (it == m_queued.end())
        return; // dropped in flight: onFileFailed() told it already
    m_queueOrder.erase(it->order);
    m_queued.erase(it);
    TransferRow row;
    row.kind = TransferRow::Dropped;
    row.dbtag = ticket.dbtag;
    row.relPath = ticket.relPath;
    row.absPath = ticket.absPath;
    row.detail = reason;
    addHistory(std::move(row));
}

void TransferModel::addDeliveredFromDisk(const QList<SentFile> &files)
{
    // A file this run delivered already (the load raced with the first transfers) is not
    // listed twice.
    QSet<QString> listed;
    for (const TransferRow &h : m_history)
        listed.insert(h.dbtag + QLatin1Char('/') + h.relPath);
    for (const SentFile &f : files) {
        if (m_history.size() >= size_t(MaxHistory))
            break;
        if (listed.contains(f.dbtag + QLatin1Char('/') + f.relPath))
            continue;
        TransferRow row;
        row.key = QStringLiteral("h:%1").arg(m_nextHistory++);
        row.kind = TransferRow::Delivered;
        row.dbtag = f.dbtag;
        row.relPath = f.relPath;
        row.size = f.size;
        row.done = f.size;
        row.when = f.markedAt;
        m_history.push_back(std::move(row)); // older than what this run delivered
    }
    changed();
}

void TransferModel::clearInFlight()
{
    if (m_inFlight.isEmpty())
        return;
    m_inFlight.clear();
    changed();
}

QList<TransferRow> TransferModel::composeRows() const
{
    QList<TransferRow> rows;
    rows.reserve(m_inFlight.size() + MaxQueuedShown + qsizetype(m_history.size()));

    std::vector<const Flight *> flights;
    flights.reserve(m_inFlight.size());
    for (const Flight &f : m_inFlight)
        flights.push_back(&f);
    std::sort(flights.begin(), flights.end(),
              [](const Flight *a, const Flight *b) { return a->order < b->order; });
    for (const Flight *f : flights) {
        TransferRow r;
        r.key = QStringLiteral("f:") + f->dbtag + QLatin1Char('/') + f->relPath;
        r.kind = TransferRow::InFlight;
        r.dbtag = f->dbtag;
        r.relPath = f->relPath;
        r.absPath = absPathOf(f->dbtag, f->relPath);
        r.size = f->size;
        r.done = f->done;
        r.when = f->started;
        const qint64 ms = f->clock.elapsed();
        r.durationMs = ms;
        const double rate = ms > 0 ? double(f->done - f->offset) * 1000.0 / double(ms) : 0.0;
        r.etaSeconds = rate > 0 && f->done < f->size ? double(f->size - f->done) / rate : -1.0;
        rows.append(std::move(r));
    }

    int position = 0;
    for (const auto &[order, key] : m_queueOrder) {
        if (position >= MaxQueuedShown)
            break;
        const QueuedFile &q = m_queued[key];
        TransferRow r;
        r.key = QStringLiteral("q:") + key;
        r.kind = TransferRow::Queued;
        r.dbtag = key.section(QLatin1Char('/'), 0, 0);
        r.relPath = key.section(QLatin1Char('/'), 1);
        r.absPath = absPathOf(r.dbtag, r.relPath);
        r.size = q.size;
        r.when = q.when;
        r.position = ++position;
        rows.append(std::move(r));
    }

    for (const TransferRow &h : m_history)
        rows.append(h);
    return rows;
}

static QString kindText(const TransferRow &r)
{
    switch (r.kind) {
    case TransferRow::InFlight:
        return r.size > 0 && r.done >= r.size ? QStringLiteral("confirming")
                                              : QStringLiteral("sending");
    case TransferRow::Queued: return QStringLiteral("queued #%1").arg(r.position);
    case TransferRow::Delivered: return QStringLiteral("delivered");
    case TransferRow::Retrying: return QStringLiteral("will retry");
    case TransferRow::Failed: return QStringLiteral("failed");
    case TransferRow::Dropped: return QStringLiteral("dropped");
    }
    return QString();
}

static Badge kindBadge(TransferRow::Kind kind)
{
    switch (kind) {
    case TransferRow::InFlight: return Badge::Sending;
    case TransferRow::Queued: return Badge::Waiting;
    case TransferRow::Delivered: return Badge::Done;
    case TransferRow::Retrying: return Badge::Waiting;
    case TransferRow::Failed: return Badge::Failed;
    case TransferRow::Dropped: return Badge::Idle;
    }
    return Badge::Idle;
}

QVariant TransferModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return QVariant();
    const TransferRow &r = rowAt(index.row());
    const int percent = r.size > 0 ? int(r.done * 100 / r.size) : (r.kind == TransferRow::Delivered ? 100 : 0);
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case File: return displayName(r.dbtag + QLatin1Char('/') + r.relPath);
        case Status: return kindText(r);
        case Progress:
            return r.kind == TransferRow::InFlight || r.kind == TransferRow::Delivered
                       ? QVariant(QStringLiteral("%1 %").arg(percent))
                       : QVariant();
        case Size: return formatBytes(r.size);
        case Took:
            if (r.kind == TransferRow::InFlight)
                return r.etaSeconds >= 0 ? QString(formatEta(r.etaSeconds) + QStringLiteral(" left"))
                                         : QString(formatDuration(r.durationMs)
                                                   + QStringLiteral(" so far"));
            if (r.kind == TransferRow::Queued || r.kind == TransferRow::Dropped)
                return QString();
            return QString(QStringLiteral("took ") + formatDuration(r.durationMs));
        case Time: return formatTime(r.when);
        }
        break;
    case Qt::DecorationRole:
        if (index.column() == Status)
            return badgeIcon(kindBadge(r.kind));
        break;
    case Qt::ForegroundRole:
        if (index.column() == Status)
            return badgeColor(kindBadge(r.kind));
        break;
    case Qt::BackgroundRole:
        if (r.kind == TransferRow::Failed)
            return badgeTint(Badge::Failed);
        break;
    case Qt::ToolTipRole:
        if (index.column() == File)
            return displayName(r.absPath.isEmpty() ? r.dbtag + QLatin1Char('/') + r.relPath
                                                   : r.absPath);
        if (index.column() == Took && r.kind != TransferRow::Queued)
            return QStringLiteral("From the moment a connection took the file until the "
                                  "receiver confirmed it stored; the link's rate is in the "
                                  "status bar and the chart.");
        switch (r.kind) {
        case TransferRow::InFlight:
            if (r.size > 0 && r.done >= r.size)
                return QStringLiteral("Every byte is sent; the receiver verifies the checksum, "
                                      "fsyncs and renames it before it is marked sent.");
            return QStringLiteral("Sending: %1 of %2").arg(formatBytes(r.done), formatBytes(r.size));
        case TransferRow::Queued:
            return QStringLiteral("Waiting for a free connection; sent in this order.");
        case TransferRow::Delivered:
            return QStringLiteral("The receiver stored it durably and verified its checksum; "
                                  "marked sent (g+w).");
        case TransferRow::Retrying:
            return QString(QStringLiteral("A transient error; it is sent again with backoff: ") + r.detail);
        case TransferRow::Failed:
            return QString(QStringLiteral("Failed for good; an operator must act: ") + r.detail);
        case TransferRow::Dropped:
            return QString(QStringLiteral("The file disappeared before it was sent: ") + r.detail);
        }
        break;
    case Qt::TextAlignmentRole:
        if (index.column() == Size || index.column() == Took)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        break;
    case PathRole:
        return r.absPath.isEmpty() ? QString(r.dbtag + QLatin1Char('/') + r.relPath) : r.absPath;
    case DbtagRole: return r.dbtag;
    case RelPathRole: return r.relPath;
    case ProgressRole:
        return r.kind == TransferRow::InFlight || r.kind == TransferRow::Delivered ? percent : -1;
    case KindRole: return int(r.kind);
    case SortRole:
        switch (index.column()) {
        case File: return displayName(r.dbtag + QLatin1Char('/') + r.relPath);
        case Status: return int(r.kind);
        case Progress: return percent;
        case Size: return r.size;
        case Took: return r.kind == TransferRow::InFlight ? r.etaSeconds : double(r.durationMs) / 1000;
        case Time: return r.when;
        }
        break;
    }
    return QVariant();
}

QVariant TransferModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount)
        return QVariant();
    if (role == Qt::DisplayRole) {
        switch (section) {
        case File: return QStringLiteral("File");
        case Status: return QStringLiteral("Status");
        case Progress: return QStringLiteral("Progress");
        case Size: return QStringLiteral("Size");
        case Took: return QStringLiteral("Took / left");
        case Time: return QStringLiteral("Time");
        }
    }
    if (role == Qt::ToolTipRole && section == Took)
        return QStringLiteral("How long a finished file's transfer took; the time left for a "
                              "file in flight. The link's rate is in the status bar.");
    return QVariant();
}

} // namespace isocket::gui
