// The sender speaks protocol version 1, 2 or 3, as the receiver chooses (docs/PROTOCOL.md, 2.4,
// 5). Version 3 carries names as bytes; before it, a name that is not UTF-8 text is not offered.
//
// A fake receiver on 127.0.0.1 that knows the secret answers HELLO with CHALLENGE in the version
// of the row, then WELCOME, and reads the close of a dbtag that mixes a file sent outside
// isocket with one isocket sent. Version 2 gets the outside file in MANIFEST_OUTSIDE; version 1
// (which has no such frame) gets a manifest without it, so an older receiver still closes it.

#include "core/fsname.h"
#include "core/protocol.h"
#include "core/senderconnection.h"

#include <QScopeGuard>
#include <QSignalSpy>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>

#include <deque>

#include <fcntl.h>
#include <unistd.h>
#include <memory>
#include <optional>

using namespace isocket;

namespace {

const QByteArray Secret = QByteArrayLiteral("s3cret");
const QString Source = QStringLiteral("ed1");

} // namespace

class TestSenderVersion : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void manifestFollowsTheVersion_data();
    void manifestFollowsTheVersion();
    void skippedEntriesNeedVersion2_data();
    void skippedEntriesNeedVersion2();
    void namesFollowTheVersion_data();
    void namesFollowTheVersion();
};

void TestSenderVersion::initTestCase()
{
    qRegisterMetaType<isocket::LinkState>();
    qRegisterMetaType<QList<isocket::FileReport>>();
    qRegisterMetaType<QList<isocket::FileTicket>>();
    qRegisterMetaType<isocket::Error>();
}

void TestSenderVersion::manifestFollowsTheVersion_data()
{
    QTest::addColumn<int>("version");
    QTest::addColumn<QStringList>("frames"); // after CLOSE_DBTAG: type and paths of each
    QTest::addColumn<int>("fileCount");

    QTest::newRow("v1") << 1 << QStringList{QStringLiteral("MANIFEST b")} << 1;
    QTest::newRow("v2") << 2
                        << QStringList{QStringLiteral("MANIFEST_OUTSIDE a"),
                                       QStringLiteral("MANIFEST b")}
                        << 2;
}

void TestSenderVersion::manifestFollowsTheVersion()
{
    QFETCH(int, version);
    QFETCH(QStringList, frames);
    QFETCH(int, fileCount);

    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    SenderOptions options;
    options.port = server.serverPort();
    options.source = Source;
    options.secret = Secret;
    options.jobs = 1;
    options.retryIntervalMs = 600'000;
    options.retryMaxMs = 600'000;
    SenderConnection link(0, options);
    link.closeDbtag(QStringLiteral("DC1"),
                    {{QStringLiteral("a"), 5, true}, {QStringLiteral("b"), 7, false}});
    link.start();
    QVERIFY(server.waitForNewConnection(10000));
    std::unique_ptr<QTcpSocket> peer(server.nextPendingConnection());

    proto::FrameReader reader;
    std::deque<proto::Message> inbox;
    auto next = [&]() -> std::optional<proto::Message> {
        [[maybe_unused]] const bool arrived = QTest::qWaitFor(
            [&] {
                while (true) {
                    auto r = reader.read(peer.get());
                    if (!r || !r.value())
                        break;
                    inbox.push_back(*r.value());
                }
                return !inbox.empty();
            },
            10000);
        if (inbox.empty())
            return std::nullopt;
        proto::Message m = inbox.front();
        inbox.pop_front();
        return m;
    };

    auto hello = next();
    QVERIFY(hello && std::holds_alternative<proto::Hello>(*hello));
    const proto::Hello &h = std::get<proto::Hello>(*hello);
    QCOMPARE(h.minVersion, quint16(1));
    QCOMPARE(h.maxVersion, proto::Version);
    const QByteArray serverNonce = proto::randomNonce();
    peer->write(proto::encode(proto::Challenge{
        quint16(version), serverNonce,
        proto::proof(Secret, proto::Role::Receiver, h.nonce, serverNonce, h.source)}));
    auto auth = next();
    QVERIFY(auth && std::holds_alternative<proto::Auth>(*auth));
    peer->write(proto::encode(proto::Welcome{proto::MaxInFlight, proto::MaxChunk}));

    auto close = next();
    QVERIFY(close && std::holds_alternative<proto::CloseDbtag>(*close));
    QCOMPARE(std::get<proto::CloseDbtag>(*close).fileCount, quint32(fileCount));
    QStringList got;
    int entries = 0;
    while (entries < fileCount) {
        auto m = next();
        QVERIFY(m && std::holds_alternative<proto::Manifest>(*m));
        const proto::Manifest &manifest = std::get<proto::Manifest>(*m);
        QString line = proto::typeName(proto::typeOf(*m));
        for (const proto::ManifestEntry &e : manifest.entries) {
            QCOMPARE(e.outside, manifest.outside);
            line += QLatin1Char(' ') + e.path;
        }
        got << line;
        entries += int(manifest.entries.size());
    }
    QCOMPARE(got, frames);
    QCOMPARE(entries, fileCount);
    peer->abort();
}

void TestSenderVersion::skippedEntriesNeedVersion2_data()
{
    QTest::addColumn<int>("version");
    QTest::newRow("v1") << 1;
    QTest::newRow("v2") << 2;
}

void TestSenderVersion::skippedEntriesNeedVersion2()
{
    // Skipped entries are named in MANIFEST_SKIPPED (version 2). A version 1 receiver could not
    // name them: the dbtag is not closed as if it were whole, and the engine is told why.
    QFETCH(int, version);
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    SenderOptions options;
    options.port = server.serverPort();
    options.source = Source;
    options.secret = Secret;
    options.jobs = 1;
    options.retryIntervalMs = 600'000;
    options.retryMaxMs = 600'000;
    SenderConnection link(0, options);
    QSignalSpy closed(&link, &SenderConnection::dbtagClosed);
    QVERIFY(closed.isValid());
    link.closeDbtag(QStringLiteral("DC1"), {{QStringLiteral("b"), 7, false, {}},
                                            {QStringLiteral("c"), 0, false,
                                             QStringLiteral("symbolic link to /x, outside "
                                                            "the data root")}});
    link.start();
    QVERIFY(server.waitForNewConnection(10000));
    std::unique_ptr<QTcpSocket> peer(server.nextPendingConnection());
    proto::FrameReader reader;
    std::deque<proto::Message> inbox;
    auto next = [&](int timeoutMs) -> std::optional<proto::Message> {
        [[maybe_unused]] const bool arrived = QTest::qWaitFor(
            [&] {
                while (true) {
                    auto r = reader.read(peer.get());
                    if (!r || !r.value())
                        break;
                    inbox.push_back(*r.value());
                }
                return !inbox.empty();
            },
            timeoutMs);
        if (inbox.empty())
            return std::nullopt;
        proto::Message m = inbox.front();
        inbox.pop_front();
        return m;
    };
    auto hello = next(10000);
    QVERIFY(hello && std::holds_alternative<proto::Hello>(*hello));
    const proto::Hello &h = std::get<proto::Hello>(*hello);
    const QByteArray serverNonce = proto::randomNonce();
    peer->write(proto::encode(proto::Challenge{
        quint16(version), serverNonce,
        proto::proof(Secret, proto::Role::Receiver, h.nonce, serverNonce, h.source)}));
    auto auth = next(10000);
    QVERIFY(auth && std::holds_alternative<proto::Auth>(*auth));
    peer->write(proto::encode(proto::Welcome{proto::MaxInFlight, proto::MaxChunk}));

    if (version == 1) {
        QVERIFY(closed.wait(10000));
        QCOMPARE(closed.first().at(1).toString(), QStringLiteral("DC1"));
        QCOMPARE(closed.first().at(2).value<Error>().code, ErrorCode::Unsupported);
        // Nothing of the dbtag went to the receiver (the barrier: the signal above).
        QVERIFY(!next(100));
    } else {
        auto close = next(10000);
        QVERIFY(close && std::holds_alternative<proto::CloseDbtag>(*close));
        QCOMPARE(std::get<proto::CloseDbtag>(*close).fileCount, quint32(2));
        auto files = next(10000);
        QVERIFY(files && std::holds_alternative<proto::Manifest>(*files));
        QCOMPARE(proto::typeOf(*files), proto::FrameType::Manifest);
        auto skipped = next(10000);
        QVERIFY(skipped && std::holds_alternative<proto::Manifest>(*skipped));
        QCOMPARE(proto::typeOf(*skipped), proto::FrameType::ManifestSkipped);
        const proto::Manifest &m = std::get<proto::Manifest>(*skipped);
        QCOMPARE(m.entries.size(), 1);
        QCOMPARE(m.entries.first().path, QStringLiteral("c"));
        QVERIFY(m.entries.first().skipped.endsWith(QStringLiteral("outside the data root")));
        QCOMPARE(closed.size(), 0);
    }
    peer->abort();
}

void TestSenderVersion::namesFollowTheVersion_data()
{
    QTest::addColumn<int>("version");
    QTest::newRow("v2") << 2;
    QTest::newRow("v3") << 3;
}

void TestSenderVersion::namesFollowTheVersion()
{
    // Version 3 carries a name as its bytes: the OFFER and MANIFEST_SKIPPED hold them exactly.
    // A version 2 receiver cannot: the link does not offer such a name (the engine has made it
    // a skipped entry before; this is the link's own guard), and a skipped entry's name goes
    // as the text the ED shows.
    QFETCH(int, version);
    QTemporaryDir dir;
    const QByteArray raw = "caf\xe9.dat";
    const QByteArray file = QFile::encodeName(dir.path()) + '/' + raw;
    const int fd = ::open(file.constData(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    QVERIFY(fd >= 0);
    QCOMPARE(::write(fd, "abc", 3), 3);
    ::close(fd);
    const auto cleanup = qScopeGuard([&file] { ::unlink(file.constData()); });

    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost, 0));
    SenderOptions options;
    options.port = server.serverPort();
    options.source = Source;
    options.secret = Secret;
    options.jobs = 1;
    options.retryIntervalMs = 600'000;
    options.retryMaxMs = 600'000;
    SenderConnection link(0, options);
    QSignalSpy state(&link, &SenderConnection::stateChanged);
    QSignalSpy agreed(&link, &SenderConnection::versionAgreed);
    QSignalSpy reported(&link, &SenderConnection::reported);
    QVERIFY(state.isValid() && agreed.isValid() && reported.isValid());
    link.start();
    QVERIFY(server.waitForNewConnection(10000));
    std::unique_ptr<QTcpSocket> peer(server.nextPendingConnection());
    proto::FrameReader reader;
    std::deque<proto::Message> inbox;
    auto next = [&](int timeoutMs) -> std::optional<proto::Message> {
        [[maybe_unused]] const bool arrived = QTest::qWaitFor(
            [&] {
                while (true) {
                    auto r = reader.read(peer.get());
                    if (!r || !r.value())
                        break;
                    inbox.push_back(*r.value());
                }
                return !inbox.empty();
            },
            timeoutMs);
        if (inbox.empty())
            return std::nullopt;
        proto::Message m = inbox.front();
        inbox.pop_front();
        return m;
    };
    auto hello = next(10000);
    QVERIFY(hello && std::holds_alternative<proto::Hello>(*hello));
    const proto::Hello &h = std::get<proto::Hello>(*hello);
    const QByteArray serverNonce = proto::randomNonce();
    reader.setVersion(quint16(version));
    peer->write(proto::encode(proto::Challenge{
        quint16(version), serverNonce,
        proto::proof(Secret, proto::Role::Receiver, h.nonce, serverNonce, h.source)}));
    auto auth = next(10000);
    QVERIFY(auth && std::holds_alternative<proto::Auth>(*auth));
    peer->write(proto::encode(proto::Welcome{proto::MaxInFlight, proto::MaxChunk}));
    QTRY_VERIFY_WITH_TIMEOUT(
        !state.isEmpty() && state.last().at(1).value<LinkState>() == LinkState::Ready, 10000);
    QCOMPARE(agreed.size(), 1);
    QCOMPARE(agreed.first().at(1).value<quint16>(), quint16(version));

    FileTicket ticket;
    ticket.dbtag = QStringLiteral("DC1");
    ticket.relPath = fsDecode(raw);
    ticket.absPath = fsDecode(file);
    ticket.stamp = FileStamp{3, 0};
    link.addTickets({ticket});
    if (version == 2) {
        QTRY_VERIFY_WITH_TIMEOUT(!reported.isEmpty(), 10000);
        const auto reports = reported.first().at(1).value<QList<FileReport>>();
        QCOMPARE(reports.size(), 1);
        QCOMPARE(reports.first().kind, FileReport::Kind::Failed);
        QCOMPARE(reports.first().error.code, ErrorCode::BadPath);
    } else {
        auto offer = next(10000);
        QVERIFY(offer && std::holds_alternative<proto::Offer>(*offer));
        QCOMPARE(fsEncode(std::get<proto::Offer>(*offer).path), raw);
        peer->write(
            proto::encode(proto::Accept{std::get<proto::Offer>(*offer).id, proto::Decision::Refused,
                                        0, Hash128{}, ErrorCode::Busy, QStringLiteral("later")}));
        QTRY_VERIFY_WITH_TIMEOUT(!reported.isEmpty(), 10000);
    }
    link.closeDbtag(QStringLiteral("DC1"),
                    {{fsDecode("l\xffnk"), 0, false, QStringLiteral("symbolic link elsewhere")}});
    // The OFFER, if any, came before: the next frame is the close.
    auto close = next(10000);
    QVERIFY(close && std::holds_alternative<proto::CloseDbtag>(*close));
    auto skipped = next(10000);
    QVERIFY(skipped && std::holds_alternative<proto::Manifest>(*skipped));
    const proto::Manifest &m = std::get<proto::Manifest>(*skipped);
    QVERIFY(m.skipped);
    QCOMPARE(m.entries.size(), 1);
    QCOMPARE(fsEncode(m.entries.first().path),
             version == 2 ? QByteArray("l\\xffnk") : QByteArray("l\xffnk"));
    peer->abort();
}

QTEST_GUILESS_MAIN(TestSenderVersion)
#include "tst_senderversion.moc"
