#include "gui/progressdelegate.h"

#include <QApplication>
#include <QPainter>
#include <QStyleOptionProgressBar>

namespace isocket::gui {

ProgressDelegate::ProgressDelegate(int role, QObject *parent)
    : QStyledItemDelegate(parent), m_role(role)
{
}

void ProgressDelegate::paint(QPainter *painter, const QStyleOptionViewItem &option,
                             const QModelIndex &index) const
{
    const QVariant v = index.data(m_role);
    if (!v.isValid() || v.toInt() < 0) {
        QStyledItemDelegate::paint(painter, option, index);
        return;
    }
    // Background and selection as for any cell, then the bar inside a small margin.
    QStyleOptionViewItem cell = option;
    initStyleOption(&cell, index);
    cell.text.clear();
    const QWidget *widget = option.widget;
    QStyle *style = widget ? widget->style() : QApplication::style();
    style->drawControl(QStyle::CE_ItemViewItem, &cell, painter, widget);

    QStyleOptionProgressBar bar;
    bar.initFrom(widget);
    const int margin = qMax(2, option.rect.height() / 8);
    bar.rect = option.rect.adjusted(margin, margin, -margin, -margin);
    bar.state = option.state | QStyle::State_Horizontal;
    bar.minimum = 0;
    bar.maximum = 100;
    bar.progress = qBound(0, v.toInt(), 100);
    bar.text = QStringLiteral("%1 %").arg(bar.progress);
    bar.textVisible = true;
    bar.textAlignment = Qt::AlignCenter;
    style->drawControl(QStyle::CE_ProgressBar, &bar, painter, widget);
}

QSize ProgressDelegate::sizeHint(const QStyleOptionViewItem &option, const QModelIndex &index) const
{
    QSize s = QStyledItemDelegate::sizeHint(option, index);
    s.setWidth(qMax(s.width(), option.fontMetrics.horizontalAdvance(QStringLiteral("100 %")) * 3));
    return s;
}

} // namespace isocket::gui
