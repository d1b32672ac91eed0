#include "gui/notificationpolicy.h"

namespace isocket::gui {

namespace {

// Ok and Behind both mean that work moves: the same for the operator's desktop.
bool isBad(Verdict v)
{
    return v == Verdict::Degraded || v == Verdict::Failing;
}

} // namespace

NotificationPolicy::NotificationPolicy(QString who, std::chrono::seconds minInterval)
    : m_who(std::move(who)), m_minInterval(minInterval)
{
}

std::optional<TrayMessage> NotificationPolicy::update(Verdict verdict, const QString &reason,
                                                      const QDateTime &now)
{
    m_verdict = verdict;
    m_reason = reason;
    return evaluate(now);
}

std::optional<TrayMessage> NotificationPolicy::tick(const QDateTime &now)
{
    return evaluate(now);
}

QDateTime NotificationPolicy::nextCheck() const
{
    return m_heldUntil;
}

std::optional<TrayMessage> NotificationPolicy::evaluate(const QDateTime &now)
{
    // What would be said, if anything.
    TrayMessage m;
    if (isBad(m_verdict)) {
        // Said already, or better than what was said (Failing → Degraded): wait for a
        // recovery or for worse.
        if (m_verdict == m_said || (m_verdict == Verdict::Degraded && m_said == Verdict::Failing)) {
            m_heldUntil = QDateTime();
            return std::nullopt;
        }
        const bool failing = m_verdict == Verdict::Failing;
        m.kind = failing ? TrayMessage::Kind::Failing : TrayMessage::Kind::Degraded;
        m.title = QStringLiteral("%1: %2").arg(m_who, failing ? QStringLiteral("failing")
                                                              : QStringLiteral("degraded"));
        m.text = m_reason.isEmpty() ? (failing ? QStringLiteral("Nothing moves; an operator "
                                                                "must act.")
                                               : QStringLiteral("Something needs a look."))
                                    : m_reason;
    } else {
        if (!isBad(m_said)) { // nothing bad was said: nothing to take back
            m_heldUntil = QDateTime();
            return std::nullopt;
        }
        m.kind = TrayMessage::Kind::Recovered;
        m.title = QStringLiteral("%1: back to normal").arg(m_who);
        m.text = m_reason.isEmpty() ? QStringLiteral("Work moves again.") : m_reason;
    }
    const QDateTime &last = m_lastOf[int(m.kind)];
    if (last.isValid() && now < last.addSecs(m_minInterval.count())) {
        m_heldUntil = last.addSecs(m_minInterval.count());
        return std::nullopt;
    }
    m_lastOf[int(m.kind)] = now;
    m_said = m.kind == TrayMessage::Kind::Recovered ? Verdict::Ok : m_verdict;
    m_heldUntil = QDateTime();
    return m;
}

} // namespace isocket::gui
