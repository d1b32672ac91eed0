// End to end with real processes: `isocket receive` and `isocket send` as systemd services.
// A fake NOTIFY_SOCKET (an AF_UNIX datagram socket of the test) receives what sd_notify(3)
// sends: READY=1 once the receiver listens / the sender watches, STATUS= with the headline,
// WATCHDOG=1 while WATCHDOG_USEC asks for it, RELOADING=1 and READY=1 around a SIGHUP reload.
// SIGHUP re-reads the secret file and reopens the log file (log rotation); a bad configuration
// at reload keeps the running one. Under journald (JOURNAL_STREAM naming stderr) every line
// carries a syslog priority and no timestamp of its own.

#include "tests/testlib/processes.h"
#include "tests/testlib/testtree.h"

#include <QFile>
#include <QFileInfo>
#include <QProcessEnvironment>
#include <QRegularExpression>
#include <QTest>

#include <csignal>

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

using namespace isocket::test;

// sd_notify(3) needs libsystemd; the tests of what it sends skip without it (scripts/test
// requires it).
#ifdef ISOCKET_HAVE_LIBSYSTEMD
#define REQUIRE_LIBSYSTEMD()
#else
#define REQUIRE_LIBSYSTEMD() QSKIP("built without libsystemd: nothing is sent to NOTIFY_SOCKET")
#endif

namespace {

// The service manager's end of NOTIFY_SOCKET: collects each datagram as one message.
class NotifySocket
{
public:
    explicit NotifySocket(const QString &path) : m_path(path)
    {
        m_fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_un addr = {};
        addr.sun_family = AF_UNIX;
        const QByteArray name = QFile::encodeName(path);
        if (m_fd < 0 || size_t(name.size()) >= sizeof addr.sun_path)
            return;
        std::memcpy(addr.sun_path, name.constData(), size_t(name.size()));
        if (::bind(m_fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0) {
            ::close(m_fd);
            m_fd = -1;
        }
    }
    ~NotifySocket()
    {
        if (m_fd >= 0)
            ::close(m_fd);
    }
    NotifySocket(const NotifySocket &) = delete;
    NotifySocket &operator=(const NotifySocket &) = delete;

    bool isValid() const { return m_fd >= 0; }
    QString path() const { return m_path; }

    // Every message received so far, oldest first.
    const QList<QByteArray> &messages()
    {
        char buffer[4096];
        for (;;) {
            const ssize_t n = ::recv(m_fd, buffer, sizeof buffer, 0);
            if (n <= 0)
                break;
            m_messages.append(QByteArray(buffer, n));
        }
        return m_messages;
    }
    // The index of the first message from `from` on holding the line `line` (exactly, or as a
    // prefix when it ends in '='), -1: none yet.
    int find(const QByteArray &line, int from = 0)
    {
        const QList<QByteArray> &all = messages();
        for (int i = from; i < all.size(); ++i)
            for (const QByteArray &l : all.at(i).split('\n'))
                if (l == line || (line.endsWith('=') && l.startsWith(line)))
                    return i;
        return -1;
    }
    int count(const QByteArray &line)
    {
        int n = 0;
        for (const QByteArray &m : messages())
            n += int(m.split('\n').contains(line));
        return n;
    }
    // The value of the last `KEY=` line received, before message `before` (-1: all).
    QByteArray last(const QByteArray &key, int before = -1)
    {
        const QList<QByteArray> &all = messages();
        const int end = before < 0 ? int(all.size()) : before;
        for (int i = end - 1; i >= 0; --i)
            for (const QByteArray &l : all.at(i).split('\n'))
                if (l.startsWith(key))
                    return l.mid(key.size());
        return {};
    }

private:
    QString m_path;
    int m_fd = -1;
    QList<QByteArray> m_messages;
};

QProcessEnvironment serviceEnvironment(const NotifySocket &socket, qint64 watchdogUsec = 0)
{
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("NOTIFY_SOCKET"), socket.path());
    if (watchdogUsec > 0)
        env.insert(QStringLiteral("WATCHDOG_USEC"), QString::number(watchdogUsec));
    return env;
}

QByteArray readAll(const QString &file)
{
    QFile f(file);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

// One dbtag of `files` files, closed (finished.parse), under `ed`.
bool writeDbtag(const QString &ed, const QString &dbtag, int files)
{
    for (int i = 0; i < files; ++i)
        if (!writeFile(path(ed, dbtag + QStringLiteral("/f%1.dat").arg(i)), patternBytes(1000, i)))
            return false;
    return writeFile(path(ed, dbtag + QStringLiteral("/finished.parse")), {});
}

} // namespace

class TestE2eService : public QObject
{
    Q_OBJECT

private slots:
    void receiverReadyStatusWatchdog();
    void senderReadyStatusWatchdog();
    void withoutNotifySocketNothingIsSent();
    void reloadReopensTheLogFile();
    void reloadRereadsTheSecretFile();
    void reloadWithABadConfigurationKeepsRunning();
    void reloadAppliesTheBandwidthLimit();
    void journalLinesCarryPriorities();
};

void TestE2eService::receiverReadyStatusWatchdog()
{
    REQUIRE_LIBSYSTEMD();
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    NotifySocket notify(path(scene.tmp.path(), QStringLiteral("notify")));
    QVERIFY(notify.isValid());

    Process receiver(QStringLiteral("receiver"));
    receiver.setEnvironment(serviceEnvironment(notify, 200'000));
    const quint16 port = startReceiver(receiver, scene.recv);
    QVERIFY(port != 0);

    // READY=1 comes once it listens: its status names the port it listens on.
    QTRY_VERIFY_WITH_TIMEOUT(notify.find("READY=1") >= 0, e2eTimeout());
    const int ready = notify.find("READY=1");
    QCOMPARE(notify.find("STATUS="), ready);
    const QByteArray status = notify.last("STATUS=", ready + 1);
    const QByteArray expected = "listening 127.0.0.1:" + QByteArray::number(port) + "; ";
    QVERIFY2(status.startsWith(expected), status);
    // Pinged every half period (100 ms) for as long as it runs: a few within seconds.
    QTRY_VERIFY_WITH_TIMEOUT(notify.count("WATCHDOG=1") >= 5, e2eTimeout(10000));

    // STATUS= follows what happens: a sender's files show as stored.
    QVERIFY(writeDbtag(scene.ed, scene.dbtag, 3));
    Process sender(QStringLiteral("sender"));
    QVERIFY(
        sender.startIsocket(senderArgs(scene.ed, port, scene.source, {QStringLiteral("--once")})));
    QVERIFY(sender.waitForExit(e2eTimeout()));
    QCOMPARE(sender.exitCode(), 0);
    QTRY_VERIFY_WITH_TIMEOUT(notify.last("STATUS=").contains(" 3 file(s) stored, 0 failed"),
                             e2eTimeout());

    receiver.terminate();
    QVERIFY(receiver.waitForExit(e2eTimeout()));
    QVERIFY(notify.find("STOPPING=1") > ready);
}

void TestE2eService::senderReadyStatusWatchdog()
{
    REQUIRE_LIBSYSTEMD();
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    NotifySocket notify(path(scene.tmp.path(), QStringLiteral("notify")));
    QVERIFY(notify.isValid());
    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, scene.recv);
    QVERIFY(port != 0);
    QVERIFY(writeDbtag(scene.ed, scene.dbtag, 2));

    Process sender(QStringLiteral("sender"));
    sender.setEnvironment(serviceEnvironment(notify, 200'000));
    QVERIFY(sender.startIsocket(senderArgs(scene.ed, port, scene.source)));
    QTRY_VERIFY_WITH_TIMEOUT(notify.find("READY=1") >= 0, e2eTimeout());
    const QByteArray status = notify.last("STATUS=", notify.find("READY=1") + 1);
    const QByteArray expected = "sending " +
                                QFile::encodeName(QFileInfo(scene.ed).canonicalFilePath()) +
                                " to 127.0.0.1:" + QByteArray::number(port) + "; ";
    QVERIFY2(status.startsWith(expected), status);
    QTRY_VERIFY_WITH_TIMEOUT(notify.count("WATCHDOG=1") >= 5, e2eTimeout(10000));
    QTRY_VERIFY_WITH_TIMEOUT(notify.last("STATUS=").contains(" 2 sent, 0 failed"), e2eTimeout());
}

void TestE2eService::withoutNotifySocketNothingIsSent()
{
    REQUIRE_LIBSYSTEMD();
    // The same socket exists, but the process is not told about it (run by hand, Type=simple):
    // nothing arrives, and the receiver works as before. The barrier is a later READY=1 from a
    // second receiver that is told.
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    NotifySocket notify(path(scene.tmp.path(), QStringLiteral("notify")));
    QVERIFY(notify.isValid());
    Process plain(QStringLiteral("plain receiver"));
    QVERIFY(startReceiver(plain, scene.recv) != 0);
    Process told(QStringLiteral("told receiver"));
    told.setEnvironment(serviceEnvironment(notify));
    QVERIFY(startReceiver(told, path(scene.tmp.path(), QStringLiteral("recv2"))) != 0);
    QTRY_VERIFY_WITH_TIMEOUT(notify.find("READY=1") >= 0, e2eTimeout());
    QCOMPARE(notify.count("READY=1"), 1);
    // Without WATCHDOG_USEC: no pings.
    QCOMPARE(notify.count("WATCHDOG=1"), 0);
}

void TestE2eService::reloadReopensTheLogFile()
{
    REQUIRE_LIBSYSTEMD();
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    NotifySocket notify(path(scene.tmp.path(), QStringLiteral("notify")));
    QVERIFY(notify.isValid());
    const QString log = path(scene.tmp.path(), QStringLiteral("receive.log"));
    const QString rotated = log + QStringLiteral(".1");

    Process receiver(QStringLiteral("receiver"));
    receiver.setEnvironment(serviceEnvironment(notify));
    const quint16 port = startReceiver(receiver, scene.recv, 0, {QStringLiteral("--log"), log});
    QVERIFY(port != 0);
    QTRY_VERIFY_WITH_TIMEOUT(readAll(log).contains("listening on"), e2eTimeout());

    // logrotate: the file is renamed, then the service is told (postrotate: systemctl reload).
    QVERIFY(QFile::rename(log, rotated));
    QVERIFY(!QFileInfo::exists(log));
    receiver.sendSignal(SIGHUP);
    QTRY_VERIFY_WITH_TIMEOUT(notify.find("RELOADING=1") >= 0, e2eTimeout());
    QTRY_VERIFY_WITH_TIMEOUT(notify.find("READY=1", notify.find("RELOADING=1")) >= 0, e2eTimeout());
    QTRY_VERIFY_WITH_TIMEOUT(readAll(log).contains("reloaded"), e2eTimeout());

    // New lines land in the new file at the old path, not in the rotated one.
    QVERIFY(writeDbtag(scene.ed, scene.dbtag, 1));
    Process sender(QStringLiteral("sender"));
    QVERIFY(
        sender.startIsocket(senderArgs(scene.ed, port, scene.source, {QStringLiteral("--once")})));
    QVERIFY(sender.waitForExit(e2eTimeout()));
    QCOMPARE(sender.exitCode(), 0);
    QTRY_VERIFY_WITH_TIMEOUT(readAll(log).contains("f0.dat"), e2eTimeout());
    const QByteArray old = readAll(rotated);
    QVERIFY(old.contains("listening on"));
    QVERIFY(!old.contains("reloaded"));
    QVERIFY(!old.contains("f0.dat"));
    QVERIFY(receiver.isRunning());
}

void TestE2eService::reloadRereadsTheSecretFile()
{
    REQUIRE_LIBSYSTEMD();
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    NotifySocket notify(path(scene.tmp.path(), QStringLiteral("notify")));
    QVERIFY(notify.isValid());
    const QString secret = path(scene.tmp.path(), QStringLiteral("receiver.secret"));
    const QString newSecret = path(scene.tmp.path(), QStringLiteral("sender.secret"));
    QVERIFY(writeFile(secret, QByteArrayLiteral("old secret\n"), 0600));
    QVERIFY(writeFile(newSecret, QByteArrayLiteral("new secret\n"), 0600));
    QVERIFY(writeDbtag(scene.ed, scene.dbtag, 2));

    Process receiver(QStringLiteral("receiver"));
    receiver.setEnvironment(serviceEnvironment(notify));
    const quint16 port =
        startReceiver(receiver, scene.recv, 0, {QStringLiteral("--secret-file"), secret});
    QVERIFY(port != 0);
    const QStringList once{QStringLiteral("--once"), QStringLiteral("--secret-file"), newSecret};

    // The sender already has the new secret: refused.
    Process refused(QStringLiteral("sender with the new secret, before the reload"));
    QVERIFY(refused.startIsocket(senderArgs(scene.ed, port, scene.source, once)));
    QVERIFY(refused.waitForExit(e2eTimeout()));
    QCOMPARE(refused.exitCode(), 1);
    QCOMPARE(nothingStored(scene.recv, scene.source, scene.dbtag), QString());

    // The operator rotates the receiver's secret and reloads: the same sender now gets through.
    QVERIFY(writeFile(secret, QByteArrayLiteral("new secret\n"), 0600));
    receiver.sendSignal(SIGHUP);
    QTRY_VERIFY_WITH_TIMEOUT(notify.find("READY=1", notify.find("RELOADING=1") + 1) > 0,
                             e2eTimeout());
    Process accepted(QStringLiteral("sender with the new secret, after the reload"));
    QVERIFY(accepted.startIsocket(senderArgs(scene.ed, port, scene.source, once)));
    QVERIFY(accepted.waitForExit(e2eTimeout()));
    QCOMPARE(accepted.exitCode(), 0);
    QCOMPARE(dbtagFinished(scene.ed, scene.dbtag, scene.recv, scene.source), QString());
}

void TestE2eService::reloadWithABadConfigurationKeepsRunning()
{
    REQUIRE_LIBSYSTEMD();
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    NotifySocket notify(path(scene.tmp.path(), QStringLiteral("notify")));
    QVERIFY(notify.isValid());
    const QString ini = path(scene.tmp.path(), QStringLiteral("isocket.ini"));
    const QString log = path(scene.tmp.path(), QStringLiteral("receive.log"));
    QVERIFY(writeFile(ini, QStringLiteral("[general]\nlog = %1\n").arg(log).toUtf8()));

    Process receiver(QStringLiteral("receiver"));
    receiver.setEnvironment(serviceEnvironment(notify));
    const quint16 port = startReceiver(receiver, scene.recv, 0, {QStringLiteral("--config"), ini});
    QVERIFY(port != 0);

    // A typo in the file: the reload says so, and the receiver goes on with what it had.
    QVERIFY(writeFile(
        ini, QStringLiteral("[general]\nlog = %1\n[receive]\nreserve = lots\n").arg(log).toUtf8()));
    receiver.sendSignal(SIGHUP);
    QTRY_VERIFY_WITH_TIMEOUT(readAll(log).contains("reload failed"), e2eTimeout());
    QVERIFY(readAll(log).contains("receive.reserve"));
    QVERIFY(writeDbtag(scene.ed, scene.dbtag, 1));
    Process sender(QStringLiteral("sender"));
    QVERIFY(
        sender.startIsocket(senderArgs(scene.ed, port, scene.source, {QStringLiteral("--once")})));
    QVERIFY(sender.waitForExit(e2eTimeout()));
    QCOMPARE(sender.exitCode(), 0);
    QVERIFY(receiver.isRunning());

    // A key only a restart applies is named.
    QVERIFY(writeFile(
        ini, QStringLiteral("[general]\nlog = %1\n[receive]\nreserve = 1M\n").arg(log).toUtf8()));
    receiver.sendSignal(SIGHUP);
    QTRY_VERIFY_WITH_TIMEOUT(
        readAll(log).contains("receive.reserve changed: it takes effect at the next restart"),
        e2eTimeout());
}

void TestE2eService::reloadAppliesTheBandwidthLimit()
{
    // send.bwlimit changed in the file (by hand, or by the window's settings dialog) applies at
    // the reload, without a restart; the sender says so instead of "at the next restart".
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const QString ini = path(scene.tmp.path(), QStringLiteral("isocket.ini"));
    const QString log = path(scene.tmp.path(), QStringLiteral("send.log"));
    QVERIFY(writeFile(ini, QStringLiteral("[general]\nlog = %1\n").arg(log).toUtf8()));
    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, scene.recv);
    QVERIFY(port != 0);
    QVERIFY(writeDbtag(scene.ed, scene.dbtag, 1));
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(
        senderArgs(scene.ed, port, scene.source, {QStringLiteral("--config"), ini})));
    // Connected: its signal handlers are in place.
    QTRY_VERIFY_WITH_TIMEOUT(readAll(log).contains("connected to"), e2eTimeout());

    QVERIFY(writeFile(ini, QStringLiteral("[general]\nlog = %1\n[send]\nbwlimit = 1M\n")
                               .arg(log)
                               .toUtf8()));
    sender.sendSignal(SIGHUP);
    QTRY_VERIFY_WITH_TIMEOUT(readAll(log).contains("reloaded"), e2eTimeout());
    QVERIFY2(readAll(log).contains("send.bwlimit is now 1048576 bytes per second"),
             readAll(log).constData());
    QVERIFY(!readAll(log).contains("send.bwlimit changed"));
    QVERIFY(sender.isRunning());
}

void TestE2eService::journalLinesCarryPriorities()
{
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    // stderr goes to a file made beforehand, so that its device and inode are known: as
    // systemd does with the journal's stream socket, JOURNAL_STREAM names them.
    for (const bool matching : {true, false}) {
        const QString err = path(scene.tmp.path(), matching ? QStringLiteral("journal")
                                                            : QStringLiteral("elsewhere"));
        QVERIFY(writeFile(err, {}));
        struct stat st = {};
        QCOMPARE(::stat(QFile::encodeName(err).constData(), &st), 0);
        QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
        env.insert(QStringLiteral("JOURNAL_STREAM"),
                   QStringLiteral("%1:%2").arg(st.st_dev).arg(st.st_ino + (matching ? 0 : 1)));
        Process receiver(QStringLiteral("receiver"));
        receiver.setEnvironment(env);
        receiver.setStandardErrorFile(err);
        receiver.startIsocket({QStringLiteral("receive"), QStringLiteral("--root"),
                               path(scene.tmp.path(), QStringLiteral("recv-") + err.right(4)),
                               QStringLiteral("--listen"), QStringLiteral("127.0.0.1:0")});
        QVERIFY(waitListening(receiver, e2eTimeout()) != 0);
        QTRY_VERIFY_WITH_TIMEOUT(readAll(err).contains("listening on"), e2eTimeout());
        receiver.terminate();
        QVERIFY(receiver.waitForExit(e2eTimeout()));
        const QList<QByteArray> lines = readAll(err).trimmed().split('\n');
        QVERIFY(lines.size() >= 2);
        static const QRegularExpression journal(
            QStringLiteral("^<[2467]>(debug|info |warn |crit |fatal) isocket\\.[a-z]+: "));
        static const QRegularExpression console(
            QStringLiteral("^\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3} "
                           "(debug|info |warn |crit |fatal) isocket\\.[a-z]+: "));
        for (const QByteArray &line : lines) {
            const QString text = QString::fromUtf8(line);
            QVERIFY2((matching ? journal : console).match(text).hasMatch(), line);
        }
        const QByteArray first = lines.first();
        if (matching)
            QVERIFY2(first.startsWith("<6>info  isocket.recv: listening on"), first);
    }
}

QTEST_GUILESS_MAIN(TestE2eService)
#include "tst_e2e_service.moc"
