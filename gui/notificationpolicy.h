#pragma once
// NotificationPolicy: which health changes become a desktop notification (a tray message), and
// when (issue 17). Fed every verdict (core/health.h) with the time it was seen; answers the
// message to show, if any:
// - entering Degraded or Failing (or Degraded → Failing) says so, with the reason;
// - leaving them for Ok or Behind (work moves again) says it recovered;
// - at most one message of a kind (failing, degraded, recovered) per `minInterval`; a change
//   that comes sooner is held, and only the state that still stands once the interval is over
//   is said (tick()): a link that flaps gives one message, not one per flap, and the last word
//   is always the state that stands;
// - nothing is said while the state is what was said last (a reason that changes within
//   Failing is not news).
// Pure: no timers, no widgets; the caller passes the clock and arms a timer for nextCheck().

#include "core/health.h"

#include <QDateTime>
#include <QString>

#include <chrono>
#include <optional>

namespace isocket::gui {

struct TrayMessage
{
    enum class Kind { Failing, Degraded, Recovered };
    Kind kind = Kind::Failing;
    QString title; // "isocket sender: failing"
    QString text;  // the reason
    friend bool operator==(const TrayMessage &, const TrayMessage &) = default;
};

class NotificationPolicy
{
public:
    // `who`: how the messages name the program ("isocket sender").
    explicit NotificationPolicy(QString who,
                                std::chrono::seconds minInterval = std::chrono::seconds(60));

    // A verdict as it is now.
    std::optional<TrayMessage> update(Verdict verdict, const QString &reason, const QDateTime &now);
    // The clock moved: a held change may be said now.
    std::optional<TrayMessage> tick(const QDateTime &now);
    // When a held change may be said (call tick() then); null when nothing is held.
    QDateTime nextCheck() const;

private:
    std::optional<TrayMessage> evaluate(const QDateTime &now);

    QString m_who;
    std::chrono::seconds m_minInterval;
    Verdict m_verdict = Verdict::Ok; // as it is
    QString m_reason;
    Verdict m_said = Verdict::Ok; // as it was last said (Ok: nothing bad said, or recovered)
    QDateTime m_lastOf[3];        // by TrayMessage::Kind: when it was said last
    QDateTime m_heldUntil;        // a change waits for its kind until then
};

} // namespace isocket::gui
