#pragma once
// ProgressDelegate: draws a progress bar (the style's own) in a cell whose `role` holds a
// percentage 0..100; a cell with a negative or missing value is drawn as plain text. Views
// own it (parent). GUI thread.

#include <QStyledItemDelegate>

namespace isocket::gui {

class ProgressDelegate : public QStyledItemDelegate
{
    Q_OBJECT

public:
    ProgressDelegate(int role, QObject *parent);

    void paint(QPainter *painter, const QStyleOptionViewItem &option,
               const QModelIndex &index) const override;
    QSize sizeHint(const QStyleOptionViewItem &option, const QModelIndex &index) const override;

private:
    int m_role;
};

} // namespace isocket::gui
