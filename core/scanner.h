#pragma once
// The scanner: paths in, dbtag states out. It classifies every dbtag directory under the data
// root by its two markers and age, and lists the data files of the ones not yet done.
//
// Rules (DESIGN.md, made exact):
//   finished.watch + finished.parse          → Done
//   finished.watch, no finished.parse        → Abnormal (done, but closed abnormally)
//   finished.parse, no finished.watch        → Closed (send all, then write finished.watch)
//   no markers, not the newest               → Closed (the producer died)
//   no markers, newest                       → Live (watch it)
// "Newest" is by mtime, ties going to the later name, among dbtags *without either marker*:
// isocket's own writes of finished.watch never change which dbtag is live, and neither does a
// producer that writes finished.parse into the previous dbtag after creating the next one.
// A Done/Abnormal dbtag is decided from its markers alone; its files are never listed.
//
// Entries of a dbtag that cannot be sent are *skipped*, never ignored: listFiles() reports each
// with its reason (a symbolic link whose target is not a file inside the data root, a name the
// receiver keeps for itself such as `finished.isocket`, a fifo…) for the engine to warn about,
// `scan` to show and the receiver's manifest to name. Names are bytes: every path is the
// lossless QString of core/fsname.h (fsDecode()), whatever bytes the name has, and is shown
// with displayName(). A symbolic link whose target is a regular file inside the data root is a
// data file under the link's name, its content the target's.
//
// Read-only: changes nothing on disk. Stateless, so one instance may be used from several
// threads.

#include "core/error.h"
#include "core/fileutil.h"

#include <QList>
#include <QString>

#include <functional>

namespace isocket {

enum class DbtagState { Live, Closed, Done, Abnormal };

QString stateName(DbtagState state); // "live", "closed", "done", "abnormal"

struct DataFile
{
    QString relPath; // inside the dbtag, "sub/file"
    FileStamp stamp; // of the file, or of a link's target
    bool sent = false;
    bool outside = false; // sent outside isocket: g+w without isocket's record (SentMark)
    // A symbolic link followed: the absolute path of its target (a regular file inside the data
    // root), whose content is sent under relPath. Empty for a regular file. A link carries no
    // mark of its own (no mode, no xattr on Linux): it is "sent" only as far as the caller's
    // knownSent() says (the engine's memory), and offered again after a restart (the receiver
    // then answers that it holds it already, and nothing is streamed again).
    QString linkTarget{};
};

// An entry of a dbtag that is not sent, and why.
struct SkippedEntry
{
    QString path; // inside the dbtag, lossless (fsDecode()); shown with displayName()
    QString reason;
    bool operator==(const SkippedEntry &) const = default;
};

struct DbtagInfo
{
    QString name;
    QString path; // absolute
    DbtagState state = DbtagState::Closed;
    bool newest = false;
    bool hasParse = false;
    bool hasWatch = false;
    qint64 mtimeNs = 0;
    quint64 dev = 0; // the directory's identity: a dbtag replaced under the same name differs
    quint64 ino = 0;
    bool listed = false;    // files were listed (never for Done/Abnormal)
    QList<DataFile> files;  // every data file, sent or not, sorted by mtime then path
    QList<SkippedEntry> skipped; // entries not sent, sorted by path (when listed)

    int unsentCount() const;
    qint64 unsentBytes() const;
};

struct ScanOptions
{
    QString root; // resolved by the Scanner once (resolveRoot())
    QString prefix = QStringLiteral("DC");
    QString doneParse = QStringLiteral("finished.parse");
    QString doneWatch = QStringLiteral("finished.watch");
};

// The data root as every part of isocket uses it: absolute, symbolic links resolved, no `.`,
// `..`, `//` or trailing `/`, so that each spelling of one root behaves the same. A root that
// does not exist (yet) is made absolute and cleaned only.
QString resolveRoot(const QString &root);

class Scanner
{
public:
    // Resolves options.root once (resolveRoot()); options() reports the resolved root.
    explicit Scanner(ScanOptions options);

    const ScanOptions &options() const { return m_options; }

    // Classifies every dbtag under the root, oldest first, and lists the files of those that
    // are not Done/Abnormal when `listFiles` is set. Fails when the root is missing/unreadable.
    Result<QList<DbtagInfo>> scan(bool listFiles = true) const;

    // Whether a file the caller itself marked sent, with this size and mtime, is known to be
    // marked still (relPath as listFiles() reports it). Saves reading its record again.
    using KnownSent = std::function<bool(const QString &relPath, const FileStamp &stamp)>;

    // Every data file of one dbtag directory, recursively: regular files, and symbolic links to
    // regular files inside the data root; no hidden names (a leading '.'), no markers at its
    // top level. A file that is g+w and for which `knownSent` answers true counts as sent by
    // isocket without its record being read (the record of our own mark holds exactly that
    // size and mtime); one that is g+w without a record is sent and `outside`. A link is sent
    // when `knownSent` says so. Whatever else is there (links elsewhere, the receiver's reserved
    // names, fifos, sockets, devices) goes to `skipped`, if given, sorted by path.
    Result<QList<DataFile>> listFiles(const QString &dbtagPath, const KnownSent &knownSent = {},
                                      QList<SkippedEntry> *skipped = nullptr) const;

    // Whether `name` (an entry directly in the root) is a dbtag by its name.
    bool isDbtagName(const QString &name) const;

    // Whether `relPath` inside a dbtag is a data file name (not hidden, not a top-level marker).
    bool isDataPath(const QString &relPath) const;

private:
    ScanOptions m_options;
};

} // namespace isocket
