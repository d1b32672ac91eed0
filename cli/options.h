#pragma once
// Command-line plumbing shared by the subcommands: a QCommandLineParser built from the
// configuration key table, the configuration file loaded under the options, and exit codes.

#include "core/config.h"

#include <QCommandLineParser>
#include <QStringList>

#include <initializer_list>
#include <utility>

namespace isocket::cli {

enum ExitCode { ExitOk = 0, ExitFailure = 1, ExitUsage = 2 };

class CommandLine
{
public:
    // `sections`: which configuration sections ("data", "send", …) or single keys
    // ("general.cert") this command takes as options.
    CommandLine(const QString &command, const QString &description, const QStringList &sections);

    QCommandLineParser &parser() { return m_parser; }

    // Parses `args` (args[0] is the program), loads --config or the default file, applies the
    // options over it. On failure prints the reason to stderr and returns the exit code to use
    // (ExitUsage), also for any positional argument (no command takes one); on --help prints
    // help and returns ExitOk. Returns -1 to go on.
    int parse(const QStringList &args);

    // The configuration read again as parse() read it: the same file (--config or the default)
    // and the same options over it, into a fresh Config (a reload, SIGHUP). Opens no log file.
    Result<Config> reread() const;

    const Config &config() const { return m_config; }
    Config &config() { return m_config; }
    bool isSet(const QString &option) const { return m_parser.isSet(option); }

private:
    bool takes(const Config::KeyInfo &key) const;

    QString m_command;
    QStringList m_sections;
    QCommandLineParser m_parser;
    Config m_config;
};

// Prints to stderr: "isocket <command>: <message>".
void printError(const QString &command, const QString &message);

// "512 B", "40.0 KiB", "1.5 GiB".
QString humanBytes(qint64 bytes);

// On SIGHUP, both commands: opens `next`'s log file (or closes it when none is set; a failure
// keeps the previous one, with an error), then warns about each key in `restartOnly` whose value
// changed (the bool) and the general keys only a restart applies (TLS identity, transport).
void applyReload(const Config &next, const Config &running,
                 std::initializer_list<std::pair<const char *, bool>> restartOnly);

// Reads a shared secret file: refuses one that group or others can read. Empty path → empty.
Result<QByteArray> readSecretFile(const QString &path);

} // namespace isocket::cli
