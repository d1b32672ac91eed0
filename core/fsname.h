#pragma once
// File names are bytes (issue 14 item 3). Inside the program a name is a QString holding those
// bytes losslessly: valid UTF-8 decodes as usual, and every byte that is not part of valid
// UTF-8 becomes a lone surrogate U+DC80..U+DCFF (PEP 383, "surrogateescape"), and back. So any
// name Linux allows (no NUL) survives fsDecode() → QString → fsEncode() with its exact bytes;
// fsDecode(fsEncode(s)) == s for every s that fsDecode() made.
//
// Every name that goes from the file system into a QString, or back to a system call, goes
// through these (nativePath() is fsEncode()). Never hand such a name to QFile, QDir, QFileInfo
// or QDirIterator: they re-encode it lossily (U+FFFD) and reach another file.
//
// displayName() is how a name is shown to humans (scan, logs, GUI, the receiver's manifest):
// printable UTF-8 as it is, `\\` for a backslash, `\n` and `\t`, `\xNN` for every other byte
// of a control character and for every byte that is not valid UTF-8. unescapeName() reverses it.
// Plain functions, no state, any thread.

#include <QByteArray>
#include <QByteArrayView>
#include <QString>
#include <QStringView>

#include <optional>

namespace isocket {

// Bytes (no NUL expected) → the lossless QString.
QString fsDecode(QByteArrayView bytes);
// The lossless QString → its bytes. A surrogate that fsDecode() cannot have made (one outside
// U+DC80..U+DCFF without its pair) becomes U+FFFD.
QByteArray fsEncode(QStringView name);
// The byte length of fsEncode(name), without building it.
qsizetype fsLength(QStringView name);
// Whether `name` came from bytes that are all valid UTF-8 (no escaped byte in it).
bool isUtf8Name(QStringView name);

// The name as humans see it (see above). A name that needs no escaping comes back as it is (the
// same shared string, no allocation).
QString displayName(const QString &name);
QString displayBytes(QByteArrayView bytes);
// Whether displayName(name) differs from name.
bool needsEscape(QStringView name);
// The bytes displayName() was made from; nullopt for text it cannot have written (a lone `\`,
// an unknown escape, `\x` without two hex digits).
std::optional<QByteArray> unescapeName(QStringView text);

// The name of the manifest the receiver writes into every finished dbtag directory. A data path
// may not use it (ED: a skipped entry; receiver: bad-path), at any depth.
inline constexpr const char *ManifestName = "finished.isocket";
// Why `component` (one component of a path inside a dbtag) is a name the receiver keeps for
// itself, shared by the ED's scanner and the receiver's path rules; empty when it is free.
// Hidden names (a leading '.': the receiver's partials and temporaries) are not data on the ED
// either and are left to the callers' own rule for them.
QString reservedReason(QStringView component);

} // namespace isocket
