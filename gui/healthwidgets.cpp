#include "gui/healthwidgets.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QPushButton>
#include <QVBoxLayout>

namespace isocket::gui {

namespace {

// A light background that goes with a badge's colour: the colour faded into white (a tint of
// its own where the badge has one), so dark text of that colour stays readable on it.
QColor tintOf(Badge badge)
{
    const QColor tint = badgeTint(badge);
    if (tint.isValid())
        return tint;
    const QColor c = badgeColor(badge);
    constexpr double keep = 0.12;
    return QColor::fromRgbF(float(c.redF() * keep + (1 - keep)), float(c.greenF() * keep + (1 - keep)),
                            float(c.blueF() * keep + (1 - keep)));
}

} // namespace

HeadlineBar::HeadlineBar(QWidget *parent)
    : QFrame(parent), m_icon(new QLabel(this)), m_word(new QLabel(this)), m_text(new QLabel(this))
{
    setObjectName(QStringLiteral("headline"));
    setAccessibleName(QStringLiteral("Overall state"));
    m_word->setObjectName(QStringLiteral("headlineWord"));
    m_text->setObjectName(QStringLiteral("headlineText"));
    m_text->setWordWrap(true);
    m_text->setTextFormat(Qt::PlainText);
    m_text->setTextInteractionFlags(Qt::TextSelectableByMouse);
    QFont f = font();
    f.setBold(true);
    f.setPointSizeF(f.pointSizeF() * 1.3);
    m_word->setFont(f);
    m_text->setFont(f);
    auto *l = new QHBoxLayout(this);
    l->setContentsMargins(8, 6, 8, 6);
    l->addWidget(m_icon);
    l->addWidget(m_word);
    l->addWidget(m_text, 1);
    setHeadline(Headline{Badge::Waiting, QStringLiteral("Starting"), QStringLiteral("Starting"),
                         QString()});
}

void HeadlineBar::setHeadline(const Headline &headline)
{
    m_headline = headline;
    const QColor c = badgeColor(headline.badge);
    setStyleSheet(QStringLiteral("QFrame#headline { background: %1; border: 1px solid %2; "
                                 "border-radius: 4px; } QLabel { color: %2; }")
                      .arg(tintOf(headline.badge).name(), c.name()));
    const int size = m_text->fontMetrics().height() * 3 / 2;
    m_icon->setPixmap(badgeIcon(headline.badge).pixmap(QSize(size, size), devicePixelRatioF()));
    // The word is said once: "Behind: 5,990 files…" needs no "Behind" before it.
    const bool wordInText = headline.text.startsWith(headline.word, Qt::CaseInsensitive);
    m_word->setText(headline.word + QLatin1Char(':'));
    m_word->setVisible(!wordInText);
    m_text->setText(headline.text);
    setToolTip(headline.tooltip);
}

QString HeadlineBar::text() const
{
    return m_word->isVisibleTo(this) ? m_word->text() + QLatin1Char(' ') + m_text->text()
                                     : m_text->text();
}

NoticeArea::NoticeArea(QWidget *parent) : QWidget(parent), m_layout(new QVBoxLayout(this))
{
    setObjectName(QStringLiteral("notices"));
    setAccessibleName(QStringLiteral("What needs attention"));
    m_layout->setContentsMargins(0, 0, 0, 0);
    m_layout->setSpacing(4);
    hide();
}

void NoticeArea::setNotices(const QList<Notice> &notices)
{
    if (notices == m_notices)
        return;
    // Rebuilt whole: a handful of rows, changed only when a state comes or goes.
    for (const Row &r : std::as_const(m_rows)) {
        m_layout->removeWidget(r.frame);
        r.frame->hide();
        r.frame->deleteLater();
    }
    m_rows.clear();
    m_notices = notices;
    for (const Notice &n : notices) {
        auto *frame = new QFrame(this);
        frame->setObjectName(QStringLiteral("notice"));
        frame->setStyleSheet(QStringLiteral("QFrame#notice { background: %1; border: 1px solid "
                                            "%2; border-radius: 3px; } QLabel { color: #202020; }")
                                 .arg(tintOf(n.badge).name(), badgeColor(n.badge).name()));
        auto *icon = new QLabel(frame);
        const int size = fontMetrics().height();
        icon->setPixmap(badgeIcon(n.badge).pixmap(QSize(size, size), devicePixelRatioF()));
        icon->setAlignment(Qt::AlignTop);
        icon->setContentsMargins(0, 2, 0, 0); // level with the first line of text
        auto *label = new QLabel(n.text, frame);
        label->setWordWrap(true);
        label->setTextFormat(Qt::PlainText);
        label->setTextInteractionFlags(Qt::TextSelectableByMouse);
        auto *l = new QHBoxLayout(frame);
        l->setContentsMargins(6, 4, 6, 4);
        l->addWidget(icon, 0, Qt::AlignTop);
        l->addWidget(label, 1);
        QPushButton *button = nullptr;
        if (n.action != NoticeAction::None) {
            button = new QPushButton(n.actionText, frame);
            const NoticeAction action = n.action;
            connect(button, &QPushButton::clicked, this,
                    [this, action] { Q_EMIT actionTriggered(action); });
            l->addWidget(button, 0, Qt::AlignVCenter);
        }
        m_layout->addWidget(frame);
        m_rows.append(Row{frame, button});
    }
    setVisible(!m_notices.isEmpty());
}

bool NoticeArea::has(NoticeKind kind) const
{
    return std::any_of(m_notices.cbegin(), m_notices.cend(),
                       [kind](const Notice &n) { return n.kind == kind; });
}

QString NoticeArea::text(NoticeKind kind) const
{
    for (const Notice &n : m_notices)
        if (n.kind == kind)
            return n.text;
    return QString();
}

QPushButton *NoticeArea::button(NoticeKind kind) const
{
    for (int i = 0; i < m_notices.size(); ++i)
        if (m_notices.at(i).kind == kind)
            return m_rows.at(i).button;
    return nullptr;
}

QString NoticeArea::allText() const
{
    QStringList lines;
    for (const Notice &n : m_notices)
        lines << n.text;
    return lines.join(QLatin1Char('\n'));
}

} // namespace isocket::gui
