#include "gui/elidingdelegate.h"

#include <QApplication>
#include <QPainter>

namespace isocket::gui {

QString elideKeepingTail(const QString &text, const QFontMetrics &fm, int width, int tail)
{
    if (fm.horizontalAdvance(text) <= width)
        return text;
    const QString ellipsis(QChar(0x2026));
    tail = qMin(tail, int(text.size()));
    // Shorten the tail only when it cannot fit at all: its end is what differs.
    while (tail > 1 && fm.horizontalAdvance(ellipsis + text.right(tail)) > width)
        --tail;
    const QString end = ellipsis + text.right(tail);
    // The longest head that fits before "…tail" (binary search: advance grows with length).
    int lo = 0, hi = int(text.size()) - tail;
    while (lo < hi) {
        const int mid = (lo + hi + 1) / 2;
        if (fm.horizontalAdvance(text.left(mid) + end) <= width)
            lo = mid;
        else
            hi = mid - 1;
    }
    return text.left(lo) + end;
}

TailElidingDelegate::TailElidingDelegate(QObject *parent) : QStyledItemDelegate(parent) {}

QString TailElidingDelegate::displayText(const QModelIndex &index, const QFontMetrics &fm,
                                         int width) const
{
    return elideKeepingTail(index.data(Qt::DisplayRole).toString(), fm, width);
}

void TailElidingDelegate::paint(QPainter *painter, const QStyleOptionViewItem &option,
                                const QModelIndex &index) const
{
    QStyleOptionViewItem opt = option;
    initStyleOption(&opt, index);
    const QWidget *widget = option.widget;
    QStyle *style = widget ? widget->style() : QApplication::style();
    const QRect textRect = style->subElementRect(QStyle::SE_ItemViewItemText, &opt, widget);
    // The style's own text margins (QCommonStyle: PM_FocusFrameHMargin + 1 on each side).
    const int margin = (style->pixelMetric(QStyle::PM_FocusFrameHMargin, nullptr, widget) + 1) * 2;
    opt.text = elideKeepingTail(opt.text, opt.fontMetrics, textRect.width() - margin);
    opt.textElideMode = Qt::ElideRight; // a no-op once it fits
    style->drawControl(QStyle::CE_ItemViewItem, &opt, painter, widget);
}

} // namespace isocket::gui
