#pragma once
// LogModel: the log messages (time, level, category, message), fed by
// LogCapture::messageLogged. Two bounded queues, shown merged in the order they came: the last
// MaxLines debug and info lines, and apart from them the last MaxProblems warnings and errors,
// so that a burst of per-file info lines cannot push a warning out. LogFilterModel on top shows the levels at or above a minimum and
// the lines containing a text. Batched (KeyedTableModel), so a burst of messages costs a few
// notifications a second. GUI thread.

#include "gui/keyedtablemodel.h"
#include "gui/logcapture.h"

#include <QSortFilterProxyModel>

#include <deque>

namespace isocket::gui {

struct LogRow
{
    QString key;
    LogEntry entry;
};

class LogModel : public KeyedTableModel<LogRow>
{
    Q_OBJECT

public:
    static constexpr int MaxLines = 2000;    // debug and info
    static constexpr int MaxProblems = 500;  // warnings, critical and fatal

    enum Column { Time, Level, Category, Message, ColumnCount };
    enum Role { LevelRole = Qt::UserRole + 1 };

    explicit LogModel(QObject *parent = nullptr);

    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    void append(const isocket::gui::LogEntry &entry);

protected:
    QList<LogRow> composeRows() const override;

private:
    std::deque<LogRow> m_lines;    // debug and info, ≤ MaxLines
    std::deque<LogRow> m_problems; // warnings and up, ≤ MaxProblems
    quint64 m_next = 1;
};

class LogFilterModel : public QSortFilterProxyModel
{
    Q_OBJECT

public:
    explicit LogFilterModel(QObject *parent = nullptr);

    void setMinimumLevel(QtMsgType type);
    QtMsgType minimumLevel() const { return m_minimum; }
    void setText(const QString &text);
    QString text() const { return m_text; }

protected:
    bool filterAcceptsRow(int sourceRow, const QModelIndex &sourceParent) const override;

private:
    QtMsgType m_minimum = QtInfoMsg;
    QString m_text;
};

} // namespace isocket::gui
