// fuzz_receiver: a peer sending arbitrary bytes to a real Receiver (its connection state machine).
//
// One Receiver listens on 127.0.0.1, port 0, with a root of its own (<tmp>/outer/root); each input
// is one connection from a QTcpSocket in this process. Input byte 0 says how (Mode); the rest is
// written as one burst. With Authenticate the harness first does HELLO/CHALLENGE/AUTH itself
// (source "ed1", the receiver's secret), so the bytes reach the states after WELCOME.
// Then the event loop spins until the receiver closes the connection or a short deadline
// passes, and the client goes. After each input: the connection is gone from the receiver, it
// still listens, and nothing was written beside its root. A fresh Receiver and root every
// FreshEvery inputs keep the disk use bounded (and the state a crash depends on short).
// Crashes, sanitizer reports and broken invariants abort; the input is saved by libFuzzer.

#include "core/protocol.h"
#include "core/receiver.h"

#include <QCoreApplication>
#include <QDeadlineTimer>
#include <QDir>
#include <QFileInfo>
#include <QDirIterator>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTimer>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include <sys/socket.h>

using namespace isocket;
using namespace isocket::proto;

namespace {

enum Mode : quint8 {
    Authenticate = 0x01, // the harness does the handshake first
    HalfClose = 0x02,    // shutdown(SHUT_WR) after the burst: the receiver sees EOF at once
    OnlyV1 = 0x04,       // HELLO offers version 1 only (no MANIFEST_OUTSIDE)
};

const QByteArray Secret = QByteArrayLiteral("fuzz-secret");
const QString Source = QStringLiteral("ed1");
constexpr int FreshEvery = 64;
constexpr int ConnectMs = 2000;
constexpr int ReplyMs = 2000;   // CHALLENGE, WELCOME: the receiver is idle, so this is slack
constexpr int LingerMs = 20;    // after the burst, unless the receiver closes first
constexpr int GoneMs = 5000;    // the receiver must drop a connection whose peer went

[[noreturn]] void broken(const char *what)
{
    std::fprintf(stderr, "fuzz_receiver: invariant broken: %s\n", what);
    std::abort();
}

// Spins the event loop until `done()` or the deadline; the receiver's I/O threads run meanwhile.
template <typename F> bool spin(F done, int ms)
{
    QDeadlineTimer deadline(ms);
    QTimer wake;
    wake.setSingleShot(true);
    while (!done()) {
        if (deadline.hasExpired())
            return false;
        // Some facts change in other threads without an event here: look again every ms.
        wake.start(1);
        QCoreApplication::processEvents(QEventLoop::AllEvents | QEventLoop::WaitForMoreEvents);
    }
    return true;
}

struct World
{
    std::unique_ptr<QTemporaryDir> base;
    std::unique_ptr<Receiver> receiver;
    int inputs = 0;
};

World *world = nullptr;

QString outerDir()
{
    return world->base->path() + QStringLiteral("/outer");
}

void startReceiver()
{
    world->receiver.reset(); // waits for its threads
    world->base = std::make_unique<QTemporaryDir>();
    if (!world->base->isValid() || !QDir().mkpath(outerDir() + QStringLiteral("/root")))
        broken("cannot make the temporary root");
    ReceiverOptions options;
    options.root = outerDir() + QStringLiteral("/root");
    options.secret = Secret;
    options.ioThreads = 1;
    world->receiver = std::make_unique<Receiver>(options);
    if (!world->receiver->listen(QHostAddress::LocalHost, 0)) {
        std::fprintf(stderr, "fuzz_receiver: %s\n", qPrintable(world->receiver->errorString()));
        std::abort();
    }
}

// Nothing beside the root: <base> holds only outer/, outer/ only root/, and no symlink was
// made in the root (the receiver makes none).
void checkConfined(bool deep)
{
    const auto names = [](const QString &dir) {
        return QDir(dir).entryList(QDir::AllEntries | QDir::Hidden | QDir::System |
                                   QDir::NoDotAndDotDot);
    };
    if (names(world->base->path()) != QStringList{QStringLiteral("outer")} ||
        names(outerDir()) != QStringList{QStringLiteral("root")})
        broken("something was written beside the receiver's root");
    if (!deep)
        return;
    QDirIterator it(outerDir() + QStringLiteral("/root"),
                    QDir::AllEntries | QDir::Hidden | QDir::System | QDir::NoDotAndDotDot,
                    QDirIterator::Subdirectories);
    while (it.hasNext()) {
        it.next();
        if (it.fileInfo().isSymLink())
            broken("a symlink in the receiver's root");
    }
}

// The next whole frame from `socket`, or nullopt when it does not come in time.
std::optional<Message> expect(QTcpSocket &socket, FrameReader &reader)
{
    std::optional<Message> got;
    bool failed = false;
    spin(
        [&] {
            auto r = reader.read(&socket);
            if (!r)
                failed = true;
            else if (r.value())
                got = std::move(*r.value());
            return got || failed || socket.state() != QAbstractSocket::ConnectedState;
        },
        ReplyMs);
    return got;
}

bool handshake(QTcpSocket &socket, bool onlyV1)
{
    FrameReader reader;
    reader.setMaxFrame(MaxHandshakeFrame);
    const QByteArray clientNonce = randomNonce();
    socket.write(encode(Hello{MinVersion, onlyV1 ? quint16(1) : Version, Source, clientNonce}));
    const auto challenge = expect(socket, reader);
    const auto *c = challenge ? std::get_if<Challenge>(&*challenge) : nullptr;
    if (!c)
        broken("no CHALLENGE for a valid HELLO");
    socket.write(encode(Auth{proof(Secret, Role::Sender, clientNonce, c->nonce, Source)}));
    const auto welcome = expect(socket, reader);
    if (!welcome || !std::get_if<Welcome>(&*welcome))
        broken("no WELCOME for a valid AUTH");
    return true;
}

void runOne(const quint8 *data, size_t size)
{
    const quint8 mode = data[0];
    const QByteArray burst(reinterpret_cast<const char *>(data + 1), qsizetype(size - 1));
    Receiver &receiver = *world->receiver;
    {
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, receiver.serverPort());
        if (!spin([&] { return socket.state() == QAbstractSocket::ConnectedState; }, ConnectMs))
            broken("the receiver does not accept a connection");
        if (mode & Authenticate)
            handshake(socket, mode & OnlyV1);
        socket.write(burst);
        socket.flush();
        if (mode & HalfClose) {
            // Only after everything left: the kernel keeps it in order before the FIN.
            spin([&] { return socket.bytesToWrite() == 0; }, LingerMs);
            ::shutdown(int(socket.socketDescriptor()), SHUT_WR);
        }
        // The receiver's answers are read and dropped; the loop ends when it closes.
        QObject::connect(&socket, &QTcpSocket::readyRead, &socket,
                         [&socket] { socket.read(socket.bytesAvailable()); });
        spin([&] { return socket.state() == QAbstractSocket::UnconnectedState; }, LingerMs);
        socket.abort();
    }
    if (!spin([&] { return receiver.connectionCount() == 0; }, GoneMs))
        broken("the receiver kept a connection whose peer went");
    if (!receiver.isListening())
        broken("the receiver stopped listening");
}

void messageHandler(QtMsgType type, const QMessageLogContext &, const QString &message)
{
    // The receiver logs every refusal; thousands of inputs a second would drown the output.
    if (type == QtFatalMsg) {
        std::fprintf(stderr, "fuzz_receiver: fatal: %s\n", qPrintable(message));
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    qInstallMessageHandler(messageHandler);
    // Never destroyed: libFuzzer ends the process with exit(), the receiver's threads running.
    new QCoreApplication(*argc, *argv);
    world = new World;
    startReceiver();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const quint8 *data, size_t size)
{
    if (size < 1)
        return 0;
    if (world->inputs > 0 && world->inputs % FreshEvery == 0) {
        checkConfined(true);
        startReceiver();
    }
    ++world->inputs;
    runOne(data, size);
    checkConfined(false);
    return 0;
}
