#pragma once
// The durable "sent" mark of a data file on the ED: the group-write bit (g+w), as the original
// isocket used it, plus a record of the size and mtime that were sent, in the extended
// attribute `user.isocket.sent`, so a file rewritten after it was sent counts as unsent again.
//
// Rules: no g+w → unsent. g+w and a record that matches the file → sent by isocket. g+w and
// no record → sent *outside* isocket (by the original isocket, by hand, or on a filesystem
// without xattrs): never sent again. g+w and a record that no longer matches the file →
// unsent (rewritten).
// Free functions, any thread; each is a few syscalls on one file.

#include "core/error.h"
#include "core/fileutil.h"

#include <QString>

namespace isocket::SentMark {

inline constexpr char AttributeName[] = "user.isocket.sent";

enum class Mark { Unsent, Sent, Outside };

// The mark of the file described by `st` (from lstat of `nativePath`).
Mark markOf(const QByteArray &nativePath, const struct stat &st);

// Whether the file described by `st` (from lstat of `nativePath`) counts as sent (by isocket
// or outside it).
bool isSent(const QByteArray &nativePath, const struct stat &st);
bool isSent(const QString &path);

// Marks `path` sent, but only if its size and mtime still equal `expected` (what was read and
// delivered). FileChanged when they differ, FileVanished when the file is gone. `fd`: the file
// as it was read (open, read-only is enough), marked without opening `path` again; should the
// path name another file by now, that one stays unmarked and is sent in its turn. -1: opens
// `path`.
Result<void> mark(const QString &path, const FileStamp &expected, int fd = -1);

// Clears the mark (g-w, record removed): the file will be sent again.
Result<void> clear(const QString &path);

} // namespace isocket::SentMark
