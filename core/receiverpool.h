#pragma once
// ReceiverPool: the receivers an ED may send to (send.server, --to: a list), which of them are
// backing off after a failure, and which one each connection should use.
//
// Link i's own receiver ("home") is receiver i mod N, so that send.jobs connections spread over
// the list. A link whose home is backing off uses the next receiver after it in the list that is
// not; when all are backing off it waits for the one that is free first. A failure starts (or,
// while one is running, joins) that receiver's backoff (core/backoff.h), shared by every link:
// the links that lose a receiver together do not all try it again at once, and a failure seen
// by a second link during the same outage does not double the delay. A success ends it.
//
// A plain value holder guarded by a mutex: the links call it from their own threads. The clock
// is a function (monotonic milliseconds) so that tests can drive it.

#include "core/error.h"

#include <QList>
#include <QMutex>
#include <QString>
#include <QStringList>

#include <functional>

namespace isocket {

struct ReceiverAddress
{
    QString host;
    quint16 port = 0;
    QString toString() const; // "host:port", "[v6]:port"
    friend bool operator==(const ReceiverAddress &, const ReceiverAddress &) = default;
};

// Parses a list of receivers: entries separated by commas, each "HOST", "HOST:PORT",
// "[V6]:PORT", "[V6]" or a bare IPv6 address; an entry without a port gets `defaultPort`
// (0: every entry must name its port). Errors name the entry; the caller adds the key.
Result<QList<ReceiverAddress>> parseReceiverList(const QString &text, quint16 defaultPort);

// The list as the user writes it: "a:1, b:2".
QString receiverListText(const QList<ReceiverAddress> &receivers);

class ReceiverPool
{
public:
    using Clock = std::function<qint64()>; // monotonic milliseconds

    ReceiverPool(QList<ReceiverAddress> receivers, int firstDelayMs, int maxDelayMs,
                 Clock clock = {});

    int size() const { return static_cast<int>(m_receivers.size()); }
    ReceiverAddress address(int receiver) const { return m_receivers.at(receiver).address; }
    int home(int link) const { return link % size(); }

    struct Choice
    {
        int receiver = 0;
        int delayMs = 0; // 0: now; else every receiver is backing off: wait this long first
    };
    // Where link `link` should connect now (see the class comment).
    Choice choose(int link) const;
    // How long until `receiver` may be tried again (0: now).
    int msUntilFree(int receiver) const;
    // A connection to `receiver` was refused, timed out, failed authentication or broke the
    // protocol (`why`). Starts its backoff unless one is running. True when `why` is new for
    // it (it was up, or failed for another reason).
    bool failed(int receiver, const QString &why);
    void succeeded(int receiver);
    void reset(); // the operator asked to retry now: no receiver backs off

    struct State
    {
        ReceiverAddress address;
        bool down = false; // failed, and not connected since
        QString why;       // down: the last failure
        int attempts = 0;  // failures in a row
        int retryInMs = 0; // down: until it may be tried again
    };
    QList<State> states() const;
    // "host:port (why)" of each receiver that is down, in list order.
    QStringList downList() const;

private:
    struct Entry
    {
        ReceiverAddress address;
        int attempts = 0;
        qint64 retryAt = 0; // clock ms
        QString why;
    };
    qint64 now() const;
    int msUntilFreeLocked(const Entry &e, qint64 t) const;

    mutable QMutex m_mutex;
    QList<Entry> m_receivers;
    int m_firstDelayMs;
    int m_maxDelayMs;
    Clock m_clock;
};

} // namespace isocket
