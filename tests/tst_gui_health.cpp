// The windows' health (issue 16): the headline and a notice for every failing state, saying
// what to do, with its action wired to the agent; the fleet table; the monitor view.
// - The words: each failing state of an ED and of a receiver gives its notice (and only while
//   it lasts), the verdict gives the headline's shape and word.
// - A real EdAgent and ReceiverService on 127.0.0.1: receiver down, wrong secret (fixed, then
//   "Retry now" clears it) and paused ("Resume" resumes) in the sender window.
// - The other states (disk full, root missing, watch overflow) driven by values through the
//   agent's own signal, in the real window.
// - FleetModel under QAbstractItemModelTester; the monitor view fed values.
// With ISOCKET_SCREENSHOTS=<dir>, screenshots() renders the windows in each state to
// <dir>/*.png (docs/screenshots holds the committed ones; see docs/screenshots/README.md).

#include "core/config.h"
#include "gui/connectionpanel.h"
#include "gui/datasetmodel.h"
#include "gui/dbtagmodel.h"
#include "gui/fleetmodel.h"
#include "gui/healthwidgets.h"
#include "gui/logmodel.h"
#include "gui/monitorview.h"
#include "gui/monitorwindow.h"
#include "gui/notices.h"
#include "gui/receiverwindow.h"
#include "gui/senderwindow.h"
#include "gui/startup.h"
#include "tests/testlib/testtree.h"

#include <QAbstractItemModelTester>
#include <QApplication>
#include <QDir>
#include <QFile>
#include <QLabel>
#include <QProgressBar>
#include <QRegularExpression>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QTableWidget>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace isocket;
using namespace isocket::gui;

namespace {

QString secretFile(const QString &dir, const QByteArray &secret)
{
    static int n = 0;
    const QString path = dir + QStringLiteral("/secret-%1").arg(++n);
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly) || f.write(secret + '\n') != secret.size() + 1)
        return QString();
    f.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    return path;
}

bool rewriteSecret(const QString &path, const QByteArray &secret)
{
    QFile f(path);
    return f.open(QIODevice::WriteOnly | QIODevice::Truncate)
           && f.write(secret + '\n') == secret.size() + 1;
}

EdAgentSetup senderSetup(const QString &root, quint16 port, const QString &secretPath,
                         const QString &source = QStringLiteral("ed-test"))
{
    Config c;
    c.dataRoot = root;
    c.server = QStringLiteral("127.0.0.1");
    c.port = port;
    c.source = source;
    c.jobs = 2;
    c.settleMs = 200;
    c.retryIntervalMs = 200;
    c.retryMaxMs = 1000;
    c.secretFile = secretPath;
    auto s = EdAgentSetup::fromConfig(c);
    Q_ASSERT(s.ok());
    return s.value();
}

ReceiverSetup receiverSetup(const QString &root, const QByteArray &secret, qint64 reserve = 0)
{
    ReceiverSetup r;
    r.options = ReceiverOptions{root, secret, reserve};
    r.address = QHostAddress(QHostAddress::LocalHost);
    r.port = 0;
    return r;
}

MonitorSetup monitorSetup(quint16 port, const QString &secretPath)
{
    Config c;
    c.server = QStringLiteral("127.0.0.1");
    c.port = port;
    c.source = QStringLiteral("monitor-test");
    c.secretFile = secretPath;
    auto s = MonitorSetup::fromConfig(c);
    Q_ASSERT(s.ok());
    return s.value();
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

QDateTime minutesAgo(int minutes)
{
    return QDateTime::currentDateTimeUtc().addSecs(-60 * minutes);
}

// A running ED's snapshot, as the agent gives it, with `health` and ready links.
EdStatus running(const EdHealth &health, bool connected = true)
{
    EdStatus s;
    s.run = EdStatus::Run::Running;
    s.root = QStringLiteral("/datas");
    s.receiver = QStringLiteral("drms.example:12345");
    s.source = QStringLiteral("ed-07");
    LinkStatus link;
    link.state = connected ? LinkState::Ready : LinkState::Retrying;
    if (!connected) {
        link.detail = health.downCause;
        link.retryAt = QDateTime::currentDateTimeUtc().addSecs(4);
    }
    s.links = {link, link};
    s.health = health;
    s.paused = health.paused;
    return s;
}

EdHealth healthOf(Verdict verdict, const QString &reason)
{
    EdHealth h;
    h.verdict = verdict;
    h.reason = reason;
    h.at = QDateTime::currentDateTimeUtc();
    h.connected = true;
    h.dbtagsByState = {{QStringLiteral("live"), 1}, {QStringLiteral("done"), 41}};
    h.liveDbtag = QStringLiteral("DC20261206093000");
    return h;
}

// Each failing state of an ED, as the health model reports it.
EdStatus edState(NoticeKind kind)
{
    EdHealth h;
    switch (kind) {
    case NoticeKind::ReceiverDown:
        h = healthOf(Verdict::Failing,
                     QStringLiteral("Receiver down since 09:12, 212 files waiting"));
        h.connected = false;
        h.downSince = minutesAgo(14);
        h.downCause = QStringLiteral("connection refused");
        h.backlogFiles = 212;
        h.backlogBytes = 212ll * 3 << 20;
        h.oldestUnsent = minutesAgo(14);
        return running(h, false);
    case NoticeKind::WrongSecret: {
        h = healthOf(Verdict::Failing, QStringLiteral("Wrong secret: the receiver refuses this ED"));
        h.connected = false;
        h.authFailing = true;
        h.authFailingSince = minutesAgo(3);
        h.downSince = minutesAgo(3);
        h.downCause = QStringLiteral("auth-failed: bad proof");
        EdStatus s = running(h, false);
        for (LinkStatus &l : s.links) {
            l.state = LinkState::Refused;
            l.detail = QStringLiteral("auth-failed: bad proof");
        }
        return s;
    }
    case NoticeKind::ReceiverRefusing:
        h = healthOf(Verdict::Failing,
                     QStringLiteral("Receiver disk full since 22:25, 30 files waiting"));
        h.refusal = QStringLiteral("disk full: 1.2 GiB free, reserve 2.0 GiB");
        h.refusingSince = minutesAgo(20);
        h.refusedFiles = 30;
        h.backlogFiles = 30;
        h.backlogBytes = 30ll << 20;
        h.oldestUnsent = minutesAgo(20);
        return running(h);
    case NoticeKind::RootMissing:
        h = healthOf(Verdict::Failing, QStringLiteral("Data root missing: /datas"));
        h.localTrouble = QStringLiteral("data root missing");
        h.liveDbtag.clear();
        return running(h);
    case NoticeKind::WatchOverflow:
        h = healthOf(Verdict::Degraded, QStringLiteral("Watcher missed changes: rescanned"));
        h.localTrouble = QStringLiteral("inotify queue overflow");
        return running(h);
    case NoticeKind::OutOfWatches:
        h = healthOf(Verdict::Degraded, QStringLiteral("Out of inotify watches"));
        h.localTrouble = QStringLiteral("out of inotify watches");
        return running(h);
    case NoticeKind::Paused:
        h = healthOf(Verdict::Degraded, QStringLiteral("Paused by the operator, 57 files waiting"));
        h.paused = true;
        h.backlogFiles = 57;
        h.backlogBytes = 57ll << 20;
        return running(h);
    case NoticeKind::FailedFiles:
        h = healthOf(Verdict::Degraded, QStringLiteral("2 files failed for good"));
        h.failedFiles = 2;
        return running(h);
    default: break;
    }
    return running(healthOf(Verdict::Ok, QStringLiteral("Up to date")));
}

// Renders `w` to `path` once its layout has caught up with what was just set.
bool grabTo(QWidget *w, const QString &path)
{
    QCoreApplication::sendPostedEvents();
    QCoreApplication::processEvents();
    return w->grab().save(path);
}

FleetEntry fleetEntry(const QString &source, const std::optional<EdHealth> &health,
                      bool connected = true, int seenMinutesAgo = 0)
{
    FleetEntry e;
    e.source = source;
    e.connected = connected;
    e.peer = QStringLiteral("10.1.0.%1").arg(source.right(1));
    e.firstSeen = QDateTime::currentDateTimeUtc().addDays(-30);
    e.lastSeen = minutesAgo(seenMinutesAgo);
    e.health = health;
    e.filesReceived = 12000 + source.right(1).toInt() * 731;
    e.bytesReceived = e.filesReceived * (3 << 20);
    e.datasetsCompleted = 40 + source.right(1).toInt();
    return e;
}

// A fleet with one ED in each verdict, one silent for an hour and one that never reported.
QList<FleetEntry> sampleFleet()
{
    QList<FleetEntry> fleet;
    fleet << fleetEntry(QStringLiteral("ed-01"), healthOf(Verdict::Ok, QStringLiteral("Up to date")));
    EdHealth behind = healthOf(Verdict::Behind, QStringLiteral("Behind: 5,990 files, 374 MiB, "
                                                               "oldest 3 min, about 19 s to catch up"));
    behind.backlogFiles = 5990;
    behind.backlogBytes = 374ll << 20;
    behind.oldestUnsent = minutesAgo(3);
    behind.etaSeconds = 19;
    behind.rateBytesPerSecond = 20 << 20;
    behind.dbtagsByState = {{QStringLiteral("live"), 1}, {QStringLiteral("closed"), 3},
                            {QStringLiteral("done"), 120}, {QStringLiteral("abnormal"), 1}};
    fleet << fleetEntry(QStringLiteral("ed-02"), behind);
    fleet << fleetEntry(QStringLiteral("ed-03"), edState(NoticeKind::Paused).health);
    EdHealth full = edState(NoticeKind::ReceiverRefusing).health;
    fleet << fleetEntry(QStringLiteral("ed-04"), full);
    fleet << fleetEntry(QStringLiteral("ed-05"), healthOf(Verdict::Ok, QStringLiteral("Up to date")),
                        false, 62);
    fleet << fleetEntry(QStringLiteral("ed-06"), std::nullopt);
    return fleet;
}

} // namespace

class TestGuiHealth : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void edNoticesSayWhatToDo_data();
    void edNoticesSayWhatToDo();
    void edHeadlineFollowsTheVerdict();
    void receiverNoticesAndHeadline();
    void noticeAreaShowsAndDropsRows();
    void senderWindowShowsValueStates();
    void senderWindowReceiverDown();
    void senderWindowWrongSecretThenRetry();
    void senderWindowPauseAndResume();
    void senderAndReceiverDiskFull();
    void senderWindowRootMissing();
    void receiverWindowShowsDiskAndFleet();
    void fleetModelPassesTheTester();
    void monitorViewShowsFleetAndLink();
    void monitorWindowFollowsARealReceiver();
    void monitorWindowWrongSecret();
    void datasetsFromDiskAreListed();
    void receiverWindowListsDatasetsFromDisk();
    void startupWarnsNothing();
    void screenshots();

private:
    int timeout(int ms) const { return ms * test::timeoutFactor(); }
    std::unique_ptr<LogModel> m_log;
};

void TestGuiHealth::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setOrganizationName(QStringLiteral("isocket-test"));
    QApplication::setApplicationName(QStringLiteral("tst_gui_health"));
    m_log = std::make_unique<LogModel>();
}

void TestGuiHealth::edNoticesSayWhatToDo_data()
{
    QTest::addColumn<NoticeKind>("kind");
    QTest::addColumn<QString>("advice");
    QTest::addColumn<NoticeAction>("action");
    QTest::newRow("receiver down") << NoticeKind::ReceiverDown
                                   << QStringLiteral("Check that the receiver runs")
                                   << NoticeAction::RetryNow;
    QTest::newRow("wrong secret") << NoticeKind::WrongSecret
                                  << QStringLiteral("/etc/isocket/secret holds the receiver's secret")
                                  << NoticeAction::RetryNow;
    QTest::newRow("disk full") << NoticeKind::ReceiverRefusing
                               << QStringLiteral("Free space on DRMS") << NoticeAction::RetryNow;
    QTest::newRow("root missing") << NoticeKind::RootMissing
                                  << QStringLiteral("/datas. Mount or create it")
                                  << NoticeAction::Rescan;
    QTest::newRow("inotify overflow") << NoticeKind::WatchOverflow
                                      << QStringLiteral("a full rescan was done")
                                      << NoticeAction::None;
    QTest::newRow("out of watches") << NoticeKind::OutOfWatches
                                    << QStringLiteral("fs.inotify.max_user_watches")
                                    << NoticeAction::Rescan;
    QTest::newRow("paused") << NoticeKind::Paused << QStringLiteral("57 file(s) (57.0 MiB) wait")
                            << NoticeAction::Resume;
    QTest::newRow("failed files") << NoticeKind::FailedFiles << QStringLiteral("see the log")
                                  << NoticeAction::None;
}

void TestGuiHealth::edNoticesSayWhatToDo()
{
    QFETCH(NoticeKind, kind);
    QFETCH(QString, advice);
    QFETCH(NoticeAction, action);
    const QString secret = QStringLiteral("/etc/isocket/secret");
    const QList<Notice> notices = edNotices(edState(kind), secret, 0);
    QCOMPARE(notices.size(), 1);
    const Notice &n = notices.first();
    QCOMPARE(n.kind, kind);
    QVERIFY2(n.text.contains(advice), qPrintable(n.text));
    QCOMPARE(n.action, action);
    QCOMPARE(n.actionText.isEmpty(), action == NoticeAction::None);

    // Recovered: up to date, nothing to say.
    QVERIFY(edNotices(running(healthOf(Verdict::Ok, QStringLiteral("Up to date"))), secret, 0)
                .isEmpty());
}

void TestGuiHealth::edHeadlineFollowsTheVerdict()
{
    const Headline ok = edHeadline(running(healthOf(Verdict::Ok, QStringLiteral("Up to date"))));
    QCOMPARE(ok.badge, Badge::Done);
    QCOMPARE(ok.word, QStringLiteral("OK"));
    QCOMPARE(ok.text, QStringLiteral("Up to date"));
    const Headline full = edHeadline(edState(NoticeKind::ReceiverRefusing));
    QCOMPARE(full.badge, Badge::Failed);
    QCOMPARE(full.word, QStringLiteral("Failing"));
    QCOMPARE(full.text, QStringLiteral("Receiver disk full since 22:25, 30 files waiting"));
    QCOMPARE(edHeadline(edState(NoticeKind::Paused)).badge, Badge::Abnormal);
    EdStatus behind = running(healthOf(Verdict::Behind, QStringLiteral("Behind: 3 files")));
    QCOMPARE(edHeadline(behind).badge, Badge::Sending);
    // Each verdict has its own shape: never told apart by colour alone.
    QSet<int> shapes;
    for (Verdict v : {Verdict::Ok, Verdict::Behind, Verdict::Degraded, Verdict::Failing})
        shapes.insert(int(verdictLook(v).badge));
    QCOMPARE(shapes.size(), 4);
    // Before the first health report, and when it cannot start.
    EdStatus starting = running(EdHealth{});
    QCOMPARE(edHeadline(starting).word, QStringLiteral("Starting"));
    EdStatus failed;
    failed.run = EdStatus::Run::Failed;
    failed.error = QStringLiteral("data root /nope: no such directory");
    QCOMPARE(edHeadline(failed).text, QStringLiteral("Cannot start: data root /nope: no such directory"));
    QCOMPARE(edNotices(failed, QString(), 0).first().kind, NoticeKind::StartFailed);
}

void TestGuiHealth::receiverNoticesAndHeadline()
{
    ReceiverStatus s;
    s.run = ReceiverStatus::Run::Listening;
    s.address = QStringLiteral("127.0.0.1:12345");
    s.root = QStringLiteral("/srv/isocket");
    s.health.verdict = Verdict::Failing;
    s.health.reason = QStringLiteral("Disk full: 1.2 GiB free, reserve 2.0 GiB");
    s.health.at = QDateTime::currentDateTimeUtc();
    s.health.listening = true;
    s.health.freeBytes = qint64(1.2 * (1 << 30));
    s.health.totalBytes = 100ll << 30;
    s.health.reserveBytes = 2ll << 30;
    s.health.diskFull = true;
    QList<Notice> notices = receiverNotices(s);
    QCOMPARE(notices.size(), 1);
    QCOMPARE(notices.first().kind, NoticeKind::DiskFull);
    QVERIFY2(notices.first().text.contains(QStringLiteral("1.2 GiB free of 100.0 GiB, reserve 2.0 GiB")),
             qPrintable(notices.first().text));
    QVERIFY(notices.first().text.contains(QStringLiteral("Free space under /srv/isocket")));
    QCOMPARE(receiverHeadline(s).word, QStringLiteral("Failing"));
    QCOMPARE(receiverHeadline(s).text, s.health.reason);

    s.health.diskFull = false; // space freed
    s.health.verdict = Verdict::Ok;
    s.health.reason = QStringLiteral("Listening on 127.0.0.1:12345");
    QVERIFY(receiverNotices(s).isEmpty());
    QCOMPARE(receiverHeadline(s).badge, Badge::Done);

    ReceiverStatus failed;
    failed.run = ReceiverStatus::Run::Failed;
    failed.error = QStringLiteral("address in use");
    QCOMPARE(receiverNotices(failed).first().kind, NoticeKind::StartFailed);
    QCOMPARE(receiverHeadline(failed).text, QStringLiteral("Not listening: address in use"));
}

void TestGuiHealth::noticeAreaShowsAndDropsRows()
{
    QWidget top;
    auto *area = new NoticeArea(&top);
    QSignalSpy actions(area, &NoticeArea::actionTriggered);
    QVERIFY(actions.isValid());
    top.show();
    QVERIFY(!area->isVisibleTo(&top));
    area->setNotices(edNotices(edState(NoticeKind::Paused), QString(), 2));
    QVERIFY(area->isVisibleTo(&top));
    QVERIFY(area->has(NoticeKind::Paused));
    QVERIFY(area->has(NoticeKind::AbnormalDbtags));
    QVERIFY(area->button(NoticeKind::Paused));
    QCOMPARE(area->button(NoticeKind::AbnormalDbtags), nullptr);
    area->button(NoticeKind::Paused)->click();
    QCOMPARE(actions.count(), 1);
    QCOMPARE(actions.first().first().value<NoticeAction>(), NoticeAction::Resume);
    area->setNotices({});
    QVERIFY(!area->isVisibleTo(&top));
    QVERIFY(!area->has(NoticeKind::Paused));
}

void TestGuiHealth::senderWindowShowsValueStates()
{
    // The states a loopback test cannot make cheaply, through the agent's own signal into the
    // real window: each shows its headline and notice; the recovery removes the notice.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    SenderWindow sw(senderSetup(tmp.path(), 1, secretFile(tmp.path(), "s")), m_log.get());
    sw.show();
    for (NoticeKind kind : {NoticeKind::ReceiverRefusing, NoticeKind::RootMissing,
                            NoticeKind::WatchOverflow, NoticeKind::ReceiverDown}) {
        const EdStatus s = edState(kind);
        Q_EMIT sw.agent()->statusChanged(s);
        QTRY_VERIFY(sw.notices()->has(kind));
        QCOMPARE(sw.headline()->headline().text, s.health.reason);
        QVERIFY(sw.notices()->isVisibleTo(&sw));
    }
    Q_EMIT sw.agent()->statusChanged(running(healthOf(Verdict::Ok, QStringLiteral("Up to date"))));
    QTRY_VERIFY(sw.notices()->notices().isEmpty());
    QVERIFY(!sw.notices()->isVisibleTo(&sw));
    QCOMPARE(sw.headline()->text(), QStringLiteral("OK: Up to date"));
}

void TestGuiHealth::senderWindowReceiverDown()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    QVERIFY(test::writeFile(data + QStringLiteral("/DC20240101000000/a.dat"), "payload"));
    QVERIFY(test::writeFile(data + QStringLiteral("/DC20240101000000/finished.parse"), {}));
    const quint16 port = deadPort();
    QVERIFY(port != 0);
    SenderWindow sw(senderSetup(data, port, secretFile(tmp.path(), "s")), m_log.get());
    sw.show();
    sw.start();
    QTRY_VERIFY_WITH_TIMEOUT(sw.notices()->has(NoticeKind::ReceiverDown), timeout(10000));
    const QString text = sw.notices()->text(NoticeKind::ReceiverDown);
    QVERIFY2(text.contains(QStringLiteral("127.0.0.1:%1 cannot be reached").arg(port)),
             qPrintable(text));
    QVERIFY(text.contains(QStringLiteral("Check that the receiver runs")));
    QPushButton *retry = sw.notices()->button(NoticeKind::ReceiverDown);
    QVERIFY(retry);
    QCOMPARE(retry->text(), QStringLiteral("Retry no&w"));
}

void TestGuiHealth::senderWindowWrongSecretThenRetry()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString received = tmp.filePath(QStringLiteral("received"));
    QVERIFY(QDir().mkpath(received));
    QVERIFY(test::writeFile(data + QStringLiteral("/DC20240101000000/a.dat"), "payload"));
    QVERIFY(test::writeFile(data + QStringLiteral("/DC20240101000000/finished.parse"), {}));

    ReceiverWindow rw(receiverSetup(received, "the receiver's secret"), m_log.get());
    rw.start();
    QTRY_COMPARE_WITH_TIMEOUT(rw.service()->status().run, ReceiverStatus::Run::Listening,
                              timeout(5000));
    const QString secret = secretFile(tmp.path(), "not the same secret");
    SenderWindow sw(senderSetup(data, rw.service()->status().port, secret), m_log.get());
    sw.show();
    sw.start();
    QTRY_VERIFY_WITH_TIMEOUT(sw.notices()->has(NoticeKind::WrongSecret), timeout(10000));
    QVERIFY(sw.notices()->text(NoticeKind::WrongSecret).contains(secret));
    QVERIFY(!sw.notices()->has(NoticeKind::ReceiverDown));

    // The operator fixes the file and presses the notice's button: the notice goes.
    QVERIFY(rewriteSecret(secret, "the receiver's secret"));
    QPushButton *retry = sw.notices()->button(NoticeKind::WrongSecret);
    QVERIFY(retry);
    retry->click();
    QTRY_VERIFY_WITH_TIMEOUT(!sw.notices()->has(NoticeKind::WrongSecret), timeout(10000));
    QTRY_COMPARE_WITH_TIMEOUT(rw.service()->status().stored, qint64(1), timeout(10000));
}

void TestGuiHealth::senderWindowPauseAndResume()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString received = tmp.filePath(QStringLiteral("received"));
    QVERIFY(QDir().mkpath(received));
    QVERIFY(QDir().mkpath(data));
    ReceiverWindow rw(receiverSetup(received, "secret"), m_log.get());
    rw.start();
    QTRY_COMPARE_WITH_TIMEOUT(rw.service()->status().run, ReceiverStatus::Run::Listening,
                              timeout(5000));
    SenderWindow sw(senderSetup(data, rw.service()->status().port, secretFile(tmp.path(), "secret")),
                    m_log.get());
    sw.show();
    sw.start();
    QTRY_VERIFY_WITH_TIMEOUT(sw.connectionPanel()->badge() == Badge::Connected, timeout(10000));
    QVERIFY(!sw.notices()->has(NoticeKind::Paused));
    QTRY_COMPARE_WITH_TIMEOUT(sw.headline()->text(), QStringLiteral("OK: Up to date"),
                              timeout(10000));
    QVERIFY(sw.notices()->notices().isEmpty());

    sw.pauseAction()->trigger();
    QTRY_VERIFY_WITH_TIMEOUT(sw.notices()->has(NoticeKind::Paused), timeout(5000));
    QPushButton *resume = sw.notices()->button(NoticeKind::Paused);
    QVERIFY(resume);
    QCOMPARE(resume->text(), QStringLiteral("Res&ume"));
    resume->click();
    QTRY_VERIFY_WITH_TIMEOUT(!sw.agent()->status().paused, timeout(5000));
    QTRY_VERIFY(!sw.notices()->has(NoticeKind::Paused));
    QTRY_VERIFY(!sw.pauseAction()->isChecked());
    QTRY_COMPARE(sw.headline()->text(), QStringLiteral("OK: Up to date"));
}

void TestGuiHealth::senderAndReceiverDiskFull()
{
    // A receiver whose reserve is more than its disk has: it refuses every file, as with a full
    // disk. Both windows say so, the ED's with what to do.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString received = tmp.filePath(QStringLiteral("received"));
    QVERIFY(QDir().mkpath(received));
    QVERIFY(test::writeFile(data + QStringLiteral("/DC20240101000000/a.dat"), "payload"));
    QVERIFY(test::writeFile(data + QStringLiteral("/DC20240101000000/finished.parse"), {}));
    ReceiverWindow rw(receiverSetup(received, "secret", qint64(1) << 60), m_log.get());
    rw.show();
    rw.start();
    QTRY_COMPARE_WITH_TIMEOUT(rw.service()->status().run, ReceiverStatus::Run::Listening,
                              timeout(5000));
    SenderWindow sw(senderSetup(data, rw.service()->status().port, secretFile(tmp.path(), "secret")),
                    m_log.get());
    sw.show();
    sw.start();
    QTRY_VERIFY_WITH_TIMEOUT(sw.notices()->has(NoticeKind::ReceiverRefusing), timeout(15000));
    QVERIFY2(sw.notices()->text(NoticeKind::ReceiverRefusing).contains(QStringLiteral("Free space on DRMS")),
             qPrintable(sw.notices()->text(NoticeKind::ReceiverRefusing)));
    QCOMPARE(sw.headline()->headline().word, QStringLiteral("Failing"));
    QTRY_VERIFY_WITH_TIMEOUT(rw.notices()->has(NoticeKind::DiskFull), timeout(15000));
    QCOMPARE(rw.headline()->headline().word, QStringLiteral("Failing"));
}

void TestGuiHealth::senderWindowRootMissing()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString received = tmp.filePath(QStringLiteral("received"));
    QVERIFY(QDir().mkpath(received));
    QVERIFY(QDir().mkpath(data));
    ReceiverWindow rw(receiverSetup(received, "secret"), m_log.get());
    rw.start();
    QTRY_COMPARE_WITH_TIMEOUT(rw.service()->status().run, ReceiverStatus::Run::Listening,
                              timeout(5000));
    SenderWindow sw(senderSetup(data, rw.service()->status().port, secretFile(tmp.path(), "secret")),
                    m_log.get());
    sw.show();
    sw.start();
    QTRY_COMPARE_WITH_TIMEOUT(sw.headline()->headline().text, QStringLiteral("Up to date"),
                              timeout(10000));
    QVERIFY(QDir(data).removeRecursively());
    QTRY_VERIFY_WITH_TIMEOUT(sw.notices()->has(NoticeKind::RootMissing), timeout(10000));
    QVERIFY(sw.notices()->button(NoticeKind::RootMissing));
    QVERIFY(QDir().mkpath(data));
    QTRY_VERIFY_WITH_TIMEOUT(!sw.notices()->has(NoticeKind::RootMissing), timeout(10000));
}

void TestGuiHealth::receiverWindowShowsDiskAndFleet()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    ReceiverWindow rw(receiverSetup(tmp.path(), "secret"), m_log.get());
    rw.show();
    ReceiverStatus s;
    s.run = ReceiverStatus::Run::Listening;
    s.address = QStringLiteral("127.0.0.1:12345");
    s.root = tmp.path();
    s.health.at = QDateTime::currentDateTimeUtc();
    s.health.verdict = Verdict::Failing;
    s.health.reason = QStringLiteral("Disk full: 1.0 GiB free, reserve 2.0 GiB");
    s.health.freeBytes = 1ll << 30;
    s.health.totalBytes = 10ll << 30;
    s.health.reserveBytes = 2ll << 30;
    s.health.diskFull = true;
    Q_EMIT rw.service()->statusChanged(s);
    QTRY_VERIFY(rw.notices()->has(NoticeKind::DiskFull));
    QCOMPARE(rw.headline()->headline().text, s.health.reason);
    QCOMPARE(rw.diskBar()->value(), 900);
    QCOMPARE(rw.diskBar()->text(),
             QStringLiteral("disk full: 1.0 GiB free of 10.0 GiB, reserve 2.0 GiB"));

    s.health.diskFull = false;
    s.health.freeBytes = 5ll << 30;
    s.health.verdict = Verdict::Ok;
    s.health.reason = QStringLiteral("Listening on 127.0.0.1:12345");
    Q_EMIT rw.service()->statusChanged(s);
    QTRY_VERIFY(!rw.notices()->has(NoticeKind::DiskFull));
    QCOMPARE(rw.diskBar()->text(), QStringLiteral("5.0 GiB free of 10.0 GiB, reserve 2.0 GiB"));

    // The fleet table is the first tab: every ED, not only the connected ones.
    QCOMPARE(rw.edTabs()->currentIndex(), 0);
    rw.fleetModel()->setFleet(sampleFleet());
    rw.flushModels();
    QCOMPARE(rw.fleetModel()->rowCount(), 6);
}

void TestGuiHealth::fleetModelPassesTheTester()
{
    FleetModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.setFleet(sampleFleet());
    model.flush();
    QCOMPARE(model.rowCount(), 6);
    auto cell = [&](const QString &source, int column, int role = Qt::DisplayRole) {
        const int row = model.rowOf(source);
        return row < 0 ? QVariant() : model.index(row, column).data(role);
    };
    QCOMPARE(cell(QStringLiteral("ed-01"), FleetModel::State).toString(), QStringLiteral("OK"));
    QCOMPARE(cell(QStringLiteral("ed-01"), FleetModel::LastSeen).toString(), QStringLiteral("connected"));
    QCOMPARE(cell(QStringLiteral("ed-02"), FleetModel::State).toString(), QStringLiteral("Behind"));
    QCOMPARE(cell(QStringLiteral("ed-02"), FleetModel::Backlog).toString(),
             QStringLiteral("%1 files, 374.0 MiB").arg(QLocale().toString(5990)));
    QCOMPARE(cell(QStringLiteral("ed-02"), FleetModel::Oldest).toString(), QStringLiteral("3 min 00 s"));
    QCOMPARE(cell(QStringLiteral("ed-02"), FleetModel::Eta).toString(), QStringLiteral("19 s"));
    QCOMPARE(cell(QStringLiteral("ed-02"), FleetModel::LiveDbtag).toString(),
             QStringLiteral("DC20261206093000"));
    QCOMPARE(cell(QStringLiteral("ed-04"), FleetModel::State).toString(), QStringLiteral("Failing"));
    QVERIFY(cell(QStringLiteral("ed-04"), FleetModel::State, Qt::DecorationRole).isValid());
    // Silent for an hour: failing, whatever it last said.
    QCOMPARE(cell(QStringLiteral("ed-05"), FleetModel::State).toString(), QStringLiteral("Failing"));
    QCOMPARE(cell(QStringLiteral("ed-05"), FleetModel::Reason).toString(),
             QStringLiteral("Not seen for 1 h 02 min"));
    // Connected but never reported (an ED before protocol v4).
    QCOMPARE(cell(QStringLiteral("ed-06"), FleetModel::Backlog).toString(), QStringLiteral("—"));
    QCOMPARE(cell(QStringLiteral("ed-06"), FleetModel::Reason).toString(),
             QStringLiteral("No status report yet"));
    QCOMPARE(model.countOf(Verdict::Failing), 2);

    // A later list: one gone, one new, one changed; rows by key, no reset.
    QSignalSpy resets(&model, &QAbstractItemModel::modelReset);
    QList<FleetEntry> next = sampleFleet();
    next.removeAt(2);
    next << fleetEntry(QStringLiteral("ed-00"), healthOf(Verdict::Ok, QStringLiteral("Up to date")));
    next[0].health->verdict = Verdict::Degraded;
    model.setFleet(next);
    model.tick();
    model.flush();
    QCOMPARE(model.rowCount(), 6);
    QCOMPARE(model.index(0, FleetModel::Source).data().toString(), QStringLiteral("ed-00"));
    QCOMPARE(cell(QStringLiteral("ed-01"), FleetModel::State).toString(), QStringLiteral("Degraded"));
    QCOMPARE(model.rowOf(QStringLiteral("ed-03")), -1);
    QCOMPARE(resets.count(), 0);
    model.setFleet({});
    model.flush();
    QCOMPARE(model.rowCount(), 0);
}

void TestGuiHealth::monitorViewShowsFleetAndLink()
{
    MonitorView view(QStringLiteral("drms:12345"), QStringLiteral("/etc/isocket/secret"));
    view.show();
    QCOMPARE(view.headline()->headline().word, QStringLiteral("Waiting"));
    QVERIFY(view.notices()->text(NoticeKind::MonitorLink).contains(QStringLiteral("Connecting")));

    LinkStatus refused;
    refused.state = LinkState::Refused;
    refused.detail = QStringLiteral("auth-failed: wrong secret");
    view.showLink(refused);
    QVERIFY(view.notices()->text(NoticeKind::MonitorLink)
                .contains(QStringLiteral("/etc/isocket/secret holds the receiver's monitor secret")));
    QCOMPARE(view.headline()->headline().badge, Badge::Refused);

    LinkStatus ready;
    ready.state = LinkState::Ready;
    view.showLink(ready);
    QVERIFY(view.notices()->notices().isEmpty());
    ReceiverHealth rh;
    rh.verdict = Verdict::Ok;
    rh.reason = QStringLiteral("Listening on 10.0.0.1:12345");
    rh.listening = true;
    rh.freeBytes = 40ll << 30;
    rh.totalBytes = 100ll << 30;
    rh.reserveBytes = 2ll << 30;
    view.showReceiver(rh);
    QCOMPARE(view.headline()->text(), QStringLiteral("OK: Listening on 10.0.0.1:12345"));

    view.showFleet(sampleFleet());
    view.flush();
    QCOMPARE(view.fleetModel()->rowCount(), 6);
    QVERIFY2(view.summary()->text().startsWith(QStringLiteral("6 ED(s): 1 ok, 2 behind, 1 degraded, 2 failing")),
             qPrintable(view.summary()->text()));
    QVERIFY(view.summary()->text().contains(QStringLiteral("40.0 GiB free of 100.0 GiB")));

    // Selecting an ED shows its dbtags by state and its report.
    QVERIFY(view.selectSource(QStringLiteral("ed-02")));
    QCOMPARE(view.detailTitle()->text(), QStringLiteral("ed-02: Behind"));
    QTableWidget *states = view.dbtagStates();
    const auto counts = [states] {
        QMap<QString, QString> shown;
        for (int r = 0; r < states->rowCount(); ++r)
            shown.insert(states->item(r, 0)->text(), states->item(r, 1)->text());
        return shown;
    };
    QCOMPARE(states->rowCount(), 4);
    QCOMPARE(counts().value(QStringLiteral("done")), QStringLiteral("120"));
    QCOMPARE(counts().value(QStringLiteral("abnormal")), QStringLiteral("1"));
    QVERIFY(view.detailText()->text().contains(QStringLiteral("Live dbtag: DC20261206093000")));

    // A new list keeps the selection and follows it.
    QList<FleetEntry> next = sampleFleet();
    next[1].health->dbtagsByState.insert(QStringLiteral("done"), 121);
    view.showFleet(next);
    view.flush();
    QCOMPARE(view.selectedSource(), QStringLiteral("ed-02"));
    QCOMPARE(counts().value(QStringLiteral("done")), QStringLiteral("121"));
    QVERIFY(view.selectSource(QStringLiteral("ed-06")));
    QCOMPARE(states->rowCount(), 0);
    QVERIFY(view.detailText()->text().contains(QStringLiteral("No status report")));
}

void TestGuiHealth::monitorWindowFollowsARealReceiver()
{
    // A receiver, an ED sending to it, and a monitor window connected to the receiver: the
    // monitor shows the ED in its fleet with its health, and the receiver's own health.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString received = tmp.filePath(QStringLiteral("received"));
    QVERIFY(QDir().mkpath(received));
    QVERIFY(test::writeFile(data + QStringLiteral("/DC20240101000000/a.dat"), "payload"));
    QVERIFY(test::writeFile(data + QStringLiteral("/DC20240101000000/finished.parse"), {}));
    ReceiverWindow rw(receiverSetup(received, "secret"), m_log.get());
    rw.show();
    rw.start();
    QTRY_COMPARE_WITH_TIMEOUT(rw.service()->status().run, ReceiverStatus::Run::Listening,
                              timeout(5000));
    const quint16 port = rw.service()->status().port;
    SenderWindow sw(senderSetup(data, port, secretFile(tmp.path(), "secret"),
                                QStringLiteral("ed-mon")),
                    m_log.get());
    sw.start();
    // The receiver window's fleet has it, with the dataset it completed.
    QTRY_VERIFY_WITH_TIMEOUT(rw.fleetModel()->entryOf(QStringLiteral("ed-mon")), timeout(15000));
    QTRY_COMPARE_WITH_TIMEOUT(rw.datasetModel()->completedCount(), qint64(1), timeout(15000));

    MonitorWindow mw(monitorSetup(port, secretFile(tmp.path(), "secret")), m_log.get());
    mw.show();
    mw.start();
    MonitorView *view = mw.view();
    QTRY_VERIFY_WITH_TIMEOUT(view->fleetModel()->entryOf(QStringLiteral("ed-mon")), timeout(15000));
    QTRY_VERIFY_WITH_TIMEOUT(view->fleetModel()->entryOf(QStringLiteral("ed-mon"))->health,
                             timeout(15000));
    QTRY_VERIFY(view->notices()->notices().isEmpty()); // the link is ready
    QVERIFY(view->headline()->headline().word != QStringLiteral("Waiting"));
    view->flush();
    QVERIFY(view->selectSource(QStringLiteral("ed-mon")));
    QVERIFY2(view->detailTitle()->text().startsWith(QStringLiteral("ed-mon: ")),
             qPrintable(view->detailTitle()->text()));
    QTRY_VERIFY(view->dbtagStates()->rowCount() >= 1); // from the ED's own report
}

void TestGuiHealth::monitorWindowWrongSecret()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    ReceiverWindow rw(receiverSetup(tmp.filePath(QStringLiteral("received")), "secret"),
                      m_log.get());
    rw.start();
    QTRY_COMPARE_WITH_TIMEOUT(rw.service()->status().run, ReceiverStatus::Run::Listening,
                              timeout(5000));
    const QString wrong = secretFile(tmp.path(), "not the secret");
    MonitorWindow mw(monitorSetup(rw.service()->status().port, wrong), m_log.get());
    mw.show();
    mw.start();
    QTRY_VERIFY_WITH_TIMEOUT(mw.view()->notices()->text(NoticeKind::MonitorLink)
                                 .contains(QStringLiteral("wrong secret")),
                             timeout(15000));
    QVERIFY(mw.view()->notices()->text(NoticeKind::MonitorLink).contains(wrong));
    QCOMPARE(mw.view()->fleetModel()->rowCount(), 0);
}

void TestGuiHealth::datasetsFromDiskAreListed()
{
    DatasetModel model;
    QAbstractItemModelTester tester(&model, QAbstractItemModelTester::FailureReportingMode::QtTest);
    model.onDbtagCompleted(QStringLiteral("ed1"), QStringLiteral("DC3"), 3, 300);
    model.flush();
    const QDateTime t0 = QDateTime::currentDateTimeUtc().addDays(-2);
    DatasetRow a{QString(), QStringLiteral("ed1"), QStringLiteral("DC1"), 5, 500, t0};
    DatasetRow b{QString(), QStringLiteral("ed2"), QStringLiteral("DC2"), 6, 600, t0.addDays(1)};
    DatasetRow again{QString(), QStringLiteral("ed1"), QStringLiteral("DC3"), 3, 300, t0};
    model.addFromDisk({a, b, again});
    model.flush();
    QCOMPARE(model.rowCount(), 3); // DC3 once: completed in this run, newest
    QCOMPARE(model.index(0, DatasetModel::Dbtag).data().toString(), QStringLiteral("DC3"));
    QCOMPARE(model.index(1, DatasetModel::Dbtag).data().toString(), QStringLiteral("DC2"));
    QCOMPARE(model.index(2, DatasetModel::Dbtag).data().toString(), QStringLiteral("DC1"));
    QCOMPARE(model.completedCount(), qint64(1));
}

void TestGuiHealth::receiverWindowListsDatasetsFromDisk()
{
    // A dataset completed by an earlier run is listed by a new receiver window, read from the
    // manifests on disk (not only this run's completions).
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString received = tmp.filePath(QStringLiteral("received"));
    QVERIFY(QDir().mkpath(received));
    QVERIFY(test::writeFile(data + QStringLiteral("/DC20240101000000/a.dat"), "payload"));
    QVERIFY(test::writeFile(data + QStringLiteral("/DC20240101000000/finished.parse"), {}));
    quint16 port = 0;
    {
        ReceiverWindow first(receiverSetup(received, "secret"), m_log.get());
        first.start();
        QTRY_COMPARE_WITH_TIMEOUT(first.service()->status().run, ReceiverStatus::Run::Listening,
                                  timeout(5000));
        port = first.service()->status().port;
        SenderWindow sw(senderSetup(data, port, secretFile(tmp.path(), "secret")), m_log.get());
        sw.start();
        QTRY_COMPARE_WITH_TIMEOUT(first.datasetModel()->completedCount(), qint64(1),
                                  timeout(15000));
    }
    ReceiverWindow second(receiverSetup(received, "secret"), m_log.get());
    QSignalSpy loaded(&second, &ReceiverWindow::datasetsLoaded);
    QVERIFY(loaded.isValid());
    second.start();
    QVERIFY(loaded.wait(timeout(10000)));
    QCOMPARE(loaded.first().first().toInt(), 1);
    second.flushModels();
    DatasetModel *datasets = second.datasetModel();
    QCOMPARE(datasets->rowCount(), 1);
    QCOMPARE(datasets->index(0, DatasetModel::Dbtag).data().toString(),
             QStringLiteral("DC20240101000000"));
    QCOMPARE(datasets->index(0, DatasetModel::Source).data().toString(), QStringLiteral("ed-test"));
    QCOMPARE(datasets->index(0, DatasetModel::Files).data().toInt(), 1);
    QCOMPARE(datasets->completedCount(), qint64(0)); // none completed in this run
    // And the fleet registry kept the ED across the restart.
    QTRY_VERIFY(second.fleetModel()->entryOf(QStringLiteral("ed-test")));
}

void TestGuiHealth::startupWarnsNothing()
{
    // Issue 17: every receiver window started with "QCommandLineParser: option not defined:
    // "to"". Each role parses its options without a warning.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString ini = tmp.filePath(QStringLiteral("isocket.ini"));
    QVERIFY(test::writeFile(ini, "# empty\n"));
    const QString secret = secretFile(tmp.path(), "secret");
    QTest::failOnWarning(QRegularExpression(QStringLiteral("QCommandLineParser")));
    const Startup rx = resolveStartup({QStringLiteral("isocket-gui"), QStringLiteral("--role"),
                                       QStringLiteral("receiver"), QStringLiteral("--config"), ini,
                                       QStringLiteral("--root"), tmp.filePath(QStringLiteral("in")),
                                       QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0"),
                                       QStringLiteral("--secret-file"), secret});
    QCOMPARE(rx.exitCode, -1);
    QCOMPARE(rx.role, Startup::Role::Receiver);
    const Startup tx = resolveStartup({QStringLiteral("isocket-gui"), QStringLiteral("--role=sender"),
                                       QStringLiteral("--config"), ini, QStringLiteral("--root"),
                                       tmp.path(), QStringLiteral("--to"),
                                       QStringLiteral("127.0.0.1:4000"),
                                       QStringLiteral("--secret-file"), secret});
    QCOMPARE(tx.exitCode, -1);
    QCOMPARE(tx.role, Startup::Role::Sender);
    QCOMPARE(tx.sender.sender.port, quint16(4000));
    const Startup mon = resolveStartup({QStringLiteral("isocket-gui"), QStringLiteral("--role"),
                                        QStringLiteral("monitor"), QStringLiteral("--config"), ini,
                                        QStringLiteral("--to"), QStringLiteral("127.0.0.1:4001"),
                                        QStringLiteral("--secret-file"), secret});
    QCOMPARE(mon.exitCode, -1);
    QCOMPARE(mon.role, Startup::Role::Monitor);
    QCOMPARE(mon.monitor.link.port, quint16(4001));
    QCOMPARE(mon.monitor.receiverAddress(), QStringLiteral("127.0.0.1:4001"));
}

void TestGuiHealth::screenshots()
{
    const QString out = qEnvironmentVariable("ISOCKET_SCREENSHOTS");
    if (out.isEmpty())
        QSKIP("set ISOCKET_SCREENSHOTS=<dir> to render the windows to PNG");
    QVERIFY(QDir().mkpath(out));
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());

    // Value-driven sender windows, one per failing state, with a few dbtags.
    const QString secret = secretFile(tmp.path(), "s");
    const auto senderIn = [&](EdStatus s, const QString &name) {
        SenderWindow sw(senderSetup(tmp.path(), 12345, secret, QStringLiteral("ed-07")),
                        m_log.get());
        s.receiver = sw.agent()->setup().receiverAddress();
        sw.resize(1280, 820);
        sw.show();
        QList<DbtagStatus> dbtags;
        for (int i = 0; i < 4; ++i) {
            DbtagStatus d;
            d.name = QStringLiteral("DC2026120609%1000").arg(i);
            d.path = QStringLiteral("/datas/") + d.name;
            d.state = i == 3 ? DbtagState::Live : i == 2 ? DbtagState::Closed : DbtagState::Done;
            d.files = i >= 2 ? 40 : 0;
            d.sent = i == 2 ? 12 : 0;
            d.bytes = d.files * (3ll << 20);
            d.bytesSent = d.sent * (3ll << 20);
            dbtags << d;
        }
        Q_EMIT sw.agent()->dbtagsChanged(dbtags);
        Q_EMIT sw.agent()->statusChanged(s);
        QTRY_COMPARE(sw.headline()->headline().text, s.health.reason);
        QTRY_COMPARE(sw.dbtagModel()->rowCount(), 4);
        sw.flushModels();
        QVERIFY(grabTo(&sw, out + QLatin1Char('/') + name));
    };
    senderIn(edState(NoticeKind::ReceiverDown), QStringLiteral("sender-receiver-down.png"));
    senderIn(edState(NoticeKind::WrongSecret), QStringLiteral("sender-wrong-secret.png"));
    senderIn(edState(NoticeKind::ReceiverRefusing), QStringLiteral("sender-disk-full.png"));
    senderIn(edState(NoticeKind::Paused), QStringLiteral("sender-paused.png"));
    senderIn(edState(NoticeKind::RootMissing), QStringLiteral("sender-root-missing.png"));
    senderIn(running(healthOf(Verdict::Ok, QStringLiteral("Up to date"))),
             QStringLiteral("sender-up-to-date.png"));

    // The receiver window with the fleet, and with its own disk full.
    {
        ReceiverWindow rw(receiverSetup(tmp.path(), "secret"), m_log.get());
        rw.resize(1280, 820);
        rw.show();
        ReceiverStatus s;
        s.run = ReceiverStatus::Run::Listening;
        s.address = QStringLiteral("10.0.0.1:12345");
        s.root = QStringLiteral("/srv/isocket");
        s.health.at = QDateTime::currentDateTimeUtc();
        s.health.verdict = Verdict::Ok;
        s.health.reason = QStringLiteral("Listening on 10.0.0.1:12345, 4 EDs connected");
        s.health.listening = true;
        s.health.freeBytes = 412ll << 30;
        s.health.totalBytes = 1000ll << 30;
        s.health.reserveBytes = 2ll << 30;
        Q_EMIT rw.service()->statusChanged(s);
        rw.fleetModel()->setFleet(sampleFleet());
        QTRY_COMPARE(rw.headline()->headline().text, s.health.reason);
        rw.flushModels();
        QVERIFY(grabTo(&rw, out + QStringLiteral("/receiver-fleet.png")));
        s.health.verdict = Verdict::Failing;
        s.health.reason = QStringLiteral("Disk full since 22:25: 1.2 GiB free, reserve 2.0 GiB");
        s.health.freeBytes = qint64(1.2 * (1 << 30));
        s.health.diskFull = true;
        Q_EMIT rw.service()->statusChanged(s);
        QTRY_VERIFY(rw.notices()->has(NoticeKind::DiskFull));
        rw.flushModels();
        QVERIFY(grabTo(&rw, out + QStringLiteral("/receiver-disk-full.png")));
    }

    // The monitor's fleet, one ED selected.
    {
        MonitorView view(QStringLiteral("drms.example:12345"), QStringLiteral("/etc/isocket/secret"));
        view.resize(1280, 760);
        view.show();
        LinkStatus ready;
        ready.state = LinkState::Ready;
        view.showLink(ready);
        ReceiverHealth rh;
        rh.verdict = Verdict::Ok;
        rh.reason = QStringLiteral("Listening on drms.example:12345, 4 EDs connected");
        rh.address = QStringLiteral("drms.example:12345");
        rh.listening = true;
        rh.freeBytes = 412ll << 30;
        rh.totalBytes = 1000ll << 30;
        rh.reserveBytes = 2ll << 30;
        view.showReceiver(rh);
        view.showFleet(sampleFleet());
        view.flush();
        QVERIFY(view.selectSource(QStringLiteral("ed-02")));
        QVERIFY(grabTo(&view, out + QStringLiteral("/monitor-fleet.png")));
    }
    {
        MonitorView view(QStringLiteral("drms.example:12345"), QStringLiteral("/etc/isocket/secret"));
        view.resize(1280, 500);
        view.show();
        LinkStatus refused;
        refused.state = LinkState::Refused;
        refused.detail = QStringLiteral("the shared secrets differ (auth-failed)");
        view.showLink(refused);
        QVERIFY(grabTo(&view, out + QStringLiteral("/monitor-wrong-secret.png")));
    }
}

QTEST_MAIN(TestGuiHealth)
#include "tst_gui_health.moc"
