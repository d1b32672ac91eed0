#pragma once
// What the ED already delivered, read back from disk: the files under the data root that carry
// the sent mark (core/sentmark.h), newest mark first. The sender window lists them at start, so
// its "last delivered" list is not empty after a restart.
//
// The time of a file's mark is its inode change time (marking sets g+w, which changes it).
// Dbtags are walked newest name first and the walk stops once `limit` files are found in the
// dbtags walked so far, so a big root costs the newest dbtags, not the whole tree. Names are
// read as bytes (core/fsname.h). A plain function, any thread; it blocks on the disk: call it
// off the GUI thread.

#include <QDateTime>
#include <QList>
#include <QString>
#include <QStringList>

namespace isocket {

struct SentFile
{
    QString dbtag;
    QString relPath;
    qint64 size = 0;
    QDateTime markedAt; // UTC
};

// At most `limit` files marked sent in the dbtags of `root` whose names start with `prefix`,
// newest mark first. `markers` (finished.parse, finished.watch) are not data files.
QList<SentFile> recentlySent(const QString &root, const QString &prefix,
                             const QStringList &markers, int limit);

} // namespace isocket
