#pragma once
// Text formats shared by the GUI's models and widgets: sizes, rates, durations, times.

#include <QDateTime>
#include <QString>

namespace isocket::gui {

QString formatBytes(qint64 bytes);          // "512 B", "40.0 KiB"
QString formatRate(double bytesPerSecond);  // "1.2 MiB/s", "—" when zero
QString formatDuration(qint64 ms);          // "850 ms", "12 s", "3 min 05 s", "2 h 01 min"
QString formatEta(double seconds);          // "12 s", "—" when unknown
QString formatTime(const QDateTime &time);  // local "hh:mm:ss" today, "yyyy-MM-dd hh:mm" before
QString formatAgo(const QDateTime &time);   // "just now", "5 s ago", "3 min ago"
QString formatAgo(const QDateTime &time, const QDateTime &now); // as of `now`

} // namespace isocket::gui
