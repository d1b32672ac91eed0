#pragma once
// The local control socket of the running daemons (`isocket send`, `isocket receive`) and its
// client (`isocket status`): a UNIX domain socket, readable and writable by the daemon's user
// and group only, that answers one request with one JSON object (core/statusjson.h) and closes.
//
// Where it is (docs/STATUS.md): status.control_socket when set, else the first of
//   $RUNTIME_DIRECTORY/<role>.sock     (systemd: RuntimeDirectory=isocket of the units)
//   /run/isocket/<role>.sock           (when that directory exists and is writable)
//   $XDG_RUNTIME_DIR/isocket-<role>.sock
//   <temporary directory>/isocket-<uid>/<role>.sock (a directory of our own, mode 0700)
// where <role> is "ed" or "receiver". The client takes the first of them that holds a socket.
//
// ControlServer lives in the daemon's thread (the console's event loop) and costs nothing while
// nobody asks: no timer runs but one per open connection (a client that sends nothing is
// dropped after RequestTimeoutMs), at most MaxClients at once.

#include "core/error.h"

#include <QByteArray>
#include <QJsonObject>
#include <QObject>
#include <QString>
#include <QStringList>

#include <functional>

class QLocalServer;
class QLocalSocket;

namespace isocket {
struct Config;
}

namespace isocket::cli {

enum class Role { Ed, Receiver };
QString roleName(Role role); // "ed", "receiver"

// The default places, in order (no status.control_socket).
QStringList controlSocketCandidates(Role role);
// Where a daemon listens: status.control_socket, else the first candidate whose directory it
// may write (the last one's directory is made, private). Error: why none.
Result<QString> daemonControlSocketPath(const Config &config, Role role);
// Where a client asks: status.control_socket, else the first candidate that holds a socket;
// empty when none does.
QString clientControlSocketPath(const Config &config, Role role);

class ControlServer : public QObject
{
    Q_OBJECT

public:
    static constexpr int RequestTimeoutMs = 2000;
    static constexpr int MaxClients = 16;
    static constexpr int MaxRequestBytes = 256;

    // `answer` makes the answer to "status", on each request.
    explicit ControlServer(std::function<QJsonObject()> answer, QObject *parent = nullptr);
    ~ControlServer() override;

    // Listens on `path`, owner and group only. A socket file left by a daemon that is gone is
    // replaced; one where something answers, or a file that is not a socket, is left alone (an
    // error).
    bool listen(const QString &path);
    QString errorString() const { return m_error; }
    QString path() const { return m_path; }

private:
    void accept();
    void serve(QLocalSocket *socket);

    std::function<QJsonObject()> m_answer;
    QLocalServer *m_server = nullptr;
    int m_clients = 0;
    QString m_path;
    QString m_error;
};

// Asks the daemon on `path` for its status (blocking, at most timeoutMs). Errors:
// ConnectionRefused when nobody answers there (no socket, a stale one, no permission: the
// message says), ProtocolError for an answer that is not a JSON object.
Result<QJsonObject> queryControlSocket(const QString &path, int timeoutMs);

} // namespace isocket::cli
