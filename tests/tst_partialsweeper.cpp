// sweepStalePartials(): on a receiver's tree, exactly the partials older than the cutoff go, and
// only while their file is claimed; stored files, fresh partials, partials in use, anything
// outside a dbtag, in a hidden directory or behind a symbolic link stay.

#include "core/committer.h"
#include "core/partialsweeper.h"
#include "core/receivestore.h"
#include "tests/testlib/testtree.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <QDateTime>
#include <QDir>
#include <QFile>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

#include <sys/xattr.h>

using namespace isocket;

namespace {

constexpr qint64 Day = 86400;

// Writes `bytes` bytes at `path` (directories made), last modified `ageSecs` ago.
bool makeFile(const QString &path, int bytes, qint64 ageSecs)
{
    if (!QDir().mkpath(QFileInfo(path).path()) || !test::writeFile(path, QByteArray(bytes, 'p')))
        return false;
    const qint64 t = QDateTime::currentSecsSinceEpoch() - ageSecs;
    const struct timespec times[2] = {{t, 0}, {t, 0}};
    return ::utimensat(AT_FDCWD, QFile::encodeName(path).constData(), times, 0) == 0;
}

QString part(const QString &name)
{
    return QLatin1Char('.') + name + QLatin1String(ReceiveStore::PartSuffix);
}

} // namespace

class TestPartialSweeper : public QObject
{
    Q_OBJECT

private slots:
    void removesOnlyStalePartials();
    void keepsWhatIsClaimed();
    void stops();
    void removesLeftoverLinks();
    void longNamedPartials();
};

void TestPartialSweeper::removesOnlyStalePartials()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString root = tmp.filePath(QStringLiteral("root"));
    const QString dc = root + QStringLiteral("/ed1/DC1/");
    const QStringList gone = {
        dc + part(QStringLiteral("old.dat")),
        dc + QStringLiteral("sub/dir/") + part(QStringLiteral("deep.dat")),
        root + QStringLiteral("/ed2/DC9/") + part(QStringLiteral("x")),
    };
    const QStringList kept = {
        dc + part(QStringLiteral("fresh.dat")),                       // written an hour ago
        dc + QStringLiteral("old.dat"),                               // a stored file, however old
        dc + QStringLiteral(".old.dat.isocket-tmp"),                  // not a partial's name
        dc + part(QString()),                                         // no name inside
        root + QLatin1Char('/') + part(QStringLiteral("top")),        // not in a dbtag
        root + QStringLiteral("/ed1/") + part(QStringLiteral("mid")), // nor here
        dc + QStringLiteral(".hidden/") + part(QStringLiteral("h")),  // not our directory
        tmp.filePath(QStringLiteral("outside/")) + part(QStringLiteral("o")), // behind a symlink
    };
    for (const QString &path : gone)
        QVERIFY2(makeFile(path, 1000, 10 * Day), qPrintable(path));
    for (const QString &path : kept)
        QVERIFY2(makeFile(path, 10, path.contains(QLatin1String("fresh")) ? 3600 : 10 * Day),
                 qPrintable(path));
    QVERIFY(
        QFile::link(tmp.filePath(QStringLiteral("outside")), root + QStringLiteral("/ed1/DC2")));
    QVERIFY(QFile::link(tmp.filePath(QStringLiteral("outside")), dc + QStringLiteral("linked")));

    QStringList claimed;
    QSet<QString> held;
    const PartialClaims claims{[&](const QString &key) {
                                   claimed << key;
                                   held.insert(key);
                                   return true;
                               },
                               [&](const QString &key) { QVERIFY(held.remove(key)); }};
    const std::atomic<bool> stop{false};
    const SweepStats stats =
        sweepStalePartials(root, QDateTime::currentSecsSinceEpoch() - 7 * Day, claims, stop);

    QCOMPARE(stats.removed, 3);
    QCOMPARE(stats.bytes, 3000);
    QCOMPARE(stats.inUse, 0);
    QCOMPARE(stats.errors, 0);
    for (const QString &path : gone)
        QVERIFY2(!QFile::exists(path), qPrintable(path));
    for (const QString &path : kept)
        QVERIFY2(QFile::exists(path), qPrintable(path));
    // Claimed by the key the receiver's registry uses, "<source>/<dbtag>/<path>", and released.
    claimed.sort();
    QCOMPARE(claimed, (QStringList{QStringLiteral("ed1/DC1/old.dat"),
                                   QStringLiteral("ed1/DC1/sub/dir/deep.dat"),
                                   QStringLiteral("ed2/DC9/x")}));
    QVERIFY(held.isEmpty());
}

void TestPartialSweeper::keepsWhatIsClaimed()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString root = tmp.filePath(QStringLiteral("root"));
    const QString busy = root + QStringLiteral("/ed1/DC1/") + part(QStringLiteral("busy"));
    const QString idle = root + QStringLiteral("/ed1/DC1/") + part(QStringLiteral("idle"));
    QVERIFY(makeFile(busy, 10, 10 * Day));
    QVERIFY(makeFile(idle, 10, 10 * Day));
    int released = 0;
    const PartialClaims claims{
        [](const QString &key) { return key != QLatin1String("ed1/DC1/busy"); },
        [&released](const QString &) { ++released; }};
    const std::atomic<bool> stop{false};
    const SweepStats stats =
        sweepStalePartials(root, QDateTime::currentSecsSinceEpoch() - Day, claims, stop);
    QCOMPARE(stats.removed, 1);
    QCOMPARE(stats.inUse, 1);
    QCOMPARE(released, 1); // only what was claimed
    QVERIFY(QFile::exists(busy));
    QVERIFY(!QFile::exists(idle));
}

void TestPartialSweeper::stops()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString root = tmp.filePath(QStringLiteral("root"));
    const QString stale = root + QStringLiteral("/ed1/DC1/") + part(QStringLiteral("a"));
    QVERIFY(makeFile(stale, 10, 10 * Day));
    const PartialClaims claims{[](const QString &) { return true; }, [](const QString &) {}};
    const std::atomic<bool> stop{true};
    const SweepStats stats =
        sweepStalePartials(root, QDateTime::currentSecsSinceEpoch() - Day, claims, stop);
    QCOMPARE(stats.removed, 0);
    QVERIFY(QFile::exists(stale));
}

void TestPartialSweeper::removesLeftoverLinks()
{
    // A small file is linked in under a hidden name and renamed to its final one; a receiver
    // that dies in between leaves the hidden name. Such a leftover is dated by its ctime (the
    // link), not its mtime (the ED's), and removed once older than the cutoff.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString root = tmp.filePath(QStringLiteral("root"));
    const QString dc = root + QStringLiteral("/ed1/DC1/");
    const QString leftover = dc + QLatin1String(Committer::LinkPrefix) + QStringLiteral("1a2b-3");
    const QString data = dc + QStringLiteral("isocket-link-like.dat");
    QVERIFY(makeFile(leftover, 100, 30 * Day)); // an old mtime, a fresh ctime
    QVERIFY(makeFile(data, 100, 30 * Day));
    const PartialClaims claims{[](const QString &) { return true; }, [](const QString &) {}};
    const std::atomic<bool> stop{false};

    // Linked a moment ago: kept, whatever its mtime says.
    SweepStats stats =
        sweepStalePartials(root, QDateTime::currentSecsSinceEpoch() - 7 * Day, claims, stop);
    QCOMPARE(stats.removed, 0);
    QVERIFY(QFile::exists(leftover));
    // Older than the cutoff: removed; a data file never.
    stats = sweepStalePartials(root, QDateTime::currentSecsSinceEpoch() + 10, claims, stop);
    QCOMPARE(stats.removed, 1);
    QVERIFY(!QFile::exists(leftover));
    QVERIFY(QFile::exists(data));
}

void TestPartialSweeper::longNamedPartials()
{
    // The partial of a file with a 255-byte name has a hashed name and the file's name in an
    // xattr: the sweep claims it by that name. One whose xattr is missing or does not match
    // its name is nobody's it can tell, and is left.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString root = tmp.filePath(QStringLiteral("root"));
    const QString dc = root + QStringLiteral("/ed1/DC1/");
    const QString name = QString(251, QLatin1Char('n')) + QStringLiteral(".dat");
    const QString partial = dc + ReceiveStore::partialName(name);
    QVERIFY(partial.contains(QLatin1String(ReceiveStore::LongPartPrefix)));
    QVERIFY(makeFile(partial, 100, 10 * Day));
    const QByteArray raw = name.toUtf8();
    if (::setxattr(QFile::encodeName(partial).constData(), ReceiveStore::PartNameXattr,
                   raw.constData(), size_t(raw.size()), 0) != 0)
        QSKIP("no user xattrs here");
    const QString orphan = dc + ReceiveStore::partialName(QString(252, QLatin1Char('o')));
    QVERIFY(makeFile(orphan, 100, 10 * Day));

    QStringList claimed;
    const PartialClaims claims{[&](const QString &key) {
                                   claimed << key;
                                   return true;
                               },
                               [](const QString &) {}};
    const std::atomic<bool> stop{false};
    const SweepStats stats =
        sweepStalePartials(root, QDateTime::currentSecsSinceEpoch() - 7 * Day, claims, stop);
    QCOMPARE(stats.removed, 1);
    QCOMPARE(claimed, QStringList{QStringLiteral("ed1/DC1/") + name});
    QVERIFY(!QFile::exists(partial));
    QVERIFY(QFile::exists(orphan));
}

QTEST_GUILESS_MAIN(TestPartialSweeper)
#include "tst_partialsweeper.moc"
