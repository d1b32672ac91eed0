#pragma once
// The isocket wire protocol, version 4 (docs/PROTOCOL.md): frames on bytes, size caps, codes.
// No sockets here: encode() turns a message into a frame, FrameReader turns bytes into
// messages and refuses anything over a cap before buffering it.
//
// Frame: u32 length (big endian, of type + payload) | u8 type | payload.
// Integers are big endian; a string is u16 length + UTF-8; hashes and nonces are raw bytes.
// From version 3 on, a *name* (a dbtag, a path) is u16 length + bytes, any byte but NUL: the
// codec takes the connection's version (encode(), decodeBody(), FrameReader::setVersion()) and
// maps names losslessly to QString (core/fsname.h).

#include "core/checksum.h"
#include "core/error.h"

#include <QByteArray>
#include <QIODevice>
#include <QList>
#include <QString>

#include <optional>
#include <variant>

namespace isocket::proto {

// Versions this build speaks: 2 adds MANIFEST_OUTSIDE and MANIFEST_SKIPPED, 3 makes names
// bytes, 4 adds STATUS, the monitor role and FLEET; v1 to v3 peers still work (section 5).
constexpr quint16 MinVersion = 1;
constexpr quint16 Version = 4;
constexpr quint16 OutsideVersion = 2; // the first version with MANIFEST_OUTSIDE
constexpr quint16 SkippedVersion = 2; // the first version with MANIFEST_SKIPPED
// The first version whose peers know the code dataset-complete (208); older ones hear bad-path.
constexpr quint16 DatasetCompleteVersion = 3;
constexpr quint16 NameBytesVersion = 3; // the first version whose names are bytes
// The first version with STATUS (ED -> receiver), the monitor role and FLEET (receiver ->
// monitor): a peer of an older version never gets them.
constexpr quint16 StatusVersion = 4;
constexpr quint16 MonitorVersion = 4;
// STATUS: the ED's health as compact JSON (core/health.h), at most this many bytes; over it the
// frame is frame-too-large. Within MaxControlFrame.
constexpr int MaxStatusBytes = 16 * 1024;
// FLEET: one JSON document (ReceiverHealth and the fleet) in fragments of at most MaxFleetChunk
// bytes, at most MaxFleetBytes in all (10,000 sources with their health fit).
constexpr int MaxFleetChunk = 60 * 1024;
constexpr qint64 MaxFleetBytes = 64LL * 1024 * 1024;
// A monitor says so in HELLO: its `source` is this character followed by its name (an ED's
// source never starts with a dot). See isMonitorSource().
constexpr char16_t MonitorMark = u'.';
constexpr quint32 Magic = 0x49534B54; // "ISKT"
constexpr quint32 MaxControlFrame = 64 * 1024;     // any frame but DATA
constexpr quint32 MaxChunk = 1024 * 1024;          // DATA payload bytes
constexpr quint32 MaxDataFrame = MaxChunk + 5;     // type + id + payload
// Any frame before WELCOME: the largest legal one (HELLO or ERROR with a whole string) is
// about 4.2 KiB; a peer that has not authenticated cannot make us hold more (issue 13).
constexpr quint32 MaxHandshakeFrame = 8 * 1024;
constexpr int MaxStringBytes = 4096;               // a path, whole
constexpr int MaxComponentBytes = 255;             // one path component
constexpr quint32 MaxInFlight = 1024;              // offers not yet answered by STORED/CANCEL
constexpr quint32 MaxManifestFiles = 10'000'000;
// What one CLOSE_DBTAG's MANIFEST entries may add up to, each counted as its path's UTF-8 bytes
// plus ManifestEntryCost (so that short paths are not free): the receiver holds them until the
// last one came, in about twice this much memory at most (issue 13 item 10). 10 million entries
// fit with paths of up to about 40 bytes. Over it: frame-too-large.
constexpr qint64 MaxManifestBytes = 1024LL * 1024 * 1024;
constexpr qint64 ManifestEntryCost = 64;
constexpr int NonceSize = 32;
constexpr int ProofSize = 32;

enum class FrameType : quint8 {
    Hello = 0x01,
    Challenge = 0x02,
    Auth = 0x03,
    Welcome = 0x04,
    Error = 0x05,
    Offer = 0x10,
    Accept = 0x11,
    Begin = 0x12,
    Data = 0x13,
    End = 0x14,
    Cancel = 0x15,
    Stored = 0x16,
    CloseDbtag = 0x20,
    Manifest = 0x21,
    Closed = 0x22,
    ManifestOutside = 0x23, // v2: MANIFEST entries the ED found sent outside isocket
    ManifestSkipped = 0x24, // v2: entries of the dbtag the ED did not send, and why
    Status = 0x30,          // v4: the ED's health (JSON), ED -> receiver
    Fleet = 0x31,           // v4: the fleet (JSON, in fragments), receiver -> monitor
};

struct Hello      { quint16 minVersion = Version; quint16 maxVersion = Version; QString source; QByteArray nonce; };
struct Challenge  { quint16 version = Version; QByteArray nonce; QByteArray proof; };
struct Auth       { QByteArray proof; };
struct Welcome    { quint32 maxInFlight = 0; quint32 maxChunk = 0; };
struct ErrorMsg   { ErrorCode code = ErrorCode::Ok; QString message; };
struct Offer      { quint32 id = 0; QString dbtag; QString path; quint64 size = 0; qint64 mtimeNs = 0; };
enum class Decision : quint8 { Send = 0, AlreadyStored = 1, Refused = 2 };
struct Accept     { quint32 id = 0; Decision decision = Decision::Send; quint64 offset = 0; Hash128 hash{};
                    ErrorCode code = ErrorCode::Ok; QString message; };
struct Begin      { quint32 id = 0; quint64 offset = 0; };
struct Data       { quint32 id = 0; QByteArray bytes; };
struct End        { quint32 id = 0; Hash128 hash{}; };
struct Cancel     { quint32 id = 0; };
struct Stored     { quint32 id = 0; ErrorCode code = ErrorCode::Ok; QString message; };
struct CloseDbtag { quint32 id = 0; QString dbtag; quint32 fileCount = 0; };
// `outside`: the ED found the file marked sent outside isocket (g+w without isocket's record);
// the receiver need not hold it. Sent only on version 2 connections (MANIFEST_OUTSIDE frames).
// `skipped`: not empty for an entry the ED skipped (a symbolic link it does not follow, a name
// it cannot send…): the reason; `size` is then 0 and not sent. Only on version 2 connections
// (MANIFEST_SKIPPED frames).
struct ManifestEntry { QString path; quint64 size = 0; bool outside = false; QString skipped{}; };
// `outside`: a MANIFEST_OUTSIDE frame; every entry's `outside` equals it. `skipped`: a
// MANIFEST_SKIPPED frame; every entry has a reason.
struct Manifest   { quint32 id = 0; QList<ManifestEntry> entries; bool outside = false;
                    bool skipped = false; };
struct Closed     { quint32 id = 0; ErrorCode code = ErrorCode::Ok; QString message; };

// v4: the ED's EdHealth as compact JSON, 1 … MaxStatusBytes bytes (not checked here: the
// receiver parses it and ignores one it cannot read).
struct Status     { QByteArray json; };
// v4: one fragment of a FLEET document; `first` starts a document, `last` ends it (both for a
// document of one frame).
struct Fleet      { bool first = true; bool last = true; QByteArray json; };

using Message = std::variant<Hello, Challenge, Auth, Welcome, ErrorMsg, Offer, Accept, Begin, Data,
                             End, Cancel, Stored, CloseDbtag, Manifest, Closed, Status, Fleet>;

FrameType typeOf(const Message &message);
QString typeName(FrameType type);

// Whether `version` carries names (dbtags, paths) as bytes rather than UTF-8 text.
constexpr bool namesAreBytes(quint16 version)
{
    return version >= NameBytesVersion;
}

// Whether a HELLO's source names a monitor (version 4: read-only, section 2.7), and its name.
inline bool isMonitorSource(const QString &source)
{
    return source.startsWith(QChar(MonitorMark));
}
inline QString monitorName(const QString &source)
{
    return source.mid(1);
}

// One whole frame, length prefix included, for a connection of `version` (it decides how names
// are written). Strings longer than MaxStringBytes are cut at a character boundary (callers
// validate paths before offering them); nonces and proofs are written as exactly
// NonceSize/ProofSize bytes. A MANIFEST must come from splitManifest() for the same version.
// On a version before 3 a name must be valid UTF-8 (isUtf8Name()): the caller sees to it.
QByteArray encode(const Message &message, quint16 version = Version);

// The 9-byte head of a DATA frame carrying `payloadSize` bytes for `id`; the caller writes the
// payload right after it (so a chunk read from disk is not copied into a frame first).
QByteArray encodeDataHead(quint32 id, quint32 payloadSize);

// Splits `entries` into MANIFEST frames that each stay within MaxControlFrame (length prefix
// included) and 65535 entries; consecutive entries with `outside` set go into MANIFEST_OUTSIDE
// frames, skipped ones into MANIFEST_SKIPPED frames, so the frames keep the entries' order. No
// entries, no frames.
QList<Manifest> splitManifest(quint32 id, const QList<ManifestEntry> &entries,
                              quint16 version = Version);

// Splits a FLEET document into frames of at most MaxFleetChunk bytes of it (one frame for an
// empty document).
QList<Fleet> splitFleet(const QByteArray &document);

// Decodes one frame body (type + payload, without the length prefix) of a connection of
// `version`. Strict: every field in range, strings valid UTF-8 within their caps (names, from
// version 3 on: any bytes but NUL), no trailing bytes.
Result<Message> decodeBody(const QByteArray &body, quint16 version = Version);

// Incremental reader: pull whole frames out of a device or an appended buffer.
// The length prefix is checked against the caps (MaxControlFrame, or MaxDataFrame for DATA)
// before the body is read, so a hostile length never makes it buffer more than a cap.
class FrameReader
{
public:
    // Next message from `device`, or nullopt when a whole frame is not there yet.
    // Reads at most one frame, and only once all of it is available; the head alone is enough
    // to refuse a frame over its cap. An Error (BadFrame, FrameTooLarge, IoError) is final:
    // every later call returns it again, and the caller closes the connection.
    Result<std::optional<Message>> read(QIODevice *device);

    // The next frame of `device` when it is a DATA frame that has arrived whole: its id and
    // payload size, the frame left in the device for readPayload(), which copies the payload
    // straight where it goes (once, instead of into a Data and from there). Nothing when it is
    // not, and for any frame read() would refuse: read() takes those and reports the error.
    struct DataHead
    {
        quint32 id = 0;
        qint64 size = 0;
    };
    std::optional<DataHead> peekData(QIODevice *device) const;
    // Consumes that frame, its payload into `to` (head.size bytes).
    Result<void> readPayload(QIODevice *device, const DataHead &head, char *to);

    // The longest frame accepted from now on (at most MaxDataFrame, the default): the
    // handshake's sides set MaxHandshakeFrame until WELCOME, so a hostile length in the first
    // 4 bytes is refused at once instead of being buffered.
    void setMaxFrame(quint32 bytes) { m_maxFrame = qMin(bytes, MaxDataFrame); }
    quint32 maxFrame() const { return m_maxFrame; }

    // The connection's version once agreed (default Version): how names are decoded.
    void setVersion(quint16 version) { m_version = version; }
    quint16 version() const { return m_version; }

    // Same, over bytes handed in with feed() (tests, fuzzing).
    void feed(const QByteArray &bytes) { m_buffer += bytes; }
    Result<std::optional<Message>> next();

private:
    // The frame length once the 5-byte head is complete, nullopt before; an error as soon as
    // the bytes present already break a rule.
    Result<std::optional<quint32>> checkHead(const char *head, qsizetype available) const;
    Result<std::optional<Message>> fail(Error error);
    QByteArray m_buffer;
    std::optional<Error> m_error;
    quint32 m_maxFrame = MaxDataFrame;
    quint16 m_version = Version;
};

// HMAC-SHA256 proofs for mutual authentication. The receiver proves with role "receiver",
// the sender with role "sender", each over both nonces and the source name.
enum class Role { Sender, Receiver };
QByteArray proof(const QByteArray &secret, Role role, const QByteArray &clientNonce,
                 const QByteArray &serverNonce, const QString &source);
bool proofMatches(const QByteArray &expected, const QByteArray &actual); // constant time
QByteArray randomNonce();

} // namespace isocket::proto
