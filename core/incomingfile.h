#pragma once
// IncomingFile: one offered file's life on the receiver, from OFFER to its commit: it is
// claimed in the receiver's registry, located in the store, checked against what is stored
// already and against a complete dataset, resumed from its partial when there is one, written
// (through the connection's StreamWriter) and hashed as DATA arrives, finished at END (checksum,
// size, mtime and xattr) and handed to the committer. No sockets and no frames: the connection
// (ReceiverConnection, the protocol state machine) decides what to answer from what this says.
//
// Owns its registry entry (released when the object goes, unless it was handed to a commit,
// which then releases it once the file is durable), the partial's fd and the space promised to
// the rest of the file. Not a QObject: it lives in the connection's I/O thread and is used from
// there only; asynchronous answers (a partial hashed elsewhere, the committer's outcome) go to
// the connection, which finds the file again by its offer id.

#include "core/checksum.h"
#include "core/connectionhost.h"
#include "core/error.h"
#include "core/fsname.h"
#include "core/protocol.h"
#include "core/receivestore.h"

#include <QElapsedTimer>
#include <QString>

#include <optional>

class QObject;

namespace isocket {

class StreamWriter;

class IncomingFile
{
public:
    enum class Stage
    {
        New,     // not examined yet
        Hashing, // its partial is being hashed on another thread (hashPartial()), no ACCEPT yet
        Offered, // answered; waits for BEGIN (or CANCEL)
        Writing, // between BEGIN and END
        Committing
    };

    // What to answer an OFFER.
    struct Verdict
    {
        enum class Kind
        {
            Refused,       // `error` says why (Busy: another connection writes it)
            AlreadyStored, // `hash` is the stored copy's; the key stays claimed until BEGIN/CANCEL
            Send,          // from `offset`, with `hash` of the partial's bytes when offset > 0
            Hashing        // its partial is hashed first: hashPartial(), then partialHashed()
        };
        Kind kind = Kind::Refused;
        Error error = {};
        qint64 offset = 0;
        Hash128 hash{};
    };

    // Progress is reported at most this often (ms) per file.
    static constexpr qint64 ProgressIntervalMs = 100;
    // A partial offered for a resume from this size on is hashed on another thread.
    static constexpr qint64 AsyncPartialBytes = 4 * 1024 * 1024;

    // `completeCode`: the code a write into a complete dataset is refused with (older EDs do not
    // know DatasetComplete).
    IncomingFile(ConnectionHost &host, quint64 connId, QString source, NameRules rules,
                 ErrorCode completeCode, proto::Offer offer);
    ~IncomingFile(); // releases the registry entry, unless a commit holds it
    IncomingFile(const IncomingFile &) = delete;
    IncomingFile &operator=(const IncomingFile &) = delete;

    const proto::Offer &offer() const { return m_offer; }
    Stage stage() const { return m_stage; }
    // "<source>/<dbtag>/<path>": the key in the registry, and how messages name the file.
    QString describe() const;

    // OFFER: checks the names, claims the file, locates it, and decides.
    Verdict examine();
    // Verdict::Hashing: hashes the partial on another thread; `reply` gets the result in
    // replyTo's thread (if it still exists), to be handed to partialHashed().
    void hashPartial(QObject *replyTo, ConnectionHost::PartialReply reply);
    Verdict partialHashed(const Result<std::optional<PartialInfo>> &partial);
    // Which hashPartial() answer is the current one (set by the connection).
    quint64 generation = 0;

    // BEGIN at `offset` (0 or the offset accepted). The file is opened and `writer` started on
    // it; a failure here is kept and told at END (the DATA is read and dropped meanwhile).
    qint64 acceptedOffset() const { return m_offeredOffset; }
    void begin(StreamWriter &writer, qint64 offset);
    // Bytes still to come before END.
    qint64 remaining() const { return qint64(m_offer.size) - m_written; }
    bool failed() const { return m_failure != ErrorCode::Ok; }
    // DATA: written and hashed (dropped after a failure); the caller checked remaining().
    void write(StreamWriter &writer, const QByteArray &bytes);
    // DATA read straight into the writer's stage: where `size` bytes go, or nullptr when they
    // cannot (write() them then). After the bytes are there, wroteDirect(size).
    char *reserveDirect(StreamWriter &writer, qint64 size);
    void wroteDirect(StreamWriter &writer, const char *data, qint64 size);
    // END with the sender's `hash`: an error for STORED now, or nothing: the file went to the
    // committer (stage Committing), whose outcome `reply` gets in replyTo's thread.
    std::optional<Error> end(StreamWriter &writer, const Hash128 &hash, QObject *replyTo,
                             ConnectionHost::CommitReply reply);
    // Writes what the current transfer has staged, so its partial keeps every byte received.
    void flushStaged(StreamWriter &writer);
    // The file is dropped (CANCEL, the connection going): what was written and hashed is
    // remembered for a resume, unless it is still `streaming` (its staged bytes not flushed).
    void keepForResume(bool streaming);

    // For STORED and its log line.
    qint64 elapsedMs() const { return m_clock.isValid() ? m_clock.elapsed() : 0; }
    qint64 receivedBytes() const { return m_written - m_startOffset; }
    // The failure told at END (or Ok).
    Error failure() const { return Error{m_failure, m_failureMessage}; }

private:
    // The refusal of a write into a dataset the receiver confirmed whole, or nothing.
    std::optional<Error> completeRefusal();
    Verdict refuse(ErrorCode code, const QString &message);
    Verdict accept(const Result<std::optional<PartialInfo>> &partial);
    void fail(ErrorCode code, const QString &message); // the first failure is kept
    void failWrite(const Error &error);
    void received(StreamWriter &writer, qint64 bytes); // counts them: write-behind, progress
    void removePartial();

    ConnectionHost &m_host;
    const quint64 m_connId;
    const QString m_source;
    const NameRules m_rules;
    const ErrorCode m_completeCode;
    const proto::Offer m_offer;
    QString m_key; // in the registry while we hold it
    Stage m_stage = Stage::New;
    qint64 m_offeredOffset = 0;
    Hasher m_hasher;                // of the bytes before m_written
    UniqueFd m_file;                // the partial, while writing
    // We opened (and lock) the partial: only then is it ours to remove. A partial another
    // receiver writes (Busy from openPartial) is left alone.
    bool m_partialOwned = false;
    std::optional<FileSlot> m_slot; // while hashing (from OFFER); from BEGIN (shared dir fd)
    qint64 m_written = 0;           // bytes in the partial
    qint64 m_flushed = 0;           // writeback started up to here (write-behind)
    qint64 m_startOffset = 0;
    ErrorCode m_failure = ErrorCode::Ok; // once set, DATA is dropped and END reports it
    QString m_failureMessage;
    // Free space promised to the rest of the file (given back with the file); what was written
    // up to m_spaceCounted is no longer promised.
    ReceiveStore::SpaceClaim m_space;
    qint64 m_spaceCounted = 0;
    QElapsedTimer m_clock;
    QElapsedTimer m_progressClock;
};

} // namespace isocket
