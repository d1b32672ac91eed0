#pragma once
// KeyedTableModel<Row>: the base of the GUI's table models. A subclass keeps its own state as
// the core's signals arrive and calls changed(); at most every FlushIntervalMs a single-shot
// timer asks the subclass for the rows to show (composeRows()) and applies the difference to
// what the views see, by key: removed ranges, inserted ranges, then one dataChanged over the
// rest. So a flood of small files costs a handful of notifications a second, views keep their
// selection and scroll position, and no model reset happens while the order of kept rows holds.
//
// Row must have a `QString key` member, unique within the model. Lives in the GUI thread.

#include <QAbstractTableModel>
#include <QElapsedTimer>
#include <QHash>
#include <QList>
#include <QTimer>

namespace isocket::gui {

template <typename Row>
class KeyedTableModel : public QAbstractTableModel
{
public:
    static constexpr int FlushIntervalMs = 100;

    explicit KeyedTableModel(QObject *parent = nullptr) : QAbstractTableModel(parent)
    {
        m_flushTimer.setSingleShot(true);
        m_flushTimer.setInterval(FlushIntervalMs);
        QObject::connect(&m_flushTimer, &QTimer::timeout, this, [this] { flush(); });
    }

    int rowCount(const QModelIndex &parent = QModelIndex()) const override
    {
        return parent.isValid() ? 0 : int(m_rows.size());
    }

    // The row shown at `row` (what data() reads); valid for 0 <= row < rowCount().
    const Row &rowAt(int row) const { return m_rows.at(row); }

    // Row index of `key`, or -1.
    int rowOf(const QString &key) const
    {
        for (int i = 0; i < m_rows.size(); ++i)
            if (m_rows.at(i).key == key)
                return i;
        return -1;
    }

    // Applies pending changes now (tests; and before the window is grabbed).
    void flush()
    {
        m_flushTimer.stop();
        if (!m_dirty)
            return;
        m_dirty = false;
        apply(composeRows());
    }

protected:
    // The rows to show now, in display order.
    virtual QList<Row> composeRows() const = 0;

    // Call after any change of the subclass's state; the views learn of it within
    // FlushIntervalMs.
    void changed()
    {
        m_dirty = true;
        if (!m_flushTimer.isActive())
            m_flushTimer.start();
    }

private:
    void apply(QList<Row> next)
    {
        QHash<QString, int> nextIndex;
        nextIndex.reserve(next.size());
        for (int i = 0; i < next.size(); ++i)
            nextIndex.insert(next.at(i).key, i);

        // Kept rows must appear in the same relative order; otherwise a reset is simpler.
        int last = -1;
        bool ordered = true;
        for (const Row &r : std::as_const(m_rows)) {
            const auto it = nextIndex.constFind(r.key);
            if (it == nextIndex.cend())
                continue;
            if (*it < last) {
                ordered = false;
                break;
            }
            last = *it;
        }
        if (!ordered) {
            beginResetModel();
            m_rows = std::move(next);
            endResetModel();
            return;
        }

        // Removals, bottom up, one notification per contiguous range.
        for (int i = int(m_rows.size()) - 1; i >= 0;) {
            if (nextIndex.contains(m_rows.at(i).key)) {
                --i;
                continue;
            }
            int first = i;
            while (first > 0 && !nextIndex.contains(m_rows.at(first - 1).key))
                --first;
            beginRemoveRows(QModelIndex(), first, i);
            m_rows.remove(first, i - first + 1);
            endRemoveRows();
            i = first - 1;
        }

        // Insertions, top down; kept rows take their new values silently (dataChanged below).
        int i = 0;
        for (int j = 0; j < next.size();) {
            if (i < m_rows.size() && m_rows.at(i).key == next.at(j).key) {
                m_rows[i] = next.at(j);
                ++i;
                ++j;
                continue;
            }
            int end = j;
            while (end < next.size() && (i >= m_rows.size() || m_rows.at(i).key != next.at(end).key))
                ++end;
            beginInsertRows(QModelIndex(), i, i + (end - j) - 1);
            for (int k = j; k < end; ++k)
                m_rows.insert(i + (k - j), next.at(k));
            endInsertRows();
            i += end - j;
            j = end;
        }

        if (!m_rows.isEmpty() && columnCount() > 0)
            Q_EMIT dataChanged(index(0, 0), index(int(m_rows.size()) - 1, columnCount() - 1));
    }

    QList<Row> m_rows;
    QTimer m_flushTimer;
    bool m_dirty = false;
};

} // namespace isocket::gui
