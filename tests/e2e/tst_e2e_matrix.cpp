// End to end with real processes: the original's test matrix (scan_*, fsync_*) and the
// multi-ED cases (edx1, edx2). Real `isocket receive`, `isocket send`, `isocket simulate`,
// real files and inotify, loopback only. Every test checks the receiver's bytes, the ED's marks
// and the markers; "nothing sent" is asserted after a positive barrier.

#include "tests/testlib/processes.h"
#include "tests/testlib/testtree.h"

#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QRegularExpression>
#include <QScopeGuard>
#include <QSet>
#include <QTest>

#include <sys/inotify.h>
#include <unistd.h>

using namespace isocket;
using namespace isocket::test;

namespace {

constexpr qint64 T0 = 1'600'000'000; // dbtag mtimes: explicit, so "newest" never depends on timing

// The state `isocket scan --json` reports for `dbtag`, or a description of what went wrong.
QString scanState(const QString &edRoot, const QString &dbtag)
{
    Process scan(QStringLiteral("scan"));
    if (!scan.startIsocket(
            {QStringLiteral("scan"), QStringLiteral("--root"), edRoot, QStringLiteral("--json")}))
        return QStringLiteral("scan did not start");
    if (!scan.waitForExit(e2eTimeout(10000)) || scan.exitCode() != 0)
        return QStringLiteral("scan failed: %1").arg(scan.err());
    const QJsonObject doc = QJsonDocument::fromJson(scan.out().toUtf8()).object();
    for (const QJsonValue &v : doc.value(QStringLiteral("dbtags")).toArray())
        if (v.toObject().value(QStringLiteral("name")).toString() == dbtag)
            return v.toObject().value(QStringLiteral("state")).toString();
    return QStringLiteral("%1 not in the scan: %2").arg(dbtag, scan.out());
}

} // namespace

class TestE2eMatrix : public QObject
{
    Q_OBJECT

private slots:
    void matrix_data();
    void matrix();
    void edx1();
    void edx2();
    void consumersSeeEveryFileArrive_data();
    void consumersSeeEveryFileArrive();
    void longNamesArrive();
};

void TestE2eMatrix::matrix_data()
{
    // The subject dbtag (older) has the markers and file modes of the row; the live dbtag
    // (newest, no markers) always holds barrier.dat (0644), which must arrive, plus files of
    // mode liveMode. A file written after the start must arrive too; then finished.parse is
    // written into the live dbtag (unless its files are not to be sent) and it must finish.
    QTest::addColumn<bool>("subject");
    QTest::addColumn<bool>("parse");
    QTest::addColumn<bool>("watch");
    QTest::addColumn<bool>("subjectSent");
    QTest::addColumn<QString>("subjectState"); // in `scan --json` before the sender starts
    QTest::addColumn<uint>("liveMode");
    QTest::addColumn<bool>("liveSent");

    QTest::newRow("scan_p0w0") << true << false << false << true << "closed" << 0644u << true;
    QTest::newRow("scan_p0w1") << true << false << true << false << "abnormal" << 0644u << true;
    QTest::newRow("scan_p1w0") << true << true << false << true << "closed" << 0644u << true;
    QTest::newRow("scan_p1w1") << true << true << true << false << "done" << 0644u << true;
    QTest::newRow("fsync_x0") << false << false << false << false << "" << 0644u << true;
    QTest::newRow("fsync_x1") << false << false << false << false << "" << 0664u << false;
}

void TestE2eMatrix::matrix()
{
    QFETCH(bool, subject);
    QFETCH(bool, parse);
    QFETCH(bool, watch);
    QFETCH(bool, subjectSent);
    QFETCH(QString, subjectState);
    QFETCH(uint, liveMode);
    QFETCH(bool, liveSent);

    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, old] = scene;
    const QString live = QStringLiteral("DC20200102000000");
    const QStringList subjectFiles{QStringLiteral("a.dat"), QStringLiteral("b.dat"),
                                   QStringLiteral("sub/c.dat")};
    const QStringList liveFiles{QStringLiteral("l1.dat"), QStringLiteral("deep/l2.dat")};

    if (subject) {
        int seed = 1;
        for (const QString &f : subjectFiles) {
            QVERIFY(
                writeFile(path(path(ed, old), f), patternBytes(10000 + seed * 777, seed), 0644));
            ++seed;
        }
        QVERIFY(makeDbtag(ed, old, parse, watch, T0));
    }
    QVERIFY(writeFile(path(path(ed, live), QStringLiteral("barrier.dat")), patternBytes(5000, 50),
                      0644));
    int seed = 60;
    for (const QString &f : liveFiles) {
        QVERIFY(writeFile(path(path(ed, live), f), patternBytes(20000 + seed, seed), liveMode));
        ++seed;
    }
    QVERIFY(setMtime(path(ed, QStringLiteral("%1/deep").arg(live)), T0 + 100));
    QVERIFY(makeDbtag(ed, live, false, false, T0 + 100));
    if (subject)
        QCOMPARE(scanState(ed, old), subjectState);
    QCOMPARE(scanState(ed, live), QStringLiteral("live"));

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    MarkGuard guard(ed, recv, source);
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source)));

    // Positive barrier: the live dbtag's existing file arrives.
    QTRY_COMPARE_WITH_TIMEOUT(fileDelivered(ed, live, QStringLiteral("barrier.dat"), recv, source),
                              QString(), e2eTimeout());
    if (subjectSent)
        QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, old, recv, source), QString(), e2eTimeout());

    // A file written after the start arrives too; the live dbtag is not finished meanwhile.
    QVERIFY(
        writeFile(path(path(ed, live), QStringLiteral("late.dat")), patternBytes(30000, 70), 0644));
    QTRY_COMPARE_WITH_TIMEOUT(fileDelivered(ed, live, QStringLiteral("late.dat"), recv, source),
                              QString(), e2eTimeout());
    if (liveSent) {
        QTRY_COMPARE_WITH_TIMEOUT(dbtagDelivered(ed, live, recv, source), QString(), e2eTimeout());
        QVERIFY(!QFileInfo::exists(path(path(ed, live), QStringLiteral("finished.watch"))));
        QVERIFY(!QFileInfo::exists(
            path(recv, QStringLiteral("%1/%2/finished.isocket").arg(source, live))));
        QVERIFY(writeFile(path(path(ed, live), QStringLiteral("finished.parse")), QByteArray()));
        // The strongest barrier: the live dbtag is complete on the receiver.
        QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, live, recv, source), QString(), e2eTimeout());
    } else {
        for (const QString &f : liveFiles) {
            QVERIFY2(
                !QFileInfo::exists(path(recv, QStringLiteral("%1/%2/%3").arg(source, live, f))),
                qPrintable(f));
            QVERIFY(hasGroupWrite(path(path(ed, live), f)));
        }
        QVERIFY(!QFileInfo::exists(path(path(ed, live), QStringLiteral("finished.watch"))));
    }

    if (subject && !subjectSent) {
        QCOMPARE(nothingStored(recv, source, old), QString());
        QVERIFY(!QFileInfo::exists(path(recv, path(source, old))));
        QCOMPARE(nothingMarked(ed, old), QString());
        // The markers are as they were: isocket neither finished nor reopened it.
        QCOMPARE(QFileInfo::exists(path(path(ed, old), QStringLiteral("finished.parse"))), parse);
        QVERIFY(QFileInfo::exists(path(path(ed, old), QStringLiteral("finished.watch"))));
        QCOMPARE(scanState(ed, old), subjectState);
    }
    QCOMPARE(guard.violation(), QString());
    QVERIFY(sender.isRunning());
    QVERIFY(receiver.isRunning());
}

void TestE2eMatrix::edx1()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString ed = path(tmp.path(), QStringLiteral("ed"));
    const QString recv = path(tmp.path(), QStringLiteral("recv"));
    const QString source = QStringLiteral("ed1");
    QVERIFY(QDir().mkpath(ed));

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    MarkGuard guard(ed, recv, source);
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source)));
    QVERIFY(sender.waitForError(QStringLiteral("sending"), e2eTimeout(10000)));

    Process producer(QStringLiteral("simulate"));
    QVERIFY(producer.startIsocket(
        {QStringLiteral("simulate"), QStringLiteral("--root"), ed, QStringLiteral("--dbtags"),
         QStringLiteral("3"), QStringLiteral("--files"), QStringLiteral("20"),
         QStringLiteral("--size"), QStringLiteral("64K"), QStringLiteral("--interval"),
         QStringLiteral("20"), QStringLiteral("--subdirs")}));
    QVERIFY(producer.waitForExit(e2eTimeout(60000)));
    QCOMPARE(producer.exitCode(), 0);

    const QStringList dbtags = QDir(ed).entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name);
    QCOMPARE(dbtags.size(), 3);
    for (const QString &dbtag : dbtags) {
        QCOMPARE(dataFiles(path(ed, dbtag)).size(), 20);
        QVERIFY(dataFiles(path(ed, dbtag)).join(u' ').contains(QLatin1Char('/'))); // --subdirs
        QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, dbtag, recv, source), QString(), e2eTimeout());
    }
    QCOMPARE(QDir(path(recv, source)).entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name),
             dbtags);
    QCOMPARE(guard.violation(), QString());
}

void TestE2eMatrix::edx2()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString recv = path(tmp.path(), QStringLiteral("recv"));
    const QString closed = QStringLiteral("DC20200101000000");
    const QString live = QStringLiteral("DC20200102000000");
    const QStringList sources{QStringLiteral("ed1"), QStringLiteral("ed2")};
    auto edOf = [&](const QString &source) { return path(tmp.path(), source); };

    // Identical dbtag and file names on both EDs, different contents (and sizes).
    for (int e = 0; e < 2; ++e) {
        const QString ed = edOf(sources[e]);
        for (int i = 0; i < 4; ++i) {
            const QString name =
                QStringLiteral("%1f%2.dat").arg(i == 3 ? QStringLiteral("sub/") : QString()).arg(i);
            QVERIFY(writeFile(path(path(ed, closed), name),
                              patternBytes(40000 + e * 1000 + i, 100 * e + i)));
            QVERIFY(writeFile(path(path(ed, live), name),
                              patternBytes(30000 + e * 1000 + i, 100 * e + i + 50)));
        }
        QVERIFY(makeDbtag(ed, closed, true, false, T0));
        QVERIFY(makeDbtag(ed, live, false, false, T0 + 100));
    }

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    MarkGuard guard1(edOf(sources[0]), recv, sources[0]);
    MarkGuard guard2(edOf(sources[1]), recv, sources[1]);
    Process sender1(QStringLiteral("sender ed1"));
    Process sender2(QStringLiteral("sender ed2"));
    QVERIFY(sender1.startIsocket(senderArgs(edOf(sources[0]), port, sources[0])));
    QVERIFY(sender2.startIsocket(senderArgs(edOf(sources[1]), port, sources[1])));

    for (const QString &source : sources) {
        QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(edOf(source), closed, recv, source), QString(),
                                  e2eTimeout());
        QTRY_COMPARE_WITH_TIMEOUT(dbtagDelivered(edOf(source), live, recv, source), QString(),
                                  e2eTimeout());
    }
    // More files into both live dbtags, same names again, then the producers close them.
    for (int e = 0; e < 2; ++e)
        for (int i = 4; i < 8; ++i)
            QVERIFY(writeFile(path(path(edOf(sources[e]), live), QStringLiteral("f%1.dat").arg(i)),
                              patternBytes(20000 + e * 1000 + i, 100 * e + i + 50)));
    for (const QString &source : sources)
        QVERIFY(writeFile(path(path(edOf(source), live), QStringLiteral("finished.parse")),
                          QByteArray()));
    for (const QString &source : sources) {
        QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(edOf(source), live, recv, source), QString(),
                                  e2eTimeout());
        QCOMPARE(dataFiles(path(edOf(source), live)).size(), 8);
        // Still complete and unmixed after the other ED finished too.
        QCOMPARE(dbtagFinished(edOf(source), closed, recv, source), QString());
    }
    QCOMPARE(
        QDir(recv).entryList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden, QDir::Name),
        sources);
    QCOMPARE(guard1.violation(), QString());
    QCOMPARE(guard2.violation(), QString());
}

void TestE2eMatrix::consumersSeeEveryFileArrive_data()
{
    QTest::addColumn<QString>("arrival");
    QTest::newRow("rename (default)") << QString();
    // The faster option: small files linked in fire IN_CREATE only, as documented.
    QTest::newRow("link") << QStringLiteral("link");
}

void TestE2eMatrix::consumersSeeEveryFileArrive()
{
    QFETCH(QString, arrival);
    // The common way for a consumer on DRMS to notice a complete file is inotify's
    // IN_CLOSE_WRITE | IN_MOVED_TO (incron, inotifywait -e close_write,moved_to, lsyncd). Every
    // stored file, small (linked in) or large (a partial renamed), and the manifest must fire
    // one of them (issue 14 item 13).
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    QStringList names;
    for (int i = 0; i < 20; ++i) {
        names << QStringLiteral("small%1.dat").arg(i);
        QVERIFY(writeFile(path(path(ed, dbtag), names.last()), patternBytes(3000 + i, i + 1)));
    }
    names << QStringLiteral("large.dat");
    QVERIFY(writeFile(path(path(ed, dbtag), names.last()), patternBytes(3 * 1024 * 1024, 77)));
    QVERIFY(makeDbtag(ed, dbtag, true, false, T0));

    // The consumer watches the dbtag's directory on the receiver before anything arrives.
    const QString dir = path(recv, path(source, dbtag));
    QVERIFY(QDir().mkpath(dir));
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    QVERIFY(fd >= 0);
    const auto closeFd = qScopeGuard([fd] { ::close(fd); });
    QVERIFY(::inotify_add_watch(fd, QFile::encodeName(dir).constData(),
                                IN_CLOSE_WRITE | IN_MOVED_TO) >= 0);
    QSet<QString> seen;
    auto readEvents = [&] {
        alignas(inotify_event) char buf[64 * 1024];
        for (;;) {
            const ssize_t n = ::read(fd, buf, sizeof buf);
            if (n <= 0)
                return;
            for (ssize_t i = 0; i < n;) {
                const auto *e = reinterpret_cast<const inotify_event *>(buf + i);
                if (e->len > 0)
                    seen.insert(QFile::decodeName(e->name));
                i += ssize_t(sizeof(inotify_event) + e->len);
            }
        }
    };

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(
        receiver, recv, 0,
        arrival.isEmpty() ? QStringList() : QStringList{QStringLiteral("--arrival"), arrival});
    QVERIFY(port != 0);
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source, {QStringLiteral("--once")})));
    QVERIFY(sender.waitForExit(e2eTimeout()));
    QCOMPARE(sender.exitCode(), 0);
    QCOMPARE(dbtagFinished(ed, dbtag, recv, source), QString());
    readEvents();
    for (const QString &name : std::as_const(names)) {
        if (arrival == QLatin1String("link") && name.startsWith(QLatin1String("small")))
            QVERIFY2(!seen.contains(name), qPrintable(name + QStringLiteral(" was renamed")));
        else
            QVERIFY2(seen.contains(name), qPrintable(name + QStringLiteral(" arrived unannounced")));
    }
    QVERIFY(seen.contains(QStringLiteral("finished.isocket")));
    // No hidden name is left behind.
    QCOMPARE(receivedFiles(dir).filter(QRegularExpression(QStringLiteral("(^|/)\\."))),
             QStringList());
}

void TestE2eMatrix::longNamesArrive()
{
    // Names of 242 to 255 bytes are legal on Linux and in the protocol; the receiver's temporary
    // names once added a suffix to them and refused them, which failed for ever on the ED
    // (issue 13 item 9). Small files (written unnamed) and large ones (a named partial).
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    int seed = 1;
    for (int length : {242, 250, 255}) {
        const QString stem(length - 4, QLatin1Char('a' + char(seed)));
        QVERIFY(writeFile(path(path(ed, dbtag), stem + QStringLiteral(".dat")),
                          patternBytes(4000, quint32(seed))));
        QVERIFY(writeFile(path(path(ed, dbtag), stem.left(length - 5) + QStringLiteral("L.dat")),
                          patternBytes(3 * 1024 * 1024, quint32(seed + 10))));
        ++seed;
    }
    QVERIFY(makeDbtag(ed, dbtag, true, false, T0));
    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source, {QStringLiteral("--once")})));
    QVERIFY(sender.waitForExit(e2eTimeout()));
    QCOMPARE(sender.exitCode(), 0);
    QCOMPARE(dbtagFinished(ed, dbtag, recv, source), QString());
}

QTEST_GUILESS_MAIN(TestE2eMatrix)
#include "tst_e2e_matrix.moc"
