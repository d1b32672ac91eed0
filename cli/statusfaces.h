#pragma once
// What a running daemon (`isocket send`, `isocket receive`) shows of itself besides its log: the
// control socket that `isocket status` asks (cli/controlsocket.h) and, when status.metrics is
// set, Prometheus /metrics (cli/metricsserver.h). Both answer from the callbacks, on request.

#include "cli/controlsocket.h"
#include "cli/metricsserver.h"
#include "core/config.h"

#include <memory>

namespace isocket::cli {

struct StatusFaces
{
    std::unique_ptr<ControlServer> control;
    std::unique_ptr<MetricsServer> metrics;
};

// Starts the faces of `role`'s daemon. A default control socket that cannot be had is a
// warning (the daemon runs on without it); what the configuration asked for explicitly
// (status.control_socket, status.metrics) is an error: false, the message printed. Prints
// "metrics ADDR:PORT" on stdout once /metrics is served.
bool startStatusFaces(const Config &config, Role role, const QString &command,
                      std::function<QJsonObject()> status, std::function<QByteArray()> metrics,
                      StatusFaces &faces);

} // namespace isocket::cli
