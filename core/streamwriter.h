#pragma once
// StreamWriter: writes a file that arrives as a stream of pieces, at increasing offsets.
//
// A file of DirectMinBytes or more is written with direct I/O (O_DIRECT) where the filesystem
// allows it: the pieces are gathered in an aligned buffer of StageBytes and written from there
// straight to the disk, bypassing the page cache; only the last few bytes (less than Align) are
// written through the page cache. The receiver makes every file durable before it acknowledges
// it anyway, so the page cache only cost a copy into freshly allocated pages and their writeback
// at the sync, and a DRMS has no use for caching what it receives (issue 6: 1,000 × 1 MiB, where
// writing into newly allocated page-cache pages ran at a quarter of the disk's speed here).
// Smaller files, unaligned resume offsets and filesystems without O_DIRECT (EINVAL) are written
// through the page cache as before, piece by piece.
//
// Until finish(), up to StageBytes of what write() accepted may still be in the buffer: call
// finish() at the end of the file, and also when the transfer stops early (a cancel, a lost
// connection) so that a partial kept for a resume holds every byte received.
// One file at a time; the buffer is allocated on first use and kept for the next file.

#include "core/error.h"

#include <QtGlobal>

#include <cstdlib>
#include <memory>
#include <utility>

namespace isocket {

class StreamWriter
{
public:
    static constexpr qint64 Align = 4096; // offsets, sizes and the buffer: any disk's block
    static constexpr qint64 StageBytes = 256 * 1024;
    static constexpr qint64 DirectMinBytes = 256 * 1024;

    // Starts a file: `fd` open for writing, the stream continuing at `offset`, `expected` more
    // bytes to come. Decides whether to write it directly.
    void start(int fd, qint64 offset, qint64 expected);
    Result<void> write(const char *data, qint64 size);
    // Writes what is staged. The writer is then idle until the next start().
    Result<void> finish();

    bool direct() const { return m_direct; }
    // Where the file on disk ends (all written before this offset; what follows is staged).
    qint64 onDisk() const { return m_offset; }

private:
    Result<void> writeStage(qint64 bytes); // the first `bytes` staged (a multiple of Align)
    void leaveDirect();

    struct Free
    {
        void operator()(char *p) const { std::free(p); }
    };
    std::unique_ptr<char, Free> m_stage;
    int m_fd = -1;
    qint64 m_offset = 0; // file offset of the stage's first byte
    qint64 m_staged = 0;
    bool m_direct = false;
};

} // namespace isocket
