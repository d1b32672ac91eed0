#pragma once
// LogPane: the log messages of the process in a table, with a minimum level ("&Level") and a
// text filter ("F&ilter"); follows the newest line while scrolled to the bottom. Owns its
// LogFilterModel; shows a LogModel it does not own. GUI thread.

#include <QWidget>

class QComboBox;
class QLineEdit;
class QTableView;

namespace isocket::gui {

class LogModel;
class LogFilterModel;

class LogPane : public QWidget
{
    Q_OBJECT

public:
    explicit LogPane(LogModel *model, QWidget *parent = nullptr);

    QTableView *view() const { return m_view; }
    QComboBox *levelBox() const { return m_level; }
    LogFilterModel *filterModel() const { return m_filter; }
    QLineEdit *textBox() const { return m_text; }
    // "Show in log": the lines about `text` (a file's name), of every level, the newest shown.
    void showLinesAbout(const QString &text);

private:
    LogFilterModel *m_filter;
    QTableView *m_view;
    QComboBox *m_level;
    QLineEdit *m_text;
    bool m_follow = true;
};

} // namespace isocket::gui
