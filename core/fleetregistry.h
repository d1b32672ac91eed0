#pragma once
// FleetRegistry: the receiver's memory of every ED (source) it has ever seen (issue 16): when
// it was last seen and from where, whether it is connected now, the last health it reported
// (STATUS, protocol version 4), the files and bytes received from it, the datasets completed
// for it (counted from the manifests on disk), and the failed authentications that claimed it.
//
// Kept under the receive root in `.isocket-fleet.json` (a hidden name: no source can have it),
// rewritten whole and atomically (QSaveFile) by save(); load() reads it back at start. A file
// that cannot be read is logged and set aside (`.isocket-fleet.json.corrupt`), never fatal.
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
    static constexpr const char *FileName = ".isocket-fleet.json";

    // `root`: the receive root (the file lives there); empty: nothing is persisted.
    explicit FleetRegistry(QString root);

    QString filePath() const;
    // Reads the file (if any) and counts the datasets completed on disk. A file that cannot be
    // read is logged and renamed to `<file>.corrupt`; the registry starts empty then.
    void load();
    // Writes the file when something changed since the last save (atomically). No-op without
    // a root.
    Result<void> save();
    bool needsSave() const;

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

    // Every entry, by source name. Any thread.
    QList<FleetEntry> entries() const;
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

    QString m_root;
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
