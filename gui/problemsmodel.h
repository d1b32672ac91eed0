#pragma once
// ProblemsModel: the sender window's "Problems": the files whose last attempt failed, with the
// reason, the time, how many attempts, and whether isocket retries by itself ("will retry") or
// an operator must act ("failed"). An entry goes away when the file is delivered, dropped
// (deleted by the producer), or queued again for sending (a retry is under way: its own
// failure brings it back). Fed by EdAgent::filesChanged. At most MaxEntries rows (the oldest
// go first), so a flood of failures costs bounded memory. Batched (KeyedTableModel). GUI thread.

#include "core/edevents.h"
#include "gui/keyedtablemodel.h"

#include <QDateTime>
#include <QHash>

#include <map>

namespace isocket::gui {

struct ProblemRow
{
    QString key; // "dbtag/relPath"
    QString dbtag;
    QString relPath;
    QString absPath;
    QString reason;
    QDateTime when;
    int attempts = 0;
    bool forGood = false; // an operator must act
};

class ProblemsModel : public KeyedTableModel<ProblemRow>
{
    Q_OBJECT

public:
    static constexpr int MaxEntries = 1000;

    enum Column
    {
        File,
        Status,
        Reason,
        Time,
        ColumnCount
    };
    enum Role
    {
        SortRole = Qt::UserRole + 1,
        PathRole,
        DbtagRole,
        RelPathRole,
        ForGoodRole
    };

    explicit ProblemsModel(QObject *parent = nullptr);

    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    void onFilesChanged(const QList<isocket::FileUpdate> &updates);

    int count() const { return int(m_entries.size()); }
    int forGoodCount() const { return m_forGood; }

Q_SIGNALS:
    void countChanged(int count, int forGood);

protected:
    QList<ProblemRow> composeRows() const override;

private:
    void add(const isocket::FileUpdate &u, bool forGood);
    void remove(const QString &key);

    QHash<QString, ProblemRow> m_entries; // by key
    std::map<quint64, QString> m_order;   // insertion order → key (newest last)
    QHash<QString, quint64> m_orderOf;
    quint64 m_next = 1;
    int m_forGood = 0;
};

} // namespace isocket::gui
