#include "cli/controlsocket.h"

#include "core/config.h"
#include "core/logging.h"

#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QJsonDocument>
#include <QLocalServer>
#include <QLocalSocket>
#include <QTimer>

#include <cerrno>
#include <cstring>
#include <sys/stat.h>
#include <unistd.h>

namespace isocket::cli {

namespace {

QString envDir(const char *name)
{
    const QString value = qEnvironmentVariable(name).section(QLatin1Char(':'), 0, 0);
    return value.startsWith(QLatin1Char('/')) ? value : QString();
}

QString privateTempDir()
{
    return QDir::tempPath() + QStringLiteral("/isocket-%1").arg(::getuid());
}

bool writableDir(const QString &dir)
{
    return !dir.isEmpty() && ::access(QFile::encodeName(dir).constData(), W_OK | X_OK) == 0;
}

bool isSocket(const QString &path)
{
    struct stat st;
    return ::lstat(QFile::encodeName(path).constData(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// The fallback directory, ours alone: made 0700 if missing; refused when another user owns it
// or others may write it (someone could put a socket of theirs there).
Result<QString> makePrivateDir(const QString &dir)
{
    const QByteArray name = QFile::encodeName(dir);
    if (::mkdir(name.constData(), 0700) != 0 && errno != EEXIST)
        return Error{ErrorCode::IoError, QStringLiteral("cannot make %1: %2")
                                             .arg(dir, QString::fromLocal8Bit(std::strerror(errno)))};
    struct stat st;
    if (::lstat(name.constData(), &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != ::getuid()
        || (st.st_mode & 0077) != 0)
        return Error{ErrorCode::IoError,
                     QStringLiteral("%1 is not a private directory of this user (mode 0700); "
                                    "set status.control_socket")
                         .arg(dir)};
    return dir;
}

} // namespace

QString roleName(Role role)
{
    return role == Role::Ed ? QStringLiteral("ed") : QStringLiteral("receiver");
}

QStringList controlSocketCandidates(Role role)
{
    const QString name = roleName(role);
    QStringList out;
    if (const QString d = envDir("RUNTIME_DIRECTORY"); !d.isEmpty())
        out << d + QLatin1Char('/') + name + QStringLiteral(".sock");
    out << QStringLiteral("/run/isocket/") + name + QStringLiteral(".sock");
    if (const QString d = envDir("XDG_RUNTIME_DIR"); !d.isEmpty())
        out << d + QStringLiteral("/isocket-") + name + QStringLiteral(".sock");
    out << privateTempDir() + QLatin1Char('/') + name + QStringLiteral(".sock");
    return out;
}

Result<QString> daemonControlSocketPath(const Config &config, Role role)
{
    if (!config.controlSocket.isEmpty())
        return config.controlSocket;
    const QStringList candidates = controlSocketCandidates(role);
    for (qsizetype i = 0; i + 1 < candidates.size(); ++i) {
        const QString &path = candidates.at(i);
        if (writableDir(path.section(QLatin1Char('/'), 0, -2)))
            return path;
    }
    auto dir = makePrivateDir(privateTempDir());
    if (!dir)
        return dir.error();
    return candidates.constLast();
}

QString clientControlSocketPath(const Config &config, Role role)
{
    if (!config.controlSocket.isEmpty())
        return config.controlSocket;
    for (const QString &path : controlSocketCandidates(role))
        if (isSocket(path))
            return path;
    return QString();
}

ControlServer::ControlServer(std::function<QJsonObject()> answer, QObject *parent)
    : QObject(parent), m_answer(std::move(answer)), m_server(new QLocalServer(this))
{
    m_server->setSocketOptions(QLocalServer::UserAccessOption | QLocalServer::GroupAccessOption);
    connect(m_server, &QLocalServer::newConnection, this, &ControlServer::accept);
}

ControlServer::~ControlServer()
{
    // The clients still open go with us, and say nothing more to us on their way.
    for (QLocalSocket *socket : findChildren<QLocalSocket *>(Qt::FindDirectChildrenOnly))
        socket->disconnect(this);
    // QLocalServer removes its socket file when it closes.
    m_server->close();
}

bool ControlServer::listen(const QString &path)
{
    m_path = path;
    const QByteArray name = QFile::encodeName(path);
    struct stat st;
    if (::lstat(name.constData(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            m_error = QStringLiteral("%1 exists and is not a socket; not replaced").arg(path);
            return false;
        }
        // QLocalServer would rename its socket over the file, whoever listens there: replace
        // only a socket where nobody answers (its daemon was killed).
        QLocalSocket probe;
        probe.connectToServer(path);
        if (probe.waitForConnected(1000)) {
            m_error = QStringLiteral("another isocket daemon answers on %1").arg(path);
            return false;
        }
        if (probe.error() != QLocalSocket::ConnectionRefusedError) {
            m_error = QStringLiteral("%1: %2; not replaced").arg(path, probe.errorString());
            return false;
        }
        if (::unlink(name.constData()) != 0 && errno != ENOENT) {
            m_error = QStringLiteral("cannot remove the stale socket %1: %2")
                          .arg(path, QString::fromLocal8Bit(std::strerror(errno)));
            return false;
        }
        qCInfo(lcCli).noquote() << "replaced the stale control socket" << path;
    }
    if (!m_server->listen(path)) {
        m_error = QStringLiteral("cannot listen on %1: %2").arg(path, m_server->errorString());
        return false;
    }
    return true;
}

void ControlServer::accept()
{
    while (QLocalSocket *socket = m_server->nextPendingConnection()) {
        socket->setParent(this);
        if (m_clients >= MaxClients) {
            socket->abort();
            socket->deleteLater();
            continue;
        }
        ++m_clients;
        serve(socket);
    }
}

void ControlServer::serve(QLocalSocket *socket)
{
    // A client that never sends a whole request, nor closes, is dropped.
    auto *timer = new QTimer(socket);
    timer->setSingleShot(true);
    connect(timer, &QTimer::timeout, socket, &QLocalSocket::abort);
    timer->start(RequestTimeoutMs);
    connect(socket, &QLocalSocket::disconnected, this, [this, socket] {
        --m_clients;
        socket->deleteLater();
    });
    auto onRead = [this, socket, timer] {
        if (!socket->canReadLine()) {
            if (socket->bytesAvailable() > MaxRequestBytes)
                socket->abort();
            return;
        }
        disconnect(socket, &QLocalSocket::readyRead, this, nullptr);
        timer->stop();
        const QByteArray request = socket->readLine(MaxRequestBytes).trimmed();
        QJsonObject answer;
        if (request == "status")
            answer = m_answer();
        else
            answer = QJsonObject{
                {QStringLiteral("request_error"),
                 QStringLiteral("unknown request (this socket answers 'status')")}};
        socket->write(QJsonDocument(answer).toJson(QJsonDocument::Compact) + '\n');
        socket->disconnectFromServer(); // after the answer is written
        timer->start(RequestTimeoutMs); // a client that does not read is dropped too
    };
    connect(socket, &QLocalSocket::readyRead, this, onRead);
    if (socket->bytesAvailable() > 0)
        onRead();
}

Result<QJsonObject> queryControlSocket(const QString &path, int timeoutMs)
{
    QDeadlineTimer deadline(timeoutMs);
    QLocalSocket socket;
    socket.connectToServer(path);
    if (!socket.waitForConnected(int(deadline.remainingTime())))
        return Error{ErrorCode::ConnectFailed,
                     QStringLiteral("%1: %2").arg(path, socket.errorString())};
    socket.write("status\n");
    socket.flush();
    QByteArray answer;
    constexpr qint64 MaxAnswer = 256LL * 1024 * 1024;
    while (!answer.endsWith('\n')) {
        if (socket.bytesAvailable() == 0
            && (socket.state() != QLocalSocket::ConnectedState
                || !socket.waitForReadyRead(int(deadline.remainingTime())))) {
            if (deadline.hasExpired())
                return Error{ErrorCode::Timeout,
                             QStringLiteral("%1: no answer within %2 ms").arg(path).arg(timeoutMs)};
            break;
        }
        answer += socket.readAll();
        if (answer.size() > MaxAnswer)
            return Error{ErrorCode::FrameTooLarge, QStringLiteral("%1: answer too large").arg(path)};
    }
    answer += socket.readAll();
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(answer, &error);
    if (!doc.isObject())
        return Error{ErrorCode::BadFrame,
                     QStringLiteral("%1: the answer is not a JSON object (%2)")
                         .arg(path, error.errorString())};
    return doc.object();
}

} // namespace isocket::cli
