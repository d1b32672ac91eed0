#include "core/receiverpool.h"

#include "core/backoff.h"

#include <QElapsedTimer>

namespace isocket {

QString ReceiverAddress::toString() const
{
    const QString h = host.contains(QLatin1Char(':')) ? QLatin1Char('[') + host + QLatin1Char(']')
                                                      : host;
    return h + QLatin1Char(':') + QString::number(port);
}

Result<QList<ReceiverAddress>> parseReceiverList(const QString &text, quint16 defaultPort)
{
    QList<ReceiverAddress> list;
    const QStringList entries = text.split(QLatin1Char(','));
    for (const QString &raw : entries) {
        const QString entry = raw.trimmed();
        auto bad = [&](const QString &why) {
            return Error{ErrorCode::UsageError, QStringLiteral("'%1' %2").arg(entry, why)};
        };
        if (entry.isEmpty())
            return Error{ErrorCode::UsageError,
                         entries.size() > 1 ? QStringLiteral("'%1' has an empty entry").arg(text)
                                            : QStringLiteral("no receiver given")};
        ReceiverAddress a;
        QString portText;
        if (entry.startsWith(QLatin1Char('['))) {
            const qsizetype close = entry.indexOf(QLatin1Char(']'));
            if (close < 0)
                return bad(QStringLiteral("is not [ADDRESS]:PORT"));
            a.host = entry.mid(1, close - 1);
            const QString rest = entry.mid(close + 1);
            if (!rest.isEmpty()) {
                if (!rest.startsWith(QLatin1Char(':')))
                    return bad(QStringLiteral("is not [ADDRESS]:PORT"));
                portText = rest.mid(1);
                if (portText.isEmpty())
                    return bad(QStringLiteral("has no port after ':'"));
            }
        } else if (entry.count(QLatin1Char(':')) > 1) {
            a.host = entry; // a bare IPv6 address: no port (write [ADDRESS]:PORT for one)
        } else if (const qsizetype colon = entry.indexOf(QLatin1Char(':')); colon >= 0) {
            a.host = entry.left(colon);
            portText = entry.mid(colon + 1);
            if (portText.isEmpty())
                return bad(QStringLiteral("has no port after ':'"));
        } else {
            a.host = entry;
        }
        if (a.host.isEmpty())
            return bad(QStringLiteral("has no host"));
        if (portText.isEmpty()) {
            if (defaultPort == 0)
                return bad(QStringLiteral("has no port (HOST:PORT, [ADDRESS]:PORT)"));
            a.port = defaultPort;
        } else {
            bool ok = false;
            const uint port = portText.toUInt(&ok);
            if (!ok || port == 0 || port > 65535)
                return bad(QStringLiteral("has no valid port (1-65535)"));
            a.port = static_cast<quint16>(port);
        }
        if (list.contains(a))
            return bad(QStringLiteral("is given twice"));
        list.append(a);
    }
    return list;
}

QString receiverListText(const QList<ReceiverAddress> &receivers)
{
    QStringList parts;
    for (const ReceiverAddress &a : receivers)
        parts << a.toString();
    return parts.join(QStringLiteral(", "));
}

ReceiverPool::ReceiverPool(QList<ReceiverAddress> receivers, int firstDelayMs, int maxDelayMs,
                           Clock clock)
    : m_firstDelayMs(qMax(1, firstDelayMs)),
      m_maxDelayMs(qMax(m_firstDelayMs, maxDelayMs)),
      m_clock(std::move(clock))
{
    Q_ASSERT(!receivers.isEmpty());
    for (ReceiverAddress &a : receivers)
        m_receivers.append(Entry{std::move(a), 0, 0, QString()});
    if (!m_clock) {
        auto timer = std::make_shared<QElapsedTimer>();
        timer->start();
        m_clock = [timer] { return timer->elapsed(); };
    }
}

qint64 ReceiverPool::now() const
{
    return m_clock();
}

int ReceiverPool::msUntilFreeLocked(const Entry &e, qint64 t) const
{
    return e.retryAt > t ? static_cast<int>(e.retryAt - t) : 0;
}

ReceiverPool::Choice ReceiverPool::choose(int link) const
{
    QMutexLocker lock(&m_mutex);
    const qint64 t = now();
    const int n = size();
    const int first = link % n;
    Choice soonest{first, -1};
    for (int k = 0; k < n; ++k) {
        const int r = (first + k) % n;
        const int wait = msUntilFreeLocked(m_receivers.at(r), t);
        if (wait == 0)
            return {r, 0};
        if (soonest.delayMs < 0 || wait < soonest.delayMs)
            soonest = {r, wait};
    }
    return soonest;
}

int ReceiverPool::msUntilFree(int receiver) const
{
    QMutexLocker lock(&m_mutex);
    return msUntilFreeLocked(m_receivers.at(receiver), now());
}

bool ReceiverPool::failed(int receiver, const QString &why)
{
    QMutexLocker lock(&m_mutex);
    Entry &e = m_receivers[receiver];
    const qint64 t = now();
    const bool news = e.why != why;
    e.why = why;
    if (e.retryAt > t)
        return news; // the same outage, seen by another link: its backoff runs already
    ++e.attempts;
    e.retryAt = t + backoffDelayMs(e.attempts, m_firstDelayMs, m_maxDelayMs);
    return news;
}

void ReceiverPool::succeeded(int receiver)
{
    QMutexLocker lock(&m_mutex);
    Entry &e = m_receivers[receiver];
    e.attempts = 0;
    e.retryAt = 0;
    e.why.clear();
}

void ReceiverPool::reset()
{
    QMutexLocker lock(&m_mutex);
    for (Entry &e : m_receivers) {
        e.attempts = 0;
        e.retryAt = 0;
    }
}

QList<ReceiverPool::State> ReceiverPool::states() const
{
    QMutexLocker lock(&m_mutex);
    const qint64 t = now();
    QList<State> list;
    for (const Entry &e : m_receivers) {
        State &s = list.emplace_back();
        s.address = e.address;
        s.down = !e.why.isEmpty();
        s.why = e.why;
        s.attempts = e.attempts;
        s.retryInMs = msUntilFreeLocked(e, t);
    }
    return list;
}

QStringList ReceiverPool::downList() const
{
    QStringList list;
    for (const State &s : states())
        if (s.down)
            list << QStringLiteral("%1 (%2)").arg(s.address.toString(), s.why);
    return list;
}

} // namespace isocket
