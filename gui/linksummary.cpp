#include "gui/linksummary.h"

#include "core/error.h"

#include <cmath>

namespace isocket::gui {

int LinkSummary::readyCount() const
{
    int n = 0;
    for (const Link &l : links)
        n += l.state == LinkState::Ready ? 1 : 0;
    return n;
}

bool LinkSummary::wrongSecret() const
{
    const QString auth = errorName(ErrorCode::AuthFailed);
    for (const Link &l : links)
        if (l.state == LinkState::Refused && l.detail.contains(auth))
            return true;
    return false;
}

LinkSummary::Kind LinkSummary::kind() const
{
    if (links.isEmpty())
        return Kind::Starting;
    auto any = [this](LinkState s) {
        for (const Link &l : links)
            if (l.state == s)
                return true;
        return false;
    };
    if (any(LinkState::Ready))
        return Kind::Connected;
    if (any(LinkState::Refused))
        return Kind::Refused;
    if (any(LinkState::Authenticating))
        return Kind::Authenticating;
    if (any(LinkState::Connecting))
        return Kind::Connecting;
    if (any(LinkState::Retrying))
        return Kind::Retrying;
    if (any(LinkState::Stopped))
        return Kind::Stopped;
    return Kind::Starting;
}

QDateTime LinkSummary::nextRetry() const
{
    QDateTime next;
    for (const Link &l : links)
        if (l.state == LinkState::Retrying && l.retryAt.isValid()
            && (!next.isValid() || l.retryAt < next))
            next = l.retryAt;
    return next;
}

QString LinkSummary::text(const QDateTime &now) const
{
    switch (kind()) {
    case Kind::Starting: return QStringLiteral("starting");
    case Kind::Connecting: return QStringLiteral("connecting");
    case Kind::Authenticating: return QStringLiteral("authenticating");
    case Kind::Connected:
        return links.size() == 1 ? QStringLiteral("connected")
                                 : QStringLiteral("connected (%1 of %2 links)")
                                       .arg(readyCount())
                                       .arg(links.size());
    case Kind::Retrying: {
        const QDateTime at = nextRetry();
        const qint64 ms = at.isValid() ? now.msecsTo(at) : 0;
        return ms > 0 ? QStringLiteral("retrying in %1 s").arg(qint64(std::ceil(ms / 1000.0)))
                      : QStringLiteral("retrying now");
    }
    case Kind::Refused:
        if (wrongSecret())
            return QStringLiteral("refused: wrong secret");
        for (const Link &l : links)
            if (l.state == LinkState::Refused)
                return QStringLiteral("refused: ") + l.detail;
        return QStringLiteral("refused");
    case Kind::Stopped: return QStringLiteral("stopped");
    }
    return QString();
}

QString LinkSummary::tooltip() const
{
    QString meaning;
    switch (kind()) {
    case Kind::Starting: meaning = QStringLiteral("The sender is starting."); break;
    case Kind::Connecting: meaning = QStringLiteral("Opening a TCP connection to the receiver."); break;
    case Kind::Authenticating:
        meaning = QStringLiteral("Connected; proving that both sides hold the same secret.");
        break;
    case Kind::Connected:
        meaning = QStringLiteral("Authenticated: files are sent as they are queued.");
        break;
    case Kind::Retrying:
        meaning = QStringLiteral("The receiver could not be reached or the connection was lost; "
                                 "reconnecting with backoff. \"Retry now\" skips the wait.");
        break;
    case Kind::Refused:
        meaning = wrongSecret()
                      ? QStringLiteral("The receiver did not accept our secret (or we did not "
                                       "accept its proof). Both sides must use the same secret "
                                       "file. No file is sent until this is fixed; then press "
                                       "\"Retry now\".")
                      : QStringLiteral("The receiver refused us for a reason an operator must "
                                       "fix; see the log, then press \"Retry now\".");
        break;
    case Kind::Stopped: meaning = QStringLiteral("Sending is stopped."); break;
    }
    QStringList lines{meaning};
    for (int i = 0; i < links.size(); ++i)
        lines << QStringLiteral("Link %1%2: %3%4")
                     .arg(i + 1)
                     .arg(links[i].receiver.isEmpty() ? QString()
                                                      : QStringLiteral(" (%1)").arg(links[i].receiver),
                          linkStateName(links[i].state),
                          links[i].detail.isEmpty() ? QString() : QStringLiteral(" — ") + links[i].detail);
    return lines.join(QLatin1Char('\n'));
}

} // namespace isocket::gui
