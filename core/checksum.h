#pragma once
// Whole-file checksums: XXH3-128 (Debian's libxxhash), streaming, in canonical byte order.
// A value type and a streaming hasher; use from any thread (one Hasher per thread).

#include "core/error.h"

#include <QByteArray>
#include <QString>

#include <array>
#include <memory>
#include <optional>

namespace isocket {

using Hash128 = std::array<quint8, 16>;

QString toHex(const Hash128 &hash);               // 32 lower-case hex digits
std::optional<Hash128> hashFromHex(QStringView hex); // inverse of toHex

class Hasher
{
public:
    Hasher();
    ~Hasher();
    Hasher(const Hasher &other);            // copies the running state
    Hasher &operator=(const Hasher &other);

    void reset();
    void add(const char *data, qsizetype size);
    void add(const QByteArray &data) { add(data.constData(), data.size()); }
    Hash128 result() const; // of everything added so far; adding may go on afterwards
    qint64 bytes() const { return m_bytes; }

private:
    struct State;
    std::unique_ptr<State> m_state;
    qint64 m_bytes = 0;
};

// Hashes the first `length` bytes of the open file `fd` from offset 0 (pread; the file
// position is untouched) into `hasher`. IoError if the file is shorter or a read fails.
Result<void> hashFileRange(int fd, qint64 length, Hasher &hasher);

} // namespace isocket
