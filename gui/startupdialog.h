#pragma once
// StartupDialog: asked when isocket-gui starts without --role: which role this machine plays
// (sender on an ED, receiver on DRMS) and the settings that role needs (data root, receiver
// address, source name / receive root, listen address; the secret file). Prefilled from the
// configuration and from the answers remembered last time (QSettings), or, reopened from a
// window whose start failed, from the settings it started with; each value is checked with
// Config::set, so errors name the setting; a data root must exist; then the caller's
// validator (the setup the role needs) may refuse too. Errors stay in the dialog, in a line
// under the fields. Browse buttons pick the roots and the secret file (Qt's own file dialog,
// opened without a nested event loop). GUI thread.

#include "core/config.h"

#include <QDialog>

#include <functional>
#include <optional>

class QButtonGroup;
class QFileDialog;
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

    // `current`: the role a window runs with, whose settings are to be changed: the dialog
    // shows that role and the values of `config` (not the ones remembered).
    explicit StartupDialog(const Config &config, QWidget *parent = nullptr,
                           std::optional<Role> current = std::nullopt);

    Role role() const;
    // Checks the answers once they are a valid configuration: an error message (the dialog
    // shows it and stays open) or empty.
    void setValidator(std::function<QString(Role, const Config &)> validator);
    QString errorText() const; // the error shown, or empty
    QLineEdit *dataRootEdit() const { return m_dataRoot; }
    QLineEdit *receiveRootEdit() const { return m_receiveRoot; }
    QLineEdit *secretEdit() const { return m_secret; }
    QLineEdit *listenEdit() const { return m_listen; }
    QLineEdit *receiverEdit() const { return m_to; }
    // The configuration with the answers applied (valid after accept()).
    const Config &config() const { return m_config; }

    void accept() override;

private:
    void remember() const;
    void fail(const QString &message, QWidget *field);
    // A Browse button: a non-native file dialog for `edit` (a directory, or a file).
    QWidget *withBrowse(QLineEdit *edit, bool directory, const QString &what, QWidget *parent);

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
    std::function<QString(Role, const Config &)> m_validator;
};

} // namespace isocket::gui
