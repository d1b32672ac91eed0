#pragma once
// Elision that keeps what tells similar file names apart. Data files share long heads
// (DC20261205T120000-00Z.dat, DC20261205T120005-00Z.dat…): Qt's middle elision leaves rows of
// identical "DC2026120…0-00Z.dat". elideKeepingTail() keeps the last TailChars characters
// whole and shortens the head instead; TailElidingDelegate draws a column that way (for the
// File columns). The delegate is owned by its view (parent). GUI thread.

#include <QFontMetrics>
#include <QStyledItemDelegate>

namespace isocket::gui {

// `text` as it fits in `width` pixels: unchanged when it fits; else as much of the head as fits,
// "…", and the last `tail` characters (fewer only when even those do not fit).
QString elideKeepingTail(const QString &text, const QFontMetrics &fm, int width, int tail = 16);

class TailElidingDelegate : public QStyledItemDelegate
{
    Q_OBJECT

public:
    explicit TailElidingDelegate(QObject *parent);

    // The text shown for `index` in a cell of `width` pixels (what paint() draws; tests).
    QString displayText(const QModelIndex &index, const QFontMetrics &fm, int width) const;

    void paint(QPainter *painter, const QStyleOptionViewItem &option,
               const QModelIndex &index) const override;
};

} // namespace isocket::gui
