#include "core/streamwriter.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <unistd.h>

#include <QThreadPool>

#include "core/receivestore.h"

namespace isocket {

namespace {

Error writeFailure(int err)
{
    return Error{writeErrorCode(err), QStringLiteral("write failed: %1").arg(osError(err))};
}

void clearDirect(int fd)
{
    const int flags = ::fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_DIRECT))
        ::fcntl(fd, F_SETFL, flags & ~O_DIRECT);
}

std::atomic<int> g_stagedWriters{0};
std::atomic<int> g_stagedWritersLimit{16};

} // namespace

int StreamWriter::stagedWritersLimit()
{
    return g_stagedWritersLimit.load();
}

void StreamWriter::setStagedWritersLimit(int writers)
{
    g_stagedWritersLimit = qMax(0, writers);
}

int StreamWriter::stagedWriters()
{
    return g_stagedWriters.load();
}

bool StreamWriter::takeStages()
{
    if (m_stages[0])
        return true;
    int held = g_stagedWriters.load();
    do {
        if (held >= g_stagedWritersLimit.load())
            return false;
    } while (!g_stagedWriters.compare_exchange_weak(held, held + 1));
    for (auto &stage : m_stages) {
        void *p = nullptr;
        if (::posix_memalign(&p, size_t(Align), size_t(StageBytes)) != 0) {
            releaseStages();
            return false;
        }
        stage.reset(static_cast<char *>(p));
    }
    return true;
}

void StreamWriter::releaseStages()
{
    for (auto &w : m_writing) {
        if (w.valid())
            w.wait(); // a write still reading the stage (none when called from start())
        w = {};
    }
    m_inherited[0] = m_inherited[1] = false;
    m_active = 0;
    m_stages[0].reset();
    m_stages[1].reset();
    g_stagedWriters.fetch_sub(1);
}

// A write holds a thread for about a millisecond.
QThreadPool &StreamWriter::pool()
{
    static QThreadPool *pool = [] {
        auto *p = new QThreadPool; // never deleted: a write may be in flight at exit
        p->setObjectName(QStringLiteral("isocket-write"));
        p->setMaxThreadCount(4);
        return p;
    }();
    return *pool;
}

int StreamWriter::writeFully(int fd, const char *data, qint64 size, qint64 offset)
{
    while (size > 0) {
        const ssize_t n = ::pwrite(fd, data, size_t(size), off_t(offset));
        if (n >= 0) {
            data += n;
            size -= n;
            offset += n;
            continue;
        }
        if (errno == EINTR)
            continue;
        const int err = errno;
        const int flags = ::fcntl(fd, F_GETFL);
        if (err == EINVAL && flags >= 0 && (flags & O_DIRECT)) {
            // Refused after all (an alignment this device does not take, a short write that
            // left an odd offset): this write and the rest go through the page cache.
            clearDirect(fd);
            continue;
        }
        return err;
    }
    return 0;
}

StreamWriter::~StreamWriter()
{
    setWake({});
    for (auto &w : m_writing)
        if (w.valid())
            w.wait();
    if (m_stages[0])
        releaseStages();
}

void StreamWriter::Wake::operator()()
{
    std::lock_guard lock(mutex);
    if (fn)
        fn();
}

void StreamWriter::setWake(std::function<void()> wake)
{
    std::lock_guard lock(m_wake->mutex);
    m_wake->fn = std::move(wake);
}

bool StreamWriter::wouldWait(qint64 size) const
{
    if (!m_direct)
        return false;
    auto busy = [this](int stage) {
        return m_writing[stage].valid() &&
               m_writing[stage].wait_for(std::chrono::seconds(0)) != std::future_status::ready;
    };
    // Walk the stages write() would fill, as it would.
    int stage = m_active;
    qint64 staged = m_staged;
    while (size > 0) {
        if (staged == 0 && busy(stage))
            return true;
        const qint64 n = qMin(size, StageBytes - staged);
        staged += n;
        size -= n;
        if (staged == StageBytes) {
            stage ^= 1;
            staged = 0;
        }
    }
    return false;
}

Result<void> StreamWriter::waitFor(int stage)
{
    if (!m_writing[stage].valid())
        return {};
    const int err = m_writing[stage].get();
    m_writing[stage] = {};
    // An earlier file's write: its error was that file's (finishAsync() reported it).
    if (err && !std::exchange(m_inherited[stage], false))
        return writeFailure(err);
    m_inherited[stage] = false;
    return {};
}

void StreamWriter::start(int fd, qint64 offset, qint64 expected)
{
    // Writes of earlier files may still be in flight (finishAsync(), or a file given up on):
    // a stage is waited for when it is filled again; their errors are not this file's.
    m_inherited[0] = m_inherited[1] = true;
    m_file.reset();
    m_fd = fd;
    m_offset = offset;
    m_staged = 0;
    m_direct = false;
    if (expected < DirectMinBytes || offset % Align != 0) {
        // Not direct: the stages go back to the budget, unless a write of an earlier file
        // still uses one (then they stay until the next such start, or the writer goes).
        if (m_stages[0] && !writing())
            releaseStages();
        return;
    }
    if (!takeStages())
        return; // the budget is spent: the page cache
    // Our own descriptor, held by every write in flight: whatever the caller closes, a write
    // never lands in another file that reused the number.
    auto dup = std::make_shared<UniqueFd>(::fcntl(fd, F_DUPFD_CLOEXEC, 0));
    const int flags = dup->valid() ? ::fcntl(dup->get(), F_GETFL) : -1;
    // EINVAL: this filesystem has no direct I/O; the page cache it is.
    m_direct = flags >= 0 && ::fcntl(dup->get(), F_SETFL, flags | O_DIRECT) == 0;
    if (m_direct) {
        m_file = dup;
        m_fd = dup->get();
    } else if (!writing()) {
        releaseStages(); // no direct I/O here: others may have the budget
    }
}

bool StreamWriter::writing() const
{
    return std::any_of(std::begin(m_writing), std::end(m_writing), [](const auto &w) {
        return w.valid() && w.wait_for(std::chrono::seconds(0)) != std::future_status::ready;
    });
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
        if (m_staged == 0) { // this stage's previous write must be done before it is reused
            if (auto r = waitFor(m_active); !r)
                return r;
        }
        const qint64 n = qMin(size, StageBytes - m_staged);
        std::memcpy(m_stages[m_active].get() + m_staged, data, size_t(n));
        m_staged += n;
        data += n;
        size -= n;
        if (m_staged == StageBytes) {
            if (auto r = submit(); !r)
                return r;
        }
    }
    return {};
}

Result<char *> StreamWriter::reserve(qint64 size)
{
    if (!m_direct || size > StageBytes - m_staged)
        return nullptr;
    if (m_staged == 0) { // as in write(): the stage's previous write must be done
        const auto &w = m_writing[m_active];
        if (w.valid() && w.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
            return nullptr;
        if (auto r = waitFor(m_active); !r)
            return r.error();
    }
    return m_stages[m_active].get() + m_staged;
}

Result<void> StreamWriter::commit(qint64 size)
{
    Q_ASSERT(m_direct && size <= StageBytes - m_staged);
    m_staged += size;
    return m_staged == StageBytes ? submit() : Result<void>();
}

Result<void> StreamWriter::submit()
{
    auto done = std::make_shared<std::promise<int>>();
    m_writing[m_active] = done->get_future().share();
    m_inherited[m_active] = false;
    pool().start(
        [done, file = m_file, data = m_stages[m_active].get(), offset = m_offset, wake = m_wake] {
            done->set_value(writeFully(file->get(), data, StageBytes, offset));
            (*wake)();
        });
    m_offset += StageBytes;
    m_staged = 0;
    m_active ^= 1;
    return {};
}

Result<void> StreamWriter::finish()
{
    Result<void> result;
    for (int s = 0; s < 2; ++s) {
        if (auto r = waitFor(s); !r && result)
            result = r;
    }
    if (result && m_staged > 0) {
        if (const int err = writeRest(m_fd, m_stages[m_active].get(), m_staged, m_offset))
            result = writeFailure(err);
        else
            m_offset += m_staged;
    }
    m_staged = 0;
    endFile();
    return result;
}

int StreamWriter::writeRest(int fd, const char *stage, qint64 staged, qint64 offset)
{
    const qint64 aligned = staged & ~(Align - 1);
    if (const int err = writeFully(fd, stage, aligned, offset))
        return err;
    clearDirect(fd); // the tail: less than a block, through the page cache
    return writeFully(fd, stage + aligned, staged - aligned, offset + aligned);
}

void StreamWriter::endFile()
{
    m_direct = false;
    m_file.reset();
    m_fd = -1;
}

std::shared_future<int> StreamWriter::finishAsync(std::function<int(int fd)> then)
{
    auto done = std::make_shared<std::promise<int>>();
    std::shared_future<int> result = done->get_future().share();
    const int last = m_active;
    const bool rest = m_staged > 0;
    // The task waits for both stages' writes of this file (earlier files' writes: their errors
    // were theirs), then writes the rest from `last`, if any: that stage stays busy until then.
    const std::shared_future<int> mine[2] = {
        m_inherited[0] ? std::shared_future<int>() : m_writing[0],
        m_inherited[1] ? std::shared_future<int>() : m_writing[1]};
    const std::shared_future<int> earlier =
        rest && m_inherited[last] ? m_writing[last] : std::shared_future<int>();
    pool().start([done, file = m_file, mine, earlier, stage = m_stages[last].get(),
                  staged = m_staged, offset = m_offset, then = std::move(then), wake = m_wake] {
        int err = 0;
        for (const auto &w : mine) {
            if (w.valid()) {
                const int e = w.get();
                if (!err)
                    err = e;
            }
        }
        if (earlier.valid())
            earlier.wait(); // the stage is free only once that write is done
        if (!err && staged > 0)
            err = writeRest(file->get(), stage, staged, offset);
        if (!err)
            err = then(file->get());
        done->set_value(err);
        (*wake)();
    });
    if (rest) {
        m_writing[last] = result;
        m_active = last ^ 1; // the next file fills the other stage first
    }
    // Else the file ended with a full stage (a 1 MiB file: its only one) and `last` holds none of
    // it: the next file fills `last` while that stage is written.
    for (bool &inherited : m_inherited) // this file's errors: reported through `result`
        inherited = true;
    m_offset += m_staged;
    m_staged = 0;
    endFile();
    return result;
}

} // namespace isocket
