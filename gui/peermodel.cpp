#include "gui/peermodel.h"

#include "gui/format.h"
#include "gui/statevisuals.h"
#include "core/fsname.h"

#include <algorithm>

#include <QFont>

namespace isocket::gui {

QString hostOf(const QString &peerAddress)
{
    const int colon = peerAddress.lastIndexOf(QLatin1Char(':'));
    QString host = colon > 0 ? peerAddress.left(colon) : peerAddress;
    if (host.startsWith(QLatin1Char('[')) && host.endsWith(QLatin1Char(']')))
        host = host.mid(1, host.size() - 2);
    if (host.startsWith(QLatin1String("::ffff:")))
        host = host.mid(7);
    return host;
}

PeerModel::PeerModel(QObject *parent) : KeyedTableModel<PeerRow>(parent)
{
    m_ageTimer.setInterval(AgeRefreshMs);
    connect(&m_ageTimer, &QTimer::timeout, this, &PeerModel::refreshAges);
}

void PeerModel::watchAges()
{
    const bool shown = std::any_of(m_peers.cbegin(), m_peers.cend(), [](const Peer &p) {
        return p.row.connections == 0 && p.row.lastSeen.isValid();
    });
    if (!shown)
        m_ageTimer.stop();
    else if (!m_ageTimer.isActive())
        m_ageTimer.start();
}

void PeerModel::refreshAges()
{
    watchAges();
    if (m_ageTimer.isActive() && rowCount() > 0)
        Q_EMIT dataChanged(index(0, Since), index(rowCount() - 1, Since),
                           {Qt::DisplayRole, Qt::ToolTipRole});
}

int PeerModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

PeerModel::Peer &PeerModel::peer(const QString &key)
{
    auto it = m_peers.find(key);
    if (it == m_peers.end()) {
        it = m_peers.insert(key, Peer());
        it->row.key = key;
        it->row.since = QDateTime::currentDateTimeUtc();
        it->order = m_nextOrder++;
        evict();
        it = m_peers.find(key);
    }
    return *it;
}

void PeerModel::evict()
{
    while (m_peers.size() > MaxPeers) {
        auto victim = m_peers.end();
        for (auto it = m_peers.begin(); it != m_peers.end(); ++it) {
            if (it->row.connections > 0)
                continue;
            if (victim == m_peers.end() || it->row.lastSeen < victim->row.lastSeen)
                victim = it;
        }
        if (victim == m_peers.end())
            return; // all connected: show them all
        m_peers.erase(victim);
    }
}

void PeerModel::onUpdates(const QList<ReceiverUpdate> &updates)
{
    for (const ReceiverUpdate &u : updates) {
        switch (u.kind) {
        case ReceiverUpdate::Kind::PeerConnected: onPeerConnected(u.connId, u.peer); break;
        case ReceiverUpdate::Kind::PeerAuthenticated:
            onPeerAuthenticated(u.connId, u.source);
            break;
        case ReceiverUpdate::Kind::PeerDisconnected: onPeerDisconnected(u.connId); break;
        case ReceiverUpdate::Kind::AuthFailed: onAuthFailed(u.peer, u.message); break;
        case ReceiverUpdate::Kind::FileProgress:
            onFileProgress(u.connId, u.source, u.dbtag, u.path, u.done, u.size);
            break;
        case ReceiverUpdate::Kind::FileStored:
            onFileStored(u.source, u.dbtag, u.path, u.size, u.durationMs);
            break;
        case ReceiverUpdate::Kind::FileStarted:
        case ReceiverUpdate::Kind::FileFailed:
        case ReceiverUpdate::Kind::DbtagCompleted: break;
        }
    }
    watchAges();
}

void PeerModel::onPeerConnected(quint64 connId, const QString &peerAddress)
{
    m_conns.insert(connId, Conn{peerAddress, QString()});
}

void PeerModel::onPeerAuthenticated(quint64 connId, const QString &source)
{
    auto c = m_conns.find(connId);
    if (c == m_conns.end())
        return;
    c->source = source;
    Peer &p = peer(source);
    if (p.row.connections == 0)
        p.row.since = QDateTime::currentDateTimeUtc();
    p.row.source = source;
    p.row.address = hostOf(c->address);
    p.row.authenticated = true;
    ++p.row.connections;
    p.row.lastSeen = QDateTime::currentDateTimeUtc();
    changed();
}

void PeerModel::onPeerDisconnected(quint64 connId)
{
    const Conn c = m_conns.take(connId);
    if (c.source.isEmpty()) {
        if (c.address.isEmpty())
            return;
        const QString host = hostOf(c.address);
        Peer &p = peer(QStringLiteral("@") + host);
        p.row.source = QStringLiteral("(not authenticated)");
        p.row.address = host;
        ++p.row.handshakesLeft;
        p.row.lastSeen = QDateTime::currentDateTimeUtc();
        changed();
        return;
    }
    auto it = m_peers.find(c.source);
    if (it == m_peers.end())
        return;
    it->row.connections = qMax(0, it->row.connections - 1);
    it->row.lastSeen = QDateTime::currentDateTimeUtc();
    changed();
}

void PeerModel::onAuthFailed(const QString &peerAddress, const QString &reason)
{
    const QString host = hostOf(peerAddress);
    Peer &p = peer(QStringLiteral("@") + host);
    p.row.source = QStringLiteral("(not authenticated)");
    p.row.address = host;
    ++p.row.authFailures;
    --p.row.handshakesLeft; // its disconnection follows and is no news
    p.row.lastFailure = reason;
    p.row.lastSeen = QDateTime::currentDateTimeUtc();
    changed();
}

void PeerModel::onFileProgress(quint64, const QString &source, const QString &dbtag,
                               const QString &path, qint64 bytesDone, qint64)
{
    auto it = m_peers.find(source);
    if (it == m_peers.end())
        return;
    qint64 &counted = m_progress[source + QLatin1Char('/') + dbtag + QLatin1Char('/') + path];
    if (bytesDone > counted) {
        it->meter->add(bytesDone - counted);
        counted = bytesDone;
    }
    it->row.lastSeen = QDateTime::currentDateTimeUtc();
    changed();
}

void PeerModel::onFileStored(const QString &source, const QString &dbtag, const QString &path,
                             qint64 size, qint64)
{
    Peer &p = peer(source);
    p.row.source = source;
    const qint64 counted =
        m_progress.take(source + QLatin1Char('/') + dbtag + QLatin1Char('/') + path);
    if (size > counted)
        p.meter->add(size - counted);
    ++p.row.files;
    p.row.bytes += size;
    p.row.lastFile = displayName(dbtag + QLatin1Char('/') + path);
    p.row.lastSeen = QDateTime::currentDateTimeUtc();
    changed();
}

void PeerModel::tick()
{
    for (const Peer &p : std::as_const(m_peers))
        if (p.row.rate > 0 || p.meter->rate() > 0) {
            changed();
            return;
        }
}

int PeerModel::connectedSources() const
{
    int n = 0;
    for (const Peer &p : m_peers)
        n += p.row.connections > 0 ? 1 : 0;
    return n;
}

QList<PeerRow> PeerModel::composeRows() const
{
    std::vector<const Peer *> peers;
    for (const Peer &p : m_peers)
        peers.push_back(&p);
    std::sort(peers.begin(), peers.end(),
              [](const Peer *a, const Peer *b) { return a->order < b->order; });
    QList<PeerRow> rows;
    rows.reserve(qsizetype(peers.size()));
    for (const Peer *p : peers) {
        PeerRow r = p->row;
        r.rate = p->meter->rate();
        rows.append(std::move(r));
    }
    return rows;
}

QVariant PeerModel::data(const QModelIndex &index, int role) const
{
    if (!checkIndex(index, CheckIndexOption::IndexIsValid | CheckIndexOption::ParentIsInvalid))
        return QVariant();
    const PeerRow &r = rowAt(index.row());
    const bool refused = !r.authenticated;
    const bool connected = r.connections > 0;
    switch (role) {
    case Qt::DisplayRole:
        switch (index.column()) {
        case Source:
            if (refused)
                return r.authFailures > 0
                           ? QStringLiteral("%1 — refused: wrong secret").arg(r.source)
                           : QStringLiteral("%1 — left during authentication").arg(r.source);
            return connected ? r.source
                             : r.source + QStringLiteral(" (disconnected)");
        case Address: return r.address;
        case Since: return connected ? formatTime(r.since) : formatAgo(r.lastSeen, m_clock());
        case Files: return r.files;
        case Bytes: return formatBytes(r.bytes);
        case Rate: return formatRate(r.rate);
        case LastFile: return r.lastFile;
        case AuthFailures:
            return r.handshakesLeft > 0
                       ? QStringLiteral("%1 (+%2 left)").arg(r.authFailures).arg(r.handshakesLeft)
                       : QString::number(r.authFailures);
        }
        break;
    case Qt::DecorationRole:
        if (index.column() == Source)
            return badgeIcon(refused ? Badge::Refused : connected ? Badge::Connected : Badge::Idle);
        break;
    case Qt::ForegroundRole:
        if (!connected && !refused)
            return QColor(0x70, 0x70, 0x70);
        if (index.column() == AuthFailures && (r.authFailures > 0 || r.handshakesLeft > 0))
            return badgeColor(Badge::Refused);
        break;
    case Qt::BackgroundRole:
        if (refused)
            return badgeTint(Badge::Refused);
        break;
    case Qt::FontRole:
        if (refused) {
            QFont f;
            f.setBold(true);
            return f;
        }
        break;
    case PathRole:
        return r.source.isEmpty() ? QString() : QString(m_root + QLatin1Char('/') + r.source);
    case Qt::ToolTipRole:
        if (refused && r.authFailures > 0)
            return QStringLiteral("Connections from %1 failed to authenticate (%2 times); last "
                                  "reason: %3. Check that both sides use the same secret file.")
                .arg(r.address).arg(r.authFailures).arg(r.lastFailure);
        if (refused)
            return QStringLiteral("Connections from %1 ended before authenticating (%2 times). "
                                  "An ED closes the connection when our proof does not match "
                                  "its secret: check that both sides use the same secret file.")
                .arg(r.address).arg(r.handshakesLeft);
        if (index.column() == Source)
            return connected ? QStringLiteral("Connected with %1 connection(s)").arg(r.connections)
                             : QStringLiteral("Not connected now; last seen %1")
                                   .arg(formatTime(r.lastSeen));
        if (index.column() == Since)
            return connected ? QStringLiteral("Connected since") : QStringLiteral("Last seen");
        break;
    case Qt::TextAlignmentRole:
        if (index.column() == Files || index.column() == Bytes || index.column() == Rate
            || index.column() == AuthFailures)
            return int(Qt::AlignRight | Qt::AlignVCenter);
        break;
    case SortRole:
        switch (index.column()) {
        case Source: return r.source;
        case Address: return r.address;
        case Since: return r.since;
        case Files: return r.files;
        case Bytes: return r.bytes;
        case Rate: return r.rate;
        case LastFile: return r.lastFile;
        case AuthFailures: return r.authFailures + r.handshakesLeft;
        }
        break;
    }
    return QVariant();
}

QVariant PeerModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || section < 0 || section >= ColumnCount)
        return QVariant();
    if (role == Qt::DisplayRole) {
        switch (section) {
        case Source: return QStringLiteral("Source (ED)");
        case Address: return QStringLiteral("Peer address");
        case Since: return QStringLiteral("Since");
        case Files: return QStringLiteral("Files");
        case Bytes: return QStringLiteral("Bytes");
        case Rate: return QStringLiteral("Rate");
        case LastFile: return QStringLiteral("Last file");
        case AuthFailures: return QStringLiteral("Auth failures");
        }
    }
    if (role == Qt::ToolTipRole && section == AuthFailures)
        return QStringLiteral("Connections refused because the secret did not match; \"+N left\": "
                              "connections that ended during authentication");
    return QVariant();
}

} // namespace isocket::gui
