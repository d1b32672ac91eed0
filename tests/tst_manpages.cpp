// The manual pages (docs/man), the programs' --help, the sample configuration
// (resources/isocket.ini), Config::keys() and the bash completion (resources/
// isocket.bash-completion) tell the same story:
// - isocket(1) lists each command with the summary `isocket --help` gives it, and each option of
//   each command, in a section that names the command, with its --help description; no section
//   lists an option its commands lack. isocket-gui(1) likewise for the roles.
// - isocket.ini(5) lists each key of the sample under its section with the sample's value, the
//   key's description and the original's key it replaces; no key that does not exist.
// - the completion offers exactly the commands and the options that --help shows.

#include "core/config.h"
#include "tests/testlib/processes.h"

#include <QFile>
#include <QMap>
#include <QProcess>
#include <QRegularExpression>
#include <QSet>
#include <QTest>

#ifndef ISOCKET_SOURCE_DIR
#error "ISOCKET_SOURCE_DIR must name the source tree"
#endif
#ifndef ISOCKET_GUI_BINARY
#error "ISOCKET_GUI_BINARY must name isocket-gui"
#endif

using namespace isocket;

namespace {

QString sourceFile(const QString &relative)
{
    return QStringLiteral(ISOCKET_SOURCE_DIR "/") + relative;
}

QString readText(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        qWarning() << "cannot read" << path << f.errorString();
    return QString::fromUtf8(f.readAll());
}

QString simplified(const QString &text)
{
    return text.simplified();
}

// Roff to plain text: fonts, escapes, the quotes of macro arguments.
QString plain(QString line)
{
    static const QRegularExpression font(QStringLiteral("\\\\f[BIRP]"));
    line.remove(font);
    line.replace(QStringLiteral("\\-"), QStringLiteral("-"));
    line.replace(QStringLiteral("\\(aq"), QStringLiteral("'"));
    line.replace(QStringLiteral("\\(em"), QStringLiteral("--"));
    line.replace(QStringLiteral("\\\\"), QStringLiteral("\\"));
    static const QRegularExpression macro(QStringLiteral("^\\.(B|BI|BR|I|IR|RB|RI)\\s+"));
    if (macro.match(line).hasMatch()) {
        line.remove(macro);
        line.remove(QLatin1Char('"'));
    }
    return line;
}

struct Option
{
    QString name; // without the dashes
    QString description;
};

// The options of a man page, by the names in the parentheses of their section's title:
// `.SS "Options of send (send)"` → "send" → its options.
QMap<QString, QList<Option>> manOptions(const QString &manPage)
{
    QMap<QString, QList<Option>> out;
    const QStringList lines = readText(manPage).split(QLatin1Char('\n'));
    static const QRegularExpression section(QStringLiteral("^\\.S[SH] \"?.*\\(([^)]*)\\)\"?$"));
    static const QRegularExpression optionRe(QStringLiteral("^(?:-\\w, )?--([a-z][a-z-]*)"));
    QStringList owners;
    for (int i = 0; i < lines.size(); ++i) {
        const QString &line = lines.at(i);
        if (line.startsWith(QLatin1String(".SH")) || line.startsWith(QLatin1String(".SS"))) {
            const auto m = section.match(line);
            owners = m.hasMatch() ? m.captured(1).split(QStringLiteral(", ")) : QStringList();
            continue;
        }
        if (owners.isEmpty() || line != QLatin1String(".TP") || i + 1 >= lines.size())
            continue;
        const auto m = optionRe.match(plain(lines.at(i + 1)));
        if (!m.hasMatch())
            continue;
        Option option{m.captured(1), QString()};
        for (int j = i + 2; j < lines.size() && !lines.at(j).startsWith(QLatin1Char('.')); ++j)
            option.description += QLatin1Char(' ') + plain(lines.at(j));
        option.description = simplified(option.description);
        for (const QString &owner : std::as_const(owners))
            out[owner].append(option);
    }
    return out;
}

QString run(const QString &program, const QStringList &args)
{
    QProcess p;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    p.setProcessEnvironment(env);
    p.start(program, args);
    if (!p.waitForFinished(30000) || p.exitCode() != 0)
        qWarning().noquote() << program << args << "failed:" << p.readAllStandardError();
    return QString::fromUtf8(p.readAllStandardOutput());
}

// The options `program args --help` lists, with their descriptions (the key in brackets off).
QList<Option> helpOptions(const QString &program, const QStringList &args)
{
    QList<Option> out;
    static const QRegularExpression optionRe(
        QStringLiteral("^  (?:-\\w, )?--([a-z][a-z-]*)(?: <[^>]*>)?\\s+(.*)$"));
    static const QRegularExpression continuation(QStringLiteral("^\\s{6,}(\\S.*)$"));
    bool inOptions = false;
    for (const QString &line :
         run(program, args + QStringList{QStringLiteral("--help")}).split(QLatin1Char('\n'))) {
        if (line == QLatin1String("Options:")) {
            inOptions = true;
            continue;
        }
        if (!inOptions)
            continue;
        if (const auto m = optionRe.match(line); m.hasMatch())
            out.append({m.captured(1), m.captured(2)});
        else if (const auto c = continuation.match(line); c.hasMatch() && !out.isEmpty())
            out.last().description += QLatin1Char(' ') + c.captured(1);
    }
    for (Option &o : out)
        o.description = simplified(o.description);
    return out;
}

QStringList names(const QList<Option> &options)
{
    QStringList out;
    for (const Option &o : options)
        out.append(o.name);
    out.sort();
    out.removeDuplicates();
    return out;
}

// Every difference between what --help says and what the man page says for `who`.
QStringList compare(const QString &who, const QList<Option> &help, const QList<Option> &man)
{
    QStringList problems;
    QHash<QString, QString> manText;
    for (const Option &o : man)
        manText.insert(o.name, o.description);
    QSet<QString> helpNames;
    for (const Option &o : help) {
        helpNames.insert(o.name);
        if (!manText.contains(o.name))
            problems << QStringLiteral("%1: --%2 is not in the man page").arg(who, o.name);
        else if (!manText.value(o.name).contains(o.description))
            problems << QStringLiteral("%1: --%2: --help says '%3', the man page '%4'")
                            .arg(who, o.name, o.description, manText.value(o.name));
    }
    for (const Option &o : man)
        if (!helpNames.contains(o.name))
            problems
                << QStringLiteral("%1: the man page lists --%2, --help does not").arg(who, o.name);
    return problems;
}

// The commands `isocket --help` lists, with their summaries.
QMap<QString, QString> helpCommands()
{
    QMap<QString, QString> out;
    static const QRegularExpression re(QStringLiteral("^  ([a-z]+)\\s+(.*)$"));
    bool inCommands = false;
    for (const QString &line :
         run(test::isocketBinary(), {QStringLiteral("--help")}).split(QLatin1Char('\n'))) {
        if (line == QLatin1String("Commands:"))
            inCommands = true;
        else if (line.isEmpty())
            inCommands = false;
        else if (const auto m = re.match(line); inCommands && m.hasMatch())
            out.insert(m.captured(1), m.captured(2));
    }
    return out;
}

// `.B key = value` entries of isocket.ini(5) or commented `# key = value` lines of the sample,
// as "section.key" → value.
QMap<QString, QString> iniKeys(const QString &text, bool manPage,
                               QHash<QString, QString> *descriptions = nullptr)
{
    QMap<QString, QString> out;
    static const QRegularExpression manSection(QStringLiteral("^\\.SH \"\\[([a-z]+)\\]\"$"));
    static const QRegularExpression iniSection(QStringLiteral("^\\[([a-z]+)\\]$"));
    static const QRegularExpression manKey(QStringLiteral("^\\.B ([a-z_]+) =(?: (.*))?$"));
    static const QRegularExpression iniKey(QStringLiteral("^[#;]\\s*([a-z_]+) =(?: (.*))?$"));
    const QStringList lines = text.split(QLatin1Char('\n'));
    QString section;
    for (int i = 0; i < lines.size(); ++i) {
        const QString line = lines.at(i).trimmed();
        if (line.startsWith(manPage ? QLatin1String(".SH") : QLatin1String("["))) {
            const auto m = (manPage ? manSection : iniSection).match(line);
            section = m.hasMatch() ? m.captured(1) : QString();
            continue;
        }
        const auto m = (manPage ? manKey : iniKey).match(line);
        if (section.isEmpty() || !m.hasMatch())
            continue;
        const QString key = section + QLatin1Char('.') + m.captured(1);
        out.insert(key, plain(m.captured(2)).trimmed());
        if (descriptions) {
            QString d;
            for (int j = i + 1; j < lines.size() && !lines.at(j).startsWith(QLatin1String(".TP")) &&
                                !lines.at(j).startsWith(QLatin1String(".SH"));
                 ++j)
                d += QLatin1Char(' ') + plain(lines.at(j));
            descriptions->insert(key, simplified(d));
        }
    }
    return out;
}

// What the completion offers for the words `words` (the last one is completed).
QStringList complete(const QString &function, const QStringList &words)
{
    QString script = QStringLiteral("source '%1'; COMP_WORDS=(")
                         .arg(sourceFile(QStringLiteral("resources/isocket.bash-completion")));
    for (const QString &w : words)
        script += QStringLiteral("'%1' ").arg(w);
    script += QStringLiteral("); COMP_CWORD=%1; %2; printf '%s\\n' \"${COMPREPLY[@]}\"")
                  .arg(words.size() - 1)
                  .arg(function);
    QStringList out = run(QStringLiteral("bash"), {QStringLiteral("-c"), script})
                          .split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    out.sort();
    return out;
}

} // namespace

class TestManPages : public QObject
{
    Q_OBJECT

private slots:
    void commandsAndTheirSummaries();
    void optionsOfEachCommand_data();
    void optionsOfEachCommand();
    void optionsOfEachGuiRole_data();
    void optionsOfEachGuiRole();
    void configurationKeys();
    void completionOffersCommandsAndOptions();
};

void TestManPages::commandsAndTheirSummaries()
{
    const QMap<QString, QString> help = helpCommands();
    QVERIFY(help.size() >= 4);
    const QStringList lines =
        readText(sourceFile(QStringLiteral("docs/man/isocket.1"))).split(QLatin1Char('\n'));
    QMap<QString, QString> man;
    bool inCommands = false;
    for (int i = 0; i + 2 < lines.size(); ++i) {
        if (lines.at(i).startsWith(QLatin1String(".SH")))
            inCommands = lines.at(i) == QLatin1String(".SH COMMANDS");
        else if (inCommands && lines.at(i) == QLatin1String(".TP"))
            man.insert(plain(lines.at(i + 1)), plain(lines.at(i + 2)));
    }
    QCOMPARE(man, help);
}

void TestManPages::optionsOfEachCommand_data()
{
    QTest::addColumn<QString>("command");
    for (const QString &command : helpCommands().keys())
        QTest::newRow(qPrintable(command)) << command;
}

void TestManPages::optionsOfEachCommand()
{
    QFETCH(QString, command);
    const QList<Option> help = helpOptions(test::isocketBinary(), {command});
    QVERIFY(help.size() >= 5);
    const auto man = manOptions(sourceFile(QStringLiteral("docs/man/isocket.1")));
    const QStringList problems = compare(command, help, man.value(command));
    QVERIFY2(problems.isEmpty(), qPrintable(problems.join(QLatin1Char('\n'))));
}

void TestManPages::optionsOfEachGuiRole_data()
{
    QTest::addColumn<QString>("role");
    QTest::newRow("none") << QStringLiteral("none");
    QTest::newRow("sender") << QStringLiteral("sender");
    QTest::newRow("receiver") << QStringLiteral("receiver");
    QTest::newRow("monitor") << QStringLiteral("monitor");
}

void TestManPages::optionsOfEachGuiRole()
{
    QFETCH(QString, role);
    const QStringList args =
        role == QLatin1String("none") ? QStringList() : QStringList{QStringLiteral("--role"), role};
    const QList<Option> help = helpOptions(QStringLiteral(ISOCKET_GUI_BINARY), args);
    QVERIFY(help.size() >= 5);
    const auto man = manOptions(sourceFile(QStringLiteral("docs/man/isocket-gui.1")));
    // A role has the options of every role too.
    QList<Option> listed = man.value(role);
    if (role != QLatin1String("none"))
        listed += man.value(QStringLiteral("none"));
    const QStringList problems = compare(role, help, listed);
    QVERIFY2(problems.isEmpty(), qPrintable(problems.join(QLatin1Char('\n'))));
}

void TestManPages::configurationKeys()
{
    QHash<QString, QString> descriptions;
    const QMap<QString, QString> man = iniKeys(
        readText(sourceFile(QStringLiteral("docs/man/isocket.ini.5"))), true, &descriptions);
    const QMap<QString, QString> sample =
        iniKeys(readText(sourceFile(QStringLiteral("resources/isocket.ini"))), false);
    QVERIFY(sample.size() >= 20);
    // The same keys with the same defaults (tst_sampleconfig checks that the sample's are the
    // built-in ones).
    QCOMPARE(man, sample);
    QStringList problems;
    for (const Config::KeyInfo &info : Config::keys()) {
        if (!man.contains(info.key)) {
            problems << info.key + QStringLiteral(" is not in isocket.ini(5)");
            continue;
        }
        const QString text = descriptions.value(info.key);
        if (!text.contains(info.description, Qt::CaseInsensitive))
            problems << QStringLiteral("%1: '%2' lacks its description '%3'")
                            .arg(info.key, text, info.description);
        if (!info.original.isEmpty() &&
            !text.contains(QStringLiteral("was: ") + info.original, Qt::CaseInsensitive))
            problems << QStringLiteral("%1: '%2' does not name its original key '%3'")
                            .arg(info.key, text, info.original);
    }
    QVERIFY2(problems.isEmpty(), qPrintable(problems.join(QLatin1Char('\n'))));
}

void TestManPages::completionOffersCommandsAndOptions()
{
    const QString bin = test::isocketBinary();
    QStringList commands = helpCommands().keys();
    commands << QStringLiteral("--help") << QStringLiteral("--version");
    commands.sort();
    QCOMPARE(complete(QStringLiteral("_isocket"), {bin, QString()}), commands);

    QStringList receive;
    for (const QString &name : names(helpOptions(bin, {QStringLiteral("receive")})))
        receive << QStringLiteral("--") + name;
    QCOMPARE(complete(QStringLiteral("_isocket"),
                      {bin, QStringLiteral("receive"), QStringLiteral("--")}),
             receive);
    QCOMPARE(complete(QStringLiteral("_isocket"),
                      {bin, QStringLiteral("receive"), QStringLiteral("--sync"), QString()}),
             (QStringList{QStringLiteral("auto"), QStringLiteral("file")}));
    QCOMPARE(
        complete(QStringLiteral("_isocket"), {bin, QStringLiteral("send"), QStringLiteral("--on")}),
        QStringList{QStringLiteral("--once")});

    // isocket-gui: the options of the role given.
    const QString gui = QStringLiteral(ISOCKET_GUI_BINARY);
    QStringList receiver;
    for (const QString &name :
         names(helpOptions(gui, {QStringLiteral("--role"), QStringLiteral("receiver")})))
        receiver << QStringLiteral("--") + name;
    QCOMPARE(
        complete(QStringLiteral("_isocket_gui"),
                 {gui, QStringLiteral("--role"), QStringLiteral("receiver"), QStringLiteral("--")}),
        receiver);
    QCOMPARE(complete(QStringLiteral("_isocket_gui"), {gui, QStringLiteral("--role"), QString()}),
             (QStringList{QStringLiteral("monitor"), QStringLiteral("receiver"),
                          QStringLiteral("sender")}));
}

QTEST_GUILESS_MAIN(TestManPages)
#include "tst_manpages.moc"
