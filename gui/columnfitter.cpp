#include "gui/columnfitter.h"

#include <QEvent>
#include <QHeaderView>
#include <QTableView>

namespace isocket::gui {

ColumnFitter::ColumnFitter(QTableView *view, int nameColumn, int comfortable)
    : QObject(view), m_view(view), m_viewport(view->viewport()), m_name(nameColumn),
      m_comfortable(comfortable)
{
    QHeaderView *h = view->horizontalHeader();
    h->setStretchLastSection(false);
    h->setSectionResizeMode(QHeaderView::Interactive);
    connect(h, &QHeaderView::sectionResized, this, [this](int logical, int, int size) {
        if (!m_fitting && logical != m_name)
            m_preferred.insert(logical, size); // the operator's (or a restored) width
    });
    m_viewport->installEventFilter(this);
}

void ColumnFitter::setMinimum(int column, int width)
{
    m_minimum.insert(column, width);
}

int ColumnFitter::minimum(int column) const
{
    const int preferred =
        m_preferred.value(column, m_view->horizontalHeader()->sectionSize(column));
    const int floor = m_view->fontMetrics().averageCharWidth() * 4;
    return m_minimum.value(column, qMax(floor, qMin(preferred, preferred / 2)));
}

bool ColumnFitter::eventFilter(QObject *watched, QEvent *event)
{
    if (event->type() == QEvent::Resize && watched == m_viewport)
        fit();
    return QObject::eventFilter(watched, event);
}

void ColumnFitter::fit()
{
    QHeaderView *h = m_view->horizontalHeader();
    const int columns = h->count();
    if (columns == 0 || m_name >= columns)
        return;
    const int avail = m_view->viewport()->width();
    QList<int> others;
    int preferredSum = 0;
    int minimumSum = 0;
    for (int c = 0; c < columns; ++c) {
        if (c == m_name || h->isSectionHidden(c))
            continue;
        others.append(c);
        if (!m_preferred.contains(c))
            m_preferred.insert(c, h->sectionSize(c));
        preferredSum += m_preferred.value(c);
        minimumSum += qMin(minimum(c), m_preferred.value(c));
    }
    const int want = qMin(m_comfortable, avail / 2);
    // What the others must give up so that the name column gets `want`, within their minimums.
    const int need = qBound(0, want - (avail - preferredSum), preferredSum - minimumSum);
    const int reducible = preferredSum - minimumSum;
    m_fitting = true;
    int given = 0;
    for (int i = 0; i < others.size(); ++i) {
        const int c = others.at(i);
        const int pref = m_preferred.value(c);
        const int slack = pref - qMin(minimum(c), pref);
        int cut = reducible > 0 ? int(qint64(need) * slack / reducible) : 0;
        if (i == others.size() - 1)
            cut = qMin(slack, need - given); // rounding leftovers go to the last one
        given += cut;
        h->resizeSection(c, pref - cut);
    }
    h->resizeSection(m_name, qMax(want, avail - (preferredSum - given)));
    m_fitting = false;
}

} // namespace isocket::gui
