#include "gui/settingsdialog.h"

#include "core/iniedit.h"
#include "gui/offthread.h"

#include <QDialogButtonBox>
#include <QFile>
#include <QFormLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPushButton>
#include <QVBoxLayout>

#include <memory>
#include <optional>

namespace isocket::gui {

namespace {

// "64M" for 64 MiB, "1500" for what no suffix divides: what the parser reads back.
QString sizeText(qint64 bytes)
{
    static const std::pair<qint64, char> units[] = {
        {1LL << 40, 'T'}, {1LL << 30, 'G'}, {1LL << 20, 'M'}, {1LL << 10, 'K'}};
    for (const auto &[scale, unit] : units)
        if (bytes >= scale && bytes % scale == 0)
            return QString::number(bytes / scale) + QLatin1Char(unit);
    return QString::number(bytes);
}

QString durationText(qint64 ms)
{
    if (ms > 0 && ms % 60000 == 0)
        return QString::number(ms / 60000) + QLatin1Char('m');
    if (ms % 1000 == 0)
        return QString::number(ms / 1000) + QLatin1Char('s');
    return QString::number(ms) + QStringLiteral("ms");
}

QString ageText(qint64 secs)
{
    if (secs > 0 && secs % 86400 == 0)
        return QString::number(secs / 86400) + QLatin1Char('d');
    if (secs > 0 && secs % 3600 == 0)
        return QString::number(secs / 3600) + QLatin1Char('h');
    if (secs > 0 && secs % 60 == 0)
        return QString::number(secs / 60) + QLatin1Char('m');
    return QString::number(secs) + QLatin1Char('s');
}

// The value of `key` in `config`, as the file would say it.
QString valueText(const Config &c, const QString &key)
{
    if (key == QLatin1String("send.bwlimit"))
        return sizeText(c.bwlimit);
    if (key == QLatin1String("send.jobs"))
        return QString::number(c.jobs);
    if (key == QLatin1String("send.window"))
        return QString::number(c.window);
    if (key == QLatin1String("send.retry_interval"))
        return durationText(c.retryIntervalMs);
    if (key == QLatin1String("send.retry_max"))
        return durationText(c.retryMaxMs);
    if (key == QLatin1String("receive.reserve"))
        return sizeText(c.reserveBytes);
    if (key == QLatin1String("receive.threads"))
        return QString::number(c.receiveThreads);
    if (key == QLatin1String("receive.partial_max_age"))
        return ageText(c.partialMaxAgeSecs);
    if (key == QLatin1String("receive.sync"))
        return c.syncPerFile ? QStringLiteral("file") : QStringLiteral("auto");
    if (key == QLatin1String("receive.arrival"))
        return c.arrivalByLink ? QStringLiteral("link") : QStringLiteral("rename");
    return QString();
}

const Config::KeyInfo *infoOf(const QString &key)
{
    for (const Config::KeyInfo &k : Config::keys())
        if (k.key == key)
            return &k;
    return nullptr;
}

// Config::set() says "<origin>: <key>: <why>"; with no origin the key leads.
QString withoutOrigin(QString message)
{
    if (message.startsWith(QLatin1String(": ")))
        message.remove(0, 2);
    return message;
}

} // namespace

QStringList SettingsDialog::keysOf(Side side)
{
    if (side == Side::Sender)
        return {QStringLiteral("send.bwlimit"), QStringLiteral("send.jobs"),
                QStringLiteral("send.window"), QStringLiteral("send.retry_interval"),
                QStringLiteral("send.retry_max")};
    return {QStringLiteral("receive.reserve"), QStringLiteral("receive.threads"),
            QStringLiteral("receive.partial_max_age"), QStringLiteral("receive.sync"),
            QStringLiteral("receive.arrival")};
}

QStringList SettingsDialog::liveKeys(Side side)
{
    return side == Side::Sender ? QStringList{QStringLiteral("send.bwlimit")} : QStringList{};
}

SettingsDialog::SettingsDialog(Side side, const QString &configFile, QWidget *parent)
    : QDialog(parent), m_side(side), m_configFile(configFile)
{
    setObjectName(QStringLiteral("settingsDialog"));
    setWindowTitle(QStringLiteral("isocket — settings"));
    auto *layout = new QVBoxLayout(this);
    auto *where = new QLabel(QStringLiteral("Written to %1, the file the console program reads.")
                                 .arg(m_configFile.toHtmlEscaped()),
                             this);
    where->setWordWrap(true);
    where->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(where);

    auto *form = new QFormLayout;
    const QStringList live = liveKeys(side);
    for (const QString &key : keysOf(side)) {
        const Config::KeyInfo *info = infoOf(key);
        auto *box = new QWidget(this);
        auto *v = new QVBoxLayout(box);
        v->setContentsMargins(0, 0, 0, 0);
        auto *row = new QHBoxLayout;
        auto *edit = new QLineEdit(box);
        edit->setObjectName(key);
        auto *hint = new QLabel(live.contains(key) ? QStringLiteral("applies at once")
                                                   : QStringLiteral("takes effect after restart"),
                                box);
        hint->setEnabled(false); // the palette's muted text
        row->addWidget(edit, 1);
        row->addWidget(hint);
        v->addLayout(row);
        auto *message = new QLabel(box);
        message->setWordWrap(true);
        message->setStyleSheet(QStringLiteral("color: #b00020"));
        message->hide();
        v->addWidget(message);
        if (info) {
            edit->setPlaceholderText(info->valueName);
            edit->setToolTip(QStringLiteral("%1: %2").arg(key, info->description));
        }
        auto *label = new QLabel(QStringLiteral("%1:").arg(key), this);
        label->setBuddy(edit);
        label->setToolTip(edit->toolTip());
        form->addRow(label, box);
        m_fields.insert(key, edit);
        m_messages.insert(key, message);
        m_hints.insert(key, hint);
        connect(edit, &QLineEdit::textEdited, message, [message] {
            message->clear();
            message->hide();
        });
    }
    layout->addLayout(form);
    m_status = new QLabel(this);
    m_status->setWordWrap(true);
    layout->addWidget(m_status);
    m_buttons = new QDialogButtonBox(QDialogButtonBox::Save | QDialogButtonBox::Cancel, this);
    connect(m_buttons, &QDialogButtonBox::accepted, this, [this] { save(); });
    connect(m_buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);
    layout->addWidget(m_buttons);
    load();
}

void SettingsDialog::load()
{
    // A few lines of text: read here; the write, which syncs the disk, is not.
    QByteArray text;
    QFile file(m_configFile);
    if (file.exists()) {
        if (!file.open(QIODevice::ReadOnly))
            m_status->setText(QStringLiteral("Cannot read %1: %2")
                                  .arg(m_configFile, file.errorString()));
        else
            text = file.readAll();
        if (auto r = m_loaded.loadFile(m_configFile); !r)
            m_status->setText(r.error().message);
    }
    for (auto it = m_fields.cbegin(); it != m_fields.cend(); ++it) {
        const QString inFile = iniValue(text, it.key());
        const QString shown = inFile.isNull() ? valueText(m_loaded, it.key()) : inFile.trimmed();
        it.value()->setText(shown);
        m_initial.insert(it.key(), shown);
    }
}

void SettingsDialog::setBusy(bool busy)
{
    m_buttons->setEnabled(!busy);
    for (QLineEdit *edit : std::as_const(m_fields))
        edit->setReadOnly(busy);
}

bool SettingsDialog::save()
{
    IniValues values;
    QStringList changed;
    bool valid = true;
    for (const QString &key : keysOf(m_side)) {
        QLineEdit *edit = m_fields.value(key);
        QLabel *message = m_messages.value(key);
        const QString text = edit->text().trimmed();
        message->clear();
        message->hide();
        if (text == m_initial.value(key))
            continue;
        // The console's own check of the value: its message names the key.
        Config check = m_loaded;
        if (auto r = check.set(key, text, QString()); !r) {
            message->setText(withoutOrigin(r.error().message));
            message->show();
            if (valid)
                edit->setFocus();
            valid = false;
            continue;
        }
        values.append({key, text});
        changed.append(key);
    }
    if (!valid) {
        m_status->setText(QStringLiteral("Not saved: correct the values marked above."));
        return false;
    }
    if (values.isEmpty()) {
        accept();
        return true;
    }
    m_status->setText(QStringLiteral("Saving…"));
    setBusy(true);
    // Off the GUI thread: the write syncs the file and its directory. The answer comes back to
    // this dialog (dropped if it is gone by then; the file is written all the same).
    struct Outcome
    {
        std::optional<Config> config;
        QString error;
    };
    runOffThread<Outcome>(
        this,
        [path = m_configFile, values] {
            auto r = writeIniValues(path, values);
            return r ? Outcome{r.value(), QString()} : Outcome{{}, r.error().message};
        },
        [this, changed](const Outcome &result) {
            setBusy(false);
            if (!result.config) {
                m_status->setText(QStringLiteral("Not saved: ") + result.error);
                Q_EMIT saveFailed(result.error);
                return;
            }
            for (const QString &key : changed)
                m_initial.insert(key, m_fields.value(key)->text().trimmed());
            m_status->setText(QStringLiteral("Saved."));
            Q_EMIT saved(*result.config, changed);
            accept();
        });
    return true;
}

} // namespace isocket::gui
