#include "core/fleetmonitor.h"

#include "core/fleetregistry.h"
#include "core/fsname.h"
#include "core/logging.h"
#include "core/secret.h"
#include "core/tls.h"

namespace isocket {

Result<MonitorSetup> MonitorSetup::fromConfig(const Config &config)
{
    MonitorSetup s;
    const QString name = config.effectiveSource();
    if (auto r = validateName(name, QStringLiteral("monitor name")); !r)
        return Error{ErrorCode::UsageError, r.error().message + QStringLiteral(" (set --source)")};
    auto transport = transportFromConfig(config, Side::Sender);
    if (!transport)
        return Error{ErrorCode::UsageError, transport.error().message};
    auto secret = readSecretFile(config.secretFile);
    if (!secret)
        return Error{ErrorCode::UsageError, secret.error().message};
    s.link.monitor = true;
    // A monitor watches one receiver: the first of a list (send.server, --to).
    const QList<ReceiverAddress> receivers = config.receivers();
    s.link.host = receivers.first().host;
    s.link.port = receivers.first().port;
    s.link.source = name;
    s.link.secret = secret.value();
    s.link.secretFile = config.secretFile;
    s.link.jobs = 1;
    s.link.retryIntervalMs = config.retryIntervalMs;
    s.link.retryMaxMs = config.retryMaxMs;
    s.link.tls = transport.value().tls;
    s.link.receiverFingerprints = transport.value().receiverFingerprints;
    return s;
}

QString MonitorSetup::receiverAddress() const
{
    const QString &host = link.host;
    return (host.contains(QLatin1Char(':')) ? QLatin1Char('[') + host + QLatin1Char(']') : host) +
           QLatin1Char(':') + QString::number(link.port);
}

FleetMonitor::FleetMonitor(MonitorSetup setup, QObject *parent)
    : QObject(parent), m_setup(std::move(setup))
{
    qRegisterMetaType<FleetEntry>();
    qRegisterMetaType<QList<FleetEntry>>();
    qRegisterMetaType<ReceiverHealth>();
    qRegisterMetaType<LinkStatus>();
    m_setup.link.monitor = true;
    m_setup.link.jobs = 1;
    m_setup.link.maxConnectAttempts = 0; // a monitor keeps trying, as a daemon does
}

FleetMonitor::~FleetMonitor()
{
    if (m_connection) {
        m_connection->disconnect(this);
        delete m_connection;
    }
}

void FleetMonitor::start()
{
    if (m_connection)
        return;
    m_connection = new SenderConnection(0, m_setup.link, this);
    connect(m_connection, &SenderConnection::fleetReceived, this, &FleetMonitor::onDocument);
    connect(m_connection, &SenderConnection::stateChanged, this,
            [this](int, LinkState state, const QString &detail, int retryInMs) {
                m_link.state = state;
                m_link.detail = detail;
                m_link.retryAt = state == LinkState::Retrying || state == LinkState::Refused
                                     ? QDateTime::currentDateTimeUtc().addMSecs(retryInMs)
                                     : QDateTime();
                Q_EMIT linkChanged(m_link);
            });
    m_connection->start();
}

void FleetMonitor::stop()
{
    if (!m_connection)
        return;
    SenderConnection *connection = std::exchange(m_connection, nullptr);
    connection->shutdown(); // linkChanged(Stopped)
    connection->disconnect(this);
    connection->deleteLater();
}

void FleetMonitor::onDocument(const QByteArray &document)
{
    auto parsed = parseFleetDocument(document);
    if (!parsed) {
        if (m_badDocuments++ % 100 == 0)
            qCWarning(lcCli).noquote() << "the receiver at" << m_setup.receiverAddress()
                                       << "sent a FLEET document that cannot be read; ignored";
        return;
    }
    const bool fleetMoved = !m_received || parsed->fleet != m_fleet;
    const bool receiverMoved = !m_received || !(parsed->receiver == m_receiver);
    m_received = true;
    m_fleet = std::move(parsed->fleet);
    m_receiver = std::move(parsed->receiver);
    if (receiverMoved)
        Q_EMIT receiverChanged(m_receiver);
    if (fleetMoved)
        Q_EMIT fleetChanged(m_fleet);
}

} // namespace isocket
