#pragma once
// CommandLine: the options of a face (the console commands, the GUI) built from the
// configuration key table, the configuration file loaded under them, and the exit codes a face
// returns. Shared by every face so that a key is an option the same way in each. Prints
// nothing: parse() leaves the help or the error in helpText() / errorText(), and the face shows
// it (stdout/stderr, a message box). Not thread-bound: used where the face parses its arguments.

#include "core/config.h"

#include <QCommandLineParser>
#include <QStringList>

namespace isocket {

enum ExitCode { ExitOk = 0, ExitFailure = 1, ExitUsage = 2 };

class CommandLine
{
public:
    // `command`: the name the user types ("send", "gui"). `sections`: which configuration
    // sections ("data", "send", …) or single keys ("general.cert") it takes as options.
    CommandLine(const QString &command, const QString &description, const QStringList &sections);

    QCommandLineParser &parser() { return m_parser; }
    const QString &command() const { return m_command; }

    // Parses `args` (args[0] is the program), loads --config or the default file, applies the
    // options over it, opens the log file it names. Returns -1 to go on; otherwise the exit code
    // to use: ExitOk for --help (helpText() has the text), ExitUsage for an error (errorText()
    // has it), also for any positional argument (no command takes one).
    int parse(const QStringList &args);
    QString helpText() const { return m_help; }
    QString errorText() const { return m_error; }

    // The configuration read again as parse() read it: the same file (--config or the default)
    // and the same options over it, into a fresh Config (a reload, SIGHUP). Opens no log file.
    Result<Config> reread() const;

    const Config &config() const { return m_config; }
    Config &config() { return m_config; }
    bool isSet(const QString &option) const { return m_parser.isSet(option); }

    // `--to HOST:PORT` (when the command has that option) over send.server and send.port;
    // several receivers as a list ("a:1, b:2") or by giving --to again. An error names the
    // option and the entry; port 0 is refused.
    Result<void> applyTo();

private:
    bool takes(const Config::KeyInfo &key) const;

    QString m_command;
    QStringList m_sections;
    QCommandLineParser m_parser;
    Config m_config;
    QString m_help;
    QString m_error;
};

} // namespace isocket
