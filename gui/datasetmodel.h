#pragma once
// DatasetModel: the receiver window's completed datasets: dbtags whose completion the
// receiver confirmed (its completion marker written), newest first, at most MaxRows.
// Fed by ReceiverService::updated (DbtagCompleted), and at start by the datasets already
// complete on disk (addFromDisk(), from core's completedDatasets() run off the GUI thread).
// Batched; GUI thread.

#include "core/receiverservice.h"
#include "gui/keyedtablemodel.h"

#include <QDateTime>

#include <deque>

namespace isocket::gui {

struct DatasetRow
{
    QString key; // "source/dbtag"
    QString source;
    QString dbtag;
    int files = 0;
    qint64 bytes = 0;
    QDateTime completed;
};

class DatasetModel : public KeyedTableModel<DatasetRow>
{
    Q_OBJECT

public:
    static constexpr int MaxRows = 1000;

    enum Column { Dbtag, Source, Files, Bytes, Completed, ColumnCount };
    enum Role { SortRole = Qt::UserRole + 1, PathRole };

    explicit DatasetModel(QObject *parent = nullptr);
    // The receive root: rows name their paths under it (PathRole).
    void setRoot(const QString &root) { m_root = root; }

    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // A tick of the service's updates (ReceiverService::updated), each applied as below.
    void onUpdates(const QList<isocket::ReceiverUpdate> &updates);
    void onDbtagCompleted(const QString &source, const QString &dbtag, int files, qint64 bytes);
    // Datasets found complete on disk (key, completed time from their manifests); one already
    // listed (completed again during this run) is kept as it is. Not counted in
    // completedCount().
    void addFromDisk(const QList<DatasetRow> &rows);
    // Completed during this run.
    qint64 completedCount() const { return m_count; }

protected:
    QList<DatasetRow> composeRows() const override;

private:
    QString m_root;
    std::deque<DatasetRow> m_rows; // newest first
    qint64 m_count = 0;
};

} // namespace isocket::gui
