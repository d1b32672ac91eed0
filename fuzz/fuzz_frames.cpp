// fuzz_frames: arbitrary bytes into the frame decoder (proto::FrameReader and decodeBody).
//
// Input: byte 0 picks the reader's cap (bit 0: MaxHandshakeFrame, as before WELCOME) and how the
// rest is cut into feed() calls (bits 1-7: a chunk size); the rest is the stream. Invariants,
// each a crash when broken (see fuzz/README.md):
// - every decoded message re-encodes to exactly the frame it came from, and a fresh reader
//   decodes that frame to a message that encodes the same (what we decode is what was sent);
// - no accepted frame is longer than the reader's cap or its type's cap;
// - the same stream gives the same messages and the same error however it is cut, and through
//   read() over a QBuffer (with peekData()/readPayload() for DATA) as through feed()/next();
// - an error is final: later calls return it again, whatever is fed after it;
// - decodeBody() on a lone body agrees with the reader.

#include "core/protocol.h"

#include <QBuffer>
#include <QtEndian>

#include <cstdio>
#include <cstdlib>
#include <vector>

using namespace isocket;
using namespace isocket::proto;

namespace {

void check(bool ok, const char *what)
{
    if (!ok) {
        std::fprintf(stderr, "fuzz_frames: invariant broken: %s\n", what);
        std::abort();
    }
}

quint32 capOf(quint8 type)
{
    return type == quint8(FrameType::Data) ? MaxDataFrame : MaxControlFrame;
}

struct Outcome
{
    std::vector<QByteArray> frames; // each message, re-encoded
    std::optional<ErrorCode> error;
};

void checkMessage(const Message &m, const QByteArray &stream, qsizetype &offset, quint32 maxFrame)
{
    check(stream.size() - offset >= 5, "a message from fewer than 5 bytes");
    const quint32 length = qFromBigEndian<quint32>(stream.constData() + offset);
    const quint8 type = quint8(stream.at(offset + 4));
    check(length <= maxFrame, "a frame over the reader's cap was accepted");
    check(length <= capOf(type), "a frame over its type's cap was accepted");
    check(stream.size() - offset >= 4 + qsizetype(length), "a message from a partial frame");
    check(quint8(typeOf(m)) == type, "the message's type is not the frame's");
    const QByteArray frame = stream.mid(offset, 4 + qsizetype(length));
    offset += 4 + qsizetype(length);

    const QByteArray again = encode(m);
    check(again == frame, "a decoded message re-encodes to other bytes");
    FrameReader fresh;
    fresh.feed(again);
    auto r = fresh.next();
    check(r.ok() && r.value().has_value(), "a re-encoded frame does not decode");
    check(encode(*r.value()) == again, "a re-encoded frame decodes to another message");
    auto rest = fresh.next();
    check(rest.ok() && !rest.value().has_value(), "a re-encoded frame left bytes behind");

    auto lone = decodeBody(frame.mid(4));
    check(lone.ok() && encode(lone.value()) == frame, "decodeBody disagrees with the reader");
}

// feed()/next(), the stream cut into chunks of `chunk` bytes (0: all at once).
Outcome viaFeed(const QByteArray &stream, quint32 maxFrame, qsizetype chunk)
{
    Outcome out;
    FrameReader reader;
    reader.setMaxFrame(maxFrame);
    qsizetype fed = 0;
    qsizetype offset = 0;
    while (!out.error) {
        auto r = reader.next();
        if (!r) {
            out.error = r.error().code;
            break;
        }
        if (r.value()) {
            checkMessage(*r.value(), stream, offset, maxFrame);
            out.frames.push_back(encode(*r.value()));
            continue;
        }
        if (fed == stream.size())
            break;
        const qsizetype n = chunk > 0 ? qMin(chunk, stream.size() - fed) : stream.size() - fed;
        reader.feed(stream.mid(fed, n));
        fed += n;
    }
    if (out.error) {
        // Final: the same error again, also after more bytes (even a valid frame).
        reader.feed(encode(Cancel{1}));
        for (int i = 0; i < 2; ++i) {
            auto again = reader.next();
            check(!again.ok() && again.error().code == *out.error, "an error was not final");
        }
    }
    return out;
}

// read() over a QBuffer holding the whole stream; DATA through peekData()/readPayload() when
// `direct`.
Outcome viaDevice(const QByteArray &stream, quint32 maxFrame, bool direct)
{
    Outcome out;
    QByteArray bytes = stream;
    QBuffer device(&bytes);
    device.open(QIODevice::ReadOnly);
    FrameReader reader;
    reader.setMaxFrame(maxFrame);
    qsizetype offset = 0;
    for (;;) {
        if (direct) {
            if (auto head = reader.peekData(&device)) {
                check(head->size >= 0 && head->size <= qint64(MaxChunk), "peekData: bad size");
                Data m{head->id, QByteArray(head->size, Qt::Uninitialized)};
                auto r = reader.readPayload(&device, *head, m.bytes.data());
                check(r.ok(), "readPayload failed on a frame peekData offered");
                checkMessage(m, stream, offset, maxFrame);
                out.frames.push_back(encode(m));
                continue;
            }
        }
        auto r = reader.read(&device);
        if (!r) {
            out.error = r.error().code;
            auto again = reader.read(&device);
            check(!again.ok() && again.error().code == *out.error, "read(): an error was not final");
            check(!reader.peekData(&device), "peekData offered a frame after an error");
            break;
        }
        if (!r.value())
            break;
        checkMessage(*r.value(), stream, offset, maxFrame);
        out.frames.push_back(encode(*r.value()));
    }
    return out;
}

void same(const Outcome &a, const Outcome &b, const char *what)
{
    if (a.frames != b.frames || a.error != b.error) {
        std::fprintf(stderr, "fuzz_frames: %zu vs %zu messages, error %d vs %d\n",
                     a.frames.size(), b.frames.size(), a.error ? int(*a.error) : -1,
                     b.error ? int(*b.error) : -1);
        check(false, what);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const quint8 *data, size_t size)
{
    if (size < 1)
        return 0;
    const quint8 control = data[0];
    const QByteArray stream(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));
    const quint32 maxFrame = (control & 1) ? MaxHandshakeFrame : MaxDataFrame;
    const qsizetype chunk = control >> 1; // 0: whole

    const Outcome whole = viaFeed(stream, maxFrame, 0);
    same(whole, viaFeed(stream, maxFrame, chunk > 0 ? chunk : 1), "a cut stream decodes otherwise");
    same(whole, viaDevice(stream, maxFrame, false), "read() disagrees with next()");
    same(whole, viaDevice(stream, maxFrame, true), "peekData()/readPayload() disagree with next()");

    // A lone body, as decodeBody() sees it: never a crash, and a success is a frame's worth.
    auto lone = decodeBody(stream);
    if (lone) {
        QByteArray frame(4, Qt::Uninitialized);
        qToBigEndian(quint32(stream.size()), frame.data());
        frame += stream;
        check(encode(lone.value()) == frame, "decodeBody: re-encodes to other bytes");
        check(quint32(stream.size()) <= capOf(quint8(stream.at(0))), "decodeBody: over its cap");
    }
    return 0;
}
