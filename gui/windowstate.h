#pragma once
// Persisting a window's geometry and state (docks, splitters) and the column layouts of its
// tables in QSettings, under a group named after the window. GUI thread.

#include <QList>
#include <QString>

class QMainWindow;
class QHeaderView;
class QSplitter;

namespace isocket::gui {

struct WindowState
{
    QString group;                   // "senderWindow"
    QMainWindow *window = nullptr;
    QList<QHeaderView *> headers;    // by objectName of their view
    QList<QSplitter *> splitters;    // by objectName

    void restore() const;
    void save() const;
};

} // namespace isocket::gui
