#include "core/streamwriter.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include "core/receivestore.h"

namespace isocket {

void StreamWriter::start(int fd, qint64 offset, qint64 expected)
{
    m_fd = fd;
    m_offset = offset;
    m_staged = 0;
    m_direct = false;
    if (expected < DirectMinBytes || offset % Align != 0)
        return;
    if (!m_stage) {
        void *p = nullptr;
        if (::posix_memalign(&p, size_t(Align), size_t(StageBytes)) != 0)
            return;
        m_stage.reset(static_cast<char *>(p));
    }
    const int flags = ::fcntl(fd, F_GETFL);
    // EINVAL: this filesystem has no direct I/O; the page cache it is.
    m_direct = flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_DIRECT) == 0;
}

Result<void> StreamWriter::write(const char *data, qint64 size)
{
    if (!m_direct) {
        if (auto r = ReceiveStore::writeAt(m_fd, m_offset, data, size); !r)
            return r;
        m_offset += size;
        return {};
    }
    while (size > 0) {
        const qint64 n = qMin(size, StageBytes - m_staged);
        std::memcpy(m_stage.get() + m_staged, data, size_t(n));
        m_staged += n;
        data += n;
        size -= n;
        if (m_staged == StageBytes) {
            if (auto r = writeStage(StageBytes); !r)
                return r;
        }
    }
    return {};
}

Result<void> StreamWriter::writeStage(qint64 bytes)
{
    qint64 done = 0;
    while (done < bytes) {
        const ssize_t n =
            ::pwrite(m_fd, m_stage.get() + done, size_t(bytes - done), off_t(m_offset + done));
        if (n >= 0) {
            done += n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EINVAL && m_direct) {
            // Refused after all (an alignment this device does not take, a short write that
            // left an odd offset): the rest goes through the page cache.
            leaveDirect();
            continue;
        }
        const int err = errno;
        m_staged = 0;
        return Error{writeErrorCode(err), QStringLiteral("write failed: %1").arg(osError(err))};
    }
    std::memmove(m_stage.get(), m_stage.get() + bytes, size_t(m_staged - bytes));
    m_staged -= bytes;
    m_offset += bytes;
    return {};
}

Result<void> StreamWriter::finish()
{
    if (m_staged > 0) {
        const qint64 aligned = m_staged & ~(Align - 1);
        if (aligned > 0) {
            if (auto r = writeStage(aligned); !r)
                return r;
        }
        if (m_staged > 0) {
            // The tail: less than a block, through the page cache.
            leaveDirect();
            const qint64 tail = std::exchange(m_staged, 0);
            if (auto r = ReceiveStore::writeAt(m_fd, m_offset, m_stage.get(), tail); !r)
                return r;
            m_offset += tail;
        }
    }
    m_direct = false;
    return {};
}

void StreamWriter::leaveDirect()
{
    if (!m_direct)
        return;
    m_direct = false;
    const int flags = ::fcntl(m_fd, F_GETFL);
    if (flags >= 0)
        ::fcntl(m_fd, F_SETFL, flags & ~O_DIRECT);
}

} // namespace isocket
