// The sender trusts a receiver only once it proved the shared secret (issue 13, item 1).
//
// A fake receiver on 127.0.0.1 that does not know the secret answers the sender's HELLO with
// every sequence of receiver frames up to four long (CHALLENGE with a proof it cannot make,
// WELCOME, ACCEPT, STORED, CLOSED) and with random longer ones, then closes. Whatever it sends,
// the real SenderConnection must send it nothing but HELLO and an ERROR (no AUTH, no OFFER: not
// even a file's name), report no file delivered (so nothing is marked) and no dbtag closed. A receiver that
// does know the secret gets the file offered: the harness sees sending when it happens.

#include "core/protocol.h"
#include "core/senderconnection.h"

#include <QRandomGenerator>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace isocket;

namespace {

const QByteArray Secret = QByteArrayLiteral("s3cret");
const QString Source = QStringLiteral("ed1");

enum class Frame { Challenge, Welcome, Accept, Stored, Closed };
constexpr Frame Alphabet[] = {Frame::Challenge, Frame::Welcome, Frame::Accept, Frame::Stored,
                              Frame::Closed};

QString name(const QList<Frame> &sequence)
{
    static const char *const names[] = {"CHALLENGE", "WELCOME", "ACCEPT", "STORED", "CLOSED"};
    QStringList parts;
    for (Frame f : sequence)
        parts << QLatin1String(names[int(f)]);
    return parts.join(QLatin1Char(','));
}

// What the fake receiver learnt from one conversation.
struct Outcome
{
    QList<proto::FrameType> received; // frames the sender sent, in order
    int delivered = 0;                // Delivered reports
    int closedOk = 0;                 // dbtagClosed without error
    bool ended = false;               // the sender gave up on the link
    bool hungUp = false;              // ... and closed the connection by itself
    QString failure;                  // what went wrong in the harness
};

} // namespace

class TestSenderHandshake : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void everyShortSequenceIsRefused();
    void randomLongSequencesAreRefused();
    void aReceiverThatProvesTheSecretGetsTheFile();
    void aSecondChallengeIsRefused();

private:
    // One conversation: the sender connects with a file queued and a dbtag to close; the fake
    // answers HELLO with `sequence` (a CHALLENGE carries a valid proof only when `knowsSecret`),
    // then closes its side once the sender has closed, or after `lingerMs`.
    Outcome converse(const QList<Frame> &sequence, bool knowsSecret, int lingerMs = 5000);
    void checkRefused(const QList<Frame> &sequence);

    QTemporaryDir m_dir;
    FileTicket m_ticket;
};

void TestSenderHandshake::initTestCase()
{
    qRegisterMetaType<isocket::LinkState>();
    qRegisterMetaType<QList<isocket::FileReport>>();
    qRegisterMetaType<QList<isocket::FileTicket>>();
    qRegisterMetaType<isocket::Error>();
    QVERIFY(m_dir.isValid());
    const QString path = m_dir.filePath(QStringLiteral("secret-data.dat"));
    QFile f(path);
    QVERIFY(f.open(QIODevice::WriteOnly));
    f.write(QByteArray(3000, 'x'));
    f.close();
    m_ticket.dbtag = QStringLiteral("DC1");
    m_ticket.relPath = QStringLiteral("secret-data.dat");
    m_ticket.absPath = path;
    m_ticket.stamp = FileStamp{3000, 0};
}

Outcome TestSenderHandshake::converse(const QList<Frame> &sequence, bool knowsSecret,
                                      int lingerMs)
{
    Outcome out;
    QTcpServer server;
    if (!server.listen(QHostAddress::LocalHost, 0)) {
        out.failure = server.errorString();
        return out;
    }
    SenderOptions options;
    options.port = server.serverPort();
    options.source = Source;
    options.secret = Secret;
    options.jobs = 1;
    options.retryIntervalMs = 600'000; // one conversation per test: no reconnect
    options.retryMaxMs = 600'000;
    SenderConnection link(0, options);
    connect(&link, &SenderConnection::reported, &link,
            [&out](int, const QList<FileReport> &reports) {
                for (const FileReport &r : reports)
                    out.delivered += r.kind == FileReport::Kind::Delivered;
            });
    connect(&link, &SenderConnection::dbtagClosed, &link,
            [&out](int, const QString &, const Error &e) { out.closedOk += e.code == ErrorCode::Ok; });
    // Like the Sender: files are handed to a link once it is ready.
    connect(&link, &SenderConnection::stateChanged, &link,
            [this, &out, &link](int, LinkState s, const QString &, int) {
                out.ended |= s == LinkState::Retrying || s == LinkState::Refused;
                if (s == LinkState::Ready)
                    link.addTickets({m_ticket});
            });
    link.closeDbtag(QStringLiteral("DC1"), {proto::ManifestEntry{m_ticket.relPath, 3000}});
    link.start();

    if (!server.waitForNewConnection(10000)) {
        out.failure = QStringLiteral("the sender did not connect");
        return out;
    }
    std::unique_ptr<QTcpSocket> peer(server.nextPendingConnection());
    proto::FrameReader reader;
    std::optional<proto::Hello> hello;
    auto readFrames = [&] {
        while (true) {
            auto r = reader.read(peer.get());
            if (!r || !r.value())
                return;
            out.received << proto::typeOf(*r.value());
            if (const auto *h = std::get_if<proto::Hello>(&*r.value()))
                hello = *h;
        }
    };
    if (!QTest::qWaitFor(
            [&] {
                readFrames();
                return hello.has_value();
            },
            10000)) {
        out.failure = QStringLiteral("no HELLO");
        return out;
    }

    // What a receiver answers, as far as this one can: a proof only with the secret.
    const QByteArray serverNonce = proto::randomNonce();
    QByteArray bytes;
    for (Frame f : sequence) {
        switch (f) {
        case Frame::Challenge: {
            const QByteArray proof =
                knowsSecret ? proto::proof(Secret, proto::Role::Receiver, hello->nonce,
                                           serverNonce, hello->source)
                            : proto::randomNonce(); // 32 bytes, like a proof
            bytes += proto::encode(proto::Challenge{proto::Version, serverNonce, proof});
            break;
        }
        case Frame::Welcome:
            bytes += proto::encode(proto::Welcome{proto::MaxInFlight, proto::MaxChunk});
            break;
        case Frame::Accept:
            bytes += proto::encode(proto::Accept{1, proto::Decision::Send, 0, {}, ErrorCode::Ok, {}});
            break;
        case Frame::Stored:
            bytes += proto::encode(proto::Stored{1, ErrorCode::Ok, {}});
            break;
        case Frame::Closed:
            // The CLOSE_DBTAG would be id 2 or so; any small id.
            for (quint32 id = 1; id <= 3; ++id)
                bytes += proto::encode(proto::Closed{id, ErrorCode::Ok, {}});
            break;
        }
    }
    peer->write(bytes);
    // Until the sender hangs up (it must), reading what it sends meanwhile.
    out.hungUp = QTest::qWaitFor(
        [&] {
            readFrames();
            return peer->state() != QAbstractSocket::ConnectedState;
        },
        lingerMs);
    readFrames();
    peer->abort();
    if (!QTest::qWaitFor([&] { return out.ended; }, 10000))
        out.failure = QStringLiteral("the link never left the connection");
    QCoreApplication::processEvents(); // reports handed over with the state change
    return out;
}

void TestSenderHandshake::checkRefused(const QList<Frame> &sequence)
{
    const Outcome out = converse(sequence, false);
    const QString seq = name(sequence);
    QVERIFY2(out.failure.isEmpty(), qPrintable(seq + QStringLiteral(": ") + out.failure));
    QVERIFY2(out.hungUp, qPrintable(seq + QStringLiteral(": the sender kept the link up")));
    // HELLO, and at most an ERROR saying the proof failed: nothing of a file, no AUTH.
    QVERIFY2(!out.received.isEmpty() && out.received.first() == proto::FrameType::Hello,
             qPrintable(seq + QStringLiteral(": no HELLO first")));
    for (qsizetype i = 1; i < out.received.size(); ++i)
        QVERIFY2(out.received.at(i) == proto::FrameType::Error,
                 qPrintable(seq + QStringLiteral(": the sender sent %1")
                                      .arg(proto::typeName(out.received.at(i)))));
    QVERIFY2(out.delivered == 0, qPrintable(seq + QStringLiteral(": a file reported delivered")));
    QVERIFY2(out.closedOk == 0, qPrintable(seq + QStringLiteral(": a dbtag reported closed")));
}

void TestSenderHandshake::everyShortSequenceIsRefused()
{
    QList<QList<Frame>> sequences{{}};
    int tried = 0;
    for (int length = 1; length <= 4; ++length) {
        QList<QList<Frame>> longer;
        for (const auto &s : std::as_const(sequences))
            for (Frame f : Alphabet)
                longer << (QList<Frame>(s) << f);
        sequences = longer;
        for (const auto &s : std::as_const(sequences)) {
            checkRefused(s);
            if (QTest::currentTestFailed())
                return;
            ++tried;
        }
    }
    QCOMPARE(tried, 5 + 25 + 125 + 625);
}

void TestSenderHandshake::randomLongSequencesAreRefused()
{
    const quint32 seed = QRandomGenerator::global()->generate();
    qInfo() << "seed" << seed;
    QRandomGenerator random(seed);
    for (int i = 0; i < 150; ++i) {
        QList<Frame> s;
        const int length = random.bounded(5, 13);
        for (int k = 0; k < length; ++k)
            s << Alphabet[random.bounded(5)];
        checkRefused(s);
        if (QTest::currentTestFailed())
            return;
    }
}

void TestSenderHandshake::aReceiverThatProvesTheSecretGetsTheFile()
{
    const Outcome out = converse({Frame::Challenge, Frame::Welcome}, true, 2000);
    QVERIFY2(out.failure.isEmpty(), qPrintable(out.failure));
    QVERIFY(out.received.size() >= 3);
    QCOMPARE(out.received.at(0), proto::FrameType::Hello);
    QCOMPARE(out.received.at(1), proto::FrameType::Auth);
    QVERIFY(out.received.contains(proto::FrameType::Offer));
    QCOMPARE(out.delivered, 0); // never STORED
}

void TestSenderHandshake::aSecondChallengeIsRefused()
{
    // A proven receiver that then sends CHALLENGE again (a replay of the handshake) is dropped
    // before WELCOME counts.
    const Outcome out = converse({Frame::Challenge, Frame::Challenge, Frame::Welcome}, true);
    QVERIFY2(out.failure.isEmpty(), qPrintable(out.failure));
    QVERIFY(out.hungUp);
    QVERIFY(!out.received.isEmpty());
    QCOMPARE(out.received.first(), proto::FrameType::Hello);
    for (proto::FrameType t : out.received) // AUTH may have left before the second CHALLENGE
        QVERIFY2(t == proto::FrameType::Hello || t == proto::FrameType::Auth ||
                     t == proto::FrameType::Error,
                 qPrintable(proto::typeName(t)));
}

QTEST_GUILESS_MAIN(TestSenderHandshake)
#include "tst_senderhandshake.moc"
