#include "cli/servicenotifier.h"

#include "core/logging.h"

#include <QPointer>

#ifdef ISOCKET_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace isocket::cli {

ServiceNotifier::ServiceNotifier(QObject *parent) : QObject(parent)
{
#ifdef ISOCKET_HAVE_LIBSYSTEMD
    m_active = qEnvironmentVariableIsSet("NOTIFY_SOCKET");
    uint64_t usec = 0;
    // 0 unsets nothing: a child we start (none today) could still see the variables.
    if (m_active && sd_watchdog_enabled(0, &usec) > 0)
        m_watchdogUsec = qint64(usec);
#endif
    m_tick.setTimerType(Qt::PreciseTimer);
    connect(&m_tick, &QTimer::timeout, this, &ServiceNotifier::onTick);
}

void ServiceNotifier::notify(const QByteArray &state)
{
#ifdef ISOCKET_HAVE_LIBSYSTEMD
    if (!m_active)
        return;
    if (const int r = sd_notify(0, state.constData()); r < 0)
        qCWarning(lcCli).noquote() << "cannot notify the service manager:" << qt_error_string(-r);
#else
    Q_UNUSED(state);
#endif
}

void ServiceNotifier::ready(const QString &status)
{
    m_status = status;
    notify("READY=1\nSTATUS=" + status.toUtf8());
    if (m_active && m_watchdogUsec > 0) {
        // Half the period, as sd_watchdog_enabled(3) advises: a late tick is not a dead one.
        m_tick.start(int(qMax<qint64>(1, m_watchdogUsec / 2000)));
        onTick(); // the first ping at once: the period starts at READY=1
    }
}

void ServiceNotifier::setStatus(const QString &status)
{
    if (status == m_status)
        return;
    m_status = status;
    notify("STATUS=" + status.toUtf8());
}

void ServiceNotifier::reloading()
{
    notify("RELOADING=1");
}

void ServiceNotifier::reloaded(const QString &status)
{
    m_status = status;
    notify("READY=1\nSTATUS=" + status.toUtf8());
}

void ServiceNotifier::stopping()
{
    m_tick.stop();
    notify("STOPPING=1");
}

void ServiceNotifier::onTick()
{
    if (!m_probe) {
        notify("WATCHDOG=1");
        return;
    }
    // One probe at a time: a thread that does not answer must not pile up probes, and the
    // pings stop until it answers.
    if (m_probing)
        return;
    m_probing = true;
    QPointer<ServiceNotifier> self(this);
    m_probe([self] {
        if (!self)
            return;
        self->m_probing = false;
        if (self->m_tick.isActive())
            self->notify("WATCHDOG=1");
    });
}

} // namespace isocket::cli
