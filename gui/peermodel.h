#pragma once
// PeerModel: the receiver window's table of EDs: one row per source (all of its connections
// together), and one per peer address whose authentication failed. Columns: source, peer
// address, connected since, files and bytes received, current rate, last file, authentication
// failures. Fed by ReceiverService::updated (batches). Disconnected EDs stay
// listed (greyed) up to MaxPeers rows; the oldest of them go first. Batched; GUI thread.

#include "core/receiverservice.h"
#include "gui/keyedtablemodel.h"
#include "gui/throughput.h"

#include <QDateTime>
#include <QHash>
#include <QSet>
#include <QTimer>

#include <functional>

#include <memory>

namespace isocket::gui {

struct PeerRow
{
    QString key;
    QString source;
    QString address;
    bool authenticated = false;
    int connections = 0;
    QDateTime since;
    QDateTime lastSeen;
    qint64 files = 0;
    qint64 bytes = 0;
    double rate = 0;
    QString lastFile;
    int authFailures = 0;     // the ED's proof did not match our secret
    int handshakesLeft = 0;   // connections that ended before authenticating (the ED may have
                              // refused *our* proof: a wrong secret seen from its side)
    QString lastFailure;
};

class PeerModel : public KeyedTableModel<PeerRow>
{
    Q_OBJECT

public:
    static constexpr int MaxPeers = 200;

    enum Column { Source, Address, Since, Files, Bytes, Rate, LastFile, AuthFailures, ColumnCount };
    enum Role { SortRole = Qt::UserRole + 1, PathRole };

    explicit PeerModel(QObject *parent = nullptr);
    // The receive root: rows name their paths under it (PathRole).
    void setRoot(const QString &root) { m_root = root; }

    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // A tick of the service's updates (ReceiverService::updated), each applied as below.
    void onUpdates(const QList<isocket::ReceiverUpdate> &updates);
    void onPeerConnected(quint64 connId, const QString &peerAddress);
    void onPeerAuthenticated(quint64 connId, const QString &source);
    void onPeerDisconnected(quint64 connId);
    void onAuthFailed(const QString &peerAddress, const QString &reason);
    void onFileProgress(quint64 connId, const QString &source, const QString &dbtag,
                        const QString &path, qint64 bytesDone, qint64 size);
    void onFileStored(const QString &source, const QString &dbtag, const QString &path,
                      qint64 size, qint64 durationMs);
    // Rates move with time: refresh them (the window's 1 s timer, only while visible).
    void tick();

    // A disconnected ED's "Since" is relative ("3 min ago"): while one is shown, every
    // ageRefreshInterval() a dataChanged() of that column alone moves it on, without anything
    // else repainting; the timer stops when none is shown.
    static constexpr int AgeRefreshMs = 10000;
    void setAgeRefreshInterval(int ms) { m_ageTimer.setInterval(ms); }
    int ageRefreshInterval() const { return m_ageTimer.interval(); }
    bool isAgeRefreshActive() const { return m_ageTimer.isActive(); }
    // What "now" is for the relative times (tests); default: the system clock.
    void setClock(std::function<QDateTime()> clock) { m_clock = std::move(clock); }

    int connectedSources() const;

protected:
    QList<PeerRow> composeRows() const override;

private:
    struct Peer
    {
        PeerRow row;
        std::shared_ptr<Throughput> meter = std::make_shared<Throughput>();
        quint64 order = 0;
    };
    struct Conn
    {
        QString address;
        QString source;
    };
    Peer &peer(const QString &key);
    void evict();
    void watchAges(); // starts or stops m_ageTimer
    void refreshAges();
    QTimer m_ageTimer;
    std::function<QDateTime()> m_clock = [] { return QDateTime::currentDateTimeUtc(); };

    QString m_root;
    QHash<QString, Peer> m_peers;
    QHash<quint64, Conn> m_conns;
    QHash<QString, qint64> m_progress; // "source/dbtag/path" → bytes counted so far
    quint64 m_nextOrder = 1;
};

// "10.0.0.5:41234" → "10.0.0.5"; "[::1]:5" and "::1:5" → "::1".
QString hostOf(const QString &peerAddress);

} // namespace isocket::gui
