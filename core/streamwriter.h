#pragma once
// StreamWriter: writes a file that arrives as a stream of pieces, at increasing offsets.
//
// A file of DirectMinBytes or more is written with direct I/O (O_DIRECT) where the filesystem
// allows it: the pieces are gathered in an aligned stage of StageBytes; a full stage is written
// straight to the disk by a small pool of threads while the caller fills the next one. Only the
// last few bytes of a file (less than Align) go through the page cache. The receiver makes every
// file durable before it acknowledges it anyway, so the page cache only cost a copy into freshly
// allocated pages and their writeback at the sync, and a DRMS has no use for caching what it
// receives (issue 6: writing 1,000 × 1 MiB or one 1 GiB file into newly allocated page-cache
// pages ran at a quarter of the disk's speed here, 250-290 MB/s; direct and overlapped, 470 and
// 1,150 MB/s). Smaller files, unaligned resume offsets and filesystems without O_DIRECT (EINVAL)
// are written through the page cache, piece by piece, on the caller's thread.
//
// Stages come from one pool for the whole process, bounded (stageLimit(): 32 stages, 32 MiB),
// and are kept for reuse (no page faults on new memory). A writer holds a stage while it fills
// it and while the disk writes it, at most StagesPerWriter at once; when stages run short, a
// stream that pauses between frames sends what it has gathered to the disk (flush()) rather
// than keep a stage until its next frame. So memory follows the writes in flight, not the
// connections (issue 19: a receiver serving 200 EDs had ~175 files arriving at once; when each
// writer kept its stages for as long as its connection lived, the 16 writers the budget allowed
// held them, 92 % of the files went through the page cache, and that was half the receiver's
// CPU time). A writer that finds the pool spent writes the rest of that file through the page
// cache, as a filesystem without O_DIRECT would.
//
// Until finish(), what write() accepted may still be staged or being written: call finish() at
// the end of the file (it waits for the writes, so the caller may set the mtime and sync after
// it), and also when the transfer stops early (a cancel, a lost connection) so that a partial
// kept for a resume holds every byte received.
// A caller that serves many streams from one thread must not wait for one stream's disk: it asks
// wouldWait() before a write and, when it would, holds the data back and sets a wake-up
// (setWake()) that a pool thread calls when a write ends.
// One file at a time, used from one thread. Writes go through the writer's own duplicate of the
// descriptor, so the caller may close its descriptor at any time.

#include "core/error.h"
#include "core/fileutil.h"

#include <QtGlobal>

class QThreadPool;

#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace isocket {

class StreamWriter
{
public:
    StreamWriter() = default;
    ~StreamWriter();
    StreamWriter(const StreamWriter &) = delete;
    StreamWriter &operator=(const StreamWriter &) = delete;

    static constexpr qint64 Align = 4096; // offsets, sizes and the buffer: any disk's block
    static constexpr qint64 StageBytes = 1024 * 1024;
    static constexpr int StagesPerWriter = 2; // filled or being written, for any of its files
    static constexpr qint64 DirectMinBytes = 256 * 1024;

    // Starts a file: `fd` open for writing, the stream continuing at `offset`, `expected` more
    // bytes to come. Decides whether to write it directly.
    void start(int fd, qint64 offset, qint64 expected);
    // Blocks only when this writer already holds StagesPerWriter stages (ask wouldWait() first).
    Result<void> write(const char *data, qint64 size);
    // Direct mode: where the next `size` bytes go, when they fit in what is left of the stage
    // being filled (or in a new one) without waiting; nullptr when not (write() them instead).
    // Fill it, then commit(size). Saves the caller a buffer and a copy: a receiver reads a
    // frame's payload straight into it. The error is that of an earlier write of this file.
    Result<char *> reserve(qint64 size);
    Result<void> commit(qint64 size);
    // Direct mode: sends the stage being filled to the disk now when what it holds is aligned
    // (the stream has paused: a caller calls it when it has read all that has arrived), so that
    // a slow stream does not hold a stage between its frames. No-op otherwise.
    void flush();
    // Writes what is staged and waits for the writes. The writer is then idle until the next
    // start().
    Result<void> finish();
    // Direct mode only: ends the file without waiting. A pool thread waits for the writes in
    // flight, writes what is staged, then runs `then` on the file (the mtime and the xattr, which
    // must follow the data); the future holds 0 or an errno. The next start() may follow at once.
    std::shared_future<int> finishAsync(std::function<int(int fd)> then);

    // Whether write(size bytes) now would wait for a write of ours still on its way to the disk.
    bool wouldWait(qint64 size) const;
    // `wake` is called from a pool thread each time a write to the disk ends, until it is set
    // to {} (also done by the destructor); keep it short: post a call to your own thread.
    void setWake(std::function<void()> wake);

    bool direct() const { return m_direct; }
    // How many stages the writers of this process may hold at once (tests lower it), and how
    // many they hold now.
    static int stageLimit();
    static void setStageLimit(int stages);
    static int stagesInUse();
    // The threads that write stages to the disk, shared by all writers (tests hold them up to
    // play a slow disk).
    static QThreadPool &pool();
    // Bytes of the file written or being written; after finish(), where the file ends.
    qint64 onDisk() const { return m_offset; }

private:
    using Stage = std::shared_ptr<char>; // back to the pool when its last holder lets go

    void submit(); // the stage being filled, to the disk
    bool takeStage();      // m_fill from the pool; false: it is spent
    int held() const;      // stages of ours: being written, and the one being filled
    void prune();          // forgets writes that have ended (their errors are kept)
    Result<void> firstError(); // of this file's writes that have ended
    Result<void> writeBuffered(const char *data, qint64 size);
    // pwrite until done; direct I/O refused after all (EINVAL) switches the file to the page
    // cache. 0 or an errno.
    static int writeFully(int fd, const char *data, qint64 size, qint64 offset);
    // The last `staged` bytes of a file from `stage` at `offset`: the aligned part as it is, the
    // tail (less than Align) through the page cache. 0 or an errno.
    static int writeRest(int fd, const char *stage, qint64 staged, qint64 offset);
    void endFile(); // back to idle: no descriptor, not direct

    // The wake-up, shared with the writes in flight.
    struct Wake
    {
        std::mutex mutex;
        std::function<void()> fn;
        void operator()();
    };

    Stage m_fill;     // being filled
    qint64 m_staged = 0;
    std::vector<std::shared_future<int>> m_writes; // this file's: 0 or an errno
    std::vector<std::shared_future<int>> m_busy;   // any file's, each holding a stage
    std::shared_ptr<Wake> m_wake = std::make_shared<Wake>();
    std::shared_ptr<UniqueFd> m_file; // direct mode: our duplicate of the file's descriptor
    int m_fd = -1;
    qint64 m_offset = 0; // file offset of the next stage's first byte
    int m_error = 0;     // the first errno of this file's writes
    bool m_direct = false;
    bool m_buffered = false; // direct, but the pool was spent: the rest through the page cache
};

} // namespace isocket
