#pragma once
// Prometheus /metrics of a running daemon (`--metrics ADDR:PORT`, status.metrics), served by
// QHttpServer (Qt HTTP Server; linked into the console only, never into core). GET /metrics
// answers the text exposition format 0.0.4 (core/metricstext.h), made on each scrape by
// `render`; anything else is 404. Lives in the daemon's thread; nothing runs between scrapes.

#include "core/error.h"

#include <QByteArray>
#include <QHostAddress>
#include <QObject>

#include <functional>

class QHttpServer;
class QTcpServer;

namespace isocket::cli {

class MetricsServer : public QObject
{
    Q_OBJECT

public:
    explicit MetricsServer(std::function<QByteArray()> render, QObject *parent = nullptr);
    ~MetricsServer() override;

    // Listens on address:port (port 0: one the kernel picks; port() says which).
    bool listen(const QHostAddress &address, quint16 port);
    QString errorString() const { return m_error; }
    quint16 port() const;
    // "127.0.0.1:9464", "[::1]:9464".
    QString addressText() const;

private:
    std::function<QByteArray()> m_render;
    QHttpServer *m_http = nullptr;
    QTcpServer *m_tcp = nullptr;
    QString m_error;
};

} // namespace isocket::cli
