#pragma once
// FleetModel: every ED a receiver has ever seen (core/health.h FleetEntry), one row each, by
// source name: its verdict (shape, word, colour), backlog, oldest unsent file's age, ETA to
// caught up, last seen, live dbtag, what the receiver got from it, and the reason in words.
// Fed whole lists (ReceiverService::fleetChanged, FleetMonitor::fleetChanged) through
// setFleet(); ages move with tick() (a slow timer of the window, while it is visible). A silent
// ED turns Failing after StaleSeconds (FleetEntry::verdict). Batched (KeyedTableModel); GUI
// thread.

#include "core/health.h"
#include "gui/keyedtablemodel.h"

#include <QDateTime>
#include <QList>
#include <QTimer>

#include <functional>

namespace isocket::gui {

struct FleetRow
{
    QString key; // the source
    FleetEntry entry;
    QDateTime now; // when the row was composed: ages and the stale verdict are as of then
};

class FleetModel : public KeyedTableModel<FleetRow>
{
    Q_OBJECT

public:
    static constexpr qint64 StaleSeconds = 300;

    enum Column {
        Source,
        State,
        Backlog,
        Oldest,
        Eta,
        LastSeen,
        LiveDbtag,
        Received,
        Datasets,
        Reason,
        ColumnCount
    };
    enum Role { SortRole = Qt::UserRole + 1, VerdictRole };

    explicit FleetModel(QObject *parent = nullptr);

    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // The whole fleet, as the registry or the monitor gives it.
    void setFleet(const QList<isocket::FleetEntry> &fleet);
    // Ages and the stale verdict as of now.
    void tick();

    // A disconnected ED's "Last seen" is relative ("3 min ago"): while one is shown, every
    // ageRefreshInterval() a dataChanged() of that column alone moves it on, without anything
    // else repainting; the timer stops when none is shown.
    static constexpr int AgeRefreshMs = 10000;
    void setAgeRefreshInterval(int ms) { m_ageTimer.setInterval(ms); }
    int ageRefreshInterval() const { return m_ageTimer.interval(); }
    bool isAgeRefreshActive() const { return m_ageTimer.isActive(); }
    // What "now" is for the relative times (tests); default: the system clock.
    void setClock(std::function<QDateTime()> clock) { m_clock = std::move(clock); }

    const QList<FleetEntry> &fleet() const { return m_fleet; }
    const FleetEntry *entryOf(const QString &source) const; // null when unknown
    // How many EDs have each verdict now.
    int countOf(Verdict verdict) const;

    // The reason shown for an entry: its reported one, or why the receiver has none.
    static QString reasonOf(const FleetEntry &entry, const QDateTime &now);

protected:
    QList<FleetRow> composeRows() const override;

private:
    void watchAges(); // starts or stops m_ageTimer
    void refreshAges();
    QTimer m_ageTimer;
    std::function<QDateTime()> m_clock = [] { return QDateTime::currentDateTimeUtc(); };
    QList<FleetEntry> m_fleet; // sorted by source
};

} // namespace isocket::gui
