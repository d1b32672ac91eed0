#pragma once
// ColumnFitter: keeps a table's name column (the File column) the last to shrink. The other
// columns have a preferred width (what the window or the operator set) and a minimum; the
// name column takes what is left. When the view gets narrow the other columns give way first,
// down to their minimums, so that the name column keeps at least half the width (or its
// comfortable width, if smaller); only then does the view scroll sideways.
//
// A child of the view; watches its viewport's size; follows the operator's own resizing of
// the other columns (their new width becomes the preferred one). GUI thread.

#include <QHash>
#include <QList>
#include <QObject>

class QTableView;

namespace isocket::gui {

class ColumnFitter : public QObject
{
    Q_OBJECT

public:
    // `comfortable`: the name column's width at which it stops asking the others to shrink.
    ColumnFitter(QTableView *view, int nameColumn, int comfortable);

    // The other columns' minimum (default: half their preferred width, at least 4 characters).
    void setMinimum(int column, int width);
    int minimum(int column) const;
    // Lays the columns out for the viewport's width now.
    void fit();

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    QTableView *m_view;
    // The view's viewport, whose resizes we watch. Compared, never called through, in
    // eventFilter(): events also come while the view is being destroyed.
    QObject *m_viewport;
    int m_name;
    int m_comfortable;
    QHash<int, int> m_preferred;
    QHash<int, int> m_minimum;
    bool m_fitting = false;
};

} // namespace isocket::gui
