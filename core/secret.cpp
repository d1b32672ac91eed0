#include "core/secret.h"

#include <QFile>

#include <sys/stat.h>

namespace isocket {

Result<QByteArray> readSecretFile(const QString &path)
{
    if (path.isEmpty())
        return QByteArray();
    struct stat st;
    if (::stat(QFile::encodeName(path).constData(), &st) != 0)
        return Error{ErrorCode::ConfigError, QStringLiteral("--secret-file: cannot read %1").arg(path)};
    if (st.st_mode & (S_IRWXG | S_IRWXO))
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("--secret-file: %1 is readable by others (mode %2); "
                                    "run chmod 600 on it")
                         .arg(path, QString::number(st.st_mode & 0777, 8))};
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        return Error{ErrorCode::ConfigError,
                     QStringLiteral("--secret-file: cannot read %1: %2").arg(path, f.errorString())};
    const QByteArray secret = f.readAll().trimmed();
    if (secret.isEmpty())
        return Error{ErrorCode::ConfigError, QStringLiteral("--secret-file: %1 is empty").arg(path)};
    return secret;
}

QString secretMismatch(const QByteArray &ours, const QByteArray &peerProof, proto::Role peerRole,
                       const QByteArray &clientNonce, const QByteArray &serverNonce,
                       const QString &source, const QString &peer)
{
    if (ours.isEmpty())
        return QStringLiteral("this side has no shared secret (--secret-file) and %1 has one")
            .arg(peer);
    const QByteArray withoutSecret =
        proto::proof(QByteArray(), peerRole, clientNonce, serverNonce, source);
    if (proto::proofMatches(withoutSecret, peerProof))
        return QStringLiteral("%1 has no shared secret configured and this side has one").arg(peer);
    return QStringLiteral("the shared secrets of this side and %1 differ").arg(peer);
}

} // namespace isocket
