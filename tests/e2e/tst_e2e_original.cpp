// End to end, the original isocket's own eight tests (../shared/seed/original/test/*.sh) ported
// one to one. Each test builds what the script's setup builds (gen_files and gen_dbtag of
// test/utils.sh: the same names, sizes, modes, markers and `touch -t 15122500..` mtimes, the ED
// in ED1/dir), runs the real isocket where the script runs scan.sh, fsync.sh or the daemons,
// checks the script's verify condition as written (chk_files, or watch.log against
// gen_answer), and then a strict check the original lacks: every file byte-identical on the
// receiver and marked on the ED, finished.watch on the ED and the manifest on the receiver.
//
// Mapping: the original's DRMS wrote `dir/<dbtag>/<file>` below its working directory; isocket
// writes `<receive root>/<source>/<dbtag>/<file>`, so the original's DRMS/dir/<dbtag> is
// DRMS/<source>/<dbtag> here, the source named after the ED (ED1, ED2). The ED's data root is
// `dir`, relative, as in the original's scan.conf and fsync.conf (dir="dir"): isocket runs with
// ED1 as its working directory. The original's watch.log (the files scan.sh queued) is what
// `isocket scan --json` lists as unsent, dbtag by dbtag, oldest first.
//
// Also here: a dbtag that mixes files sent outside isocket with unsent ones, and the data
// root's spellings (relative, trailing `/`, `//`, `/./`, a symbolic link).

#include "tests/testlib/processes.h"
#include "tests/testlib/testtree.h"

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QRandomGenerator>
#include <QTemporaryDir>
#include <QTest>

#include <algorithm>

#include <sys/stat.h>
#include <sys/xattr.h>

using namespace isocket;
using namespace isocket::test;

namespace {

const QString Parse = QStringLiteral("finished.parse");
const QString Watch = QStringLiteral("finished.watch");
const QString Manifest = QStringLiteral("finished.isocket");

// `touch -t 15122500MM.00`: 2015-12-25 00:MM:00 local time.
qint64 touchTime(int minute)
{
    return QDateTime(QDate(2015, 12, 25), QTime(0, minute)).toSecsSinceEpoch();
}

// `touch -t <time> path`: creates an empty file if there is none, then sets its times.
bool touchT(const QString &path, int minute)
{
    if (!QFileInfo::exists(path) && !writeFile(path, QByteArray()))
        return false;
    return setMtime(path, touchTime(minute));
}

// test/utils.sh gen_files: a closed dbtag of three 1 KiB random files (file0..file2, mtimes
// 00:00..00:02), g+w when `synced`, and finished.parse (00:03).
bool genFiles(const QString &dir, bool synced)
{
    if (!QDir().mkdir(dir)) // mkdir, not mkdir -p: the parent must be there
        return false;
    for (int i = 0; i < 3; ++i) {
        const QString file = path(dir, QStringLiteral("file%1").arg(i));
        QByteArray bytes(1024, Qt::Uninitialized);
        QRandomGenerator::global()->fillRange(reinterpret_cast<quint32 *>(bytes.data()),
                                              bytes.size() / 4);
        if (!writeFile(file, bytes, 0644) || !setMtime(file, touchTime(i)))
            return false;
        if (synced && ::chmod(QFile::encodeName(file).constData(), 0664) != 0)
            return false;
    }
    return touchT(path(dir, Parse), 3);
}

// test/utils.sh gen_dbtag: three empty files (mtimes 00:00..00:02) and the requested markers
// (00:03).
bool genDbtag(const QString &dir, bool parseMark, bool watchMark)
{
    if (!QDir().mkdir(dir))
        return false;
    for (int i = 0; i < 3; ++i)
        if (!touchT(path(dir, QStringLiteral("file%1").arg(i)), i))
            return false;
    if (parseMark && !touchT(path(dir, Parse), 3))
        return false;
    return !watchMark || touchT(path(dir, Watch), 3);
}

// test/utils.sh gen_answer: the lines scan.sh must have queued for `dir`.
void genAnswer(QStringList &answer, const QString &dir)
{
    for (int i = 0; i < 3; ++i)
        answer.append(QStringLiteral("%1/file%2").arg(dir).arg(i));
}

// test/utils.sh chk_files, translated as it is: with exist 0 the receiver must not have the
// directory; otherwise every receiver file whose name contains "file" must equal the ED's (which
// passes, as in the original, when the receiver has no such file at all: see strict checks).
QString chkFiles(const QString &src, const QString &dst, bool exist)
{
    if (!exist)
        return QFileInfo(dst).isDir() ? QStringLiteral("%1 exists").arg(dst) : QString();
    const QStringList names =
        QDir(dst).entryList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::System, QDir::Name);
    for (const QString &name : names) {
        if (!name.contains(QLatin1String("file")))
            continue;
        QFile a(path(src, name));
        QFile b(path(dst, name));
        if (!a.open(QIODevice::ReadOnly) || !b.open(QIODevice::ReadOnly) ||
            a.readAll() != b.readAll())
            return QStringLiteral("%1 differs from %2").arg(path(dst, name), path(src, name));
    }
    return QString();
}

// `isocket scan --root <root> --json`, run in `cwd`; an empty object on failure (printed).
QJsonObject scanJson(const QString &root, const QString &cwd)
{
    Process scan(QStringLiteral("scan"));
    scan.setWorkingDirectory(cwd);
    if (!scan.startIsocket(
            {QStringLiteral("scan"), QStringLiteral("--root"), root, QStringLiteral("--json")}))
        return {};
    if (!scan.waitForExit(e2eTimeout(10000)) || scan.exitCode() != 0) {
        scan.dump();
        return {};
    }
    return QJsonDocument::fromJson(scan.out().toUtf8()).object();
}

// The original's watch.log after ./scan.sh: `dir/<dbtag>/<file>` of every file queued, dbtag by
// dbtag, oldest first: what `isocket scan --json` lists as unsent.
QStringList watchLog(const QString &ed1)
{
    QStringList log;
    const QJsonObject doc = scanJson(QStringLiteral("dir"), ed1);
    for (const QJsonValue &tag : doc.value(QStringLiteral("dbtags")).toArray()) {
        const QString name = tag.toObject().value(QStringLiteral("name")).toString();
        for (const QJsonValue &f : tag.toObject().value(QStringLiteral("unsent_files")).toArray())
            log.append(QStringLiteral("dir/%1/%2").arg(name, f.toString()));
    }
    return log;
}

// The data files on the receiver under DRMS/<source>, as `dir/<dbtag>/<file>`, sorted.
QStringList received(const QString &drms, const QString &source)
{
    QStringList out;
    for (const QString &rel : receivedFiles(path(drms, source)))
        if (QFileInfo(rel).fileName() != Manifest)
            out.append(QStringLiteral("dir/") + rel);
    out.sort();
    return out;
}

// ./scan.sh + ./fsync.sh: one pass of `isocket send --once` from ED1 with the data root `dir`.
QString sendOnce(const QString &ed1, quint16 port, const QString &source)
{
    Process sender(QStringLiteral("send --once"));
    sender.setWorkingDirectory(ed1);
    if (!sender.startIsocket(
            senderArgs(QStringLiteral("dir"), port, source, {QStringLiteral("--once")})))
        return QStringLiteral("send did not start");
    if (!sender.waitForExit(e2eTimeout(60000)))
        return QStringLiteral("send --once did not end");
    if (sender.exitCode() != 0) {
        sender.dump();
        return QStringLiteral("send --once exited %1").arg(sender.exitCode());
    }
    return QString();
}

// Empty when no file of `dbtagDir` is g+w with isocket's record and its markers are `parse`,
// `watch`: isocket neither sent, marked, finished nor reopened it.
QString untouched(const QString &dbtagDir, bool parse, bool watch)
{
    if (QFileInfo::exists(path(dbtagDir, Parse)) != parse ||
        QFileInfo::exists(path(dbtagDir, Watch)) != watch)
        return QStringLiteral("markers of %1 changed").arg(dbtagDir);
    for (const QString &f : dataFiles(dbtagDir))
        if (QFile(path(dbtagDir, f)).size() != 0 || hasGroupWrite(path(dbtagDir, f)))
            return QStringLiteral("%1/%2 changed or was marked").arg(dbtagDir, f);
    return QString();
}

// Whether the file is g+w and carries no record of isocket (the mark someone else set).
bool markedOutside(const QString &file)
{
    char buf[64];
    return hasGroupWrite(file) && ::getxattr(QFile::encodeName(file).constData(),
                                             "user.isocket.sent", buf, sizeof buf) < 0;
}

} // namespace

class TestE2eOriginal : public QObject
{
    Q_OBJECT

private slots:
    void scan_data();
    void scan();
    void fsync_x0();
    void fsync_x1();
    void mixedOutside();
    void edx1();
    void edx2();
    void rootSpellings_data();
    void rootSpellings();
};

void TestE2eOriginal::scan_data()
{
    // scan_pXwY.sh: gen_dbtag dir/DC1 X Y; gen_dbtag dir/DC2 1 0; ./scan.sh; watch.log must be
    // gen_answer of the dbtags listed here.
    QTest::addColumn<bool>("parse");
    QTest::addColumn<bool>("watch");
    QTest::addColumn<bool>("dc1Sent");

    QTest::newRow("scan_p0w0") << false << false << true;
    QTest::newRow("scan_p0w1") << false << true << false;
    QTest::newRow("scan_p1w0") << true << false << true;
    QTest::newRow("scan_p1w1") << true << true << false;
}

void TestE2eOriginal::scan()
{
    QFETCH(bool, parse);
    QFETCH(bool, watch);
    QFETCH(bool, dc1Sent);

    // setup: mkdir -p ED1/dir; cd ED1; gen_dbtag "dir/DC1" X Y; gen_dbtag "dir/DC2" 1 0
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString ed1 = path(tmp.path(), QStringLiteral("ED1"));
    const QString drms = path(tmp.path(), QStringLiteral("DRMS"));
    const QString dir = path(ed1, QStringLiteral("dir"));
    const QString source = QStringLiteral("ED1");
    QVERIFY(QDir().mkpath(dir));
    QVERIFY(genDbtag(path(dir, QStringLiteral("DC1")), parse, watch));
    QVERIFY(genDbtag(path(dir, QStringLiteral("DC2")), true, false));

    // execute: ./scan.sh. verify: diff watch.log watch.ans
    QStringList answer;
    if (dc1Sent)
        genAnswer(answer, QStringLiteral("dir/DC1"));
    genAnswer(answer, QStringLiteral("dir/DC2"));
    QCOMPARE(watchLog(ed1), answer);
    // What isocket makes of DC1 (scan and send agree on it: the same Scanner decides).
    QString dc1State;
    for (const QJsonValue &v :
         scanJson(QStringLiteral("dir"), ed1).value(QStringLiteral("dbtags")).toArray())
        if (v.toObject().value(QStringLiteral("name")).toString() == QLatin1String("DC1"))
            dc1State = v.toObject().value(QStringLiteral("state")).toString();

    // Strict: what was queued is what is sent, byte for byte, and nothing else.
    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, drms);
    QVERIFY(port != 0);
    MarkGuard guard(dir, drms, source);
    QCOMPARE(sendOnce(ed1, port, source), QString());
    QStringList sorted = answer;
    sorted.sort();
    QCOMPARE(received(drms, source), sorted);
    QCOMPARE(dbtagFinished(dir, QStringLiteral("DC2"), drms, source), QString());
    if (!dc1Sent) {
        QCOMPARE(untouched(path(dir, QStringLiteral("DC1")), parse, watch), QString());
        QVERIFY(!QFileInfo::exists(path(drms, path(source, QStringLiteral("DC1")))));
    } else if (dc1State == QLatin1String("closed")) {
        // scan_p1w0, and scan_p0w0 as the original saw it: DC1 is not the newest (`ls -tr`),
        // so the producer died with it: sent, then finished.watch.
        QCOMPARE(dbtagFinished(dir, QStringLiteral("DC1"), drms, source), QString());
    } else {
        // scan_p0w0 where "newest" counts only the dbtags without either marker (DESIGN.md:
        // DC2 has finished.parse): DC1 is live, so it is sent but not finished until the
        // producer writes finished.parse.
        QCOMPARE(dc1State, QStringLiteral("live"));
        QVERIFY(!parse);
        QCOMPARE(dbtagDelivered(dir, QStringLiteral("DC1"), drms, source), QString());
        QVERIFY(!QFileInfo::exists(path(dir, QStringLiteral("DC1/") + Watch)));
        QVERIFY(touchT(path(dir, QStringLiteral("DC1/") + Parse), 3));
        QCOMPARE(sendOnce(ed1, port, source), QString());
        QCOMPARE(dbtagFinished(dir, QStringLiteral("DC1"), drms, source), QString());
    }
    QCOMPARE(watchLog(ed1), QStringList());
    QCOMPARE(guard.violation(), QString());
}

void TestE2eOriginal::fsync_x0()
{
    // setup: gen_files ED1/dir/DC1 0; gen_files ED1/dir/DC2 0
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString ed1 = path(tmp.path(), QStringLiteral("ED1"));
    const QString drms = path(tmp.path(), QStringLiteral("DRMS"));
    const QString dir = path(ed1, QStringLiteral("dir"));
    const QString source = QStringLiteral("ED1");
    QVERIFY(QDir().mkpath(dir));
    QVERIFY(QDir().mkpath(path(drms, source)));
    QVERIFY(genFiles(path(dir, QStringLiteral("DC1")), false));
    QVERIFY(genFiles(path(dir, QStringLiteral("DC2")), false));

    // execute: start the DRMS daemon; cd ED1; ./scan.sh; ./fsync.sh
    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, drms);
    QVERIFY(port != 0);
    MarkGuard guard(dir, drms, source);
    QCOMPARE(sendOnce(ed1, port, source), QString());

    // verify: chk_files DC1 1; chk_files DC2 1
    for (const QString &dbtag : {QStringLiteral("DC1"), QStringLiteral("DC2")})
        QCOMPARE(chkFiles(path(dir, dbtag), path(drms, path(source, dbtag)), true), QString());
    // Strict: every file there, identical, marked; finished.watch; the manifest.
    for (const QString &dbtag : {QStringLiteral("DC1"), QStringLiteral("DC2")})
        QCOMPARE(dbtagFinished(dir, dbtag, drms, source), QString());
    QCOMPARE(guard.violation(), QString());
}

void TestE2eOriginal::fsync_x1()
{
    // setup: gen_files ED1/dir/DC1 1 (g+w: sent by the original already); gen_files DC2 0
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString ed1 = path(tmp.path(), QStringLiteral("ED1"));
    const QString drms = path(tmp.path(), QStringLiteral("DRMS"));
    const QString dir = path(ed1, QStringLiteral("dir"));
    const QString source = QStringLiteral("ED1");
    QVERIFY(QDir().mkpath(dir));
    QVERIFY(QDir().mkpath(path(drms, source)));
    QVERIFY(genFiles(path(dir, QStringLiteral("DC1")), true));
    QVERIFY(genFiles(path(dir, QStringLiteral("DC2")), false));

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, drms);
    QVERIFY(port != 0);
    MarkGuard guard(dir, drms, source);
    QCOMPARE(sendOnce(ed1, port, source), QString());

    // verify: chk_files DC1 0 (DRMS must not even have DC1); chk_files DC2 1
    QCOMPARE(chkFiles(path(dir, QStringLiteral("DC1")),
                      path(drms, path(source, QStringLiteral("DC1"))), false),
             QString());
    QCOMPARE(chkFiles(path(dir, QStringLiteral("DC2")),
                      path(drms, path(source, QStringLiteral("DC2"))), true),
             QString());
    // Strict: DC2 whole; DC1 finished on the ED without the receiver, its marks left as they
    // were (g+w, no record of isocket: nobody re-marked or unmarked them).
    QCOMPARE(dbtagFinished(dir, QStringLiteral("DC2"), drms, source), QString());
    QVERIFY(QFileInfo::exists(path(dir, QStringLiteral("DC1/") + Watch)));
    for (int i = 0; i < 3; ++i)
        QVERIFY(markedOutside(path(dir, QStringLiteral("DC1/file%1").arg(i))));
    QCOMPARE(watchLog(ed1), QStringList());
    QCOMPARE(guard.violation(), QString());
}

void TestE2eOriginal::mixedOutside()
{
    // Not an original test: a dbtag the original sent in part (file0 g+w) before isocket took
    // over. The rest is sent; file0 is not; the manifest names file0 as sent outside isocket.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString ed1 = path(tmp.path(), QStringLiteral("ED1"));
    const QString drms = path(tmp.path(), QStringLiteral("DRMS"));
    const QString dir = path(ed1, QStringLiteral("dir"));
    const QString dc1 = path(dir, QStringLiteral("DC1"));
    const QString source = QStringLiteral("ED1");
    QVERIFY(QDir().mkpath(dir));
    QVERIFY(genFiles(dc1, false));
    QVERIFY(::chmod(QFile::encodeName(path(dc1, QStringLiteral("file0"))).constData(), 0664) == 0);

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, drms);
    QVERIFY(port != 0);
    QCOMPARE(sendOnce(ed1, port, source), QString());

    const QString got = path(drms, path(source, QStringLiteral("DC1")));
    QCOMPARE(receivedFiles(got),
             QStringList({QStringLiteral("file1"), QStringLiteral("file2"), Manifest}));
    QCOMPARE(chkFiles(dc1, got, true), QString());
    QVERIFY(QFileInfo::exists(path(dc1, Watch)));
    QVERIFY(markedOutside(path(dc1, QStringLiteral("file0"))));
    for (const QString &f : {QStringLiteral("file1"), QStringLiteral("file2")})
        QCOMPARE(fileDelivered(dir, QStringLiteral("DC1"), f, drms, source), QString());
    QFile manifest(path(got, Manifest));
    QVERIFY(manifest.open(QIODevice::ReadOnly));
    const QStringList lines =
        QString::fromUtf8(manifest.readAll()).split(u'\n', Qt::SkipEmptyParts);
    QCOMPARE(lines.size(), 4);
    QVERIFY2(lines.first().startsWith(QStringLiteral(
                 "# isocket manifest v1 source=ED1 dbtag=DC1 files=3 bytes=3072 outside=1")),
             qPrintable(lines.first()));
    QVERIFY2(lines.contains(QStringLiteral("outside  1024  file0")), qPrintable(lines.join(u'\n')));
    for (const QString &f : {QStringLiteral("file1"), QStringLiteral("file2")}) {
        const auto line = std::find_if(lines.cbegin(), lines.cend(),
                                       [&](const QString &l) { return l.endsWith(u"  " + f); });
        QVERIFY(line != lines.cend());
        QCOMPARE(line->size(), 32 + 2 + 4 + 2 + f.size()); // the hash of what it stored
    }
}

void TestE2eOriginal::edx1()
{
    // setup: mkdir -p ED1/dir DRMS/dir
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString ed1 = path(tmp.path(), QStringLiteral("ED1"));
    const QString drms = path(tmp.path(), QStringLiteral("DRMS"));
    const QString dir = path(ed1, QStringLiteral("dir"));
    const QString source = QStringLiteral("ED1");
    const QStringList dbtags{QStringLiteral("DC1"), QStringLiteral("DC2"), QStringLiteral("DC3")};
    QVERIFY(QDir().mkpath(dir));
    QVERIFY(QDir().mkpath(path(drms, source)));

    // execute: start the DRMS daemon and ED1's daemons, then gen_files DC1, DC2, DC3 (0)
    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, drms);
    QVERIFY(port != 0);
    MarkGuard guard(dir, drms, source);
    Process sender(QStringLiteral("sender ED1"));
    sender.setWorkingDirectory(ed1);
    QVERIFY(sender.startIsocket(senderArgs(QStringLiteral("dir"), port, source)));
    QVERIFY(sender.waitForError(QStringLiteral("sending"), e2eTimeout(10000)));
    for (const QString &dbtag : dbtags)
        QVERIFY(genFiles(path(dir, dbtag), false));
    // Instead of `sleep 4`: the strict condition, every dbtag complete on both sides.
    for (const QString &dbtag : dbtags)
        QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(dir, dbtag, drms, source), QString(), e2eTimeout());

    // verify: chk_files DCn 1
    for (const QString &dbtag : dbtags)
        QCOMPARE(chkFiles(path(dir, dbtag), path(drms, path(source, dbtag)), true), QString());
    QCOMPARE(received(drms, source).size(), 9);
    QCOMPARE(guard.violation(), QString());
    QVERIFY(sender.isRunning());
}

void TestE2eOriginal::edx2()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString drms = path(tmp.path(), QStringLiteral("DRMS"));
    const QStringList sources{QStringLiteral("ED1"), QStringLiteral("ED2")};
    auto dirOf = [&](int e) { return path(path(tmp.path(), sources[e]), QStringLiteral("dir")); };
    for (int e = 0; e < 2; ++e) {
        QVERIFY(QDir().mkpath(dirOf(e)));
        QVERIFY(QDir().mkpath(path(drms, sources[e])));
    }

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, drms);
    QVERIFY(port != 0);
    MarkGuard guard1(dirOf(0), drms, sources[0]);
    MarkGuard guard2(dirOf(1), drms, sources[1]);
    Process sender1(QStringLiteral("sender ED1"));
    Process sender2(QStringLiteral("sender ED2"));
    sender1.setWorkingDirectory(path(tmp.path(), sources[0]));
    sender2.setWorkingDirectory(path(tmp.path(), sources[1]));
    QVERIFY(sender1.startIsocket(senderArgs(QStringLiteral("dir"), port, sources[0])));
    QVERIFY(sender2.startIsocket(senderArgs(QStringLiteral("dir"), port, sources[1])));
    QVERIFY(sender1.waitForError(QStringLiteral("sending"), e2eTimeout(10000)));
    QVERIFY(sender2.waitForError(QStringLiteral("sending"), e2eTimeout(10000)));

    // gen_files ED1/dir/DC1, ED2/dir/DC4, ED1/dir/DC2, ED2/dir/DC5, ED1/dir/DC3, ED2/dir/DC6
    const QList<std::pair<int, QString>> order{
        {0, QStringLiteral("DC1")}, {1, QStringLiteral("DC4")}, {0, QStringLiteral("DC2")},
        {1, QStringLiteral("DC5")}, {0, QStringLiteral("DC3")}, {1, QStringLiteral("DC6")}};
    for (const auto &[e, dbtag] : order)
        QVERIFY(genFiles(path(dirOf(e), dbtag), false));
    for (const auto &[e, dbtag] : order)
        QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(dirOf(e), dbtag, drms, sources[e]), QString(),
                                  e2eTimeout());

    // verify: chk_files of every dbtag of both EDs, 1
    for (const auto &[e, dbtag] : order)
        QCOMPARE(chkFiles(path(dirOf(e), dbtag), path(drms, path(sources[e], dbtag)), true),
                 QString());
    // Nothing mixed up: each ED's dbtags, and only those, under its source.
    QCOMPARE(QDir(path(drms, sources[0])).entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name),
             QStringList({QStringLiteral("DC1"), QStringLiteral("DC2"), QStringLiteral("DC3")}));
    QCOMPARE(QDir(path(drms, sources[1])).entryList(QDir::Dirs | QDir::NoDotAndDotDot, QDir::Name),
             QStringList({QStringLiteral("DC4"), QStringLiteral("DC5"), QStringLiteral("DC6")}));
    QCOMPARE(guard1.violation(), QString());
    QCOMPARE(guard2.violation(), QString());
}

void TestE2eOriginal::rootSpellings_data()
{
    // The data root is tmp/data; each row names it another way, `cwd` relative to tmp.
    QTest::addColumn<QString>("spelling");
    QTest::addColumn<QString>("cwd");

    QTest::newRow("plain") << "<tmp>/data"
                           << "";
    QTest::newRow("trailing slash") << "<tmp>/data/"
                                    << "";
    QTest::newRow("relative") << "data"
                              << "";
    QTest::newRow("relative, trailing slash") << "data/"
                                              << "";
    QTest::newRow("relative, dot dot") << "../data"
                                       << "sub";
    QTest::newRow("double slash") << "<tmp>//data"
                                  << "";
    QTest::newRow("dot") << "<tmp>/./data"
                         << "";
    QTest::newRow("symlink") << "<tmp>/link"
                             << "";
    QTest::newRow("symlink, trailing slash") << "<tmp>/link/"
                                             << "";
}

void TestE2eOriginal::rootSpellings()
{
    QFETCH(QString, spelling);
    QFETCH(QString, cwd);

    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString base = QFileInfo(tmp.path()).canonicalFilePath();
    const QString data = path(base, QStringLiteral("data"));
    const QString recv = path(base, QStringLiteral("recv"));
    const QString source = QStringLiteral("ed1");
    const QString closed = QStringLiteral("DC20200101000000");
    const QString live = QStringLiteral("DC20200102000000");
    const QString root = QString(spelling).replace(QLatin1String("<tmp>"), base);
    const QString workDir = cwd.isEmpty() ? base : path(base, cwd);
    QVERIFY(QDir().mkpath(workDir));
    QVERIFY(QFile::link(data, path(base, QStringLiteral("link"))));

    QVERIFY(writeFile(path(path(data, closed), QStringLiteral("c.dat")), patternBytes(3000, 1)));
    QVERIFY(makeDbtag(data, closed, true, false, 1'600'000'000));
    QVERIFY(writeFile(path(path(data, live), QStringLiteral("before.dat")), patternBytes(4000, 2)));
    QVERIFY(makeDbtag(data, live, false, false, 1'600'000'100));

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    Process sender(QStringLiteral("sender"));
    sender.setWorkingDirectory(workDir);
    QVERIFY(sender.startIsocket(senderArgs(root, port, source)));
    QVERIFY(
        sender.waitForError(QStringLiteral("watching live dbtag %1").arg(live), e2eTimeout(10000)));
    QTRY_COMPARE_WITH_TIMEOUT(fileDelivered(data, live, QStringLiteral("before.dat"), recv, source),
                              QString(), e2eTimeout());
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(data, closed, recv, source), QString(), e2eTimeout());

    // `scan` agrees with the daemon on which dbtag is live.
    const QJsonObject doc = scanJson(root, workDir);
    QStringList liveInScan;
    for (const QJsonValue &v : doc.value(QStringLiteral("dbtags")).toArray())
        if (v.toObject().value(QStringLiteral("state")).toString() == QLatin1String("live"))
            liveInScan.append(v.toObject().value(QStringLiteral("name")).toString());
    QCOMPARE(liveInScan, QStringList{live});

    // A file closed in the live dbtag after the start arrives; then finished.parse finishes it.
    QVERIFY(writeFile(path(path(data, live), QStringLiteral("late.dat")), patternBytes(5000, 3)));
    QTRY_COMPARE_WITH_TIMEOUT(fileDelivered(data, live, QStringLiteral("late.dat"), recv, source),
                              QString(), e2eTimeout());
    QVERIFY(writeFile(path(path(data, live), Parse), QByteArray()));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(data, live, recv, source), QString(), e2eTimeout());
    QVERIFY(sender.isRunning());
    // Both name the root as it was resolved.
    QCOMPARE(doc.value(QStringLiteral("root")).toString(), data);
    QVERIFY(sender.err().contains(QStringLiteral("sending %1 to").arg(data)));
}

QTEST_GUILESS_MAIN(TestE2eOriginal)
#include "tst_e2e_original.moc"
