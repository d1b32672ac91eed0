#pragma once
// Changes values in isocket's INI file the way an operator would in an editor (the settings
// dialogs of the windows): a key that is set replaces the value on its own line and keeps that
// line's comment; a key that is missing is added at the end of its section (the section is
// added at the end of the file when missing). Every other line (comments, blank lines, keys not
// asked for, keys this build does not know) stays byte for byte. QSettings would rewrite the
// file and drop its comments.
//
// writeIniValues() checks the new text with the console's own parser (Config::loadFile) before
// anything is written, and writes atomically (temporary, fsync, rename). Plain functions, any
// thread; writeIniValues() blocks on the disk: call it off the GUI thread.

#include "core/config.h"
#include "core/error.h"

#include <QByteArray>
#include <QList>
#include <QString>

#include <utility>

namespace isocket {

using IniValues = QList<std::pair<QString, QString>>; // "send.bwlimit" → "10M"

// The value of `key` ("send.bwlimit") as written in `text` (unquoted, without its comment);
// a null QString when the key is not in it.
QString iniValue(const QByteArray &text, const QString &key);

// `text` with every key of `values` set as described above.
QByteArray setIniValues(const QByteArray &text, const IniValues &values);

// Reads `path` (a missing file counts as empty), sets `values`, parses the result as the
// console would (errors name the key, and `path` with the line) and, only when it parses,
// replaces the file atomically. Returns the configuration the file now holds.
Result<Config> writeIniValues(const QString &path, const IniValues &values);

} // namespace isocket
