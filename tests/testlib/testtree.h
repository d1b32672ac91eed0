#pragma once
// Helpers for tests that build data roots on disk: files with given contents and modes,
// dbtags with markers and explicit mtimes (so "newest" never depends on timing).

#include <QByteArray>
#include <QString>

#include <optional>

namespace isocket::test {

// Writes `contents` to `path` (creating parent directories) with mode `mode` (umask ignored).
// Returns false and prints a warning on failure.
bool writeFile(const QString &path, const QByteArray &contents, unsigned mode = 0644);

// Creates a dbtag directory `root/name` with the requested markers and sets the directory's
// mtime to `mtimeSec` seconds since the epoch (after the markers were written).
bool makeDbtag(const QString &root, const QString &name, bool parse, bool watch, qint64 mtimeSec,
               const QString &doneParse = QStringLiteral("finished.parse"),
               const QString &doneWatch = QStringLiteral("finished.watch"));

// Sets the mtime of `path` (file or directory, not following links) to `sec` seconds.
bool setMtime(const QString &path, qint64 sec);

// Whether the group-write bit of `path` is set.
bool hasGroupWrite(const QString &path);

// Names are bytes: the same as writeFile(), hasGroupWrite(), reading a file and removing a tree,
// for a path given as its exact bytes (QFile and QDir would re-encode a name that is not UTF-8
// and reach another file). Parent directories are created with mode 0755.
bool writeFileAt(const QByteArray &path, const QByteArray &contents, unsigned mode = 0644);
bool hasGroupWriteAt(const QByteArray &path);
// The file's contents; nullopt when it cannot be read.
std::optional<QByteArray> readFileAt(const QByteArray &path);
// Removes `path` and everything under it, not following symbolic links. True when it is gone.
bool removeTreeAt(const QByteArray &path);

// Deterministic pseudo-random bytes of `size`, different for each `seed`.
QByteArray patternBytes(qint64 size, quint32 seed);

// Multiplier for test timeouts from ISOCKET_TIMEOUT_FACTOR (default 1).
int timeoutFactor();

} // namespace isocket::test
