#include "core/error.h"

namespace isocket {

QString errorName(ErrorCode code)
{
    switch (code) {
    case ErrorCode::Ok: return QStringLiteral("ok");
    case ErrorCode::ConnectFailed: return QStringLiteral("connect-failed");
    case ErrorCode::Timeout: return QStringLiteral("timeout");
    case ErrorCode::PeerClosed: return QStringLiteral("peer-closed");
    case ErrorCode::DiskFull: return QStringLiteral("disk-full");
    case ErrorCode::Busy: return QStringLiteral("busy");
    case ErrorCode::IoError: return QStringLiteral("io-error");
    case ErrorCode::FileChanged: return QStringLiteral("file-changed");
    case ErrorCode::ChecksumMismatch: return QStringLiteral("checksum-mismatch");
    case ErrorCode::Incomplete: return QStringLiteral("incomplete");
    case ErrorCode::AuthFailed: return QStringLiteral("auth-failed");
    case ErrorCode::BadVersion: return QStringLiteral("bad-version");
    case ErrorCode::BadFrame: return QStringLiteral("bad-frame");
    case ErrorCode::FrameTooLarge: return QStringLiteral("frame-too-large");
    case ErrorCode::BadPath: return QStringLiteral("bad-path");
    case ErrorCode::SymlinkRefused: return QStringLiteral("symlink-refused");
    case ErrorCode::FileVanished: return QStringLiteral("file-vanished");
    case ErrorCode::Unsupported: return QStringLiteral("unsupported");
    case ErrorCode::DatasetComplete: return QStringLiteral("dataset-complete");
    case ErrorCode::ConfigError: return QStringLiteral("config-error");
    case ErrorCode::UsageError: return QStringLiteral("usage-error");
    }
    return QStringLiteral("error-%1").arg(static_cast<quint16>(code));
}

ErrorCode errorFromWire(quint16 number)
{
    const auto code = static_cast<ErrorCode>(number);
    // errorName() knows every defined code; anything else is not a code we speak.
    if (number >= 300 || errorName(code).startsWith(QLatin1String("error-")))
        return ErrorCode::BadFrame;
    return code;
}

QString Error::toString() const
{
    return message.isEmpty() ? errorName(code)
                             : QStringLiteral("%1 (%2)").arg(message, errorName(code));
}

} // namespace isocket
