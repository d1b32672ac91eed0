#include "core/fleetregistry.h"

#include "core/fsname.h"
#include "core/logging.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

#include <algorithm>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace isocket {

namespace {

// The subdirectories of the directory `fd` (not hidden), each with an fd of its own (O_NOFOLLOW:
// a symbolic link in the root is nobody's dataset). `fd` is consumed.
template <typename Fn>
void forEachDir(int fd, Fn &&fn)
{
    DIR *dir = ::fdopendir(fd);
    if (!dir) {
        ::close(fd);
        return;
    }
    while (dirent *e = ::readdir(dir)) {
        if (e->d_name[0] == '.')
            continue;
        if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)
            continue;
        const int sub =
            ::openat(::dirfd(dir), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0)
            continue;
        fn(sub, fsDecode(QByteArrayView(e->d_name)));
    }
    ::closedir(dir);
}

int openRoot(const QString &root)
{
    return ::open(fsEncode(root).constData(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

// "key=value" of a manifest header line, as a number (0 when missing).
qint64 headerNumber(QByteArrayView line, QByteArrayView key)
{
    qsizetype at = 0;
    while ((at = line.indexOf(key, at)) >= 0) {
        if (at > 0 && line.at(at - 1) == ' ' && at + key.size() < line.size() &&
            line.at(at + key.size()) == '=') {
            qsizetype end = at + key.size() + 1;
            qsizetype stop = line.indexOf(' ', end);
            if (stop < 0)
                stop = line.size();
            bool ok = false;
            const qint64 n = line.sliced(end, stop - end).toLongLong(&ok);
            return ok ? n : 0;
        }
        at += key.size();
    }
    return 0;
}

QJsonArray entriesJson(const QList<FleetEntry> &fleet)
{
    QJsonArray array;
    for (const FleetEntry &e : fleet)
        array.append(e.toJson());
    return array;
}

} // namespace

QList<CompletedDataset> completedDatasets(const QString &receiveRoot)
{
    QList<CompletedDataset> out;
    const int root = openRoot(receiveRoot);
    if (root < 0)
        return out;
    forEachDir(root, [&](int sourceFd, const QString &source) {
        forEachDir(sourceFd, [&](int dbtagFd, const QString &dbtag) {
            const int fd = ::openat(dbtagFd, ManifestName, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
            ::close(dbtagFd);
            if (fd < 0)
                return;
            struct stat st{};
            char head[8192];
            const ssize_t n = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode)
                                  ? ::pread(fd, head, sizeof head, 0)
                                  : -1;
            ::close(fd);
            if (n < 0)
                return;
            QByteArrayView line(head, n);
            if (const qsizetype eol = line.indexOf('\n'); eol >= 0)
                line = line.first(eol);
            CompletedDataset d;
            d.source = source;
            d.dbtag = dbtag;
            d.files = int(headerNumber(line, "files"));
            d.bytes = headerNumber(line, "bytes");
            d.completed = QDateTime::fromMSecsSinceEpoch(
                qint64(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1'000'000, Qt::UTC);
            out.append(std::move(d));
        });
    });
    std::sort(out.begin(), out.end(), [](const CompletedDataset &a, const CompletedDataset &b) {
        return a.source != b.source ? a.source < b.source : a.dbtag < b.dbtag;
    });
    return out;
}

QHash<QString, int> completedDatasetCounts(const QString &receiveRoot)
{
    QHash<QString, int> counts;
    const int root = openRoot(receiveRoot);
    if (root < 0)
        return counts;
    forEachDir(root, [&](int sourceFd, const QString &source) {
        int n = 0;
        forEachDir(sourceFd, [&](int dbtagFd, const QString &) {
            struct stat st{};
            if (::fstatat(dbtagFd, ManifestName, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                S_ISREG(st.st_mode))
                ++n;
            ::close(dbtagFd);
        });
        if (n > 0)
            counts.insert(source, n);
    });
    return counts;
}

QByteArray fleetDocument(const ReceiverHealth &receiver, const QList<FleetEntry> &fleet)
{
    QJsonObject o;
    o.insert(QStringLiteral("receiver"), receiver.toJson());
    o.insert(QStringLiteral("fleet"), entriesJson(fleet));
    return QJsonDocument(o).toJson(QJsonDocument::Compact);
}

std::optional<FleetDocument> parseFleetDocument(const QByteArray &document)
{
    QJsonParseError error{};
    const QJsonDocument json = QJsonDocument::fromJson(document, &error);
    if (error.error != QJsonParseError::NoError || !json.isObject())
        return std::nullopt;
    const QJsonObject o = json.object();
    auto receiver = ReceiverHealth::fromJson(o.value(QStringLiteral("receiver")).toObject());
    if (!receiver || !o.value(QStringLiteral("fleet")).isArray())
        return std::nullopt;
    FleetDocument d;
    d.receiver = *receiver;
    const QJsonArray array = o.value(QStringLiteral("fleet")).toArray();
    for (const QJsonValue &v : array) {
        if (auto e = FleetEntry::fromJson(v.toObject()))
            d.fleet.append(std::move(*e));
    }
    return d;
}

FleetRegistry::FleetRegistry(QString root) : m_root(std::move(root)) {}

void FleetRegistry::setInstance(const QString &instance)
{
    QString name = instance;
    for (QChar &c : name)
        if (c == QLatin1Char('/') || c.unicode() < 0x20)
            c = QLatin1Char('_');
    while (name.startsWith(QLatin1Char('.')))
        name.remove(0, 1);
    m_instance = name.isEmpty() ? QStringLiteral("receiver") : name.left(200);
}

QString FleetRegistry::filePath() const
{
    if (m_root.isEmpty())
        return {};
    return QDir(m_root).filePath(QLatin1String(DirName) + QLatin1Char('/') + m_instance +
                                 QStringLiteral(".json"));
}

namespace {

struct RegistryFile
{
    QDateTime written;
    QList<std::pair<FleetEntry, bool>> entries; // with "ever authenticated"
};

// A registry file's contents; nullopt with `problem` set when it is not one.
std::optional<RegistryFile> readRegistryFile(QFile &file, int maxEntries, QString *problem)
{
    if (!file.open(QIODevice::ReadOnly)) {
        *problem = file.errorString();
        return std::nullopt;
    }
    if (file.size() > 256LL * 1024 * 1024) {
        *problem = QStringLiteral("%1 bytes, more than it can be").arg(file.size());
        return std::nullopt;
    }
    QJsonParseError error{};
    const QJsonDocument json = QJsonDocument::fromJson(file.readAll(), &error);
    const QJsonValue sources = json.object().value(QStringLiteral("sources"));
    if (error.error != QJsonParseError::NoError) {
        *problem = error.errorString();
        return std::nullopt;
    }
    if (!sources.isArray()) {
        *problem = QStringLiteral("no list of sources");
        return std::nullopt;
    }
    RegistryFile out;
    out.written = QDateTime::fromString(json.object().value(QStringLiteral("written")).toString(),
                                        Qt::ISODateWithMs);
    for (const QJsonValue &v : sources.toArray()) {
        auto entry = FleetEntry::fromJson(v.toObject());
        if (!entry || entry->source.isEmpty()) {
            *problem = QStringLiteral("an entry that is not one");
            return std::nullopt;
        }
        if (out.entries.size() >= maxEntries)
            break;
        out.entries.append(
            {std::move(*entry), v.toObject().value(QStringLiteral("authenticated")).toBool(true)});
    }
    return out;
}

qint64 mtimeNs(const struct stat &st)
{
    return qint64(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

// `into` and `other` are one source as two receivers saw it.
void mergeEntry(FleetEntry &into, const FleetEntry &other)
{
    into.connected = into.connected || other.connected;
    if (other.lastSeen.isValid() && (!into.lastSeen.isValid() || other.lastSeen > into.lastSeen)) {
        into.lastSeen = other.lastSeen;
        if (!other.peer.isEmpty())
            into.peer = other.peer;
    }
    if (other.firstSeen.isValid() && (!into.firstSeen.isValid() || other.firstSeen < into.firstSeen))
        into.firstSeen = other.firstSeen;
    if (other.health && (!into.health || other.health->at > into.health->at))
        into.health = other.health;
    into.filesReceived += other.filesReceived;
    into.bytesReceived += other.bytesReceived;
    into.authFailures += other.authFailures;
    // Both counted the same disk.
    into.datasetsCompleted = std::max(into.datasetsCompleted, other.datasetsCompleted);
}

} // namespace

void FleetRegistry::load()
{
    if (m_root.isEmpty())
        return;
    const QString path = filePath();
    const QString legacy = QDir(m_root).filePath(QLatin1String(LegacyFileName));
    if (!QFile::exists(path) && QFile::exists(legacy)) {
        // One receiver takes it (rename is atomic): its counts are not counted twice.
        QDir().mkpath(QFileInfo(path).path());
        if (QFile::rename(legacy, path))
            qCInfo(lcRecv).noquote() << "fleet registry" << legacy << "moved to" << path;
    }
    QHash<QString, Item> items;
    QFile file(path);
    if (file.exists()) {
        QString problem;
        if (auto read = readRegistryFile(file, MaxSources, &problem)) {
            for (auto &[entry, authenticated] : read->entries) {
                Item item;
                item.entry = std::move(entry);
                item.entry.connected = false;
                item.everAuthenticated = authenticated;
                items.insert(item.entry.source, std::move(item));
            }
        }
        file.close();
        if (!problem.isEmpty()) {
            const QString aside = path + QStringLiteral(".corrupt");
            QFile::remove(aside);
            QFile::rename(path, aside);
            qCWarning(lcRecv).noquote()
                << "fleet registry" << path << "cannot be read:" << problem
                << "- set aside as" << aside << "and started empty";
            items.clear();
        }
    }
    const QHash<QString, int> datasets = completedDatasetCounts(m_root);
    {
        std::lock_guard lock(m_mutex);
        m_loaded = true;
        m_items = std::move(items);
        m_unauthenticated = 0;
        for (Item &item : m_items) {
            item.entry.datasetsCompleted = datasets.value(item.entry.source);
            if (!item.everAuthenticated)
                ++m_unauthenticated;
        }
        // A source with datasets on disk that the registry does not know (an older receiver's
        // root, a lost file) is a source seen once.
        for (auto it = datasets.cbegin(); it != datasets.cend(); ++it) {
            if (m_items.contains(it.key()) || m_items.size() >= MaxSources)
                continue;
            Item item;
            item.entry.source = it.key();
            item.entry.datasetsCompleted = it.value();
            item.everAuthenticated = true;
            m_items.insert(it.key(), std::move(item));
            m_unsaved = true;
        }
    }
    refreshPeers();
}

bool FleetRegistry::refreshPeers()
{
    if (m_root.isEmpty())
        return false;
    const QString own = m_instance + QStringLiteral(".json");
    QHash<QString, PeerFile> known;
    {
        std::lock_guard lock(m_mutex);
        if (!m_loaded)
            return false;
        known = m_peers;
        if (m_lastSave.isValid() &&
            m_lastSave.secsTo(QDateTime::currentDateTimeUtc()) >= HeartbeatSeconds &&
            std::any_of(m_items.cbegin(), m_items.cend(),
                        [](const Item &i) { return i.connections > 0; }))
            m_unsaved = true; // the heartbeat: the others see our connections are alive
    }
    QHash<QString, PeerFile> now;
    bool moved = false;
    const QString dirPath = QDir(m_root).filePath(QLatin1String(DirName));
    const int dirFd = ::open(fsEncode(dirPath).constData(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (DIR *dir = dirFd >= 0 ? ::fdopendir(dirFd) : nullptr) {
        while (dirent *e = ::readdir(dir)) {
            const QString name = fsDecode(QByteArrayView(e->d_name));
            if (name.startsWith(QLatin1Char('.')) || !name.endsWith(QStringLiteral(".json")) ||
                name == own || now.size() >= MaxPeerFiles)
                continue;
            struct stat st{};
            if (::fstatat(::dirfd(dir), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
                !S_ISREG(st.st_mode))
                continue;
            auto it = known.constFind(name);
            if (it != known.cend() && it->mtimeNs == mtimeNs(st) && it->size == st.st_size) {
                now.insert(name, *it);
                continue;
            }
            QFile file(dirPath + QLatin1Char('/') + name);
            QString problem;
            auto read = readRegistryFile(file, MaxSources, &problem);
            if (!read) {
                // Perhaps caught mid-rename on a filesystem without atomic visibility: the last
                // good reading stands; the next call tries again.
                if (it != known.cend())
                    now.insert(name, *it);
                continue;
            }
            PeerFile peer;
            peer.mtimeNs = mtimeNs(st);
            peer.size = st.st_size;
            peer.written = read->written;
            for (auto &[entry, authenticated] : read->entries)
                peer.entries.append(std::move(entry));
            now.insert(name, std::move(peer));
            moved = true;
        }
        ::closedir(dir);
    } else if (dirFd >= 0) {
        ::close(dirFd);
    }
    moved = moved || now.size() != known.size();
    // A receiver that stopped writing is gone: its connections no longer count.
    const QDateTime clock = QDateTime::currentDateTimeUtc();
    for (auto it = now.begin(); it != now.end(); ++it) {
        it->fresh = it->written.isValid() && it->written.secsTo(clock) <= PeerStaleSeconds;
        const auto before = known.constFind(it.key());
        moved = moved || before == known.cend() || before->fresh != it->fresh;
    }
    std::lock_guard lock(m_mutex);
    m_peers = std::move(now);
    return moved;
}

bool FleetRegistry::needsSave() const
{
    std::lock_guard lock(m_mutex);
    return m_unsaved;
}

Result<void> FleetRegistry::save()
{
    if (m_root.isEmpty())
        return {};
    QJsonArray sources;
    const QDateTime now = QDateTime::currentDateTimeUtc();
    {
        std::lock_guard lock(m_mutex);
        if (!m_loaded || !m_unsaved)
            return {};
        m_unsaved = false;
        m_lastSave = now;
        for (const Item &item : std::as_const(m_items)) {
            QJsonObject o = item.entry.toJson();
            o.insert(QStringLiteral("authenticated"), item.everAuthenticated);
            sources.append(o);
        }
    }
    QJsonObject root;
    root.insert(QStringLiteral("version"), 2);
    root.insert(QStringLiteral("receiver"), m_instance);
    root.insert(QStringLiteral("written"), now.toString(Qt::ISODateWithMs));
    root.insert(QStringLiteral("sources"), sources);
    QDir().mkpath(QFileInfo(filePath()).path());
    QSaveFile file(filePath());
    if (!file.open(QIODevice::WriteOnly) ||
        file.write(QJsonDocument(root).toJson(QJsonDocument::Compact)) < 0 || !file.commit()) {
        std::lock_guard lock(m_mutex);
        m_unsaved = true;
        return Error{ErrorCode::IoError, QStringLiteral("cannot write the fleet registry %1: %2")
                                             .arg(filePath(), file.errorString())};
    }
    return {};
}

void FleetRegistry::disconnectAll()
{
    std::lock_guard lock(m_mutex);
    const QDateTime now = QDateTime::currentDateTimeUtc();
    for (Item &item : m_items) {
        if (item.connections == 0)
            continue;
        item.connections = 0;
        item.entry.connected = false;
        item.entry.lastSeen = now;
        m_unsaved = true;
    }
}

FleetRegistry::Item *FleetRegistry::itemFor(const QString &source, bool authenticatedSource,
                                            const QDateTime &now)
{
    auto it = m_items.find(source);
    if (it != m_items.end()) {
        if (authenticatedSource && !it->everAuthenticated) {
            it->everAuthenticated = true;
            --m_unauthenticated;
        }
        return &*it;
    }
    if (!authenticatedSource && m_unauthenticated >= MaxUnauthenticatedSources) {
        // Replace the one that failed least recently, if any.
        auto oldest = m_items.end();
        for (auto i = m_items.begin(); i != m_items.end(); ++i)
            if (!i->everAuthenticated && (oldest == m_items.end() ||
                                          i->entry.lastSeen < oldest->entry.lastSeen))
                oldest = i;
        if (oldest == m_items.end())
            return nullptr;
        m_items.erase(oldest);
        --m_unauthenticated;
    }
    if (m_items.size() >= MaxSources) {
        auto oldest = m_items.end();
        for (auto i = m_items.begin(); i != m_items.end(); ++i)
            if (i->connections == 0 && (oldest == m_items.end() ||
                                        i->entry.lastSeen < oldest->entry.lastSeen))
                oldest = i;
        if (oldest == m_items.end())
            return nullptr;
        if (!oldest->everAuthenticated)
            --m_unauthenticated;
        m_items.erase(oldest);
    }
    Item item;
    item.entry.source = source;
    item.entry.firstSeen = now;
    item.everAuthenticated = authenticatedSource;
    if (!authenticatedSource)
        ++m_unauthenticated;
    return &*m_items.insert(source, std::move(item));
}

void FleetRegistry::changed()
{
    if (!m_changed.exchange(true) && m_onChange)
        m_onChange();
}

void FleetRegistry::authenticated(const QString &source, const QString &peer)
{
    const QDateTime now = QDateTime::currentDateTimeUtc();
    {
        std::lock_guard lock(m_mutex);
        Item *item = itemFor(source, true, now);
        if (!item)
            return;
        ++item->connections;
        item->entry.connected = true;
        item->entry.peer = peer;
        item->entry.lastSeen = now;
        m_unsaved = true;
    }
    changed();
}

void FleetRegistry::disconnected(const QString &source)
{
    {
        std::lock_guard lock(m_mutex);
        auto it = m_items.find(source);
        if (it == m_items.end() || it->connections == 0)
            return;
        it->connections -= 1;
        it->entry.connected = it->connections > 0;
        it->entry.lastSeen = QDateTime::currentDateTimeUtc();
        m_unsaved = true;
    }
    changed();
}

void FleetRegistry::authFailed(const QString &source, const QString &peer)
{
    {
        std::lock_guard lock(m_mutex);
        Item *item = itemFor(source, false, QDateTime::currentDateTimeUtc());
        if (!item)
            return;
        ++item->entry.authFailures;
        if (!item->everAuthenticated) {
            item->entry.peer = peer;
            item->entry.lastSeen = QDateTime::currentDateTimeUtc();
        }
        m_unsaved = true;
    }
    changed();
}

void FleetRegistry::statusReported(const QString &source, const EdHealth &health)
{
    {
        std::lock_guard lock(m_mutex);
        auto it = m_items.find(source);
        if (it == m_items.end())
            return;
        it->entry.health = health;
        it->entry.lastSeen = QDateTime::currentDateTimeUtc();
        m_unsaved = true;
    }
    changed();
}

void FleetRegistry::fileStored(const QString &source, qint64 bytes)
{
    {
        std::lock_guard lock(m_mutex);
        auto it = m_items.find(source);
        if (it == m_items.end())
            return;
        it->entry.filesReceived += 1;
        it->entry.bytesReceived += bytes;
        m_unsaved = true;
    }
    changed();
}

void FleetRegistry::datasetCompleted(const QString &source)
{
    {
        std::lock_guard lock(m_mutex);
        auto it = m_items.find(source);
        if (it == m_items.end())
            return;
        it->entry.datasetsCompleted += 1;
        it->entry.lastSeen = QDateTime::currentDateTimeUtc();
        m_unsaved = true;
    }
    changed();
}

QList<FleetEntry> FleetRegistry::entries() const
{
    QHash<QString, FleetEntry> merged;
    {
        std::lock_guard lock(m_mutex);
        merged.reserve(m_items.size());
        for (const Item &item : m_items)
            merged.insert(item.entry.source, item.entry);
        for (const PeerFile &peer : m_peers) {
            for (FleetEntry e : peer.entries) {
                e.connected = e.connected && peer.fresh;
                auto it = merged.find(e.source);
                if (it != merged.end())
                    mergeEntry(*it, e);
                else if (merged.size() < MaxSources)
                    merged.insert(e.source, std::move(e));
            }
        }
    }
    QList<FleetEntry> out = merged.values();
    std::sort(out.begin(), out.end(),
              [](const FleetEntry &a, const FleetEntry &b) { return a.source < b.source; });
    return out;
}

std::optional<FleetEntry> FleetRegistry::entry(const QString &source) const
{
    std::lock_guard lock(m_mutex);
    auto it = m_items.find(source);
    if (it == m_items.end())
        return std::nullopt;
    return it->entry;
}

int FleetRegistry::size() const
{
    std::lock_guard lock(m_mutex);
    return int(m_items.size());
}

} // namespace isocket
