// Issue 17, settings and history: what an operator of a desktop sync client takes for granted.
// - The settings dialog of both windows writes the INI file the console reads: only the changed
//   keys' lines change (comments and other keys stay), the console's parser reads the new
//   values, a bad value is refused with a message naming the key and nothing is written, and
//   the sender's bandwidth limit reaches the running agent at once.
// - History after a restart: the receiver window lists the datasets complete on disk before any
//   ED connects; the sender window lists the files already marked sent, newest first, bounded.
// - A disconnected ED's relative "last seen" moves on by itself: a coarse timer of the model
//   emits dataChanged() for that column alone, and stops when no such time is shown.
// Real models, a real EdAgent and ReceiverService on 127.0.0.1, offscreen.

#include "core/config.h"
#include "core/iniedit.h"
#include "core/sentmark.h"
#include "core/senthistory.h"
#include "gui/datasetmodel.h"
#include "gui/fleetmodel.h"
#include "gui/logmodel.h"
#include "gui/peermodel.h"
#include "gui/receiverwindow.h"
#include "gui/senderwindow.h"
#include "gui/settingsdialog.h"
#include "gui/transfermodel.h"
#include "tests/testlib/testtree.h"

#include <QAbstractItemModelTester>
#include <QAction>
#include <QApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QLabel>
#include <QLineEdit>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

#include <sys/stat.h>

#include <memory>

using namespace isocket;
using namespace isocket::gui;

namespace {

EdAgentSetup senderSetup(const QString &root, quint16 port)
{
    Config c;
    c.dataRoot = root;
    c.server = QStringLiteral("127.0.0.1");
    c.port = port;
    c.source = QStringLiteral("ed-test");
    c.jobs = 2;
    c.settleMs = 200;
    c.retryIntervalMs = 200;
    c.retryMaxMs = 1000;
    auto s = EdAgentSetup::fromConfig(c);
    Q_ASSERT(s.ok());
    return s.value();
}

ReceiverSetup receiverSetup(const QString &root)
{
    ReceiverSetup r;
    r.options = ReceiverOptions{root, QByteArray("secret"), 0};
    r.address = QHostAddress(QHostAddress::LocalHost);
    r.port = 0;
    return r;
}

// A port nothing listens on: bound, read back, closed.
quint16 deadPort()
{
    QTcpServer s;
    if (!s.listen(QHostAddress::LocalHost, 0))
        return 0;
    const quint16 port = s.serverPort();
    s.close();
    return port;
}

QByteArray readAll(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

// An operator's file: comments everywhere, keys the dialog does not manage.
const QByteArray OperatorIni = "# isocket on ed-07, edited by hand\n"
                               "[data]\n"
                               "root = /srv/datas   # the parser's output\n"
                               "\n"
                               "[send]\n"
                               "; two links are enough on this line\n"
                               "jobs = 2  # see ticket 4711\n"
                               "server = drms.example\n"
                               "# bwlimit = 0\n"
                               "\n"
                               "[receive]\n"
                               "reserve = 1G\n";

bool markSent(const QString &path)
{
    struct stat st = {};
    if (::lstat(QFile::encodeName(path).constData(), &st) != 0)
        return false;
    return SentMark::mark(path, stampOf(st)).ok();
}

} // namespace

class TestGuiSettings : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void iniEditKeepsEveryOtherLine();
    void iniEditAddsMissingKeysAndSections();
    void senderSettingsSaveAndApply();
    void invalidValueNamesTheKeyAndWritesNothing();
    void receiverSettingsSave();
    void receiverListsDatasetsFromDisk();
    void senderListsDeliveredFromDisk();
    void recentlySentIsBounded();
    void peerLastSeenMovesOn();
    void fleetLastSeenMovesOn();

private:
    int timeout(int ms) const { return ms * test::timeoutFactor(); }
    std::unique_ptr<LogModel> m_log;
};

void TestGuiSettings::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setOrganizationName(QStringLiteral("isocket-test"));
    QApplication::setApplicationName(QStringLiteral("tst_gui_settings"));
    m_log = std::make_unique<LogModel>();
}

void TestGuiSettings::iniEditKeepsEveryOtherLine()
{
    // Only the value of a changed key changes; its comment, the other comments, the blank
    // lines, keys not asked for and keys this build does not know stay byte for byte.
    const QByteArray text = OperatorIni + "[vendor]\nshiny = yes\n";
    const QByteArray next = setIniValues(text, {{QStringLiteral("send.jobs"), QStringLiteral("4")}});
    QByteArray expected = text;
    expected.replace("jobs = 2  # see ticket 4711", "jobs = 4  # see ticket 4711");
    QCOMPARE(next, expected);
    QCOMPARE(iniValue(next, QStringLiteral("send.jobs")), QStringLiteral("4"));
    QCOMPARE(iniValue(next, QStringLiteral("data.root")), QStringLiteral("/srv/datas"));
    QVERIFY(iniValue(next, QStringLiteral("send.bwlimit")).isNull()); // commented out
    // A value the parser would cut at a comment sign is quoted, and reads back whole.
    const QByteArray quoted =
        setIniValues(text, {{QStringLiteral("data.root"), QStringLiteral("/data #1")}});
    QVERIFY(quoted.contains("root = \"/data #1\"   # the parser's output\n"));
    QCOMPARE(iniValue(quoted, QStringLiteral("data.root")), QStringLiteral("/data #1"));
}

void TestGuiSettings::iniEditAddsMissingKeysAndSections()
{
    const QByteArray next = setIniValues(OperatorIni, {{QStringLiteral("send.bwlimit"), QStringLiteral("10M")},
                                                       {QStringLiteral("status.metrics"),
                                                        QStringLiteral("127.0.0.1:9100")}});
    // After the last key of its section, the commented-out default left as it was.
    QVERIFY2(next.contains("server = drms.example\nbwlimit = 10M\n# bwlimit = 0\n"), next);
    QVERIFY2(next.endsWith("[receive]\nreserve = 1G\n\n[status]\nmetrics = 127.0.0.1:9100\n"), next);
    // An empty (missing) file gets the section and the key.
    QCOMPARE(setIniValues(QByteArray(), {{QStringLiteral("send.jobs"), QStringLiteral("3")}}),
             QByteArray("[send]\njobs = 3\n"));
}

void TestGuiSettings::senderSettingsSaveAndApply()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    QVERIFY(QDir().mkpath(data));
    const QString ini = tmp.filePath(QStringLiteral("isocket.ini"));
    QVERIFY(test::writeFile(ini, OperatorIni));

    SenderWindow sw(senderSetup(data, deadPort()), m_log.get());
    sw.setConfigFile(ini);
    sw.start();
    QTRY_COMPARE_WITH_TIMEOUT(sw.agent()->status().run, EdStatus::Run::Running, timeout(5000));
    QCOMPARE(sw.agent()->status().bwlimit, qint64(0));

    // File > Settings…, Ctrl+,
    QCOMPARE(sw.settingsAction()->shortcut(), QKeySequence(Qt::CTRL | Qt::Key_Comma));
    SettingsDialog *dialog = sw.openSettings();
    QVERIFY(dialog);
    QCOMPARE(dialog->configFile(), ini);
    // What the file says, or the default where it says nothing.
    QCOMPARE(dialog->field(QStringLiteral("send.jobs"))->text(), QStringLiteral("2"));
    QCOMPARE(dialog->field(QStringLiteral("send.bwlimit"))->text(), QStringLiteral("0"));
    QCOMPARE(dialog->field(QStringLiteral("send.window"))->text(), QStringLiteral("1024"));
    QCOMPARE(dialog->hintOf(QStringLiteral("send.bwlimit"))->text(), QStringLiteral("applies at once"));
    QCOMPARE(dialog->hintOf(QStringLiteral("send.jobs"))->text(),
             QStringLiteral("takes effect after restart"));

    dialog->field(QStringLiteral("send.bwlimit"))->setText(QStringLiteral("10M"));
    dialog->field(QStringLiteral("send.jobs"))->setText(QStringLiteral("4"));
    QSignalSpy saved(dialog, &SettingsDialog::saved);
    QVERIFY(saved.isValid());
    QVERIFY(dialog->save());
    QVERIFY(saved.wait(timeout(5000)));
    QCOMPARE(saved.first().at(1).toStringList(),
             QStringList({QStringLiteral("send.bwlimit"), QStringLiteral("send.jobs")}));

    // The console reads the new values from the same file...
    Config console;
    QVERIFY2(console.loadFile(ini).ok(), qPrintable(console.loadFile(ini).error().message));
    QCOMPARE(console.bwlimit, qint64(10) << 20);
    QCOMPARE(console.jobs, 4);
    QCOMPARE(console.dataRoot, QStringLiteral("/srv/datas"));
    QCOMPARE(console.server, QStringLiteral("drms.example"));
    // ...whose comments and other keys survived.
    const QByteArray after = readAll(ini);
    QVERIFY2(after.contains("# isocket on ed-07, edited by hand\n"), after);
    QVERIFY(after.contains("; two links are enough on this line\n"));
    QVERIFY(after.contains("jobs = 4  # see ticket 4711\n"));
    QVERIFY(after.contains("root = /srv/datas   # the parser's output\n"));
    QVERIFY(after.contains("# bwlimit = 0\n"));
    QVERIFY(!QFile::exists(tmp.filePath(QStringLiteral(".isocket.ini.isocket-tmp"))));

    // The bandwidth limit reached the running agent; jobs waits for a restart.
    QTRY_COMPARE_WITH_TIMEOUT(sw.agent()->status().bwlimit, qint64(10) << 20, timeout(5000));
    QCOMPARE(sw.agent()->setup().sender.jobs, 2);
}

void TestGuiSettings::invalidValueNamesTheKeyAndWritesNothing()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    QVERIFY(QDir().mkpath(data));
    const QString ini = tmp.filePath(QStringLiteral("isocket.ini"));
    QVERIFY(test::writeFile(ini, OperatorIni));
    const QDateTime before = QFileInfo(ini).lastModified();

    SenderWindow sw(senderSetup(data, deadPort()), m_log.get());
    sw.setConfigFile(ini);
    SettingsDialog *dialog = sw.openSettings();
    QSignalSpy saved(dialog, &SettingsDialog::saved);
    QVERIFY(saved.isValid());
    dialog->field(QStringLiteral("send.bwlimit"))->setText(QStringLiteral("fast"));
    dialog->field(QStringLiteral("send.jobs"))->setText(QStringLiteral("99"));
    dialog->field(QStringLiteral("send.window"))->setText(QStringLiteral("8")); // valid
    QVERIFY(!dialog->save());
    // The console's message, naming the key, next to each bad field.
    QLabel *bw = dialog->messageOf(QStringLiteral("send.bwlimit"));
    QVERIFY(!bw->isHidden());
    QVERIFY2(bw->text().startsWith(QLatin1String("send.bwlimit: ")), qPrintable(bw->text()));
    QVERIFY(bw->text().contains(QLatin1String("'fast' is not a size")));
    QLabel *jobs = dialog->messageOf(QStringLiteral("send.jobs"));
    QVERIFY(!jobs->isHidden());
    QVERIFY2(jobs->text().startsWith(QLatin1String("send.jobs: 99 is out of range 1..32")),
             qPrintable(jobs->text()));
    QVERIFY(dialog->messageOf(QStringLiteral("send.window"))->isHidden());
    // Nothing written, not even the valid field.
    QCOMPARE(readAll(ini), OperatorIni);
    QCOMPARE(QFileInfo(ini).lastModified(), before);
    QCOMPARE(saved.count(), 0);

    // Corrected, it saves.
    dialog->field(QStringLiteral("send.bwlimit"))->setText(QStringLiteral("512K"));
    dialog->field(QStringLiteral("send.jobs"))->setText(QStringLiteral("3"));
    QVERIFY(dialog->save());
    QVERIFY(saved.wait(timeout(5000)));
    Config console;
    QVERIFY(console.loadFile(ini).ok());
    QCOMPARE(console.bwlimit, qint64(512) << 10);
    QCOMPARE(console.window, 8);
}

void TestGuiSettings::receiverSettingsSave()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString received = tmp.filePath(QStringLiteral("received"));
    QVERIFY(QDir().mkpath(received));
    const QString ini = tmp.filePath(QStringLiteral("isocket.ini"));
    QVERIFY(test::writeFile(ini, OperatorIni));

    ReceiverWindow rw(receiverSetup(received), m_log.get());
    rw.setConfigFile(ini);
    SettingsDialog *dialog = rw.openSettings();
    QCOMPARE(dialog->field(QStringLiteral("receive.reserve"))->text(), QStringLiteral("1G"));
    QCOMPARE(dialog->field(QStringLiteral("receive.partial_max_age"))->text(), QStringLiteral("7d"));
    QCOMPARE(dialog->field(QStringLiteral("receive.sync"))->text(), QStringLiteral("auto"));
    QCOMPARE(dialog->hintOf(QStringLiteral("receive.reserve"))->text(),
             QStringLiteral("takes effect after restart"));
    dialog->field(QStringLiteral("receive.sync"))->setText(QStringLiteral("sometimes"));
    QVERIFY(!dialog->save());
    QVERIFY2(dialog->messageOf(QStringLiteral("receive.sync"))
                 ->text()
                 .startsWith(QLatin1String("receive.sync: must be auto or file")),
             qPrintable(dialog->messageOf(QStringLiteral("receive.sync"))->text()));
    QCOMPARE(readAll(ini), OperatorIni);

    dialog->field(QStringLiteral("receive.sync"))->setText(QStringLiteral("file"));
    dialog->field(QStringLiteral("receive.reserve"))->setText(QStringLiteral("2G"));
    dialog->field(QStringLiteral("receive.threads"))->setText(QStringLiteral("4"));
    QSignalSpy saved(dialog, &SettingsDialog::saved);
    QVERIFY(dialog->save());
    QVERIFY(saved.wait(timeout(5000)));
    Config console;
    QVERIFY(console.loadFile(ini).ok());
    QCOMPARE(console.reserveBytes, qint64(2) << 30);
    QCOMPARE(console.receiveThreads, 4);
    QVERIFY(console.syncPerFile);
    const QByteArray after = readAll(ini);
    QVERIFY2(after.contains("[receive]\nreserve = 2G\nthreads = 4\nsync = file\n"), after);
    QVERIFY(after.contains("jobs = 2  # see ticket 4711\n"));
}

void TestGuiSettings::receiverListsDatasetsFromDisk()
{
    // Three datasets completed by earlier runs (a manifest in each dbtag,
    // docs/RECEIVER.md): listed at start, before any ED connects.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString received = tmp.filePath(QStringLiteral("received"));
    const QStringList tags = {QStringLiteral("ed-a/DC20240101000000"),
                              QStringLiteral("ed-a/DC20240102000000"),
                              QStringLiteral("ed-b/DC20240101000000")};
    for (const QString &tag : tags) {
        QVERIFY(test::writeFile(received + QLatin1Char('/') + tag + QStringLiteral("/a.dat"),
                                "hello"));
        QVERIFY(test::writeFile(received + QLatin1Char('/') + tag + QLatin1Char('/')
                                    + QLatin1String(ManifestName),
                                "isocket-manifest 1 files=1 bytes=5\na.dat 5 0\n"));
    }
    ReceiverWindow rw(receiverSetup(received), m_log.get());
    QAbstractItemModelTester tester(rw.datasetModel(),
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy loaded(&rw, &ReceiverWindow::datasetsLoaded);
    QVERIFY(loaded.isValid());
    rw.start();
    QVERIFY(loaded.wait(timeout(10000)));
    QCOMPARE(loaded.first().first().toInt(), 3);
    rw.flushModels();
    QCOMPARE(rw.datasetModel()->rowCount(), 3);
    QCOMPARE(rw.peerModel()->rowCount(), 0); // no ED has connected
    QStringList shown;
    for (int i = 0; i < 3; ++i)
        shown << rw.datasetModel()->index(i, DatasetModel::Source).data().toString() + QLatin1Char('/')
                     + rw.datasetModel()->index(i, DatasetModel::Dbtag).data().toString();
    shown.sort();
    QCOMPARE(shown, tags);
}

void TestGuiSettings::senderListsDeliveredFromDisk()
{
    // Files an earlier run delivered carry the sent mark: a new window lists them as
    // delivered, newest first, without sending them again.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString tag = data + QStringLiteral("/DC20240101000000");
    const QStringList names = {QStringLiteral("a.dat"), QStringLiteral("sub/b.dat"),
                               QStringLiteral("c.dat")};
    for (const QString &name : names) {
        QVERIFY(test::writeFile(tag + QLatin1Char('/') + name, name.toUtf8()));
        QVERIFY(markSent(tag + QLatin1Char('/') + name));
    }
    QVERIFY(test::writeFile(tag + QStringLiteral("/unsent.dat"), "not yet")); // no mark
    QVERIFY(test::writeFile(tag + QStringLiteral("/finished.parse"), {}));
    QVERIFY(test::writeFile(tag + QStringLiteral("/finished.watch"), {}));

    SenderWindow sw(senderSetup(data, deadPort()), m_log.get());
    QAbstractItemModelTester tester(sw.transferModel(),
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy loaded(&sw, &SenderWindow::deliveredLoaded);
    QVERIFY(loaded.isValid());
    sw.start();
    QVERIFY(loaded.wait(timeout(10000)));
    QCOMPARE(loaded.first().first().toInt(), 3);
    sw.flushModels();
    TransferModel *t = sw.transferModel();
    QStringList delivered;
    QDateTime previous;
    for (int i = 0; i < t->rowCount(); ++i) {
        const TransferRow &r = t->rowAt(i);
        if (r.kind != TransferRow::Delivered)
            continue;
        QCOMPARE(r.dbtag, QStringLiteral("DC20240101000000"));
        QCOMPARE(r.size, qint64(r.relPath.size()));
        if (previous.isValid())
            QVERIFY(r.when <= previous); // newest first
        previous = r.when;
        QCOMPARE(t->index(i, TransferModel::Status).data().toString(), QStringLiteral("delivered"));
        delivered << r.relPath;
    }
    delivered.sort();
    QCOMPARE(delivered, QStringList({QStringLiteral("a.dat"), QStringLiteral("c.dat"),
                                     QStringLiteral("sub/b.dat")}));
    QCOMPARE(t->deliveredCount(), qint64(0)); // none delivered by this run
}

void TestGuiSettings::recentlySentIsBounded()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    for (const char *tag : {"DC20240101000000", "DC20240102000000", "XX20240103000000"})
        for (const char *name : {"1.dat", "2.dat", "3.dat"}) {
            const QString path = data + QLatin1Char('/') + QLatin1String(tag) + QLatin1Char('/')
                                 + QLatin1String(name);
            QVERIFY(test::writeFile(path, "x"));
            QVERIFY(markSent(path));
        }
    const QStringList markers = {QStringLiteral("finished.parse"), QStringLiteral("finished.watch")};
    const QList<SentFile> all = recentlySent(data, QStringLiteral("DC"), markers, 100);
    QCOMPARE(all.size(), 6); // the XX dbtag is not one
    const QList<SentFile> two = recentlySent(data, QStringLiteral("DC"), markers, 2);
    QCOMPARE(two.size(), 2);
    // The newest dbtag is walked first and fills the list.
    QCOMPARE(two.at(0).dbtag, QStringLiteral("DC20240102000000"));
    QCOMPARE(two.at(1).dbtag, QStringLiteral("DC20240102000000"));
}

void TestGuiSettings::peerLastSeenMovesOn()
{
    PeerModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QDateTime now = QDateTime::currentDateTimeUtc();
    model.setClock([&now] { return now; });
    model.setAgeRefreshInterval(50);
    auto update = [](ReceiverUpdate::Kind kind, quint64 id) {
        ReceiverUpdate u;
        u.kind = kind;
        u.connId = id;
        u.peer = QStringLiteral("127.0.0.1:40000");
        u.source = QStringLiteral("ed-a");
        return u;
    };
    model.onUpdates({update(ReceiverUpdate::Kind::PeerConnected, 1),
                     update(ReceiverUpdate::Kind::PeerAuthenticated, 1)});
    model.flush();
    QCOMPARE(model.rowCount(), 1);
    QVERIFY(!model.isAgeRefreshActive()); // connected: "since" is a time of day, not an age

    model.onUpdates({update(ReceiverUpdate::Kind::PeerDisconnected, 1)});
    model.flush();
    const QModelIndex since = model.index(0, PeerModel::Since);
    QCOMPARE(since.data().toString(), QStringLiteral("just now"));
    QVERIFY(model.isAgeRefreshActive());

    // Time passes and nothing else happens: the column alone is told, and says so.
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QVERIFY(changed.isValid());
    now = now.addSecs(150);
    QVERIFY(changed.wait(timeout(2000)));
    const QModelIndex from = changed.first().at(0).toModelIndex();
    const QModelIndex to = changed.first().at(1).toModelIndex();
    QCOMPARE(from.column(), int(PeerModel::Since));
    QCOMPARE(to.column(), int(PeerModel::Since));
    QCOMPARE(from.row(), 0);
    QCOMPARE(to.row(), model.rowCount() - 1);
    QCOMPARE(since.data().toString(), QStringLiteral("2 min ago"));

    // Connected again: no age shown, the timer stops.
    model.onUpdates({update(ReceiverUpdate::Kind::PeerConnected, 2),
                     update(ReceiverUpdate::Kind::PeerAuthenticated, 2)});
    QTRY_VERIFY_WITH_TIMEOUT(!model.isAgeRefreshActive(), timeout(2000));
}

void TestGuiSettings::fleetLastSeenMovesOn()
{
    FleetModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    QDateTime now = QDateTime::currentDateTimeUtc();
    model.setClock([&now] { return now; });
    model.setAgeRefreshInterval(50);
    QCOMPARE(FleetModel::AgeRefreshMs, 10000);
    FleetEntry gone;
    gone.source = QStringLiteral("ed-gone");
    gone.lastSeen = now.addSecs(-30);
    FleetEntry here;
    here.source = QStringLiteral("ed-here");
    here.connected = true;
    here.lastSeen = now;
    model.setFleet({gone, here});
    model.flush();
    QVERIFY(model.isAgeRefreshActive());
    const QModelIndex seen = model.index(0, FleetModel::LastSeen);
    QCOMPARE(seen.data().toString(), QStringLiteral("30 s ago"));
    QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
    QVERIFY(changed.isValid());
    now = now.addSecs(600);
    QVERIFY(changed.wait(timeout(2000)));
    QCOMPARE(changed.first().at(0).toModelIndex().column(), int(FleetModel::LastSeen));
    QCOMPARE(changed.first().at(1).toModelIndex().column(), int(FleetModel::LastSeen));
    QCOMPARE(seen.data().toString(), QStringLiteral("10 min ago"));
    QCOMPARE(model.index(1, FleetModel::LastSeen).data().toString(), QStringLiteral("connected"));

    // Every ED connected: nothing relative is shown, the timer stops.
    gone.connected = true;
    model.setFleet({gone, here});
    QVERIFY(!model.isAgeRefreshActive());
}

QTEST_MAIN(TestGuiSettings)
#include "tst_gui_settings.moc"
