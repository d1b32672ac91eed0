#include "tests/testlib/processes.h"

#include "core/checksum.h"
#include "core/sentmark.h"
#include "core/tls.h"
#include "tests/testlib/testtree.h"

#include <QCoreApplication>
#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QFileInfo>
#include <QPointer>
#include <QSet>
#include <QStandardPaths>
#include <QRegularExpression>
#include <QTcpServer>
#include <QTest>
#include <QtDebug>

#include <csignal>

#include <sys/stat.h>

namespace isocket::test {

namespace {

const QString ParseMarker = QStringLiteral("finished.parse");
const QString WatchMarker = QStringLiteral("finished.watch");
const QString ManifestName = QStringLiteral("finished.isocket");

QByteArray readAll(const QString &path, bool *ok = nullptr)
{
    QFile f(path);
    const bool opened = f.open(QIODevice::ReadOnly);
    if (ok)
        *ok = opened;
    return opened ? f.readAll() : QByteArray();
}

QStringList filesUnder(const QString &dir, bool hidden)
{
    QStringList out;
    QDir::Filters filters = QDir::Files | QDir::NoDotAndDotDot | QDir::System;
    if (hidden)
        filters |= QDir::Hidden;
    QDirIterator it(dir, filters, QDirIterator::Subdirectories);
    while (it.hasNext()) {
        it.next();
        out.append(QDir(dir).relativeFilePath(it.filePath()));
    }
    out.sort();
    return out;
}

} // namespace

QString path(const QString &a, const QString &b)
{
    return a + QLatin1Char('/') + b;
}

QString isocketBinary()
{
    return QStringLiteral(ISOCKET_BINARY);
}

int e2eTimeout(int baseMs)
{
    return baseMs * timeoutFactor();
}

// --- Process -------------------------------------------------------------------------------

Process::Process(const QString &name, QObject *parent) : QObject(parent), m_name(name)
{
    connect(&m_process, &QProcess::readyReadStandardOutput, this, [this] { collect(); });
    connect(&m_process, &QProcess::readyReadStandardError, this, [this] { collect(); });
}

Process::~Process()
{
    kill();
    // A sanitizer that could not write its report to its log file (a nested error while it
    // described the first one, say) says so on stderr only: shown even when the test passed.
    if (QTest::currentTestFailed() || m_err.contains("Sanitizer"))
        dump();
}

bool Process::start(const QString &program, const QStringList &args)
{
    m_commandLine = program + QLatin1Char(' ') + args.join(QLatin1Char(' '));
    m_process.start(program, args);
    if (!m_process.waitForStarted(e2eTimeout(10000))) {
        qWarning().noquote() << m_name << "did not start:" << m_commandLine
                             << m_process.errorString();
        return false;
    }
    m_pid = m_process.processId();
    return true;
}

void Process::sendSignal(int number)
{
    if (m_pid > 0 && m_process.state() != QProcess::NotRunning)
        ::kill(pid_t(m_pid), number);
}

void Process::kill()
{
    if (m_process.state() == QProcess::NotRunning)
        return;
    // Read what the pipes hold before the process goes: the log explains a failure.
    QCoreApplication::processEvents();
    collect();
    if (m_pid > 0)
        ::kill(pid_t(m_pid), SIGKILL);
    if (!m_process.waitForFinished(e2eTimeout(10000)))
        qWarning().noquote() << m_name << "did not end after SIGKILL";
    collect();
}

void Process::terminate()
{
    if (m_process.state() != QProcess::NotRunning && m_pid > 0)
        ::kill(pid_t(m_pid), SIGTERM);
}

bool Process::waitForExit(int timeoutMs)
{
    const bool ended =
        QTest::qWaitFor([this] { return m_process.state() == QProcess::NotRunning; }, timeoutMs);
    collect();
    return ended;
}

bool Process::waitForOutput(const QString &text, int timeoutMs)
{
    return QTest::qWaitFor([&] { return out().contains(text); }, timeoutMs);
}

bool Process::waitForError(const QString &text, int timeoutMs)
{
    return QTest::qWaitFor([&] { return err().contains(text); }, timeoutMs);
}

void Process::collect() const
{
    m_out += m_process.readAllStandardOutput();
    m_err += m_process.readAllStandardError();
}

QString Process::out() const
{
    collect();
    return QString::fromLocal8Bit(m_out);
}

QString Process::err() const
{
    collect();
    return QString::fromLocal8Bit(m_err);
}

void Process::dump() const
{
    collect();
    QString state =
        isRunning() ? QStringLiteral("running")
                    : QStringLiteral("exited %1%2")
                          .arg(m_process.exitCode())
                          .arg(exitedNormally() ? QString() : QStringLiteral(" (crashed/killed)"));
    qWarning().noquote() << "==== process" << m_name << "pid" << m_pid << state << "\n"
                         << m_commandLine << "\n---- stdout:\n"
                         << QString::fromLocal8Bit(m_out) << "\n---- stderr:\n"
                         << QString::fromLocal8Bit(m_err) << "\n==== end of" << m_name;
}

// --- starting --------------------------------------------------------------------------------

quint16 listeningPort(const Process &p)
{
    static const QRegularExpression re(QStringLiteral("^listening 127\\.0\\.0\\.1:(\\d+)$"),
                                       QRegularExpression::MultilineOption);
    const auto m = re.match(p.out());
    return m.hasMatch() ? quint16(m.captured(1).toUInt()) : 0;
}

quint16 waitListening(Process &p, int timeoutMs)
{
    [[maybe_unused]] const bool seen =
        QTest::qWaitFor([&] { return listeningPort(p) != 0 || !p.isRunning(); }, timeoutMs);
    const quint16 port = listeningPort(p);
    if (port == 0) {
        qWarning().noquote() << p.name() << "did not print 'listening 127.0.0.1:<port>'";
        p.dump();
    }
    return port;
}

// --- TLS -------------------------------------------------------------------------------------

bool tlsByDefault()
{
    return qEnvironmentVariable("ISOCKET_TEST_PLAIN") != QLatin1String("1");
}

namespace {

struct TlsState
{
    QTemporaryDir dir;
    TestTls files;
    QSet<QString> listed;
    QList<QPointer<Process>> receivers;
};

TlsState &tlsState()
{
    static TlsState *state = [] {
        auto *s = new TlsState; // lives until the test process exits (its keys with it)
        const QString d = s->dir.path();
        s->files.receiverCert = path(d, QStringLiteral("receiver.crt"));
        s->files.receiverKey = path(d, QStringLiteral("receiver.key"));
        s->files.edCert = path(d, QStringLiteral("ed.crt"));
        s->files.edKey = path(d, QStringLiteral("ed.key"));
        s->files.peersFile = path(d, QStringLiteral("peers"));
        auto r = generateIdentity(s->files.receiverCert, s->files.receiverKey,
                                  QStringLiteral("test-receiver"), false);
        auto e = generateIdentity(s->files.edCert, s->files.edKey, QStringLiteral("test-ed"), false);
        if (!r || !e)
            qFatal("cannot make the test keys: %s", qPrintable(r ? e.error().message : r.error().message));
        s->files.receiverFingerprint = fingerprintText(r.value().fingerprint);
        s->files.edFingerprint = fingerprintText(e.value().fingerprint);
        QFile peers(s->files.peersFile);
        if (!peers.open(QIODevice::WriteOnly))
            qFatal("cannot write %s", qPrintable(s->files.peersFile));
        peers.write("# the EDs of this test process\n");
        return s;
    }();
    return *state;
}

int reloads(const Process &p)
{
    return int(p.err().count(QStringLiteral("reloaded:")));
}

} // namespace

const TestTls &testTls()
{
    return tlsState().files;
}

QStringList tlsReceiverArgs()
{
    const TestTls &t = testTls();
    return {QStringLiteral("--cert"), t.receiverCert, QStringLiteral("--key"), t.receiverKey,
            QStringLiteral("--peers"), t.peersFile};
}

void watchTlsReceiver(Process &p)
{
    tlsState().receivers.append(QPointer<Process>(&p));
}

QStringList tlsSenderArgs(const QString &source)
{
    TlsState &state = tlsState();
    if (!state.listed.contains(source)) {
        state.listed.insert(source);
        QFile peers(state.files.peersFile);
        if (!peers.open(QIODevice::Append))
            qFatal("cannot append to %s", qPrintable(state.files.peersFile));
        peers.write((source + QLatin1Char(' ') + state.files.edFingerprint + QLatin1Char('\n'))
                        .toUtf8());
        peers.close();
        // Every running receiver takes the new line before the sender can connect.
        for (const QPointer<Process> &p : std::as_const(state.receivers)) {
            if (!p || !p->isRunning() || p->pid() <= 0)
                continue;
            const int before = reloads(*p);
            ::kill(pid_t(p->pid()), SIGHUP);
            if (!QTest::qWaitFor([&] { return !p || !p->isRunning() || reloads(*p) > before; },
                                 e2eTimeout(10000)))
                qWarning().noquote() << p->name() << "did not reload its peers file";
        }
    }
    return {QStringLiteral("--cert"), state.files.edCert, QStringLiteral("--key"),
            state.files.edKey, QStringLiteral("--receiver-fingerprint"),
            state.files.receiverFingerprint};
}

quint16 startPlainReceiver(Process &p, const QString &root, quint16 port, const QStringList &extra)
{
    QStringList args{QStringLiteral("receive"), QStringLiteral("--root"), root,
                     QStringLiteral("--listen"), QStringLiteral("127.0.0.1:%1").arg(port)};
    args += extra;
    if (!p.startIsocket(args))
        return 0;
    return waitListening(p, e2eTimeout(10000));
}

quint16 startReceiver(Process &p, const QString &root, quint16 port, const QStringList &extra)
{
    if (!tlsByDefault())
        return startPlainReceiver(p, root, port, extra);
    watchTlsReceiver(p);
    return startPlainReceiver(p, root, port, tlsReceiverArgs() + extra);
}

QStringList plainSenderArgs(const QString &dataRoot, quint16 port, const QString &source,
                            const QStringList &extra)
{
    QStringList args{QStringLiteral("send"),
                     QStringLiteral("--root"),
                     dataRoot,
                     QStringLiteral("--to"),
                     QStringLiteral("127.0.0.1:%1").arg(port),
                     QStringLiteral("--source"),
                     source,
                     QStringLiteral("--settle"),
                     QStringLiteral("200ms"),
                     QStringLiteral("--retry-interval"),
                     QStringLiteral("100ms"),
                     QStringLiteral("--retry-max"),
                     QStringLiteral("1s")};
    return args + extra;
}

QStringList senderArgs(const QString &dataRoot, quint16 port, const QString &source,
                       const QStringList &extra)
{
    if (!tlsByDefault())
        return plainSenderArgs(dataRoot, port, source, extra);
    return plainSenderArgs(dataRoot, port, source, tlsSenderArgs(source) + extra);
}

quint16 freePort()
{
    QTcpServer server;
    if (!server.listen(QHostAddress::LocalHost, 0))
        return 0;
    const quint16 port = server.serverPort();
    server.close();
    return port;
}

// --- trees -----------------------------------------------------------------------------------

QStringList dataFiles(const QString &dbtagDir)
{
    // Hidden names are not data (the scanner skips them; isocket's own temporaries).
    QStringList files = filesUnder(dbtagDir, false);
    files.removeAll(ParseMarker);
    files.removeAll(WatchMarker);
    return files;
}

QStringList receivedFiles(const QString &dir)
{
    return filesUnder(dir, true);
}

bool isMarked(const QString &path)
{
    return hasGroupWrite(path) && SentMark::isSent(path);
}

QString fileDelivered(const QString &edRoot, const QString &dbtag, const QString &rel,
                      const QString &recvRoot, const QString &source)
{
    const QString ed = edRoot + QLatin1Char('/') + dbtag + QLatin1Char('/') + rel;
    const QString recv =
        recvRoot + QLatin1Char('/') + source + QLatin1Char('/') + dbtag + QLatin1Char('/') + rel;
    bool ok = false;
    const QByteArray want = readAll(ed, &ok);
    if (!ok)
        return QStringLiteral("%1 cannot be read").arg(ed);
    const QByteArray got = readAll(recv, &ok);
    if (!ok)
        return QStringLiteral("%1 is not on the receiver").arg(recv);
    if (got != want)
        return QStringLiteral("%1 (%2 bytes) differs from %3 (%4 bytes)")
            .arg(recv)
            .arg(got.size())
            .arg(ed)
            .arg(want.size());
    if (!isMarked(ed))
        return QStringLiteral("%1 is not marked sent").arg(ed);
    return QString();
}

QString dbtagDelivered(const QString &edRoot, const QString &dbtag, const QString &recvRoot,
                       const QString &source)
{
    const QString edDir = edRoot + QLatin1Char('/') + dbtag;
    const QString recvDir = recvRoot + QLatin1Char('/') + source + QLatin1Char('/') + dbtag;
    const QStringList files = dataFiles(edDir);
    if (files.isEmpty())
        return QStringLiteral("%1 has no data files (a test that checks nothing)").arg(edDir);
    for (const QString &rel : files)
        if (QString d = fileDelivered(edRoot, dbtag, rel, recvRoot, source); !d.isEmpty())
            return d;
    QStringList extra = receivedFiles(recvDir);
    extra.removeAll(ManifestName);
    for (const QString &rel : files)
        extra.removeAll(rel);
    if (!extra.isEmpty())
        return QStringLiteral("the receiver holds more in %1: %2").arg(recvDir, extra.join(u' '));
    return QString();
}

QString dbtagFinished(const QString &edRoot, const QString &dbtag, const QString &recvRoot,
                      const QString &source)
{
    if (QString d = dbtagDelivered(edRoot, dbtag, recvRoot, source); !d.isEmpty())
        return d;
    const QString edDir = edRoot + QLatin1Char('/') + dbtag;
    if (!QFileInfo::exists(edDir + QLatin1Char('/') + WatchMarker))
        return QStringLiteral("no %1 in %2").arg(WatchMarker, edDir);
    const QString manifestPath = recvRoot + QLatin1Char('/') + source + QLatin1Char('/') + dbtag +
                                 QLatin1Char('/') + ManifestName;
    bool ok = false;
    const QString manifest = QString::fromUtf8(readAll(manifestPath, &ok));
    if (!ok)
        return QStringLiteral("no %1").arg(manifestPath);
    QStringList lines = manifest.split(QLatin1Char('\n'), Qt::SkipEmptyParts);
    if (lines.isEmpty() ||
        !lines.takeFirst().startsWith(
            QStringLiteral("# isocket manifest v1 source=%1 dbtag=%2 ").arg(source, dbtag)))
        return QStringLiteral("%1 has no proper header").arg(manifestPath);
    QStringList expected;
    for (const QString &rel : dataFiles(edDir)) {
        const QByteArray bytes = readAll(edDir + QLatin1Char('/') + rel);
        Hasher h;
        h.add(bytes);
        expected.append(
            QStringLiteral("%1  %2  %3").arg(toHex(h.result())).arg(bytes.size()).arg(rel));
    }
    lines.sort();
    expected.sort();
    if (lines != expected)
        return QStringLiteral("%1 lists\n%2\nexpected\n%3")
            .arg(manifestPath, lines.join(u'\n'), expected.join(u'\n'));
    return QString();
}

QString nothingStored(const QString &recvRoot, const QString &source, const QString &dbtag)
{
    const QString dir = recvRoot + QLatin1Char('/') + source + QLatin1Char('/') + dbtag;
    const QStringList files = filesUnder(dir, false);
    return files.isEmpty() ? QString() : QStringLiteral("%1 holds %2").arg(dir, files.join(u' '));
}

QString storedAreIntact(const QString &edRoot, const QString &dbtag, const QString &recvRoot,
                        const QString &source)
{
    const QString dir = recvRoot + QLatin1Char('/') + source + QLatin1Char('/') + dbtag;
    for (const QString &rel : filesUnder(dir, false)) {
        if (rel == ManifestName)
            continue;
        bool ok = false;
        const QByteArray want =
            readAll(edRoot + QLatin1Char('/') + dbtag + QLatin1Char('/') + rel, &ok);
        if (!ok)
            return QStringLiteral("%1/%2 is on the receiver but not on the ED").arg(dir, rel);
        if (readAll(dir + QLatin1Char('/') + rel) != want)
            return QStringLiteral("%1/%2 is visible on the receiver but not intact").arg(dir, rel);
    }
    return QString();
}

QString nothingMarked(const QString &edRoot, const QString &dbtag)
{
    const QString dir = edRoot + QLatin1Char('/') + dbtag;
    for (const QString &rel : dataFiles(dir))
        if (isMarked(dir + QLatin1Char('/') + rel))
            return QStringLiteral("%1/%2 is marked sent").arg(dir, rel);
    return QString();
}

// --- MarkGuard -------------------------------------------------------------------------------

MarkGuard::MarkGuard(const QString &edRoot, const QString &recvRoot, const QString &source,
                     QObject *parent)
    : QObject(parent), m_edRoot(edRoot), m_recvRoot(recvRoot), m_source(source)
{
    for (const QString &rel : filesUnder(m_edRoot, false))
        if (isMarked(m_edRoot + QLatin1Char('/') + rel))
            m_premarked.append(rel);
    connect(&m_timer, &QTimer::timeout, this, &MarkGuard::check);
    m_timer.start(20);
}

QString MarkGuard::violation()
{
    check();
    return m_violation;
}

void MarkGuard::check()
{
    if (!m_violation.isEmpty())
        return;
    for (const QString &rel : filesUnder(m_edRoot, false)) {
        const QString ed = m_edRoot + QLatin1Char('/') + rel;
        if (m_premarked.contains(rel) || !isMarked(ed))
            continue;
        const QFileInfo recv(m_recvRoot + QLatin1Char('/') + m_source + QLatin1Char('/') + rel);
        const QFileInfo edInfo(ed);
        // A marked file may have been stored before the test began watching (its size then
        // is the one marked): compare with the ED file only while it is marked.
        if (!recv.exists() || recv.size() != edInfo.size()) {
            m_violation = QStringLiteral("%1 is marked sent but the receiver has %2")
                              .arg(ed, recv.exists() ? QStringLiteral("%1 bytes").arg(recv.size())
                                                     : QStringLiteral("no file"));
            qWarning().noquote() << m_violation;
            return;
        }
    }
}

QString promtoolPath()
{
    return QStandardPaths::findExecutable(QStringLiteral("promtool"));
}

QString promtoolProblems(const QByteArray &text)
{
    QProcess p;
    p.start(promtoolPath(), {QStringLiteral("check"), QStringLiteral("metrics")});
    if (!p.waitForStarted(e2eTimeout(10000)))
        return QStringLiteral("promtool did not start: ") + p.errorString();
    p.write(text);
    p.closeWriteChannel();
    if (!p.waitForFinished(e2eTimeout(30000)))
        return QStringLiteral("promtool did not finish");
    const QString said = QString::fromUtf8(p.readAllStandardOutput() + p.readAllStandardError());
    if (p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0 || !said.trimmed().isEmpty())
        return QStringLiteral("promtool exit %1: %2").arg(p.exitCode()).arg(said);
    return QString();
}

} // namespace isocket::test
