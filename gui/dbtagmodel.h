#pragma once
// DbtagModel: the sender window's table of dbtags (name, state, progress, files sent/total,
// bytes, last activity), fed by EdAgent::dbtagsChanged / dbtagsRemoved (batches), and by
// EdAgent::filesChanged for which of its files are in flight: a closed dbtag with files to
// send but none in flight reads "waiting" (for a connection, a retry's delay, a writer), not
// "closed, sending". The progress (ProgressRole, drawn by ProgressDelegate) is of the bytes
// delivered, the text says files and bytes.
// Abnormal and failing dbtags stand out (icon, words, tint, bold). Sort through a
// QSortFilterProxyModel on SortRole. Batched (KeyedTableModel). GUI thread.

#include "core/edengine.h"
#include "core/edevents.h"
#include "gui/keyedtablemodel.h"

#include <QHash>
#include <QSet>

#include <QMap>

namespace isocket::gui {

struct DbtagRow
{
    QString key; // the dbtag's name
    DbtagStatus status;
    int inFlight = 0;
};

class DbtagModel : public KeyedTableModel<DbtagRow>
{
    Q_OBJECT

public:
    enum Column { Name, State, Progress, Files, Bytes, LastActivity, ColumnCount };
    enum Role { SortRole = Qt::UserRole + 1, PathRole, StateRole, ProgressRole };

    explicit DbtagModel(QObject *parent = nullptr);

    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    void updateStatus(const isocket::DbtagStatus &status);
    void updateStatuses(const QList<isocket::DbtagStatus> &statuses); // EdAgent::dbtagsChanged
    void removeDbtags(const QStringList &names);                       // EdAgent::dbtagsRemoved
    void removeDbtag(const QString &name);
    void onFilesChanged(const QList<isocket::FileUpdate> &updates); // EdAgent::filesChanged
    // Connections were lost: files in flight went back to the engine's queue.
    void clearInFlight();
    int inFlightCount(const QString &name) const { return int(m_inFlight.value(name).size()); }

    // Shown state of `name` (after the last flush); nullptr when unknown.
    const DbtagStatus *statusOf(const QString &name) const;
    int abnormalCount() const;

protected:
    QList<DbtagRow> composeRows() const override;

private:
    QMap<QString, DbtagStatus> m_tags; // by name: dbtag names sort by time
    QHash<QString, QSet<QString>> m_inFlight; // dbtag → relative paths in flight
};

} // namespace isocket::gui
