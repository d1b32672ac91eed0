#pragma once
// ReceiverConnection: the receiving side of one protocol v1 conversation (docs/PROTOCOL.md).
//
// Handshake (HELLO → CHALLENGE → AUTH → WELCOME, within 30 s), then OFFER/ACCEPT,
// BEGIN/DATA/END/STORED, CANCEL and CLOSE_DBTAG/MANIFEST/CLOSED. Event driven: it reacts to
// readyRead and never waits for the peer. DATA goes to the partial file as it arrives (no
// whole-file buffering) and is hashed on the way; a verified file is handed to the Receiver's
// committer and acknowledged with STORED only once it is durable at its final name.
// A frame that does not parse or comes out of order gets ERROR and closes this connection only.
//
// The connection is the protocol's state machine; each offered file's life (locate, partial,
// write, finish, commit) is an IncomingFile of its own. It talks to the receiver only through
// ConnectionHost (connectionhost.h).
//
// Owns its socket (reparented to it), the reader state, the StreamWriter of the file streaming
// now and its IncomingFiles. Lives in one of the Receiver's I/O threads, a child of that
// thread's host object; deletes itself (deleteLater) once the peer is gone and emits finished()
// then. Its signals (the handshake's, finished) are re-emitted by the Receiver; per-file events
// go to the host's report*() functions, which emit them in the Receiver's thread.

#include "core/config.h"
#include "core/connectionhost.h"
#include "core/error.h"
#include "core/incomingfile.h"
#include "core/protocol.h"
#include "core/receivestore.h"
#include "core/streamwriter.h"
#include "core/tls.h"

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QTimer>

#include <map>
#include <memory>

class QSslSocket;
class QTcpSocket;

namespace isocket {

class ReceiverConnection : public QObject
{
    Q_OBJECT

public:
    static constexpr int HandshakeTimeoutMs = 30'000;
    static constexpr int LingerMs = 5'000; // after ERROR, how long we drain before aborting
    // A peer silent this long while files are in flight is taken for gone (a rebooted ED leaves
    // no FIN): the connection closes and its files stop being Busy for the others.
    static constexpr int IdleTimeoutMs = 120'000;
    // A partial offered for a resume from this size on is hashed on another thread.
    static constexpr qint64 AsyncPartialBytes = IncomingFile::AsyncPartialBytes;

    // Takes `socket` (connected, in this thread) and becomes its parent; `parent` becomes ours.
    // Holds one of the host's places for a connection not authenticated yet, for `peer`
    // (Receiver::admit()), until it authenticates or goes. `host` outlives us.
    ReceiverConnection(quint64 id, QTcpSocket *socket, const QByteArray &peer, ConnectionHost &host,
                       QObject *parent);
    ~ReceiverConnection() override;

    quint64 id() const { return m_id; }
    QString peerAddress() const { return m_peerAddress; }

    // Drops the connection now (Receiver::close). finished() follows.
    void abort();

    // A reloaded peers list: an authenticated TLS connection whose source and key it no longer
    // pairs is closed (auth-failed).
    void recheckPeer(const PeerList &peers);
    // A monitor connection (version 4) that has authenticated sends `document` as FLEET
    // frames; any other connection ignores it.
    void sendFleet(const QByteArray &document);
    bool isMonitor() const { return m_monitor; }

signals:
    void peerAuthenticated(quint64 connId, const QString &source);
    void authFailed(const QString &peerAddress, const QString &reason);
    // The peer is gone (or was dropped); the object deletes itself next.
    void finished(quint64 connId);

private:
    enum class Phase
    {
        AwaitHello,
        AwaitAuth,
        Ready,
        Closing,
        Done
    };

    struct PendingClose
    {
        quint32 id = 0;
        QString dbtag;
        quint32 fileCount = 0;
        QList<ReceiveStore::ManifestEntryIn> entries; // outside ones included
        qint64 bytes = 0; // the entries counted against Receiver::maxManifestBytes()
    };

    void onReadyRead();
    void readFrames();
    void resumeDecrypting(); // TLS: see the .cpp
    void onDisconnected();
    void handle(proto::Message &&message);
    void handleHello(const proto::Hello &m);
    void handleAuth(const proto::Auth &m);
    // STATUS (version 4): the ED's health, into the fleet registry; one that does not parse is
    // ignored (and logged, at most once a minute per connection).
    void handleStatus(const proto::Status &m);
    // The secret the peer proves: the monitor secret for a monitor.
    QByteArray peerSecret() const;
    // A failed authentication, counted for the source it claimed (not for a monitor).
    void countAuthFailure();
    QString peerHost() const; // the peer's address without the port (IPv4 as such)
    void handleOffer(const proto::Offer &m);
    // Answers an OFFER as its file decided (ACCEPT, or a refusal); the file goes on a refusal.
    void answerOffer(quint32 id, const IncomingFile::Verdict &verdict);
    void handleBegin(const proto::Begin &m);
    void handleData(const proto::Data &m);
    // The next frame, when it is DATA of the current file and fits in what the writer's stage
    // has left, read from the socket's buffer straight into that stage (one copy of the payload
    // instead of two, and no buffer for it). False when not: the frame goes the usual way.
    bool readDataDirect();
    // A DATA frame whose write would wait for the disk (the writer's stages both busy) is held
    // back, and nothing more is read from this socket (TCP holds the peer back), until a write
    // ends: one connection's disk never stalls the others that share this thread.
    bool holdBack(proto::Data &m);
    void onWritable();
    void writeHeldBack();
    void handleEnd(const proto::End &m);
    void handleCancel(const proto::Cancel &m);
    void handleCloseDbtag(const proto::CloseDbtag &m);
    void handleManifest(const proto::Manifest &m);
    void finishClose();
    // ConnectionHost::findPartial()'s answer for the OFFER `id`; ignored when that offer is
    // gone (cancelled, the connection failing) or was made again since.
    void partialFound(quint32 id, quint64 generation,
                      const Result<std::optional<PartialInfo>> &partial);
    // The committer's answer for the file of `id`, committed as `generation`. False when this
    // connection no longer tracks it (it was closed meanwhile): the host reports it then.
    bool onCommitted(quint32 id, quint64 generation, ErrorCode code, const QString &message);
    // The manifest of a CLOSE_DBTAG is on disk (or failed): CLOSED goes to the peer.
    void manifestWritten(quint32 closeId, const QString &dbtag, int files, qint64 bytes,
                         const Result<void> &result);

    void send(const proto::Message &message);
    void leaveUnauthenticated(); // gives the admission place back, once
    void refuse(const proto::Offer &offer, ErrorCode code, const QString &message);
    // A new IncomingFile for `offer`.
    std::unique_ptr<IncomingFile> makeFile(const proto::Offer &offer);
    // ERROR(code) to the peer, then a graceful close (drain, then abort after LingerMs).
    // ERROR(code, message) and close. Before authentication the log line quotes at most 200
    // characters of `message` (a peer chose part of it), unless `ownWords`.
    void fail(ErrorCode code, const QString &message, bool ownWords = false);
    // Whether the ED's certificate is listed for the source it claims; the reason when not.
    std::optional<QString> peerRefusal(const PeerList &peers, const QString &source,
                                       const Fingerprint &fingerprint) const;
    // STORED for the file of `id` (which then goes), its log line and its report.
    void replyStored(quint32 id, ErrorCode code, const QString &message);
    void dropTransfer(quint32 id);
    void cleanup();
    QString describe(const proto::Offer &offer) const;

    quint64 m_id;
    QTcpSocket *m_socket; // child
    QSslSocket *m_tls = nullptr; // m_socket, when the receiver speaks TLS
    Fingerprint m_fingerprint;   // of the ED's certificate, once HELLO was checked (TLS)
    ConnectionHost &m_host;      // outlives us (the Receiver stops our thread before it goes)
    QString m_peerAddress;
    QByteArray m_peerKey;          // the address as the host's admit() counted it
    bool m_admitted = true;        // holds a place among the connections not authenticated
                                   // (until WELCOME, or until it closes: a closing one drains)
    QString m_source;
    bool m_monitor = false;    // HELLO's source named a monitor (proto::isMonitorSource())
    bool m_registered = false; // counted in the fleet registry (or as a monitor) until it goes
    QElapsedTimer m_badStatusLog; // started at the last bad STATUS logged
    quint16 m_version = proto::Version; // chosen in handleHello()
    // How dbtags and paths are checked: bytes from version 3 on, UTF-8 text before.
    NameRules nameRules() const
    {
        return proto::namesAreBytes(m_version) ? NameRules::Bytes : NameRules::Text;
    }
    Phase m_phase = Phase::AwaitHello;
    proto::FrameReader m_reader;
    StreamWriter m_writer; // of the file streaming now (m_current), lent to it
    QByteArray m_clientNonce;
    QByteArray m_serverNonce;
    QTimer m_deadline;                       // handshake, then linger after an ERROR
    QTimer m_idle;                           // armed while offers are in flight
    // Offers not yet answered by STORED or CANCEL, by id.
    std::map<quint32, std::unique_ptr<IncomingFile>> m_transfers;
    std::optional<quint32> m_current;        // the offer between BEGIN and END
    quint64 m_generation = 0; // of the last hash or commit asked for (IncomingFile::generation)
    std::optional<proto::Data> m_heldBack;   // see holdBack()
    std::optional<PendingClose> m_close;
};

} // namespace isocket
