// isocket: the headless console program (ED daemon, receiver, scanner, simulator).

#include "cli/cli.h"
#include "core/fileutil.h"
#include "core/logging.h"

#include <QCoreApplication>

int main(int argc, char *argv[])
{
    isocket::pinLocalTimeZone(); // no stat of /etc/localtime per log line
    isocket::raiseOpenFileLimit(); // a receiver holds a file per transfer in flight
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("isocket"));
    QCoreApplication::setApplicationVersion(QStringLiteral(ISOCKET_VERSION));
    isocket::installConsoleLogHandler();
    return isocket::cli::run(QCoreApplication::arguments());
}
