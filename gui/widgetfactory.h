#pragma once
// Small builders shared by the sender and receiver windows, so both look and behave alike:
// a read-only row-selecting table, a bold caption whose mnemonic focuses its buddy, and a
// captioned section. GUI thread; every widget is created with the given parent.

#include <QString>

class QLabel;
class QTableView;
class QWidget;

namespace isocket::gui {

QTableView *makeTable(const QString &name, const QString &accessible, QWidget *parent);

// A caption whose mnemonic moves the focus to `buddy`.
QLabel *heading(const QString &text, QWidget *buddy, QWidget *parent);

// `title` above `body`, which takes the extra space.
QWidget *section(QLabel *title, QWidget *body, QWidget *parent);

} // namespace isocket::gui
