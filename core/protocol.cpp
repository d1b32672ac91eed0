#include "core/protocol.h"

#include "core/fsname.h"

#include <QMessageAuthenticationCode>
#include <QRandomGenerator>
#include <QStringDecoder>
#include <QtEndian>

#include <array>
#include <limits>
#include <type_traits>

namespace isocket::proto {

namespace {

constexpr int HeadSize = 5;      // u32 length + u8 type
constexpr int ManifestFixed = 7; // type + id + count
constexpr int ManifestEntryFixed = 2 + 8;
constexpr int SkippedEntryFixed = 2 + 2;
constexpr quint64 MaxSize = quint64(std::numeric_limits<qint64>::max());

// In the order of the Message variant's alternatives.
constexpr std::array<FrameType, 17> TypeByIndex = {
    FrameType::Hello,      FrameType::Challenge, FrameType::Auth,   FrameType::Welcome,
    FrameType::Error,      FrameType::Offer,     FrameType::Accept, FrameType::Begin,
    FrameType::Data,       FrameType::End,       FrameType::Cancel, FrameType::Stored,
    FrameType::CloseDbtag, FrameType::Manifest,  FrameType::Closed, FrameType::Status,
    FrameType::Fleet,
};
static_assert(std::variant_size_v<Message> == TypeByIndex.size());

bool isKnownType(quint8 type)
{
    if (type == quint8(FrameType::ManifestOutside) || type == quint8(FrameType::ManifestSkipped))
        return true;
    for (FrameType known : TypeByIndex) {
        if (quint8(known) == type)
            return true;
    }
    return false;
}

quint32 capOf(FrameType type)
{
    if (type == FrameType::Data)
        return MaxDataFrame;
    if (type == FrameType::Status)
        return 1 + MaxStatusBytes;
    return MaxControlFrame;
}

QString typeLabel(quint8 type)
{
    return isKnownType(type)
               ? typeName(FrameType(type))
               : QStringLiteral("unknown type 0x%1").arg(type, 2, 16, QLatin1Char('0'));
}

// UTF-8 of `text`, cut at a character boundary so that it fits MaxStringBytes.
QByteArray wireUtf8(const QString &text)
{
    QByteArray utf8 = text.toUtf8();
    if (utf8.size() > MaxStringBytes) {
        qsizetype cut = MaxStringBytes;
        while (cut > 0 && (quint8(utf8.at(cut)) & 0xC0) == 0x80)
            --cut;
        utf8.truncate(cut);
    }
    return utf8;
}

// A name on the wire: its bytes from version 3 on (cut at MaxStringBytes: such a name is refused
// anyway), UTF-8 before.
QByteArray wireName(const QString &name, quint16 version)
{
    if (!namesAreBytes(version))
        return wireUtf8(name);
    QByteArray bytes = fsEncode(name);
    if (bytes.size() > MaxStringBytes)
        bytes.truncate(MaxStringBytes);
    return bytes;
}

// Appends big-endian fields to a frame. The length prefix is patched in by finish().
class Writer
{
public:
    explicit Writer(FrameType type, qsizetype reserve = 64)
    {
        m_bytes.reserve(HeadSize + reserve);
        u32(0);
        u8(quint8(type));
    }

    void u8(quint8 v) { m_bytes.append(char(v)); }
    void u16(quint16 v) { put(qToBigEndian(v)); }
    void u32(quint32 v) { put(qToBigEndian(v)); }
    void u64(quint64 v) { put(qToBigEndian(v)); }
    void i64(qint64 v) { put(qToBigEndian(v)); }
    void raw(const QByteArray &bytes) { m_bytes.append(bytes); }
    void hash(const Hash128 &h) { m_bytes.append(reinterpret_cast<const char *>(h.data()), 16); }
    void code(ErrorCode c) { u16(quint16(c)); }
    void string(const QString &text)
    {
        const QByteArray utf8 = wireUtf8(text);
        u16(quint16(utf8.size()));
        m_bytes.append(utf8);
    }
    void name(const QString &name, quint16 version)
    {
        const QByteArray bytes = wireName(name, version);
        u16(quint16(bytes.size()));
        m_bytes.append(bytes);
    }
    // Exactly `size` bytes: a caller's short value is zero-padded, a long one cut.
    void fixed(const QByteArray &bytes, int size)
    {
        m_bytes.append(bytes.left(size));
        if (bytes.size() < size)
            m_bytes.append(size - bytes.size(), '\0');
    }

    QByteArray finish()
    {
        const quint32 length = quint32(m_bytes.size() - 4);
        qToBigEndian(length, m_bytes.data());
        return std::move(m_bytes);
    }

private:
    template <typename T> void put(T bigEndian)
    {
        m_bytes.append(reinterpret_cast<const char *>(&bigEndian), sizeof(T));
    }

    QByteArray m_bytes;
};

// Bounds-checked big-endian reader over one frame body. The first failure sticks: later reads
// return zero values and leave the error alone, so a decoder reads its fields and checks once.
class Reader
{
public:
    Reader(const QByteArray &body, FrameType type, quint16 version)
        : m_data(body.constData() + 1), m_left(body.size() - 1), m_type(typeName(type)),
          m_version(version)
    {
    }

    bool failed() const { return m_error.has_value(); }
    const Error &error() const { return *m_error; }

    void fail(ErrorCode code, const QString &message)
    {
        if (!m_error)
            m_error = Error{code, QStringLiteral("%1: %2").arg(m_type, message)};
    }

    quint8 u8(const char *field) { return take<quint8>(field); }
    quint16 u16(const char *field) { return take<quint16>(field); }
    quint32 u32(const char *field) { return take<quint32>(field); }
    qint64 i64(const char *field) { return take<qint64>(field); }

    // A u64 size or offset; over INT64_MAX is not a size any file system has.
    quint64 size(const char *field)
    {
        const quint64 v = take<quint64>(field);
        if (v > MaxSize) {
            fail(ErrorCode::BadFrame,
                 QStringLiteral("%1 %2 is out of range").arg(QLatin1String(field)).arg(v));
            return 0;
        }
        return v;
    }

    QByteArray bytes(qsizetype count, const char *field)
    {
        if (!need(count, field))
            return {};
        QByteArray out(m_data, count);
        advance(count);
        return out;
    }

    Hash128 hash(const char *field)
    {
        Hash128 h{};
        if (!need(16, field))
            return h;
        std::copy_n(reinterpret_cast<const quint8 *>(m_data), 16, h.begin());
        advance(16);
        return h;
    }

    ErrorCode code(const char *field)
    {
        const quint16 number = u16(field);
        const ErrorCode c = errorFromWire(number);
        if (!failed() && c == ErrorCode::BadFrame && number != quint16(ErrorCode::BadFrame)) {
            fail(ErrorCode::BadFrame,
                 QStringLiteral("%1 %2 is not a known code").arg(QLatin1String(field)).arg(number));
        }
        return c;
    }

    // A dbtag or path: a string before version 3, bytes (no NUL) from it on.
    QString name(const char *field)
    {
        if (!namesAreBytes(m_version))
            return string(field);
        const quint16 n = stringLength(field);
        if (failed() || !need(n, field))
            return {};
        const QByteArrayView bytes(m_data, n);
        if (bytes.contains('\0')) {
            fail(ErrorCode::BadFrame,
                 QStringLiteral("%1 contains a NUL byte").arg(QLatin1String(field)));
            return {};
        }
        advance(n);
        return fsDecode(bytes);
    }

    QString string(const char *field)
    {
        const quint16 n = stringLength(field);
        if (failed())
            return {};
        if (!need(n, field))
            return {};
        const QByteArrayView utf8(m_data, n);
        // ConvertInitialBom: a leading U+FEFF is data and must survive the round trip.
        QStringDecoder decoder(QStringConverter::Utf8,
                               QStringConverter::Flag::Stateless |
                                   QStringConverter::Flag::ConvertInitialBom);
        QString text = decoder.decode(utf8);
        // The re-encoding check also refuses overlong forms and surrogates, whatever the
        // decoder lets through: what we decode is exactly what was sent.
        if (decoder.hasError() || QByteArrayView(text.toUtf8()) != utf8) {
            fail(ErrorCode::BadFrame,
                 QStringLiteral("%1 is not valid UTF-8").arg(QLatin1String(field)));
            return {};
        }
        advance(n);
        return text;
    }

    qsizetype left() const { return m_left; }

    // A string's u16 length, refused over MaxStringBytes.
    quint16 stringLength(const char *field)
    {
        const quint16 n = u16(field);
        if (!failed() && n > MaxStringBytes) {
            fail(ErrorCode::FrameTooLarge, QStringLiteral("%1 of %2 bytes is over the cap of %3")
                                               .arg(QLatin1String(field))
                                               .arg(n)
                                               .arg(MaxStringBytes));
            return 0;
        }
        return n;
    }

    QByteArray rest()
    {
        QByteArray out(m_data, m_left);
        advance(m_left);
        return out;
    }

    // Strict: a frame with bytes after its last field is malformed.
    void finish()
    {
        if (!failed() && m_left != 0)
            fail(ErrorCode::BadFrame, QStringLiteral("%1 trailing bytes").arg(m_left));
    }

private:
    bool need(qsizetype count, const char *field)
    {
        if (failed())
            return false;
        if (count > m_left) {
            fail(ErrorCode::BadFrame,
                 QStringLiteral("frame ends inside %1 (%2 bytes needed, %3 left)")
                     .arg(QLatin1String(field))
                     .arg(count)
                     .arg(m_left));
            return false;
        }
        return true;
    }

    void advance(qsizetype count)
    {
        m_data += count;
        m_left -= count;
    }

    template <typename T> T take(const char *field)
    {
        if (!need(sizeof(T), field))
            return T{};
        const T v = qFromBigEndian<T>(m_data);
        advance(sizeof(T));
        return v;
    }

    const char *m_data;
    qsizetype m_left;
    QString m_type;
    quint16 m_version;
    std::optional<Error> m_error;
};

template <typename T> Result<Message> done(Reader &r, T message)
{
    r.finish();
    if (r.failed())
        return r.error();
    return Message(std::move(message));
}

Result<Message> decodeTyped(const QByteArray &body, FrameType type, quint16 version)
{
    Reader r(body, type, version);
    if ((type == FrameType::Status || type == FrameType::Fleet) && version < StatusVersion) {
        return Error{ErrorCode::BadFrame, QStringLiteral("%1 on a version %2 connection")
                                              .arg(typeName(type))
                                              .arg(version)};
    }
    switch (type) {
    case FrameType::Hello: {
        Hello m;
        const quint32 magic = r.u32("magic");
        if (!r.failed() && magic != Magic) {
            r.fail(
                ErrorCode::BadFrame,
                QStringLiteral("magic 0x%1 is not isocket's").arg(magic, 8, 16, QLatin1Char('0')));
        }
        m.minVersion = r.u16("minVersion");
        m.maxVersion = r.u16("maxVersion");
        if (!r.failed() && (m.minVersion == 0 || m.minVersion > m.maxVersion)) {
            r.fail(ErrorCode::BadFrame, QStringLiteral("version range %1..%2 is empty")
                                            .arg(m.minVersion)
                                            .arg(m.maxVersion));
        }
        m.source = r.string("source");
        m.nonce = r.bytes(NonceSize, "nonce");
        return done(r, std::move(m));
    }
    case FrameType::Challenge: {
        Challenge m;
        m.version = r.u16("version");
        if (!r.failed() && m.version == 0)
            r.fail(ErrorCode::BadFrame, QStringLiteral("version 0"));
        m.nonce = r.bytes(NonceSize, "nonce");
        m.proof = r.bytes(ProofSize, "proof");
        return done(r, std::move(m));
    }
    case FrameType::Auth: {
        Auth m;
        m.proof = r.bytes(ProofSize, "proof");
        return done(r, std::move(m));
    }
    case FrameType::Welcome: {
        Welcome m;
        m.maxInFlight = r.u32("maxInFlight");
        m.maxChunk = r.u32("maxChunk");
        if (!r.failed() && (m.maxInFlight == 0 || m.maxInFlight > MaxInFlight)) {
            r.fail(
                ErrorCode::BadFrame,
                QStringLiteral("maxInFlight %1 not in 1..%2").arg(m.maxInFlight).arg(MaxInFlight));
        }
        if (!r.failed() && (m.maxChunk == 0 || m.maxChunk > MaxChunk)) {
            r.fail(ErrorCode::BadFrame,
                   QStringLiteral("maxChunk %1 not in 1..%2").arg(m.maxChunk).arg(MaxChunk));
        }
        return done(r, std::move(m));
    }
    case FrameType::Error: {
        ErrorMsg m;
        m.code = r.code("code");
        m.message = r.string("message");
        return done(r, std::move(m));
    }
    case FrameType::Offer: {
        Offer m;
        m.id = r.u32("id");
        m.dbtag = r.name("dbtag");
        m.path = r.name("path");
        m.size = r.size("size");
        m.mtimeNs = r.i64("mtimeNs");
        return done(r, std::move(m));
    }
    case FrameType::Accept: {
        Accept m;
        m.id = r.u32("id");
        const quint8 decision = r.u8("decision");
        if (!r.failed() && decision > quint8(Decision::Refused))
            r.fail(ErrorCode::BadFrame, QStringLiteral("decision %1 not in 0..2").arg(decision));
        m.decision = Decision(decision);
        m.offset = r.size("offset");
        m.hash = r.hash("hash");
        m.code = r.code("code");
        m.message = r.string("message");
        return done(r, std::move(m));
    }
    case FrameType::Begin: {
        Begin m;
        m.id = r.u32("id");
        m.offset = r.size("offset");
        return done(r, std::move(m));
    }
    case FrameType::Data: {
        Data m;
        m.id = r.u32("id");
        if (!r.failed() && r.left() > qsizetype(MaxChunk)) {
            r.fail(ErrorCode::FrameTooLarge,
                   QStringLiteral("payload of %1 bytes over the cap of %2")
                       .arg(r.left())
                       .arg(MaxChunk));
        }
        if (!r.failed())
            m.bytes = r.rest();
        return done(r, std::move(m));
    }
    case FrameType::End: {
        End m;
        m.id = r.u32("id");
        m.hash = r.hash("hash");
        return done(r, std::move(m));
    }
    case FrameType::Cancel: {
        Cancel m;
        m.id = r.u32("id");
        return done(r, std::move(m));
    }
    case FrameType::Stored: {
        Stored m;
        m.id = r.u32("id");
        m.code = r.code("code");
        m.message = r.string("message");
        return done(r, std::move(m));
    }
    case FrameType::CloseDbtag: {
        CloseDbtag m;
        m.id = r.u32("id");
        m.dbtag = r.name("dbtag");
        m.fileCount = r.u32("fileCount");
        if (!r.failed() && m.fileCount > MaxManifestFiles) {
            r.fail(ErrorCode::FrameTooLarge, QStringLiteral("fileCount %1 over the cap of %2")
                                                 .arg(m.fileCount)
                                                 .arg(MaxManifestFiles));
        }
        return done(r, std::move(m));
    }
    case FrameType::Manifest:
    case FrameType::ManifestOutside:
    case FrameType::ManifestSkipped: {
        Manifest m;
        m.outside = type == FrameType::ManifestOutside;
        m.skipped = type == FrameType::ManifestSkipped;
        m.id = r.u32("id");
        const quint16 count = r.u16("count");
        // Each entry takes at least ManifestEntryFixed bytes (two empty strings for a skipped
        // one): refuse a count the frame cannot hold before reserving anything for it.
        const int entryFixed = m.skipped ? SkippedEntryFixed : ManifestEntryFixed;
        if (!r.failed() && qsizetype(count) * entryFixed > r.left()) {
            r.fail(ErrorCode::BadFrame,
                   QStringLiteral("count %1 does not fit in %2 bytes").arg(count).arg(r.left()));
        }
        if (!r.failed())
            m.entries.reserve(count);
        for (int i = 0; i < count && !r.failed(); ++i) {
            ManifestEntry e;
            e.path = r.name("path");
            if (m.skipped) {
                e.skipped = r.string("reason");
                if (!r.failed() && e.skipped.isEmpty())
                    r.fail(ErrorCode::BadFrame, QStringLiteral("a skipped entry without a reason"));
            } else {
                e.size = r.size("size");
            }
            e.outside = m.outside;
            m.entries.append(std::move(e));
        }
        return done(r, std::move(m));
    }
    case FrameType::Closed: {
        Closed m;
        m.id = r.u32("id");
        m.code = r.code("code");
        m.message = r.string("message");
        return done(r, std::move(m));
    }
    case FrameType::Status: {
        Status m;
        if (r.left() == 0)
            r.fail(ErrorCode::BadFrame, QStringLiteral("empty"));
        if (!r.failed() && r.left() > MaxStatusBytes) {
            r.fail(ErrorCode::FrameTooLarge, QStringLiteral("%1 bytes over the cap of %2")
                                                 .arg(r.left())
                                                 .arg(MaxStatusBytes));
        }
        if (!r.failed())
            m.json = r.rest();
        return done(r, std::move(m));
    }
    case FrameType::Fleet: {
        Fleet m;
        const quint8 flags = r.u8("flags");
        if (!r.failed() && (flags & ~quint8(3)) != 0)
            r.fail(ErrorCode::BadFrame, QStringLiteral("flags 0x%1").arg(flags, 2, 16));
        m.first = flags & 1;
        m.last = flags & 2;
        if (!r.failed() && r.left() > MaxFleetChunk) {
            r.fail(ErrorCode::FrameTooLarge, QStringLiteral("%1 bytes over the cap of %2")
                                                 .arg(r.left())
                                                 .arg(MaxFleetChunk));
        }
        if (!r.failed())
            m.json = r.rest();
        return done(r, std::move(m));
    }
    }
    return Error{ErrorCode::BadFrame, QStringLiteral("unknown frame type")};
}

} // namespace

FrameType typeOf(const Message &message)
{
    if (const auto *m = std::get_if<Manifest>(&message); m && m->outside)
        return FrameType::ManifestOutside;
    if (const auto *m = std::get_if<Manifest>(&message); m && m->skipped)
        return FrameType::ManifestSkipped;
    return TypeByIndex[message.index()];
}

QString typeName(FrameType type)
{
    switch (type) {
    case FrameType::Hello:
        return QStringLiteral("HELLO");
    case FrameType::Challenge:
        return QStringLiteral("CHALLENGE");
    case FrameType::Auth:
        return QStringLiteral("AUTH");
    case FrameType::Welcome:
        return QStringLiteral("WELCOME");
    case FrameType::Error:
        return QStringLiteral("ERROR");
    case FrameType::Offer:
        return QStringLiteral("OFFER");
    case FrameType::Accept:
        return QStringLiteral("ACCEPT");
    case FrameType::Begin:
        return QStringLiteral("BEGIN");
    case FrameType::Data:
        return QStringLiteral("DATA");
    case FrameType::End:
        return QStringLiteral("END");
    case FrameType::Cancel:
        return QStringLiteral("CANCEL");
    case FrameType::Stored:
        return QStringLiteral("STORED");
    case FrameType::CloseDbtag:
        return QStringLiteral("CLOSE_DBTAG");
    case FrameType::Manifest:
        return QStringLiteral("MANIFEST");
    case FrameType::Closed:
        return QStringLiteral("CLOSED");
    case FrameType::ManifestOutside:
        return QStringLiteral("MANIFEST_OUTSIDE");
    case FrameType::ManifestSkipped:
        return QStringLiteral("MANIFEST_SKIPPED");
    case FrameType::Status:
        return QStringLiteral("STATUS");
    case FrameType::Fleet:
        return QStringLiteral("FLEET");
    }
    return QStringLiteral("0x%1").arg(quint8(type), 2, 16, QLatin1Char('0'));
}

QByteArray encode(const Message &message, quint16 version)
{
    return std::visit(
        [version](const auto &m) -> QByteArray {
            using T = std::decay_t<decltype(m)>;
            if constexpr (std::is_same_v<T, Hello>) {
                Writer w(FrameType::Hello);
                w.u32(Magic);
                w.u16(m.minVersion);
                w.u16(m.maxVersion);
                w.string(m.source);
                w.fixed(m.nonce, NonceSize);
                return w.finish();
            } else if constexpr (std::is_same_v<T, Challenge>) {
                Writer w(FrameType::Challenge);
                w.u16(m.version);
                w.fixed(m.nonce, NonceSize);
                w.fixed(m.proof, ProofSize);
                return w.finish();
            } else if constexpr (std::is_same_v<T, Auth>) {
                Writer w(FrameType::Auth);
                w.fixed(m.proof, ProofSize);
                return w.finish();
            } else if constexpr (std::is_same_v<T, Welcome>) {
                Writer w(FrameType::Welcome);
                w.u32(m.maxInFlight);
                w.u32(m.maxChunk);
                return w.finish();
            } else if constexpr (std::is_same_v<T, ErrorMsg>) {
                Writer w(FrameType::Error);
                w.code(m.code);
                w.string(m.message);
                return w.finish();
            } else if constexpr (std::is_same_v<T, Offer>) {
                Writer w(FrameType::Offer);
                w.u32(m.id);
                w.name(m.dbtag, version);
                w.name(m.path, version);
                w.u64(m.size);
                w.i64(m.mtimeNs);
                return w.finish();
            } else if constexpr (std::is_same_v<T, Accept>) {
                Writer w(FrameType::Accept);
                w.u32(m.id);
                w.u8(quint8(m.decision));
                w.u64(m.offset);
                w.hash(m.hash);
                w.code(m.code);
                w.string(m.message);
                return w.finish();
            } else if constexpr (std::is_same_v<T, Begin>) {
                Writer w(FrameType::Begin);
                w.u32(m.id);
                w.u64(m.offset);
                return w.finish();
            } else if constexpr (std::is_same_v<T, Data>) {
                Q_ASSERT(m.bytes.size() <= qsizetype(MaxChunk));
                QByteArray frame = encodeDataHead(m.id, quint32(m.bytes.size()));
                frame.append(m.bytes);
                return frame;
            } else if constexpr (std::is_same_v<T, End>) {
                Writer w(FrameType::End);
                w.u32(m.id);
                w.hash(m.hash);
                return w.finish();
            } else if constexpr (std::is_same_v<T, Cancel>) {
                Writer w(FrameType::Cancel);
                w.u32(m.id);
                return w.finish();
            } else if constexpr (std::is_same_v<T, Stored>) {
                Writer w(FrameType::Stored);
                w.u32(m.id);
                w.code(m.code);
                w.string(m.message);
                return w.finish();
            } else if constexpr (std::is_same_v<T, CloseDbtag>) {
                Writer w(FrameType::CloseDbtag);
                w.u32(m.id);
                w.name(m.dbtag, version);
                w.u32(m.fileCount);
                return w.finish();
            } else if constexpr (std::is_same_v<T, Manifest>) {
                Q_ASSERT(m.entries.size() <= 0xFFFF);
                Writer w(m.outside   ? FrameType::ManifestOutside
                         : m.skipped ? FrameType::ManifestSkipped
                                     : FrameType::Manifest);
                w.u32(m.id);
                w.u16(quint16(m.entries.size()));
                for (const ManifestEntry &e : m.entries) {
                    w.name(e.path, version);
                    if (m.skipped)
                        w.string(e.skipped);
                    else
                        w.u64(e.size);
                }
                QByteArray frame = w.finish();
                Q_ASSERT(frame.size() <= qsizetype(MaxControlFrame)); // use splitManifest()
                return frame;
            } else if constexpr (std::is_same_v<T, Status>) {
                Q_ASSERT(version >= StatusVersion);
                Q_ASSERT(m.json.size() <= MaxStatusBytes);
                Writer w(FrameType::Status, m.json.size());
                w.raw(m.json);
                return w.finish();
            } else if constexpr (std::is_same_v<T, Fleet>) {
                Q_ASSERT(version >= MonitorVersion);
                Q_ASSERT(m.json.size() <= MaxFleetChunk);
                Writer w(FrameType::Fleet, 1 + m.json.size());
                w.u8(quint8((m.first ? 1 : 0) | (m.last ? 2 : 0)));
                w.raw(m.json);
                return w.finish();
            } else {
                static_assert(std::is_same_v<T, Closed>);
                Writer w(FrameType::Closed);
                w.u32(m.id);
                w.code(m.code);
                w.string(m.message);
                return w.finish();
            }
        },
        message);
}

QByteArray encodeDataHead(quint32 id, quint32 payloadSize)
{
    Q_ASSERT(payloadSize <= MaxChunk);
    QByteArray head(9, Qt::Uninitialized);
    qToBigEndian(quint32(5 + payloadSize), head.data());
    head[4] = char(FrameType::Data);
    qToBigEndian(id, head.data() + 5);
    return head;
}

QList<Manifest> splitManifest(quint32 id, const QList<ManifestEntry> &entries, quint16 version)
{
    // Budget on the whole frame, length prefix included, so that both readings of "frame
    // size" stay under MaxControlFrame.
    QList<Manifest> frames;
    qsizetype used = 0;
    for (const ManifestEntry &e : entries) {
        const bool skipped = !e.skipped.isEmpty();
        const qsizetype entrySize =
            (skipped ? SkippedEntryFixed + wireUtf8(e.skipped).size() : ManifestEntryFixed) +
            (namesAreBytes(version) ? qMin<qsizetype>(fsLength(e.path), MaxStringBytes)
                                    : wireUtf8(e.path).size());
        if (frames.isEmpty() || used + entrySize > qsizetype(MaxControlFrame) ||
            frames.last().entries.size() == 0xFFFF || frames.last().outside != e.outside ||
            frames.last().skipped != skipped) {
            frames.append(Manifest{id, {}, e.outside && !skipped, skipped});
            used = 4 + ManifestFixed;
        }
        frames.last().entries.append(e);
        used += entrySize;
    }
    return frames;
}

QList<Fleet> splitFleet(const QByteArray &document)
{
    QList<Fleet> frames;
    for (qsizetype at = 0; at < document.size() || frames.isEmpty(); at += MaxFleetChunk)
        frames.append(Fleet{at == 0, false, document.mid(at, MaxFleetChunk)});
    frames.last().last = true;
    return frames;
}

Result<Message> decodeBody(const QByteArray &body, quint16 version)
{
    if (body.isEmpty())
        return Error{ErrorCode::BadFrame, QStringLiteral("empty frame")};
    const quint8 type = quint8(body.at(0));
    if (!isKnownType(type))
        return Error{ErrorCode::BadFrame, QStringLiteral("%1").arg(typeLabel(type))};
    const FrameType frameType = FrameType(type);
    if (quint64(body.size()) > capOf(frameType)) {
        return Error{ErrorCode::FrameTooLarge,
                     QStringLiteral("%1 frame of %2 bytes over the cap of %3")
                         .arg(typeName(frameType))
                         .arg(body.size())
                         .arg(capOf(frameType))};
    }
    return decodeTyped(body, frameType, version);
}

// The order of the checks does not depend on how many head bytes are there, so a stream gives
// the same error code however it was split.
Result<std::optional<quint32>> FrameReader::checkHead(const char *head, qsizetype available) const
{
    if (available < 4)
        return std::optional<quint32>();
    const quint32 length = qFromBigEndian<quint32>(head);
    const QString type =
        available >= HeadSize ? typeLabel(quint8(head[4])) : QStringLiteral("frame");
    if (length == 0)
        return Error{ErrorCode::BadFrame, QStringLiteral("frame of length 0")};
    if (length > m_maxFrame) {
        return Error{ErrorCode::FrameTooLarge,
                     QStringLiteral("%1 frame of %2 bytes over the cap of %3%4")
                         .arg(type)
                         .arg(length)
                         .arg(m_maxFrame)
                         .arg(m_maxFrame < MaxDataFrame ? QStringLiteral(" before WELCOME")
                                                        : QString())};
    }
    if (available < HeadSize)
        return std::optional<quint32>();
    const quint8 rawType = quint8(head[4]);
    if (!isKnownType(rawType))
        return Error{ErrorCode::BadFrame, type};
    const quint32 cap = capOf(FrameType(rawType));
    if (length > cap) {
        return Error{ErrorCode::FrameTooLarge,
                     QStringLiteral("%1 frame of %2 bytes over the cap of %3")
                         .arg(type)
                         .arg(length)
                         .arg(cap)};
    }
    return std::optional<quint32>(length);
}

Result<std::optional<Message>> FrameReader::fail(Error error)
{
    m_error = error;
    m_buffer.clear();
    return error;
}

Result<std::optional<Message>> FrameReader::read(QIODevice *device)
{
    if (m_error)
        return *m_error;
    char head[HeadSize];
    const qint64 peeked = device->peek(head, HeadSize);
    if (peeked < 0)
        return fail({ErrorCode::IoError, device->errorString()});
    auto checked = checkHead(head, qsizetype(peeked));
    if (!checked)
        return fail(checked.error());
    if (!checked.value())
        return std::optional<Message>();
    const quint32 length = *checked.value();
    if (device->bytesAvailable() < 4 + qint64(length))
        return std::optional<Message>();
    if (device->skip(4) != 4)
        return fail({ErrorCode::IoError, device->errorString()});
    QByteArray body = device->read(length);
    if (body.size() != qsizetype(length))
        return fail({ErrorCode::IoError, device->errorString()});
    if (body.size() >= 5 && quint8(body.at(0)) == quint8(FrameType::Data)) {
        // The payload stays where the socket read it: dropping the 5-byte head moves the
        // start, not the bytes (a second 1 MiB copy per frame cost ~13% of the receiver).
        // checkHead() already capped the length at MaxDataFrame.
        Data m;
        m.id = qFromBigEndian<quint32>(body.constData() + 1);
        body.remove(0, 5);
        m.bytes = std::move(body);
        return std::optional<Message>(std::move(m));
    }
    auto decoded = decodeBody(body, m_version);
    if (!decoded)
        return fail(decoded.error());
    return std::optional<Message>(std::move(decoded).value());
}

std::optional<FrameReader::DataHead> FrameReader::peekData(QIODevice *device) const
{
    char head[HeadSize + 4];
    if (m_error || device->peek(head, sizeof head) != qint64(sizeof head) ||
        quint8(head[4]) != quint8(FrameType::Data))
        return std::nullopt;
    const auto checked = checkHead(head, HeadSize);
    if (!checked || !checked.value() || *checked.value() < 5 ||
        device->bytesAvailable() < 4 + qint64(*checked.value()))
        return std::nullopt;
    return DataHead{qFromBigEndian<quint32>(head + HeadSize), qint64(*checked.value()) - 5};
}

Result<void> FrameReader::readPayload(QIODevice *device, const DataHead &head, char *to)
{
    if (device->skip(HeadSize + 4) != HeadSize + 4 || device->read(to, head.size) != head.size)
        return fail({ErrorCode::IoError, device->errorString()}).error();
    return {};
}

Result<std::optional<Message>> FrameReader::next()
{
    if (m_error)
        return *m_error;
    auto checked = checkHead(m_buffer.constData(), m_buffer.size());
    if (!checked)
        return fail(checked.error());
    if (!checked.value())
        return std::optional<Message>();
    const quint32 length = *checked.value();
    if (m_buffer.size() < 4 + qsizetype(length))
        return std::optional<Message>();
    const QByteArray body = m_buffer.mid(4, length);
    m_buffer.remove(0, 4 + qsizetype(length));
    auto decoded = decodeBody(body, m_version);
    if (!decoded)
        return fail(decoded.error());
    return std::optional<Message>(std::move(decoded).value());
}

QByteArray proof(const QByteArray &secret, Role role, const QByteArray &clientNonce,
                 const QByteArray &serverNonce, const QString &source)
{
    QMessageAuthenticationCode mac(QCryptographicHash::Sha256, secret);
    mac.addData(role == Role::Sender ? QByteArrayLiteral("isocket-v1-sender")
                                     : QByteArrayLiteral("isocket-v1-receiver"));
    mac.addData(clientNonce);
    mac.addData(serverNonce);
    mac.addData(source.toUtf8());
    return mac.result();
}

bool proofMatches(const QByteArray &expected, const QByteArray &actual)
{
    // The length is public (ProofSize); the contents are compared without an early exit.
    if (expected.size() != actual.size() || expected.isEmpty())
        return false;
    quint8 diff = 0;
    for (qsizetype i = 0; i < expected.size(); ++i)
        diff |= quint8(expected.at(i)) ^ quint8(actual.at(i));
    return diff == 0;
}

QByteArray randomNonce()
{
    std::array<quint32, NonceSize / 4> words;
    QRandomGenerator::system()->fillRange(words.data(), qsizetype(words.size()));
    return QByteArray(reinterpret_cast<const char *>(words.data()), NonceSize);
}

} // namespace isocket::proto
