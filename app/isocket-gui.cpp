// isocket-gui: the operator window, for an edge device (--role sender), for DRMS
// (--role receiver), or a read-only monitor of a receiver's fleet (--role monitor). Without
// --role a dialog asks (sender or receiver). A window with work pending closes to the tray;
// Quit asks first (gui/windowlifecycle.h).

#include "core/fileutil.h"
#include "core/logging.h"
#include "gui/logcapture.h"
#include "gui/logmodel.h"
#include "gui/startup.h"

#include <QApplication>

int main(int argc, char *argv[])
{
    using namespace isocket::gui;
    isocket::pinLocalTimeZone(); // no stat of /etc/localtime per log line
    isocket::raiseOpenFileLimit(); // a receiver holds a file per transfer in flight
    QApplication app(argc, argv);
    QApplication::setOrganizationName(QStringLiteral("isocket"));
    QApplication::setApplicationName(QStringLiteral("isocket-gui"));
    QApplication::setApplicationVersion(QStringLiteral(ISOCKET_VERSION));
    QApplication::setDesktopFileName(QStringLiteral("isocket-gui"));

    LogCapture capture; // before anything logs: the log pane shows the whole session
    LogModel log;
    QObject::connect(&capture, &LogCapture::messageLogged, &log, &LogModel::append);

    const Startup startup = resolveStartup(QApplication::arguments());
    if (startup.exitCode >= 0)
        return startup.exitCode;

    // Owns the window; replaces it when its settings are changed from its banner.
    Launcher launcher(&log);
    QObject::connect(&launcher, &Launcher::quitConfirmed, &app, &QCoreApplication::quit,
                     Qt::QueuedConnection);
    launcher.launch(startup);
    return QApplication::exec();
}
