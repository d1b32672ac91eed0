// The console log line: the same text Qt's message pattern gives (the format operators and
// scripts read), built without the pattern engine.

#include "core/logging.h"

#include <QDateTime>
#include <QRegularExpression>
#include <QTest>

using namespace isocket;

class TestLogging : public QObject
{
    Q_OBJECT

private slots:
    void sameAsMessagePattern_data();
    void sameAsMessagePattern();
};

void TestLogging::sameAsMessagePattern_data()
{
    QTest::addColumn<int>("type");
    QTest::addColumn<QString>("message");
    QTest::newRow("info") << int(QtInfoMsg) << QStringLiteral("sent DC000001/a.dat (4096 bytes)");
    QTest::newRow("warning, not ASCII")
        << int(QtWarningMsg) << QStringLiteral("données reçues: 10 µs");
    QTest::newRow("critical") << int(QtCriticalMsg) << QStringLiteral("giving up");
    QTest::newRow("debug, empty") << int(QtDebugMsg) << QString();
}

void TestLogging::sameAsMessagePattern()
{
    QFETCH(int, type);
    QFETCH(QString, message);
    installConsoleMessagePattern();
    const QMessageLogContext context(nullptr, 0, nullptr, "isocket.send");
    const QByteArray ours = formatLogLine(QtMsgType(type), context, message);
    const QByteArray qts = qFormatLogMessage(QtMsgType(type), context, message).toUtf8() + '\n';

    static const QRegularExpression stamp(
        QStringLiteral("^(\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}) "));
    const auto a = stamp.match(QString::fromUtf8(ours));
    const auto b = stamp.match(QString::fromUtf8(qts));
    QVERIFY2(a.hasMatch(), ours.constData());
    QVERIFY2(b.hasMatch(), qts.constData());
    QCOMPARE(ours.mid(24), qts.mid(24)); // level, category, message, newline
    const QDateTime ta = QDateTime::fromString(a.captured(1), Qt::ISODateWithMs);
    const QDateTime tb = QDateTime::fromString(b.captured(1), Qt::ISODateWithMs);
    QVERIFY(ta.isValid());
    QVERIFY(qAbs(ta.msecsTo(tb)) < 2000); // the same clock and zone, a moment apart
}

QTEST_GUILESS_MAIN(TestLogging)
#include "tst_logging.moc"
