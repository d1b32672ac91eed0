#pragma once
// LinkSummary: what the operator needs to know about the sender's connections, folded from
// the per-link states of the agent's status (EdStatus::links): connected (k of n), authenticating,
// refused (with the reason; "wrong secret" for an authentication failure), retrying at a
// moment. A value type; text() and tooltip() give the words the connection panel and the tray
// show. GUI thread.

#include "core/edevents.h"

#include <QDateTime>
#include <QList>
#include <QString>

namespace isocket::gui {

struct LinkSummary
{
    using Link = LinkStatus;
    enum class Kind { Starting, Connecting, Authenticating, Connected, Retrying, Refused, Stopped };

    QList<Link> links;

    Kind kind() const;
    int readyCount() const;
    bool wrongSecret() const;       // some link was refused for authentication
    QDateTime nextRetry() const;    // earliest retry among retrying links
    QString text(const QDateTime &now) const; // "retrying in 4 s", "refused: wrong secret"
    QString tooltip() const;        // one line per link, and what the state means
};

} // namespace isocket::gui
