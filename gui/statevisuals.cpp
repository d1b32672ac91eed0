#include "gui/statevisuals.h"

#include "core/logging.h"

#include <QHash>
#include <QPainter>
#include <QPainterPath>
#include <QPixmap>

namespace isocket::gui {

namespace {

void paintBadge(QPainter &p, Badge badge, qreal s)
{
    p.setRenderHint(QPainter::Antialiasing);
    const QColor c = badgeColor(badge);
    const qreal w = std::max<qreal>(1.5, s / 9);
    QPen pen(c, w, Qt::SolidLine, Qt::RoundCap, Qt::RoundJoin);
    const QRectF r(w, w, s - 2 * w, s - 2 * w);
    switch (badge) {
    case Badge::Live: // a ring around a dot: "on air"
        p.setPen(pen);
        p.setBrush(Qt::NoBrush);
        p.drawEllipse(r);
        p.setPen(Qt::NoPen);
        p.setBrush(c);
        p.drawEllipse(r.center(), s * 0.2, s * 0.2);
        break;
    case Badge::Sending: { // an upward arrow
        p.setPen(pen);
        p.drawLine(QPointF(s / 2, s * 0.85), QPointF(s / 2, s * 0.18));
        QPainterPath head;
        head.moveTo(s * 0.2, s * 0.45);
        head.lineTo(s / 2, s * 0.15);
        head.lineTo(s * 0.8, s * 0.45);
        p.drawPath(head);
        break;
    }
    case Badge::Done:
    case Badge::Connected: { // a filled disc with a check mark
        p.setPen(Qt::NoPen);
        p.setBrush(c);
        p.drawEllipse(r);
        QPen white(Qt::white, w * 1.2, Qt::SolidLine, Qt::RoundCap, Qt::RoundJoin);
        p.setPen(white);
        QPainterPath tick;
        tick.moveTo(s * 0.28, s * 0.52);
        tick.lineTo(s * 0.44, s * 0.68);
        tick.lineTo(s * 0.73, s * 0.34);
        p.setBrush(Qt::NoBrush);
        p.drawPath(tick);
        break;
    }
    case Badge::Abnormal: { // a triangle with an exclamation mark
        QPainterPath tri;
        tri.moveTo(s / 2, s * 0.06);
        tri.lineTo(s * 0.96, s * 0.9);
        tri.lineTo(s * 0.04, s * 0.9);
        tri.closeSubpath();
        p.setPen(Qt::NoPen);
        p.setBrush(c);
        p.drawPath(tri);
        p.setPen(QPen(Qt::white, w * 1.2, Qt::SolidLine, Qt::RoundCap));
        p.drawLine(QPointF(s / 2, s * 0.36), QPointF(s / 2, s * 0.62));
        p.drawPoint(QPointF(s / 2, s * 0.76));
        break;
    }
    case Badge::Failed:
    case Badge::Refused: { // an octagon with a cross
        QPolygonF oct;
        for (int i = 0; i < 8; ++i) {
            const double a = (22.5 + 45.0 * i) * M_PI / 180.0;
            oct << QPointF(s / 2 + std::cos(a) * (s / 2 - w / 2), s / 2 + std::sin(a) * (s / 2 - w / 2));
        }
        p.setPen(Qt::NoPen);
        p.setBrush(c);
        p.drawPolygon(oct);
        p.setPen(QPen(Qt::white, w * 1.2, Qt::SolidLine, Qt::RoundCap));
        p.drawLine(QPointF(s * 0.33, s * 0.33), QPointF(s * 0.67, s * 0.67));
        p.drawLine(QPointF(s * 0.67, s * 0.33), QPointF(s * 0.33, s * 0.67));
        break;
    }
    case Badge::Waiting: { // a clock
        p.setPen(pen);
        p.setBrush(Qt::NoBrush);
        p.drawEllipse(r);
        p.drawLine(QPointF(s / 2, s / 2), QPointF(s / 2, s * 0.24));
        p.drawLine(QPointF(s / 2, s / 2), QPointF(s * 0.7, s * 0.6));
        break;
    }
    case Badge::Paused: // two bars
        p.setPen(Qt::NoPen);
        p.setBrush(c);
        p.drawRoundedRect(QRectF(s * 0.22, s * 0.15, s * 0.2, s * 0.7), w / 2, w / 2);
        p.drawRoundedRect(QRectF(s * 0.58, s * 0.15, s * 0.2, s * 0.7), w / 2, w / 2);
        break;
    case Badge::Idle: // a hollow circle with a dash
        p.setPen(pen);
        p.setBrush(Qt::NoBrush);
        p.drawEllipse(r);
        p.drawLine(QPointF(s * 0.3, s / 2), QPointF(s * 0.7, s / 2));
        break;
    }
}

} // namespace

QColor badgeColor(Badge badge)
{
    switch (badge) {
    case Badge::Live: return QColor(0x1f, 0x6f, 0xc5);      // blue
    case Badge::Sending: return QColor(0x2a, 0x7a, 0x9a);   // teal
    case Badge::Done:
    case Badge::Connected: return QColor(0x2e, 0x7d, 0x32); // green
    case Badge::Abnormal: return QColor(0xc5, 0x6a, 0x00);  // amber
    case Badge::Failed:
    case Badge::Refused: return QColor(0xc6, 0x28, 0x28);   // red
    case Badge::Waiting: return QColor(0x6d, 0x5a, 0x9c);   // violet
    case Badge::Paused:
    case Badge::Idle: return QColor(0x60, 0x60, 0x60);      // grey
    }
    return QColor(Qt::black);
}

QColor badgeTint(Badge badge)
{
    switch (badge) {
    case Badge::Abnormal: return QColor(0xff, 0xf1, 0xd6);
    case Badge::Failed:
    case Badge::Refused: return QColor(0xfd, 0xe2, 0xe2);
    default: return QColor();
    }
}

QIcon badgeIcon(Badge badge)
{
    static QHash<int, QIcon> cache;
    auto it = cache.find(int(badge));
    if (it != cache.end())
        return *it;
    QIcon icon;
    for (int size : {16, 20, 24, 32, 48, 64}) {
        QPixmap pm(size, size);
        pm.fill(Qt::transparent);
        QPainter p(&pm);
        paintBadge(p, badge, size);
        p.end();
        icon.addPixmap(pm);
    }
    cache.insert(int(badge), icon);
    return icon;
}

DbtagLook dbtagLook(DbtagState state, bool closing, int pending, int failed)
{
    switch (state) {
    case DbtagState::Live:
        return {Badge::Live, QStringLiteral("live"),
                QStringLiteral("Live: the producer is still writing this dbtag. Each file is sent "
                               "as soon as it is closed; finished.parse ends it.")};
    case DbtagState::Closed:
        if (failed > 0)
            return {Badge::Failed, QStringLiteral("closed, %1 failed").arg(failed),
                    QStringLiteral("Some files could not be sent and need an operator (see the "
                                   "log). finished.watch is not written until every file is on "
                                   "the receiver.")};
        if (closing)
            return {Badge::Waiting, QStringLiteral("closed, confirming"),
                    QStringLiteral("Every file was sent; waiting for the receiver to confirm the "
                                   "dataset complete before finished.watch is written.")};
        if (pending > 0)
            return {Badge::Sending, QStringLiteral("closed, sending"),
                    QStringLiteral("Closed (finished.parse, or the producer moved on): sending "
                                   "the remaining files, then finished.watch is written.")};
        return {Badge::Sending, QStringLiteral("closed"),
                QStringLiteral("Closed: no more files will come. finished.watch is written once "
                               "the receiver holds every file.")};
    case DbtagState::Done:
        return {Badge::Done, QStringLiteral("done"),
                QStringLiteral("Done: every file is on the receiver and finished.watch is "
                               "written. Nothing more to do.")};
    case DbtagState::Abnormal:
        return {Badge::Abnormal, QStringLiteral("closed abnormally"),
                QStringLiteral("Closed abnormally: finished.watch is present but finished.parse "
                               "is not, so the parser never declared this dbtag complete. "
                               "Nothing is sent from it; check the producer.")};
    }
    return {Badge::Idle, QString(), QString()};
}

VerdictLook verdictLook(Verdict verdict)
{
    switch (verdict) {
    case Verdict::Ok:
        return {Badge::Done, QStringLiteral("OK"),
                QStringLiteral("OK: up to date, or only the live dbtag moving.")};
    case Verdict::Behind:
        return {Badge::Sending, QStringLiteral("Behind"),
                QStringLiteral("Behind: files wait to be sent, but they move (a backlog, or a "
                               "short outage being retried).")};
    case Verdict::Degraded:
        return {Badge::Abnormal, QStringLiteral("Degraded"),
                QStringLiteral("Degraded: files move, but something needs a look (files failed "
                               "for good, missed changes, paused, some files refused).")};
    case Verdict::Failing:
        return {Badge::Failed, QStringLiteral("Failing"),
                QStringLiteral("Failing: nothing moves and an operator must act.")};
    }
    return {Badge::Idle, QString(), QString()};
}

QIcon appIcon()
{
    QIcon icon(QStringLiteral(":/isocket/isocket.svg"));
    if (!icon.availableSizes().isEmpty() || !icon.pixmap(32).isNull())
        return icon;
    static bool warned = false;
    if (!warned) {
        warned = true;
        qCWarning(lcGui) << "the application icon (SVG) cannot be drawn: Qt's SVG plugins are "
                            "missing (Debian: install libqt6svg6); showing a plain arrow";
    }
    return badgeIcon(Badge::Sending);
}

} // namespace isocket::gui
