#include "gui/logpane.h"

#include "gui/logmodel.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QScrollBar>
#include <QTableView>
#include <QVBoxLayout>

namespace isocket::gui {

LogPane::LogPane(LogModel *model, QWidget *parent)
    : QWidget(parent),
      m_filter(new LogFilterModel(this)),
      m_view(new QTableView(this)),
      m_level(new QComboBox(this)),
      m_text(new QLineEdit(this))
{
    m_filter->setSourceModel(model);

    auto *levelLabel = new QLabel(QStringLiteral("Le&vel:"), this);
    levelLabel->setBuddy(m_level);
    m_level->addItem(QStringLiteral("Debug and above"), int(QtDebugMsg));
    m_level->addItem(QStringLiteral("Info and above"), int(QtInfoMsg));
    m_level->addItem(QStringLiteral("Warnings and errors"), int(QtWarningMsg));
    m_level->addItem(QStringLiteral("Errors only"), int(QtCriticalMsg));
    m_level->setCurrentIndex(1);
    m_level->setToolTip(QStringLiteral("Show messages at this level and above. Debug messages "
                                       "appear only when enabled (--verbose)."));
    connect(m_level, &QComboBox::currentIndexChanged, this, [this](int i) {
        m_filter->setMinimumLevel(QtMsgType(m_level->itemData(i).toInt()));
    });

    auto *textLabel = new QLabel(QStringLiteral("F&ilter:"), this);
    textLabel->setBuddy(m_text);
    m_text->setPlaceholderText(QStringLiteral("text in message or category"));
    m_text->setClearButtonEnabled(true);
    connect(m_text, &QLineEdit::textChanged, m_filter, &LogFilterModel::setText);

    m_view->setModel(m_filter);
    m_view->setObjectName(QStringLiteral("logView"));
    m_view->setAccessibleName(QStringLiteral("Log"));
    m_view->verticalHeader()->hide();
    m_view->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    m_view->verticalHeader()->setDefaultSectionSize(fontMetrics().height() + 4);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->setTabKeyNavigation(false); // Tab leaves the table
    m_view->setWordWrap(false);
    m_view->setShowGrid(false);
    m_view->setAlternatingRowColors(true);
    m_view->horizontalHeader()->setStretchLastSection(true);
    m_view->horizontalHeader()->resizeSection(LogModel::Time, fontMetrics().horizontalAdvance(QStringLiteral("00:00:00.000")) + 16);
    m_view->horizontalHeader()->resizeSection(LogModel::Level, fontMetrics().horizontalAdvance(QStringLiteral("critical")) + 40);
    m_view->horizontalHeader()->resizeSection(LogModel::Category, fontMetrics().horizontalAdvance(QStringLiteral("isocket.proto")) + 16);

    // Follow the newest line unless the operator scrolled up to read.
    QScrollBar *bar = m_view->verticalScrollBar();
    connect(bar, &QScrollBar::valueChanged, this,
            [this, bar](int value) { m_follow = value >= bar->maximum() - 2; });
    connect(m_filter, &QAbstractItemModel::rowsInserted, this, [this] {
        if (m_follow)
            m_view->scrollToBottom();
    });

    auto *bar2 = new QHBoxLayout;
    bar2->addWidget(levelLabel);
    bar2->addWidget(m_level);
    bar2->addSpacing(12);
    bar2->addWidget(textLabel);
    bar2->addWidget(m_text, 1);
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addLayout(bar2);
    layout->addWidget(m_view, 1);
    setTabOrder(m_level, m_text);
    setTabOrder(m_text, m_view);
}

void LogPane::showLinesAbout(const QString &text)
{
    m_level->setCurrentIndex(0);
    m_text->setText(text);
    m_follow = true;
    m_view->scrollToBottom();
}

} // namespace isocket::gui
