#include "gui/startupdialog.h"

#include "gui/statevisuals.h"

#include <QDialogButtonBox>
#include <QPushButton>
#include <QFormLayout>
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

StartupDialog::StartupDialog(const Config &config, QWidget *parent)
    : QDialog(parent), m_config(config)
{
    setWindowTitle(QStringLiteral("isocket — start"));
    setWindowIcon(appIcon());
    QSettings s;
    s.beginGroup(QStringLiteral("startup"));

    auto *intro = new QLabel(QStringLiteral("Which role does this machine play?"), this);
    m_sender = new QRadioButton(QStringLiteral("&Sender — an edge device that ships its data files"), this);
    m_receiver = new QRadioButton(QStringLiteral("Re&ceiver — the central server (DRMS) that stores them"), this);
    const bool receiver = s.value(QStringLiteral("role")).toString() == QLatin1String("receiver");
    (receiver ? m_receiver : m_sender)->setChecked(true);

    m_pages = new QStackedWidget(this);
    auto *senderPage = new QWidget(m_pages);
    auto *sf = new QFormLayout(senderPage);
    m_dataRoot = new QLineEdit(s.value(QStringLiteral("dataRoot"), config.dataRoot).toString(), senderPage);
    m_to = new QLineEdit(s.value(QStringLiteral("to"), receiverListText(config.receivers())).toString(), senderPage);
    m_source = new QLineEdit(s.value(QStringLiteral("source"), config.source).toString(), senderPage);
    m_source->setPlaceholderText(config.effectiveSource());
    m_dataRoot->setToolTip(QStringLiteral("Where the producer writes its dbtag directories"));
    m_to->setToolTip(QStringLiteral("The receiver's address, HOST:PORT"));
    m_source->setToolTip(QStringLiteral("This ED's name on the receiver (default: the host name)"));
    sf->addRow(QStringLiteral("&Data root:"), m_dataRoot);
    sf->addRow(QStringLiteral("Receiver &address:"), m_to);
    sf->addRow(QStringLiteral("S&ource name:"), m_source);
    m_pages->addWidget(senderPage);

    auto *receiverPage = new QWidget(m_pages);
    auto *rf = new QFormLayout(receiverPage);
    m_receiveRoot = new QLineEdit(s.value(QStringLiteral("receiveRoot"), config.receiveRoot).toString(), receiverPage);
    m_listen = new QLineEdit(s.value(QStringLiteral("listen"), hostPort(config.listenHost, config.listenPort)).toString(), receiverPage);
    m_receiveRoot->setToolTip(QStringLiteral("Files are stored as <root>/<source>/<dbtag>/<path>"));
    m_listen->setToolTip(QStringLiteral("Address and port to listen on, ADDR:PORT"));
    rf->addRow(QStringLiteral("Receive &root:"), m_receiveRoot);
    rf->addRow(QStringLiteral("&Listen on:"), m_listen);
    m_pages->addWidget(receiverPage);
    m_pages->setCurrentIndex(receiver ? 1 : 0);
    connect(m_receiver, &QRadioButton::toggled, this,
            [this](bool on) { m_pages->setCurrentIndex(on ? 1 : 0); });

    auto *common = new QFormLayout;
    m_secret = new QLineEdit(s.value(QStringLiteral("secretFile"), config.secretFile).toString(), this);
    m_secret->setToolTip(QStringLiteral("A file only its owner can read, holding the secret both "
                                        "sides share (empty: none, loopback only)"));
    common->addRow(QStringLiteral("Secret &file:"), m_secret);

    m_error = new QLabel(this);
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

StartupDialog::Role StartupDialog::role() const
{
    return m_receiver->isChecked() ? Role::Receiver : Role::Sender;
}

void StartupDialog::accept()
{
    Config c = m_config;
    const QString origin = QStringLiteral("start dialog");
    QList<std::pair<QString, QString>> values;
    if (role() == Role::Sender) {
        // One receiver or a list ("a:1, b:2"), each with its port.
        auto receivers = parseReceiverList(m_to->text().trimmed(), 0);
        if (!receivers) {
            m_error->setText(QStringLiteral("Receiver address: ") + receivers.error().message);
            m_error->show();
            return;
        }
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
        if (auto r = c.set(key, value, origin); !r) {
            m_error->setText(r.error().message);
            m_error->show();
            return;
        }
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
