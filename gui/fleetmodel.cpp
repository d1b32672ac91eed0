#include "gui/fleetmodel.h"

#include "gui/format.h"
#include "gui/statevisuals.h"
#include "core/fsname.h"

#include <QLocale>

#include <algorithm>

namespace isocket::gui {

namespace {

QString age(qint64 seconds)
{
    return formatDuration(seconds * 1000);
}

} // namespace

FleetModel::FleetModel(QObject *parent) : KeyedTableModel<FleetRow>(parent)
{
    m_ageTimer.setInterval(AgeRefreshMs);
    connect(&m_ageTimer, &QTimer::timeout, this, &FleetModel::refreshAges);
}

void FleetModel::watchAges()
{
    const bool shown = std::any_of(m_fleet.cbegin(), m_fleet.cend(), [](const FleetEntry &e) {
        return !e.connected && e.lastSeen.isValid();
    });
    if (!shown)
        m_ageTimer.stop();
    else if (!m_ageTimer.isActive())
        m_ageTimer.start();
}

void FleetModel::refreshAges()
{
    watchAges();
    if (m_ageTimer.isActive() && rowCount() > 0)
        Q_EMIT dataChanged(index(0, LastSeen), index(rowCount() - 1, LastSeen),
                           {Qt::DisplayRole, Qt::ToolTipRole});
}

int FleetModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

void FleetModel::setFleet(const QList<FleetEntry> &fleet)
{
    m_fleet = fleet;
    std::sort(m_fleet.begin(), m_fleet.end(),
              [](const FleetEntry &a, const FleetEntry &b) { return a.source < b.source; });
    // One row per source, whatever the list holds twice.
    m_fleet.erase(std::unique(m_fleet.begin(), m_fleet.end(),
                              [](const FleetEntry &a, const FleetEntry &b) {
                                  return a.source == b.source;
                              }),
                  m_fleet.end());
    changed();
    watchAges();
}

void FleetModel::tick()
{
    if (!m_fleet.isEmpty())
        changed();
}

const FleetEntry *FleetModel::entryOf(const QString &source) const
{
    for (const FleetEntry &e : m_fleet)
        if (e.source == source)
            return &e;
    return nullptr;
}

int FleetModel::countOf(Verdict verdict) const
{
    const QDateTime now = QDateTime::currentDateTimeUtc();
    return int(std::count_if(m_fleet.cbegin(), m_fleet.cend(), [&](const FleetEntry &e) {
        return e.verdict(now, StaleSeconds) == verdict;
    }));
}

QString FleetModel::reasonOf(const FleetEntry &entry, const QDateTime &now)
{
    if (!entry.connected
        && (!entry.lastSeen.isValid() || entry.lastSeen.secsTo(now) > StaleSeconds))
        return entry.lastSeen.isValid()
                   ? QStringLiteral("Not seen for %1").arg(age(entry.lastSeen.secsTo(now)))
                   : QStringLiteral("Never seen");
    if (!entry.health || !entry.health->at.isValid()) // none, or one without a verdict in it
        return QStringLiteral("No status report yet");
    return entry.health->reason;
}

QList<FleetRow> FleetModel::composeRows() const
{
    const QDateTime now = QDateTime::currentDateTimeUtc();
    QList<FleetRow> rows;
    rows.reserve(m_fleet.size());
    for (const FleetEntry &e : m_fleet)
        rows.append(FleetRow{e.source, e, now});
    return rows;
}

QVariant FleetModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return QVariant();
    const FleetRow &r = rowAt(index.row());
    const FleetEntry &e = r.entry;
    const std::optional<EdHealth> &h = e.health;
    const Verdict verdict = e.verdict(r.now, StaleSeconds);
    const VerdictLook look = verdictLook(verdict);
    const QLocale locale;
    const qint64 oldest = h && h->oldestUnsent.isValid() ? h->oldestUnsent.secsTo(r.now) : -1;
    const qint64 seen = e.lastSeen.isValid() ? e.lastSeen.secsTo(r.now) : -1;
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Source: return e.source;
        case State: return look.word;
        case Backlog:
            if (!h)
                return QStringLiteral("—");
            if (h->backlogFiles == 0)
                return QStringLiteral("none");
            return QStringLiteral("%1 files, %2")
                .arg(locale.toString(h->backlogFiles), formatBytes(h->backlogBytes));
        case Oldest: return oldest >= 0 ? age(std::max<qint64>(oldest, 0)) : QStringLiteral("—");
        case Eta:
            return h && h->etaSeconds >= 0 && h->backlogFiles > 0 ? formatEta(h->etaSeconds)
                                                                  : QStringLiteral("—");
        case LastSeen:
            if (e.connected)
                return QStringLiteral("connected");
            return seen < 0 ? QStringLiteral("never") : formatAgo(e.lastSeen, m_clock());
        case LiveDbtag:
            return h && !h->liveDbtag.isEmpty() ? displayName(h->liveDbtag) : QStringLiteral("—");
        case Received:
            return QStringLiteral("%1 files, %2")
                .arg(locale.toString(e.filesReceived), formatBytes(e.bytesReceived));
        case Datasets: return e.datasetsCompleted;
        case Reason: return reasonOf(e, r.now);
        }
        break;
    case Qt::DecorationRole:
        if (index.column() == State)
            return badgeIcon(look.badge);
        break;
    case Qt::ForegroundRole:
        if (index.column() == State)
            return badgeColor(look.badge);
        break;
    case Qt::BackgroundRole:
        if (verdict == Verdict::Failing || verdict == Verdict::Degraded) {
            const QColor tint = badgeTint(look.badge);
            if (tint.isValid())
                return tint;
        }
        break;
    case Qt::ToolTipRole: {
        QStringList lines;
        lines << QStringLiteral("%1: %2").arg(look.word, reasonOf(e, r.now));
        if (!e.peer.isEmpty())
            lines << QStringLiteral("Last address: %1").arg(e.peer);
        lines << QStringLiteral("First seen: %1, last seen: %2")
                     .arg(formatTime(e.firstSeen), formatTime(e.lastSeen));
        if (h && h->at.isValid())
            lines << QStringLiteral("Last status report: %1").arg(formatTime(h->at));
        if (e.authFailures > 0)
            lines << QStringLiteral("%1 failed authentication(s) claiming this source")
                         .arg(e.authFailures);
        lines << look.tooltip;
        return lines.join(QLatin1Char('\n'));
    }
    case Qt::TextAlignmentRole:
        switch (index.column()) {
        case Backlog:
        case Oldest:
        case Eta:
        case Received:
        case Datasets: return int(Qt::AlignRight | Qt::AlignVCenter);
        }
        break;
    case VerdictRole: return int(verdict);
    case SortRole:
        switch (index.column()) {
        case Source: return e.source;
        case State: return int(verdict);
        case Backlog: return h ? h->backlogBytes : qint64(-1);
        case Oldest: return oldest;
        case Eta: return h ? h->etaSeconds : qint64(-1);
        case LastSeen: return e.connected ? qint64(-1) : seen < 0 ? qint64(1) << 62 : seen;
        case LiveDbtag: return h ? h->liveDbtag : QString();
        case Received: return e.bytesReceived;
        case Datasets: return e.datasetsCompleted;
        case Reason: return reasonOf(e, r.now);
        }
        break;
    }
    return QVariant();
}

QVariant FleetModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount)
        return QVariant();
    if (role == Qt::ToolTipRole) {
        switch (section) {
        case Backlog: return QStringLiteral("Files (and bytes) waiting on the ED to be sent");
        case Oldest: return QStringLiteral("Age of the oldest file not yet sent");
        case Eta: return QStringLiteral("Time to caught up at the ED's recent rate");
        case LastSeen: return QStringLiteral("Last frame from the ED (connected: now)");
        case Datasets: return QStringLiteral("Dbtags complete on the receiver's disk");
        }
        return QVariant();
    }
    if (role != Qt::DisplayRole)
        return QVariant();
    switch (section) {
    case Source: return QStringLiteral("ED (source)");
    case State: return QStringLiteral("State");
    case Backlog: return QStringLiteral("Backlog");
    case Oldest: return QStringLiteral("Oldest unsent");
    case Eta: return QStringLiteral("ETA");
    case LastSeen: return QStringLiteral("Last seen");
    case LiveDbtag: return QStringLiteral("Live dbtag");
    case Received: return QStringLiteral("Received");
    case Datasets: return QStringLiteral("Datasets");
    case Reason: return QStringLiteral("Why");
    }
    return QVariant();
}

} // namespace isocket::gui
