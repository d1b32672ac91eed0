#pragma once
// The health widgets of the windows (issue 16). HeadlineBar: the verdict at the top of a
// window, as a shape, a word and the reason in words, coloured (colour is only an extra).
// NoticeArea: one framed row per failing state (gui/notices.h), each saying what to do, with a
// button for the action that helps; setNotices() replaces the rows, so a state that is over
// loses its row. Neither does I/O or holds a core object: the window feeds them values and
// wires actionTriggered() to the agent. GUI thread.

#include "gui/notices.h"

#include <QFrame>
#include <QList>
#include <QWidget>

class QLabel;
class QPushButton;
class QVBoxLayout;

namespace isocket::gui {

class HeadlineBar : public QFrame
{
    Q_OBJECT

public:
    explicit HeadlineBar(QWidget *parent = nullptr);

    void setHeadline(const Headline &headline);
    const Headline &headline() const { return m_headline; }
    QString text() const; // "Failing: Receiver disk full since 22:25"

private:
    Headline m_headline;
    QLabel *m_icon;
    QLabel *m_word;
    QLabel *m_text;
};

class NoticeArea : public QWidget
{
    Q_OBJECT

public:
    explicit NoticeArea(QWidget *parent = nullptr);

    void setNotices(const QList<Notice> &notices);
    const QList<Notice> &notices() const { return m_notices; }
    bool has(NoticeKind kind) const;
    QString text(NoticeKind kind) const; // empty when not shown
    QPushButton *button(NoticeKind kind) const; // null when not shown or without an action
    QString allText() const; // every notice, one a line

Q_SIGNALS:
    void actionTriggered(isocket::gui::NoticeAction action);

private:
    struct Row
    {
        QFrame *frame;
        QPushButton *button;
    };
    QList<Notice> m_notices;
    QList<Row> m_rows; // one per notice, same order
    QVBoxLayout *m_layout;
};

} // namespace isocket::gui
