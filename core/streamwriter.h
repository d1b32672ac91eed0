#pragma once
// StreamWriter: writes a file that arrives as a stream of pieces, at increasing offsets.
//
// A file of DirectMinBytes or more is written with direct I/O (O_DIRECT) where the filesystem
// allows it: the pieces are gathered in one of two aligned stages of StageBytes; a full stage is
// written straight to the disk by a small pool of threads while the caller fills the other one
// (at most one write in flight per stage: the disk writes one part while the next arrives, and
// a disk slower than the network holds the caller up when both stages are busy). Only the last
// few bytes of a file (less than Align) go through the page cache. The receiver makes every file
// durable before it acknowledges it anyway, so the page cache only cost a copy into freshly
// allocated pages and their writeback at the sync, and a DRMS has no use for caching what it
// receives (issue 6: writing 1,000 × 1 MiB or one 1 GiB file into newly allocated page-cache
// pages ran at a quarter of the disk's speed here, 250-290 MB/s; direct and overlapped, 470 and
// 1,150 MB/s). Smaller files, unaligned resume offsets and filesystems without O_DIRECT
// (EINVAL) are written through the page cache, piece by piece, on the caller's thread.
//
// Until finish(), what write() accepted may still be staged or being written: call finish() at
// the end of the file (it waits for the writes, so the caller may set the mtime and sync after
// it), and also when the transfer stops early (a cancel, a lost connection) so that a partial
// kept for a resume holds every byte received.
// A caller that serves many streams from one thread must not wait for one stream's disk: it asks
// wouldWait() before a write and, when it would, holds the data back and sets a wake-up
// (setWake()) that a pool thread calls when a write ends.
// One file at a time, used from one thread. The stages (2 × StageBytes per writer) are allocated
// on first use and kept for the next file; they are given back when the writer goes (its
// connection closed) or starts a file that is not written directly while no write of its own
// is in flight. The stages of all writers are bounded (stagedWritersLimit(), 16 writers: 32 MiB):
// a writer that finds the budget spent writes its file through the page cache, as a filesystem
// without O_DIRECT would. Without the bound a receiver serving many EDs at once held 2 MiB per
// busy connection (bench/run --cases fleet: 810-860 MiB at 200 EDs); the pool writes 4 stages
// at once, which 16 writers keep fed many times over. Writes go through the writer's own
// duplicate of the descriptor, so the caller may close its descriptor at any time.

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
    static constexpr qint64 DirectMinBytes = 256 * 1024;

    // Starts a file: `fd` open for writing, the stream continuing at `offset`, `expected` more
    // bytes to come. Decides whether to write it directly.
    void start(int fd, qint64 offset, qint64 expected);
    Result<void> write(const char *data, qint64 size);
    // Direct mode: where the next `size` bytes go, when they fit in what is left of the stage
    // being filled and that stage is free (its last write ended); nullptr when not (write() them
    // instead). Fill it, then commit(size). Saves the caller a buffer and a copy: a receiver
    // reads a frame's payload straight into it. The error is that of the stage's last write.
    Result<char *> reserve(qint64 size);
    Result<void> commit(qint64 size);
    // Writes what is staged and waits for the writes. The writer is then idle until the next
    // start().
    Result<void> finish();
    // Direct mode only: ends the file without waiting. A pool thread waits for the writes in
    // flight, writes what is staged, then runs `then` on the file (the mtime and the xattr, which
    // must follow the data); the future holds 0 or an errno. The next start() may follow at once:
    // the next file fills a stage this one's last write does not use (for a file that ends on a
    // stage boundary, such as a 1 MiB file, that is the stage it did not fill last).
    std::shared_future<int> finishAsync(std::function<int(int fd)> then);

    // Whether write(size bytes) now would wait for a stage still being written to the disk.
    bool wouldWait(qint64 size) const;
    // `wake` is called from a pool thread each time a write to the disk ends, until it is set
    // to {} (also done by the destructor); keep it short: post a call to your own thread.
    void setWake(std::function<void()> wake);

    bool direct() const { return m_direct; }
    // How many writers may hold their stages at once, in this process (tests lower it).
    static int stagedWritersLimit();
    static void setStagedWritersLimit(int writers);
    // How many hold them now.
    static int stagedWriters();
    // The threads that write stages to the disk, shared by all writers (tests hold them up to
    // play a slow disk).
    static QThreadPool &pool();
    // Bytes of the file written or being written; after finish(), where the file ends.
    qint64 onDisk() const { return m_offset; }

private:
    Result<void> submit(); // the active stage, full, to the disk
    Result<void> waitFor(int stage);
    // pwrite until done; direct I/O refused after all (EINVAL) switches the file to the page
    // cache. 0 or an errno.
    static int writeFully(int fd, const char *data, qint64 size, qint64 offset);
    // The last `staged` bytes of a file from `stage` at `offset`: the aligned part as it is, the
    // tail (less than Align) through the page cache. 0 or an errno.
    static int writeRest(int fd, const char *stage, qint64 staged, qint64 offset);
    void endFile(); // back to idle: no descriptor, not direct
    bool writing() const;  // a write to the disk of ours is in flight
    bool takeStages();     // allocates the stages within the budget; false: page cache
    void releaseStages(); // frees them (no write of ours in flight) and gives the budget back

    // The wake-up, shared with the writes in flight.
    struct Wake
    {
        std::mutex mutex;
        std::function<void()> fn;
        void operator()();
    };

    struct Free
    {
        void operator()(char *p) const { std::free(p); }
    };
    std::unique_ptr<char, Free> m_stages[2];
    std::shared_future<int> m_writing[2]; // a stage's write in flight: its errno
    bool m_inherited[2] = {};             // that write belongs to an earlier file
    int m_active = 0;
    std::shared_ptr<Wake> m_wake = std::make_shared<Wake>();
    std::shared_ptr<UniqueFd> m_file; // direct mode: our duplicate of the file's descriptor
    int m_fd = -1;
    qint64 m_offset = 0; // file offset of the active stage's first byte
    qint64 m_staged = 0;
    bool m_direct = false;
};

} // namespace isocket
