// The scanner and the sent mark: the seed's scan_p?w? and fsync_x? situations, newest versus
// older, hidden files, subdirectories, symbolic links, and a file rewritten after it was sent.

#include "core/fsname.h"
#include "core/scanner.h"
#include "core/sentmark.h"
#include "tests/testlib/testtree.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QScopeGuard>
#include <QTemporaryDir>
#include <QTest>

using namespace isocket;

Q_DECLARE_METATYPE(isocket::DbtagState)

class TestScanner : public QObject
{
    Q_OBJECT

private slots:
    void states_data();
    void states();
    void newestIgnoresFinishedWatch();
    void tiesBrokenByName();
    void sentBit_data();
    void sentBit();
    void outsideMark();
    void rootSpellings_data();
    void rootSpellings();
    void dataFiles();
    void doneDbtagsAreNotListed();
    void dbtagNameNotUtf8IsADbtag();
    void rewriteAfterMarkIsUnsent();
    void markRefusesChangedFile();
    void markVanishedFile();
    void markThroughReadFd();
    void clearMark();
    void missingRoot();
    void prefixAndMarkerNames();
};

static const DbtagInfo *findTag(const QList<DbtagInfo> &tags, const QString &name)
{
    for (const DbtagInfo &t : tags)
        if (t.name == name)
            return &t;
    return nullptr;
}

void TestScanner::states_data()
{
    QTest::addColumn<bool>("parse");
    QTest::addColumn<bool>("watch");
    QTest::addColumn<bool>("newest");
    QTest::addColumn<DbtagState>("expected");
    QTest::addColumn<bool>("listed");

    // The seed's scan tests, each for the newest dbtag and for an older one.
    QTest::newRow("scan_p0w0 newest") << false << false << true << DbtagState::Live << true;
    QTest::newRow("scan_p0w0 older") << false << false << false << DbtagState::Closed << true;
    QTest::newRow("scan_p0w1 newest") << false << true << true << DbtagState::Abnormal << false;
    QTest::newRow("scan_p0w1 older") << false << true << false << DbtagState::Abnormal << false;
    QTest::newRow("scan_p1w0 newest") << true << false << true << DbtagState::Closed << true;
    QTest::newRow("scan_p1w0 older") << true << false << false << DbtagState::Closed << true;
    QTest::newRow("scan_p1w1 newest") << true << true << true << DbtagState::Done << false;
    QTest::newRow("scan_p1w1 older") << true << true << false << DbtagState::Done << false;
}

void TestScanner::states()
{
    QFETCH(bool, parse);
    QFETCH(bool, watch);
    QFETCH(bool, newest);
    QFETCH(DbtagState, expected);
    QFETCH(bool, listed);

    QTemporaryDir root;
    QVERIFY(root.isValid());
    const QString tag = QStringLiteral("DC20151225000000");
    QVERIFY(test::writeFile(root.filePath(tag + QStringLiteral("/a.dat")), "aaa"));
    QVERIFY(test::makeDbtag(root.path(), tag, parse, watch, newest ? 2000000 : 1000000));
    // The other dbtag: a plain one without markers, older or newer than the one under test.
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC20151226000000"), false, false,
                            newest ? 1000000 : 2000000));

    Scanner scanner(ScanOptions{root.path()});
    const auto result = scanner.scan();
    QVERIFY(result.ok());
    QCOMPARE(result.value().size(), 2);
    const DbtagInfo *info = findTag(result.value(), tag);
    QVERIFY(info);
    QCOMPARE(info->state, expected);
    QCOMPARE(info->hasParse, parse);
    QCOMPARE(info->hasWatch, watch);
    QCOMPARE(info->listed, listed);
    if (listed) {
        QCOMPARE(info->files.size(), 1);
        QCOMPARE(info->files.first().relPath, QStringLiteral("a.dat"));
        QCOMPARE(info->unsentCount(), 1);
        QCOMPARE(info->unsentBytes(), 3);
    }
    // Oldest first.
    QVERIFY(result.value().first().mtimeNs <= result.value().last().mtimeNs);
}

void TestScanner::newestIgnoresFinishedWatch()
{
    // isocket just finished an older dbtag (finished.watch bumped its mtime past the live one):
    // the live one must stay live, or its later files would never be sent.
    QTemporaryDir root;
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC2"), false, false, 2000));
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/finished.watch")), QByteArray()));
    QVERIFY(test::setMtime(root.filePath(QStringLiteral("DC1")), 3000)); // now the newest by mtime

    Scanner scanner(ScanOptions{root.path()});
    const auto r = scanner.scan();
    QVERIFY(r.ok());
    QCOMPARE(findTag(r.value(), QStringLiteral("DC1"))->state, DbtagState::Done);
    QCOMPARE(findTag(r.value(), QStringLiteral("DC2"))->state, DbtagState::Live);
    QVERIFY(findTag(r.value(), QStringLiteral("DC2"))->newest);
    QVERIFY(!findTag(r.value(), QStringLiteral("DC1"))->newest);
}

void TestScanner::tiesBrokenByName()
{
    QTemporaryDir root;
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC_b"), false, false, 5000));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC_a"), false, false, 5000));
    Scanner scanner(ScanOptions{root.path()});
    const auto r = scanner.scan();
    QVERIFY(r.ok());
    QCOMPARE(r.value().at(0).name, QStringLiteral("DC_a"));
    QCOMPARE(r.value().at(1).name, QStringLiteral("DC_b"));
    QCOMPARE(r.value().at(1).state, DbtagState::Live);
    QCOMPARE(r.value().at(0).state, DbtagState::Closed);
}

void TestScanner::sentBit_data()
{
    QTest::addColumn<unsigned>("mode");
    QTest::addColumn<bool>("sent");
    QTest::newRow("fsync_x0 (0644)") << 0644u << false;
    QTest::newRow("fsync_x1 (0664)") << 0664u << true;
    QTest::newRow("fsync_x0 (0600)") << 0600u << false;
    QTest::newRow("fsync_x1 (0620)") << 0620u << true;
}

void TestScanner::sentBit()
{
    QFETCH(unsigned, mode);
    QFETCH(bool, sent);
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/f.dat")), "x", mode));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    Scanner scanner(ScanOptions{root.path()});
    const auto r = scanner.scan();
    QVERIFY(r.ok());
    QCOMPARE(r.value().first().files.size(), 1);
    QCOMPARE(r.value().first().files.first().sent, sent);
    QCOMPARE(r.value().first().unsentCount(), sent ? 0 : 1);
}

void TestScanner::outsideMark()
{
    // g+w without isocket's record: sent outside isocket. g+w with it: sent by isocket.
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/a.dat")), "a", 0664));
    QVERIFY(test::setMtime(root.filePath(QStringLiteral("DC1/a.dat")), 1000));
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/b.dat")), "b"));
    QVERIFY(test::setMtime(root.filePath(QStringLiteral("DC1/b.dat")), 2000));
    struct stat st;
    QVERIFY(::lstat(QFile::encodeName(root.filePath(QStringLiteral("DC1/b.dat"))).constData(),
                    &st) == 0);
    QVERIFY(SentMark::mark(root.filePath(QStringLiteral("DC1/b.dat")), stampOf(st)).ok());
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));
    const auto r = Scanner(ScanOptions{root.path()}).scan();
    QVERIFY(r.ok());
    const QList<DataFile> files = r.value().first().files;
    QCOMPARE(files.size(), 2);
    QCOMPARE(files[0].relPath, QStringLiteral("a.dat"));
    QVERIFY(files[0].sent && files[0].outside);
    QVERIFY(files[1].sent && !files[1].outside);
}

void TestScanner::rootSpellings_data()
{
    QTest::addColumn<QString>("spelling"); // <tmp> is the temporary directory
    QTest::newRow("plain") << "<tmp>/data";
    QTest::newRow("trailing slash") << "<tmp>/data/";
    QTest::newRow("double slash") << "<tmp>//data//";
    QTest::newRow("dot") << "<tmp>/./data/.";
    QTest::newRow("dot dot") << "<tmp>/data/../data";
    QTest::newRow("symlink") << "<tmp>/link";
    QTest::newRow("relative") << "data";
    QTest::newRow("relative, dot") << "./data/";
}

void TestScanner::rootSpellings()
{
    QFETCH(QString, spelling);
    QTemporaryDir tmp;
    const QString base = QFileInfo(tmp.path()).canonicalFilePath();
    const QString data = base + QStringLiteral("/data");
    QVERIFY(test::writeFile(data + QStringLiteral("/DC1/f.dat"), "x"));
    QVERIFY(QFile::link(data, base + QStringLiteral("/link")));
    const QString cwd = QDir::currentPath();
    QVERIFY(QDir::setCurrent(base));
    const Scanner scanner(ScanOptions{QString(spelling).replace(QLatin1String("<tmp>"), base)});
    QVERIFY(QDir::setCurrent(cwd));
    QCOMPARE(scanner.options().root, data);
    const auto r = scanner.scan();
    QVERIFY(r.ok());
    QCOMPARE(r.value().first().path, data + QStringLiteral("/DC1"));
    // A root that does not exist yet is still absolute and clean.
    QCOMPARE(resolveRoot(base + QStringLiteral("//none/./x/")), base + QStringLiteral("/none/x"));
}

void TestScanner::dataFiles()
{
    QTemporaryDir root;
    const QString tag = root.filePath(QStringLiteral("DC1"));
    QVERIFY(test::writeFile(tag + QStringLiteral("/top.dat"), "1"));
    QVERIFY(test::writeFile(tag + QStringLiteral("/sub/deeper/inner.dat"), "22"));
    QVERIFY(test::writeFile(tag + QStringLiteral("/.hidden.tmp"), "333"));
    QVERIFY(test::writeFile(tag + QStringLiteral("/.hiddendir/x.dat"), "4444"));
    QVERIFY(test::writeFile(tag + QStringLiteral("/sub/finished.parse"), "5")); // not a top-level marker
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("outside.dat")), "secret"));
    QVERIFY(QFile::link(root.filePath(QStringLiteral("outside.dat")), tag + QStringLiteral("/link.dat")));
    QVERIFY(QFile::link(QStringLiteral("sub"), tag + QStringLiteral("/linkdir")));
    QTemporaryDir elsewhere;
    QVERIFY(test::writeFile(elsewhere.filePath(QStringLiteral("x.dat")), "not ours"));
    QVERIFY(
        QFile::link(elsewhere.filePath(QStringLiteral("x.dat")), tag + QStringLiteral("/linkout")));
    QVERIFY(QFile::link(QStringLiteral("none"), tag + QStringLiteral("/dangling")));
    QCOMPARE(::mkfifo(QFile::encodeName(tag + QStringLiteral("/fifo")).constData(), 0644), 0);
    const QByteArray badName = QFile::encodeName(tag) + "/b\xff"
                                                        "d";
    const int badFd = ::open(badName.constData(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    QVERIFY(badFd >= 0);
    ::close(badFd);
    const auto removeBad = qScopeGuard([&badName] { ::unlink(badName.constData()); });
    // The receiver's own name, as a file and as a directory: skipped, never offered.
    QVERIFY(test::writeFile(tag + QStringLiteral("/finished.isocket"), "not a manifest"));
    QVERIFY(test::writeFile(tag + QStringLiteral("/sub/finished.isocket/x.dat"), "x"));
    QVERIFY(QDir().mkpath(root.filePath(QStringLiteral("notatag"))));
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DCfile")), "a file, not a dbtag"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, false, 1000));

    Scanner scanner(ScanOptions{root.path()});
    const auto r = scanner.scan();
    QVERIFY(r.ok());
    QCOMPARE(r.value().size(), 1); // "notatag" and the file "DCfile" are no dbtags
    QStringList paths;
    for (const DataFile &f : r.value().first().files)
        paths << f.relPath;
    paths.sort();
    // A link to a file inside the data root is a data file (the target's stamp, its path).
    // A name that is not UTF-8 is a data file like any other (names are bytes), its exact
    // bytes kept.
    const QString notUtf8 = fsDecode("b\xff"
                                     "d");
    QCOMPARE(paths, (QStringList{notUtf8, QStringLiteral("link.dat"),
                                 QStringLiteral("sub/deeper/inner.dat"),
                                 QStringLiteral("sub/finished.parse"), QStringLiteral("top.dat")}));
    QCOMPARE(fsEncode(notUtf8), QByteArray("b\xff"
                                           "d"));
    for (const DataFile &f : r.value().first().files) {
        QCOMPARE(f.linkTarget.isEmpty(), f.relPath != QStringLiteral("link.dat"));
        if (f.relPath == QStringLiteral("link.dat")) {
            QCOMPARE(f.linkTarget,
                     QFileInfo(root.filePath(QStringLiteral("outside.dat"))).canonicalFilePath());
            QCOMPARE(f.stamp.size, 6);
            QVERIFY(!f.sent);
        }
    }
    // Everything else is skipped, with its reason; nothing is left out silently.
    QStringList skipped;
    for (const SkippedEntry &s : r.value().first().skipped)
        skipped << s.path + QStringLiteral(": ") + s.reason;
    QCOMPARE(skipped.size(), 6);
    QVERIFY2(skipped.at(0).startsWith(QStringLiteral("dangling: symbolic link to none")),
             qPrintable(skipped.at(0)));
    QCOMPARE(skipped.at(1), QStringLiteral("fifo: a fifo, not a regular file"));
    QCOMPARE(skipped.at(2), QStringLiteral("finished.isocket: 'finished.isocket' is the name of "
                                           "the receiver's manifest; no data path may use it, "
                                           "at any depth"));
    QVERIFY2(
        skipped.at(3).startsWith(QStringLiteral("linkdir: symbolic link to ")) &&
            skipped.at(3).endsWith(QStringLiteral("a directory; only links to files are followed")),
        qPrintable(skipped.at(3)));
    QVERIFY2(skipped.at(4).startsWith(QStringLiteral("linkout: symbolic link to ") +
                                      QFileInfo(elsewhere.path()).canonicalFilePath()) &&
                 skipped.at(4).endsWith(QStringLiteral("outside the data root")),
             qPrintable(skipped.at(4)));
    QVERIFY2(skipped.at(5).startsWith(QStringLiteral("sub/finished.isocket: ")) &&
                 skipped.at(5).endsWith(QStringLiteral("; nothing in it is sent")),
             qPrintable(skipped.at(5)));
}

void TestScanner::dbtagNameNotUtf8IsADbtag()
{
    // Names are bytes (issue 14, item 3): a dbtag whose name is not UTF-8 is scanned, listed and
    // marked like any other, through its exact bytes.
    QTemporaryDir root;
    const QByteArray bad = QFile::encodeName(root.path()) + "/DC\xff";
    QCOMPARE(::mkdir(bad.constData(), 0755), 0);
    const QByteArray file = bad + "/caf\xe9\n.dat";
    const int fd = ::open(file.constData(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    QVERIFY(fd >= 0);
    QCOMPARE(::write(fd, "abc", 3), 3);
    ::close(fd);
    const QByteArray parse = bad + QByteArray("/finished.parse");
    QCOMPARE(::close(::open(parse.constData(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644)), 0);
    const auto removeBad = qScopeGuard([&] {
        ::unlink(file.constData());
        ::unlink(parse.constData());
        ::rmdir(bad.constData());
    });
    Scanner scanner(ScanOptions{root.path()});
    const auto r = scanner.scan();
    QVERIFY(r.ok());
    QCOMPARE(r.value().size(), 1);
    const DbtagInfo &tag = r.value().first();
    QCOMPARE(fsEncode(tag.name), QByteArray("DC\xff"));
    QCOMPARE(displayName(tag.name), QStringLiteral("DC\\xff"));
    QCOMPARE(tag.state, DbtagState::Closed);
    QCOMPARE(tag.files.size(), 1);
    QVERIFY(tag.skipped.isEmpty());
    const DataFile &f = tag.files.first();
    QCOMPARE(fsEncode(f.relPath), QByteArray("caf\xe9\n.dat"));
    QCOMPARE(f.stamp.size, 3);
    QVERIFY(!f.sent);
    // Marked through the same name: the file on disk gets g+w and isocket's record.
    QVERIFY(SentMark::mark(tag.path + QLatin1Char('/') + f.relPath, f.stamp).ok());
    struct stat st;
    QCOMPARE(::stat(file.constData(), &st), 0);
    QVERIFY(st.st_mode & S_IWGRP);
    const auto again = scanner.listFiles(tag.path);
    QVERIFY(again.ok());
    QCOMPARE(again.value().size(), 1);
    QVERIFY(again.value().first().sent);
    QVERIFY(!again.value().first().outside);
}

void TestScanner::doneDbtagsAreNotListed()
{
    QTemporaryDir root;
    QVERIFY(test::writeFile(root.filePath(QStringLiteral("DC1/a.dat")), "a"));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), true, true, 1000));
    // Make its contents unreadable to prove the scan does not need them.
    QVERIFY(QFile::setPermissions(root.filePath(QStringLiteral("DC1")), QFileDevice::ExeOwner));
    Scanner scanner(ScanOptions{root.path()});
    const auto r = scanner.scan();
    QVERIFY(QFile::setPermissions(root.filePath(QStringLiteral("DC1")),
                                  QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner));
    QVERIFY(r.ok());
    QCOMPARE(r.value().first().state, DbtagState::Done);
    QVERIFY(!r.value().first().listed);
}

void TestScanner::rewriteAfterMarkIsUnsent()
{
    QTemporaryDir root;
    const QString file = root.filePath(QStringLiteral("DC1/a.dat"));
    QVERIFY(test::writeFile(file, "first"));
    QVERIFY(test::setMtime(file, 1000));
    Scanner scanner(ScanOptions{root.path()});
    auto files = scanner.listFiles(root.filePath(QStringLiteral("DC1")));
    QVERIFY(files.ok());
    QVERIFY(!files.value().first().sent);
    QVERIFY(SentMark::mark(file, files.value().first().stamp).ok());
    QVERIFY(test::hasGroupWrite(file));
    QVERIFY(SentMark::isSent(file));

    // The producer writes it again (its mode keeps g+w): it must count as unsent.
    QFile f(file);
    QVERIFY(f.open(QIODevice::WriteOnly | QIODevice::Truncate));
    f.write("second version");
    f.close();
    QVERIFY(test::setMtime(file, 2000));
    QVERIFY(test::hasGroupWrite(file));
    QVERIFY(!SentMark::isSent(file));
    files = scanner.listFiles(root.filePath(QStringLiteral("DC1")));
    QVERIFY(files.ok());
    QVERIFY(!files.value().first().sent);
}

void TestScanner::markRefusesChangedFile()
{
    QTemporaryDir root;
    const QString file = root.filePath(QStringLiteral("a.dat"));
    QVERIFY(test::writeFile(file, "abc"));
    Scanner scanner(ScanOptions{root.path()});
    auto files = scanner.listFiles(root.path());
    QVERIFY(files.ok());
    const FileStamp read = files.value().first().stamp;
    QVERIFY(test::writeFile(file, "abcdef")); // grew after it was read
    const auto r = SentMark::mark(file, read);
    QVERIFY(!r.ok());
    QCOMPARE(r.error().code, ErrorCode::FileChanged);
    QVERIFY(!test::hasGroupWrite(file));
}

void TestScanner::markVanishedFile()
{
    QTemporaryDir root;
    const auto r = SentMark::mark(root.filePath(QStringLiteral("gone.dat")), FileStamp{1, 1});
    QVERIFY(!r.ok());
    QCOMPARE(r.error().code, ErrorCode::FileVanished);
}

void TestScanner::markThroughReadFd()
{
    // The sender marks the file it read through the descriptor it read it with. Should the
    // producer have replaced the path meanwhile (a new file renamed over it), the mark goes to
    // the file that was sent, and the new one stays unsent: it is sent in its turn.
    QTemporaryDir root;
    const QString file = root.filePath(QStringLiteral("a.dat"));
    QVERIFY(test::writeFile(file, "sent version"));
    UniqueFd fd(::open(QFile::encodeName(file).constData(), O_RDONLY | O_CLOEXEC));
    QVERIFY(fd.valid());
    struct stat st;
    QVERIFY(::fstat(fd.get(), &st) == 0);
    const FileStamp read = stampOf(st);

    const QString replacement = root.filePath(QStringLiteral("new.tmp"));
    QVERIFY(test::writeFile(replacement, "a newer version"));
    QVERIFY(::rename(QFile::encodeName(replacement).constData(),
                     QFile::encodeName(file).constData()) == 0);
    QVERIFY(SentMark::mark(file, read, fd.get()).ok());
    QVERIFY(!test::hasGroupWrite(file)); // the new file at the path: unsent
    QVERIFY(!SentMark::isSent(file));
    QVERIFY(::fstat(fd.get(), &st) == 0); // the file that was sent: marked
    QVERIFY(st.st_mode & S_IWGRP);

    // Through the descriptor, a file changed since it was read is refused like by path.
    const QString other = root.filePath(QStringLiteral("b.dat"));
    QVERIFY(test::writeFile(other, "abc"));
    UniqueFd otherFd(::open(QFile::encodeName(other).constData(), O_RDONLY | O_CLOEXEC));
    QVERIFY(::fstat(otherFd.get(), &st) == 0);
    const FileStamp otherRead = stampOf(st);
    QVERIFY(test::writeFile(other, "abcdef"));
    const auto r = SentMark::mark(other, otherRead, otherFd.get());
    QVERIFY(!r.ok());
    QCOMPARE(r.error().code, ErrorCode::FileChanged);
    QVERIFY(!test::hasGroupWrite(other));
}

void TestScanner::clearMark()
{
    QTemporaryDir root;
    const QString file = root.filePath(QStringLiteral("a.dat"));
    QVERIFY(test::writeFile(file, "abc", 0664));
    QVERIFY(SentMark::isSent(file));
    QVERIFY(SentMark::clear(file).ok());
    QVERIFY(!test::hasGroupWrite(file));
    QVERIFY(!SentMark::isSent(file));
}

void TestScanner::missingRoot()
{
    Scanner scanner(ScanOptions{QStringLiteral("/nonexistent/isocket-test-root")});
    const auto r = scanner.scan();
    QVERIFY(!r.ok());
    QVERIFY(r.error().message.contains(QStringLiteral("/nonexistent/isocket-test-root")));
}

void TestScanner::prefixAndMarkerNames()
{
    QTemporaryDir root;
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("XY1"), true, true, 1000,
                            QStringLiteral("p.done"), QStringLiteral("w.done")));
    QVERIFY(test::makeDbtag(root.path(), QStringLiteral("DC1"), false, false, 2000));
    Scanner scanner(ScanOptions{root.path(), QStringLiteral("XY"), QStringLiteral("p.done"),
                                QStringLiteral("w.done")});
    const auto r = scanner.scan();
    QVERIFY(r.ok());
    QCOMPARE(r.value().size(), 1);
    QCOMPARE(r.value().first().name, QStringLiteral("XY1"));
    QCOMPARE(r.value().first().state, DbtagState::Done);
}

QTEST_GUILESS_MAIN(TestScanner)
#include "tst_scanner.moc"
