#include "core/logging.h"

namespace isocket {

Q_LOGGING_CATEGORY(lcScan, "isocket.scan", QtInfoMsg)
Q_LOGGING_CATEGORY(lcWatch, "isocket.watch", QtInfoMsg)
Q_LOGGING_CATEGORY(lcSend, "isocket.send", QtInfoMsg)
Q_LOGGING_CATEGORY(lcRecv, "isocket.recv", QtInfoMsg)
Q_LOGGING_CATEGORY(lcProto, "isocket.proto", QtInfoMsg)
Q_LOGGING_CATEGORY(lcConfig, "isocket.config", QtInfoMsg)
Q_LOGGING_CATEGORY(lcGui, "isocket.gui", QtInfoMsg)
Q_LOGGING_CATEGORY(lcCli, "isocket.cli", QtInfoMsg)

void installConsoleMessagePattern()
{
    qSetMessagePattern(QStringLiteral(
        "%{time yyyy-MM-ddThh:mm:ss.zzz} "
        "%{if-debug}debug%{endif}%{if-info}info %{endif}%{if-warning}warn %{endif}"
        "%{if-critical}crit %{endif}%{if-fatal}fatal%{endif} %{category}: %{message}"));
}

void pinLocalTimeZone()
{
    // glibc's tzset() returns at once while TZ is set and unchanged; unset, it re-checks the
    // default zone file (a stat per call, per log line).
    if (!qEnvironmentVariableIsSet("TZ"))
        qputenv("TZ", ":/etc/localtime");
}

void enableVerboseLogging()
{
    QLoggingCategory::setFilterRules(QStringLiteral("isocket.*.debug=true"));
}

} // namespace isocket
