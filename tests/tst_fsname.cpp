// Names are bytes (issue 14 item 3): the lossless byte ⇄ QString mapping every name goes
// through, and the escaped form humans see (scan, logs, GUI, the receiver's manifest).

#include "core/fsname.h"

#include <QRandomGenerator>
#include <QTest>

using namespace isocket;

class TestFsName : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void utf8IsUnchanged();
    void anyBytesRoundTrip_data();
    void anyBytesRoundTrip();
    void randomBytesRoundTrip();
    void displayName_data();
    void displayName();
    void unescapeRefusesWhatDisplayNeverWrites();
    void reservedNames();
};

void TestFsName::utf8IsUnchanged()
{
    // Valid UTF-8 is the same QString Qt makes of it, so every name that worked before is the
    // same name now; and it needs no escape unless it has a control character or a backslash.
    const QString text = QStringLiteral("DC20151225/sub/caf\u00e9 \u4e2d\U0001F600\uFEFF.dat");
    QCOMPARE(fsDecode(text.toUtf8()), text);
    QCOMPARE(fsEncode(text), text.toUtf8());
    QCOMPARE(fsLength(text), text.toUtf8().size());
    QVERIFY(isUtf8Name(text));
    QVERIFY(!needsEscape(text));
    QCOMPARE(isocket::displayName(text), text);
    // The same string, shared: no copy on the per-file path.
    QVERIFY(isocket::displayName(text).constData() == text.constData());
}

void TestFsName::anyBytesRoundTrip_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<bool>("utf8");
    QTest::newRow("latin1") << QByteArray("caf\xe9.dat") << false;
    QTest::newRow("ff-fe") << QByteArray("\xff\xfe") << false;
    QTest::newRow("overlong") << QByteArray("\xc0\xaf") << false;
    QTest::newRow("surrogate-form") << QByteArray("\xed\xa0\x80\xed\xb2\x80") << false;
    QTest::newRow("over-max") << QByteArray("\xf4\x90\x80\x80") << false;
    QTest::newRow("cut") << QByteArray("ok\xe2\x82") << false;
    QTest::newRow("lone-continuation") << QByteArray("\x80x\xbf") << false;
    QTest::newRow("mixed") << QByteArray("\xc3\xa9\xe9\xc3\xa9") << false;
    QTest::newRow("controls") << QByteArray("a\nb\tc\x01\x7f") << true;
    QTest::newRow("backslash") << QByteArray("a\\xffb\\") << true;
    QTest::newRow("four-byte") << QByteArray("\xf0\x9f\x98\x80") << true;
}

void TestFsName::anyBytesRoundTrip()
{
    QFETCH(QByteArray, bytes);
    QFETCH(bool, utf8);
    const QString name = fsDecode(bytes);
    QCOMPARE(fsEncode(name), bytes);
    QCOMPARE(fsLength(name), bytes.size());
    QCOMPARE(isUtf8Name(name), utf8);
    QCOMPARE(fsDecode(fsEncode(name)), name);
    const QString shown = isocket::displayName(name);
    QCOMPARE(displayBytes(bytes), shown);
    const auto back = unescapeName(shown);
    QVERIFY(back.has_value());
    QCOMPARE(*back, bytes);
    // What is shown is printable text: no control character, no lone surrogate.
    for (const QChar c : shown) {
        QVERIFY(c.unicode() >= 0x20 && c.unicode() != 0x7f);
        QVERIFY(c.unicode() < 0xDC80 || c.unicode() > 0xDCFF);
    }
}

void TestFsName::randomBytesRoundTrip()
{
    QRandomGenerator rng(14);
    for (int i = 0; i < 20000; ++i) {
        QByteArray bytes(int(rng.bounded(1, 40)), Qt::Uninitialized);
        for (char &b : bytes) {
            // Biased towards the bytes of multi-byte forms, where the mistakes would be.
            const quint32 r = rng.bounded(10);
            b = char(r < 3 ? rng.bounded(1, 0x80) : rng.bounded(0x80, 0x100));
        }
        const QString name = fsDecode(bytes);
        QCOMPARE(fsEncode(name), bytes);
        QCOMPARE(fsLength(name), bytes.size());
        QCOMPARE(isUtf8Name(name), QByteArrayView(bytes).isValidUtf8());
        if (isUtf8Name(name))
            QCOMPARE(name, QString::fromUtf8(bytes));
        const auto back = unescapeName(isocket::displayName(name));
        QVERIFY(back.has_value());
        QCOMPARE(*back, bytes);
    }
}

void TestFsName::displayName_data()
{
    QTest::addColumn<QByteArray>("bytes");
    QTest::addColumn<QString>("shown");
    QTest::newRow("plain") << QByteArray("-rf a.dat") << QStringLiteral("-rf a.dat");
    QTest::newRow("latin1") << QByteArray("caf\xe9.dat") << QStringLiteral("caf\\xe9.dat");
    QTest::newRow("ff-fe") << QByteArray("\xff\xfe") << QStringLiteral("\\xff\\xfe");
    QTest::newRow("newline") << QByteArray("a\nb") << QStringLiteral("a\\nb");
    QTest::newRow("tab") << QByteArray("a\tb") << QStringLiteral("a\\tb");
    QTest::newRow("other-control") << QByteArray("a\x01\x7f") << QStringLiteral("a\\x01\\x7f");
    QTest::newRow("c1-control") << QByteArray("a\xc2\x85") << QStringLiteral("a\\xc2\\x85");
    QTest::newRow("line-separator")
        << QByteArray("a\xe2\x80\xa8") << QStringLiteral("a\\xe2\\x80\\xa8");
    QTest::newRow("backslash") << QByteArray("a\\xffb") << QStringLiteral("a\\\\xffb");
    QTest::newRow("utf8") << QByteArray("caf\xc3\xa9") << QStringLiteral("caf\u00e9");
}

void TestFsName::displayName()
{
    QFETCH(QByteArray, bytes);
    QFETCH(QString, shown);
    QCOMPARE(displayBytes(bytes), shown);
    QCOMPARE(needsEscape(fsDecode(bytes)), shown != fsDecode(bytes));
}

void TestFsName::unescapeRefusesWhatDisplayNeverWrites()
{
    for (const char *bad : {"a\\", "\\q", "\\x1", "\\xg0", "\\x"})
        QVERIFY2(!unescapeName(QString::fromLatin1(bad)).has_value(), bad);
    QCOMPARE(*unescapeName(QStringLiteral("\\x41\\\\")), QByteArray("A\\"));
}

void TestFsName::reservedNames()
{
    QVERIFY(!reservedReason(QStringLiteral("finished.isocket")).isEmpty());
    QVERIFY(reservedReason(QStringLiteral("finished.isocket2")).isEmpty());
    QVERIFY(reservedReason(QStringLiteral("a.dat")).isEmpty());
}

QTEST_GUILESS_MAIN(TestFsName)
#include "tst_fsname.moc"
