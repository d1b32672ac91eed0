#include "core/incomingfile.h"

#include <fcntl.h>

#include <limits>

#include "core/logging.h"
#include "core/streamwriter.h"

namespace isocket {

namespace {

// Start writeback every this many bytes of a file (write-behind, see received()).
constexpr qint64 WriteBehindBytes = 8 * 1024 * 1024;

} // namespace

IncomingFile::IncomingFile(ConnectionHost &host, quint64 connId, QString source, NameRules rules,
                           ErrorCode completeCode, proto::Offer offer)
    : m_host(host), m_connId(connId), m_source(std::move(source)), m_rules(rules),
      m_completeCode(completeCode), m_offer(std::move(offer))
{
}

IncomingFile::~IncomingFile()
{
    m_file.reset(); // its lock (ReceiveStore::openPartial) goes before the key another may claim
    if (!m_key.isEmpty())
        m_host.release(m_key);
}

QString IncomingFile::describe() const
{
    return m_source + QLatin1Char('/') + m_offer.dbtag + QLatin1Char('/') + m_offer.path;
}

IncomingFile::Verdict IncomingFile::refuse(ErrorCode code, const QString &message)
{
    if (!m_key.isEmpty())
        m_host.release(std::exchange(m_key, QString()));
    m_slot.reset();
    m_stage = Stage::New;
    return Verdict{Verdict::Kind::Refused, Error{code, message}};
}

IncomingFile::Verdict IncomingFile::examine()
{
    const proto::Offer &m = m_offer;
    if (m.size > quint64(std::numeric_limits<qint64>::max()))
        return refuse(ErrorCode::BadFrame, QStringLiteral("size out of range"));
    const qint64 size = qint64(m.size);

    // Validation first: an invalid path must not reach the registry or the disk.
    if (auto r = validateName(m.dbtag, QStringLiteral("dbtag"), m_rules); !r)
        return refuse(ErrorCode::BadPath, r.error().message);
    if (auto r = validateRelativePath(m.path, QStringLiteral("path"), m_rules); !r)
        return refuse(ErrorCode::BadPath, r.error().message);
    if (auto r = ReceiveStore::checkReservedNames(m.path); !r)
        return refuse(ErrorCode::BadPath, r.error().message);

    const QString key = describe();
    if (!m_host.claim(key))
        return refuse(ErrorCode::Busy,
                      QStringLiteral("%1 is being written by another connection").arg(key));
    m_key = key;

    ReceiveStore &store = m_host.store();
    auto slot = store.locate(m_source, m.dbtag, m.path, m_rules);
    if (!slot)
        return refuse(slot.error().code, slot.error().message);
    auto stored = store.storedHash(slot.value(), size, m.mtimeNs);
    if (!stored)
        return refuse(stored.error().code, stored.error().message);
    if (stored.value()) {
        // Outstanding until the sender compares hashes: CANCEL (same file) or BEGIN(0) to
        // overwrite the stored copy. The key stays claimed meanwhile.
        m_stage = Stage::Offered;
        Verdict v;
        v.kind = Verdict::Kind::AlreadyStored;
        v.hash = *stored.value();
        return v;
    }
    if (auto refusal = completeRefusal())
        return refuse(refusal->code, refusal->message);
    m_slot = std::move(slot).value();
    if (store.writesAnonymously(*m_slot, size))
        return accept(std::optional<PartialInfo>());
    auto probe = store.probePartial(*m_slot, size);
    if (!probe.exists || probe.known) // no partial (most offers), or one we know: no reading
        return accept(std::move(probe.known));
    if (probe.length >= AsyncPartialBytes) {
        // Reading it back takes a while (a second per GiB or more: partials are written past
        // the page cache), and this thread serves other connections: it is hashed on another
        // one and ACCEPTed when done (hashPartial()).
        m_stage = Stage::Hashing;
        return Verdict{Verdict::Kind::Hashing};
    }
    return accept(store.findPartial(*m_slot, size));
}

void IncomingFile::hashPartial(QObject *replyTo, ConnectionHost::PartialReply reply)
{
    Q_ASSERT(m_stage == Stage::Hashing && m_slot);
    m_host.findPartial(*m_slot, qint64(m_offer.size), replyTo, std::move(reply));
}

IncomingFile::Verdict IncomingFile::partialHashed(const Result<std::optional<PartialInfo>> &partial)
{
    Q_ASSERT(m_stage == Stage::Hashing);
    return accept(partial);
}

IncomingFile::Verdict IncomingFile::accept(const Result<std::optional<PartialInfo>> &partial)
{
    if (!partial)
        return refuse(partial.error().code, partial.error().message);
    const qint64 size = qint64(m_offer.size);
    const qint64 offset = partial.value() ? partial.value()->length : 0;
    // The slot of the OFFER is not held until BEGIN: a thousand offers in flight must not pin a
    // thousand directory fds.
    Q_ASSERT(m_slot);
    const FileSlot slot = *std::exchange(m_slot, std::nullopt);
    auto space = m_host.store().checkSpace(slot, size - offset);
    if (!space)
        return refuse(space.error().code, space.error().message);

    m_space = std::move(space).value();
    m_offeredOffset = offset;
    m_stage = Stage::Offered;
    Verdict v;
    v.kind = Verdict::Kind::Send;
    v.offset = offset;
    if (partial.value()) {
        m_hasher = partial.value()->hasher;
        v.hash = m_hasher.result();
    }
    return v;
}

std::optional<Error> IncomingFile::completeRefusal()
{
    auto complete = m_host.store().isComplete(m_source, m_offer.dbtag);
    if (!complete)
        return complete.error();
    if (!complete.value())
        return std::nullopt;
    return Error{m_completeCode,
                 QStringLiteral("%1/%2/%3: the dataset is complete on the receiver (it has "
                                "its finished.isocket), and a file of it is never written "
                                "again; a new version belongs in a new dbtag")
                     .arg(m_source, displayName(m_offer.dbtag), displayName(m_offer.path))};
}

void IncomingFile::begin(StreamWriter &writer, qint64 offset)
{
    m_stage = Stage::Writing;
    m_startOffset = offset;
    m_written = offset;
    m_flushed = m_written;
    if (offset == 0)
        m_hasher.reset();
    m_clock.start();
    m_progressClock.start();

    // The slot is looked up again here rather than held since OFFER: a thousand offers in
    // flight must not pin a thousand directory fds. The store's directory cache makes this
    // cheap (at most one path resolution per batch); the slot is then held until END.
    ReceiveStore &store = m_host.store();
    auto slot = store.locate(m_source, m_offer.dbtag, m_offer.path, m_rules);
    if (!slot) {
        fail(slot.error().code, slot.error().message);
    } else if (auto refusal = completeRefusal()) {
        // Stored already and the ED's copy differs (BEGIN after AlreadyStored): the stored one
        // stays, the ED hears why at END.
        fail(refusal->code, refusal->message);
    } else {
        m_slot = std::move(slot).value();
        // A new small file needs no name until it is complete (no partial found at OFFER, none
        // to resume): see ReceiveStore::AnonymousMaxBytes.
        const bool anonymous = m_offeredOffset == 0 && m_written == 0 &&
                               store.writesAnonymously(*m_slot, qint64(m_offer.size));
        auto fd = store.openPartial(*m_slot, m_written, anonymous);
        if (!fd) {
            fail(fd.error().code, fd.error().message);
        } else {
            m_file = std::move(fd).value();
            m_partialOwned = !m_slot->anonymous(); // an unnamed file has no partial name
            writer.start(m_file.get(), m_written, qint64(m_offer.size) - m_written);
        }
    }
    m_host.reportFileStarted(m_connId, m_source, m_offer.dbtag, m_offer.path, qint64(m_offer.size),
                             m_startOffset);
}

void IncomingFile::fail(ErrorCode code, const QString &message)
{
    if (m_failure != ErrorCode::Ok)
        return;
    m_failure = code;
    m_failureMessage = message;
    // The partial goes now, while it is still open and locked: END would remove it anyway, and
    // once closed, a partial of that name may be another receiver's.
    if (m_file.valid() && m_slot && std::exchange(m_partialOwned, false))
        m_host.store().removePartial(*m_slot);
    m_file.reset();
    if (code == ErrorCode::DiskFull)
        m_host.store().spaceChanged();
}

void IncomingFile::failWrite(const Error &error)
{
    fail(error.code, describe() + QStringLiteral(": ") + error.message);
}

void IncomingFile::write(StreamWriter &writer, const QByteArray &bytes)
{
    if (m_failure == ErrorCode::Ok) {
        if (auto r = writer.write(bytes.constData(), bytes.size()); !r)
            failWrite(r.error());
        else
            m_hasher.add(bytes);
    }
    received(writer, bytes.size());
}

char *IncomingFile::reserveDirect(StreamWriter &writer, qint64 size)
{
    if (m_failure != ErrorCode::Ok || size > remaining())
        return nullptr;
    const auto stage = writer.reserve(size);
    if (!stage) {
        failWrite(stage.error()); // the frame goes on the usual way, to be counted
        return nullptr;
    }
    return stage.value();
}

void IncomingFile::wroteDirect(StreamWriter &writer, const char *data, qint64 size)
{
    m_hasher.add(data, size);
    if (auto r = writer.commit(size); !r)
        failWrite(r.error());
    received(writer, size);
}

void IncomingFile::received(StreamWriter &writer, qint64 bytes)
{
    const qint64 size = qint64(m_offer.size);
    m_written += bytes;
    if (m_written - m_spaceCounted >= WriteBehindBytes) {
        // Now on the filesystem (its free space shows it): no longer promised.
        m_space.written(m_written - m_spaceCounted);
        m_spaceCounted = m_written;
    }
    if (m_failure == ErrorCode::Ok && !writer.direct() &&
        m_written - m_flushed >= WriteBehindBytes) {
        // Write-behind: hand the pages to the disk while the rest arrives, so the sync
        // after END finds little left to write. Otherwise nothing of a 1 GiB file reaches the
        // disk before its last byte (it stays under the dirty thresholds) and the disk idles
        // during the transfer. Asynchronous; an error here shows up at that sync.
        ::sync_file_range(m_file.get(), m_flushed, m_written - m_flushed, SYNC_FILE_RANGE_WRITE);
        m_flushed = m_written;
    }
    if (m_progressClock.elapsed() >= ProgressIntervalMs) {
        m_progressClock.restart();
        m_host.reportFileProgress(m_connId, m_source, m_offer.dbtag, m_offer.path, m_written, size);
    }
}

void IncomingFile::removePartial()
{
    // Removed while still open (and locked), so that no other receiver's partial of the same
    // name can be the one removed.
    if (m_slot && std::exchange(m_partialOwned, false))
        m_host.store().removePartial(*m_slot);
    m_file.reset();
    m_slot.reset();
}

std::optional<Error> IncomingFile::end(StreamWriter &writer, const Hash128 &hash, QObject *replyTo,
                                       ConnectionHost::CommitReply reply)
{
    const qint64 size = qint64(m_offer.size);
    // A file written directly is finished by the writer's pool (its last write, then its mtime
    // and xattr) while the next one arrives; the committer waits for that before syncing it.
    const bool overlapped = m_failure == ErrorCode::Ok && writer.direct() && m_written == size &&
                            hash == m_hasher.result();
    if (m_failure == ErrorCode::Ok && !overlapped) {
        if (auto r = writer.finish(); !r)
            fail(r.error().code, describe() + QStringLiteral(": ") + r.error().message);
    }
    if (m_failure != ErrorCode::Ok) {
        removePartial();
        return failure();
    }
    if (m_written != size) {
        removePartial();
        return Error{ErrorCode::ChecksumMismatch, QStringLiteral("%1: END after %2 of %3 bytes")
                                                      .arg(describe())
                                                      .arg(m_written)
                                                      .arg(size)};
    }
    if (const Hash128 received = m_hasher.result(); hash != received) {
        removePartial();
        return Error{ErrorCode::ChecksumMismatch,
                     QStringLiteral("%1: received xxh128 %2, sender says %3")
                         .arg(describe(), toHex(received), toHex(hash))};
    }
    // Its mtime and xattr, on another thread when that can be: 0 or an errno.
    auto finishFile = [mtimeNs = m_offer.mtimeNs, hash](int fd) {
        const auto r = ReceiveStore::finish(fd, mtimeNs, hash);
        return r ? 0 : r.error().code == ErrorCode::DiskFull ? ENOSPC : EIO;
    };
    std::shared_future<int> written;
    std::function<int(int)> finishLater;
    if (overlapped) {
        written = writer.finishAsync(finishFile);
    } else if (m_slot->anonymous()) {
        // Written unnamed: nothing can see it before the committer links it in, so the committer
        // finishes it (small files: two syscalls of the few left on this thread per file).
        finishLater = finishFile;
    } else if (auto r = ReceiveStore::finish(m_file.get(), m_offer.mtimeNs, hash); !r) {
        removePartial();
        return Error{r.error().code, describe() + QStringLiteral(": ") + r.error().message};
    }
    auto request =
        m_host.store().prepareCommit(*m_slot, std::move(m_file), size, m_offer.mtimeNs, hash);
    request.job.written = std::move(written);
    request.job.finish = std::move(finishLater);
    m_slot.reset();
    m_stage = Stage::Committing;
    // The registry entry now belongs to the commit: it outlives this file if need be.
    m_host.commit(std::exchange(m_key, QString()),
                  {m_source, m_offer.dbtag, m_offer.path, size, m_clock, request.stamp},
                  std::move(request.job), replyTo, std::move(reply));
    return std::nullopt;
}

void IncomingFile::flushStaged(StreamWriter &writer)
{
    if (m_stage != Stage::Writing || m_failure != ErrorCode::Ok || !m_file.valid())
        return;
    if (auto r = writer.finish(); !r)
        qCWarning(lcRecv).noquote() << describe() << "partial incomplete:" << r.error().message;
}

void IncomingFile::keepForResume(bool streaming)
{
    // Written up to here (flushStaged() came first) and hashed so far: a resume of it will
    // not have to read it back. Remembered before the key is free for another connection.
    if (m_stage == Stage::Writing && m_failure == ErrorCode::Ok && m_file.valid() && m_slot &&
        !streaming)
        m_host.store().rememberPartial(*m_slot, m_file, m_written, m_hasher);
}

} // namespace isocket
