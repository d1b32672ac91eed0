#include "core/checksum.h"

#include <cerrno>
#include <new>
#include <vector>

#include <unistd.h>
#include <xxhash.h>

#include "core/fileutil.h"

namespace isocket {

namespace {
constexpr qsizetype ReadChunk = 1024 * 1024;
}

struct Hasher::State
{
    State() : state(XXH3_createState())
    {
        if (!state)
            throw std::bad_alloc();
    }
    ~State() { XXH3_freeState(state); }
    State(const State &) = delete;
    State &operator=(const State &) = delete;

    XXH3_state_t *state;
};

QString toHex(const Hash128 &hash)
{
    const QByteArray bytes(reinterpret_cast<const char *>(hash.data()), qsizetype(hash.size()));
    return QString::fromLatin1(bytes.toHex());
}

std::optional<Hash128> hashFromHex(QStringView hex)
{
    if (hex.size() != 32)
        return std::nullopt;
    Hash128 hash{};
    for (qsizetype i = 0; i < 32; ++i) {
        const char16_t c = hex[i].unicode();
        int nibble;
        if (c >= u'0' && c <= u'9')
            nibble = c - u'0';
        else if (c >= u'a' && c <= u'f')
            nibble = c - u'a' + 10;
        else if (c >= u'A' && c <= u'F')
            nibble = c - u'A' + 10;
        else
            return std::nullopt;
        hash[size_t(i / 2)] = quint8((hash[size_t(i / 2)] << 4) | nibble);
    }
    return hash;
}

Hasher::Hasher() : m_state(std::make_unique<State>())
{
    reset();
}

Hasher::~Hasher() = default;

Hasher::Hasher(const Hasher &other) : m_state(std::make_unique<State>()), m_bytes(other.m_bytes)
{
    XXH3_copyState(m_state->state, other.m_state->state);
}

Hasher &Hasher::operator=(const Hasher &other)
{
    if (this != &other) {
        XXH3_copyState(m_state->state, other.m_state->state);
        m_bytes = other.m_bytes;
    }
    return *this;
}

void Hasher::reset()
{
    XXH3_128bits_reset(m_state->state);
    m_bytes = 0;
}

void Hasher::add(const char *data, qsizetype size)
{
    if (size <= 0)
        return;
    XXH3_128bits_update(m_state->state, data, size_t(size));
    m_bytes += size;
}

Hash128 Hasher::result() const
{
    // digest() does not alter the state, so adding may go on afterwards.
    const XXH128_hash_t value = XXH3_128bits_digest(m_state->state);
    XXH128_canonical_t canonical;
    XXH128_canonicalFromHash(&canonical, value);
    Hash128 hash;
    static_assert(sizeof(canonical.digest) == std::tuple_size_v<Hash128>);
    for (size_t i = 0; i < hash.size(); ++i)
        hash[i] = canonical.digest[i];
    return hash;
}

Result<void> hashFileRange(int fd, qint64 length, Hasher &hasher)
{
    if (length < 0)
        return {ErrorCode::IoError,
                QStringLiteral("cannot hash a negative length (%1)").arg(length)};
    std::vector<char> buffer(size_t(qMin<qint64>(length, ReadChunk)));
    qint64 offset = 0;
    while (offset < length) {
        const size_t want = size_t(qMin<qint64>(length - offset, ReadChunk));
        const ssize_t got = ::pread(fd, buffer.data(), want, off_t(offset));
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return {ErrorCode::IoError,
                    QStringLiteral("read failed at byte %1: %2").arg(offset).arg(osError(errno))};
        }
        if (got == 0) {
            return {ErrorCode::IoError,
                    QStringLiteral("file ended at byte %1, expected %2 bytes (truncated while "
                                   "being read?)")
                        .arg(offset)
                        .arg(length)};
        }
        hasher.add(buffer.data(), qsizetype(got));
        offset += got;
    }
    return {};
}

} // namespace isocket
