#pragma once
// SenderConnection: one authenticated connection to the receiver, and the files in flight on it.
//
// Lives in (and is created by) a QThreadPool thread of the Sender, which runs an event loop for
// it; all of its slots are invoked there with queued calls, all of its signals are queued to the
// Sender. Reading, hashing and writing file data is done here, off the engine's (and a GUI's)
// thread. Event driven: the next chunk is read when the socket has room (backpressure), frames
// are handled as they arrive; a watchdog timer runs only while something is outstanding.
//
// Promises: every ticket handed in with addTickets() comes back exactly once, as a Delivered or
// Failed report or through returned(); every closeDbtag() is answered exactly once by
// dbtagClosed().
//
// What happens to files (started, progress, delivered, failed) is reported in batches: one
// reported() per turn of this thread's event loop, not one queued signal (and wake-up of the
// Sender's thread) per file and event. Every other signal first hands over the batch gathered so
// far, so the Sender sees everything in the order it happened.

#include "core/checksum.h"
#include "core/config.h"
#include "core/edengine.h"
#include "core/edevents.h"
#include "core/fileutil.h"
#include "core/protocol.h"
#include "core/ratelimiter.h"
#include "core/receiverpool.h"
#include "core/tls.h"

#include <QElapsedTimer>
#include <QObject>
#include <QTcpSocket>
#include <QTimer>

#include <deque>
#include <map>
#include <memory>
#include <utility>

namespace isocket {

struct SenderOptions
{
    // The receiver, or the first of `receivers` when that is set.
    QString host = QStringLiteral("127.0.0.1");
    quint16 port = 12345;
    // Several receivers (send.server = "a:1, b:2"): the links spread over them and move to
    // another one when theirs fails (core/receiverpool.h). Empty: host and port alone.
    QList<ReceiverAddress> receivers;
    QList<ReceiverAddress> receiverList() const
    {
        return receivers.isEmpty() ? QList<ReceiverAddress>{{host, port}} : receivers;
    }
    QString source;
    QByteArray secret;
    // When set, the secret is read from this file again before each connection (the first
    // read may have failed): fixing the file is enough, no restart (issue 14).
    QString secretFile;
    int jobs = 2;                // connections
    int window = 1024;           // files offered and not yet stored, per connection
    int retryIntervalMs = 2000;  // first reconnect delay
    int retryMaxMs = 60000;      // reconnect delay cap
    // Give up after this many failed attempts in a row (0: never: a daemon also keeps retrying
    // after an authentication or version failure, with backoff, since either side may be fixed).
    int maxConnectAttempts = 0;
    int chunkSize = 256 * 1024;
    // Live first in each connection's queues (see LiveFirst): the engine's share, which EdAgent
    // passes on (one knob).
    int liveShare = EngineOptions().liveShare;
    int timeoutMs = 60000;       // receiver silent this long while we wait for it: reconnect
    // Bytes per second for all the connections of a Sender together (they share one
    // RateLimiter); 0: no limit.
    qint64 bwlimit = 0;
    // TLS (docs/SECURITY.md): when set, the connection is TLS 1.3 with this identity, and the
    // receiver must show a certificate whose fingerprint is one of `receiverFingerprints`
    // before a single frame is sent (pinning). Unset: plain TCP.
    std::shared_ptr<const TlsIdentity> tls;
    QList<Fingerprint> receiverFingerprints;
    // A monitor (FleetMonitor; docs/PROTOCOL.md 2.7): the same transport and handshake, with
    // the HELLO of a monitor (version 4 only, source "." + `source`); it sends nothing after
    // AUTH and hands the FLEET documents it gets to fleetReceived(). No tickets.
    bool monitor = false;
};

// One event of one file on a link, in a batch of reported().
struct FileReport
{
    enum class Kind : quint8 { Started, Progress, Delivered, Failed };
    Kind kind = Kind::Started;
    FileTicket ticket;
    FileStamp read; // Delivered: the size and mtime that were read and sent
    qint64 done = 0;       // Started: offset; Progress: bytes sent; Delivered: bytes streamed
    qint64 size = 0;       // Started, Progress: the file's size
    qint64 durationMs = 0; // Delivered: how long the transfer took
    Error error;      // Failed
    SharedFd file;    // Delivered: the file as it was read, when the link kept it open
};


class SenderConnection : public QObject
{
    Q_OBJECT

public:
    // `pool`: the receivers and their backoff, shared by the Sender's links; null: a pool of
    // this connection's own, made from the options. `rate`: likewise the bandwidth limit
    // (SenderOptions::bwlimit); null: one of its own.
    SenderConnection(int index, const SenderOptions &options, QObject *parent = nullptr,
                     std::shared_ptr<ReceiverPool> pool = {},
                     std::shared_ptr<RateLimiter> rate = {});
    ~SenderConnection() override;

    void start();
    void addTickets(const QList<isocket::FileTicket> &tickets);
    void closeDbtag(const QString &dbtag, const QList<isocket::proto::ManifestEntry> &files);
    void retryNow();
    void shutdown(); // returns every ticket, closes the socket, then emits stopped()
    // STATUS (version 4): sends `json` (the ED's health) now when the link is ready and the
    // receiver speaks version 4; dropped otherwise (the Sender sends the latest one again when
    // a link becomes ready). Over proto::MaxStatusBytes: dropped with a warning.
    void sendStatus(const QByteArray &json);

Q_SIGNALS:
    void stateChanged(int index, isocket::LinkState state, const QString &detail, int retryInMs);
    // The receiver ("host:port") this link connects to now, just before it tries.
    void receiverChanged(int index, const QString &receiver);
    // The protocol version the receiver chose, before the link becomes Ready (it decides which
    // names can be sent: bytes from version 3 on, UTF-8 text before).
    void versionAgreed(int index, quint16 version);
    // Files started, progressing, delivered (the receiver stored them durably) or failed, in order.
    void reported(int index, const QList<isocket::FileReport> &reports);
    void returned(int index, const QList<isocket::FileTicket> &tickets);
    void dbtagClosed(int index, const QString &dbtag, const isocket::Error &result);
    void fatal(int index, const isocket::Error &error);
    void stopped(int index);
    // A monitor connection received a whole FLEET document (not parsed here).
    void fleetReceived(const QByteArray &document);

private:
    struct Transfer
    {
        FileTicket ticket;
        quint32 id = 0;
        FileStamp offered;
        UniqueFd fd;
        Hasher hasher;
        qint64 offset = 0; // where the data starts
        qint64 pos = 0;    // next byte to send
        bool streaming = false;
        bool ended = false;
        QElapsedTimer clock;
        qint64 lastProgressMs = 0;
    };

    void connectNow();
    // On a receiver other than its own: back to its own once that one's backoff has expired
    // and nothing is in flight here (checked again whenever the link runs dry).
    void armHomeTimer();
    void maybeGoHome();
    bool busy() const;
    void setState(LinkState state, const QString &detail = QString(), int retryInMs = 0);
    void onConnected();
    void onEncrypted(); // TLS: checks the pinned fingerprint, then onConnected()
    // Bytes written and not yet taken by the kernel (with TLS: encrypted or not).
    qint64 pendingBytes() const;
    void onReadyRead();
    void onBytesWritten();
    void onSocketError();
    void handle(const proto::Message &message);
    void handleChallenge(const proto::Challenge &c);
    void handleWelcome(const proto::Welcome &w);
    void handleAccept(const proto::Accept &a);
    void handleStored(const proto::Stored &s);
    void handleClosed(const proto::Closed &c);
    void pumpOffers();
    void pumpData();
    // One DATA frame: a large one straight to the kernel when nothing waits in the socket's
    // buffer, the rest (what the kernel did not take) through it. False when reading more
    // now would only pile up in that buffer.
    bool writeData(quint32 id, const char *data, qint64 size);
    void startNextStream();
    void cancel(quint32 id, const Error &error);
    void finishTransfer(quint32 id);
    void send(const proto::Message &message);
    QString helloSource() const; // the source in HELLO and the proofs: "." + source for a monitor
    // Append to the batch of reported(); handed over at the end of this loop turn.
    FileReport &report(FileReport::Kind kind, const FileTicket &ticket);
    void reportProgress(FileReport::Kind kind, const Transfer &t, qint64 done); // Started, Progress
    void reportDelivered(const FileTicket &ticket, const FileStamp &read, qint64 bytesSent,
                         qint64 durationMs);
    void reportFailed(const FileTicket &ticket, const Error &error);
    void flushReports(); // hands the batch over now (before any other signal)
    void lose(const Error &error); // connection lost: return tickets, schedule reconnect
    void dropSocket();             // stops hearing the socket; closes and deletes it next turn
    void armWatchdog();
    int room() const;

    int m_index;
    SenderOptions m_options;
    QTcpSocket *m_socket = nullptr; // child; a QSslSocket with TLS
    QTimer m_reconnectTimer;
    std::shared_ptr<ReceiverPool> m_pool;
    std::shared_ptr<RateLimiter> m_rate;
    int m_receiver = -1;  // the receiver of the current attempt or connection; -1: none
    QTimer m_homeTimer;   // on another receiver: when our own may be tried again
    bool m_wantHome = false;
    QTimer m_watchdog;
    QTimer m_throttle;        // armed only while over the rate limit
    QTimer m_flushTimer;      // zero-delay: hands m_reports over at the end of this loop turn
    QList<FileReport> m_reports;
    qint64 m_unflushed = 0;   // data written to the socket since its last flush()
    bool m_pumping = false;   // in writeData(): a flush's bytesWritten pumps nothing
    LinkState m_state = LinkState::Disconnected;
    proto::FrameReader m_reader;
    QByteArray m_clientNonce;
    // Where the handshake stands while m_state is Authenticating. WELCOME counts only after
    // the receiver proved the secret in CHALLENGE and we answered with AUTH: a peer that skips
    // CHALLENGE (or fails its proof) never sees an OFFER, let alone a file (issue 13).
    enum class Handshake { AwaitChallenge, AwaitWelcome };
    Handshake m_handshake = Handshake::AwaitChallenge;
    quint16 m_version = proto::Version; // as the receiver chose it
    NameRules nameRules() const
    {
        return proto::namesAreBytes(m_version) ? NameRules::Bytes : NameRules::Text;
    }
    quint32 m_maxInFlight = 0;
    quint32 m_nextId = 1;
    int m_failedAttempts = 0;
    QString m_lastRefusal; // the last error that needs an operator, said loudly once
    bool m_stopping = false;
    // Files stay open from END to STORED, so the engine marks them without opening them again,
    // unless a window's worth on every connection would strain the open-file limit.
    bool m_keepFiles = false;
    // Live first (FileTicket::live) in a queue: live items lead, each class in its order; but
    // once `share` live items in a row went ahead of a waiting backlog item, the next live
    // one queues behind it, so a live stream faster than the link cannot starve the backlog
    // (the engine's takeNext() keeps the same share: SenderOptions::liveShare).
    struct LiveFirst
    {
        int share = 1;
        int leading = 0;   // live items at the front
        int overtakes = 0; // live items put ahead of a waiting backlog item since one was taken

        template <typename Queue, typename Item>
        void push(Queue &queue, Item &&item, bool live)
        {
            const bool backlogWaits = queue.size() > size_t(leading);
            if (live && !(backlogWaits && overtakes >= share)) {
                queue.insert(queue.begin() + leading++, std::forward<Item>(item));
                overtakes += backlogWaits ? 1 : 0;
            } else {
                queue.push_back(std::forward<Item>(item));
            }
        }
        void popped() // the front item was taken
        {
            if (leading > 0)
                --leading;
            else
                overtakes = 0;
        }
        void clear() { leading = overtakes = 0; }
    };
    std::deque<FileTicket> m_pending;                      // handed in, not offered yet
    LiveFirst m_pendingOrder;
    std::map<quint32, std::unique_ptr<Transfer>> m_offers;  // offered, not finished
    std::deque<quint32> m_streamQueue;                     // accepted, waiting to stream
    LiveFirst m_streamOrder;
    quint32 m_current = 0;                                 // streaming now (0: none)
    struct Close
    {
        QString dbtag;
        QList<proto::ManifestEntry> files;
    };
    std::deque<Close> m_closesWaiting;       // asked before the link was ready
    std::map<quint32, QString> m_closesSent; // id → dbtag
    QByteArray m_buffer;
    QByteArray m_fleet; // a monitor's FLEET document being received
    bool m_fleetOpen = false;
};

} // namespace isocket

Q_DECLARE_METATYPE(isocket::FileReport)
