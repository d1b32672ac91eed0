#pragma once
// StartupDialog: asked when isocket-gui starts without --role: which role this machine plays
// (sender on an ED, receiver on DRMS) and the settings that role needs (data root, receiver
// address, source name / receive root, listen address; the secret file). Prefilled from the
// configuration and from the answers remembered last time (QSettings); each value is checked
// with Config::set, so errors name the setting. GUI thread.

#include "core/config.h"

#include <QDialog>

class QButtonGroup;
class QLabel;
class QLineEdit;
class QRadioButton;
class QStackedWidget;

namespace isocket::gui {

class StartupDialog : public QDialog
{
    Q_OBJECT

public:
    enum class Role { Sender, Receiver };

    explicit StartupDialog(const Config &config, QWidget *parent = nullptr);

    Role role() const;
    // The configuration with the answers applied (valid after accept()).
    const Config &config() const { return m_config; }

    void accept() override;

private:
    void remember() const;

    Config m_config;
    QRadioButton *m_sender;
    QRadioButton *m_receiver;
    QStackedWidget *m_pages;
    QLineEdit *m_dataRoot;
    QLineEdit *m_to;
    QLineEdit *m_source;
    QLineEdit *m_receiveRoot;
    QLineEdit *m_listen;
    QLineEdit *m_secret;
    QLabel *m_error;
};

} // namespace isocket::gui
