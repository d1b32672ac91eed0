#include "gui/monitorview.h"

#include "gui/fleetmodel.h"
#include "gui/format.h"
#include "gui/healthwidgets.h"
#include "gui/notices.h"
#include "gui/statevisuals.h"
#include "gui/widgetfactory.h"
#include "core/fsname.h"

#include <QHeaderView>
#include <QItemSelectionModel>
#include <QLabel>
#include <QLocale>
#include <QSortFilterProxyModel>
#include <QSplitter>
#include <QTableView>
#include <QTableWidget>
#include <QVBoxLayout>

namespace isocket::gui {

namespace {

Badge stateBadge(const QString &state)
{
    if (state == QLatin1String("live"))
        return Badge::Live;
    if (state == QLatin1String("closed"))
        return Badge::Sending;
    if (state == QLatin1String("done"))
        return Badge::Done;
    if (state == QLatin1String("abnormal"))
        return Badge::Abnormal;
    return Badge::Idle;
}

} // namespace

MonitorView::MonitorView(const QString &receiver, const QString &secretFile, QWidget *parent)
    : QWidget(parent),
      m_receiverAddress(receiver),
      m_secretFile(secretFile),
      m_fleet(new FleetModel(this)),
      m_proxy(new QSortFilterProxyModel(this)),
      m_headline(new HeadlineBar(this)),
      m_notices(new NoticeArea(this)),
      m_summary(new QLabel(this))
{
    setObjectName(QStringLiteral("monitorView"));
    m_link.state = LinkState::Connecting;
    const QFontMetrics fm = fontMetrics();
    m_summary->setObjectName(QStringLiteral("fleetSummary"));
    m_summary->setTextFormat(Qt::PlainText);

    auto *split = new QSplitter(Qt::Vertical, this);
    split->setObjectName(QStringLiteral("monitorSplitter"));
    split->setChildrenCollapsible(false);

    m_view = makeTable(QStringLiteral("fleetView"), QStringLiteral("Every ED seen"), split);
    m_proxy->setSourceModel(m_fleet);
    m_proxy->setSortRole(FleetModel::SortRole);
    m_view->setModel(m_proxy);
    m_view->setTextElideMode(Qt::ElideRight); // the reason reads from its start
    m_view->setSortingEnabled(true);
    m_view->sortByColumn(FleetModel::Source, Qt::AscendingOrder);
    QHeaderView *h = m_view->horizontalHeader();
    h->setStretchLastSection(true);
    h->resizeSection(FleetModel::Source, fm.horizontalAdvance(QStringLiteral("ed-source-000")) + 24);
    h->resizeSection(FleetModel::State, fm.horizontalAdvance(QStringLiteral("Degraded")) + 40);
    h->resizeSection(FleetModel::Backlog, fm.horizontalAdvance(QStringLiteral("00,000 files, 000.0 MiB")) + 16);
    h->resizeSection(FleetModel::Oldest, fm.horizontalAdvance(QStringLiteral("00 min 00 s")) + 16);
    h->resizeSection(FleetModel::Eta, fm.horizontalAdvance(QStringLiteral("00 min 00 s")) + 16);
    h->resizeSection(FleetModel::LastSeen, fm.horizontalAdvance(QStringLiteral("2025-01-01 00:00")) + 16);
    h->resizeSection(FleetModel::LiveDbtag, fm.horizontalAdvance(QStringLiteral("DC20250101120000")) + 16);
    h->resizeSection(FleetModel::Received, fm.horizontalAdvance(QStringLiteral("00,000 files, 000.0 MiB")) + 16);
    h->resizeSection(FleetModel::Datasets, fm.horizontalAdvance(QStringLiteral("Datasets")) + 16);

    // The selected ED: its dbtags by state and what its last report says.
    auto *detail = new QWidget(split);
    m_detailTitle = heading(QStringLiteral("Select an ED to see its dbtags"), m_view, detail);
    m_detailTitle->setObjectName(QStringLiteral("detailTitle"));
    m_states = new QTableWidget(0, 2, detail);
    m_states->setObjectName(QStringLiteral("dbtagStates"));
    m_states->setAccessibleName(QStringLiteral("Dbtags of the selected ED by state"));
    m_states->setHorizontalHeaderLabels({QStringLiteral("Dbtag state"), QStringLiteral("Dbtags")});
    m_states->verticalHeader()->hide();
    m_states->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_states->setSelectionMode(QAbstractItemView::NoSelection);
    m_states->setShowGrid(false);
    m_states->horizontalHeader()->setStretchLastSection(true);
    m_states->setColumnWidth(0, fm.horizontalAdvance(QStringLiteral("closed abnormally")) + 40);
    m_states->setMaximumWidth(fm.horizontalAdvance(QStringLiteral("closed abnormally")) * 2 + 40);
    m_detail = new QLabel(detail);
    m_detail->setObjectName(QStringLiteral("detailText"));
    m_detail->setTextFormat(Qt::PlainText);
    m_detail->setWordWrap(true);
    m_detail->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    m_detail->setTextInteractionFlags(Qt::TextSelectableByMouse);
    auto *row = new QHBoxLayout;
    row->addWidget(m_states);
    row->addWidget(m_detail, 1);
    auto *dl = new QVBoxLayout(detail);
    dl->setContentsMargins(0, 4, 0, 0);
    dl->addWidget(m_detailTitle);
    dl->addLayout(row, 1);

    split->addWidget(section(heading(QStringLiteral("F&leet: every ED the receiver has seen"),
                                     m_view, split),
                             m_view, split));
    split->addWidget(detail);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(m_headline);
    layout->addWidget(m_notices);
    layout->addWidget(m_summary);
    layout->addWidget(split, 1);

    connect(m_view->selectionModel(), &QItemSelectionModel::selectionChanged, this,
            &MonitorView::updateDetail);
    // Rows come and go on the model's flush; the detail follows what is shown.
    connect(m_fleet, &QAbstractItemModel::dataChanged, this, &MonitorView::updateDetail);
    connect(m_fleet, &QAbstractItemModel::modelReset, this, &MonitorView::updateDetail);

    m_tick.setInterval(5000);
    connect(&m_tick, &QTimer::timeout, this, [this] {
        m_fleet->tick();
        updateSummary();
    });
    updateHeadline();
    updateSummary();
    updateDetail();
}

void MonitorView::showFleet(const QList<FleetEntry> &fleet)
{
    m_fleet->setFleet(fleet);
    updateSummary();
}

void MonitorView::showReceiver(const ReceiverHealth &health)
{
    m_receiver = health;
    updateHeadline();
    updateSummary();
}

void MonitorView::showLink(const LinkStatus &link)
{
    m_link = link;
    updateHeadline();
}

void MonitorView::updateHeadline()
{
    m_headline->setHeadline(monitorHeadline(m_receiver, m_link));
    m_notices->setNotices(monitorNotices(m_link, m_receiverAddress, m_secretFile));
}

void MonitorView::updateSummary()
{
    const QList<FleetEntry> &fleet = m_fleet->fleet();
    QStringList parts;
    for (Verdict v : {Verdict::Ok, Verdict::Behind, Verdict::Degraded, Verdict::Failing})
        if (const int n = m_fleet->countOf(v); n > 0)
            parts << QStringLiteral("%1 %2").arg(n).arg(verdictLook(v).word.toLower());
    int connected = 0;
    for (const FleetEntry &e : fleet)
        connected += e.connected ? 1 : 0;
    QString text = QStringLiteral("%1 ED(s)%2 · %3 connected")
                       .arg(fleet.size())
                       .arg(parts.isEmpty() ? QString() : QStringLiteral(": ") + parts.join(QStringLiteral(", ")))
                       .arg(connected);
    if (m_receiver)
        text += QStringLiteral(" · receiver %1: %2")
                    .arg(m_receiver->address.isEmpty() ? m_receiverAddress : m_receiver->address,
                         freeSpaceText(*m_receiver));
    m_summary->setText(text);
}

bool MonitorView::selectSource(const QString &source)
{
    for (int r = 0; r < m_proxy->rowCount(); ++r) {
        const QModelIndex i = m_proxy->index(r, FleetModel::Source);
        if (i.data().toString() == source) {
            m_view->selectionModel()->select(
                i, QItemSelectionModel::ClearAndSelect | QItemSelectionModel::Rows);
            m_view->setCurrentIndex(i);
            return true;
        }
    }
    return false;
}

QString MonitorView::selectedSource() const
{
    const QModelIndexList rows = m_view->selectionModel()->selectedRows(FleetModel::Source);
    return rows.isEmpty() ? QString() : rows.first().data().toString();
}

void MonitorView::updateDetail()
{
    const QString source = selectedSource();
    const FleetEntry *e = source.isEmpty() ? nullptr : m_fleet->entryOf(source);
    if (!e) {
        m_detailTitle->setText(QStringLiteral("Select an ED to see its dbtags"));
        m_states->setRowCount(0);
        m_detail->clear();
        return;
    }
    const QDateTime now = QDateTime::currentDateTimeUtc();
    const VerdictLook look = verdictLook(e->verdict(now, FleetModel::StaleSeconds));
    m_detailTitle->setText(QStringLiteral("%1: %2").arg(e->source, look.word));

    const QMap<QString, int> states = e->health ? e->health->dbtagsByState : QMap<QString, int>();
    m_states->setRowCount(int(states.size()));
    int row = 0;
    for (auto it = states.cbegin(); it != states.cend(); ++it, ++row) {
        auto *state = new QTableWidgetItem(badgeIcon(stateBadge(it.key())), it.key());
        auto *count = new QTableWidgetItem(QString::number(it.value()));
        count->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
        m_states->setItem(row, 0, state); // the table owns its items
        m_states->setItem(row, 1, count);
    }

    const QLocale locale;
    QStringList lines;
    const QString reason = FleetModel::reasonOf(*e, now);
    lines << (reason.startsWith(look.word, Qt::CaseInsensitive)
                  ? reason
                  : QStringLiteral("%1: %2").arg(look.word, reason));
    lines << (e->connected ? QStringLiteral("Connected from %1").arg(e->peer)
                           : QStringLiteral("Not connected; last seen %1%2")
                                 .arg(formatTime(e->lastSeen),
                                      e->peer.isEmpty() ? QString()
                                                        : QStringLiteral(" from ") + e->peer));
    if (const std::optional<EdHealth> &h = e->health) {
        if (!h->connected && !h->downCause.isEmpty())
            lines << QStringLiteral("Its link to the receiver: down since %1: %2")
                         .arg(formatTime(h->downSince), h->downCause);
        if (h->authFailing)
            lines << QStringLiteral("Authentication failing since %1")
                         .arg(formatTime(h->authFailingSince));
        if (!h->refusal.isEmpty())
            lines << QStringLiteral("Receiver refuses its files since %1: %2 (%3 files)")
                         .arg(formatTime(h->refusingSince), h->refusal)
                         .arg(h->refusedFiles);
        if (!h->localTrouble.isEmpty())
            lines << QStringLiteral("Trouble on the ED: %1").arg(h->localTrouble);
        if (h->paused)
            lines << QStringLiteral("Sending paused by its operator");
        lines << QStringLiteral("Backlog: %1 files, %2; oldest unsent %3; rate %4; ETA %5")
                     .arg(locale.toString(h->backlogFiles), formatBytes(h->backlogBytes),
                          h->oldestUnsent.isValid()
                              ? formatDuration(h->oldestUnsentAgeSeconds() * 1000)
                              : QStringLiteral("—"),
                          formatRate(h->rateBytesPerSecond),
                          h->etaSeconds >= 0 ? formatEta(h->etaSeconds) : QStringLiteral("—"));
        if (!h->liveDbtag.isEmpty())
            lines << QStringLiteral("Live dbtag: %1").arg(displayName(h->liveDbtag));
        if (h->failedFiles > 0)
            lines << QStringLiteral("%1 file(s) failed for good").arg(h->failedFiles);
        lines << QStringLiteral("Last report: %1").arg(formatTime(h->at));
    } else {
        lines << QStringLiteral("No status report from it yet (an ED before protocol v4 sends "
                                "none)");
    }
    lines << QStringLiteral("Received: %1 files, %2; %3 dataset(s) complete on disk")
                 .arg(locale.toString(e->filesReceived), formatBytes(e->bytesReceived))
                 .arg(e->datasetsCompleted);
    if (e->authFailures > 0)
        lines << QStringLiteral("%1 failed authentication(s) claiming this source")
                     .arg(e->authFailures);
    m_detail->setText(lines.join(QLatin1Char('\n')));
}

void MonitorView::flush()
{
    m_fleet->flush();
    updateSummary();
    updateDetail();
}

void MonitorView::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    m_tick.start();
}

void MonitorView::hideEvent(QHideEvent *event)
{
    QWidget::hideEvent(event);
    m_tick.stop();
}

} // namespace isocket::gui
