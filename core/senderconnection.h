#pragma once
// SenderConnection: one authenticated connection to the receiver, and the files in flight on it.
//
// Lives in (and is created by) a QThreadPool thread of the Sender, which runs an event loop for
// it; all of its slots are invoked there with queued calls, all of its signals are queued to the
// Sender. Reading, hashing and writing file data is done here, off the engine's (and a GUI's)
// thread. Event driven: the next chunk is read when the socket has room (backpressure), frames
// are handled as they arrive; a watchdog timer runs only while something is outstanding.
//
// Promises: every ticket handed in with addTicket() comes back exactly once, through delivered(),
// failed() or returned(); every closeDbtag() is answered exactly once by dbtagClosed().

#include "core/checksum.h"
#include "core/edengine.h"
#include "core/fileutil.h"
#include "core/protocol.h"

#include <QElapsedTimer>
#include <QObject>
#include <QTcpSocket>
#include <QTimer>

#include <deque>
#include <map>
#include <memory>

namespace isocket {

struct SenderOptions
{
    QString host = QStringLiteral("127.0.0.1");
    quint16 port = 12345;
    QString source;
    QByteArray secret;
    int jobs = 2;                // connections
    int window = 64;             // files offered and not yet stored, per connection
    int retryIntervalMs = 2000;  // first reconnect delay
    int retryMaxMs = 60000;      // reconnect delay cap
    int maxConnectAttempts = 0;  // give up after this many failed attempts in a row (0: never)
    int chunkSize = 256 * 1024;
    int timeoutMs = 60000;       // receiver silent this long while we wait for it: reconnect
    qint64 bwlimit = 0;          // bytes per second for this connection; 0: no limit
};

enum class LinkState { Disconnected, Connecting, Authenticating, Ready, Retrying, Refused, Stopped };
QString linkStateName(LinkState state);

class SenderConnection : public QObject
{
    Q_OBJECT

public:
    SenderConnection(int index, const SenderOptions &options, QObject *parent = nullptr);
    ~SenderConnection() override;

    void start();
    void addTicket(const isocket::FileTicket &ticket);
    void closeDbtag(const QString &dbtag, const QList<isocket::proto::ManifestEntry> &files);
    void retryNow();
    void shutdown(); // returns every ticket, closes the socket, then emits stopped()

Q_SIGNALS:
    void stateChanged(int index, isocket::LinkState state, const QString &detail, int retryInMs);
    void wantsTickets(int index, int room);
    void fileStarted(const isocket::FileTicket &ticket, qint64 offset, qint64 size);
    void fileProgress(const isocket::FileTicket &ticket, qint64 done, qint64 size);
    void delivered(int index, const isocket::FileTicket &ticket, const isocket::FileStamp &read,
                   qint64 bytesSent, qint64 durationMs);
    void failed(int index, const isocket::FileTicket &ticket, const isocket::Error &error);
    void returned(int index, const QList<isocket::FileTicket> &tickets);
    void dbtagClosed(int index, const QString &dbtag, const isocket::Error &result);
    void fatal(int index, const isocket::Error &error);
    void stopped(int index);

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
    void setState(LinkState state, const QString &detail = QString(), int retryInMs = 0);
    void onConnected();
    void onReadyRead();
    void onBytesWritten();
    void onSocketError();
    void handle(const proto::Message &message);
    void handleChallenge(const proto::Challenge &c);
    void handleAccept(const proto::Accept &a);
    void handleStored(const proto::Stored &s);
    void handleClosed(const proto::Closed &c);
    void pumpOffers();
    void pumpData();
    void startNextStream();
    void cancel(quint32 id, const Error &error);
    void finishTransfer(quint32 id);
    void send(const proto::Message &message);
    void lose(const Error &error); // connection lost: return tickets, schedule reconnect
    void armWatchdog();
    int room() const;
    int throttleDelayMs(qint64 nextChunk);

    int m_index;
    SenderOptions m_options;
    QTcpSocket *m_socket = nullptr; // child
    QTimer m_reconnectTimer;
    QTimer m_watchdog;
    QTimer m_throttle;        // armed only while over the rate limit
    QElapsedTimer m_rateClock;
    qint64 m_rateBytes = 0;   // sent since m_rateClock started
    LinkState m_state = LinkState::Disconnected;
    proto::FrameReader m_reader;
    QByteArray m_clientNonce;
    quint32 m_maxInFlight = 0;
    quint32 m_nextId = 1;
    int m_failedAttempts = 0;
    bool m_stopping = false;
    std::deque<FileTicket> m_pending;                      // handed in, not offered yet
    std::map<quint32, std::unique_ptr<Transfer>> m_offers;  // offered, not finished
    std::deque<quint32> m_streamQueue;                     // accepted, waiting to stream
    quint32 m_current = 0;                                 // streaming now (0: none)
    struct Close
    {
        QString dbtag;
        QList<proto::ManifestEntry> files;
    };
    std::deque<Close> m_closesWaiting;       // asked before the link was ready
    std::map<quint32, QString> m_closesSent; // id → dbtag
    QByteArray m_buffer;
};

} // namespace isocket

Q_DECLARE_METATYPE(isocket::LinkState)
