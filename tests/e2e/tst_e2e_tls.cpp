// End to end with real processes: per-ED identity over TLS 1.3 with pinned self-signed
// certificates (issue 13, item 12; docs/SECURITY.md). `isocket keygen` makes a private key and
// a certificate; the sender trusts only the receiver whose fingerprint it pinned; the receiver
// accepts an ED only with a key its peers file lists for the source the ED claims, re-reads
// that file on SIGHUP and cuts off a key taken off it; plain TCP off loopback needs an opt-in;
// and a dataset the receiver confirmed complete is never rewritten.

#include "tests/testlib/processes.h"
#include "tests/testlib/testtree.h"

#include "core/checksum.h"
#include "core/sentmark.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QRegularExpression>
#include <QTest>

#include <csignal>

#include <sys/stat.h>
#include <sys/xattr.h>

using namespace isocket;
using namespace isocket::test;

namespace {

constexpr qint64 T0 = 1'600'000'000;

struct Keys
{
    QString cert;
    QString key;
    QString fingerprint;
};

// `isocket keygen --cert dir/name.crt --key dir/name.key --name name`: the real command.
Keys keygen(const QString &dir, const QString &name)
{
    Keys k{path(dir, name + QStringLiteral(".crt")), path(dir, name + QStringLiteral(".key")), {}};
    Process p(QStringLiteral("keygen ") + name);
    if (!p.startIsocket({QStringLiteral("keygen"), QStringLiteral("--cert"), k.cert,
                         QStringLiteral("--key"), k.key, QStringLiteral("--name"), name}) ||
        !p.waitForExit(e2eTimeout(10000)) || p.exitCode() != 0) {
        p.dump();
        return {};
    }
    k.fingerprint = p.out().trimmed();
    return k;
}

QStringList tlsArgs(const Keys &k)
{
    return {QStringLiteral("--cert"), k.cert, QStringLiteral("--key"), k.key};
}

// The test receiver's key (testTls()) with a peers file of the test's own.
QStringList receiverWithPeers(const QString &peers)
{
    return {QStringLiteral("--cert"), testTls().receiverCert, QStringLiteral("--key"),
            testTls().receiverKey, QStringLiteral("--peers"), peers};
}

// The test ED's key and its pin of the test receiver, then `extra`.
QStringList testEd(const QStringList &extra = {})
{
    return QStringList{QStringLiteral("--cert"), testTls().edCert, QStringLiteral("--key"),
                       testTls().edKey, QStringLiteral("--receiver-fingerprint"),
                       testTls().receiverFingerprint} +
           extra;
}

QByteArray readAll(const QString &file)
{
    QFile f(file);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

// Makes a sent file unsent again on the ED, as if isocket had never marked it.
bool unmark(const QString &file)
{
    const QByteArray native = QFile::encodeName(file);
    struct stat st;
    if (::stat(native.constData(), &st) != 0)
        return false;
    ::removexattr(native.constData(), SentMark::AttributeName);
    return ::chmod(native.constData(), st.st_mode & ~S_IWGRP) == 0;
}

} // namespace

class TestE2eTls : public QObject
{
    Q_OBJECT

private slots:
    void keygenWritesAPrivateKeyAndPrintsTheFingerprint();
    void senderTrustsOnlyThePinnedReceiver();
    void unlistedKeyIsRefusedUntilListedAndReloaded();
    void keyIsBoundToItsSource();
    void keyTakenOffTheListIsCutOff();
    void plainAndTlsMismatchSaySo();
    void plainOffLoopbackNeedsTheOptIn();
    void completeDatasetIsNeverRewritten();
    void threadsReleaseOpenSslBeforeTheProcessExits();
};

void TestE2eTls::keygenWritesAPrivateKeyAndPrintsTheFingerprint()
{
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    const Keys k = keygen(tmp.path(), QStringLiteral("ed-7"));
    QVERIFY(!k.fingerprint.isEmpty());
    QCOMPARE(k.fingerprint.size(), 64);
    QCOMPARE(QFileInfo(k.key).permissions() & (QFileDevice::ReadGroup | QFileDevice::ReadOther |
                                                QFileDevice::WriteGroup | QFileDevice::WriteOther),
             QFileDevice::Permissions());
    QVERIFY(readAll(k.key).startsWith("-----BEGIN"));
    QVERIFY(readAll(k.cert).startsWith("-----BEGIN CERTIFICATE-----"));

    // --show prints the same fingerprint again, from the certificate alone.
    Process show(QStringLiteral("keygen --show"));
    QVERIFY(show.startIsocket({QStringLiteral("keygen"), QStringLiteral("--show"),
                               QStringLiteral("--cert"), k.cert}));
    QVERIFY(show.waitForExit(e2eTimeout(10000)));
    QCOMPARE(show.exitCode(), 0);
    QCOMPARE(show.out().trimmed(), k.fingerprint);

    // An existing key is never replaced by accident.
    const QByteArray key = readAll(k.key);
    Process again(QStringLiteral("keygen again"));
    QVERIFY(again.startIsocket({QStringLiteral("keygen"), QStringLiteral("--cert"), k.cert,
                                QStringLiteral("--key"), k.key}));
    QVERIFY(again.waitForExit(e2eTimeout(10000)));
    QCOMPARE(again.exitCode(), 2);
    QVERIFY2(again.err().contains(QStringLiteral("--force")), qPrintable(again.err()));
    QCOMPARE(readAll(k.key), key);

    // A key that others may read is refused where it is used.
    QVERIFY(QFile::setPermissions(k.key, QFileDevice::ReadOwner | QFileDevice::WriteOwner |
                                             QFileDevice::ReadGroup));
    Process receiver(QStringLiteral("receiver (open key)"));
    QVERIFY(receiver.startIsocket(QStringList{QStringLiteral("receive"), QStringLiteral("--root"),
                                              path(tmp.path(), QStringLiteral("recv")),
                                              QStringLiteral("--listen"),
                                              QStringLiteral("127.0.0.1:0")} +
                                  tlsArgs(k)));
    QVERIFY(receiver.waitForExit(e2eTimeout(10000)));
    QCOMPARE(receiver.exitCode(), 2);
    QVERIFY2(receiver.err().contains(QStringLiteral("chmod 600")), qPrintable(receiver.err()));
}

void TestE2eTls::senderTrustsOnlyThePinnedReceiver()
{
    // A receiver with a key of its own, not the one the ED pinned (a machine that took over the
    // address): the ED sends nothing to it and marks nothing.
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    QVERIFY(writeFile(path(path(ed, dbtag), QStringLiteral("a.dat")), patternBytes(9000, 1)));
    QVERIFY(makeDbtag(ed, dbtag, true, false, T0));
    const Keys impostor = keygen(tmp.path(), QStringLiteral("impostor"));
    QVERIFY(!impostor.fingerprint.isEmpty());
    QVERIFY(writeFile(path(tmp.path(), QStringLiteral("peers")),
                      (source + QLatin1Char(' ') + testTls().edFingerprint + QLatin1Char('\n'))
                          .toUtf8()));

    Process receiver(QStringLiteral("impostor receiver"));
    const quint16 port = startPlainReceiver(
        receiver, recv, 0,
        tlsArgs(impostor) + QStringList{QStringLiteral("--peers"),
                                        path(tmp.path(), QStringLiteral("peers"))});
    QVERIFY(port != 0);
    Process sender(QStringLiteral("sender"));
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source, {QStringLiteral("--once")})));
    QVERIFY(sender.waitForExit(e2eTimeout()));
    QCOMPARE(sender.exitCode(), 1);
    QVERIFY2(sender.err().contains(impostor.fingerprint) &&
                 sender.err().contains(testTls().receiverFingerprint),
             qPrintable(sender.err()));
    QCOMPARE(nothingStored(recv, source, dbtag), QString());
    QCOMPARE(nothingMarked(ed, dbtag), QString());
    QVERIFY(!receiver.err().contains(QStringLiteral("authenticated as")));

    // Pinned too (a receiver's key being replaced: the old and the new one), it is trusted.
    Process rotated(QStringLiteral("sender, two pins"));
    QVERIFY(rotated.startIsocket(plainSenderArgs(
        ed, port, source,
        {QStringLiteral("--once"), QStringLiteral("--cert"), testTls().edCert,
         QStringLiteral("--key"), testTls().edKey, QStringLiteral("--receiver-fingerprint"),
         testTls().receiverFingerprint + QLatin1Char(',') + impostor.fingerprint})));
    QVERIFY(rotated.waitForExit(e2eTimeout()));
    QCOMPARE(rotated.exitCode(), 0);
    QCOMPARE(dbtagFinished(ed, dbtag, recv, source), QString());
}

void TestE2eTls::unlistedKeyIsRefusedUntilListedAndReloaded()
{
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    QVERIFY(writeFile(path(path(ed, dbtag), QStringLiteral("a.dat")), patternBytes(70000, 2)));
    QVERIFY(makeDbtag(ed, dbtag, true, false, T0));
    const Keys edKeys = keygen(tmp.path(), source);
    QVERIFY(!edKeys.fingerprint.isEmpty());
    const QString peers = path(tmp.path(), QStringLiteral("peers"));
    QVERIFY(writeFile(peers, QByteArrayLiteral("# nobody yet\n")));

    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startPlainReceiver(
        receiver, recv, 0,
        receiverWithPeers(peers));
    QVERIFY(port != 0);
    Process sender(QStringLiteral("sender (daemon)"));
    QVERIFY(sender.startIsocket(plainSenderArgs(
        ed, port, source,
        tlsArgs(edKeys) + QStringList{QStringLiteral("--receiver-fingerprint"),
                                      testTls().receiverFingerprint})));
    // The receiver says which line would let this ED in; the ED says it was refused.
    const QString line = source + QLatin1Char(' ') + edKeys.fingerprint;
    QVERIFY(receiver.waitForError(line, e2eTimeout()));
    QVERIFY(sender.waitForError(QStringLiteral("auth-failed"), e2eTimeout()));
    QCOMPARE(nothingStored(recv, source, dbtag), QString());
    QCOMPARE(nothingMarked(ed, dbtag), QString());

    // Listed and reloaded: the daemon's next attempt gets through, no restart on either side.
    QVERIFY(writeFile(peers, (line + QLatin1Char('\n')).toUtf8()));
    ::kill(pid_t(receiver.pid()), SIGHUP);
    QVERIFY(receiver.waitForError(QStringLiteral("reloaded: 1 ED key(s)"), e2eTimeout()));
    QTRY_COMPARE_WITH_TIMEOUT(dbtagFinished(ed, dbtag, recv, source), QString(), e2eTimeout());

    // A peers file broken by an edit keeps the old list (and says why).
    QVERIFY(writeFile(peers, QByteArrayLiteral("ed9 not-a-fingerprint\n")));
    ::kill(pid_t(receiver.pid()), SIGHUP);
    QVERIFY(receiver.waitForError(QStringLiteral("the old list stays"), e2eTimeout()));
    QVERIFY(receiver.isRunning());
}

void TestE2eTls::keyIsBoundToItsSource()
{
    // One ED's key cannot write as another ED: the source is bound to the key.
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    QVERIFY(writeFile(path(path(ed, dbtag), QStringLiteral("a.dat")), patternBytes(5000, 3)));
    QVERIFY(makeDbtag(ed, dbtag, true, false, T0));
    const QString peers = path(tmp.path(), QStringLiteral("peers"));
    QVERIFY(writeFile(peers, QStringLiteral("ed-a %1\n").arg(testTls().edFingerprint).toUtf8()));
    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startPlainReceiver(
        receiver, recv, 0,
        receiverWithPeers(peers));
    QVERIFY(port != 0);

    Process sender(QStringLiteral("sender as ed-b"));
    QVERIFY(sender.startIsocket(plainSenderArgs(
        ed, port, QStringLiteral("ed-b"),
        testEd({QStringLiteral("--once")}))));
    QVERIFY(sender.waitForExit(e2eTimeout()));
    QCOMPARE(sender.exitCode(), 1);
    QVERIFY(receiver.waitForError(QStringLiteral("for 'ed-a' only"), e2eTimeout()));
    QVERIFY(!QFileInfo::exists(path(recv, QStringLiteral("ed-b"))));
    QCOMPARE(nothingMarked(ed, dbtag), QString());

    // The same key as the source it is listed for: delivered.
    Process right(QStringLiteral("sender as ed-a"));
    QVERIFY(right.startIsocket(plainSenderArgs(
        ed, port, QStringLiteral("ed-a"),
        testEd({QStringLiteral("--once")}))));
    QVERIFY(right.waitForExit(e2eTimeout()));
    QCOMPARE(right.exitCode(), 0);
    QCOMPARE(dbtagFinished(ed, dbtag, recv, QStringLiteral("ed-a")), QString());
}

void TestE2eTls::keyTakenOffTheListIsCutOff()
{
    // A stolen ED: its line goes, SIGHUP, and its open connections close at once.
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    const QString peers = path(tmp.path(), QStringLiteral("peers"));
    QVERIFY(writeFile(peers, (source + QLatin1Char(' ') + testTls().edFingerprint +
                              QLatin1Char('\n')).toUtf8()));
    QVERIFY(writeFile(path(path(ed, dbtag), QStringLiteral("a.dat")), patternBytes(5000, 4)));
    QVERIFY(makeDbtag(ed, dbtag, false, false, T0)); // live: the daemon stays connected
    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startPlainReceiver(
        receiver, recv, 0,
        receiverWithPeers(peers));
    QVERIFY(port != 0);
    Process sender(QStringLiteral("sender (daemon)"));
    QVERIFY(sender.startIsocket(plainSenderArgs(
        ed, port, source,
        testEd())));
    QTRY_COMPARE_WITH_TIMEOUT(
        fileDelivered(ed, dbtag, QStringLiteral("a.dat"), recv, source), QString(), e2eTimeout());

    QVERIFY(writeFile(peers, QByteArrayLiteral("# revoked\n")));
    ::kill(pid_t(receiver.pid()), SIGHUP);
    QVERIFY(receiver.waitForError(QStringLiteral("closed after the reload"), e2eTimeout()));
    // What it writes now does not arrive.
    QVERIFY(writeFile(path(path(ed, dbtag), QStringLiteral("b.dat")), patternBytes(5000, 5)));
    QVERIFY(sender.waitForError(QStringLiteral("auth-failed"), e2eTimeout()));
    QVERIFY(!QFileInfo::exists(path(recv, QStringLiteral("%1/%2/b.dat").arg(source, dbtag))));
    QVERIFY(!hasGroupWrite(path(path(ed, dbtag), QStringLiteral("b.dat"))));
}

void TestE2eTls::plainAndTlsMismatchSaySo()
{
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    QVERIFY(writeFile(path(path(ed, dbtag), QStringLiteral("a.dat")), patternBytes(5000, 6)));
    QVERIFY(makeDbtag(ed, dbtag, true, false, T0));

    // A plain ED and a TLS receiver.
    {
        Process receiver(QStringLiteral("TLS receiver"));
        watchTlsReceiver(receiver);
        const quint16 port = startPlainReceiver(receiver, recv, 0, tlsReceiverArgs());
        QVERIFY(port != 0);
        Process sender(QStringLiteral("plain sender"));
        QVERIFY(sender.startIsocket(
            plainSenderArgs(ed, port, source, {QStringLiteral("--once")})));
        QVERIFY(sender.waitForExit(e2eTimeout()));
        QCOMPARE(sender.exitCode(), 1);
        QVERIFY2(sender.err().contains(QStringLiteral("speaks TLS")), qPrintable(sender.err()));
    }
    // A TLS ED and a plain receiver.
    {
        Process receiver(QStringLiteral("plain receiver"));
        const quint16 port = startPlainReceiver(receiver, recv);
        QVERIFY(port != 0);
        Process sender(QStringLiteral("TLS sender"));
        QVERIFY(sender.startIsocket(senderArgs(ed, port, source, {QStringLiteral("--once")})));
        QVERIFY(sender.waitForExit(e2eTimeout()));
        QCOMPARE(sender.exitCode(), 1);
        QVERIFY(receiver.waitForError(QStringLiteral("the peer speaks TLS"), e2eTimeout()));
    }
    QCOMPARE(nothingStored(recv, source, dbtag), QString());
    QCOMPARE(nothingMarked(ed, dbtag), QString());
}

void TestE2eTls::plainOffLoopbackNeedsTheOptIn()
{
    // Checked before anything listens or connects: no traffic leaves this machine.
    QTemporaryDir tmp;
    QVERIFY(tmp.isValid());
    Process receiver(QStringLiteral("receiver on every address"));
    QVERIFY(receiver.startIsocket({QStringLiteral("receive"), QStringLiteral("--root"),
                                   path(tmp.path(), QStringLiteral("recv")),
                                   QStringLiteral("--listen"), QStringLiteral("0.0.0.0:0")}));
    QVERIFY(receiver.waitForExit(e2eTimeout(10000)));
    QCOMPARE(receiver.exitCode(), 2);
    QVERIFY2(receiver.err().contains(QStringLiteral("general.transport = plain")),
             qPrintable(receiver.err()));
    QVERIFY(!receiver.out().contains(QStringLiteral("listening")));

    Process sender(QStringLiteral("sender to another machine"));
    QVERIFY(sender.startIsocket({QStringLiteral("send"), QStringLiteral("--once"),
                                 QStringLiteral("--root"), tmp.path(), QStringLiteral("--to"),
                                 QStringLiteral("192.0.2.1:9")}));
    QVERIFY(sender.waitForExit(e2eTimeout(10000)));
    QCOMPARE(sender.exitCode(), 2);
    QVERIFY2(sender.err().contains(QStringLiteral("general.transport = plain")),
             qPrintable(sender.err()));

    // TLS without the receiver's fingerprint is refused as well: it would trust anyone.
    Process unpinned(QStringLiteral("sender without a pin"));
    QVERIFY(unpinned.startIsocket({QStringLiteral("send"), QStringLiteral("--once"),
                                   QStringLiteral("--root"), tmp.path(), QStringLiteral("--to"),
                                   QStringLiteral("192.0.2.1:9"), QStringLiteral("--cert"),
                                   testTls().edCert, QStringLiteral("--key"), testTls().edKey}));
    QVERIFY(unpinned.waitForExit(e2eTimeout(10000)));
    QCOMPARE(unpinned.exitCode(), 2);
    QVERIFY2(unpinned.err().contains(QStringLiteral("send.receiver_fingerprint")),
             qPrintable(unpinned.err()));
}

void TestE2eTls::completeDatasetIsNeverRewritten()
{
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    const QString a = path(path(ed, dbtag), QStringLiteral("a.dat"));
    const QString b = path(path(ed, dbtag), QStringLiteral("b.dat"));
    QVERIFY(writeFile(a, patternBytes(20000, 7)));
    QVERIFY(writeFile(b, patternBytes(30000, 8)));
    QVERIFY(setMtime(a, T0));
    QVERIFY(setMtime(b, T0));
    QVERIFY(makeDbtag(ed, dbtag, true, false, T0));
    Process receiver(QStringLiteral("receiver"));
    const quint16 port = startReceiver(receiver, recv);
    QVERIFY(port != 0);
    {
        Process sender(QStringLiteral("sender"));
        QVERIFY(sender.startIsocket(senderArgs(ed, port, source, {QStringLiteral("--once")})));
        QVERIFY(sender.waitForExit(e2eTimeout()));
        QCOMPARE(sender.exitCode(), 0);
    }
    QCOMPARE(dbtagFinished(ed, dbtag, recv, source), QString());
    const QString stored = path(recv, QStringLiteral("%1/%2").arg(source, dbtag));
    const QByteArray manifest = readAll(path(stored, QStringLiteral("finished.isocket")));
    const QByteArray storedA = readAll(path(stored, QStringLiteral("a.dat")));
    const QByteArray storedB = readAll(path(stored, QStringLiteral("b.dat")));
    QVERIFY(!manifest.isEmpty());

    // Later versions on the ED: a.dat with other bytes, size and time; b.dat with other bytes
    // of the same size and time (the receiver's size-and-time check calls it stored, the hash
    // tells them apart). Both are sent again, and both refused.
    QVERIFY(QFile::remove(path(path(ed, dbtag), QStringLiteral("finished.watch"))));
    QVERIFY(writeFile(a, patternBytes(25000, 9)));
    QVERIFY(setMtime(a, T0 + 60));
    QVERIFY(writeFile(b, patternBytes(30000, 10)));
    QVERIFY(setMtime(b, T0));
    QVERIFY(unmark(a));
    QVERIFY(unmark(b));
    Process again(QStringLiteral("sender (later versions)"));
    QVERIFY(again.startIsocket(senderArgs(ed, port, source, {QStringLiteral("--once")})));
    QVERIFY(again.waitForExit(e2eTimeout()));
    QCOMPARE(again.exitCode(), 1);
    QVERIFY2(again.err().contains(QStringLiteral("complete on the receiver")),
             qPrintable(again.err()));
    QCOMPARE(readAll(path(stored, QStringLiteral("a.dat"))), storedA);
    QCOMPARE(readAll(path(stored, QStringLiteral("b.dat"))), storedB);
    QCOMPARE(readAll(path(stored, QStringLiteral("finished.isocket"))), manifest);
    QVERIFY(!hasGroupWrite(a));
    QVERIFY(!hasGroupWrite(b));
    QVERIFY(!QFileInfo::exists(path(path(ed, dbtag), QStringLiteral("finished.watch"))));
}

void TestE2eTls::threadsReleaseOpenSslBeforeTheProcessExits()
{
    // CI once saw `isocket send --once` die after its work was done ("double free or corruption";
    // here 5 exits in 1,500 under load, SIGSEGV in libcrypto): a link thread's OpenSSL
    // thread-local destructor ran after QThread::wait() had returned and raced with the
    // process's exit. Each thread now releases its OpenSSL state before wait() returns. The
    // preloaded module (tests/testlib/tsdwatch.cpp) reports any such destructor that still
    // runs: none may, in the sender (its TLS links) or the receiver (its I/O threads).
#ifdef ISOCKET_SANITIZED
    QSKIP("the sanitizer runtime must come first among the preloaded libraries");
#endif
    const E2eScene scene;
    QVERIFY(scene.tmp.isValid());
    const auto &[tmp, ed, recv, source, dbtag] = scene;
    for (int i = 0; i < 4; ++i)
        QVERIFY(writeFile(path(path(ed, dbtag), QStringLiteral("f%1.dat").arg(i)),
                          patternBytes(10000, i)));
    QVERIFY(makeDbtag(ed, dbtag, true, false, T0));
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("LD_PRELOAD"), QStringLiteral(ISOCKET_TSDWATCH));
    // The module says at exit that it was loaded and watches libcrypto's keys; each such
    // destructor run at a thread's exit is a line of its own.
    const QRegularExpression loaded(
        QStringLiteral("tsdwatch loaded: watching [1-9][0-9]* OpenSSL thread-local"));
    const QString reported = QStringLiteral("destructor ran at a thread's exit");

    Process receiver(QStringLiteral("receiver"));
    receiver.setEnvironment(env);
    const quint16 port =
        startReceiver(receiver, recv, 0, {QStringLiteral("--threads"), QStringLiteral("2")});
    QVERIFY(port != 0);
    Process sender(QStringLiteral("sender"));
    sender.setEnvironment(env);
    QVERIFY(sender.startIsocket(senderArgs(ed, port, source,
                                           {QStringLiteral("--once"), QStringLiteral("--jobs"),
                                            QStringLiteral("4")})));
    QVERIFY(sender.waitForExit(e2eTimeout()));
    QCOMPARE(sender.exitCode(), 0);
    QVERIFY(sender.exitedNormally());
    QCOMPARE(dbtagFinished(ed, dbtag, recv, source), QString());
    QVERIFY2(sender.err().contains(loaded), qPrintable(sender.err()));
    QVERIFY2(!sender.err().contains(reported), qPrintable(sender.err()));

    receiver.terminate();
    QVERIFY(receiver.waitForExit(e2eTimeout()));
    QVERIFY(receiver.exitedNormally());
    QCOMPARE(receiver.exitCode(), 0);
    QVERIFY2(receiver.err().contains(loaded), qPrintable(receiver.err()));
    QVERIFY2(!receiver.err().contains(reported), qPrintable(receiver.err()));
}

QTEST_GUILESS_MAIN(TestE2eTls)
#include "tst_e2e_tls.moc"
