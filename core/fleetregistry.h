#pragma once
// FleetRegistry: the receiver's memory of every ED (source) it has ever seen (issue 16): when
// it was last seen and from where, whether it is connected now, the last health it reported
// (STATUS, protocol version 4), the files and bytes received from it, the datasets completed
// for it (counted from the manifests on disk), and the failed authentications that claimed it.
//
// Kept under the receive root in `.isocket-fleet/<instance>.json` (a hidden name: no source can
// have it), one file per receiver, so that several receivers sharing one root (docs/SCALING.md)
// never write over each other: each rewrites only its own file, whole and atomically
// (QSaveFile), and reads the others' (refreshPeers()). entries() is the merge: a source is
// connected when any receiver whose file is fresh has it connected, its counters are the sums,
// its last STATUS the newest. A receiver with connected sources rewrites its file at least every
// HeartbeatSeconds; a file older than PeerStaleSeconds is one of a receiver that is gone (its
// sources count as disconnected). load() reads this receiver's file back at start (moving a
// `.isocket-fleet.json` of an older version into place). A file that cannot be read is logged and
// set aside (`<file>.corrupt`), never fatal.
//
// Bounded: at most MaxSources entries; past it a new source replaces the one seen least
// recently that is not connected. Sources that never authenticated (only failures claimed them)
// are at most MaxUnauthenticatedSources of those, so a peer without credentials cannot push the
// real EDs out by claiming names.
//
// Thread-safe: the receiver's I/O and committer threads record events (one mutex, a hash
// lookup; no signal, no post), any thread reads entries(). A change calls the change callback
// once, until takeChanged() is called: whoever publishes the fleet (ReceiverService) is woken once
// per batch of changes, not once per file.

#include "core/error.h"
#include "core/health.h"

#include <QByteArray>
#include <QDateTime>
#include <QHash>
#include <QList>
#include <QString>

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>

namespace isocket {

// A dataset complete on disk: `<root>/<source>/<dbtag>/finished.isocket`.
struct CompletedDataset
{
    QString source;
    QString dbtag;
    int files = 0;     // from the manifest's header
    qint64 bytes = 0;  // from the manifest's header
    QDateTime completed; // the manifest's modification time (UTC)
};

// Every dataset complete under `receiveRoot`, read from disk (the first line of each manifest),
// sorted by source and dbtag. Names are exact (core/fsname.h). Hidden entries are skipped.
QList<CompletedDataset> completedDatasets(const QString &receiveRoot);
// The number of complete datasets per source (a stat per dbtag, no manifest read).
QHash<QString, int> completedDatasetCounts(const QString &receiveRoot);

// What FLEET carries and FleetMonitor reads: {"receiver": ReceiverHealth, "fleet": [FleetEntry]}.
QByteArray fleetDocument(const ReceiverHealth &receiver, const QList<FleetEntry> &fleet);
struct FleetDocument
{
    ReceiverHealth receiver;
    QList<FleetEntry> fleet;
};
// Nullopt for a document that is not one (bad JSON, missing keys); entries it cannot read are
// left out.
std::optional<FleetDocument> parseFleetDocument(const QByteArray &document);

class FleetRegistry
{
public:
    static constexpr int MaxSources = 10'000;
    static constexpr int MaxUnauthenticatedSources = 256;
    static constexpr const char *DirName = ".isocket-fleet";
    static constexpr const char *LegacyFileName = ".isocket-fleet.json"; // before several receivers
    static constexpr qint64 HeartbeatSeconds = 60;
    static constexpr qint64 PeerStaleSeconds = 180;
    static constexpr int MaxPeerFiles = 1'000;

    // `root`: the receive root (the files live there); empty: nothing is persisted.
    explicit FleetRegistry(QString root);

    // This receiver's name among those sharing the root (its file's name; the receiver uses
    // `<host>-<port>`). Characters a file name cannot have are replaced. Set before load().
    void setInstance(const QString &instance);
    QString instance() const { return m_instance; }
    QString filePath() const;
    // Reads the file (if any) and counts the datasets completed on disk. A file that cannot be
    // read is logged and renamed to `<file>.corrupt`; the registry starts empty then.
    void load();
    // Writes the file when something changed since the last save (atomically). No-op without
    // a root.
    Result<void> save();
    bool needsSave() const;
    // The receiver stops: every source is disconnected from it (then save()), so that the other
    // receivers do not count a connection that is gone.
    void disconnectAll();
    // Reads the other receivers' files that changed since the last call (a stat of each, a read
    // of those that moved) and marks this one's for saving when its heartbeat is due. True when
    // entries() may have changed. Any thread; the receiver calls it every few seconds (another
    // machine's write raises no inotify event here).
    bool refreshPeers();

    // Called (from the thread that made the change, outside the lock) when the registry changes
    // after takeChanged() was last called. Set before the receiver runs.
    void setChangeCallback(std::function<void()> callback) { m_onChange = std::move(callback); }
    // Clears the changed mark: the next change calls the callback again.
    void takeChanged() { m_changed.store(false); }

    // Events, any thread.
    void authenticated(const QString &source, const QString &peer);
    void disconnected(const QString &source);
    void authFailed(const QString &source, const QString &peer);
    void statusReported(const QString &source, const EdHealth &health);
    void fileStored(const QString &source, qint64 bytes);
    void datasetCompleted(const QString &source);

    // Every entry, by source name, merged with the other receivers' (refreshPeers()). Any thread.
    QList<FleetEntry> entries() const;
    // This receiver's own entry for `source` (not merged). Any thread.
    std::optional<FleetEntry> entry(const QString &source) const;
    int size() const;

private:
    struct Item
    {
        FleetEntry entry;
        int connections = 0;
        bool everAuthenticated = false;
    };
    // The item for `source`, made (and room made for it) when missing; null when there is no
    // room for a source that never authenticated. Under m_mutex.
    Item *itemFor(const QString &source, bool authenticatedSource, const QDateTime &now);
    void changed(); // outside the lock
    // Another receiver's file, as last read.
    struct PeerFile
    {
        qint64 mtimeNs = 0;
        qint64 size = 0;
        QDateTime written;
        bool fresh = false; // written within PeerStaleSeconds, at the last refreshPeers()
        QList<FleetEntry> entries;
    };

    QString m_root;
    QString m_instance = QStringLiteral("receiver");
    QHash<QString, PeerFile> m_peers; // by file name; under m_mutex
    QDateTime m_lastSave;             // under m_mutex
    mutable std::mutex m_mutex;
    QHash<QString, Item> m_items;
    int m_unauthenticated = 0; // items that never authenticated
    bool m_unsaved = false;
    bool m_loaded = false; // save() never writes over a file load() did not read
    std::atomic<bool> m_changed{false};
    std::function<void()> m_onChange;
};

} // namespace isocket

Q_DECLARE_METATYPE(isocket::CompletedDataset)
