#include "cli/statusfaces.h"

#include "cli/options.h"
#include "core/logging.h"

#include <cstdio>

namespace isocket::cli {

bool startStatusFaces(const Config &config, Role role, const QString &command,
                      std::function<QJsonObject()> status, std::function<QByteArray()> metrics,
                      StatusFaces &faces)
{
    const bool explicitSocket = !config.controlSocket.isEmpty();
    auto path = daemonControlSocketPath(config, role);
    if (!path) {
        qCWarning(lcCli).noquote() << "no control socket (isocket status cannot ask this daemon):"
                                   << path.error().message;
    } else {
        auto control = std::make_unique<ControlServer>(std::move(status));
        if (control->listen(path.value())) {
            qCInfo(lcCli).noquote() << "control socket" << control->path();
            faces.control = std::move(control);
        } else if (explicitSocket) {
            printError(command, config.keyMessage(QStringLiteral("status.control_socket"),
                                                  control->errorString()));
            return false;
        } else {
            qCWarning(lcCli).noquote()
                << "no control socket (isocket status cannot ask this daemon):"
                << control->errorString();
        }
    }
    if (config.metricsHost.isEmpty())
        return true;
    auto server = std::make_unique<MetricsServer>(std::move(metrics));
    if (!server->listen(QHostAddress(config.metricsHost), config.metricsPort)) {
        printError(command, config.keyMessage(QStringLiteral("status.metrics"),
                                              server->errorString()));
        return false;
    }
    qCInfo(lcCli).noquote() << QStringLiteral("serving metrics on http://%1/metrics")
                                   .arg(server->addressText());
    std::printf("metrics %s\n", qPrintable(server->addressText()));
    std::fflush(stdout);
    faces.metrics = std::move(server);
    return true;
}

} // namespace isocket::cli
