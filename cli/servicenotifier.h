#pragma once
// ServiceNotifier: tells systemd what a console daemon is doing (sd_notify(3), Type=notify):
// READY=1 once it serves, STATUS=<one-line health headline>, RELOADING=1 and READY=1 around a
// reload, STOPPING=1, and WATCHDOG=1 every half of WatchdogSec= for as long as the event loops
// that do the work keep turning. Without NOTIFY_SOCKET (not run by systemd, or Type=simple), or
// built without libsystemd, every call does nothing. Lives in the main thread.
//
// The watchdog: a timer in the thread that owns the notifier fires every half period; each tick
// asks the probe (setWatchdogProbe()) to prove that the other threads it vouches for are alive
// too, and pings only when the probe answers. A wedged event loop, ours or a worker's, stops the
// pings, and systemd kills and restarts the service (Restart=on-failure).

#include <QObject>
#include <QString>
#include <QTimer>

#include <functional>

namespace isocket::cli {

class ServiceNotifier : public QObject
{
    Q_OBJECT

public:
    explicit ServiceNotifier(QObject *parent = nullptr);

    // Whether a service manager listens (NOTIFY_SOCKET is set and libsystemd is built in).
    bool isActive() const { return m_active; }
    // The watchdog period systemd asked for (WATCHDOG_USEC for this process), 0: none.
    qint64 watchdogUsec() const { return m_watchdogUsec; }

    // `probe(alive)` must call `alive` (in this thread) once every thread it vouches for has
    // shown its event loop turning. Default: the timer's own tick is the proof.
    using Probe = std::function<void(std::function<void()> alive)>;
    void setWatchdogProbe(Probe probe) { m_probe = std::move(probe); }

    // READY=1 with the status, and starts the watchdog.
    void ready(const QString &status);
    // STATUS=, sent only when it changed.
    void setStatus(const QString &status);
    // RELOADING=1, and READY=1 with the status when the reload is done.
    void reloading();
    void reloaded(const QString &status);
    // STOPPING=1; the watchdog stops.
    void stopping();

private:
    void notify(const QByteArray &state);
    void onTick();

    bool m_active = false;
    qint64 m_watchdogUsec = 0;
    bool m_probing = false; // a probe was asked and has not answered yet
    QString m_status;
    Probe m_probe;
    QTimer m_tick;
};

} // namespace isocket::cli
