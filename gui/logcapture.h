#pragma once
// LogCapture: takes every log message of the process (qInstallMessageHandler) and hands it to
// the GUI thread as a LogEntry through the queued signal messageLogged(), from any thread.
// The previous handler stays chained, so the console still gets its lines. At most one
// LogCapture is installed at a time; the destructor restores the previous handler.
// Lives in the GUI thread (create it there); messageLogged is always delivered queued.

#include <QDateTime>
#include <QObject>
#include <QString>

namespace isocket::gui {

struct LogEntry
{
    QDateTime time;
    QtMsgType type = QtInfoMsg;
    QString category;
    QString message;
};

// Severity rank: debug 0, info 1, warning 2, critical 3, fatal 4.
int logLevelRank(QtMsgType type);
QString logLevelName(QtMsgType type);

class LogCapture : public QObject
{
    Q_OBJECT

public:
    explicit LogCapture(QObject *parent = nullptr);
    ~LogCapture() override;

Q_SIGNALS:
    void messageLogged(const isocket::gui::LogEntry &entry);

private:
    static void handler(QtMsgType type, const QMessageLogContext &context, const QString &message);
};

} // namespace isocket::gui

Q_DECLARE_METATYPE(isocket::gui::LogEntry)
