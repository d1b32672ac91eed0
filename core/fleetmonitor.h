#pragma once
// FleetMonitor: a read-only client of a receiver (issue 16), for a workstation's monitor window:
// it connects as a *monitor* (protocol version 4, docs/PROTOCOL.md 2.7) and follows the fleet
// the receiver knows (every ED, its last health) and the receiver's own health.
//
// The transport is the ED's: a SenderConnection in monitor mode (the same TLS with a pinned
// receiver, the same handshake and proofs, the same reconnect with backoff and jitter), which
// sends nothing after AUTH and hands over the FLEET documents. A monitor can never send data:
// the receiver refuses any data frame from it (and, with receive.monitor_secret_file, the
// monitor's secret is not the EDs' one).
//
// Lives in the thread that creates it (its connection too: the traffic is small); the signals
// come from there. start() connects (and reconnects until stop()); a FLEET document received
// gives fleetChanged() and receiverChanged() when each changed; linkChanged() follows the link.

#include "core/config.h"
#include "core/edevents.h"
#include "core/error.h"
#include "core/health.h"
#include "core/senderconnection.h"

#include <QList>
#include <QObject>

namespace isocket {

struct MonitorSetup
{
    // host, port, source (the monitor's name), secret (and the file to read it from before each
    // connection), TLS identity and the receiver's pins; `monitor` is set.
    SenderOptions link;

    // From the configuration: send.server and send.port (the receiver), send.source (the
    // monitor's name; default: the host name), general.secret_file (the receiver's
    // receive.monitor_secret_file, or its shared secret when it has none), general.cert,
    // general.key, general.transport and send.receiver_fingerprint, checked as for an ED.
    // Errors are UsageError and name the key. An unreadable secret file is an error.
    static Result<MonitorSetup> fromConfig(const Config &config);

    QString receiverAddress() const; // "host:port", "[v6]:port"
};

class FleetMonitor : public QObject
{
    Q_OBJECT

public:
    explicit FleetMonitor(MonitorSetup setup, QObject *parent = nullptr);
    ~FleetMonitor() override;

    const MonitorSetup &setup() const { return m_setup; }
    void start(); // connects; reconnects with backoff until stop()
    void stop();  // closes; linkChanged(Stopped) follows

    // The last ones received (empty / default before the first FLEET).
    QList<FleetEntry> fleet() const { return m_fleet; }
    ReceiverHealth receiver() const { return m_receiver; }
    LinkStatus link() const { return m_link; }

Q_SIGNALS:
    void fleetChanged(const QList<isocket::FleetEntry> &fleet);
    void receiverChanged(const isocket::ReceiverHealth &receiver);
    void linkChanged(const isocket::LinkStatus &link);

private:
    void onDocument(const QByteArray &document);

    MonitorSetup m_setup;
    SenderConnection *m_connection = nullptr; // child, while started
    QList<FleetEntry> m_fleet;
    ReceiverHealth m_receiver;
    bool m_received = false;
    LinkStatus m_link;
    int m_badDocuments = 0;
};

} // namespace isocket
