#include "cli/options.h"

#include "core/logging.h"
#include "core/secret.h"

#include <QFile>
#include <QFileInfo>

#include <cstdio>

#include <sys/stat.h>

namespace isocket::cli {

QString humanBytes(qint64 bytes)
{
    const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(bytes);
    int u = 0;
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        ++u;
    }
    return u == 0 ? QStringLiteral("%1 B").arg(bytes)
                  : QStringLiteral("%1 %2").arg(v, 0, 'f', 1).arg(QLatin1String(units[u]));
}

void printError(const QString &command, const QString &message)
{
    std::fprintf(stderr, "isocket %s: %s\n", qPrintable(command), qPrintable(message));
}

CommandLine::CommandLine(const QString &command, const QString &description,
                         const QStringList &sections)
    : m_command(command), m_sections(sections)
{
    m_parser.setApplicationDescription(description);
    m_parser.addHelpOption();
    m_parser.addOption({QStringLiteral("config"),
                        QStringLiteral("read settings from this INI file (default: %1 if it exists)")
                            .arg(Config::defaultPath()),
                        QStringLiteral("FILE")});
    m_parser.addOption({QStringLiteral("verbose"), QStringLiteral("log debug messages")});
    for (const Config::KeyInfo &key : Config::keys()) {
        if (!takes(key))
            continue;
        QString text = key.description + QStringLiteral(" [%1]").arg(key.key);
        m_parser.addOption({key.option, text, key.valueName});
    }
}

bool CommandLine::takes(const Config::KeyInfo &key) const
{
    return m_sections.contains(key.key.section(QLatin1Char('.'), 0, 0)) ||
           m_sections.contains(key.key);
}

int CommandLine::parse(const QStringList &args)
{
    if (!m_parser.parse(args)) {
        printError(m_command, m_parser.errorText() + QStringLiteral(" (see --help)"));
        return ExitUsage;
    }
    if (m_parser.isSet(QStringLiteral("help"))) {
        // QCommandLineParser names the binary; name the subcommand as the user types it.
        QString help = m_parser.helpText();
        const qsizetype eol = help.indexOf(QLatin1Char('\n'));
        help.replace(0, eol, QStringLiteral("Usage: isocket %1 [options]").arg(m_command));
        std::fputs(qPrintable(help), stdout);
        return ExitOk;
    }
    if (!m_parser.positionalArguments().isEmpty()) {
        printError(m_command, QStringLiteral("unexpected argument '%1' (see --help)")
                                  .arg(m_parser.positionalArguments().constFirst()));
        return ExitUsage;
    }
    if (m_parser.isSet(QStringLiteral("verbose")))
        enableVerboseLogging();

    auto config = reread();
    if (!config) {
        printError(m_command, config.error().message);
        return ExitUsage;
    }
    m_config = config.value();
    if (!m_config.logFile.isEmpty()) {
        if (auto r = isocket::openLogFile(m_config.logFile); !r) {
            printError(m_command,
                       m_config.keyMessage(QStringLiteral("general.log"), r.error().message));
            return ExitUsage;
        }
    }
    return -1;
}

Result<Config> CommandLine::reread() const
{
    Config config;
    QString configPath = m_parser.value(QStringLiteral("config"));
    if (configPath.isEmpty() && QFileInfo::exists(Config::defaultPath()))
        configPath = Config::defaultPath();
    if (!configPath.isEmpty()) {
        if (auto r = config.loadFile(configPath); !r)
            return r.error();
    }
    for (const Config::KeyInfo &key : Config::keys()) {
        if (!takes(key))
            continue;
        if (!m_parser.isSet(key.option))
            continue;
        const QString origin = QStringLiteral("--") + key.option;
        if (auto r = config.set(key.key, m_parser.value(key.option), origin); !r)
            return r.error();
    }
    return config;
}

void applyReload(const Config &next, const Config &running,
                 std::initializer_list<std::pair<const char *, bool>> restartOnly)
{
    if (next.logFile.isEmpty()) {
        isocket::closeLogFile();
    } else if (auto r = isocket::openLogFile(next.logFile); !r) {
        qCCritical(lcCli).noquote()
            << next.keyMessage(QStringLiteral("general.log"), r.error().message)
            << "(still writing to the previous log file)";
    }
    const std::pair<const char *, bool> general[] = {
        {"general.cert", next.certFile != running.certFile},
        {"general.key", next.keyFile != running.keyFile},
        {"general.transport", next.transport != running.transport},
    };
    auto warn = [](const std::pair<const char *, bool> &entry) {
        if (entry.second)
            qCWarning(lcCli).noquote()
                << entry.first << "changed: it takes effect at the next restart";
    };
    for (const auto &entry : general)
        warn(entry);
    for (const auto &entry : restartOnly)
        warn(entry);
}

Result<QByteArray> readSecretFile(const QString &path)
{
    return isocket::readSecretFile(path);
}

} // namespace isocket::cli
