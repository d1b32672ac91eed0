#pragma once
// IncomingModel: the receiver window's incoming files: those being written now (progress,
// rate), then the last MaxHistory stored or failed, newest first. Fed by the Receiver's
// updates (ReceiverService::updated); counts received bytes into a Throughput ring. Batched;
// GUI thread.

#include "core/error.h"
#include "core/receiverservice.h"
#include "gui/keyedtablemodel.h"
#include "gui/throughput.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QHash>

#include <deque>

namespace isocket::gui {

struct IncomingRow
{
    enum Kind { Receiving, Stored, Failed, Interrupted };
    QString key;
    Kind kind = Receiving;
    QString source;
    QString dbtag;
    QString path;
    qint64 size = 0;
    qint64 done = 0;
    double rate = 0;
    qint64 durationMs = 0;
    QDateTime when;
    QString detail;
};

class IncomingModel : public KeyedTableModel<IncomingRow>
{
    Q_OBJECT

public:
    static constexpr int MaxHistory = 300;

    enum Column { Source, File, Status, Progress, Size, Rate, Time, ColumnCount };
    enum Role { SortRole = Qt::UserRole + 1, ProgressRole, PathRole };

    explicit IncomingModel(QObject *parent = nullptr);
    // The receive root: rows name their paths under it (PathRole).
    void setRoot(const QString &root) { m_root = root; }

    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // A tick of the service's updates (ReceiverService::updated), each applied as below.
    void onUpdates(const QList<isocket::ReceiverUpdate> &updates);
    void onFileStarted(quint64 connId, const QString &source, const QString &dbtag,
                       const QString &path, qint64 size, qint64 offset);
    void onFileProgress(quint64 connId, const QString &source, const QString &dbtag,
                        const QString &path, qint64 bytesDone, qint64 size);
    void onFileStored(const QString &source, const QString &dbtag, const QString &path,
                      qint64 size, qint64 durationMs);
    void onFileFailed(const QString &source, const QString &dbtag, const QString &path,
                      isocket::ErrorCode code, const QString &message);
    void onPeerDisconnected(quint64 connId);

    int receivingCount() const { return int(m_active.size()); }
    qint64 storedCount() const { return m_storedCount; }
    qint64 storedBytes() const { return m_storedBytes; }
    const Throughput &throughput() const { return m_throughput; }

protected:
    QList<IncomingRow> composeRows() const override;

private:
    QString m_root;
    struct Active
    {
        quint64 connId = 0;
        IncomingRow row;
        qint64 offset = 0;
        QElapsedTimer clock;
        quint64 order = 0;
    };
    static QString fileKey(const QString &source, const QString &dbtag, const QString &path);
    void finish(const QString &key, IncomingRow::Kind kind, qint64 size, qint64 durationMs,
                const QString &detail, const QString &source, const QString &dbtag,
                const QString &path);

    QHash<QString, Active> m_active;
    std::deque<IncomingRow> m_history; // newest first
    quint64 m_nextOrder = 1;
    quint64 m_nextHistory = 1;
    qint64 m_storedCount = 0;
    qint64 m_storedBytes = 0;
    Throughput m_throughput;
};

} // namespace isocket::gui
