#pragma once
// SettingsDialog: the settings an operator changes while a window runs (File > Settings…),
// written into the INI file the console program reads (core/iniedit.h: only the changed keys'
// lines change, comments and other keys stay). Sender: send.bwlimit, send.jobs, send.window,
// send.retry_interval, send.retry_max; receiver: receive.reserve, receive.threads,
// receive.partial_max_age, receive.sync, receive.arrival.
//
// Each field is checked with the console's parser (Config::set) when Save is pressed; a bad
// value shows the parser's message, which names the key, next to its field, and nothing is
// written. Each field says whether the running engine takes it at once or after a restart.
// The file is read when the dialog opens (a few lines) and written off the GUI thread; saved()
// follows a write, saveFailed() a refused one. GUI thread; owned by its parent window.

#include "core/config.h"

#include <QDialog>
#include <QHash>
#include <QStringList>

class QDialogButtonBox;
class QLabel;
class QLineEdit;

namespace isocket::gui {

class SettingsDialog : public QDialog
{
    Q_OBJECT

public:
    enum class Side { Sender, Receiver };

    // The keys the dialog edits for `side`, in the order shown.
    static QStringList keysOf(Side side);
    // Those of them the running engine takes without a restart (the sender's bandwidth limit).
    static QStringList liveKeys(Side side);

    SettingsDialog(Side side, const QString &configFile, QWidget *parent = nullptr);

    QString configFile() const { return m_configFile; }
    QLineEdit *field(const QString &key) const { return m_fields.value(key); }
    QLabel *messageOf(const QString &key) const { return m_messages.value(key); }
    QLabel *hintOf(const QString &key) const { return m_hints.value(key); }
    QLabel *statusLabel() const { return m_status; }

    // Checks the changed fields; when all are valid, starts writing them and returns true
    // (saved() or saveFailed() follows). False when one is invalid: nothing is written.
    bool save();

Q_SIGNALS:
    // The file now holds `config`; `changedKeys` are the keys written.
    void saved(const isocket::Config &config, const QStringList &changedKeys);
    void saveFailed(const QString &message);

private:
    void load();
    void setBusy(bool busy);

    Side m_side;
    QString m_configFile;
    Config m_loaded;                 // the file as the console reads it (defaults if missing)
    QHash<QString, QString> m_initial; // key → the text shown at first
    QHash<QString, QLineEdit *> m_fields;
    QHash<QString, QLabel *> m_messages;
    QHash<QString, QLabel *> m_hints;
    QLabel *m_status = nullptr;
    QDialogButtonBox *m_buttons = nullptr;
};

} // namespace isocket::gui
