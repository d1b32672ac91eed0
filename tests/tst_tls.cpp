// core/tls: fingerprints as people write them, the peers file and its errors, and the checks on
// a key and certificate before they are used (docs/SECURITY.md).

#include "core/config.h"
#include "core/tls.h"
#include "tests/testlib/testtree.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace isocket;
using namespace isocket::test;

class TestTls : public QObject
{
    Q_OBJECT

private slots:
    void fingerprintSpellings();
    void fingerprintRejects_data();
    void fingerprintRejects();
    void peersFile();
    void peersFileErrorsNameTheLine_data();
    void peersFileErrorsNameTheLine();
    void identityRoundTrip();
    void identityChecks();
    void transportFromConfiguration();
};

namespace {
const QString Hex = QStringLiteral("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
}

void TestTls::fingerprintSpellings()
{
    const QByteArray raw = QByteArray::fromHex(Hex.toLatin1());
    QStringList colons;
    for (int i = 0; i < 64; i += 2)
        colons << Hex.mid(i, 2).toUpper();
    const QStringList spellings{Hex, Hex.toUpper(), QStringLiteral("sha256:") + Hex,
                                QStringLiteral("  SHA256:") + colons.join(QLatin1Char(':')),
                                Hex.left(32) + QLatin1Char('-') + Hex.mid(32)};
    for (const QString &text : spellings) {
        const auto fp = parseFingerprint(text, QStringLiteral("test"));
        QVERIFY2(fp.ok(), qPrintable(text));
        QCOMPARE(fp.value(), raw);
    }
    QCOMPARE(fingerprintText(raw), Hex);
}

void TestTls::fingerprintRejects_data()
{
    QTest::addColumn<QString>("text");
    QTest::newRow("empty") << QString();
    QTest::newRow("short") << Hex.left(62);
    QTest::newRow("long") << Hex + QStringLiteral("00");
    QTest::newRow("not hex") << QString(Hex).replace(0, 1, QLatin1Char('g'));
    QTest::newRow("sha1 length") << Hex.left(40);
}

void TestTls::fingerprintRejects()
{
    QFETCH(QString, text);
    const auto fp = parseFingerprint(text, QStringLiteral("send.receiver_fingerprint"));
    QVERIFY(!fp.ok());
    QVERIFY(fp.error().message.contains(QLatin1String("send.receiver_fingerprint")));
}

void TestTls::peersFile()
{
    QTemporaryDir tmp;
    const QString file = tmp.filePath(QStringLiteral("peers"));
    const QString other = QString(64, QLatin1Char('1'));
    QVERIFY(writeFile(file, QStringLiteral("# EDs\n\ned-1  %1   # the first\ned-2\t%2\n"
                                           "ed-2 %1\ned-1 %1\n")
                                .arg(Hex, other)
                                .toUtf8()));
    const auto list = PeerList::load(file);
    QVERIFY2(list.ok(), list.ok() ? "" : qPrintable(list.error().message));
    const QByteArray a = QByteArray::fromHex(Hex.toLatin1());
    const QByteArray b = QByteArray::fromHex(other.toLatin1());
    QCOMPARE(list.value().size(), 3); // the repeated pair counts once
    QVERIFY(list.value().allows(QStringLiteral("ed-1"), a));
    QVERIFY(list.value().allows(QStringLiteral("ed-2"), a));
    QVERIFY(list.value().allows(QStringLiteral("ed-2"), b));
    QVERIFY(!list.value().allows(QStringLiteral("ed-1"), b));
    QVERIFY(!list.value().allows(QStringLiteral("ed-3"), a));
    QVERIFY(!list.value().allows(QStringLiteral("ed-1"), QByteArray()));
    QCOMPARE(list.value().sourcesOf(a), (QStringList{QStringLiteral("ed-1"), QStringLiteral("ed-2")}));
    QVERIFY(list.value().sourcesOf(QByteArray(32, 'x')).isEmpty());
}

void TestTls::peersFileErrorsNameTheLine_data()
{
    QTest::addColumn<QString>("contents");
    QTest::addColumn<QString>("expected");
    QTest::newRow("one field") << QStringLiteral("# x\ned-1\n") << QStringLiteral(":2: expected");
    QTest::newRow("three fields") << QStringLiteral("ed-1 %1 extra\n").arg(Hex)
                                  << QStringLiteral(":1: expected");
    QTest::newRow("bad fingerprint") << QStringLiteral("\n\ned-1 abc\n")
                                     << QStringLiteral(":3: 'abc' is not");
    QTest::newRow("bad source") << QStringLiteral("../x %1\n").arg(Hex) << QStringLiteral(":1:");
    // ".ws1" is the monitor ws1 (docs/PROTOCOL.md 2.7); a monitor's name obeys the source rules.
    QTest::newRow("hidden monitor name") << QStringLiteral("..ws1 %1\n").arg(Hex) << QStringLiteral(":1:");
    QTest::newRow("monitor without a name") << QStringLiteral(". %1\n").arg(Hex) << QStringLiteral(":1:");
}

void TestTls::peersFileErrorsNameTheLine()
{
    QFETCH(QString, contents);
    QFETCH(QString, expected);
    QTemporaryDir tmp;
    const QString file = tmp.filePath(QStringLiteral("peers"));
    QVERIFY(writeFile(file, contents.toUtf8()));
    const auto list = PeerList::load(file);
    QVERIFY(!list.ok());
    QVERIFY2(list.error().message.contains(file + expected), qPrintable(list.error().message));
    QVERIFY(!PeerList::load(tmp.filePath(QStringLiteral("missing"))).ok());
}

void TestTls::identityRoundTrip()
{
    QTemporaryDir tmp;
    const QString cert = tmp.filePath(QStringLiteral("a.crt"));
    const QString key = tmp.filePath(QStringLiteral("a.key"));
    const auto made = generateIdentity(cert, key, QStringLiteral("ed-1"), false);
    QVERIFY2(made.ok(), made.ok() ? "" : qPrintable(made.error().message));
    QCOMPARE(QFile::permissions(key) & ~(QFile::ReadOwner | QFile::WriteOwner | QFile::ReadUser |
                                         QFile::WriteUser),
             QFileDevice::Permissions());
    const auto loaded = loadIdentity(cert, key);
    QVERIFY(loaded.ok());
    QCOMPARE(loaded.value().fingerprint, made.value().fingerprint);
    QCOMPARE(loaded.value().fingerprint.size(), 32);
    QVERIFY(loaded.value().certificate.subjectInfo(QSslCertificate::CommonName)
                .join(QString())
                .contains(QLatin1String("ed-1")));
    // Never replaced by accident; replaced whole when asked.
    const auto again = generateIdentity(cert, key, QStringLiteral("ed-1"), false);
    QVERIFY(!again.ok());
    QCOMPARE(loadIdentity(cert, key).value().fingerprint, made.value().fingerprint);
    QVERIFY(writeFile(key + QStringLiteral(".isocket-new"), "left by a run cut short", 0600));
    const auto forced = generateIdentity(cert, key, QStringLiteral("ed-1"), true);
    QVERIFY(forced.ok());
    QVERIFY(forced.value().fingerprint != made.value().fingerprint);
    QCOMPARE(loadIdentity(cert, key).value().fingerprint, forced.value().fingerprint);
}

void TestTls::identityChecks()
{
    QTemporaryDir tmp;
    const QString certA = tmp.filePath(QStringLiteral("a.crt"));
    const QString keyA = tmp.filePath(QStringLiteral("a.key"));
    const QString certB = tmp.filePath(QStringLiteral("b.crt"));
    const QString keyB = tmp.filePath(QStringLiteral("b.key"));
    QVERIFY(generateIdentity(certA, keyA, QStringLiteral("a"), false).ok());
    QVERIFY(generateIdentity(certB, keyB, QStringLiteral("b"), false).ok());

    // A key and a certificate of two different runs.
    auto mixed = loadIdentity(certA, keyB);
    QVERIFY(!mixed.ok());
    QVERIFY2(mixed.error().message.contains(QLatin1String("does not belong")),
             qPrintable(mixed.error().message));
    // A key others may read.
    QVERIFY(QFile::setPermissions(keyA, QFile::ReadOwner | QFile::WriteOwner | QFile::ReadOther));
    auto open = loadIdentity(certA, keyA);
    QVERIFY(!open.ok());
    QVERIFY(open.error().message.contains(QLatin1String("chmod 600")));
    // Not PEM at all; one of the two missing.
    QVERIFY(writeFile(tmp.filePath(QStringLiteral("junk.key")), "junk", 0600));
    QVERIFY(!loadIdentity(certB, tmp.filePath(QStringLiteral("junk.key"))).ok());
    QVERIFY(!loadIdentity(tmp.filePath(QStringLiteral("junk.key")), keyB).ok());
    QVERIFY(!loadIdentity(QString(), keyB).ok());
}

void TestTls::transportFromConfiguration()
{
    QTemporaryDir tmp;
    const QString cert = tmp.filePath(QStringLiteral("c.crt"));
    const QString key = tmp.filePath(QStringLiteral("c.key"));
    QVERIFY(generateIdentity(cert, key, QStringLiteral("c"), false).ok());

    Config plain; // the defaults: loopback, no keys
    auto t = transportFromConfig(plain, Side::Sender);
    QVERIFY(t.ok());
    QVERIFY(!t.value().tls);

    Config remote;
    QVERIFY(remote.set(QStringLiteral("send.server"), QStringLiteral("192.0.2.1"),
                       QStringLiteral("isocket.ini:3")).ok());
    t = transportFromConfig(remote, Side::Sender);
    QVERIFY(!t.ok());
    QVERIFY(t.error().message.contains(QLatin1String("isocket.ini:3")));
    QVERIFY(remote.set(QStringLiteral("general.transport"), QStringLiteral("plain"),
                       QStringLiteral("--transport")).ok());
    t = transportFromConfig(remote, Side::Sender);
    QVERIFY(t.ok());
    QVERIFY(t.value().plainOptIn);

    Config tls;
    QVERIFY(tls.set(QStringLiteral("general.cert"), cert, QStringLiteral("--cert")).ok());
    QVERIFY(tls.set(QStringLiteral("general.key"), key, QStringLiteral("--key")).ok());
    t = transportFromConfig(tls, Side::Receiver);
    QVERIFY(t.ok());
    QVERIFY(t.value().tls);
    t = transportFromConfig(tls, Side::Sender); // a sender needs the receiver's fingerprint
    QVERIFY(!t.ok());
    QVERIFY(t.error().message.contains(QLatin1String("send.receiver_fingerprint")));
    QVERIFY(tls.set(QStringLiteral("send.receiver_fingerprint"), Hex, QStringLiteral("--r")).ok());
    t = transportFromConfig(tls, Side::Sender);
    QVERIFY(t.ok());
    QCOMPARE(t.value().receiverFingerprints, QList<QByteArray>{QByteArray::fromHex(Hex.toLatin1())});
    // Two pins while the receiver's key is replaced.
    const QString other = QString(64, QLatin1Char('e'));
    QVERIFY(tls.set(QStringLiteral("send.receiver_fingerprint"), Hex + QStringLiteral(", ") + other,
                    QStringLiteral("--r")).ok());
    t = transportFromConfig(tls, Side::Sender);
    QVERIFY(t.ok());
    QCOMPARE(t.value().receiverFingerprints.size(), 2);
    QVERIFY(!tls.set(QStringLiteral("send.receiver_fingerprint"), Hex + QStringLiteral(",x"),
                     QStringLiteral("--r")).ok());

    Config half; // transport = tls without a key
    QVERIFY(half.set(QStringLiteral("general.transport"), QStringLiteral("tls"),
                     QStringLiteral("--transport")).ok());
    QVERIFY(!transportFromConfig(half, Side::Receiver).ok());
    QVERIFY(!half.set(QStringLiteral("general.transport"), QStringLiteral("ssl"),
                      QStringLiteral("--transport")).ok());
}

QTEST_GUILESS_MAIN(TestTls)
#include "tst_tls.moc"
