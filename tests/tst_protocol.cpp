// The wire codec: every frame round-trips field by field, frames survive any split, hostile
// bytes give the expected error code (caps refused before buffering), a seeded fuzz run never
// crashes, proofs and the XXH3-128 hasher behave.

#include "core/checksum.h"
#include "core/fsname.h"
#include "core/protocol.h"

#include <QBuffer>
#include <QMessageAuthenticationCode>
#include <QRandomGenerator>
#include <QTemporaryFile>
#include <QTest>
#include <QtEndian>

#include <unistd.h>
#include <xxhash.h>

using namespace isocket;
using namespace isocket::proto;

Q_DECLARE_METATYPE(isocket::proto::Message)
Q_DECLARE_METATYPE(isocket::ErrorCode)

// QVERIFY2 evaluates its message even on success: only ask for the error when there is one.
#define VERIFY_OK(result)                                                                          \
    QVERIFY2((result).ok(), (result).ok() ? "" : qPrintable((result).error().toString()))

namespace {

QByteArray be16(quint16 v)
{
    QByteArray b(2, Qt::Uninitialized);
    qToBigEndian(v, b.data());
    return b;
}
QByteArray be32(quint32 v)
{
    QByteArray b(4, Qt::Uninitialized);
    qToBigEndian(v, b.data());
    return b;
}
QByteArray be64(quint64 v)
{
    QByteArray b(8, Qt::Uninitialized);
    qToBigEndian(v, b.data());
    return b;
}
QByteArray str(const QByteArray &utf8)
{
    return be16(quint16(utf8.size())) + utf8;
}
// A whole frame around `payload`, with a correct length.
QByteArray frame(FrameType type, const QByteArray &payload)
{
    return be32(quint32(payload.size() + 1)) + char(type) + payload;
}

Hash128 hashOf(int seed)
{
    Hash128 h;
    for (size_t i = 0; i < h.size(); ++i)
        h[i] = quint8(seed * 31 + int(i) * 7);
    return h;
}

QByteArray bytesOf(int size, char seed)
{
    QByteArray b(size, Qt::Uninitialized);
    for (int i = 0; i < size; ++i)
        b[i] = char(seed + i * 13);
    return b;
}

// Field-by-field comparison with QCOMPARE, so a failure names the field.
void compareFields(const Hello &a, const Hello &b)
{
    QCOMPARE(a.minVersion, b.minVersion);
    QCOMPARE(a.maxVersion, b.maxVersion);
    QCOMPARE(a.source, b.source);
    QCOMPARE(a.nonce, b.nonce);
}
void compareFields(const Challenge &a, const Challenge &b)
{
    QCOMPARE(a.version, b.version);
    QCOMPARE(a.nonce, b.nonce);
    QCOMPARE(a.proof, b.proof);
}
void compareFields(const Auth &a, const Auth &b)
{
    QCOMPARE(a.proof, b.proof);
}
void compareFields(const Welcome &a, const Welcome &b)
{
    QCOMPARE(a.maxInFlight, b.maxInFlight);
    QCOMPARE(a.maxChunk, b.maxChunk);
}
void compareFields(const ErrorMsg &a, const ErrorMsg &b)
{
    QCOMPARE(a.code, b.code);
    QCOMPARE(a.message, b.message);
}
void compareFields(const Offer &a, const Offer &b)
{
    QCOMPARE(a.id, b.id);
    QCOMPARE(a.dbtag, b.dbtag);
    QCOMPARE(a.path, b.path);
    QCOMPARE(a.size, b.size);
    QCOMPARE(a.mtimeNs, b.mtimeNs);
}
void compareFields(const Accept &a, const Accept &b)
{
    QCOMPARE(a.id, b.id);
    QCOMPARE(a.decision, b.decision);
    QCOMPARE(a.offset, b.offset);
    QVERIFY(a.hash == b.hash);
    QCOMPARE(a.code, b.code);
    QCOMPARE(a.message, b.message);
}
void compareFields(const Begin &a, const Begin &b)
{
    QCOMPARE(a.id, b.id);
    QCOMPARE(a.offset, b.offset);
}
void compareFields(const Data &a, const Data &b)
{
    QCOMPARE(a.id, b.id);
    QCOMPARE(a.bytes, b.bytes);
}
void compareFields(const End &a, const End &b)
{
    QCOMPARE(a.id, b.id);
    QVERIFY(a.hash == b.hash);
}
void compareFields(const Cancel &a, const Cancel &b)
{
    QCOMPARE(a.id, b.id);
}
void compareFields(const Stored &a, const Stored &b)
{
    QCOMPARE(a.id, b.id);
    QCOMPARE(a.code, b.code);
    QCOMPARE(a.message, b.message);
}
void compareFields(const CloseDbtag &a, const CloseDbtag &b)
{
    QCOMPARE(a.id, b.id);
    QCOMPARE(a.dbtag, b.dbtag);
    QCOMPARE(a.fileCount, b.fileCount);
}
void compareFields(const Manifest &a, const Manifest &b)
{
    QCOMPARE(a.id, b.id);
    QCOMPARE(a.entries.size(), b.entries.size());
    for (qsizetype i = 0; i < a.entries.size(); ++i) {
        QCOMPARE(a.entries[i].path, b.entries[i].path);
        QCOMPARE(a.entries[i].size, b.entries[i].size);
        QCOMPARE(a.entries[i].outside, b.entries[i].outside);
        QCOMPARE(a.entries[i].skipped, b.entries[i].skipped);
    }
    QCOMPARE(a.outside, b.outside);
    QCOMPARE(a.skipped, b.skipped);
}
void compareFields(const Closed &a, const Closed &b)
{
    QCOMPARE(a.id, b.id);
    QCOMPARE(a.code, b.code);
    QCOMPARE(a.message, b.message);
}

void compareFields(const Status &a, const Status &b)
{
    QCOMPARE(a.json, b.json);
}
void compareFields(const Fleet &a, const Fleet &b)
{
    QCOMPARE(a.first, b.first);
    QCOMPARE(a.last, b.last);
    QCOMPARE(a.json, b.json);
}

void compareMessages(const Message &actual, const Message &expected)
{
    QCOMPARE(typeOf(actual), typeOf(expected));
    std::visit(
        [&](const auto &a) {
            using T = std::decay_t<decltype(a)>;
            compareFields(a, std::get<T>(expected));
        },
        actual);
}

// One valid message of every type, some with awkward contents.
QList<std::pair<const char *, Message>> sampleMessages()
{
    const QString tricky = QStringLiteral("a\u0000b\u0001\u00e9\u4e2d\U0001F600\uFEFF/..");
    return {
        {"hello", Hello{1, 3, QStringLiteral("ed-07"), bytesOf(NonceSize, 1)}},
        {"hello-tricky-source", Hello{1, 1, tricky, bytesOf(NonceSize, 2)}},
        {"hello-empty-source", Hello{1, 1, QString(), bytesOf(NonceSize, 3)}},
        {"challenge", Challenge{1, bytesOf(NonceSize, 4), bytesOf(ProofSize, 5)}},
        {"auth", Auth{bytesOf(ProofSize, 6)}},
        {"welcome", Welcome{MaxInFlight, MaxChunk}},
        {"welcome-small", Welcome{1, 1}},
        {"error", ErrorMsg{ErrorCode::AuthFailed, QStringLiteral("wrong secret")}},
        {"error-bad-frame", ErrorMsg{ErrorCode::BadFrame, QStringLiteral("OFFER: trailing")}},
        {"offer",
         Offer{42, QStringLiteral("DC20151225"), QStringLiteral("sub/dir/f.dat"),
               quint64(std::numeric_limits<qint64>::max()), std::numeric_limits<qint64>::min()}},
        {"offer-long-path", Offer{0xFFFFFFFF, QStringLiteral("DC1"),
                                  QString(MaxStringBytes, QLatin1Char('p')), 0, -1}},
        {"offer-tricky", Offer{7, tricky, tricky, 1, 2}},
        {"accept-send", Accept{1, Decision::Send, 0, Hash128{}, ErrorCode::Ok, QString()}},
        {"accept-resume",
         Accept{2, Decision::Send, 123456789, hashOf(2), ErrorCode::Ok, QString()}},
        {"accept-stored", Accept{3, Decision::AlreadyStored, 99, hashOf(3), ErrorCode::Ok, {}}},
        {"accept-refused", Accept{4, Decision::Refused, 0, Hash128{}, ErrorCode::Busy,
                                  QStringLiteral("another connection writes it")}},
        {"begin", Begin{5, 1ull << 40}},
        {"data-empty", Data{6, QByteArray()}},
        {"data", Data{7, bytesOf(1000, 7)}},
        {"data-max", Data{8, bytesOf(int(MaxChunk), 8)}},
        {"end", End{9, hashOf(9)}},
        {"cancel", Cancel{10}},
        {"stored-ok", Stored{11, ErrorCode::Ok, QString()}},
        {"stored-fail", Stored{12, ErrorCode::ChecksumMismatch, QStringLiteral("mismatch")}},
        {"close-dbtag", CloseDbtag{13, QStringLiteral("DC2"), MaxManifestFiles}},
        {"manifest", Manifest{14, {{QStringLiteral("a.dat"), 1}, {tricky, 0}, {QString(), 5}}}},
        {"manifest-empty", Manifest{15, {}}},
        {"manifest-outside",
         Manifest{19, {{QStringLiteral("a.dat"), 1, true}, {tricky, 0, true}}, true}},
        {"manifest-skipped",
         Manifest{
             20,
             {{QStringLiteral("bad\\xff.dat"), 0, false,
               QStringLiteral("the name is not valid UTF-8 (\\xff)")},
              {tricky, 0, false, QStringLiteral("symbolic link to /etc, outside the data root")}},
             false,
             true}},
        {"closed", Closed{16, ErrorCode::Incomplete, QStringLiteral("missing a.dat")}},
        {"leading-bom", Stored{17, ErrorCode::IoError, QStringLiteral("\uFEFFkept")}},
        {"max-string", Closed{18, ErrorCode::Ok, QString(MaxStringBytes / 2, QChar(0xe9))}},
    };
}

// Drains `reader`, which was fed `stream`; checks every message re-encodes to its exact bytes.
// Returns the outcome: messages decoded, and the error if one ended it.
struct Drained
{
    int messages = 0;
    std::optional<Error> error;
    bool mismatch = false;
};

Drained drain(FrameReader &reader, const QByteArray &stream, qsizetype &position)
{
    Drained out;
    for (;;) {
        auto r = reader.next();
        if (!r) {
            out.error = r.error();
            return out;
        }
        if (!r.value())
            return out;
        const quint32 length = qFromBigEndian<quint32>(stream.constData() + position);
        const QByteArray bytes = stream.mid(position, 4 + qsizetype(length));
        position += bytes.size();
        if (encode(*r.value()) != bytes)
            out.mismatch = true;
        ++out.messages;
    }
}

} // namespace

class TestProtocol : public QObject
{
    Q_OBJECT

private slots:
    void roundTrip_data();
    void roundTrip();
    void goldenBytes();
    void byteByByte();
    void deviceReadsOneFrameAtATime();
    void dataPayloadReadInPlace();
    void hostile_data();
    void hostile();
    void capBeforeBuffering();
    void errorsAreFinal();
    void encodeCutsLongStrings();
    void splitManifest();
    void statusAndFleetCaps();
    void statusAndFleetOnlyFromV4();
    void splitFleet();
    void namesAreBytesFromV3();
    void namesAreTextBeforeV3();
    void fuzz();
    void proofs();
    void proofMatchesComparesAll();
    void nonces();
    void hasherKnownAnswer();
    void hasherIncremental();
    void hasherCopy();
    void hex();
    void fileRange();
    void fileRangeTooShort();
};

// Whether a name field (dbtag, path) of `message` holds a NUL, which no version 3 name may.
bool hasNulName(const Message &message)
{
    const QChar nul(0);
    if (const auto *m = std::get_if<Offer>(&message))
        return m->dbtag.contains(nul) || m->path.contains(nul);
    if (const auto *m = std::get_if<CloseDbtag>(&message))
        return m->dbtag.contains(nul);
    if (const auto *m = std::get_if<Manifest>(&message))
        return std::any_of(m->entries.cbegin(), m->entries.cend(),
                           [&](const ManifestEntry &e) { return e.path.contains(nul); });
    return false;
}

void TestProtocol::roundTrip_data()
{
    QTest::addColumn<Message>("message");
    QTest::addColumn<int>("version");
    for (const auto &[name, message] : sampleMessages()) {
        QTest::addRow("%s-v2", name) << message << 2;
        if (!hasNulName(message)) {
            QTest::addRow("%s-v3", name) << message << 3;
            QTest::addRow("%s-v4", name) << message << 4;
        }
    }
    // Version 4 only: STATUS and FLEET.
    const QByteArray health = QByteArrayLiteral("{\"verdict\":\"ok\",\"reason\":\"Up to date\"}");
    QTest::addRow("status-v4") << Message(Status{health}) << 4;
    QTest::addRow("status-max-v4") << Message(Status{bytesOf(MaxStatusBytes, 3)}) << 4;
    QTest::addRow("fleet-whole-v4") << Message(Fleet{true, true, health}) << 4;
    QTest::addRow("fleet-first-v4") << Message(Fleet{true, false, bytesOf(MaxFleetChunk, 4)}) << 4;
    QTest::addRow("fleet-middle-v4") << Message(Fleet{false, false, bytesOf(100, 5)}) << 4;
    QTest::addRow("fleet-last-empty-v4") << Message(Fleet{false, true, QByteArray()}) << 4;
}

void TestProtocol::roundTrip()
{
    QFETCH(Message, message);
    QFETCH(int, version);
    const QByteArray bytes = encode(message, quint16(version));
    QCOMPARE(qFromBigEndian<quint32>(bytes.constData()), quint32(bytes.size() - 4));
    QCOMPARE(quint8(bytes.at(4)), quint8(typeOf(message)));

    auto decoded = decodeBody(bytes.mid(4), quint16(version));
    VERIFY_OK(decoded);
    compareMessages(decoded.value(), message);
    QCOMPARE(encode(decoded.value(), quint16(version)), bytes);

    FrameReader reader;
    reader.setVersion(quint16(version));
    reader.feed(bytes);
    auto read = reader.next();
    VERIFY_OK(read);
    QVERIFY(read.value().has_value());
    compareMessages(*read.value(), message);
}

void TestProtocol::goldenBytes()
{
    // Pins the byte layout and the big-endian order.
    QCOMPARE(encode(Begin{7, 0x0102}).toHex(), QByteArray("0000000d12000000070000000000000102"));
    QCOMPARE(encode(Cancel{0x01020304}).toHex(), QByteArray("000000051501020304"));
    QCOMPARE(encode(Stored{1, ErrorCode::DiskFull, QStringLiteral("é")}).toHex(),
             QByteArray("0000000b1600000001006700"
                        "02c3a9"));
    QCOMPARE(encode(Welcome{4, 1024}).toHex(), QByteArray("00000009040000000400000400"));
    QCOMPARE(encodeDataHead(9, 3).toHex(), QByteArray("000000081300000009"));
    QCOMPARE(encodeDataHead(9, 3) + "xyz", encode(Data{9, "xyz"}));
    const QByteArray hello = encode(Hello{1, 2, QStringLiteral("ed"), QByteArray(NonceSize, 'n')});
    QCOMPARE(hello.left(15).toHex(), QByteArray("0000002d01"
                                                "49534b54"
                                                "0001"
                                                "0002"
                                                "0002"));
    QCOMPARE(hello.size(), 4 + 1 + 4 + 2 + 2 + 2 + 2 + NonceSize);
}

void TestProtocol::byteByByte()
{
    QByteArray stream;
    QList<Message> expected;
    for (const auto &[name, message] : sampleMessages()) {
        if (std::holds_alternative<Data>(message) && std::get<Data>(message).bytes.size() > 5000)
            continue; // byte-by-byte over a megabyte is slow and adds nothing
        stream += encode(message, 2); // version 2: the samples' names have NULs in them
        expected.append(message);
    }
    FrameReader reader;
    reader.setVersion(2);
    QList<Message> got;
    for (char c : std::as_const(stream)) {
        reader.feed(QByteArray(1, c));
        auto r = reader.next();
        VERIFY_OK(r);
        if (r.value())
            got.append(*r.value());
        auto again = reader.next(); // at most one frame per call, and none is pending now
        QVERIFY(again.ok());
        QVERIFY(!again.value());
    }
    QCOMPARE(got.size(), expected.size());
    for (qsizetype i = 0; i < got.size(); ++i)
        compareMessages(got[i], expected[i]);
}

void TestProtocol::deviceReadsOneFrameAtATime()
{
    const QByteArray a = encode(Offer{1, QStringLiteral("DC1"), QStringLiteral("f"), 10, 20});
    const QByteArray b = encode(Data{1, bytesOf(300, 3)});

    // Every prefix of the first frame: nothing read, nothing consumed.
    for (qsizetype k = 0; k < a.size(); ++k) {
        QByteArray partial = a.left(k);
        QBuffer buffer(&partial);
        QVERIFY(buffer.open(QIODevice::ReadOnly));
        FrameReader reader;
        auto r = reader.read(&buffer);
        VERIFY_OK(r);
        QVERIFY(!r.value());
        QCOMPARE(buffer.pos(), 0);
    }

    QByteArray both = a + b + b.left(7);
    QBuffer buffer(&both);
    QVERIFY(buffer.open(QIODevice::ReadOnly));
    FrameReader reader;
    auto first = reader.read(&buffer);
    QVERIFY(first.ok() && first.value());
    compareMessages(*first.value(), Offer{1, QStringLiteral("DC1"), QStringLiteral("f"), 10, 20});
    QCOMPARE(buffer.pos(), a.size());
    auto second = reader.read(&buffer);
    QVERIFY(second.ok() && second.value());
    compareMessages(*second.value(), Data{1, bytesOf(300, 3)});
    auto third = reader.read(&buffer);
    QVERIFY(third.ok());
    QVERIFY(!third.value());
    QCOMPARE(buffer.pos(), a.size() + b.size());
}

void TestProtocol::hostile_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<ErrorCode>("expected");

    const QByteArray nonce(NonceSize, 'n');
    const QByteArray helloHead = be32(Magic) + be16(1) + be16(1);
    auto row = [](const char *name, const QByteArray &bytes, ErrorCode code) {
        QTest::newRow(name) << bytes << code;
    };
    const auto Bad = ErrorCode::BadFrame;
    const auto Large = ErrorCode::FrameTooLarge;

    row("control-over-cap", be32(MaxControlFrame + 1) + char(FrameType::Offer), Large);
    row("control-at-data-cap", be32(MaxDataFrame) + char(FrameType::Manifest), Large);
    row("data-over-cap", be32(MaxDataFrame + 1) + char(FrameType::Data), Large);
    row("huge-length-4-bytes", be32(0xFFFFFFFF), Large);
    row("zero-length", be32(0) + char(FrameType::Cancel), Bad);
    row("zero-length-4-bytes", be32(0), Bad);
    row("unknown-type", frame(FrameType(0x7F), be32(1)), Bad);
    row("type-zero", frame(FrameType(0x00), QByteArray()), Bad);
    row("type-only", frame(FrameType::Cancel, QByteArray()), Bad);
    row("id-truncated", frame(FrameType::Cancel, QByteArray(3, 'x')), Bad);
    row("trailing-garbage", frame(FrameType::Cancel, be32(1) + 'x'), Bad);
    row("truncated-string-length",
        frame(FrameType::Error, be16(quint16(ErrorCode::Busy)) + char(0)), Bad);
    row("truncated-string",
        frame(FrameType::Error, be16(quint16(ErrorCode::Busy)) + be16(10) + "abc"), Bad);
    row("string-beyond-frame",
        frame(FrameType::Offer, be32(1) + be16(100) + "DC1" + be16(1) + "f" + be64(1) + be64(2)),
        Bad);
    row("string-over-cap",
        frame(FrameType::Offer, be32(1) + be16(MaxStringBytes + 1) +
                                    QByteArray(MaxStringBytes + 1, 'a') + str("f") + be64(1) +
                                    be64(2)),
        Large);
    row("bad-utf8", frame(FrameType::Stored, be32(1) + be16(0) + str("\xc3\x28")), Bad);
    row("utf8-overlong", frame(FrameType::Stored, be32(1) + be16(0) + str("\xc0\xaf")), Bad);
    row("utf8-surrogate", frame(FrameType::Stored, be32(1) + be16(0) + str("\xed\xa0\x80")), Bad);
    row("utf8-cut", frame(FrameType::Stored, be32(1) + be16(0) + str("ok\xe2\x82")), Bad);
    row("utf8-over-max", frame(FrameType::Stored, be32(1) + be16(0) + str("\xf4\x90\x80\x80")),
        Bad);
    row("bad-magic",
        frame(FrameType::Hello, be32(0x48545450) + be16(1) + be16(1) + str("ed") + nonce), Bad);
    row("empty-version-range",
        frame(FrameType::Hello, be32(Magic) + be16(2) + be16(1) + str("ed") + nonce), Bad);
    row("version-zero",
        frame(FrameType::Hello, be32(Magic) + be16(0) + be16(1) + str("ed") + nonce), Bad);
    row("short-nonce", frame(FrameType::Hello, helloHead + str("ed") + nonce.left(NonceSize - 1)),
        Bad);
    row("long-nonce", frame(FrameType::Hello, helloHead + str("ed") + nonce + 'x'), Bad);
    row("short-proof", frame(FrameType::Auth, QByteArray(ProofSize - 1, 'p')), Bad);
    row("challenge-short", frame(FrameType::Challenge, be16(1) + nonce + QByteArray(10, 'p')), Bad);
    row("welcome-chunk-zero", frame(FrameType::Welcome, be32(1) + be32(0)), Bad);
    row("welcome-chunk-over", frame(FrameType::Welcome, be32(1) + be32(MaxChunk + 1)), Bad);
    row("welcome-inflight-over", frame(FrameType::Welcome, be32(MaxInFlight + 1) + be32(1)), Bad);
    row("decision-7",
        frame(FrameType::Accept,
              be32(1) + char(7) + be64(0) + QByteArray(16, 0) + be16(0) + str("")),
        Bad);
    row("accept-short-hash",
        frame(FrameType::Accept, be32(1) + char(0) + be64(0) + QByteArray(15, 0)), Bad);
    row("size-top-bit",
        frame(FrameType::Offer, be32(1) + str("DC1") + str("f") + be64(1ull << 63) + be64(0)), Bad);
    row("offset-top-bit", frame(FrameType::Begin, be32(1) + be64(~0ull)), Bad);
    row("unknown-error-code", frame(FrameType::Stored, be32(1) + be16(999) + str("")), Bad);
    row("local-error-code", frame(FrameType::Closed, be32(1) + be16(300) + str("")), Bad);
    row("unnumbered-error-code", frame(FrameType::Error, be16(109) + str("")), Bad);
    row("file-count-over-cap",
        frame(FrameType::CloseDbtag, be32(1) + str("DC1") + be32(MaxManifestFiles + 1)), Large);
    row("manifest-count-over-entries",
        frame(FrameType::Manifest, be32(1) + be16(3) + str("a") + be64(1) + str("b") + be64(2)),
        Bad);
    row("manifest-huge-count", frame(FrameType::Manifest, be32(1) + be16(0xFFFF)), Bad);
    row("skipped-without-reason",
        frame(FrameType::ManifestSkipped, be32(1) + be16(1) + str("a") + str("")), Bad);
    row("skipped-huge-count", frame(FrameType::ManifestSkipped, be32(1) + be16(0xFFFF)), Bad);
    row("manifest-entry-trailing",
        frame(FrameType::Manifest, be32(1) + be16(1) + str("a") + be64(1) + "zz"), Bad);
    row("data-no-id", frame(FrameType::Data, QByteArray(3, 'd')), Bad);
    // A good frame first: the error must come on the second one.
    row("good-then-bad", encode(Cancel{1}) + frame(FrameType::Cancel, QByteArray(2, 0)), Bad);
}

void TestProtocol::hostile()
{
    QFETCH(QByteArray, bytes);
    QFETCH(ErrorCode, expected);

    // Appended buffer.
    {
        FrameReader reader;
        reader.feed(bytes);
        std::optional<Error> error;
        for (int i = 0; i < 10 && !error; ++i) {
            auto r = reader.next();
            if (!r)
                error = r.error();
            else if (!r.value())
                break;
        }
        QVERIFY2(error.has_value(), "no error from next()");
        QCOMPARE(error->code, expected);
        QVERIFY(!error->message.isEmpty());
    }
    // Byte by byte: the same code, however the bytes arrive.
    {
        FrameReader reader;
        std::optional<Error> error;
        for (qsizetype i = 0; i < bytes.size() && !error; ++i) {
            reader.feed(bytes.mid(i, 1));
            for (;;) {
                auto r = reader.next();
                if (!r) {
                    error = r.error();
                    break;
                }
                if (!r.value())
                    break;
            }
        }
        QVERIFY2(error.has_value(), "no error byte by byte");
        QCOMPARE(error->code, expected);
    }
    // Device.
    {
        QByteArray copy = bytes;
        QBuffer buffer(&copy);
        QVERIFY(buffer.open(QIODevice::ReadOnly));
        FrameReader reader;
        std::optional<Error> error;
        for (int i = 0; i < 10 && !error; ++i) {
            auto r = reader.read(&buffer);
            if (!r)
                error = r.error();
            else if (!r.value())
                break;
        }
        QVERIFY2(error.has_value(), "no error from read()");
        QCOMPARE(error->code, expected);
    }
}

void TestProtocol::dataPayloadReadInPlace()
{
    // The receiver reads a DATA payload straight into its disk stage: peekData() must name the
    // frame only once all of it is there, leave it in place, and readPayload() must consume
    // exactly it, so that the next frame reads as usual.
    const QByteArray payload = bytesOf(5000, 9);
    const QByteArray data = encode(Data{7, payload});
    const QByteArray end = encode(End{7, {}});
    for (qsizetype k = 0; k < data.size(); ++k) {
        QByteArray partial = data.left(k);
        QBuffer buffer(&partial);
        QVERIFY(buffer.open(QIODevice::ReadOnly));
        QVERIFY(!FrameReader().peekData(&buffer));
        QCOMPARE(buffer.pos(), 0);
    }
    QByteArray both = data + end;
    QBuffer buffer(&both);
    QVERIFY(buffer.open(QIODevice::ReadOnly));
    FrameReader reader;
    const auto head = reader.peekData(&buffer);
    QVERIFY(head);
    QCOMPARE(head->id, 7u);
    QCOMPARE(head->size, payload.size());
    QCOMPARE(buffer.pos(), 0);
    QByteArray to(payload.size(), '\0');
    const auto read = reader.readPayload(&buffer, *head, to.data());
    VERIFY_OK(read);
    QCOMPARE(to, payload);
    QCOMPARE(buffer.pos(), data.size());
    QVERIFY(!reader.peekData(&buffer)); // END is not DATA
    auto next = reader.read(&buffer);
    QVERIFY(next.ok() && next.value());
    compareMessages(*next.value(), End{7, {}});

    // Frames read() refuses are left to it, so the error is the usual one.
    const QList<QByteArray> refused = {
        be32(4) + char(FrameType::Data) + QByteArray(3, '\0'),    // shorter than its id
        be32(MaxDataFrame + 1) + char(FrameType::Data) + be32(1), // over the cap
    };
    for (QByteArray bad : refused) {
        QBuffer b(&bad);
        QVERIFY(b.open(QIODevice::ReadOnly));
        FrameReader r;
        QVERIFY(!r.peekData(&b));
        QVERIFY(!r.read(&b).ok());
    }
}

void TestProtocol::capBeforeBuffering()
{
    // A head claiming 2 GiB: refused at once, without waiting for (or buffering) the body.
    for (FrameType type : {FrameType::Data, FrameType::Offer}) {
        QByteArray head = be32(0x80000000u) + char(type);
        QBuffer buffer(&head);
        QVERIFY(buffer.open(QIODevice::ReadOnly));
        FrameReader reader;
        auto r = reader.read(&buffer);
        QVERIFY(!r.ok());
        QCOMPARE(r.error().code, ErrorCode::FrameTooLarge);
        QVERIFY2(r.error().message.contains(QStringLiteral("2147483648")),
                 qPrintable(r.error().message));
        QVERIFY2(r.error().message.contains(typeName(type)), qPrintable(r.error().message));
    }
    // Just over the control cap, a control type: refused on the head alone.
    {
        QByteArray head = be32(MaxControlFrame + 1) + char(FrameType::Manifest);
        QBuffer buffer(&head);
        QVERIFY(buffer.open(QIODevice::ReadOnly));
        FrameReader reader;
        auto r = reader.read(&buffer);
        QVERIFY(!r.ok());
        QCOMPARE(r.error().code, ErrorCode::FrameTooLarge);
        QVERIFY(r.error().message.contains(QStringLiteral("MANIFEST")));
    }
    // The same length is fine for DATA: it waits for the body.
    {
        QByteArray head = be32(MaxControlFrame + 1) + char(FrameType::Data);
        QBuffer buffer(&head);
        QVERIFY(buffer.open(QIODevice::ReadOnly));
        FrameReader reader;
        auto r = reader.read(&buffer);
        QVERIFY(r.ok());
        QVERIFY(!r.value());
    }
    FrameReader reader;
    reader.feed(be32(0x80000000u) + char(FrameType::Data));
    auto r = reader.next();
    QVERIFY(!r.ok());
    QCOMPARE(r.error().code, ErrorCode::FrameTooLarge);
}

void TestProtocol::errorsAreFinal()
{
    FrameReader reader;
    reader.feed(be32(0));
    auto first = reader.next();
    QVERIFY(!first.ok());
    reader.feed(encode(Cancel{1}));
    auto second = reader.next();
    QVERIFY(!second.ok());
    QCOMPARE(second.error().code, ErrorCode::BadFrame);
}

void TestProtocol::encodeCutsLongStrings()
{
    // 4095 ASCII bytes then a 4-byte character: the cut must not split it.
    const QString text =
        QString(MaxStringBytes - 1, QLatin1Char('x')) + QStringLiteral("\U0001F600z");
    const QByteArray bytes = encode(ErrorMsg{ErrorCode::IoError, text});
    auto decoded = decodeBody(bytes.mid(4));
    VERIFY_OK(decoded);
    const QString got = std::get<ErrorMsg>(decoded.value()).message;
    QCOMPARE(got, QString(MaxStringBytes - 1, QLatin1Char('x')));
}

void TestProtocol::splitManifest()
{
    QVERIFY(proto::splitManifest(1, {}).isEmpty());

    QList<ManifestEntry> entries;
    for (int i = 0; i < 20000; ++i)
        entries.append({QStringLiteral("dir/sub/file-%1.dat").arg(i), quint64(i) * 1000});
    entries.append({QString(MaxStringBytes, QLatin1Char('L')), 1});
    const QList<Manifest> frames = proto::splitManifest(77, entries);
    QVERIFY(frames.size() > 1);
    QList<ManifestEntry> joined;
    FrameReader reader;
    for (const Manifest &m : frames) {
        QCOMPARE(m.id, quint32(77));
        QVERIFY(!m.entries.isEmpty());
        const QByteArray bytes = encode(m);
        QVERIFY(bytes.size() <= qsizetype(MaxControlFrame));
        reader.feed(bytes);
        auto r = reader.next();
        VERIFY_OK(r);
        QVERIFY(r.value());
        compareMessages(*r.value(), m);
        joined += m.entries;
    }
    QCOMPARE(joined.size(), entries.size());
    for (qsizetype i = 0; i < joined.size(); ++i) {
        QCOMPARE(joined[i].path, entries[i].path);
        QCOMPARE(joined[i].size, entries[i].size);
    }

    // Files sent outside isocket go into MANIFEST_OUTSIDE frames, in the entries' order.
    const QList<ManifestEntry> mixed{{QStringLiteral("a"), 1, false},
                                     {QStringLiteral("b"), 2, true},
                                     {QStringLiteral("c"), 3, true},
                                     {QStringLiteral("d"), 4, false}};
    const QList<Manifest> mixedFrames = proto::splitManifest(5, mixed);
    QCOMPARE(mixedFrames.size(), 3);
    QCOMPARE(typeOf(Message(mixedFrames[0])), FrameType::Manifest);
    QCOMPARE(typeOf(Message(mixedFrames[1])), FrameType::ManifestOutside);
    QCOMPARE(mixedFrames[1].entries.size(), 2);
    QCOMPARE(typeOf(Message(mixedFrames[2])), FrameType::Manifest);
    QCOMPARE(quint8(encode(mixedFrames[1]).at(4)), quint8(0x23));

    // Many tiny entries: the 65535 count cap splits them too.
    QList<ManifestEntry> tiny(70000, ManifestEntry{QString(), 1});
    const QList<Manifest> tinyFrames = proto::splitManifest(1, tiny);
    QVERIFY(tinyFrames.size() >= 2);
    for (const Manifest &m : tinyFrames)
        QVERIFY(encode(m).size() <= qsizetype(MaxControlFrame));
}

void TestProtocol::namesAreBytesFromV3()
{
    // Every byte but NUL, in names of every kind: not UTF-8, overlong and surrogate forms,
    // control characters, a backslash, a leading '-', and all 255 of them in one name.
    QByteArray all;
    for (int b = 1; b < 256; ++b)
        all += char(b);
    const QList<QByteArray> names = {
        "caf\xe9.dat", "\xff\xfe", "\xc0\xaf", "\xed\xa0\x80",
        "a\nb\tc\\d",  "-rf",      all,        QByteArray(MaxStringBytes, '\x80')};
    for (const QByteArray &raw : names) {
        const QString name = fsDecode(raw);
        QCOMPARE(fsEncode(name), raw);
        const QList<Message> messages = {
            Offer{1, name, name, 3, 4},
            CloseDbtag{2, name, 1},
            Manifest{3, {{name, 7}}},
            Manifest{4, {{name, 0, true}}, true},
            Manifest{5, {{name, 0, false, QStringLiteral("why")}}, false, true},
        };
        for (const Message &m : messages) {
            const QByteArray bytes = encode(m, 3);
            // On the wire: the name's own bytes, after its u16 length.
            QVERIFY(bytes.contains(QByteArray(be16(quint16(raw.size())) + raw)));
            auto decoded = decodeBody(bytes.mid(4), 3);
            VERIFY_OK(decoded);
            compareMessages(decoded.value(), m);
            QCOMPARE(encode(decoded.value(), 3), bytes);
            // Before version 3 the same bytes are no valid name (they are not UTF-8).
            if (!QByteArrayView(raw).isValidUtf8()) {
                auto old = decodeBody(bytes.mid(4), 2);
                QVERIFY(!old.ok());
                QCOMPARE(old.error().code, ErrorCode::BadFrame);
            }
        }
    }
    // NUL is the one byte no name has.
    const QByteArray nul = frame(
        FrameType::Offer, be32(1) + str("DC1") + str(QByteArray("a\0b", 3)) + be64(1) + be64(2));
    auto r = decodeBody(nul.mid(4), 3);
    QVERIFY(!r.ok());
    QCOMPARE(r.error().code, ErrorCode::BadFrame);
    QVERIFY2(r.error().message.contains(QStringLiteral("NUL")), qPrintable(r.error().message));
    // Other strings stay UTF-8 in version 3.
    const QByteArray stored = frame(FrameType::Stored, be32(1) + be16(0) + str("\xff"));
    QVERIFY(!decodeBody(stored.mid(4), 3).ok());
    // Over the cap: refused as before.
    const QByteArray longName =
        frame(FrameType::Offer, be32(1) + str("DC1") + be16(MaxStringBytes + 1) +
                                    QByteArray(MaxStringBytes + 1, 'x') + be64(1) + be64(2));
    QCOMPARE(decodeBody(longName.mid(4), 3).error().code, ErrorCode::FrameTooLarge);
}

void TestProtocol::namesAreTextBeforeV3()
{
    // A version 2 connection: the FrameReader refuses a name that is not UTF-8, as it always did;
    // the same frame is read on a version 3 connection.
    const QByteArray bytes =
        frame(FrameType::Offer, be32(1) + str("DC1") + str("caf\xe9") + be64(1) + be64(2));
    FrameReader v2;
    v2.setVersion(2);
    v2.feed(bytes);
    const auto refused = v2.next();
    QVERIFY(!refused.ok());
    QCOMPARE(refused.error().code, ErrorCode::BadFrame);
    FrameReader v3;
    QCOMPARE(v3.version(), Version);
    v3.feed(bytes);
    const auto read = v3.next();
    VERIFY_OK(read);
    QVERIFY(read.value().has_value());
    QCOMPARE(fsEncode(std::get<Offer>(*read.value()).path), QByteArray("caf\xe9"));
    // And a split manifest of such names fits its frames by their bytes.
    QList<ManifestEntry> entries;
    for (int i = 0; i < 100; ++i)
        entries.append({fsDecode(QByteArray(1000, char(0x80 + i % 64))), 1});
    for (const Manifest &m : isocket::proto::splitManifest(9, entries, 3))
        QVERIFY(encode(m, 3).size() <= qsizetype(MaxControlFrame));
}

void TestProtocol::statusAndFleetCaps()
{
    // STATUS over MaxStatusBytes: refused on the head, before its body is buffered.
    {
        FrameReader reader;
        reader.feed(be32(quint32(MaxStatusBytes) + 2) + char(FrameType::Status));
        auto r = reader.next();
        QVERIFY(!r);
        QCOMPARE(r.error().code, ErrorCode::FrameTooLarge);
    }
    {
        auto r = decodeBody(char(FrameType::Status) + bytesOf(MaxStatusBytes + 1, 1), 4);
        QVERIFY(!r);
        QCOMPARE(r.error().code, ErrorCode::FrameTooLarge);
    }
    // At the cap it passes; empty is malformed.
    VERIFY_OK(decodeBody(char(FrameType::Status) + bytesOf(MaxStatusBytes, 1), 4));
    {
        auto r = decodeBody(QByteArray(1, char(FrameType::Status)), 4);
        QVERIFY(!r);
        QCOMPARE(r.error().code, ErrorCode::BadFrame);
    }
    // A FLEET fragment over MaxFleetChunk, or with unknown flags.
    {
        auto r = decodeBody(char(FrameType::Fleet) + QByteArray(1, 3) +
                                bytesOf(MaxFleetChunk + 1, 2),
                            4);
        QVERIFY(!r);
        QCOMPARE(r.error().code, ErrorCode::FrameTooLarge);
    }
    {
        auto r = decodeBody(char(FrameType::Fleet) + QByteArray(1, 4) + "{}", 4);
        QVERIFY(!r);
        QCOMPARE(r.error().code, ErrorCode::BadFrame);
    }
    QVERIFY(quint32(encode(Fleet{true, true, bytesOf(MaxFleetChunk, 1)}).size()) <=
            MaxControlFrame + 4);
}

void TestProtocol::statusAndFleetOnlyFromV4()
{
    // A version 3 peer never gets them, and one that sends them breaks the protocol.
    for (quint16 version : {quint16(1), quint16(2), quint16(3)}) {
        auto status = decodeBody(encode(Status{"{}"}, 4).mid(4), version);
        QVERIFY(!status);
        QCOMPARE(status.error().code, ErrorCode::BadFrame);
        auto fleet = decodeBody(encode(Fleet{true, true, "{}"}, 4).mid(4), version);
        QVERIFY(!fleet);
        QCOMPARE(fleet.error().code, ErrorCode::BadFrame);
    }
    QVERIFY(StatusVersion > NameBytesVersion);
    QCOMPARE(Version, quint16(4));
}

void TestProtocol::splitFleet()
{
    const QByteArray document = bytesOf(3 * MaxFleetChunk + 5, 9);
    const QList<Fleet> frames = proto::splitFleet(document);
    QCOMPARE(frames.size(), 4);
    QByteArray joined;
    for (qsizetype i = 0; i < frames.size(); ++i) {
        QCOMPARE(frames[i].first, i == 0);
        QCOMPARE(frames[i].last, i == frames.size() - 1);
        const QByteArray bytes = encode(frames[i]);
        QVERIFY(quint32(bytes.size() - 4) <= MaxControlFrame);
        auto decoded = decodeBody(bytes.mid(4));
        VERIFY_OK(decoded);
        joined += std::get<Fleet>(decoded.value()).json;
    }
    QCOMPARE(joined, document);
    const QList<Fleet> empty = proto::splitFleet(QByteArray());
    QCOMPARE(empty.size(), 1);
    QVERIFY(empty[0].first && empty[0].last);
}

void TestProtocol::fuzz()
{
    QRandomGenerator rng(20240601);
    QList<QByteArray> corpus;
    for (const auto &[name, message] : sampleMessages()) {
        const QByteArray bytes = encode(message);
        if (bytes.size() < 20000)
            corpus.append(bytes);
    }
    const QByteArray knownTypes =
        QByteArrayLiteral("\x01\x02\x03\x04\x05\x10\x11\x12\x13\x14\x15\x16\x20\x21\x22\x30\x31");

    int messages = 0, errors = 0, needMore = 0;
    constexpr int Iterations = 60000;
    for (int iteration = 0; iteration < Iterations; ++iteration) {
        QByteArray input;
        const int mode = rng.bounded(6);
        if (mode == 0) {
            // Pure random bytes.
            input.resize(rng.bounded(64));
            for (char &c : input)
                c = char(rng.bounded(256));
        } else if (mode == 1) {
            // A correct length and a known type around random payload.
            QByteArray payload(rng.bounded(80), Qt::Uninitialized);
            for (char &c : payload)
                c = char(rng.bounded(256));
            input = frame(FrameType(quint8(knownTypes.at(rng.bounded(int(knownTypes.size()))))),
                          payload);
        } else {
            input = corpus.at(rng.bounded(int(corpus.size())));
            if (rng.bounded(3) == 0)
                input += corpus.at(rng.bounded(int(corpus.size())));
            switch (mode) {
            case 2: { // bit flips
                const int flips = 1 + rng.bounded(4);
                for (int i = 0; i < flips; ++i) {
                    const int at = rng.bounded(int(input.size()));
                    input[at] = char(input.at(at) ^ (1 << rng.bounded(8)));
                }
                break;
            }
            case 3: // truncation
                input.truncate(rng.bounded(int(input.size()) + 1));
                break;
            case 4: { // length tampering
                const quint32 length = qFromBigEndian<quint32>(input.constData());
                const quint32 tampered =
                    rng.bounded(2) ? length + quint32(rng.bounded(9)) - 4 : rng.generate();
                qToBigEndian(tampered, input.data());
                break;
            }
            default: { // byte insertion or deletion inside the payload
                const int at = 4 + rng.bounded(int(input.size()) - 4);
                if (rng.bounded(2))
                    input.insert(at, char(rng.bounded(256)));
                else
                    input.remove(at, 1);
                break;
            }
            }
        }

        // Feed in up to three random pieces.
        FrameReader reader;
        qsizetype position = 0, fed = 0;
        Drained total;
        while (fed < input.size() && !total.error) {
            const qsizetype piece = 1 + rng.bounded(int(input.size() - fed));
            reader.feed(input.mid(fed, piece));
            fed += piece;
            const Drained d = drain(reader, input, position);
            total.messages += d.messages;
            total.error = d.error;
            total.mismatch = total.mismatch || d.mismatch;
        }
        if (input.isEmpty()) {
            const Drained d = drain(reader, input, position);
            total.error = d.error;
        }
        if (total.mismatch)
            QFAIL(qPrintable(QStringLiteral("re-encoding differs for input %1")
                                 .arg(QString::fromLatin1(input.toHex()))));
        messages += total.messages;
        if (total.error) {
            ++errors;
            QVERIFY(total.error->code == ErrorCode::BadFrame ||
                    total.error->code == ErrorCode::FrameTooLarge);
        } else if (position < input.size()) {
            ++needMore;
        }

        // The body decoder alone, on the same bytes past a would-be length.
        if (input.size() > 4) {
            auto r = decodeBody(input.mid(4));
            if (r.ok())
                QCOMPARE(encode(r.value()).mid(4), input.mid(4));
        }
    }
    qInfo("fuzz: %d inputs, %d messages, %d errors, %d waiting for more", Iterations, messages,
          errors, needMore);
    QVERIFY(messages > 1000);
    QVERIFY(errors > 1000);
    QVERIFY(needMore > 100);
}

void TestProtocol::proofs()
{
    const QByteArray secret = "s3cret";
    const QByteArray client = bytesOf(NonceSize, 1);
    const QByteArray server = bytesOf(NonceSize, 2);
    const QString source = QStringLiteral("ed-1");

    const QByteArray p = proof(secret, Role::Sender, client, server, source);
    QCOMPARE(p.size(), ProofSize);
    QCOMPARE(proof(secret, Role::Sender, client, server, source), p);

    // As documented: HMAC-SHA256(secret, role || clientNonce || serverNonce || source).
    QCOMPARE(p, QMessageAuthenticationCode::hash("isocket-v1-sender" + client + server + "ed-1",
                                                 secret, QCryptographicHash::Sha256));

    const QList<QByteArray> others = {
        proof("s3creT", Role::Sender, client, server, source),
        proof(QByteArray(), Role::Sender, client, server, source),
        proof(secret, Role::Receiver, client, server, source),
        proof(secret, Role::Sender, bytesOf(NonceSize, 3), server, source),
        proof(secret, Role::Sender, client, bytesOf(NonceSize, 3), source),
        proof(secret, Role::Sender, server, client, source),
        proof(secret, Role::Sender, client, server, QStringLiteral("ed-2")),
        proof(secret, Role::Sender, client, server, QString()),
    };
    for (const QByteArray &other : others) {
        QCOMPARE(other.size(), ProofSize);
        QVERIFY(other != p);
        QVERIFY(!proofMatches(p, other));
    }
    // The empty key (loopback without a secret) still gives a proof.
    QCOMPARE(proof(QByteArray(), Role::Receiver, client, server, source).size(), ProofSize);
}

void TestProtocol::proofMatchesComparesAll()
{
    const QByteArray p = bytesOf(ProofSize, 9);
    QVERIFY(proofMatches(p, p));
    for (int at : {0, 15, ProofSize - 1}) {
        QByteArray q = p;
        q[at] = char(q.at(at) ^ 0x01);
        QVERIFY(!proofMatches(p, q));
    }
    QVERIFY(!proofMatches(p, p.left(ProofSize - 1)));
    QVERIFY(!proofMatches(p, p + 'x'));
    QVERIFY(!proofMatches(QByteArray(), QByteArray()));
}

void TestProtocol::nonces()
{
    const QByteArray a = randomNonce();
    const QByteArray b = randomNonce();
    QCOMPARE(a.size(), NonceSize);
    QCOMPARE(b.size(), NonceSize);
    QVERIFY(a != b);
}

void TestProtocol::hasherKnownAnswer()
{
    auto direct = [](const QByteArray &data) {
        const XXH128_hash_t h = XXH3_128bits(data.constData(), size_t(data.size()));
        XXH128_canonical_t c;
        XXH128_canonicalFromHash(&c, h);
        return QByteArray(reinterpret_cast<const char *>(c.digest), 16).toHex();
    };
    // The canonical form is big endian: the high 64 bits first.
    QCOMPARE(toHex(Hasher().result()), QStringLiteral("99aa06d3014798d86001c324468d497f"));
    for (int size : {0, 1, 3, 16, 17, 128, 129, 240, 241, 1000, 100000}) {
        const QByteArray data = bytesOf(size, char(size));
        Hasher hasher;
        hasher.add(data);
        QCOMPARE(toHex(hasher.result()).toLatin1(), direct(data));
        QCOMPARE(hasher.bytes(), qint64(size));
    }
}

void TestProtocol::hasherIncremental()
{
    const QByteArray data = bytesOf(50000, 5);
    Hasher whole;
    whole.add(data);
    for (int step : {1, 7, 63, 64, 65, 240, 256, 1024, 4096, 49999}) {
        Hasher pieces;
        for (qsizetype at = 0; at < data.size(); at += step)
            pieces.add(data.constData() + at, qMin<qsizetype>(step, data.size() - at));
        QVERIFY2(pieces.result() == whole.result(), qPrintable(QString::number(step)));
        QCOMPARE(pieces.bytes(), whole.bytes());
    }
    // result() does not end the stream.
    Hasher h;
    h.add(data.left(100));
    const Hash128 early = h.result();
    h.add(data.mid(100));
    QVERIFY(h.result() == whole.result());
    QVERIFY(early != whole.result());
    h.reset();
    QCOMPARE(h.bytes(), 0);
    QVERIFY(h.result() == Hasher().result());
}

void TestProtocol::hasherCopy()
{
    const QByteArray data = bytesOf(10000, 11);
    Hasher whole;
    whole.add(data);

    Hasher a;
    a.add(data.left(3333));
    Hasher b(a);
    Hasher c;
    c.add("unrelated");
    c = a;
    a.add(data.mid(3333));
    QVERIFY(a.result() == whole.result());
    QVERIFY(b.result() != whole.result()); // the copy is independent of a
    b.add(data.mid(3333));
    c.add(data.mid(3333));
    QVERIFY(b.result() == whole.result());
    QVERIFY(c.result() == whole.result());
    QCOMPARE(c.bytes(), qint64(data.size()));
    c = c; // self-assignment is harmless
    QVERIFY(c.result() == whole.result());
}

void TestProtocol::hex()
{
    const Hash128 h = hashOf(5);
    const QString text = toHex(h);
    QCOMPARE(text.size(), 32);
    QCOMPARE(text, text.toLower());
    QVERIFY(hashFromHex(text) == h);
    QVERIFY(hashFromHex(text.toUpper()) == h);
    QVERIFY(!hashFromHex(text.left(31)));
    QVERIFY(!hashFromHex(QString(text + QLatin1Char(u'0'))));
    QVERIFY(!hashFromHex(QString(32, QLatin1Char('g'))));
    QVERIFY(!hashFromHex(QString()));
}

void TestProtocol::fileRange()
{
    QTemporaryFile file;
    QVERIFY(file.open());
    QByteArray data(3 * 1024 * 1024 + 123, Qt::Uninitialized);
    QRandomGenerator rng(7);
    for (char &c : data)
        c = char(rng.bounded(256));
    QCOMPARE(file.write(data), data.size());
    QVERIFY(file.flush());
    const int fd = file.handle();
    QCOMPARE(::lseek(fd, 5, SEEK_SET), off_t(5));

    for (qint64 length : {qint64(0), qint64(1), qint64(1024 * 1024), qint64(1024 * 1024 + 1),
                          qint64(data.size())}) {
        Hasher expected;
        expected.add(data.constData(), length);
        Hasher got;
        const auto r = hashFileRange(fd, length, got);
        VERIFY_OK(r);
        QVERIFY(got.result() == expected.result());
        QCOMPARE(got.bytes(), length);
    }
    QCOMPARE(::lseek(fd, 0, SEEK_CUR), off_t(5)); // the file position is untouched
}

void TestProtocol::fileRangeTooShort()
{
    QTemporaryFile file;
    QVERIFY(file.open());
    QCOMPARE(file.write("0123456789"), 10);
    QVERIFY(file.flush());
    Hasher hasher;
    const auto r = hashFileRange(file.handle(), 11, hasher);
    QVERIFY(!r.ok());
    QCOMPARE(r.error().code, ErrorCode::IoError);
    QVERIFY2(r.error().message.contains(QStringLiteral("10")), qPrintable(r.error().message));

    const auto bad = hashFileRange(-1, 1, hasher);
    QVERIFY(!bad.ok());
    QCOMPARE(bad.error().code, ErrorCode::IoError);
    QVERIFY2(bad.error().message.contains(QStringLiteral("Bad file descriptor")),
             qPrintable(bad.error().message));
}

QTEST_GUILESS_MAIN(TestProtocol)
#include "tst_protocol.moc"
