#include "cli/metricsserver.h"

#include <QHttpServer>
#include <QHttpServerRequest>
#include <QHttpServerResponse>
#include <QTcpServer>

#include <memory>

namespace isocket::cli {

MetricsServer::MetricsServer(std::function<QByteArray()> render, QObject *parent)
    : QObject(parent), m_render(std::move(render)), m_http(new QHttpServer(this))
{
    m_http->route(QStringLiteral("/metrics"), QHttpServerRequest::Method::Get,
                  [this](const QHttpServerRequest &) {
                      return QHttpServerResponse(QByteArrayLiteral("text/plain; version=0.0.4; "
                                                                   "charset=utf-8"),
                                                 m_render());
                  });
    // Anything else: QHttpServer answers 404 Not Found.
}

MetricsServer::~MetricsServer() = default;

bool MetricsServer::listen(const QHostAddress &address, quint16 port)
{
    auto tcp = std::make_unique<QTcpServer>();
    if (!tcp->listen(address, port)) {
        m_error = QStringLiteral("cannot listen on %1:%2 for metrics: %3")
                      .arg(address.toString())
                      .arg(port)
                      .arg(tcp->errorString());
        return false;
    }
    tcp->setParent(m_http);
    m_tcp = tcp.release();
    m_http->bind(m_tcp);
    return true;
}

quint16 MetricsServer::port() const
{
    return m_tcp ? m_tcp->serverPort() : 0;
}

QString MetricsServer::addressText() const
{
    if (!m_tcp)
        return QString();
    const QHostAddress a = m_tcp->serverAddress();
    const QString host = a.protocol() == QAbstractSocket::IPv6Protocol
                             ? QLatin1Char('[') + a.toString() + QLatin1Char(']')
                             : a.toString();
    return host + QLatin1Char(':') + QString::number(m_tcp->serverPort());
}

} // namespace isocket::cli
