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
// Read-only: changes nothing on disk. Stateless apart from the set of symbolic links already
// reported, so one instance may be used from several threads.

#include "core/error.h"
#include "core/fileutil.h"

#include <QList>
#include <QMutex>
#include <QSet>
#include <QString>

#include <functional>

namespace isocket {

enum class DbtagState { Live, Closed, Done, Abnormal };

QString stateName(DbtagState state); // "live", "closed", "done", "abnormal"

struct DataFile
{
    QString relPath; // inside the dbtag, "sub/file"
    FileStamp stamp;
    bool sent = false;
    bool outside = false; // sent outside isocket: g+w without isocket's record (SentMark)
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

    // Every data file of one dbtag directory, recursively: regular files only, no hidden names
    // (a leading '.'), no markers at its top level; symbolic links are skipped and logged once.
    // A file that is g+w and for which `knownSent` answers true counts as sent by isocket
    // without its record being read (the record of our own mark holds exactly that size and
    // mtime); one that is g+w without a record is sent and `outside`.
    Result<QList<DataFile>> listFiles(const QString &dbtagPath,
                                      const KnownSent &knownSent = {}) const;

    // Whether `name` (an entry directly in the root) is a dbtag by its name.
    bool isDbtagName(const QString &name) const;

    // Whether `relPath` inside a dbtag is a data file name (not hidden, not a top-level marker).
    bool isDataPath(const QString &relPath) const;

private:
    void reportLinkOnce(const QString &path) const;

    ScanOptions m_options;
    mutable QMutex m_linksMutex;
    mutable QSet<QString> m_reportedLinks;
};

} // namespace isocket
