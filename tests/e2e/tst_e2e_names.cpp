// End to end with real processes: names, entries the sender does not send, and the words it
// uses (issue 14, items 3, 7 and 11). Names are bytes: any name Linux allows (not UTF-8, a
// newline, a backslash, a leading '-', 255 bytes) arrives with exactly its bytes, in a live
// dbtag and in a closed one, and is shown escaped by `scan`, the logs and the manifest; a data
// file named like the receiver's own manifest is a skipped entry, warned about once and named
// in the manifest, never a loop; a symbolic link whose target lies inside the data root is sent
// as its content under the link's name, any other is skipped and named; a version that changed
// while it was read is logged as that, not as "sent", and `send --once` counts files, not
// attempts.

#include "core/fsname.h"
#include "tests/testlib/processes.h"
#include "tests/testlib/testtree.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRegularExpression>
#include <QScopeGuard>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QtEndian>

#include <algorithm>
#include <memory>
#include <numeric>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

using namespace isocket;
using namespace isocket::test;

namespace {

constexpr qint64 T0 = 1'600'000'000;
constexpr quint8 StoredType = 0x16; // docs/PROTOCOL.md, section 1

// A TCP relay between a real sender and a real receiver that passes every byte unchanged,
// except that it can hold the receiver's STORED frames (and whatever follows them) until
// released: the sender has then read and offered the file whole, the receiver stored it, and
// the sender has not yet heard so.
class StoredHold : public QObject
{
    Q_OBJECT

public:
    explicit StoredHold(quint16 receiverPort, QObject *parent = nullptr)
        : QObject(parent), m_receiverPort(receiverPort)
    {
        connect(&m_server, &QTcpServer::newConnection, this, &StoredHold::onConnection);
    }
    quint16 listen()
    {
        return m_server.listen(QHostAddress::LocalHost, 0) ? m_server.serverPort() : 0;
    }
    int held() const { return m_heldFrames; }
    void release()
    {
        m_holding = false;
        for (auto &pair : m_pairs) {
            pair->toSender->write(pair->held);
            pair->held.clear();
        }
    }

private:
    struct Pair
    {
        std::unique_ptr<QTcpSocket> toSender;
        std::unique_ptr<QTcpSocket> toReceiver;
        QByteArray fromReceiver; // bytes not yet cut into frames
        QByteArray held;
    };

    void onConnection()
    {
        while (QTcpSocket *s = m_server.nextPendingConnection()) {
            auto pair = std::make_unique<Pair>();
            Pair *p = pair.get();
            s->setParent(nullptr);
            p->toSender.reset(s);
            p->toReceiver = std::make_unique<QTcpSocket>();
            connect(p->toSender.get(), &QTcpSocket::readyRead, this,
                    [p] { p->toReceiver->write(p->toSender->readAll()); });
            connect(p->toReceiver.get(), &QTcpSocket::readyRead, this, [this, p] {
                p->fromReceiver += p->toReceiver->readAll();
                forward(*p);
            });
            connect(p->toSender.get(), &QTcpSocket::disconnected, this,
                    [p] { p->toReceiver->disconnectFromHost(); });
            connect(p->toReceiver.get(), &QTcpSocket::disconnected, this,
                    [p] { p->toSender->disconnectFromHost(); });
            p->toReceiver->connectToHost(QHostAddress::LocalHost, m_receiverPort);
            m_pairs.push_back(std::move(pair));
        }
    }
    void forward(Pair &p)
    {
        while (p.fromReceiver.size() >= 5) {
            const quint32 length = qFromBigEndian<quint32>(p.fromReceiver.constData());
            if (p.fromReceiver.size() < qsizetype(4 + length))
                return;
            const QByteArray frame = p.fromReceiver.left(4 + length);
            p.fromReceiver.remove(0, 4 + length);
            if (m_holding && (quint8(frame.at(4)) == StoredType || !p.held.isEmpty())) {
                m_heldFrames += quint8(frame.at(4)) == StoredType;
                p.held += frame;
            } else {
                p.toSender->write(frame);
            }
        }
    }

    quint16 m_receiverPort;
    QTcpServer m_server;
    std::vector<std::unique_ptr<Pair>> m_pairs;
    bool m_holding = true;
    int m_heldFrames = 0;
};

QByteArray readAll(const QString &file)
{
    QFile f(file);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

// The lines of the receiver's manifest of `dbtag`.
QStringList manifestLines(const E2eScene &scene, const QString &dbtag)
{
    return QString::fromUtf8(readAll(path(path(path(scene.recv, scene.source), dbtag),
                                          QStringLiteral("finished.isocket"))))
        .split(QLatin1Char('\n'), Qt::SkipEmptyParts);
}

} // namespace

class TestE2eNames : public QObject
{
    Q_OBJECT

private slots:
    void changedWhileReadIsNotSentAndCountedOnce();
    void namesAreBytes();
    void reservedNameIsSkippedNotLooped();
    void symlinksInsideTheRootAreSentOthersSkipped();
};

void TestE2eNames::changedWhileReadIsNotSentAndCountedOnce()
{
    // A file rewritten after the sender read it whole and the receiver stored it, before the
    // sender heard so: that version is not marked and not logged as sent; the new one is sent,
    // and the summary counts one file.
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    const QString file = path(path(ed, dbtag), QStringLiteral("a.dat"));
    QVERIFY(writeFile(file, patternBytes(200000, 1)));
    QVERIFY(makeDbtag(ed, dbtag, true, false, T0));

    // Plain TCP: the relay reads the receiver's frames to hold STORED back, which TLS hides.
    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startPlainReceiver(receiver, recv);
    QVERIFY(port != 0);
    StoredHold hold(port);
    const quint16 holdPort = hold.listen();
    QVERIFY(holdPort != 0);
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(plainSenderArgs(ed, holdPort, source, {QStringLiteral("--once")})));
    QTRY_VERIFY_WITH_TIMEOUT(hold.held() >= 1, e2eTimeout());

    const QByteArray fresh = patternBytes(200000, 2);
    struct stat before;
    QCOMPARE(::stat(QFile::encodeName(file).constData(), &before), 0);
    {
        QFile f(file);
        QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
        QCOMPARE(f.write(fresh), fresh.size());
    }
    struct stat after;
    QCOMPARE(::stat(QFile::encodeName(file).constData(), &after), 0);
    QVERIFY(after.st_mtim.tv_nsec != before.st_mtim.tv_nsec ||
            after.st_mtim.tv_sec != before.st_mtim.tv_sec);
    hold.release();

    QVERIFY(sender.waitForExit(e2eTimeout()));
    QCOMPARE(sender.exitCode(), 0);
    QCOMPARE(dbtagFinished(ed, dbtag, recv, source), QString());
    QCOMPARE(readAll(path(path(path(recv, source), dbtag), QStringLiteral("a.dat"))), fresh);
    // Files, not attempts: one file, once.
    QVERIFY2(sender.out().contains(QStringLiteral("sent 1 file(s), 200000 bytes")),
             qPrintable(sender.out()));
    const QString err = sender.err();
    QVERIFY2(err.contains(QStringLiteral("changed while it was read; not marked, it will be "
                                         "sent again")),
             qPrintable(err));
    // One "sent" line: for the version that was marked.
    const QRegularExpression sentLine(QStringLiteral("sent %1/a\\.dat \\(").arg(dbtag));
    QCOMPARE(err.count(sentLine), 1);
}

void TestE2eNames::namesAreBytes()
{
    // Issue 14, item 3. A closed dbtag whose own name is not UTF-8, and a live one, hold names
    // of every kind; each arrives with its exact bytes and content, is marked g+w (with
    // isocket's record) on the ED, the dbtags get finished.watch, and the manifests name every
    // file, escaped. `scan` shows them escaped.
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    // QTemporaryDir cannot remove names that are not UTF-8: this runs first (the processes
    // below are gone by then).
    const auto cleanup =
        qScopeGuard([&scene] { removeTreeAt(QFile::encodeName(scene.tmp.path())); });
    const auto &[tmp, ed, recv, source, live] = scene;
    const QByteArray edBytes = QFile::encodeName(ed);
    const QByteArray recvBytes = QFile::encodeName(path(recv, source));
    const QByteArray closed = "DC1\xff";
    const QList<QByteArray> names = {
        "caf\xe9.dat",           "\xff\xfe", "new\nline.dat",
        "back\\slash.dat",       "-rf.dat",  QByteArray(254, 'n') + "\xe9",
        "sub\xe9/in\x01ner.dat", "plain.dat"};
    QHash<QByteArray, QByteArray> contents; // "dbtag/path" → bytes
    quint32 seed = 1;
    for (const QByteArray &name : names) {
        const QByteArray data = patternBytes(1000 + seed * 4099, seed);
        ++seed;
        QVERIFY(writeFileAt(edBytes + '/' + closed + '/' + name, data));
        contents.insert(closed + '/' + name, data);
    }
    QVERIFY(writeFileAt(edBytes + '/' + closed + "/finished.parse", QByteArray()));
    const struct timespec times[2] = {{T0, 0}, {T0, 0}};
    QCOMPARE(::utimensat(AT_FDCWD, QByteArray(edBytes + '/' + closed).constData(), times, 0), 0);
    QVERIFY(makeDbtag(ed, live, false, false, T0 + 10));

    // `scan` (text and JSON) shows the names escaped, never as raw bytes.
    Process scan(QStringLiteral("scan"));
    QVERIFY(scan.startIsocket(
        {QStringLiteral("scan"), QStringLiteral("--root"), ed, QStringLiteral("--json")}));
    QVERIFY(scan.waitForExit(e2eTimeout()));
    QCOMPARE(scan.exitCode(), 0);
    const QJsonArray tags = QJsonDocument::fromJson(scan.out().toUtf8())
                                .object()
                                .value(QStringLiteral("dbtags"))
                                .toArray();
    QCOMPARE(tags.size(), 2);
    const QJsonObject first = tags.at(0).toObject();
    QCOMPARE(first.value(QStringLiteral("name")).toString(), QStringLiteral("DC1\\xff"));
    QStringList unsent;
    for (const QJsonValue v : first.value(QStringLiteral("unsent_files")).toArray())
        unsent << v.toString();
    unsent.sort();
    QStringList expectedShown;
    for (const QByteArray &name : names)
        expectedShown << displayBytes(name);
    expectedShown.sort();
    QCOMPARE(unsent, expectedShown);
    Process scanText(QStringLiteral("scan-text"));
    QVERIFY(scanText.startIsocket({QStringLiteral("scan"), QStringLiteral("--root"), ed}));
    QVERIFY(scanText.waitForExit(e2eTimeout()));
    QVERIFY2(scanText.out().contains(QStringLiteral("DC1\\xff ")), qPrintable(scanText.out()));

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source)));
    // The closed dbtag is sent and finished.
    QTRY_VERIFY_WITH_TIMEOUT(
        ::access(QByteArray(edBytes + '/' + closed + "/finished.watch").constData(), F_OK) == 0,
        e2eTimeout());
    // The live one gets the same names, written after the watch began (inotify), one in a new
    // subdirectory whose name is not UTF-8 either.
    QVERIFY(sender.waitForError(QStringLiteral("watching live dbtag"), e2eTimeout()));
    for (const QByteArray &name : names) {
        const QByteArray data = patternBytes(2000 + seed * 4099, seed);
        ++seed;
        QVERIFY(writeFileAt(edBytes + '/' + live.toUtf8() + '/' + name, data));
        contents.insert(live.toUtf8() + '/' + name, data);
    }
    for (auto it = contents.cbegin(); it != contents.cend(); ++it) {
        if (!it.key().startsWith(live.toUtf8()))
            continue;
        QTRY_VERIFY_WITH_TIMEOUT(readFileAt(recvBytes + '/' + it.key()) == it.value() &&
                                     hasGroupWriteAt(edBytes + '/' + it.key()),
                                 e2eTimeout());
    }
    QVERIFY(writeFile(path(path(ed, live), QStringLiteral("finished.parse")), QByteArray()));
    QTRY_VERIFY_WITH_TIMEOUT(
        QFileInfo::exists(path(path(ed, live), QStringLiteral("finished.watch"))), e2eTimeout());

    for (auto it = contents.cbegin(); it != contents.cend(); ++it) {
        // Exact bytes and content on the receiver; marked, with isocket's own record, on the ED.
        QCOMPARE(readFileAt(recvBytes + '/' + it.key()), std::optional<QByteArray>(it.value()));
        const QByteArray onEd = edBytes + '/' + it.key();
        QVERIFY2(hasGroupWriteAt(onEd), it.key().constData());
        char record[64];
        QVERIFY(::lgetxattr(onEd.constData(), "user.isocket.sent", record, sizeof record) > 0);
    }
    for (const QByteArray &dbtag : {closed, live.toUtf8()}) {
        const auto manifest = readFileAt(recvBytes + '/' + dbtag + "/finished.isocket");
        QVERIFY(manifest);
        const QList<QByteArray> lines = manifest->split('\n');
        QCOMPARE(lines.size(), names.size() + 2);          // header, one line a file, the last '\n'
        const int escaped = (dbtag == closed ? 1 : 0) + 6; // all but "-rf.dat" and "plain.dat"
        const qint64 total = std::accumulate(
            names.cbegin(), names.cend(), qint64(0), [&](qint64 sum, const QByteArray &n) {
                return sum + contents.value(dbtag + '/' + n).size();
            });
        const QByteArray tail = " files=8 bytes=" + QByteArray::number(total) +
                                " escaped=" + QByteArray::number(escaped);
        QVERIFY2(lines.at(0).endsWith(tail), lines.at(0).constData());
        QList<QByteArray> listed;
        for (int i = 1; i <= names.size(); ++i) {
            const QByteArray &line = lines.at(i);
            const qsizetype sizeAt = line.indexOf("  ") + 2;
            const auto bytes =
                unescapeName(QString::fromUtf8(line.mid(line.indexOf("  ", sizeAt) + 2)));
            QVERIFY2(bytes, line.constData());
            listed << *bytes;
        }
        QList<QByteArray> expected = names;
        std::sort(listed.begin(), listed.end());
        std::sort(expected.begin(), expected.end());
        QCOMPARE(listed, expected);
    }
    // The logs name them escaped (one line per delivered file).
    const QString err = sender.err();
    QVERIFY2(err.contains(QStringLiteral("sent DC1\\xff/caf\\xe9.dat (")), qPrintable(err));
    QVERIFY2(err.contains(QStringLiteral("/new\\nline.dat (")), qPrintable(err));
    QVERIFY2(!err.contains(QChar::ReplacementCharacter), qPrintable(err));
    QVERIFY2(receiver.err().contains(QStringLiteral("stored ed1 DC1\\xff sub\\xe9/in\\x01ner.dat")),
             qPrintable(receiver.err()));
}

void TestE2eNames::reservedNameIsSkippedNotLooped()
{
    // A data file named like the receiver's own manifest would be refused by the receiver for
    // ever: the ED skips it instead, warns once, `scan` shows it, and the receiver's manifest
    // names it. (Before names became bytes, a name that was not UTF-8 went this way.)
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    const QString dir = path(ed, dbtag);
    QVERIFY(writeFile(path(dir, QStringLiteral("good.dat")), patternBytes(5000, 1)));
    QVERIFY(writeFile(path(dir, QStringLiteral("finished.isocket")), "x"));
    QVERIFY(makeDbtag(ed, dbtag, true, false, T0));
    const QString shown = QStringLiteral("finished.isocket");
    const QString reason = QStringLiteral("'finished.isocket' is the name of the receiver's "
                                          "manifest; no data path may use it, at any depth");

    Process scan(QStringLiteral("scan"));
    QVERIFY(scan.startIsocket({QStringLiteral("scan"), QStringLiteral("--root"), ed}));
    QVERIFY(scan.waitForExit(e2eTimeout()));
    QCOMPARE(scan.exitCode(), 0);
    QVERIFY2(scan.out().contains(QStringLiteral("skipped: %1/%2: %3").arg(dbtag, shown, reason)),
             qPrintable(scan.out()));

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source, {QStringLiteral("--once")})));
    QVERIFY(sender.waitForExit(e2eTimeout(20000)));
    QCOMPARE(sender.exitCode(), 0);
    QCOMPARE(fileDelivered(ed, dbtag, QStringLiteral("good.dat"), recv, source), QString());
    QVERIFY(QFileInfo::exists(path(dir, QStringLiteral("finished.watch"))));
    const QStringList lines = manifestLines(scene, dbtag);
    QCOMPARE(lines.size(), 3);
    QVERIFY2(lines.at(0).endsWith(QStringLiteral(" files=1 bytes=5000 skipped=1")),
             qPrintable(lines.at(0)));
    QVERIFY(lines.at(1).endsWith(QStringLiteral("  5000  good.dat")));
    QCOMPARE(lines.at(2), QStringLiteral("skipped  -  %1  %2").arg(shown, reason));
    // Warned about once, and named when the dbtag was finished; no loop.
    const QString err = sender.err();
    QCOMPARE(err.count(QStringLiteral("is not sent: ") + reason), 1);
    QVERIFY2(err.count(QLatin1Char('\n')) < 40, qPrintable(err));
    QVERIFY2(err.contains(QStringLiteral("is finished with 1 entries skipped")), qPrintable(err));
    // The entry itself is untouched.
    QVERIFY(!hasGroupWrite(path(dir, QStringLiteral("finished.isocket"))));
}

void TestE2eNames::symlinksInsideTheRootAreSentOthersSkipped()
{
    // Issue 14, item 7: a link whose target is a file inside the data root is sent as that
    // content under the link's name; a link elsewhere, dangling or to a directory is skipped,
    // warned about, shown by `scan` and named in the manifest. Nothing goes silently.
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    const QString dir = path(ed, dbtag);
    const QByteArray a = patternBytes(3000, 1);
    const QByteArray shared = patternBytes(7000, 2);
    QVERIFY(writeFile(path(dir, QStringLiteral("a.dat")), a));
    QVERIFY(writeFile(path(ed, QStringLiteral("shared/x.dat")), shared));
    const QString outsideFile = path(tmp.path(), QStringLiteral("outside.dat"));
    QVERIFY(writeFile(outsideFile, "not the ED's to send"));
    QVERIFY(QFile::link(QStringLiteral("../shared/x.dat"), path(dir, QStringLiteral("in.dat"))));
    QVERIFY(QFile::link(QStringLiteral("a.dat"), path(dir, QStringLiteral("same.dat"))));
    QVERIFY(QFile::link(outsideFile, path(dir, QStringLiteral("out.dat"))));
    QVERIFY(QFile::link(QStringLiteral("nothing-here"), path(dir, QStringLiteral("dangling.dat"))));
    QVERIFY(QFile::link(QStringLiteral("../shared"), path(dir, QStringLiteral("dir"))));
    QVERIFY(makeDbtag(ed, dbtag, true, false, T0));

    Process scan(QStringLiteral("scan"));
    QVERIFY(scan.startIsocket(
        {QStringLiteral("scan"), QStringLiteral("--root"), ed, QStringLiteral("--json")}));
    QVERIFY(scan.waitForExit(e2eTimeout()));
    QCOMPARE(scan.exitCode(), 0);
    const QJsonArray tags = QJsonDocument::fromJson(scan.out().toUtf8())
                                .object()
                                .value(QStringLiteral("dbtags"))
                                .toArray();
    QCOMPARE(tags.size(), 1);
    QCOMPARE(tags.at(0).toObject().value(QStringLiteral("files")).toInt(), 3);
    QStringList skippedPaths;
    for (const QJsonValue v : tags.at(0).toObject().value(QStringLiteral("skipped")).toArray()) {
        skippedPaths << v.toObject().value(QStringLiteral("path")).toString();
        QVERIFY(!v.toObject().value(QStringLiteral("reason")).toString().isEmpty());
    }
    QCOMPARE(skippedPaths, (QStringList{QStringLiteral("dangling.dat"), QStringLiteral("dir"),
                                        QStringLiteral("out.dat")}));

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source, {QStringLiteral("--once")})));
    QVERIFY(sender.waitForExit(e2eTimeout()));
    QCOMPARE(sender.exitCode(), 0);
    QVERIFY(QFileInfo::exists(path(dir, QStringLiteral("finished.watch"))));
    const QString inRecv = path(path(recv, source), dbtag);
    QCOMPARE(receivedFiles(inRecv),
             (QStringList{QStringLiteral("a.dat"), QStringLiteral("finished.isocket"),
                          QStringLiteral("in.dat"), QStringLiteral("same.dat")}));
    QCOMPARE(readAll(path(inRecv, QStringLiteral("in.dat"))), shared);
    QCOMPARE(readAll(path(inRecv, QStringLiteral("same.dat"))), a);
    QVERIFY(!QFileInfo(path(inRecv, QStringLiteral("in.dat"))).isSymLink());
    // The link's target belongs to no dbtag here (or to another one): it is not marked for the
    // link's sake. a.dat is marked as itself.
    QVERIFY(!hasGroupWrite(path(ed, QStringLiteral("shared/x.dat"))));
    QVERIFY(isMarked(path(dir, QStringLiteral("a.dat"))));

    const QStringList lines = manifestLines(scene, dbtag);
    QCOMPARE(lines.size(), 7);
    QVERIFY2(lines.at(0).endsWith(QStringLiteral(" files=3 bytes=13000 skipped=3")),
             qPrintable(lines.at(0)));
    QStringList skippedLines = lines.filter(QRegularExpression(QStringLiteral("^skipped  -  ")));
    QCOMPARE(skippedLines.size(), 3);
    QVERIFY(skippedLines.at(0).startsWith(
        QStringLiteral("skipped  -  dangling.dat  symbolic link to nothing-here")));
    QVERIFY(skippedLines.at(1).startsWith(QStringLiteral("skipped  -  dir  symbolic link to ")));
    QVERIFY2(
        skippedLines.at(2).startsWith(QStringLiteral("skipped  -  out.dat  symbolic link to ")) &&
            skippedLines.at(2).endsWith(QStringLiteral(", outside the data root")),
        qPrintable(skippedLines.at(2)));
    const QString err = sender.err();
    for (const char *name : {"out.dat", "dangling.dat", "dir"})
        QCOMPARE(err.count(
                     QRegularExpression(QStringLiteral("/%1 is not sent: ")
                                            .arg(QRegularExpression::escape(QLatin1String(name))))),
                 1);
}

QTEST_GUILESS_MAIN(TestE2eNames)
#include "tst_e2e_names.moc"
