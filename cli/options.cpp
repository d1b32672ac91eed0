#include "cli/options.h"

#include "core/logging.h"

#include <cstdio>

namespace isocket::cli {

QString humanBytes(qint64 bytes)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    return u == 0 ? QStringLiteral("%1 B").arg(bytes)
                  : QStringLiteral("%1 %2").arg(v, 0, 'f', 1).arg(QLatin1String(units[u]));
}

void printError(const QString &command, const QString &message)
{
    std::fprintf(stderr, "isocket %s: %s\n", qPrintable(command), qPrintable(message));
}

int parse(CommandLine &cl, const QStringList &args)
{
    const int rc = cl.parse(args);
    if (!cl.helpText().isEmpty())
        std::fputs(qPrintable(cl.helpText()), stdout);
    if (!cl.errorText().isEmpty())
        printError(cl.command(), cl.errorText());
    return rc;
}

void applyReload(const Config &next, const Config &running,
                 std::initializer_list<std::pair<const char *, bool>> restartOnly)
{
    if (next.logFile.isEmpty()) {
        isocket::closeLogFile();
    } else if (auto r = isocket::openLogFile(next.logFile); !r) {
        qCCritical(lcCli).noquote()
            << next.keyMessage(QStringLiteral("general.log"), r.error().message)
            << "(still writing to the previous log file)";
    }
    const std::pair<const char *, bool> general[] = {
        {"general.cert", next.certFile != running.certFile},
        {"general.key", next.keyFile != running.keyFile},
        {"general.transport", next.transport != running.transport},
    };
    auto warn = [](const std::pair<const char *, bool> &entry) {
        if (entry.second)
            qCWarning(lcCli).noquote()
                << entry.first << "changed: it takes effect at the next restart";
    };
    for (const auto &entry : general)
        warn(entry);
    for (const auto &entry : restartOnly)
        warn(entry);
}

} // namespace isocket::cli
