#pragma once
// The shared secret of the HMAC handshake: read from its file, and told apart when the two sides
// do not agree. Used by every face (CLI, GUI) and by the sender, which reads the file again
// before each connection so that fixing it is enough (issue 14).

#include "core/error.h"
#include "core/protocol.h"

#include <QByteArray>
#include <QString>

namespace isocket {

// The secret in `path` (one line, trimmed). Refuses a file that group or others can read, a
// missing or empty one; an empty path gives the empty secret (loopback only).
Result<QByteArray> readSecretFile(const QString &path);

// Why a peer's proof did not match ours, in words that say which side to fix: the peer has no
// secret, we have none, or the two differ. `peerProof` was made with `peerRole`; `ours` is our
// secret.
QString secretMismatch(const QByteArray &ours, const QByteArray &peerProof, proto::Role peerRole,
                       const QByteArray &clientNonce, const QByteArray &serverNonce,
                       const QString &source, const QString &peer);

} // namespace isocket
