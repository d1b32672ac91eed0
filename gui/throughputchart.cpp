#include "gui/throughputchart.h"

#include "gui/format.h"
#include "gui/throughput.h"

#include <QPainter>
#include <QPainterPath>

#include <algorithm>
#include <cmath>

namespace isocket::gui {

ThroughputChart::ThroughputChart(const Throughput *source, QWidget *parent)
    : QWidget(parent), m_source(source)
{
    m_timer.setInterval(1000);
    connect(&m_timer, &QTimer::timeout, this, &ThroughputChart::refresh);
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
    setToolTip(QStringLiteral("Bytes per second over the last minutes (one bar per second)"));
    setAccessibleName(QStringLiteral("Throughput chart"));
}

void ThroughputChart::setSpanSeconds(int seconds)
{
    m_span = std::clamp(seconds, 10, 299);
    update();
}

void ThroughputChart::setCaption(const QString &caption)
{
    m_caption = caption;
    update();
}

QSize ThroughputChart::sizeHint() const
{
    const int h = fontMetrics().height();
    return QSize(h * 24, h * 6);
}

QSize ThroughputChart::minimumSizeHint() const
{
    const int h = fontMetrics().height();
    return QSize(h * 10, h * 4);
}

void ThroughputChart::showEvent(QShowEvent *event)
{
    QWidget::showEvent(event);
    m_timer.start();
}

void ThroughputChart::hideEvent(QHideEvent *event)
{
    QWidget::hideEvent(event);
    m_timer.stop();
}

void ThroughputChart::refresh()
{
    update();
}

static qint64 niceCeiling(qint64 v)
{
    if (v <= 0)
        return 1024;
    const double e = std::pow(10.0, std::floor(std::log10(double(v))));
    for (double m : {1.0, 2.0, 5.0, 10.0})
        if (m * e >= double(v))
            return qint64(m * e);
    return v;
}

void ThroughputChart::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const QPalette pal = palette();
    const QFontMetrics fm = fontMetrics();
    const QRectF frame = QRectF(rect()).adjusted(0.5, 0.5, -0.5, -0.5);
    p.fillRect(rect(), pal.base());
    p.setPen(pal.color(QPalette::Mid));
    p.drawRect(frame);

    const QList<qint64> all = m_source->samples();
    const QList<qint64> samples = all.mid(all.size() - m_span);
    const qint64 peak = samples.isEmpty() ? 0 : *std::max_element(samples.begin(), samples.end());
    const qint64 top = niceCeiling(peak);

    const int pad = fm.height() / 2;
    const QRectF plot = QRectF(rect()).adjusted(pad, fm.height() + pad, -pad, -fm.height() - pad / 2);

    // Grid: quarter lines.
    QPen grid(pal.color(QPalette::Midlight), 1, Qt::DotLine);
    p.setPen(grid);
    for (int i = 1; i <= 3; ++i) {
        const qreal y = plot.bottom() - plot.height() * i / 4;
        p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y));
    }

    // The area under the rate, newest at the right.
    if (!samples.isEmpty()) {
        const qreal dx = plot.width() / qMax<qsizetype>(1, samples.size() - 1);
        QPainterPath line;
        for (int i = 0; i < samples.size(); ++i) {
            const QPointF pt(plot.left() + i * dx,
                             plot.bottom() - plot.height() * double(samples[i]) / double(top));
            if (i == 0)
                line.moveTo(pt);
            else
                line.lineTo(pt);
        }
        QPainterPath area = line;
        area.lineTo(plot.right(), plot.bottom());
        area.lineTo(plot.left(), plot.bottom());
        area.closeSubpath();
        QColor accent = pal.color(QPalette::Highlight);
        QColor fill = accent;
        fill.setAlpha(60);
        p.fillPath(area, fill);
        p.setPen(QPen(accent, 1.5));
        p.drawPath(line);
    }

    // Labels: caption and current rate on top, scale and span below.
    p.setPen(pal.color(QPalette::Text));
    const double now = m_source->rate(5);
    const QString head = (m_caption.isEmpty() ? QStringLiteral("Throughput") : m_caption)
                         + QStringLiteral(": ") + formatRate(now);
    p.drawText(QRectF(pad, pad / 2, width() - 2 * pad, fm.height()), Qt::AlignLeft | Qt::AlignVCenter,
               head);
    p.setPen(pal.color(QPalette::PlaceholderText));
    p.drawText(QRectF(pad, pad / 2, width() - 2 * pad, fm.height()),
               Qt::AlignRight | Qt::AlignVCenter, QStringLiteral("peak ") + formatRate(double(peak)));
    const QRectF bottom(pad, height() - fm.height() - pad / 4, width() - 2 * pad, fm.height());
    p.drawText(bottom, Qt::AlignLeft | Qt::AlignVCenter,
               QStringLiteral("−%1 min").arg(m_span / 60.0, 0, 'f', m_span % 60 ? 1 : 0));
    p.drawText(bottom, Qt::AlignRight | Qt::AlignVCenter, QStringLiteral("now"));
    p.drawText(bottom, Qt::AlignHCenter | Qt::AlignVCenter,
               QStringLiteral("scale ") + formatRate(double(top)));
}

} // namespace isocket::gui
