#pragma once
// DbtagModel: the sender window's table of dbtags (name, state, files sent/total, bytes, last
// activity), fed by EdAgent::dbtagsChanged / dbtagsRemoved (batches).
// Abnormal and failing dbtags stand out (icon, words, tint, bold). Sort through a
// QSortFilterProxyModel on SortRole. Batched (KeyedTableModel). GUI thread.

#include "core/edengine.h"
#include "gui/keyedtablemodel.h"

#include <QMap>

namespace isocket::gui {

struct DbtagRow
{
    QString key; // the dbtag's name
    DbtagStatus status;
};

class DbtagModel : public KeyedTableModel<DbtagRow>
{
    Q_OBJECT

public:
    enum Column { Name, State, Files, Bytes, LastActivity, ColumnCount };
    enum Role { SortRole = Qt::UserRole + 1, PathRole, StateRole };

    explicit DbtagModel(QObject *parent = nullptr);

    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    void updateStatus(const isocket::DbtagStatus &status);
    void updateStatuses(const QList<isocket::DbtagStatus> &statuses); // EdAgent::dbtagsChanged
    void removeDbtags(const QStringList &names);                       // EdAgent::dbtagsRemoved
    void removeDbtag(const QString &name);

    // Shown state of `name` (after the last flush); nullptr when unknown.
    const DbtagStatus *statusOf(const QString &name) const;
    int abnormalCount() const;

protected:
    QList<DbtagRow> composeRows() const override;

private:
    QMap<QString, DbtagStatus> m_tags; // by name: dbtag names sort by time
};

} // namespace isocket::gui
