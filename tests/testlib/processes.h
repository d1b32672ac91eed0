#pragma once
// Helpers for the end-to-end tests that run the real `isocket` binary (tests/e2e/):
// - Process: a QProcess that never outlives its test: the destructor kills it by PID (SIGKILL)
//   and reaps it. It collects stdout and stderr, and prints them (qWarning) when the test
//   failed, so that CI logs explain the failure.
// - start helpers for `isocket receive` (reads the port back from its "listening" line) and
//   `isocket send`.
// - tree checks that return an empty string when all is well, else a description of the first
//   difference, for QTRY_COMPARE_WITH_TIMEOUT(check(...), QString(), timeout).
// Waiting spins the event loop (QTest::qWaitFor) on observable state; nothing sleeps.

#include <QByteArray>
#include <QObject>
#include <QProcess>
#include <QString>
#include <QStringList>
#include <QTemporaryDir>
#include <QTimer>

namespace isocket::test {

// Path of the isocket binary under test.
QString isocketBinary();

// `a/b`.
QString path(const QString &a, const QString &b);

// The scene of most end-to-end tests: a temporary directory holding the ED's data root `ed`
// and the receiver's root `recv`, the ED's source name and the dbtag the test writes.
// Bind it whole: `const auto &[tmp, ed, recv, source, dbtag] = scene;`.
struct E2eScene
{
    QTemporaryDir tmp;
    QString ed = path(tmp.path(), QStringLiteral("ed"));
    QString recv = path(tmp.path(), QStringLiteral("recv"));
    QString source = QStringLiteral("ed1");
    QString dbtag = QStringLiteral("DC20200101000000");
};

// Base timeout of a waiting step in the e2e tests (ms), already scaled by timeoutFactor().
int e2eTimeout(int baseMs = 30000);

class Process : public QObject
{
    Q_OBJECT

public:
    explicit Process(const QString &name, QObject *parent = nullptr);
    ~Process() override;

    // The working directory of the next start() (default: the test's own).
    void setWorkingDirectory(const QString &dir) { m_process.setWorkingDirectory(dir); }
    // The environment of the next start() (default: the test's own).
    void setEnvironment(const QProcessEnvironment &env) { m_process.setProcessEnvironment(env); }
    // The next start() writes stderr to this file instead of a pipe (err() stays empty).
    void setStandardErrorFile(const QString &file) { m_process.setStandardErrorFile(file); }
    // Starts `program args`; false (stderr printed) when it did not start.
    bool start(const QString &program, const QStringList &args);
    bool startIsocket(const QStringList &args) { return start(isocketBinary(), args); }

    QString name() const { return m_name; }
    qint64 pid() const { return m_pid; }
    bool isRunning() const { return m_process.state() != QProcess::NotRunning; }
    void kill();      // SIGKILL by PID, then reaps the process
    void terminate(); // SIGTERM by PID; use waitForExit()
    void sendSignal(int number); // by PID, while it runs
    // Spins the event loop until the process exited or timeoutMs passed.
    bool waitForExit(int timeoutMs);
    // Spins the event loop until stdout (or stderr) holds `text`.
    bool waitForOutput(const QString &text, int timeoutMs);
    bool waitForError(const QString &text, int timeoutMs);
    int exitCode() const { return m_process.exitCode(); }
    bool exitedNormally() const { return m_process.exitStatus() == QProcess::NormalExit; }

    // What the process printed so far, as far as the event loop has read it: wait for a line
    // with waitForOutput()/waitForError() before asserting on it.
    QString out() const;
    QString err() const;
    // Prints the command line, the exit state, stdout and stderr with qWarning.
    void dump() const;

private:
    void collect() const;

    QString m_name;
    QString m_commandLine;
    mutable QProcess m_process;
    mutable QByteArray m_out;
    mutable QByteArray m_err;
    qint64 m_pid = 0;
};

// TLS in the e2e tests (docs/SECURITY.md): on, unless the environment sets
// ISOCKET_TEST_PLAIN=1 (to compare) or a test asks for plain TCP and says why. One receiver key
// and one ED key per test process, made with core's generateIdentity() in a temporary
// directory; the ED key is listed in the receivers' peers file for every source a test sends
// as (tlsSenderArgs() adds it, and has every running TLS receiver reload the file).
bool tlsByDefault();
// --cert, --key and --peers of the test receiver.
QStringList tlsReceiverArgs();
// --cert, --key and --receiver-fingerprint of the test ED, `source` listed first.
QStringList tlsSenderArgs(const QString &source);
// The files and fingerprints behind those arguments (made on first use).
struct TestTls
{
    QString receiverCert, receiverKey, edCert, edKey, peersFile;
    QString receiverFingerprint, edFingerprint;
};
const TestTls &testTls();
// Makes `p` (a receiver started with tlsReceiverArgs()) reload its peers file whenever
// tlsSenderArgs() lists a new source. startReceiver() does it itself.
void watchTlsReceiver(Process &p);

// `isocket receive --root root --listen 127.0.0.1:<port> extra…` (with TLS: and
// tlsReceiverArgs()), waits for "listening" and returns the port it listens on; 0 on failure
// (output printed). startPlainReceiver() never adds TLS: the caller says why.
quint16 startReceiver(Process &p, const QString &root, quint16 port = 0,
                      const QStringList &extra = {});
quint16 startPlainReceiver(Process &p, const QString &root, quint16 port = 0,
                           const QStringList &extra = {});
// Reads the port from a "listening 127.0.0.1:<port>" line the process printed (0: none yet).
quint16 listeningPort(const Process &p);
// Waits for a "listening" line (any way the receiver was started) and returns the port.
quint16 waitListening(Process &p, int timeoutMs);

// The arguments of `isocket send` towards 127.0.0.1:port as `source`, with short settle and
// retry delays (tests), with TLS (tlsSenderArgs()), followed by extra. plainSenderArgs() never
// adds TLS: the caller says why.
QStringList senderArgs(const QString &dataRoot, quint16 port, const QString &source,
                       const QStringList &extra = {});
QStringList plainSenderArgs(const QString &dataRoot, quint16 port, const QString &source,
                            const QStringList &extra = {});
// A free TCP port on 127.0.0.1 (bound to port 0, read back, closed).
quint16 freePort();

// Prometheus' own checker, `promtool check metrics` (Debian package prometheus; scripts/deps
// installs it). promtoolPath() is empty when it is not installed (the caller skips, saying so).
QString promtoolPath();
// Empty when promtool finds nothing wrong with the exposition `text` (format and lint), else
// what it says.
QString promtoolProblems(const QByteArray &text);

// --- trees -------------------------------------------------------------------------------

// The data files (not the markers, not hidden names) of the ED dbtag directory, relative
// paths, sorted.
QStringList dataFiles(const QString &dbtagDir);
// The regular files under a receiver's dbtag directory, hidden ones too, relative, sorted.
QStringList receivedFiles(const QString &dir);
// Whether the ED file is marked sent: g+w and the sent record (xattr) agree with the file.
bool isMarked(const QString &path);

// Empty when the ED file `edRoot/dbtag/rel` is byte-identical at `recvRoot/source/dbtag/rel`
// and marked sent on the ED.
QString fileDelivered(const QString &edRoot, const QString &dbtag, const QString &rel,
                      const QString &recvRoot, const QString &source);
// Empty when every data file of `edRoot/dbtag` is byte-identical at
// `recvRoot/source/dbtag/<path>` and marked sent on the ED, and the receiver holds nothing else
// there (its manifest aside).
QString dbtagDelivered(const QString &edRoot, const QString &dbtag, const QString &recvRoot,
                       const QString &source);
// Empty when dbtagDelivered(), finished.watch is on the ED and the receiver's finished.isocket
// lists exactly the ED's data files with their sizes and hashes.
QString dbtagFinished(const QString &edRoot, const QString &dbtag, const QString &recvRoot,
                      const QString &source);
// Empty when no file of the dbtag is at a final name on the receiver (hidden partials aside).
QString nothingStored(const QString &recvRoot, const QString &source, const QString &dbtag);
// Empty when every file at a final name under `recvRoot/source/dbtag` (hidden partials and the
// manifest aside) is byte-identical to its ED file: nothing half-written is visible.
QString storedAreIntact(const QString &edRoot, const QString &dbtag, const QString &recvRoot,
                        const QString &source);
// Empty when no data file of the ED dbtag is marked sent.
QString nothingMarked(const QString &edRoot, const QString &dbtag);

// Watches the contract "marked only after stored" while the test waits: every 20 ms it checks
// that each marked ED file of the data root exists on the receiver at its final name with the
// same size (a cheap check; byte equality is checked at the end by dbtagDelivered()).
// Files already marked when the guard is made (marked by hand, g+w) are not watched.
class MarkGuard : public QObject
{
    Q_OBJECT

public:
    MarkGuard(const QString &edRoot, const QString &recvRoot, const QString &source,
              QObject *parent = nullptr);
    // Empty, or the first violation seen (also checks once more now).
    QString violation();

private:
    void check();

    QString m_edRoot;
    QString m_recvRoot;
    QString m_source;
    QString m_violation;
    QStringList m_premarked;
    QTimer m_timer;
};

} // namespace isocket::test
