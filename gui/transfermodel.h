#pragma once
// TransferModel: the sender window's transfer queue. Three groups, in this order: the files in
// flight (progress, ETA), the next files queued (the first MaxQueuedShown of them), and
// the last files delivered or failed (at most MaxHistory, newest first). Fed by the agent's
// file updates (EdAgent::filesChanged, a batch per tick); also counts the bytes that left into a
// Throughput ring for the chart, the tray and the link's rate. A file shows the time its
// transfer took, not a rate of its own: with several files in flight and a queue, bytes over a
// file's time in the pipeline says little about the link (linkRate() does). The File cell's
// tooltip is the file's full path (PathRole too).
//
// Memory is bounded by the engine's own queue (one small entry per queued file) plus the
// fixed history; 10,000 delivered files leave MaxHistory rows. Batched (KeyedTableModel):
// at most ~10 notification rounds a second, whatever the flood. GUI thread.

#include "core/edengine.h"
#include "core/edevents.h"
#include "core/senthistory.h"
#include "gui/keyedtablemodel.h"
#include "gui/throughput.h"

#include <QDateTime>
#include <QElapsedTimer>
#include <QHash>

#include <deque>
#include <map>

namespace isocket::gui {

struct TransferRow
{
    enum Kind { InFlight, Queued, Delivered, Retrying, Failed, Dropped };
    QString key;
    Kind kind = Queued;
    QString dbtag;
    QString relPath;
    QString absPath;
    qint64 size = 0;
    qint64 done = 0;
    double etaSeconds = -1; // in flight only
    qint64 durationMs = 0;  // finished only
    QDateTime when;         // started, queued or finished
    QString detail;         // error text
    int position = 0;       // queued: 1 = next
};

class TransferModel : public KeyedTableModel<TransferRow>
{
    Q_OBJECT

public:
    static constexpr int MaxQueuedShown = 10;
    static constexpr int MaxHistory = 500;

    enum Column { File, Status, Progress, Size, Took, Time, ColumnCount };
    enum Role { SortRole = Qt::UserRole + 1, ProgressRole, KindRole, PathRole, DbtagRole,
                RelPathRole };

    explicit TransferModel(QObject *parent = nullptr);

    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // Feeds, named after the signals they take.
    // A tick of the agent's updates (EdAgent::filesChanged), each applied as below.
    void onFilesChanged(const QList<isocket::FileUpdate> &updates);
    void onFileQueued(const isocket::FileTicket &ticket);
    void onFileStarted(const isocket::FileTicket &ticket, qint64 offset, qint64 size);
    void onFileProgress(const isocket::FileTicket &ticket, qint64 done, qint64 size);
    void onFileDelivered(const isocket::FileTicket &ticket, qint64 bytesSent, qint64 durationMs);
    void onFileFailed(const isocket::FileTicket &ticket, const isocket::Error &error);
    void onFileDropped(const isocket::FileTicket &ticket, const QString &reason);
    // Connections were lost: files in flight went back to the engine's queue.
    void clearInFlight();
    // Files delivered before this run (core/senthistory.h, read off the GUI thread at start),
    // newest first: listed after this run's history as delivered, up to MaxHistory rows in all.
    // Not counted in deliveredCount() / deliveredBytes() (this run's).
    void addDeliveredFromDisk(const QList<isocket::SentFile> &files);

    int inFlightCount() const { return int(m_inFlight.size()); }
    int queuedCount() const { return int(m_queued.size()); }
    qint64 deliveredCount() const { return m_deliveredCount; }
    qint64 deliveredBytes() const { return m_deliveredBytes; }
    qint64 failedCount() const { return m_failedCount; }
    const Throughput &throughput() const { return m_throughput; }
    Throughput &throughput() { return m_throughput; }
    // Bytes on the wire per second, the last few seconds (Throughput::linkRate()).
    double linkRate() const { return m_throughput.linkRate(); }

protected:
    QList<TransferRow> composeRows() const override;

private:
    struct Flight
    {
        QString dbtag;
        QString relPath;
        qint64 offset = 0;
        qint64 size = 0;
        qint64 done = 0;
        QDateTime started;
        QElapsedTimer clock;
        quint64 order = 0;
    };
    struct QueuedFile
    {
        quint64 order = 0;
        qint64 size = 0;
        QDateTime when;
    };
    static QString fileKey(const FileTicket &t) { return t.dbtag + QLatin1Char('/') + t.relPath; }
    // Remembers the folder of the ticket's dbtag (queued files keep no path of their own).
    void notePath(const FileTicket &t);
    QString absPathOf(const QString &dbtag, const QString &relPath) const;
    void addHistory(TransferRow row);

    QHash<QString, QString> m_tagPaths;          // dbtag → its folder
    QHash<QString, Flight> m_inFlight;           // by file key
    QHash<QString, QueuedFile> m_queued;         // by file key
    std::map<quint64, QString> m_queueOrder;     // order → file key
    std::deque<TransferRow> m_history;           // newest first, ≤ MaxHistory
    quint64 m_nextOrder = 1;
    quint64 m_nextHistory = 1;
    qint64 m_deliveredCount = 0;
    qint64 m_deliveredBytes = 0;
    qint64 m_failedCount = 0;
    Throughput m_throughput;
};

} // namespace isocket::gui
