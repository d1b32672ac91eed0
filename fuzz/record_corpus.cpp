// record_corpus: records the bytes of real sessions and writes them as the fuzzers' seed corpus.
//
//   record_corpus <dir>    writes <dir>/fuzz_frames/* and <dir>/fuzz_receiver/* (fuzz/corpus/)
//
// A real EdEngine + Sender ship two small dbtags (one file of them marked sent outside isocket,
// so a MANIFEST_OUTSIDE goes too) to a real Receiver through a recording proxy on 127.0.0.1.
// What each side sent becomes seeds: whole sessions, the handshake, the first frame of each
// type, in the input formats of fuzz_frames.cpp and fuzz_receiver.cpp (byte 0 is the mode).

#include "core/edengine.h"
#include "core/protocol.h"
#include "core/receiver.h"
#include "core/sender.h"

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTimer>
#include <QtEndian>

#include <cstdio>
#include <map>
#include <vector>

#include <sys/stat.h>

using namespace isocket;
using namespace isocket::proto;

namespace {

// As fuzz_receiver.cpp's Mode.
constexpr char Authenticate = 0x01;
constexpr char HalfClose = 0x02;
constexpr char OnlyV1 = 0x04;

const QByteArray Secret = QByteArrayLiteral("fuzz-secret"); // fuzz_receiver's
const QString Source = QStringLiteral("ed1");

struct Recorded
{
    QByteArray fromSender;
    QByteArray fromReceiver;
};

bool writeFile(const QString &path, const QByteArray &bytes)
{
    QDir().mkpath(QFileInfo(path).path());
    QFile f(path);
    return f.open(QIODevice::WriteOnly) && f.write(bytes) == bytes.size();
}

QByteArray pattern(int size, int seed)
{
    QByteArray b(size, Qt::Uninitialized);
    for (int i = 0; i < size; ++i)
        b[i] = char((i * 131 + seed * 17) & 0xFF);
    return b;
}

// The frames of `stream`, whole, in order (stops at the first that does not decode).
std::vector<std::pair<FrameType, QByteArray>> framesOf(const QByteArray &stream)
{
    std::vector<std::pair<FrameType, QByteArray>> out;
    FrameReader reader;
    reader.feed(stream);
    qsizetype offset = 0;
    for (;;) {
        auto r = reader.next();
        if (!r || !r.value())
            break;
        const qsizetype length = 4 + qFromBigEndian<quint32>(stream.constData() + offset);
        out.emplace_back(typeOf(*r.value()), stream.mid(offset, length));
        offset += length;
    }
    return out;
}

QString fileName(FrameType type)
{
    return typeName(type).toLower();
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    if (argc != 2) {
        std::fprintf(stderr, "usage: record_corpus <corpus dir>\n");
        return 2;
    }
    const QString out = QString::fromLocal8Bit(argv[1]);
    QTemporaryDir tmp;
    const QString data = tmp.path() + QStringLiteral("/datas");
    const QString recv = tmp.path() + QStringLiteral("/recv");
    QDir().mkpath(recv);
    // Two closed dbtags: small files (a few DATA frames of 1 KiB each), one in a subdirectory,
    // one marked sent outside isocket (g+w).
    const QString a = data + QStringLiteral("/DC20260101000000/");
    const QString b = data + QStringLiteral("/DC20260101000100/");
    bool ok = writeFile(a + QStringLiteral("a.dat"), pattern(300, 1)) &&
              writeFile(a + QStringLiteral("sub/b.dat"), pattern(2500, 2)) &&
              writeFile(a + QStringLiteral("c.dat"), pattern(40, 3)) &&
              writeFile(a + QStringLiteral("finished.parse"), {}) &&
              writeFile(b + QStringLiteral("d.dat"), pattern(700, 4)) &&
              writeFile(b + QStringLiteral("finished.parse"), {}) &&
              ::chmod(QFile::encodeName(a + QStringLiteral("c.dat")).constData(), 0664) == 0;
    if (!ok) {
        std::fprintf(stderr, "record_corpus: cannot write the data root\n");
        return 1;
    }

    ReceiverOptions ro;
    ro.root = recv;
    ro.secret = Secret;
    ro.ioThreads = 1;
    Receiver receiver(ro);
    if (!receiver.listen(QHostAddress::LocalHost, 0)) {
        std::fprintf(stderr, "record_corpus: %s\n", qPrintable(receiver.errorString()));
        return 1;
    }

    // The recording proxy: every connection goes on to the receiver, both ways recorded.
    std::vector<Recorded> sessions;
    sessions.reserve(64);
    QTcpServer proxy;
    proxy.listen(QHostAddress::LocalHost, 0);
    QObject::connect(&proxy, &QTcpServer::newConnection, &proxy, [&] {
        while (QTcpSocket *down = proxy.nextPendingConnection()) {
            auto *up = new QTcpSocket(down);
            sessions.push_back({});
            const size_t index = sessions.size() - 1;
            QObject::connect(down, &QTcpSocket::readyRead, up, [&sessions, index, down, up] {
                const QByteArray bytes = down->readAll();
                sessions[index].fromSender += bytes;
                up->write(bytes);
            });
            QObject::connect(up, &QTcpSocket::readyRead, down, [&sessions, index, down, up] {
                const QByteArray bytes = up->readAll();
                sessions[index].fromReceiver += bytes;
                down->write(bytes);
            });
            QObject::connect(up, &QTcpSocket::disconnected, down, &QTcpSocket::disconnectFromHost);
            QObject::connect(down, &QTcpSocket::disconnected, down, &QObject::deleteLater);
            up->connectToHost(QHostAddress::LocalHost, receiver.serverPort());
        }
    });

    EngineOptions eo;
    eo.watch = false;
    eo.settleMs = 0;
    eo.maxAttempts = 5;
    EdEngine engine(ScanOptions{data}, eo);
    SenderOptions so;
    so.port = proxy.serverPort();
    so.source = Source;
    so.secret = Secret;
    so.jobs = 1;
    so.chunkSize = 1024;
    so.maxConnectAttempts = 5;
    Sender sender(&engine, so);
    QObject::connect(&engine, &EdEngine::idle, &app, [&] { sender.stop(); });
    QObject::connect(&sender, &Sender::stopped, &app, [&] {
        QTimer::singleShot(200, &app, &QCoreApplication::quit); // the last bytes through
    });
    QObject::connect(&sender, &Sender::permanentError, &app, [&](const Error &e) {
        std::fprintf(stderr, "record_corpus: %s\n", qPrintable(e.toString()));
        QCoreApplication::exit(1);
    });
    QTimer::singleShot(30000, &app, [] {
        std::fprintf(stderr, "record_corpus: no idle engine after 30 s\n");
        QCoreApplication::exit(1);
    });
    if (!engine.start()) {
        std::fprintf(stderr, "record_corpus: %s\n", qPrintable(engine.errorString()));
        return 1;
    }
    sender.start();
    if (const int rc = app.exec(); rc != 0)
        return rc;

    const QString framesDir = out + QStringLiteral("/fuzz_frames/");
    const QString recvDir = out + QStringLiteral("/fuzz_receiver/");
    QDir().mkpath(framesDir);
    QDir().mkpath(recvDir);
    std::map<FrameType, QByteArray> firstOfType;
    int written = 0;
    auto put = [&](const QString &path, char mode, const QByteArray &bytes) {
        if (writeFile(path, QByteArray(1, mode) + bytes))
            ++written;
    };
    int n = 0;
    for (const Recorded &s : sessions) {
        if (s.fromSender.isEmpty())
            continue;
        const QString tag = QString::number(n++);
        const auto frames = framesOf(s.fromSender);
        for (const auto &[type, frame] : frames)
            firstOfType.try_emplace(type, frame);
        for (const auto &[type, frame] : framesOf(s.fromReceiver))
            firstOfType.try_emplace(type, frame);
        // Past the handshake: what follows AUTH.
        QByteArray afterAuth;
        bool authSeen = false;
        for (const auto &[type, frame] : frames) {
            if (authSeen)
                afterAuth += frame;
            authSeen = authSeen || type == FrameType::Auth;
        }
        put(framesDir + QStringLiteral("session-ed-") + tag, 0, s.fromSender);
        put(framesDir + QStringLiteral("session-drms-") + tag, 0, s.fromReceiver);
        put(recvDir + QStringLiteral("raw-session-") + tag, HalfClose, s.fromSender);
        if (!afterAuth.isEmpty()) {
            put(recvDir + QStringLiteral("auth-session-") + tag, Authenticate | HalfClose,
                afterAuth);
            put(recvDir + QStringLiteral("auth-session-open-") + tag, Authenticate, afterAuth);
            put(recvDir + QStringLiteral("auth-v1-session-") + tag,
                Authenticate | HalfClose | OnlyV1, afterAuth);
        }
    }
    for (const auto &[type, frame] : firstOfType) {
        put(framesDir + QStringLiteral("frame-") + fileName(type), 0, frame);
        put(framesDir + QStringLiteral("handshake-frame-") + fileName(type), 1, frame);
        if (type != FrameType::Hello && type != FrameType::Auth)
            put(recvDir + QStringLiteral("auth-frame-") + fileName(type),
                Authenticate | HalfClose, frame);
    }
    if (firstOfType.count(FrameType::Hello))
        put(recvDir + QStringLiteral("raw-frame-hello"), HalfClose, firstOfType[FrameType::Hello]);
    std::printf("%d session(s), %d seed file(s) written under %s\n", n, written,
                qPrintable(out));
    return n > 0 ? 0 : 1;
}
