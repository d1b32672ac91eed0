#include "gui/startupdialog.h"

#include "gui/statevisuals.h"

#include <QDialogButtonBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QPushButton>
#include <QGroupBox>
#include <QLabel>
#include <QLineEdit>
#include <QRadioButton>
#include <QSettings>
#include <QStackedWidget>
#include <QVBoxLayout>

namespace isocket::gui {

namespace {
QString hostPort(const QString &host, quint16 port)
{
    return (host.contains(QLatin1Char(':')) ? QLatin1Char('[') + host + QLatin1Char(']') : host)
           + QLatin1Char(':') + QString::number(port);
}
} // namespace

StartupDialog::StartupDialog(const Config &config, QWidget *parent, std::optional<Role> current)
    : QDialog(parent), m_config(config)
{
    setWindowTitle(QStringLiteral("isocket — start"));
    setWindowIcon(appIcon());
    QSettings s;
    s.beginGroup(QStringLiteral("startup"));
    // The answers remembered last time; reopened from a window: the window's own settings.
    auto pick = [&](const QString &key, const QVariant &fallback) {
        return current ? fallback.toString() : s.value(key, fallback).toString();
    };

    auto *intro = new QLabel(QStringLiteral("Which role does this machine play?"), this);
    // Alt+S is the Start button.
    m_sender = new QRadioButton(QStringLiteral("S&ender — an edge device that ships its data files"), this);
    m_receiver = new QRadioButton(QStringLiteral("Re&ceiver — the central server (DRMS) that stores them"), this);
    const bool receiver = current ? *current == Role::Receiver
                                  : s.value(QStringLiteral("role")).toString()
                                        == QLatin1String("receiver");
    (receiver ? m_receiver : m_sender)->setChecked(true);

    m_pages = new QStackedWidget(this);
    auto *senderPage = new QWidget(m_pages);
    auto *sf = new QFormLayout(senderPage);
    m_dataRoot = new QLineEdit(pick(QStringLiteral("dataRoot"), config.dataRoot), senderPage);
    m_to = new QLineEdit(pick(QStringLiteral("to"), receiverListText(config.receivers())), senderPage);
    m_source = new QLineEdit(pick(QStringLiteral("source"), config.source), senderPage);
    m_source->setPlaceholderText(config.effectiveSource());
    m_dataRoot->setObjectName(QStringLiteral("dataRoot"));
    m_dataRoot->setToolTip(QStringLiteral("Where the producer writes its dbtag directories"));
    m_to->setToolTip(QStringLiteral("The receiver's address, HOST:PORT"));
    m_source->setToolTip(QStringLiteral("This ED's name on the receiver (default: the host name)"));
    sf->addRow(QStringLiteral("&Data root:"),
               withBrowse(m_dataRoot, true, QStringLiteral("the data root"), senderPage));
    sf->addRow(QStringLiteral("Receiver &address:"), m_to);
    sf->addRow(QStringLiteral("S&ource name:"), m_source);
    m_pages->addWidget(senderPage);

    auto *receiverPage = new QWidget(m_pages);
    auto *rf = new QFormLayout(receiverPage);
    m_receiveRoot = new QLineEdit(pick(QStringLiteral("receiveRoot"), config.receiveRoot), receiverPage);
    m_listen = new QLineEdit(pick(QStringLiteral("listen"), hostPort(config.listenHost, config.listenPort)), receiverPage);
    m_receiveRoot->setObjectName(QStringLiteral("receiveRoot"));
    m_receiveRoot->setToolTip(QStringLiteral("Files are stored as <root>/<source>/<dbtag>/<path>"));
    m_listen->setToolTip(QStringLiteral("Address and port to listen on, ADDR:PORT"));
    rf->addRow(QStringLiteral("Receive &root:"),
               withBrowse(m_receiveRoot, true, QStringLiteral("the receive root"), receiverPage));
    rf->addRow(QStringLiteral("&Listen on:"), m_listen);
    m_pages->addWidget(receiverPage);
    m_pages->setCurrentIndex(receiver ? 1 : 0);
    connect(m_receiver, &QRadioButton::toggled, this,
            [this](bool on) { m_pages->setCurrentIndex(on ? 1 : 0); });

    auto *common = new QFormLayout;
    m_secret = new QLineEdit(pick(QStringLiteral("secretFile"), config.secretFile), this);
    m_secret->setObjectName(QStringLiteral("secretFile"));
    m_secret->setToolTip(QStringLiteral("A file only its owner can read, holding the secret both "
                                        "sides share (empty: none, loopback only)"));
    common->addRow(QStringLiteral("Secret &file:"),
                   withBrowse(m_secret, false, QStringLiteral("the secret file"), this));

    m_error = new QLabel(this);
    m_error->setObjectName(QStringLiteral("startupError"));
    m_error->setWordWrap(true);
    m_error->setStyleSheet(QStringLiteral("color: %1").arg(badgeColor(Badge::Failed).name()));
    m_error->hide();

    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    buttons->button(QDialogButtonBox::Ok)->setText(QStringLiteral("&Start"));
    connect(buttons, &QDialogButtonBox::accepted, this, &StartupDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &QDialog::reject);

    auto *layout = new QVBoxLayout(this);
    layout->addWidget(intro);
    layout->addWidget(m_sender);
    layout->addWidget(m_receiver);
    layout->addWidget(m_pages);
    layout->addLayout(common);
    layout->addWidget(m_error);
    layout->addWidget(buttons);
}

QWidget *StartupDialog::withBrowse(QLineEdit *edit, bool directory, const QString &what,
                                   QWidget *parent)
{
    auto *row = new QWidget(parent);
    row->setFocusProxy(edit); // the label's mnemonic (its buddy is the row) reaches the field
    auto *l = new QHBoxLayout(row);
    l->setContentsMargins(0, 0, 0, 0);
    l->addWidget(edit, 1);
    // No mnemonic: three of them would share one; Tab reaches each after its field.
    auto *browse = new QPushButton(QStringLiteral("Browse…"), row);
    browse->setObjectName(edit->objectName() + QStringLiteral("Browse"));
    browse->setAccessibleName(QStringLiteral("Browse for ") + what);
    browse->setToolTip(QStringLiteral("Choose %1").arg(what));
    browse->setAutoDefault(false);
    l->addWidget(browse);
    connect(browse, &QPushButton::clicked, this, [this, edit, directory, what] {
        // Qt's own dialog (the same everywhere, offscreen too), opened without a nested loop.
        auto *fd = new QFileDialog(this, QStringLiteral("Choose %1").arg(what));
        fd->setObjectName(QStringLiteral("browseDialog"));
        fd->setAttribute(Qt::WA_DeleteOnClose);
        fd->setOption(QFileDialog::DontUseNativeDialog);
        fd->setFileMode(directory ? QFileDialog::Directory : QFileDialog::ExistingFile);
        if (directory)
            fd->setOption(QFileDialog::ShowDirsOnly);
        const QFileInfo current(edit->text().trimmed());
        if (!edit->text().trimmed().isEmpty())
            fd->setDirectory(directory || current.isDir() ? current.absoluteFilePath()
                                                          : current.absolutePath());
        connect(fd, &QFileDialog::fileSelected, edit, [edit](const QString &path) {
            edit->setText(QDir::toNativeSeparators(path));
        });
        fd->open();
    });
    return row;
}

StartupDialog::Role StartupDialog::role() const
{
    return m_receiver->isChecked() ? Role::Receiver : Role::Sender;
}

void StartupDialog::setValidator(std::function<QString(Role, const Config &)> validator)
{
    m_validator = std::move(validator);
}

QString StartupDialog::errorText() const
{
    return m_error->isVisibleTo(this) ? m_error->text() : QString();
}

void StartupDialog::fail(const QString &message, QWidget *field)
{
    m_error->setText(message);
    m_error->show();
    if (field)
        field->setFocus();
}

void StartupDialog::accept()
{
    Config c = m_config;
    const QString origin = QStringLiteral("start dialog");
    QList<std::pair<QString, QString>> values;
    if (role() == Role::Sender) {
        // One receiver or a list ("a:1, b:2"), each with its port.
        auto receivers = parseReceiverList(m_to->text().trimmed(), 0);
        if (!receivers)
            return fail(QStringLiteral("Receiver address: ") + receivers.error().message, m_to);
        values = {{QStringLiteral("data.root"), m_dataRoot->text().trimmed()},
                  {QStringLiteral("send.server"), receiverListText(receivers.value())},
                  {QStringLiteral("send.port"), QString::number(receivers.value().first().port)},
                  {QStringLiteral("send.source"), m_source->text().trimmed()}};
    } else {
        values = {{QStringLiteral("receive.root"), m_receiveRoot->text().trimmed()},
                  {QStringLiteral("receive.listen"), m_listen->text().trimmed()}};
    }
    values.append({QStringLiteral("general.secret_file"), m_secret->text().trimmed()});
    for (const auto &[key, value] : values) {
        if (value.isEmpty() && key != QLatin1String("general.secret_file"))
            continue;
        if (auto r = c.set(key, value, origin); !r)
            return fail(r.error().message, nullptr);
    }
    // The sender refuses a data root that is not there; say so here, naming the field.
    if (role() == Role::Sender && !QFileInfo(c.dataRoot).isDir())
        return fail(QStringLiteral("Data root: %1 does not exist or is not a directory. Create "
                                   "it, or choose the directory the producer writes to.")
                        .arg(c.dataRoot),
                    m_dataRoot);
    if (m_validator) {
        if (const QString error = m_validator(role(), c); !error.isEmpty())
            return fail(error, nullptr);
    }
    m_config = c;
    remember();
    QDialog::accept();
}

void StartupDialog::remember() const
{
    QSettings s;
    s.beginGroup(QStringLiteral("startup"));
    s.setValue(QStringLiteral("role"), role() == Role::Receiver ? QStringLiteral("receiver")
                                                               : QStringLiteral("sender"));
    s.setValue(QStringLiteral("dataRoot"), m_dataRoot->text().trimmed());
    s.setValue(QStringLiteral("to"), m_to->text().trimmed());
    s.setValue(QStringLiteral("source"), m_source->text().trimmed());
    s.setValue(QStringLiteral("receiveRoot"), m_receiveRoot->text().trimmed());
    s.setValue(QStringLiteral("listen"), m_listen->text().trimmed());
    s.setValue(QStringLiteral("secretFile"), m_secret->text().trimmed());
}

} // namespace isocket::gui
