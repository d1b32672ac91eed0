#pragma once
// Error codes shared by the engine and the wire protocol, and a small Result<T>.
//
// The numbers are part of the protocol (docs/PROTOCOL.md): never renumber or reuse one.
// 1xx are transient (back off and retry), 2xx need an operator (stop that file or that
// connection), 3xx are local usage/configuration errors that never travel on the wire.

#include <QMetaType>
#include <QString>
#include <QtGlobal>

#include <optional>
#include <utility>
#include <variant>

namespace isocket {

enum class ErrorCode : quint16 {
    Ok = 0,

    // Transient: retry with backoff.
    ConnectFailed = 100,    // receiver unreachable or refused the TCP connection
    Timeout = 101,          // peer silent for too long
    PeerClosed = 102,       // connection lost mid-conversation
    DiskFull = 103,         // receiver below its free-space reserve, or ENOSPC
    Busy = 104,             // the same file is being written by another connection
    IoError = 105,          // a read/write/fsync/rename failed for another reason
    FileChanged = 106,      // the file changed while it was read: send it again
    ChecksumMismatch = 107, // receiver computed another checksum than the sender sent
    Incomplete = 108,       // dbtag close asked for files the receiver does not hold

    // Permanent: needs an operator.
    AuthFailed = 200,       // wrong secret on either side
    BadVersion = 201,       // protocol versions do not overlap
    BadFrame = 202,         // a frame that does not parse, or arrives out of order
    FrameTooLarge = 203,    // a frame or a field over its cap
    BadPath = 204,          // source, dbtag or path rejected (.., absolute, control chars…)
    SymlinkRefused = 205,   // a symbolic link inside the receiver's tree
    FileVanished = 206,     // the file was deleted before it was sent (dropped, not retried)
    Unsupported = 207,      // a file type that cannot be sent (not a regular file)
    DatasetComplete = 208,  // the dbtag is complete on the receiver: its files are not rewritten

    // Local only.
    ConfigError = 300,      // bad option or configuration value
    UsageError = 301,
};

// True when the operation may succeed if simply tried again later.
constexpr bool isTransient(ErrorCode code)
{
    const auto n = static_cast<quint16>(code);
    return n >= 100 && n < 200;
}

// A stable, human-readable name ("disk-full"), used in logs and JSON output.
QString errorName(ErrorCode code);

// Maps a wire number to a known code; unknown numbers become BadFrame.
ErrorCode errorFromWire(quint16 number);

struct Error
{
    ErrorCode code = ErrorCode::Ok;
    QString message;

    QString toString() const;
};

// A value or an Error. Cheap to move; ask ok() before value().
template <typename T>
class [[nodiscard]] Result
{
public:
    Result(T value) : m_data(std::move(value)) {}
    Result(Error error) : m_data(std::move(error)) {}
    Result(ErrorCode code, QString message) : m_data(Error{code, std::move(message)}) {}

    bool ok() const { return std::holds_alternative<T>(m_data); }
    explicit operator bool() const { return ok(); }

    const T &value() const & { return std::get<T>(m_data); }
    T &value() & { return std::get<T>(m_data); }
    T &&value() && { return std::get<T>(std::move(m_data)); }
    const Error &error() const { return std::get<Error>(m_data); }

private:
    std::variant<T, Error> m_data;
};

// Result<void>: success, or an Error.
template <>
class [[nodiscard]] Result<void>
{
public:
    Result() = default;
    Result(Error error) : m_error(std::move(error)) {}
    Result(ErrorCode code, QString message) : m_error(Error{code, std::move(message)}) {}

    bool ok() const { return !m_error.has_value(); }
    explicit operator bool() const { return ok(); }
    const Error &error() const { return *m_error; }

private:
    std::optional<Error> m_error;
};

} // namespace isocket

Q_DECLARE_METATYPE(isocket::Error)
