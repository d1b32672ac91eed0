#pragma once
// Stale partials on the receiver. A partial (`.<name>.isocket-part`, see ReceiveStore) stays
// after a dropped connection so that the file can resume; one whose file is never offered again
// (its ED gone for good, the file deleted there, the dbtag renamed) would stay forever and fill
// the disk. sweepStalePartials() removes those nobody has written for a given time.
//
// A partial is removed only while its key ("<source>/<dbtag>/<path>", the registry of files
// being written) is claimed, and only if it is still stale once claimed: a connection that is
// writing the file, or is about to resume it (the key is claimed from OFFER on), keeps it. A
// partial is never data: the ED keeps every file until the receiver has stored it whole, so
// removing one costs at most a transfer from the start.
//
// The walk opens every directory from its parent's descriptor with O_NOFOLLOW, never follows a
// symbolic link and never enters a hidden directory (the receiver makes none). Blocking: run it
// off any event loop thread.

#include <QString>

#include <atomic>
#include <functional>

namespace isocket {

struct SweepStats
{
    int removed = 0;  // partials removed
    qint64 bytes = 0; // their size
    int inUse = 0;    // stale by their time, but claimed by a connection: kept
    int errors = 0;   // directories or partials that could not be read or removed (logged)
};

struct PartialClaims
{
    std::function<bool(const QString &key)> claim; // false: in use
    std::function<void(const QString &key)> release;
};

// Removes the partials under `root` last modified before `cutoffSecs` (seconds since the epoch).
// `stop` is checked between entries: set, the walk returns what it did so far.
SweepStats sweepStalePartials(const QString &root, qint64 cutoffSecs, const PartialClaims &claims,
                              const std::atomic<bool> &stop);

} // namespace isocket
