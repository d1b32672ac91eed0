#include "core/iniedit.h"

#include "core/fileutil.h"

#include <QFile>
#include <QFileInfo>
#include <QStringList>
#include <QTemporaryFile>
#include <QDir>

namespace isocket {

namespace {

// One line of the file as the console's parser sees it.
struct Line
{
    enum Kind { Other, Section, Key };
    Kind kind = Other;
    QString section;   // Section: its name; Key: the section it is in
    QString key;       // Key: "section.name"
    qsizetype valueStart = 0; // Key: where the value begins in the raw line
    qsizetype valueEnd = 0;   // Key: where it ends (a comment or trailing blanks follow)
};

bool isBlank(QChar c)
{
    return c == QLatin1Char(' ') || c == QLatin1Char('\t') || c == QLatin1Char('\r');
}

Line parseLine(const QString &raw, const QString &section)
{
    Line l;
    l.section = section;
    const QString t = raw.trimmed();
    if (t.isEmpty() || t.startsWith(QLatin1Char('#')) || t.startsWith(QLatin1Char(';')))
        return l;
    if (t.startsWith(QLatin1Char('['))) {
        const qsizetype close = t.indexOf(QLatin1Char(']'));
        if (close > 0) {
            l.kind = Line::Section;
            l.section = t.mid(1, close - 1).trimmed();
        }
        return l;
    }
    const qsizetype eq = raw.indexOf(QLatin1Char('='));
    if (eq <= 0 || section.isEmpty())
        return l;
    l.kind = Line::Key;
    l.key = section + QLatin1Char('.') + raw.left(eq).trimmed();
    qsizetype start = eq + 1;
    while (start < raw.size() && isBlank(raw.at(start)))
        ++start;
    qsizetype end = raw.size();
    if (start < raw.size() && raw.at(start) == QLatin1Char('"')) {
        const qsizetype close = raw.indexOf(QLatin1Char('"'), start + 1);
        end = close < 0 ? raw.size() : close + 1;
    } else {
        for (qsizetype i = start; i < raw.size(); ++i) {
            const QChar c = raw.at(i);
            if ((c == QLatin1Char('#') || c == QLatin1Char(';'))
                && (i == start || isBlank(raw.at(i - 1)))) {
                end = i;
                break;
            }
        }
    }
    while (end > start && isBlank(raw.at(end - 1)))
        --end;
    l.valueStart = start;
    l.valueEnd = end;
    return l;
}

QList<Line> parseLines(const QStringList &lines)
{
    QList<Line> out;
    out.reserve(lines.size());
    QString section;
    for (const QString &raw : lines) {
        out.append(parseLine(raw, section));
        section = out.last().section;
    }
    return out;
}

// A value as the parser reads it back: in double quotes when it would otherwise lose blanks
// at its ends or be cut by a comment sign.
QString quoted(const QString &value)
{
    bool quote = !value.isEmpty()
                 && (value.trimmed() != value || value.startsWith(QLatin1Char('"')));
    for (qsizetype i = 0; i < value.size() && !quote; ++i) {
        const QChar c = value.at(i);
        quote = (c == QLatin1Char('#') || c == QLatin1Char(';'))
                && (i == 0 || value.at(i - 1).isSpace());
    }
    return quote ? QLatin1Char('"') + value + QLatin1Char('"') : value;
}

} // namespace

QString iniValue(const QByteArray &text, const QString &key)
{
    const QStringList lines = QString::fromUtf8(text).split(QLatin1Char('\n'));
    const QList<Line> parsed = parseLines(lines);
    for (qsizetype i = 0; i < parsed.size(); ++i) {
        const Line &l = parsed.at(i);
        if (l.kind != Line::Key || l.key != key)
            continue;
        QString v = lines.at(i).mid(l.valueStart, l.valueEnd - l.valueStart);
        if (v.size() >= 2 && v.startsWith(QLatin1Char('"')) && v.endsWith(QLatin1Char('"')))
            v = v.mid(1, v.size() - 2);
        return v.isNull() ? QStringLiteral("") : v;
    }
    return QString();
}

QByteArray setIniValues(const QByteArray &text, const IniValues &values)
{
    QStringList lines = QString::fromUtf8(text).split(QLatin1Char('\n'));
    const QString eol = text.contains("\r\n") ? QStringLiteral("\r") : QString();
    for (const auto &[key, value] : values) {
        const QList<Line> parsed = parseLines(lines);
        bool done = false;
        for (qsizetype i = 0; i < parsed.size(); ++i) {
            const Line &l = parsed.at(i);
            if (l.kind != Line::Key || l.key != key)
                continue;
            QString &raw = lines[i];
            QString head = raw.left(l.valueStart);
            if (!head.isEmpty() && !isBlank(head.back()))
                head += QLatin1Char(' ');
            raw = head + quoted(value) + raw.mid(l.valueEnd);
            done = true;
            break;
        }
        if (done)
            continue;
        const QString section = key.section(QLatin1Char('.'), 0, 0);
        const QString name = key.section(QLatin1Char('.'), 1);
        const QString newLine = name + QStringLiteral(" = ") + quoted(value) + eol;
        // After the last key of the section, or right after its header.
        qsizetype at = -1;
        for (qsizetype i = 0; i < parsed.size(); ++i) {
            const Line &l = parsed.at(i);
            if (l.section != section)
                continue;
            if (l.kind == Line::Section || l.kind == Line::Key)
                at = i + 1;
        }
        if (at >= 0) {
            lines.insert(at, newLine);
            continue;
        }
        // A new section at the end; the file keeps ending with a newline if it did.
        const bool endsWithNewline = lines.size() > 1 && lines.last().isEmpty();
        if (endsWithNewline)
            lines.removeLast();
        if (!lines.isEmpty() && !(lines.size() == 1 && lines.first().isEmpty()))
            lines.append(eol);
        else
            lines.clear();
        lines.append(QLatin1Char('[') + section + QLatin1Char(']') + eol);
        lines.append(newLine);
        lines.append(QString());
    }
    return lines.join(QLatin1Char('\n')).toUtf8();
}

Result<Config> writeIniValues(const QString &pathIn, const IniValues &values)
{
    // A link to the file is kept: the file it names is replaced.
    const QFileInfo info(pathIn);
    const QString path = info.exists() ? info.canonicalFilePath() : info.absoluteFilePath();
    QByteArray text;
    QFile file(path);
    if (file.exists()) {
        if (!file.open(QIODevice::ReadOnly))
            return Error{ErrorCode::ConfigError,
                         QStringLiteral("cannot read %1: %2").arg(path, file.errorString())};
        text = file.readAll();
        file.close();
    }
    const QByteArray next = setIniValues(text, values);

    // Parsed by the console's own parser before anything is written.
    QTemporaryFile check(QDir::tempPath() + QStringLiteral("/isocket-settings-XXXXXX.ini"));
    if (!check.open() || check.write(next) != next.size() || !check.flush())
        return Error{ErrorCode::IoError, QStringLiteral("cannot check the new settings: %1")
                                             .arg(check.errorString())};
    Config config;
    if (auto r = config.loadFile(check.fileName()); !r) {
        QString message = r.error().message;
        message.replace(check.fileName(), path);
        return Error{ErrorCode::ConfigError, message};
    }
    const QFileInfo target(path);
    if (auto r = writeFileAtomically(target.absolutePath(), target.fileName(), next); !r)
        return r.error();
    return config;
}

} // namespace isocket
