// What the sender's and receiver's tables and the log show (issue 17): long, similar file names
// stay distinguishable (tail-keeping elision, the full path as tooltip, the File column the last
// to shrink); a context menu on the tables (copy path, Ctrl+C, open the folder, retry, show in
// log); warnings kept apart from a burst of info lines; a Problems view that empties when the
// file is delivered after a retry; the link's rate and, per file, the time it took; a dbtag's
// progress and "waiting" while nothing is in flight. Real windows, a real engine and receiver on
// 127.0.0.1 where it matters; every model under QAbstractItemModelTester.

#include "core/config.h"
#include "core/fsname.h"
#include "gui/columnfitter.h"
#include "gui/dbtagmodel.h"
#include "gui/elidingdelegate.h"
#include "gui/logcapture.h"
#include "gui/logmodel.h"
#include "gui/logpane.h"
#include "gui/problemsmodel.h"
#include "gui/receiverwindow.h"
#include "gui/senderwindow.h"
#include "gui/tablemenu.h"
#include "gui/transfermodel.h"
#include "tests/testlib/testtree.h"

#include <QAbstractItemModelTester>
#include <QAction>
#include <QApplication>
#include <QClipboard>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTabWidget>
#include <QTableView>
#include <QTcpServer>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace isocket;
using namespace isocket::gui;

namespace {

using Testers = std::vector<std::unique_ptr<QAbstractItemModelTester>>;

void attachTesters(Testers &testers, std::initializer_list<QAbstractItemModel *> models)
{
    for (QAbstractItemModel *m : models)
        testers.push_back(std::make_unique<QAbstractItemModelTester>(
            m, QAbstractItemModelTester::FailureReportingMode::QtTest));
}

FileTicket ticketFor(const QString &root, const QString &dbtag, const QString &rel, qint64 size)
{
    FileTicket t;
    t.dbtag = dbtag;
    t.relPath = rel;
    t.absPath = root + QLatin1Char('/') + dbtag + QLatin1Char('/') + rel;
    t.stamp.size = size;
    return t;
}

FileUpdate update(FileUpdate::Kind kind, const FileTicket &t)
{
    FileUpdate u;
    u.kind = kind;
    u.ticket = t;
    u.size = t.stamp.size;
    u.done = kind == FileUpdate::Kind::Delivered ? t.stamp.size : 0;
    return u;
}

// Queued, started and delivered in `durationMs`.
QList<FileUpdate> delivered(const FileTicket &t, qint64 durationMs)
{
    FileUpdate d = update(FileUpdate::Kind::Delivered, t);
    d.durationMs = durationMs;
    return {update(FileUpdate::Kind::Queued, t), update(FileUpdate::Kind::Started, t), d};
}

// The row of `model` whose `role` (in column 0) is `value`; -1 when none.
int rowWith(const QAbstractItemModel *model, int role, const QVariant &value)
{
    for (int r = 0; r < model->rowCount(); ++r)
        if (model->index(r, 0).data(role) == value)
            return r;
    return -1;
}

QString cellText(const QAbstractItemModel *m, const QString &key, int column, int keyColumn = 0)
{
    for (int r = 0; r < m->rowCount(); ++r)
        if (m->index(r, keyColumn).data().toString() == key)
            return m->index(r, column).data().toString();
    return QString();
}

QVariant cellData(const QAbstractItemModel *m, const QString &key, int column, int role)
{
    for (int r = 0; r < m->rowCount(); ++r)
        if (m->index(r, 0).data().toString() == key)
            return m->index(r, column).data(role);
    return QVariant();
}

QString secretFile(const QString &dir, const QByteArray &secret)
{
    const QString path = dir + QStringLiteral("/secret");
    QFile f(path);
    if (!f.open(QIODevice::WriteOnly) || f.write(secret + '\n') != secret.size() + 1)
        return QString();
    f.setPermissions(QFileDevice::ReadOwner | QFileDevice::WriteOwner);
    return path;
}

EdAgentSetup senderSetup(const QString &root, quint16 port, const QString &secret)
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
    c.secretFile = secret;
    auto s = EdAgentSetup::fromConfig(c);
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

const QByteArray Secret("correct horse battery staple");

} // namespace

class TestGuiTables : public QObject
{
    Q_OBJECT

private slots:
    void initTestCase();
    void similarNamesStayDistinguishable();
    void fileColumnIsTheLastToShrink();
    void contextMenuCopiesOpensAndShowsInLog();
    void warningsOutliveAnInfoBurst();
    void problemsListFailedFilesUntilDelivered();
    void linkRateAndTimeTaken();
    void dbtagWaitsThenCompletes();

private:
    int timeout(int ms) const { return ms * test::timeoutFactor(); }
    std::unique_ptr<LogCapture> m_capture;
    std::unique_ptr<LogModel> m_log;
};

void TestGuiTables::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true); // QSettings away from the user's
    QApplication::setOrganizationName(QStringLiteral("isocket-test"));
    QApplication::setApplicationName(QStringLiteral("tst_gui_tables"));
    m_capture = std::make_unique<LogCapture>();
    m_log = std::make_unique<LogModel>();
    connect(m_capture.get(), &LogCapture::messageLogged, m_log.get(), &LogModel::append);
}

void TestGuiTables::similarNamesStayDistinguishable()
{
    const QString a = QStringLiteral("DC20261205T120000/DC20261205T120000-00Z.dat");
    const QString b = QStringLiteral("DC20261205T120000/DC20261205T120005-00Z.dat");
    const QFontMetrics fm(QApplication::font());
    const int width = fm.horizontalAdvance(a) / 2;
    const QString ea = elideKeepingTail(a, fm, width);
    const QString eb = elideKeepingTail(b, fm, width);
    QVERIFY2(ea != eb, qPrintable(ea));
    QVERIFY(ea.endsWith(a.right(16)));
    QVERIFY(fm.horizontalAdvance(ea) <= width);
    QVERIFY2(ea.startsWith(QStringLiteral("DC")), qPrintable(ea)); // the head shortened, not dropped
    QCOMPARE(elideKeepingTail(a, fm, fm.horizontalAdvance(a)), a); // fits: unchanged

    // The transfer table: the File cell's tooltip is the full path; the status says why in
    // its own column.
    TransferModel model;
    Testers testers;
    attachTesters(testers, {&model});
    const FileTicket t = ticketFor(QStringLiteral("/datas"), QStringLiteral("DC20261205T120000"),
                                   QStringLiteral("DC20261205T120000-00Z.dat"), 1000);
    model.onFilesChanged(delivered(t, 12));
    model.flush();
    QCOMPARE(model.rowCount(), 1);
    const QModelIndex file = model.index(0, TransferModel::File);
    QCOMPARE(file.data(Qt::ToolTipRole).toString(), t.absPath);
    QCOMPARE(file.data(TransferModel::PathRole).toString(), t.absPath);
    QVERIFY(model.index(0, TransferModel::Status)
                .data(Qt::ToolTipRole)
                .toString()
                .contains(QStringLiteral("receiver stored it")));
}

void TestGuiTables::fileColumnIsTheLastToShrink()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    QVERIFY(QDir().mkpath(data));
    // Not started: only the tables are looked at.
    SenderWindow sw(senderSetup(data, 1, secretFile(tmp.path(), Secret)), m_log.get());
    TransferModel *model = sw.transferModel();
    const QString dbtag = QStringLiteral("DC20261205T120000");
    const QString a = QStringLiteral("DC20261205T120000-00Z.dat");
    const QString b = QStringLiteral("DC20261205T120005-00Z.dat");
    model->onFilesChanged(delivered(ticketFor(data, dbtag, a, 100), 3));
    model->onFilesChanged(delivered(ticketFor(data, dbtag, b, 100), 3));
    sw.show();
    QVERIFY(QTest::qWaitForWindowExposed(&sw));
    sw.flushModels();

    QTableView *view = sw.transferView();
    auto *fitter = view->findChild<ColumnFitter *>();
    QVERIFY(fitter);
    int fileWidth = 0;
    auto check = [&](int viewWidth) {
        view->resize(viewWidth, view->height());
        QCoreApplication::processEvents();
        const int avail = view->viewport()->width();
        QHeaderView *h = view->horizontalHeader();
        fileWidth = h->sectionSize(TransferModel::File);
        for (int c = 0; c < h->count(); ++c) {
            if (c == TransferModel::File)
                continue;
            QVERIFY2(fileWidth > fitter->minimum(c),
                     qPrintable(QStringLiteral("%1 px: File %2, column %3 minimum %4")
                                    .arg(avail)
                                    .arg(fileWidth)
                                    .arg(c)
                                    .arg(fitter->minimum(c))));
            QVERIFY(fileWidth >= h->sectionSize(c));
        }
        QVERIFY2(fileWidth >= avail / 2 - 1,
                 qPrintable(QStringLiteral("%1 of %2").arg(fileWidth).arg(avail)));
    };
    check(400);
    if (QTest::currentTestFailed())
        return;
    const int narrow = fileWidth;
    check(1200);
    if (QTest::currentTestFailed())
        return;
    QVERIFY(fileWidth > narrow);

    // What the File column draws at its narrow width still tells the two rows apart.
    check(400);
    auto *delegate =
        qobject_cast<TailElidingDelegate *>(view->itemDelegateForColumn(TransferModel::File));
    QVERIFY(delegate);
    const QFontMetrics fm = view->fontMetrics();
    const int cell = view->horizontalHeader()->sectionSize(TransferModel::File) - 8;
    const QString ta = delegate->displayText(model->index(0, TransferModel::File), fm, cell);
    const QString tb = delegate->displayText(model->index(1, TransferModel::File), fm, cell);
    QVERIFY2(ta != tb, qPrintable(ta + QStringLiteral(" / ") + tb));
    QVERIFY(fm.horizontalAdvance(ta) <= cell);
}

void TestGuiTables::contextMenuCopiesOpensAndShowsInLog()
{
    TransferModel model;
    const QString root = QStringLiteral("/datas");
    const QString dbtag = QStringLiteral("DC20261205T120000");
    QStringList paths;
    for (int i = 0; i < 3; ++i) {
        const FileTicket t = ticketFor(root, dbtag, QStringLiteral("sub/f%1.dat").arg(i), 10);
        model.onFilesChanged(delivered(t, 1));
        paths.prepend(t.absPath); // newest first
    }
    model.flush();
    QCOMPARE(model.rowCount(), 3);

    QWidget window;
    auto *view = new QTableView(&window);
    view->setModel(&model);
    view->setSelectionBehavior(QAbstractItemView::SelectRows);
    view->setSelectionMode(QAbstractItemView::ExtendedSelection);
    auto *menu = new TableMenu(view, TransferModel::PathRole, TableMenu::Rows::Files);
    QList<QUrl> opened;
    menu->setOpener([&](const QUrl &url) { opened << url; });
    LogModel log;
    LogPane pane(&log);
    menu->setShowInLog([&](const QString &text) { pane.showLinesAbout(text); });
    window.show();
    window.activateWindow();
    QVERIFY(QTest::qWaitForWindowActive(&window));

    // Ctrl+C: the selected rows' full paths, one per line.
    QApplication::clipboard()->clear();
    view->selectionModel()->select(model.index(0, 0),
                                   QItemSelectionModel::Select | QItemSelectionModel::Rows);
    view->selectionModel()->select(model.index(2, 0),
                                   QItemSelectionModel::Select | QItemSelectionModel::Rows);
    view->setFocus();
    QTest::keyClick(view, Qt::Key_C, Qt::ControlModifier);
    QCOMPARE(QApplication::clipboard()->text(), paths.at(0) + QLatin1Char('\n') + paths.at(2));
    // The menu's Copy path does the same.
    QApplication::clipboard()->clear();
    menu->copyAction()->trigger();
    QCOMPARE(QApplication::clipboard()->text(), paths.at(0) + QLatin1Char('\n') + paths.at(2));

    // Open containing folder: the folder of the first selected row, nothing launched.
    menu->openAction()->trigger();
    QCOMPARE(opened.size(), 1);
    QCOMPARE(opened.first(),
             QUrl::fromLocalFile(root + QLatin1Char('/') + dbtag + QStringLiteral("/sub")));
    // A name that is not UTF-8 opens the folder of those bytes.
    QCOMPARE(menu->folderUrl(fsDecode(QByteArray("/datas/caf\xe9/x.dat"))).toEncoded(),
             QByteArray("file:///datas/caf%E9"));

    // Show in log: the log filtered to the lines about that file, whatever their level.
    log.append(LogEntry{QDateTime::currentDateTime(), QtInfoMsg, QStringLiteral("isocket.send"),
                        QStringLiteral("sent /datas/DC20261205T120000/sub/f2.dat (10 B)")});
    log.append(LogEntry{QDateTime::currentDateTime(), QtInfoMsg, QStringLiteral("isocket.send"),
                        QStringLiteral("sent /datas/DC20261205T120000/sub/f1.dat (10 B)")});
    log.append(LogEntry{QDateTime::currentDateTime(), QtDebugMsg, QStringLiteral("isocket.send"),
                        QStringLiteral("f2.dat: offered")});
    log.flush();
    QVERIFY(menu->showInLogAction()->isVisible());
    menu->showInLogAction()->trigger();
    QCOMPARE(pane.textBox()->text(), QStringLiteral("f2.dat"));
    QCOMPARE(pane.filterModel()->rowCount(), 2);
    // No retry where the window gave no way to retry.
    QVERIFY(!menu->retryAction()->isVisible());
}

void TestGuiTables::warningsOutliveAnInfoBurst()
{
    LogModel log;
    LogFilterModel filter;
    filter.setSourceModel(&log);
    Testers testers;
    attachTesters(testers, {&log, &filter});
    const QString warning = QStringLiteral("DC1/a.dat: disk-full; retry 1 in 200 ms");
    log.append(LogEntry{QDateTime::currentDateTime(), QtWarningMsg, QStringLiteral("isocket.send"),
                        warning});
    log.flush();
    // A burst of per-file lines, in event-loop turns as they arrive.
    for (int i = 0; i < 5000; ++i) {
        log.append(LogEntry{QDateTime::currentDateTime(), QtInfoMsg, QStringLiteral("isocket.send"),
                            QStringLiteral("sent DC2/f%1.dat").arg(i)});
        if (i % 500 == 0)
            QCoreApplication::processEvents();
    }
    log.flush();
    QCOMPARE(log.rowCount(), LogModel::MaxLines + 1);
    QCOMPARE(log.index(0, LogModel::Message).data().toString(), warning); // the oldest line
    QCOMPARE(log.index(log.rowCount() - 1, LogModel::Message).data().toString(),
             QStringLiteral("sent DC2/f4999.dat"));
    filter.setMinimumLevel(QtWarningMsg);
    QCOMPARE(filter.rowCount(), 1);
    QCOMPARE(filter.index(0, LogModel::Message).data().toString(), warning);

    // Warnings are bounded too, by their own queue.
    for (int i = 0; i < LogModel::MaxProblems + 10; ++i)
        log.append(LogEntry{QDateTime::currentDateTime(), QtCriticalMsg,
                            QStringLiteral("isocket.send"),
                            QStringLiteral("cannot send %1").arg(i)});
    log.flush();
    QCOMPARE(filter.rowCount(), LogModel::MaxProblems);
    QCOMPARE(log.rowCount(), LogModel::MaxLines + LogModel::MaxProblems);
}

void TestGuiTables::problemsListFailedFilesUntilDelivered()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString received = tmp.filePath(QStringLiteral("received"));
    const QString elsewhere = tmp.filePath(QStringLiteral("elsewhere"));
    const QString dbtag = QStringLiteral("DC20250101000000");
    QVERIFY(QDir().mkpath(elsewhere));
    QVERIFY(test::writeFile(data + QLatin1Char('/') + dbtag + QStringLiteral("/a.dat"), "aaaa"));
    QVERIFY(
        test::writeFile(data + QLatin1Char('/') + dbtag + QStringLiteral("/sub/b.dat"), "bbbb"));
    QVERIFY(test::makeDbtag(data, dbtag, true, false, 946684800));
    // On the receiver, the folder sub/ of this dbtag is a symbolic link: the receiver refuses
    // b.dat for good (an operator must act), a.dat arrives.
    const QString link = received + QStringLiteral("/ed-test/") + dbtag + QStringLiteral("/sub");
    QVERIFY(QDir().mkpath(QFileInfo(link).path()));
    QVERIFY(QFile::link(elsewhere, link));

    ReceiverWindow rw(receiverSetup(received, Secret), m_log.get());
    rw.start();
    QTRY_COMPARE_WITH_TIMEOUT(rw.service()->status().run, ReceiverStatus::Run::Listening,
                              timeout(5000));
    SenderWindow sw(senderSetup(data, rw.service()->status().port, secretFile(tmp.path(), Secret)),
                    m_log.get());
    ProblemsModel *problems = sw.problemsModel();
    Testers testers;
    attachTesters(testers, {problems, sw.dbtagModel(), sw.transferModel()});
    sw.show();
    sw.start();

    const QString bPath = data + QLatin1Char('/') + dbtag + QStringLiteral("/sub/b.dat");
    QTRY_VERIFY_WITH_TIMEOUT(rowWith(problems, ProblemsModel::PathRole, bPath) >= 0,
                             timeout(20000));
    int row = rowWith(problems, ProblemsModel::PathRole, bPath);
    QCOMPARE(problems->index(row, ProblemsModel::Status).data().toString(),
             QStringLiteral("failed"));
    QVERIFY2(problems->index(row, ProblemsModel::Reason)
                 .data()
                 .toString()
                 .contains(QStringLiteral("symbolic link")),
             qPrintable(problems->index(row, ProblemsModel::Reason).data().toString()));
    QVERIFY(problems->index(row, ProblemsModel::Time).data().toString().contains(QLatin1Char(':')));
    QTRY_COMPARE_WITH_TIMEOUT(cellText(sw.dbtagModel(), dbtag, DbtagModel::State),
                              QStringLiteral("closed, 1 failed"), timeout(10000));
    QCOMPARE(problems->rowCount(), 1); // a.dat is not a problem
    QTRY_VERIFY(sw.logTabs()
                    ->tabText(sw.logTabs()->indexOf(sw.problemsView()))
                    .contains(QStringLiteral("(1)")));

    // The operator fixes the receiver and retries the file from the Problems view.
    QVERIFY(QFile::remove(link));
    QTableView *view = sw.problemsView();
    auto *menu = view->findChild<TableMenu *>();
    QVERIFY(menu);
    QVERIFY(menu->retryAction()->isVisible());
    view->selectRow(row);
    menu->retryAction()->trigger();
    QTRY_COMPARE_WITH_TIMEOUT(problems->rowCount(), 0, timeout(20000));
    QTRY_COMPARE_WITH_TIMEOUT(cellText(sw.dbtagModel(), dbtag, DbtagModel::State),
                              QStringLiteral("done"), timeout(20000));
    QVERIFY(QFileInfo::exists(received + QStringLiteral("/ed-test/") + dbtag +
                              QStringLiteral("/sub/b.dat")));
    QTRY_COMPARE(sw.logTabs()->tabText(sw.logTabs()->indexOf(sw.problemsView())),
                 QStringLiteral("Problems"));
}

void TestGuiTables::linkRateAndTimeTaken()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString received = tmp.filePath(QStringLiteral("received"));
    const QString dbtag = QStringLiteral("DC20250101000000");
    constexpr int Files = 24;
    constexpr qint64 Size = 1024 * 1024;
    for (int i = 0; i < Files; ++i)
        QVERIFY(test::writeFile(data + QLatin1Char('/') + dbtag +
                                    QStringLiteral("/f%1.dat").arg(i, 2, 10, QLatin1Char('0')),
                                test::patternBytes(Size, quint32(i))));
    QVERIFY(test::makeDbtag(data, dbtag, true, false, 946684800));
    QVERIFY(QDir().mkpath(received));

    ReceiverWindow rw(receiverSetup(received, Secret), m_log.get());
    rw.start();
    QTRY_COMPARE_WITH_TIMEOUT(rw.service()->status().run, ReceiverStatus::Run::Listening,
                              timeout(5000));
    SenderWindow sw(senderSetup(data, rw.service()->status().port, secretFile(tmp.path(), Secret)),
                    m_log.get());
    TransferModel *transfers = sw.transferModel();
    Testers testers;
    attachTesters(testers, {transfers});
    sw.show();
    QElapsedTimer wall;
    wall.start();
    sw.start();
    QTRY_COMPARE_WITH_TIMEOUT(transfers->deliveredCount(), qint64(Files), timeout(30000));
    const qint64 wallMs = wall.elapsed();
    const double linkRate = transfers->linkRate();
    // The link rate spans at least a tenth of a second (Throughput::linkRate()); a batch that
    // took less on a fast machine counts as a tenth.
    const double floor = double(Files * Size) * 1000.0 / double(qMax<qint64>(wallMs, 100));
    QVERIFY2(linkRate >= floor, qPrintable(QStringLiteral("link %1 B/s, batch %2 B/s (%3 ms)")
                                               .arg(linkRate)
                                               .arg(floor)
                                               .arg(wallMs)));
    sw.flushModels();
    static const QRegularExpression shown(QStringLiteral("link \\d+(\\.\\d)? [KMG]iB/s"));
    QVERIFY2(shown.match(sw.statusText()->text()).hasMatch(), qPrintable(sw.statusText()->text()));
    qInfo("link rate %.1f MiB/s; the whole batch %.1f MiB/s (%lld ms)", linkRate / 1048576.0,
          floor / 1048576.0, wallMs);

    // Per file: the time its transfer took, no rate of its own.
    QCOMPARE(transfers->rowCount(), Files);
    static const QRegularExpression took(QStringLiteral("^took \\d+ (ms|s|min \\d+ s)$"));
    for (int r = 0; r < transfers->rowCount(); ++r) {
        const QString text = transfers->index(r, TransferModel::Took).data().toString();
        QVERIFY2(took.match(text).hasMatch(), qPrintable(text));
    }
    for (int c = 0; c < transfers->columnCount(); ++c)
        QVERIFY(!transfers->headerData(c, Qt::Horizontal, Qt::DisplayRole)
                     .toString()
                     .contains(QStringLiteral("Rate")));
}

void TestGuiTables::dbtagWaitsThenCompletes()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const QString data = tmp.filePath(QStringLiteral("data"));
    const QString received = tmp.filePath(QStringLiteral("received"));
    const QString dbtag = QStringLiteral("DC20250101000000");
    for (int i = 0; i < 4; ++i)
        QVERIFY(test::writeFile(data + QLatin1Char('/') + dbtag + QStringLiteral("/f%1.dat").arg(i),
                                test::patternBytes(64 * 1024, quint32(i))));
    QVERIFY(test::makeDbtag(data, dbtag, true, false, 946684800));
    QVERIFY(QDir().mkpath(received));

    // A port nobody listens on (taken, then freed); the receiver comes up on it later.
    quint16 port = 0;
    {
        QTcpServer probe;
        QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
        port = probe.serverPort();
    }
    SenderWindow sw(senderSetup(data, port, secretFile(tmp.path(), Secret)), m_log.get());
    DbtagModel *dbtags = sw.dbtagModel();
    Testers testers;
    attachTesters(testers, {dbtags});
    sw.show();
    sw.start();
    // Closed, files to send, none in flight: waiting, at 0 %.
    QTRY_COMPARE_WITH_TIMEOUT(cellText(dbtags, dbtag, DbtagModel::State), QStringLiteral("waiting"),
                              timeout(10000));
    QCOMPARE(cellData(dbtags, dbtag, DbtagModel::Progress, DbtagModel::ProgressRole).toInt(), 0);
    QCOMPARE(cellText(dbtags, dbtag, DbtagModel::Progress), QStringLiteral("0 %"));
    QVERIFY(cellData(dbtags, dbtag, DbtagModel::Progress, Qt::ToolTipRole)
                .toString()
                .startsWith(QStringLiteral("0 of 4 files")));

    ReceiverWindow rw(receiverSetup(received, Secret, port), m_log.get());
    rw.start();
    QTRY_COMPARE_WITH_TIMEOUT(rw.service()->status().run, ReceiverStatus::Run::Listening,
                              timeout(5000));
    QTRY_COMPARE_WITH_TIMEOUT(cellText(dbtags, dbtag, DbtagModel::State), QStringLiteral("done"),
                              timeout(20000));
    QCOMPARE(cellData(dbtags, dbtag, DbtagModel::Progress, DbtagModel::ProgressRole).toInt(), 100);
    QCOMPARE(cellText(dbtags, dbtag, DbtagModel::Progress), QStringLiteral("100 %"));
}

QTEST_MAIN(TestGuiTables)
#include "tst_gui_tables.moc"
