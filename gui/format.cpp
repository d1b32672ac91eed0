#include "gui/format.h"

#include <QLocale>

#include <cmath>

namespace isocket::gui {

QString formatBytes(qint64 bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = double(bytes);
    int u = 0;
    while (std::abs(v) >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    return u == 0 ? QStringLiteral("%1 B").arg(bytes)
                  : QStringLiteral("%1 %2").arg(v, 0, 'f', 1).arg(QLatin1String(units[u]));
}

QString formatRate(double bytesPerSecond)
{
    if (bytesPerSecond < 0.5)
        return QStringLiteral("—");
    return formatBytes(qint64(bytesPerSecond)) + QStringLiteral("/s");
}

QString formatDuration(qint64 ms)
{
    if (ms < 1000)
        return QStringLiteral("%1 ms").arg(ms);
    const qint64 s = ms / 1000;
    if (s < 60)
        return QStringLiteral("%1 s").arg(s);
    if (s < 3600)
        return QStringLiteral("%1 min %2 s").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
    return QStringLiteral("%1 h %2 min").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QLatin1Char('0'));
}

QString formatEta(double seconds)
{
    if (!std::isfinite(seconds) || seconds < 0)
        return QStringLiteral("—");
    return formatDuration(qint64(std::ceil(seconds)) * 1000);
}

QString formatTime(const QDateTime &time)
{
    if (!time.isValid())
        return QStringLiteral("—");
    const QDateTime local = time.toLocalTime();
    if (local.date() == QDate::currentDate())
        return local.toString(QStringLiteral("hh:mm:ss"));
    return local.toString(QStringLiteral("yyyy-MM-dd hh:mm"));
}

QString formatAgo(const QDateTime &time)
{
    return formatAgo(time, QDateTime::currentDateTimeUtc());
}

QString formatAgo(const QDateTime &time, const QDateTime &now)
{
    if (!time.isValid())
        return QStringLiteral("—");
    const qint64 s = time.secsTo(now);
    if (s < 2)
        return QStringLiteral("just now");
    if (s < 60)
        return QStringLiteral("%1 s ago").arg(s);
    if (s < 3600)
        return QStringLiteral("%1 min ago").arg(s / 60);
    return formatTime(time);
}

} // namespace isocket::gui
