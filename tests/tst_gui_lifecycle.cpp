// The operator windows' life cycle (issue 17), offscreen, with the real engine on 127.0.0.1:
// - closing and quitting: the decision (hide to the tray, ask, quit now) for every case; Quit
//   asks while files are queued (sender) or an ED is connected (receiver), naming how many,
//   and not when idle; without a tray closing is quitting; with one, closing hides to it and
//   says once that isocket keeps running and how to quit;
// - desktop notifications: entering Failing/Degraded and the recovery, rate-limited, a
//   flapping state collapsed; a sender that cannot start says so in the tray;
// - the icons: the SVG application icon loads (Qt's SVG plugins are there), the sender's and
//   the receiver's tray icons differ;
// - start-up: the start dialog's Browse buttons, a data root that does not exist refused
//   naming the field; a receiver whose port is taken and a sender whose root is missing show a
//   banner (not "Starting", not a long red line) and a log line; "Change settings…" in the
//   banner reopens the dialog and starts a window with the new settings;
// - the keyboard: Tab leaves every table, and no two mnemonics of one window collide.
// With ISOCKET_SCREENSHOTS=<dir>, screenshots() renders the tray icons, a receiver whose port
// is taken and the start dialog refusing a missing data root (docs/screenshots/README.md).

#include "core/config.h"
#include "gui/closepolicy.h"
#include "gui/healthwidgets.h"
#include "gui/logcapture.h"
#include "gui/logmodel.h"
#include "gui/monitorwindow.h"
#include "gui/notices.h"
#include "gui/notificationpolicy.h"
#include "gui/peermodel.h"
#include "gui/receiverwindow.h"
#include "gui/senderwindow.h"
#include "gui/startup.h"
#include "gui/startupdialog.h"
#include "gui/trayicon.h"
#include "gui/windowlifecycle.h"
#include "tests/testlib/testtree.h"

#include <QAbstractButton>
#include <QAbstractItemView>
#include <QAction>
#include <QApplication>
#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QGroupBox>
#include <QImageReader>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QPainter>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QSystemTrayIcon>
#include <QTabBar>
#include <QTableView>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>
#include <QTimeZone>

#include <chrono>
#include <memory>

using namespace isocket;
using namespace isocket::gui;
using namespace std::chrono_literals;

Q_DECLARE_METATYPE(isocket::gui::CloseRequest)
Q_DECLARE_METATYPE(isocket::gui::CloseDecision)
Q_DECLARE_METATYPE(isocket::gui::PendingWork)

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

Config senderConfig(const QString &root, quint16 port, const QString &secretPath)
{
    Config c;
    c.dataRoot = root;
    c.server = QStringLiteral("127.0.0.1");
    c.port = port;
    c.source = QStringLiteral("ed-life");
    c.jobs = 2;
    c.settleMs = 200;
    c.retryIntervalMs = 200;
    c.retryMaxMs = 1000;
    c.secretFile = secretPath;
    return c;
}

EdAgentSetup senderSetup(const QString &root, quint16 port, const QString &secretPath)
{
    auto s = EdAgentSetup::fromConfig(senderConfig(root, port, secretPath));
    Q_ASSERT(s.ok());
    return s.value();
}

ReceiverSetup receiverSetup(const QString &root, const QByteArray &secret, quint16 port = 0)
{
    ReceiverSetup r;
    r.options = ReceiverOptions{root, secret, 0};
    r.address = QHostAddress(QHostAddress::LocalHost);
    r.port = port;
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

// A closed dbtag of `files` small files under `root`.
bool closedDbtag(const QString &root, const QString &name, int files)
{
    for (int i = 0; i < files; ++i)
        if (!test::writeFile(QStringLiteral("%1/%2/f%3.dat").arg(root, name).arg(i), "payload"))
            return false;
    return test::writeFile(QStringLiteral("%1/%2/finished.parse").arg(root, name), QByteArray());
}

QMessageBox *quitQuestionOf(QWidget *window)
{
    return window->findChild<QMessageBox *>(QStringLiteral("quitQuestion"));
}

// Clicks the button of `box` whose text starts with `prefix` (mnemonics dropped).
bool answer(QMessageBox *box, const QString &prefix)
{
    for (QAbstractButton *b : box->buttons()) {
        if (b->text().remove(QLatin1Char('&')).startsWith(prefix)) {
            b->click();
            return true;
        }
    }
    return false;
}

bool logHas(const LogModel *log, const QString &text)
{
    for (int r = 0; r < log->rowCount(); ++r)
        if (log->index(r, LogModel::Message).data().toString().contains(text))
            return true;
    return false;
}

// The mnemonic letter of `text` ("T&ransfers" → 'r'), or a null char.
QChar mnemonicOf(const QString &text)
{
    for (int i = 0; i + 1 < text.size(); ++i) {
        if (text.at(i) != QLatin1Char('&'))
            continue;
        if (text.at(i + 1) == QLatin1Char('&')) { // "&&": a literal ampersand
            ++i;
            continue;
        }
        return text.at(i + 1).toLower();
    }
    return QChar();
}

// Every Alt+letter of `window` that works at one time, with what carries it: the menu bar's
// titles, the buttons, group boxes, tabs, and labels with a buddy that are visible now (a page
// of a stack that is not shown does not count), plus `extra` (captions that may appear later,
// as a notice's button).
QMultiMap<QChar, QString> windowMnemonics(QWidget *window, const QStringList &extra = {})
{
    QMultiMap<QChar, QString> out;
    auto add = [&](const QString &text, const QString &what) {
        const QChar c = mnemonicOf(text);
        if (!c.isNull())
            out.insert(c, what + QStringLiteral(" \"") + text + QLatin1Char('"'));
    };
    for (QWidget *w : window->findChildren<QWidget *>()) {
        if (w->window() != window || !w->isVisibleTo(window))
            continue;
        if (auto *bar = qobject_cast<QMenuBar *>(w)) {
            for (QAction *a : bar->actions())
                add(a->text(), QStringLiteral("menu"));
        } else if (auto *b = qobject_cast<QAbstractButton *>(w)) {
            if (!qobject_cast<QTabBar *>(b->parentWidget())) // a tab bar's scroll buttons
                add(b->text(), QStringLiteral("button"));
        } else if (auto *l = qobject_cast<QLabel *>(w)) {
            if (l->buddy())
                add(l->text(), QStringLiteral("label"));
        } else if (auto *g = qobject_cast<QGroupBox *>(w)) {
            add(g->title(), QStringLiteral("group"));
        } else if (auto *t = qobject_cast<QTabBar *>(w)) {
            for (int i = 0; i < t->count(); ++i)
                add(t->tabText(i), QStringLiteral("tab"));
        }
    }
    for (const QString &e : extra)
        add(e, QStringLiteral("notice button"));
    return out;
}

// The mnemonics used twice in `m`, in words; empty when none.
QString duplicates(const QMultiMap<QChar, QString> &m)
{
    QStringList out;
    for (const QChar &c : m.uniqueKeys()) {
        const QStringList who = m.values(c);
        if (who.size() > 1)
            out << QStringLiteral("Alt+%1: %2")
                       .arg(c.toUpper())
                       .arg(who.join(QStringLiteral(", ")));
    }
    return out.join(QStringLiteral("; "));
}

// Within each menu of the menu bar (and the tray menu's actions), mnemonics are their own.
QString menuDuplicates(QWidget *window)
{
    QStringList out;
    for (QMenu *menu : window->findChildren<QMenu *>()) {
        QMultiMap<QChar, QString> m;
        for (QAction *a : menu->actions()) {
            const QChar c = mnemonicOf(a->text());
            if (!c.isNull())
                m.insert(c, a->text());
        }
        if (const QString d = duplicates(m); !d.isEmpty())
            out << menu->title() + QStringLiteral(": ") + d;
    }
    return out.join(QStringLiteral("; "));
}

QStringList captionsOf(const QList<Notice> &notices)
{
    QStringList out;
    for (const Notice &n : notices)
        if (!n.actionText.isEmpty() && !out.contains(n.actionText))
            out << n.actionText;
    return out;
}

// Every action caption a sender's notice can have: a snapshot with every trouble at once, a
// failed one, and a paused one.
QStringList senderNoticeCaptions()
{
    EdStatus s;
    s.run = EdStatus::Run::Running;
    s.paused = true;
    s.health.at = QDateTime::currentDateTimeUtc();
    s.health.authFailing = true;
    s.health.refusal = QStringLiteral("disk full");
    s.health.localTrouble = QStringLiteral("data root missing");
    QStringList out = captionsOf(edNotices(s, QString(), 1));
    EdStatus failed;
    failed.run = EdStatus::Run::Failed;
    failed.error = QStringLiteral("x");
    out << captionsOf(edNotices(failed, QString(), 0));
    out.removeDuplicates();
    return out;
}

QStringList receiverNoticeCaptions()
{
    ReceiverStatus failed;
    failed.run = ReceiverStatus::Run::Failed;
    failed.error = QStringLiteral("x");
    return captionsOf(receiverNotices(failed));
}

} // namespace

class TestGuiLifecycle : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void cleanup();
    void closeDecision_data();
    void closeDecision();
    void senderQuitAsksWhileFilesWait();
    void idleSenderQuitsWithoutQuestion();
    void closeWithoutTrayIsQuit();
    void closeHidesToTrayAndSaysSoOnce();
    void receiverQuitAsksWhileAnEdIsConnected();
    void notificationsAreRateLimited();
    void notificationSaysRecovery();
    void flappingIsCollapsed();
    void senderThatCannotStartNotifies();
    void svgIconLoads();
    void trayIconsDifferByRole();
    void startDialogBrowsesAndRefusesMissingRoot();
    void receiverPortInUseShowsBanner();
    void senderOnMissingRootShowsBanner();
    void changeSettingsFromTheBanner();
    void tabLeavesEveryTable();
    void mnemonicsDoNotCollide();
    void screenshots();

private:
    int timeout(int ms) const { return ms * test::timeoutFactor(); }
    std::unique_ptr<LogCapture> m_capture;
    std::unique_ptr<LogModel> m_log;
};

void TestGuiLifecycle::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true); // QSettings away from the user's
    QApplication::setOrganizationName(QStringLiteral("isocket-test"));
    QApplication::setApplicationName(QStringLiteral("tst_gui_lifecycle"));
    m_capture = std::make_unique<LogCapture>();
    m_log = std::make_unique<LogModel>();
    connect(m_capture.get(), &LogCapture::messageLogged, m_log.get(), &LogModel::append);
    // Offscreen there is no system tray: what the windows do then is what most tests see.
    QVERIFY(!QSystemTrayIcon::isSystemTrayAvailable());
}

void TestGuiLifecycle::cleanup()
{
    TrayIcon::setAvailableForTesting(false);
}

void TestGuiLifecycle::closeDecision_data()
{
    QTest::addColumn<CloseRequest>("request");
    QTest::addColumn<bool>("tray");
    QTest::addColumn<PendingWork>("pending");
    QTest::addColumn<CloseDecision>("expected");
    const PendingWork idle;
    const PendingWork queued{3, 0, 0, 0};
    const PendingWork inFlight{0, 2, 0, 0};
    const PendingWork ed{0, 0, 1, 0};
    const PendingWork incoming{0, 0, 0, 4};
    QTest::newRow("close, tray, idle")
        << CloseRequest::Close << true << idle << CloseDecision::QuitNow;
    QTest::newRow("close, tray, queued")
        << CloseRequest::Close << true << queued << CloseDecision::Hide;
    QTest::newRow("close, tray, in flight")
        << CloseRequest::Close << true << inFlight << CloseDecision::Hide;
    QTest::newRow("close, tray, ED") << CloseRequest::Close << true << ed << CloseDecision::Hide;
    QTest::newRow("close, no tray, queued")
        << CloseRequest::Close << false << queued << CloseDecision::Ask;
    QTest::newRow("close, no tray, idle")
        << CloseRequest::Close << false << idle << CloseDecision::QuitNow;
    QTest::newRow("quit, tray, queued")
        << CloseRequest::Quit << true << queued << CloseDecision::Ask;
    QTest::newRow("quit, tray, incoming")
        << CloseRequest::Quit << true << incoming << CloseDecision::Ask;
    QTest::newRow("quit, no tray, in flight")
        << CloseRequest::Quit << false << inFlight << CloseDecision::Ask;
    QTest::newRow("quit, tray, idle")
        << CloseRequest::Quit << true << idle << CloseDecision::QuitNow;
    QTest::newRow("quit, no tray, idle")
        << CloseRequest::Quit << false << idle << CloseDecision::QuitNow;
}

void TestGuiLifecycle::closeDecision()
{
    QFETCH(CloseRequest, request);
    QFETCH(bool, tray);
    QFETCH(PendingWork, pending);
    QFETCH(CloseDecision, expected);
    QCOMPARE(decideClose(request, tray, pending), expected);
}

void TestGuiLifecycle::senderQuitAsksWhileFilesWait()
{
    // No receiver: the files of a closed dbtag stay queued.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    QVERIFY(closedDbtag(data, QStringLiteral("DC20260101000000"), 3));
    SenderWindow sw(senderSetup(data, deadPort(), secretFile(tmp.path(), "s")), m_log.get());
    QSignalSpy quit(sw.lifecycle(), &WindowLifecycle::quitConfirmed);
    QVERIFY(quit.isValid());
    sw.show();
    sw.start();
    QTRY_COMPARE_WITH_TIMEOUT(sw.agent()->status().queued, 3, timeout(10000));
    QTRY_COMPARE(sw.lifecycle()->decision(CloseRequest::Quit), CloseDecision::Ask);

    // Ctrl+Q's action: a question naming the files; "Keep running" keeps it running.
    sw.quitAction()->trigger();
    QMessageBox *box = quitQuestionOf(&sw);
    QVERIFY(box);
    QVERIFY(box->isVisible());
    QVERIFY2(box->text().contains(QStringLiteral("3 file(s) queued")), qPrintable(box->text()));
    QVERIFY(answer(box, QStringLiteral("Keep running")));
    QTRY_VERIFY(!quitQuestionOf(&sw));
    QVERIFY(sw.isVisible());
    QCOMPARE(quit.count(), 0);
    QCOMPARE(sw.agent()->status().run, EdStatus::Run::Running);

    // Asked again, the answer "stop" quits: the window closes and the application is told.
    sw.quitAction()->trigger();
    box = quitQuestionOf(&sw);
    QVERIFY(box);
    QVERIFY(answer(box, QStringLiteral("Stop sending")));
    QTRY_COMPARE(quit.count(), 1);
    QTRY_VERIFY(!sw.isVisible());
}

void TestGuiLifecycle::idleSenderQuitsWithoutQuestion()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    QVERIFY(QDir().mkpath(data));
    SenderWindow sw(senderSetup(data, deadPort(), secretFile(tmp.path(), "s")), m_log.get());
    QSignalSpy quit(sw.lifecycle(), &WindowLifecycle::quitConfirmed);
    sw.show();
    sw.start();
    QTRY_COMPARE_WITH_TIMEOUT(sw.agent()->status().run, EdStatus::Run::Running, timeout(5000));
    QCOMPARE(sw.lifecycle()->decision(CloseRequest::Quit), CloseDecision::QuitNow);
    sw.quitAction()->trigger();
    QCOMPARE(quit.count(), 1);
    QVERIFY(!quitQuestionOf(&sw));
    QVERIFY(!sw.isVisible());
}

void TestGuiLifecycle::closeWithoutTrayIsQuit()
{
    // Offscreen has no tray: the window's close button asks as Quit does, and does not close.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    QVERIFY(closedDbtag(data, QStringLiteral("DC20260101000000"), 2));
    SenderWindow sw(senderSetup(data, deadPort(), secretFile(tmp.path(), "s")), m_log.get());
    QVERIFY(!sw.trayIcon());
    QSignalSpy quit(sw.lifecycle(), &WindowLifecycle::quitConfirmed);
    sw.show();
    sw.start();
    QTRY_COMPARE_WITH_TIMEOUT(sw.agent()->status().queued, 2, timeout(10000));
    QTRY_COMPARE(sw.lifecycle()->decision(CloseRequest::Close), CloseDecision::Ask);
    QVERIFY(!sw.close()); // the event is ignored: a question instead
    QVERIFY(sw.isVisible());
    QMessageBox *box = quitQuestionOf(&sw);
    QVERIFY(box);
    QVERIFY(box->text().contains(QStringLiteral("2 file(s) queued")));
    QVERIFY(answer(box, QStringLiteral("Keep running")));
    QTRY_VERIFY(!quitQuestionOf(&sw));
    QCOMPARE(quit.count(), 0);
    QVERIFY(sw.isVisible());
}

void TestGuiLifecycle::closeHidesToTrayAndSaysSoOnce()
{
    TrayIcon::setAvailableForTesting(true); // the icon is made; the platform shows nothing
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    QVERIFY(closedDbtag(data, QStringLiteral("DC20260101000000"), 2));
    SenderWindow sw(senderSetup(data, deadPort(), secretFile(tmp.path(), "s")), m_log.get());
    QVERIFY(sw.trayIcon());
    QSignalSpy quit(sw.lifecycle(), &WindowLifecycle::quitConfirmed);
    QSignalSpy messages(sw.trayIcon(), &TrayIcon::messageShown);
    sw.show();
    sw.start();
    QTRY_COMPARE_WITH_TIMEOUT(sw.agent()->status().queued, 2, timeout(10000));
    QTRY_COMPARE(sw.lifecycle()->decision(CloseRequest::Close), CloseDecision::Hide);

    QVERIFY(!sw.close());
    QVERIFY(!sw.isVisible());
    QVERIFY(!quitQuestionOf(&sw));
    QCOMPARE(quit.count(), 0);
    QCOMPARE(sw.agent()->status().run, EdStatus::Run::Running);
    const auto keeps = [&] {
        int n = 0;
        for (const QList<QVariant> &m : std::as_const(messages))
            n += m.at(0).toString() == QLatin1String("isocket keeps running");
        return n;
    };
    QCOMPARE(keeps(), 1);
    const QList<QVariant> said = messages.constFirst();
    QVERIFY2(said.at(1).toString().contains(QStringLiteral("Quit")),
             qPrintable(said.at(1).toString()));
    QVERIFY(said.at(1).toString().contains(QStringLiteral("2 file(s) queued")));

    // Once only.
    sw.show();
    QVERIFY(!sw.close());
    QVERIFY(!sw.isVisible());
    QCOMPARE(keeps(), 1);

    // Quit from the tray asks even with the window hidden: the window comes back to ask.
    sw.quitAction()->trigger();
    QMessageBox *box = quitQuestionOf(&sw);
    QVERIFY(box);
    QVERIFY(sw.isVisible());
    QVERIFY(answer(box, QStringLiteral("Stop sending")));
    QTRY_COMPARE(quit.count(), 1);
}

void TestGuiLifecycle::receiverQuitAsksWhileAnEdIsConnected()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString received = tmp.filePath(QStringLiteral("received"));
    QVERIFY(QDir().mkpath(data));
    const QByteArray secret("life secret");
    ReceiverWindow rw(receiverSetup(received, secret), m_log.get());
    QSignalSpy quit(rw.lifecycle(), &WindowLifecycle::quitConfirmed);
    rw.show();
    rw.start();
    QTRY_COMPARE_WITH_TIMEOUT(rw.service()->status().run, ReceiverStatus::Run::Listening,
                              timeout(5000));
    QCOMPARE(rw.lifecycle()->decision(CloseRequest::Quit), CloseDecision::QuitNow);

    {
        SenderWindow sw(
            senderSetup(data, rw.service()->status().port, secretFile(tmp.path(), secret)),
            m_log.get());
        sw.start();
        QTRY_COMPARE_WITH_TIMEOUT(rw.peerModel()->connectedSources(), 1, timeout(10000));
        rw.quitAction()->trigger();
        QMessageBox *box = quitQuestionOf(&rw);
        QVERIFY(box);
        QVERIFY2(box->text().contains(QStringLiteral("1 ED(s) connected")),
                 qPrintable(box->text()));
        QVERIFY(answer(box, QStringLiteral("Keep running")));
        QTRY_VERIFY(!quitQuestionOf(&rw));
        QCOMPARE(quit.count(), 0);
        QVERIFY(rw.isVisible());
    }
    // The ED gone, nothing is lost by quitting: no question.
    QTRY_COMPARE_WITH_TIMEOUT(rw.peerModel()->connectedSources(), 0, timeout(10000));
    QTRY_COMPARE(rw.lifecycle()->decision(CloseRequest::Quit), CloseDecision::QuitNow);
    rw.quitAction()->trigger();
    QCOMPARE(quit.count(), 1);
    QVERIFY(!quitQuestionOf(&rw));
    QVERIFY(!rw.isVisible());
}

void TestGuiLifecycle::notificationsAreRateLimited()
{
    NotificationPolicy p(QStringLiteral("isocket sender"), 60s);
    const QDateTime t0 = QDateTime::fromSecsSinceEpoch(1'800'000'000, Qt::UTC);
    // OK and Behind are not news.
    QVERIFY(!p.update(Verdict::Ok, QStringLiteral("Up to date"), t0));
    QVERIFY(!p.update(Verdict::Behind, QStringLiteral("Behind: 20 files"), t0.addSecs(1)));

    // Failing: said with the reason.
    auto m = p.update(Verdict::Failing, QStringLiteral("Receiver down since 10:00"), t0.addSecs(2));
    QVERIFY(m);
    QCOMPARE(m->kind, TrayMessage::Kind::Failing);
    QCOMPARE(m->title, QStringLiteral("isocket sender: failing"));
    QCOMPARE(m->text, QStringLiteral("Receiver down since 10:00"));
    // The same state with another reason is not news.
    QVERIFY(!p.update(Verdict::Failing, QStringLiteral("Receiver disk full"), t0.addSecs(5)));
    // Better but still bad (Degraded after Failing): nothing.
    QVERIFY(!p.update(Verdict::Degraded, QStringLiteral("3 files failed"), t0.addSecs(6)));
    QVERIFY(!p.nextCheck().isValid());
    // Worse again within the minute: held (one failing message a minute at most)...
    QVERIFY(!p.update(Verdict::Failing, QStringLiteral("Wrong secret"), t0.addSecs(10)));
    // ... it was said already (the last word was "failing"): nothing held either.
    QVERIFY(!p.nextCheck().isValid());

    // Degraded from OK: its own kind.
    NotificationPolicy q(QStringLiteral("isocket receiver"), 60s);
    m = q.update(Verdict::Degraded, QStringLiteral("Paused"), t0);
    QVERIFY(m);
    QCOMPARE(m->kind, TrayMessage::Kind::Degraded);
    QCOMPARE(m->title, QStringLiteral("isocket receiver: degraded"));
    // Degraded → Failing is worse: said at once (another kind).
    m = q.update(Verdict::Failing, QStringLiteral("Disk full"), t0.addSecs(1));
    QVERIFY(m);
    QCOMPARE(m->kind, TrayMessage::Kind::Failing);
}

void TestGuiLifecycle::notificationSaysRecovery()
{
    NotificationPolicy p(QStringLiteral("isocket sender"), 60s);
    const QDateTime t0 = QDateTime::fromSecsSinceEpoch(1'800'000'000, Qt::UTC);
    QVERIFY(p.update(Verdict::Failing, QStringLiteral("Receiver down"), t0));
    // Back: Behind (the backlog moves) is a recovery, said with its reason.
    auto m = p.update(Verdict::Behind, QStringLiteral("Behind: 400 files"), t0.addSecs(120));
    QVERIFY(m);
    QCOMPARE(m->kind, TrayMessage::Kind::Recovered);
    QCOMPARE(m->title, QStringLiteral("isocket sender: back to normal"));
    QCOMPARE(m->text, QStringLiteral("Behind: 400 files"));
    // Then OK: nothing more (the recovery was said).
    QVERIFY(!p.update(Verdict::Ok, QStringLiteral("Up to date"), t0.addSecs(130)));
    // A recovery without a failure said before it is not news.
    NotificationPolicy q(QStringLiteral("isocket sender"), 60s);
    QVERIFY(!q.update(Verdict::Ok, QStringLiteral("Up to date"), t0));
}

void TestGuiLifecycle::flappingIsCollapsed()
{
    // A link that fails and comes back every few seconds for two minutes: one failing, one
    // recovery, then at most one of each kind a minute, and the last word is what stands.
    NotificationPolicy p(QStringLiteral("isocket sender"), 60s);
    const QDateTime t0 = QDateTime::fromSecsSinceEpoch(1'800'000'000, Qt::UTC);
    QList<TrayMessage> said;
    for (int s = 0; s < 120; s += 5) {
        const bool down = (s / 5) % 2 == 0;
        if (auto m = p.update(down ? Verdict::Failing : Verdict::Ok,
                              down ? QStringLiteral("down") : QStringLiteral("up"), t0.addSecs(s)))
            said << *m;
    }
    // The loop ended on "up" (s = 115); 24 transitions gave at most 2 per kind.
    QVERIFY2(said.size() <= 4, qPrintable(QString::number(said.size())));
    QCOMPARE(said.first().kind, TrayMessage::Kind::Failing);
    QCOMPARE(said.at(1).kind, TrayMessage::Kind::Recovered);
    int failing = 0;
    for (const TrayMessage &m : std::as_const(said))
        failing += m.kind == TrayMessage::Kind::Failing;
    QVERIFY(failing <= 2);
    // Whatever is held is said once its minute is over, if it still stands.
    if (said.last().kind != TrayMessage::Kind::Recovered) {
        QVERIFY(p.nextCheck().isValid());
        auto m = p.tick(p.nextCheck());
        QVERIFY(m);
        QCOMPARE(m->kind, TrayMessage::Kind::Recovered);
    }
    QVERIFY(!p.tick(t0.addSecs(600)));

    // Held, then over before its time: nothing said at the time.
    NotificationPolicy q(QStringLiteral("isocket sender"), 60s);
    QVERIFY(q.update(Verdict::Failing, QStringLiteral("down"), t0));
    QVERIFY(q.update(Verdict::Ok, QStringLiteral("up"), t0.addSecs(1)));
    QVERIFY(!q.update(Verdict::Failing, QStringLiteral("down"), t0.addSecs(2))); // held
    QCOMPARE(q.nextCheck(), t0.addSecs(60));
    QVERIFY(!q.update(Verdict::Ok, QStringLiteral("up"), t0.addSecs(3))); // over: said already
    QVERIFY(!q.nextCheck().isValid());
    QVERIFY(!q.tick(t0.addSecs(61)));
    // Held and still standing: said when its minute is over.
    QVERIFY(!q.update(Verdict::Failing, QStringLiteral("down again"), t0.addSecs(4)));
    QVERIFY(!q.tick(t0.addSecs(59)));
    auto m = q.tick(t0.addSecs(60));
    QVERIFY(m);
    QCOMPARE(m->kind, TrayMessage::Kind::Failing);
    QCOMPARE(m->text, QStringLiteral("down again"));
}

void TestGuiLifecycle::senderThatCannotStartNotifies()
{
    TrayIcon::setAvailableForTesting(true);
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString missing = tmp.filePath(QStringLiteral("no-such-root"));
    SenderWindow sw(senderSetup(missing, deadPort(), secretFile(tmp.path(), "s")), m_log.get());
    QVERIFY(sw.trayIcon());
    QSignalSpy messages(sw.trayIcon(), &TrayIcon::messageShown);
    sw.start();
    QTRY_VERIFY_WITH_TIMEOUT(!messages.isEmpty(), timeout(5000));
    QCOMPARE(messages.first().at(0).toString(), QStringLiteral("isocket sender: failing"));
    QVERIFY2(messages.first().at(1).toString().startsWith(QStringLiteral("Cannot start")),
             qPrintable(messages.first().at(1).toString()));
}

void TestGuiLifecycle::svgIconLoads()
{
    // The SVG image plugin (libqt6svg6) is there: the icon is the application's, not the
    // painted fallback arrow.
    QVERIFY2(QImageReader::supportedImageFormats().contains("svg"),
             "Qt's SVG image plugin is missing (libqt6svg6)");
    const QImage svg = QImageReader(QStringLiteral(":/isocket/isocket.svg")).read();
    QVERIFY(!svg.isNull());
    const QIcon icon = appIcon();
    QVERIFY(!icon.isNull());
    const QImage drawn = icon.pixmap(32, 32).toImage();
    QVERIFY(!drawn.isNull());
    QVERIFY(drawn != badgeIcon(Badge::Sending).pixmap(32, 32).toImage());
    // Its blue background shows in the middle of the left edge.
    const QColor edge = drawn.pixelColor(drawn.width() / 8, drawn.height() / 2);
    QVERIFY2(edge.blue() > 120 && edge.red() < 90, qPrintable(edge.name()));
}

void TestGuiLifecycle::trayIconsDifferByRole()
{
    for (Badge b : {Badge::Connected, Badge::Failed, Badge::Waiting}) {
        const QImage s = TrayIcon::render(TrayRole::Sender, b, 32);
        const QImage r = TrayIcon::render(TrayRole::Receiver, b, 32);
        QCOMPARE(s.size(), QSize(32, 32));
        QCOMPARE(r.size(), QSize(32, 32));
        QVERIFY(s != r);
        // The role's mark is in the upper left quarter: that is where they differ.
        QVERIFY(s.copy(0, 0, 16, 16) != r.copy(0, 0, 16, 16));
        // The state's badge is the same on both.
        QCOMPARE(s.copy(20, 20, 12, 12), r.copy(20, 20, 12, 12));
    }
    // And the state shows: two states of one role differ.
    QVERIFY(TrayIcon::render(TrayRole::Sender, Badge::Connected, 32) !=
            TrayIcon::render(TrayRole::Sender, Badge::Failed, 32));

    // The windows' tray icons are those.
    TrayIcon::setAvailableForTesting(true);
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    QVERIFY(QDir().mkpath(tmp.filePath(QStringLiteral("data"))));
    SenderWindow sw(
        senderSetup(tmp.filePath(QStringLiteral("data")), deadPort(), secretFile(tmp.path(), "s")),
        m_log.get());
    ReceiverWindow rw(receiverSetup(tmp.filePath(QStringLiteral("received")), "s"), m_log.get());
    QVERIFY(sw.trayIcon() && rw.trayIcon());
    QVERIFY(sw.trayIcon()->icon().pixmap(32, 32).toImage() !=
            rw.trayIcon()->icon().pixmap(32, 32).toImage());
}

void TestGuiLifecycle::startDialogBrowsesAndRefusesMissingRoot()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString missing = tmp.filePath(QStringLiteral("not-there"));
    const QString root = tmp.filePath(QStringLiteral("datas"));
    QVERIFY(QDir().mkpath(root));
    Config c;
    c.server = QStringLiteral("127.0.0.1");
    c.port = 12345;
    StartupDialog d(c, nullptr, StartupDialog::Role::Sender);
    d.show();
    QCOMPARE(d.role(), StartupDialog::Role::Sender);
    d.secretEdit()->clear(); // none: loopback only
    d.dataRootEdit()->setText(missing);
    d.accept();
    QVERIFY(d.isVisible());
    QCOMPARE(d.result(), int(QDialog::Rejected)); // not accepted
    QVERIFY2(d.errorText().startsWith(QStringLiteral("Data root: ")), qPrintable(d.errorText()));
    QVERIFY(d.errorText().contains(missing));

    // Browse: Qt's own file dialog, not a nested loop; what it picks lands in the field.
    auto *browse = d.findChild<QPushButton *>(QStringLiteral("dataRootBrowse"));
    QVERIFY(browse);
    QVERIFY(browse->isVisible());
    browse->click();
    QFileDialog *fd = nullptr;
    QTRY_VERIFY((fd = d.findChild<QFileDialog *>(QStringLiteral("browseDialog"))) != nullptr);
    QVERIFY(fd->testOption(QFileDialog::DontUseNativeDialog));
    QCOMPARE(fd->fileMode(), QFileDialog::Directory);
    fd->selectFile(root);
    static_cast<QDialog *>(fd)->accept(); // QFileDialog::accept() is protected
    QTRY_COMPARE(QDir::cleanPath(d.dataRootEdit()->text()), QDir::cleanPath(root));

    QTRY_VERIFY(!d.findChild<QFileDialog *>()); // gone once closed
    // The secret file's Browse picks a file.
    const QString secret = secretFile(tmp.path(), "s");
    auto *browseSecret = d.findChild<QPushButton *>(QStringLiteral("secretFileBrowse"));
    QVERIFY(browseSecret);
    browseSecret->click();
    QTRY_VERIFY((fd = d.findChild<QFileDialog *>(QStringLiteral("browseDialog"))) != nullptr);
    QCOMPARE(fd->fileMode(), QFileDialog::ExistingFile);
    fd->selectFile(secret);
    static_cast<QDialog *>(fd)->accept(); // QFileDialog::accept() is protected
    QTRY_COMPARE(d.secretEdit()->text(), secret);

    QSignalSpy accepted(&d, &QDialog::accepted);
    d.accept();
    QCOMPARE(accepted.count(), 1);
    QCOMPARE(d.config().dataRoot, root);
    QCOMPARE(d.config().secretFile, secret);

    // A receiver's root need not exist (the receiver makes it); its Browse is on its page.
    StartupDialog r(c, nullptr, StartupDialog::Role::Receiver);
    r.show();
    QVERIFY(r.findChild<QPushButton *>(QStringLiteral("receiveRootBrowse"))->isVisible());
    QVERIFY(!r.findChild<QPushButton *>(QStringLiteral("dataRootBrowse"))->isVisible());
}

void TestGuiLifecycle::receiverPortInUseShowsBanner()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    QTcpServer taken;
    QVERIFY(taken.listen(QHostAddress::LocalHost, 0));
    const quint16 port = taken.serverPort();
    ReceiverWindow rw(receiverSetup(tmp.filePath(QStringLiteral("received")), "s", port),
                      m_log.get());
    rw.resize(900, 700);
    rw.show();
    const int width = rw.width();
    rw.start();
    QTRY_COMPARE_WITH_TIMEOUT(rw.service()->status().run, ReceiverStatus::Run::Failed,
                              timeout(5000));
    // The banner: the port, that it is in use, what to do, and the button to change it.
    QTRY_VERIFY(rw.notices()->has(NoticeKind::StartFailed));
    const QString text = rw.notices()->text(NoticeKind::StartFailed);
    QVERIFY2(text.contains(QStringLiteral(":%1").arg(port)), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("in use")), qPrintable(text));
    QVERIFY(text.contains(QStringLiteral("choose another port")));
    QPushButton *change = rw.notices()->button(NoticeKind::StartFailed);
    QVERIFY(change);
    QCOMPARE(change->text(), QStringLiteral("Ch&ange settings…"));
    QCOMPARE(rw.headline()->headline().word, QStringLiteral("Failing"));
    // The state line stays short: the layout is not pushed wider by the error.
    QCOMPARE(rw.listenState()->text(), QStringLiteral("not listening"));
    QVERIFY(rw.listenState()->toolTip().contains(QString::number(port)));
    QApplication::processEvents();
    QCOMPARE(rw.width(), width);
    QVERIFY(rw.minimumSizeHint().width() < 900);
    // And the log says it, once.
    QTRY_VERIFY(logHas(m_log.get(), QStringLiteral("the receiver is not listening: cannot listen "
                                                   "on 127.0.0.1:%1")
                                        .arg(port)));
    QSignalSpy asked(&rw, &ReceiverWindow::startSettingsRequested);
    change->click();
    QCOMPARE(asked.count(), 1);
}

void TestGuiLifecycle::senderOnMissingRootShowsBanner()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString missing = tmp.filePath(QStringLiteral("vanished"));
    SenderWindow sw(senderSetup(missing, deadPort(), secretFile(tmp.path(), "s")), m_log.get());
    sw.show();
    sw.start();
    // Within the deadline: not "Starting" any more, a banner saying what is wrong, a log line.
    QTRY_VERIFY_WITH_TIMEOUT(sw.headline()->headline().word != QLatin1String("Starting"),
                             timeout(5000));
    QCOMPARE(sw.headline()->headline().word, QStringLiteral("Failing"));
    QVERIFY(sw.notices()->has(NoticeKind::StartFailed));
    const QString text = sw.notices()->text(NoticeKind::StartFailed);
    QVERIFY2(text.contains(missing), qPrintable(text));
    QVERIFY(sw.notices()->button(NoticeKind::StartFailed));
    QTRY_VERIFY(logHas(m_log.get(), QStringLiteral("the sender could not start")));
}

void TestGuiLifecycle::changeSettingsFromTheBanner()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString missing = tmp.filePath(QStringLiteral("vanished"));
    const QString root = tmp.filePath(QStringLiteral("datas"));
    QVERIFY(QDir().mkpath(root));
    Startup startup;
    QCOMPARE(setupFromConfig(Startup::Role::Sender,
                             senderConfig(missing, deadPort(), secretFile(tmp.path(), "s")),
                             startup),
             QString());
    Launcher launcher(m_log.get());
    QSignalSpy replaced(&launcher, &Launcher::windowReplaced);
    launcher.launch(startup);
    auto *sw = qobject_cast<SenderWindow *>(launcher.window());
    QVERIFY(sw);
    QVERIFY(sw->isVisible());
    QTRY_VERIFY_WITH_TIMEOUT(sw->notices()->button(NoticeKind::StartFailed), timeout(5000));
    sw->notices()->button(NoticeKind::StartFailed)->click();

    // The start dialog, on the window's own settings.
    StartupDialog *d = launcher.dialog();
    QVERIFY(d);
    QVERIFY(d->isVisible());
    QCOMPARE(d->role(), StartupDialog::Role::Sender);
    QCOMPARE(d->dataRootEdit()->text(), missing);
    d->accept(); // still missing: refused, the dialog stays
    QVERIFY(d->isVisible());
    QVERIFY(d->errorText().startsWith(QStringLiteral("Data root")));
    QCOMPARE(replaced.count(), 0);
    d->dataRootEdit()->setText(root);
    d->accept();
    QCOMPARE(replaced.count(), 1);
    auto *next = qobject_cast<SenderWindow *>(launcher.window());
    QVERIFY(next);
    QVERIFY(next != sw);
    QVERIFY(next->isVisible());
    QTRY_COMPARE_WITH_TIMEOUT(next->agent()->status().run, EdStatus::Run::Running, timeout(5000));
    QTRY_VERIFY(!next->notices()->has(NoticeKind::StartFailed));
    QCOMPARE(next->agent()->setup().scan.root, root);
}

void TestGuiLifecycle::tabLeavesEveryTable()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    QVERIFY(closedDbtag(data, QStringLiteral("DC20260101000000"), 1));
    QVERIFY(closedDbtag(data, QStringLiteral("DC20260102000000"), 1));
    SenderWindow sw(senderSetup(data, deadPort(), secretFile(tmp.path(), "s")), m_log.get());
    ReceiverWindow rw(receiverSetup(tmp.filePath(QStringLiteral("received")), "s"), m_log.get());
    int tables = 0;
    for (QWidget *w : {static_cast<QWidget *>(&sw), static_cast<QWidget *>(&rw)}) {
        for (QAbstractItemView *v : w->findChildren<QAbstractItemView *>()) {
            if (!qobject_cast<QTableView *>(v))
                continue; // a combo box's popup list
            ++tables;
            QVERIFY2(!v->tabKeyNavigation(), qPrintable(v->objectName()));
        }
    }
    QVERIFY(tables >= 3 + 5); // dbtags, transfers, log; fleet, peers, incoming, datasets, log

    // And it does: Tab in the dbtag table, on its first cell, moves on to the next widget
    // (with cell-by-cell navigation it would move to the next cell).
    sw.show();
    sw.start();
    QVERIFY(QTest::qWaitForWindowActive(&sw));
    QTRY_VERIFY_WITH_TIMEOUT(sw.dbtagView()->model()->rowCount() >= 2, timeout(10000));
    sw.dbtagView()->setCurrentIndex(sw.dbtagView()->model()->index(0, 0));
    sw.dbtagView()->setFocus();
    QTRY_COMPARE(QApplication::focusWidget(), sw.dbtagView());
    QTest::keyClick(sw.dbtagView(), Qt::Key_Tab);
    QTRY_VERIFY(QApplication::focusWidget() != sw.dbtagView());
}

void TestGuiLifecycle::mnemonicsDoNotCollide()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    QVERIFY(QDir().mkpath(tmp.filePath(QStringLiteral("data"))));
    SenderWindow sw(
        senderSetup(tmp.filePath(QStringLiteral("data")), deadPort(), secretFile(tmp.path(), "s")),
        m_log.get());
    sw.show();
    const auto senderKeys = windowMnemonics(&sw, senderNoticeCaptions());
    QVERIFY(senderKeys.size() >= 8);
    QVERIFY2(duplicates(senderKeys).isEmpty(), qPrintable(duplicates(senderKeys)));
    QVERIFY2(menuDuplicates(&sw).isEmpty(), qPrintable(menuDuplicates(&sw)));

    ReceiverWindow rw(receiverSetup(tmp.filePath(QStringLiteral("received")), "s"), m_log.get());
    rw.show();
    const auto receiverKeys = windowMnemonics(&rw, receiverNoticeCaptions());
    QVERIFY(receiverKeys.size() >= 6);
    QVERIFY2(duplicates(receiverKeys).isEmpty(), qPrintable(duplicates(receiverKeys)));
    QVERIFY2(menuDuplicates(&rw).isEmpty(), qPrintable(menuDuplicates(&rw)));

    Config mc;
    mc.server = QStringLiteral("127.0.0.1");
    mc.port = deadPort();
    mc.source = QStringLiteral("monitor-life");
    mc.secretFile = secretFile(tmp.path(), "s");
    auto ms = MonitorSetup::fromConfig(mc);
    QVERIFY(ms.ok());
    MonitorWindow mw(ms.value(), m_log.get());
    mw.show();
    const auto monitorKeys = windowMnemonics(&mw);
    QVERIFY2(duplicates(monitorKeys).isEmpty(), qPrintable(duplicates(monitorKeys)));

    // The start dialog, on each role's page.
    for (auto role : {StartupDialog::Role::Sender, StartupDialog::Role::Receiver}) {
        StartupDialog d(Config{}, nullptr, role);
        d.show();
        const auto keys = windowMnemonics(&d);
        QVERIFY(keys.size() >= 5);
        QVERIFY2(duplicates(keys).isEmpty(), qPrintable(duplicates(keys)));
    }
}

void TestGuiLifecycle::screenshots()
{
    const QString out = qEnvironmentVariable("ISOCKET_SCREENSHOTS");
    if (out.isEmpty())
        QSKIP("set ISOCKET_SCREENSHOTS=<dir> to render the tray icons and start failures to PNG");
    QVERIFY(QDir().mkpath(out));

    // The tray icons: a row per role, a column per state, at 16, 32 and 64 px.
    const QList<Badge> badges{Badge::Connected, Badge::Waiting, Badge::Abnormal, Badge::Failed,
                              Badge::Paused};
    const QList<int> sizes{16, 32, 64};
    const int cell = 72;
    QImage sheet(cell * int(badges.size() * sizes.size()), cell * 2, QImage::Format_ARGB32);
    sheet.fill(Qt::white);
    {
        QPainter p(&sheet);
        for (int row = 0; row < 2; ++row) {
            const TrayRole role = row == 0 ? TrayRole::Sender : TrayRole::Receiver;
            int col = 0;
            for (int size : sizes)
                for (Badge b : badges) {
                    const QImage icon = TrayIcon::render(role, b, size);
                    p.drawImage(col * cell + (cell - size) / 2, row * cell + (cell - size) / 2,
                                icon);
                    ++col;
                }
        }
    }
    QVERIFY(sheet.save(out + QStringLiteral("/tray-icons.png")));

    // A receiver whose port is taken.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    QTcpServer taken;
    QVERIFY(taken.listen(QHostAddress::LocalHost, 0));
    ReceiverWindow rw(
        receiverSetup(tmp.filePath(QStringLiteral("received")), "s", taken.serverPort()),
        m_log.get());
    rw.resize(1100, 700);
    rw.show();
    rw.start();
    QTRY_VERIFY_WITH_TIMEOUT(rw.notices()->has(NoticeKind::StartFailed), timeout(5000));
    rw.flushModels();
    QVERIFY(rw.grab().save(out + QStringLiteral("/receiver-port-in-use.png")));

    // The start dialog refusing a data root that is not there.
    Config c;
    c.server = QStringLiteral("127.0.0.1");
    c.port = 12345;
    StartupDialog d(c, nullptr, StartupDialog::Role::Sender);
    d.dataRootEdit()->setText(QStringLiteral("/datas-that-are-not-there"));
    d.secretEdit()->clear();
    d.show();
    d.accept();
    QVERIFY(!d.errorText().isEmpty());
    QVERIFY(d.grab().save(out + QStringLiteral("/start-dialog-missing-root.png")));
}

QTEST_MAIN(TestGuiLifecycle)
#include "tst_gui_lifecycle.moc"
