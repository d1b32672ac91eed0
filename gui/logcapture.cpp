#include "gui/logcapture.h"

#include <QMutex>

#include <cstdio>

namespace isocket::gui {

namespace {
// Guards s_instance against a concurrent destructor; recursive because posting may log.
QRecursiveMutex s_mutex;
LogCapture *s_instance = nullptr;
QtMessageHandler s_previous = nullptr;
} // namespace

int logLevelRank(QtMsgType type)
{
    switch (type) {
    case QtDebugMsg: return 0;
    case QtInfoMsg: return 1;
    case QtWarningMsg: return 2;
    case QtCriticalMsg: return 3;
    case QtFatalMsg: return 4;
    }
    return 1;
}

QString logLevelName(QtMsgType type)
{
    switch (type) {
    case QtDebugMsg: return QStringLiteral("debug");
    case QtInfoMsg: return QStringLiteral("info");
    case QtWarningMsg: return QStringLiteral("warning");
    case QtCriticalMsg: return QStringLiteral("critical");
    case QtFatalMsg: return QStringLiteral("fatal");
    }
    return QString();
}

LogCapture::LogCapture(QObject *parent) : QObject(parent)
{
    qRegisterMetaType<LogEntry>();
    QMutexLocker lock(&s_mutex);
    Q_ASSERT(!s_instance);
    s_instance = this;
    s_previous = qInstallMessageHandler(&LogCapture::handler);
}

LogCapture::~LogCapture()
{
    QMutexLocker lock(&s_mutex);
    qInstallMessageHandler(s_previous);
    s_previous = nullptr;
    s_instance = nullptr;
}

void LogCapture::handler(QtMsgType type, const QMessageLogContext &context, const QString &message)
{
    QtMessageHandler previous = nullptr;
    {
        QMutexLocker lock(&s_mutex);
        previous = s_previous;
        if (s_instance) {
            LogEntry entry{QDateTime::currentDateTime(), type,
                           QString::fromLatin1(context.category ? context.category : "default"),
                           message};
            // Queued even from the GUI thread: a slot that logs must not re-enter the model.
            QMetaObject::invokeMethod(
                s_instance,
                [instance = s_instance, entry] { Q_EMIT instance->messageLogged(entry); },
                Qt::QueuedConnection);
        }
    }
    if (previous)
        previous(type, context, message);
    else // no handler before us: what Qt's default one would print
        std::fprintf(stderr, "%s\n", qPrintable(qFormatLogMessage(type, context, message)));
}

} // namespace isocket::gui
