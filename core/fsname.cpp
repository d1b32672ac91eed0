#include "core/fsname.h"

#include <algorithm>

namespace isocket {

namespace {

constexpr char16_t EscapeBase = 0xDC00; // byte b (0x80..0xFF) ↔ U+DC00 + b

bool isEscape(char16_t c)
{
    return c >= 0xDC80 && c <= 0xDCFF;
}

// The length of the well-formed UTF-8 sequence at p (Unicode table 3-7: no overlong forms, no
// surrogates, nothing over U+10FFFF), 0 when there is none.
int sequenceAt(const quint8 *p, qsizetype left)
{
    const quint8 c = p[0];
    if (c < 0x80)
        return 1;
    auto cont = [&](qsizetype i, quint8 lo = 0x80, quint8 hi = 0xBF) {
        return i < left && p[i] >= lo && p[i] <= hi;
    };
    if (c >= 0xC2 && c <= 0xDF)
        return cont(1) ? 2 : 0;
    if (c == 0xE0)
        return cont(1, 0xA0) && cont(2) ? 3 : 0;
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
        return cont(1) && cont(2) ? 3 : 0;
    if (c == 0xED)
        return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
    if (c == 0xF0)
        return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
    if (c >= 0xF1 && c <= 0xF3)
        return cont(1) && cont(2) && cont(3) ? 4 : 0;
    if (c == 0xF4)
        return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
    return 0;
}

// The code point at name[i] and how many UTF-16 units it takes; an escaped byte is reported as
// itself (0xDC80..0xDCFF), a surrogate fsDecode() cannot have made as U+FFFD.
char32_t codePointAt(QStringView name, qsizetype i, int *units)
{
    const char16_t c = name[i].unicode();
    *units = 1;
    if (c < 0xD800 || c > 0xDFFF)
        return c;
    if (c <= 0xDBFF && i + 1 < name.size()) {
        const char16_t d = name[i + 1].unicode();
        if (d >= 0xDC00 && d <= 0xDFFF) {
            *units = 2;
            return 0x10000 + ((char32_t(c) - 0xD800) << 10) + (d - 0xDC00);
        }
    }
    return isEscape(c) ? char32_t(c) : char32_t(0xFFFD);
}

int utf8Length(char32_t cp)
{
    if (cp < 0x80)
        return 1;
    if (cp >= 0xDC80 && cp <= 0xDCFF)
        return 1; // an escaped byte
    if (cp < 0x800)
        return 2;
    return cp < 0x10000 ? 3 : 4;
}

// Shown as escapes by displayName(): C0 and C1 controls, DEL, and the Unicode line and
// paragraph separators (each would break a line of text).
bool isControl(char32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029;
}

void appendHex(QString &out, quint8 byte)
{
    static constexpr char Digits[] = "0123456789abcdef";
    out += QLatin1String("\\x");
    out += QLatin1Char(Digits[byte >> 4]);
    out += QLatin1Char(Digits[byte & 0xF]);
}

} // namespace

QString fsDecode(QByteArrayView bytes)
{
    const auto *p = reinterpret_cast<const quint8 *>(bytes.data());
    const qsizetype n = bytes.size();
    QString out(n, Qt::Uninitialized); // never more UTF-16 units than bytes
    char16_t *o = reinterpret_cast<char16_t *>(out.data());
    qsizetype w = 0;
    for (qsizetype i = 0; i < n;) {
        const quint8 c = p[i];
        if (c < 0x80) {
            o[w++] = c;
            ++i;
            continue;
        }
        const int len = sequenceAt(p + i, n - i);
        if (len == 0) {
            o[w++] = char16_t(EscapeBase + c);
            ++i;
            continue;
        }
        char32_t cp = len == 2 ? c & 0x1F : len == 3 ? c & 0x0F : c & 0x07;
        for (int k = 1; k < len; ++k)
            cp = (cp << 6) | (p[i + k] & 0x3F);
        if (cp >= 0x10000) {
            o[w++] = char16_t(0xD800 + ((cp - 0x10000) >> 10));
            o[w++] = char16_t(0xDC00 + ((cp - 0x10000) & 0x3FF));
        } else {
            o[w++] = char16_t(cp);
        }
        i += len;
    }
    out.truncate(w);
    return out;
}

qsizetype fsLength(QStringView name)
{
    qsizetype total = 0;
    for (qsizetype i = 0; i < name.size();) {
        int units = 1;
        total += utf8Length(codePointAt(name, i, &units));
        i += units;
    }
    return total;
}

QByteArray fsEncode(QStringView name)
{
    const qsizetype n = name.size();
    const char16_t *s = reinterpret_cast<const char16_t *>(name.data());
    qsizetype ascii = 0;
    while (ascii < n && s[ascii] < 0x80)
        ++ascii;
    if (ascii == n) { // the usual case: one pass, one allocation
        QByteArray out(n, Qt::Uninitialized);
        char *o = out.data();
        for (qsizetype i = 0; i < n; ++i)
            o[i] = char(s[i]);
        return out;
    }
    QByteArray out(fsLength(name), Qt::Uninitialized);
    char *o = out.data();
    for (qsizetype i = 0; i < n;) {
        int units = 1;
        const char32_t cp = codePointAt(name, i, &units);
        i += units;
        if (cp < 0x80) {
            *o++ = char(cp);
        } else if (cp >= 0xDC80 && cp <= 0xDCFF) {
            *o++ = char(cp - EscapeBase);
        } else if (cp < 0x800) {
            *o++ = char(0xC0 | (cp >> 6));
            *o++ = char(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            *o++ = char(0xE0 | (cp >> 12));
            *o++ = char(0x80 | ((cp >> 6) & 0x3F));
            *o++ = char(0x80 | (cp & 0x3F));
        } else {
            *o++ = char(0xF0 | (cp >> 18));
            *o++ = char(0x80 | ((cp >> 12) & 0x3F));
            *o++ = char(0x80 | ((cp >> 6) & 0x3F));
            *o++ = char(0x80 | (cp & 0x3F));
        }
    }
    return out;
}

bool isUtf8Name(QStringView name)
{
    for (qsizetype i = 0; i < name.size();) {
        int units = 1;
        const char32_t cp = codePointAt(name, i, &units);
        if (cp >= 0xDC80 && cp <= 0xDCFF)
            return false;
        i += units;
    }
    return true;
}

bool needsEscape(QStringView name)
{
    // The usual name has no surrogate, control character or backslash: one cheap pass. Only
    // one that has takes the careful pass, which tells escaped bytes and pairs apart.
    const auto plain = [](QChar ch) {
        const char16_t c = ch.unicode();
        return c != u'\\' && !isControl(c) && (c < 0xD800 || c > 0xDFFF);
    };
    if (std::all_of(name.begin(), name.end(), plain))
        return false;
    for (qsizetype i = 0; i < name.size();) {
        int units = 1;
        const char32_t cp = codePointAt(name, i, &units);
        if (cp == U'\\' || isControl(cp) || (cp >= 0xDC80 && cp <= 0xDCFF) || cp == 0xFFFD)
            return true;
        i += units;
    }
    return false;
}

QString displayName(const QString &name)
{
    if (!needsEscape(name))
        return name;
    QString out;
    out.reserve(name.size() + 16);
    for (qsizetype i = 0; i < name.size();) {
        int units = 1;
        const char32_t cp = codePointAt(name, i, &units);
        if (cp == U'\\') {
            out += QLatin1String("\\\\");
        } else if (cp == U'\n') {
            out += QLatin1String("\\n");
        } else if (cp == U'\t') {
            out += QLatin1String("\\t");
        } else if (cp >= 0xDC80 && cp <= 0xDCFF) {
            appendHex(out, quint8(cp - EscapeBase));
        } else if (isControl(cp)) {
            // Each byte of its UTF-8 form, so that unescapeName() gives the bytes back.
            for (const char b : fsEncode(name.mid(i, units)))
                appendHex(out, quint8(b));
        } else {
            out += name.mid(i, units);
        }
        i += units;
    }
    return out;
}

QString displayBytes(QByteArrayView bytes)
{
    return displayName(fsDecode(bytes));
}

std::optional<QByteArray> unescapeName(QStringView text)
{
    if (!text.contains(QLatin1Char('\\')))
        return fsEncode(text);
    QByteArray out;
    out.reserve(text.size());
    auto hexValue = [](QChar c) -> int {
        const char16_t u = c.unicode();
        if (u >= u'0' && u <= u'9')
            return u - u'0';
        if (u >= u'a' && u <= u'f')
            return u - u'a' + 10;
        if (u >= u'A' && u <= u'F')
            return u - u'A' + 10;
        return -1;
    };
    qsizetype plain = 0; // start of the text not yet copied
    for (qsizetype i = 0; i < text.size(); ++i) {
        if (text[i] != QLatin1Char('\\'))
            continue;
        out += fsEncode(text.mid(plain, i - plain));
        if (i + 1 >= text.size())
            return std::nullopt;
        const QChar e = text[i + 1];
        if (e == QLatin1Char('\\')) {
            out += '\\';
            i += 1;
        } else if (e == QLatin1Char('n')) {
            out += '\n';
            i += 1;
        } else if (e == QLatin1Char('t')) {
            out += '\t';
            i += 1;
        } else if (e == QLatin1Char('x') && i + 3 < text.size() && hexValue(text[i + 2]) >= 0 &&
                   hexValue(text[i + 3]) >= 0) {
            out += char(hexValue(text[i + 2]) * 16 + hexValue(text[i + 3]));
            i += 3;
        } else {
            return std::nullopt;
        }
        plain = i + 1;
    }
    out += fsEncode(text.mid(plain));
    return out;
}

QString reservedReason(QStringView component)
{
    if (component == QLatin1String(ManifestName))
        return QStringLiteral("'%1' is the name of the receiver's manifest; no data path may use "
                              "it, at any depth")
            .arg(QLatin1String(ManifestName));
    return QString();
}

} // namespace isocket
