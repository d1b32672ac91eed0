#include "gui/windowstate.h"

#include <QAbstractItemView>
#include <QHeaderView>
#include <QMainWindow>
#include <QSettings>
#include <QSplitter>

namespace isocket::gui {

static QString headerKey(const QHeaderView *h)
{
    const QObject *owner = h->parent() ? h->parent() : h;
    return QStringLiteral("columns/") + owner->objectName();
}

void WindowState::restore() const
{
    QSettings s;
    s.beginGroup(group);
    if (window) {
        window->restoreGeometry(s.value(QStringLiteral("geometry")).toByteArray());
        window->restoreState(s.value(QStringLiteral("state")).toByteArray());
    }
    for (QHeaderView *h : headers)
        h->restoreState(s.value(headerKey(h)).toByteArray());
    for (QSplitter *sp : splitters)
        sp->restoreState(s.value(QStringLiteral("splitters/") + sp->objectName()).toByteArray());
}

void WindowState::save() const
{
    QSettings s;
    s.beginGroup(group);
    if (window) {
        s.setValue(QStringLiteral("geometry"), window->saveGeometry());
        s.setValue(QStringLiteral("state"), window->saveState());
    }
    for (QHeaderView *h : headers)
        s.setValue(headerKey(h), h->saveState());
    for (QSplitter *sp : splitters)
        s.setValue(QStringLiteral("splitters/") + sp->objectName(), sp->saveState());
}

} // namespace isocket::gui
