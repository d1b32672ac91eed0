// isocket-gui: the operator window, for an edge device (--role sender), for DRMS
// (--role receiver), or a read-only monitor of a receiver's fleet (--role monitor). Without
// --role a dialog asks (sender or receiver).

#include "core/fileutil.h"
#include "core/logging.h"
#include "gui/logcapture.h"
#include "gui/logmodel.h"
#include "gui/monitorwindow.h"
#include "gui/receiverwindow.h"
#include "gui/senderwindow.h"
#include "gui/startup.h"

#include <QApplication>

#include <memory>

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

    std::unique_ptr<QMainWindow> window;
    if (startup.role == Startup::Role::Sender) {
        auto w = std::make_unique<SenderWindow>(startup.sender, &log);
        w->start();
        window = std::move(w);
    } else if (startup.role == Startup::Role::Monitor) {
        auto w = std::make_unique<MonitorWindow>(startup.monitor, &log);
        w->start();
        window = std::move(w);
    } else {
        auto w = std::make_unique<ReceiverWindow>(startup.receiver, &log);
        w->start();
        window = std::move(w);
    }
    window->show();
    return QApplication::exec();
}
