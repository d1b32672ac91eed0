#include "core/commandline.h"

#include "core/logging.h"

#include <QFileInfo>

namespace isocket {

CommandLine::CommandLine(const QString &command, const QString &description,
                         const QStringList &sections)
    : m_command(command), m_sections(sections)
{
    m_parser.setApplicationDescription(description);
    m_parser.addHelpOption();
    m_parser.addOption(
        {QStringLiteral("config"),
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
    m_help.clear();
    m_error.clear();
    if (!m_parser.parse(args)) {
        m_error = m_parser.errorText() + QStringLiteral(" (see --help)");
        return ExitUsage;
    }
    if (m_parser.isSet(QStringLiteral("help"))) {
        // QCommandLineParser names the binary; name the subcommand as the user types it.
        m_help = m_parser.helpText();
        const qsizetype eol = m_help.indexOf(QLatin1Char('\n'));
        m_help.replace(0, eol, QStringLiteral("Usage: isocket %1 [options]").arg(m_command));
        return ExitOk;
    }
    if (!m_parser.positionalArguments().isEmpty()) {
        m_error = QStringLiteral("unexpected argument '%1' (see --help)")
                      .arg(m_parser.positionalArguments().constFirst());
        return ExitUsage;
    }
    if (m_parser.isSet(QStringLiteral("verbose")))
        enableVerboseLogging();

    auto config = reread();
    if (!config) {
        m_error = config.error().message;
        return ExitUsage;
    }
    m_config = config.value();
    if (!m_config.logFile.isEmpty()) {
        if (auto r = isocket::openLogFile(m_config.logFile); !r) {
            m_error = m_config.keyMessage(QStringLiteral("general.log"), r.error().message);
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

Result<void> CommandLine::applyTo()
{
    const QString to = QStringLiteral("to");
    if (!m_parser.optionNames().contains(to)) // not given, or not an option of this command
        return {};
    if (!m_parser.isSet(to))
        return {};
    // Given several times, or as a list: every receiver, each with its port.
    QList<ReceiverAddress> receivers;
    for (const QString &value : m_parser.values(to)) {
        auto list = parseReceiverList(value, 0);
        if (!list)
            return Error{ErrorCode::UsageError, QStringLiteral("--to: ") + list.error().message};
        for (const ReceiverAddress &a : list.value()) {
            if (receivers.contains(a))
                return Error{ErrorCode::UsageError,
                             QStringLiteral("--to: '%1' is given twice").arg(a.toString())};
            receivers.append(a);
        }
    }
    m_config.server = receiverListText(receivers);
    m_config.port = receivers.first().port;
    return {};
}

} // namespace isocket
