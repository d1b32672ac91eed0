// isocket-syncbench: what it costs to make a batch of small received files durable, with each
// way of doing it, alone and while another process keeps the filesystem dirty (issue 19).
//
// Writes FILES files of SIZE bytes into DIR the way the receiver's committer does: a partial
// (`.name.part`) created, written, its mtime set and its checksum xattr written; then, per batch
// of BATCH files, the durability step of the strategy; then each renamed into place and the
// directory made durable (once per batch). Strategies:
//   syncfs       one syncfs(2) per batch before the renames; the renames made durable by the
//                next batch's syncfs (one more at the end): the committer's Auto mode until now
//   fsync        fsync of each file, one after the other, then fsync of the directory
//   poolK        fsync of each file from K threads, then fsync of the directory
//   poolK-fdata  the same with fdatasync (not enough for the receiver: the mtime and the xattr
//                are inode metadata fdatasync may skip; a reference only)
//   sfr          sync_file_range(SYNC_FILE_RANGE_WRITE) of each file as soon as it is written
//                (writeback starts while the next ones are written), then fsync of each, serially
//   sfr-poolK    the same, the fsyncs from K threads
//   adaptive     per batch: syncfs while the system's dirty + writeback data (/proc/meminfo) is
//                at most the batch's own plus 4 MiB, else sfr-pool16 (+ the directory fsync,
//                which also makes a previous syncfs batch's renames durable)
// Each runs alone and with a "dirty writer": a forked child that first writes DIRTY MiB into a
// file in DIR without syncing, then keeps rewriting that file, cycling, at RATE MiB/s until it
// is stopped, so the filesystem has that much dirty data for the whole measurement (what an
// rsync, a copy or a log writer on a shared DRMS disk leaves behind).
// Repetitions are interleaved (rep → condition → strategy), nothing is deleted until the end
// (deleting many files slows file creation on ext4 for minutes: bench/RESULTS.md), and the
// filesystem is synced before each measurement (not timed).
//
// Usage: isocket-syncbench DIR [-n FILES] [-s SIZE] [-b BATCH] [-r REPS] [-d DIRTY_MIB]
//                                [-w RATE_MIB_S] [-o STRATEGY,…]
// Prints a table: files/s median [min–max] per strategy and condition, and ratios.
//
// Plain C++ and POSIX on purpose, like latencyprobe.cpp.

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

namespace {

[[noreturn]] void die(const std::string &what)
{
    std::fprintf(stderr, "syncbench: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

double now()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// Dirty (and, with `writeback`, Dirty + Writeback) in /proc/meminfo, KiB.
long dirtyKiB(bool writeback = false)
{
    FILE *f = std::fopen("/proc/meminfo", "r");
    if (!f)
        return -1;
    char line[256];
    long kib = 0;
    long v = 0;
    int found = 0;
    while (found < (writeback ? 2 : 1) && std::fgets(line, sizeof line, f)) {
        if (std::sscanf(line, "Dirty: %ld kB", &v) == 1 ||
            (writeback && std::sscanf(line, "Writeback: %ld kB", &v) == 1)) {
            kib += v;
            ++found;
        }
    }
    std::fclose(f);
    return kib;
}

// K threads that run fn(i) for i in [0, n), each call of run() once, the caller waiting.
class Pool
{
public:
    explicit Pool(int threads)
    {
        for (int t = 0; t < threads; ++t)
            m_threads.emplace_back([this] { work(); });
    }
    ~Pool()
    {
        {
            std::lock_guard lock(m_mutex);
            m_stop = true;
        }
        m_wake.notify_all();
        for (std::thread &t : m_threads)
            t.join();
    }
    void run(size_t n, const std::function<void(size_t)> &fn)
    {
        std::unique_lock lock(m_mutex);
        m_fn = &fn;
        m_n = n;
        m_next = 0;
        m_busy = int(m_threads.size());
        ++m_generation;
        m_wake.notify_all();
        m_done.wait(lock, [this] { return m_busy == 0; });
        m_fn = nullptr;
    }

private:
    void work()
    {
        unsigned long seen = 0;
        for (;;) {
            const std::function<void(size_t)> *fn;
            {
                std::unique_lock lock(m_mutex);
                m_wake.wait(lock, [&] { return m_stop || m_generation != seen; });
                if (m_stop)
                    return;
                seen = m_generation;
                fn = m_fn;
            }
            for (size_t i = m_next++; i < m_n; i = m_next++)
                (*fn)(i);
            std::lock_guard lock(m_mutex);
            if (--m_busy == 0)
                m_done.notify_one();
        }
    }

    std::vector<std::thread> m_threads;
    std::mutex m_mutex;
    std::condition_variable m_wake;
    std::condition_variable m_done;
    const std::function<void(size_t)> *m_fn = nullptr;
    size_t m_n = 0;
    std::atomic<size_t> m_next{0};
    int m_busy = 0;
    unsigned long m_generation = 0;
    bool m_stop = false;
};

struct Options
{
    std::string dir;
    int files = 2000;
    size_t size = 4096;
    int batch = 64;
    int reps = 3;
    int dirtyMiB = 384;
    int rateMiB = 64;
    std::vector<std::string> only;
};

struct Strategy
{
    std::string name;
    enum Kind { Syncfs, Fsync, Adaptive } kind;
    int threads = 1;       // fsync: how many at once
    bool datasync = false; // fdatasync instead of fsync
    bool kick = false;     // sync_file_range(WRITE) right after writing
};

std::vector<Strategy> strategies()
{
    return {
        {"syncfs", Strategy::Syncfs},
        {"fsync", Strategy::Fsync, 1},
        {"pool4", Strategy::Fsync, 4},
        {"pool8", Strategy::Fsync, 8},
        {"pool16", Strategy::Fsync, 16},
        {"pool8-fdata", Strategy::Fsync, 8, true},
        {"sfr", Strategy::Fsync, 1, false, true},
        {"sfr-pool4", Strategy::Fsync, 4, false, true},
        {"sfr-pool8", Strategy::Fsync, 8, false, true},
        {"sfr-pool16", Strategy::Fsync, 16, false, true},
        {"adaptive", Strategy::Adaptive, 16, false, true},
    };
}

struct Measured
{
    double filesPerS;   // the whole: writing and making durable
    double syncUsPerFile; // the durability steps alone (sync, rename, directory), per file
    int batches;
    int syncfsBatches; // of them, made durable with syncfs
};

// One measurement: FILES files into a new directory `dir`.
Measured measure(const Options &o, const Strategy &s, const std::string &dir,
               const std::vector<char> &data)
{
    if (::mkdir(dir.c_str(), 0755) != 0)
        die("mkdir " + dir);
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        die("open " + dir);
    Pool pool(s.kind != Strategy::Syncfs && s.threads > 1 ? s.threads : 0);
    std::vector<int> fds;
    std::vector<std::string> parts;
    std::vector<std::string> finals;
    const char hex[] = "0123456789abcdef0123456789abcdef";
    bool renamesPending = false;
    double syncTime = 0;
    int batches = 0;
    int syncfsBatches = 0;

    const double t0 = now();
    for (int first = 0; first < o.files; first += o.batch) {
        const int n = std::min(o.batch, o.files - first);
        fds.clear();
        parts.clear();
        finals.clear();
        for (int i = first; i < first + n; ++i) {
            char name[64];
            std::snprintf(name, sizeof name, "f%06d.dat", i);
            finals.emplace_back(name);
            parts.push_back("." + finals.back() + ".part");
            const int fd = ::openat(dfd, parts.back().c_str(),
                                    O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
            if (fd < 0)
                die("create " + parts.back());
            if (::write(fd, data.data(), data.size()) != ssize_t(data.size()))
                die("write");
            const timespec times[2] = {{0, UTIME_OMIT}, {1700000000 + i, 0}};
            if (::futimens(fd, times) != 0)
                die("futimens");
            if (::fsetxattr(fd, "user.isocket.xxh128", hex, 32, 0) != 0)
                die("fsetxattr (user xattrs needed)");
            if (s.kick && s.kind == Strategy::Fsync && ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE) != 0)
                die("sync_file_range");
            fds.push_back(fd);
        }
        // The data (and inode) durable before the renames.
        const double s0 = now();
        bool viaSyncfs = s.kind == Strategy::Syncfs;
        if (s.kind == Strategy::Adaptive) {
            const long others = dirtyKiB(true) - long(n * o.size / 1024);
            viaSyncfs = others <= 4096;
            if (!viaSyncfs) {
                for (int fd : fds)
                    ::sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
            }
        }
        ++batches;
        syncfsBatches += viaSyncfs ? 1 : 0;
        if (viaSyncfs) {
            if (::syncfs(dfd) != 0) // also makes the previous batch's renames durable
                die("syncfs");
        } else {
            auto one = [&](size_t j) {
                if ((s.datasync ? ::fdatasync(fds[j]) : ::fsync(fds[j])) != 0)
                    die("fsync");
            };
            if (s.threads > 1)
                pool.run(fds.size(), one);
            else
                for (size_t j = 0; j < fds.size(); ++j)
                    one(j);
        }
        for (size_t j = 0; j < fds.size(); ++j) {
            if (::renameat(dfd, parts[j].c_str(), dfd, finals[j].c_str()) != 0)
                die("rename");
            ::close(fds[j]);
        }
        // The renames durable.
        if (viaSyncfs) {
            renamesPending = true;
        } else {
            if (::fsync(dfd) != 0) // and the renames of a previous syncfs batch
                die("fsync dir");
            renamesPending = false;
        }
        syncTime += now() - s0;
    }
    const double s0 = now();
    if (renamesPending && ::syncfs(dfd) != 0)
        die("syncfs");
    const double end = now();
    syncTime += end - s0;
    ::close(dfd);
    return {o.files / (end - t0), syncTime * 1e6 / o.files, batches, syncfsBatches};
}

// The dirty writer: a child that writes `mib` MiB into `path` without syncing, says so on `ready`,
// then rewrites it cyclically at `rate` MiB/s until killed.
pid_t startDirtyWriter(const std::string &path, int mib, int rate)
{
    int pipefd[2];
    if (::pipe(pipefd) != 0)
        die("pipe");
    const pid_t pid = ::fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        ::close(pipefd[0]);
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
            _exit(1);
        std::vector<char> chunk(1 << 20, 'd');
        const off_t size = off_t(mib) << 20;
        for (off_t off = 0; off < size; off += off_t(chunk.size()))
            if (::pwrite(fd, chunk.data(), chunk.size(), off) != ssize_t(chunk.size()))
                _exit(1);
        if (::write(pipefd[1], "r", 1) != 1)
            _exit(1);
        ::close(pipefd[1]);
        const double start = now();
        long written = 0; // MiB since start
        for (off_t off = 0;; off = (off + off_t(chunk.size())) % size) {
            if (::pwrite(fd, chunk.data(), chunk.size(), off) != ssize_t(chunk.size()))
                _exit(1);
            ++written;
            const double due = start + double(written) / rate;
            const double wait = due - now();
            if (wait > 0)
                ::usleep(useconds_t(wait * 1e6));
        }
    }
    ::close(pipefd[1]);
    char c;
    if (::read(pipefd[0], &c, 1) != 1)
        die("dirty writer did not start");
    ::close(pipefd[0]);
    return pid;
}

void stopDirtyWriter(pid_t pid, const std::string &path)
{
    ::kill(pid, SIGKILL);
    int status;
    ::waitpid(pid, &status, 0);
    ::unlink(path.c_str()); // its dirty pages go with it, unwritten
}

struct Stat
{
    double med, lo, hi;
};

Stat stat(std::vector<double> v)
{
    if (v.empty())
        return {0, 0, 0};
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    const double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return {med, v.front(), v.back()};
}

void usage()
{
    std::fprintf(stderr,
                 "usage: isocket-syncbench DIR [-n FILES] [-s SIZE] [-b BATCH] [-r REPS] "
                 "[-d DIRTY_MIB] [-w RATE_MIB_S] [-o STRATEGY,...]\n");
    std::exit(2);
}

} // namespace

int main(int argc, char **argv)
{
    Options o;
    if (argc < 2)
        usage();
    o.dir = argv[1];
    for (int i = 2; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (a == "-n")
            o.files = std::atoi(v);
        else if (a == "-s")
            o.size = size_t(std::atol(v));
        else if (a == "-b")
            o.batch = std::atoi(v);
        else if (a == "-r")
            o.reps = std::atoi(v);
        else if (a == "-d")
            o.dirtyMiB = std::atoi(v);
        else if (a == "-w")
            o.rateMiB = std::atoi(v);
        else if (a == "-o") {
            std::string list = v;
            for (size_t p = 0; p <= list.size();) {
                const size_t q = std::min(list.find(',', p), list.size());
                o.only.push_back(list.substr(p, q - p));
                p = q + 1;
            }
        } else
            usage();
    }
    if (o.files <= 0 || o.batch <= 0 || o.reps <= 0 || o.dirtyMiB <= 0 || o.rateMiB <= 0)
        usage();
    std::vector<Strategy> all = strategies();
    if (!o.only.empty()) {
        std::vector<Strategy> chosen;
        for (const std::string &name : o.only) {
            auto it = std::find_if(all.begin(), all.end(),
                                   [&](const Strategy &s) { return s.name == name; });
            if (it == all.end()) {
                std::fprintf(stderr, "syncbench: no strategy %s\n", name.c_str());
                return 2;
            }
            chosen.push_back(*it);
        }
        all = chosen;
    }

    char tmpl[4096];
    std::snprintf(tmpl, sizeof tmpl, "%s/syncbench-XXXXXX", o.dir.c_str());
    if (!::mkdtemp(tmpl))
        die("mkdtemp in " + o.dir);
    const std::string work = tmpl;
    std::vector<char> data(o.size);
    for (size_t i = 0; i < data.size(); ++i)
        data[i] = char('a' + i % 23);

    const char *conditions[] = {"alone", "dirty"};
    std::map<std::string, std::vector<double>> results[2];
    std::map<std::string, std::vector<double>> syncCost[2];
    long dirtyAtStart[2] = {0, 0};
    int runNo = 0;
    for (int rep = 0; rep < o.reps; ++rep) {
        for (int c = 0; c < 2; ++c) {
            for (const Strategy &s : all) {
                const int fd = ::open(work.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                ::syncfs(fd); // start clean (not timed)
                ::close(fd);
                const std::string dirty = work + "/dirty.bin";
                pid_t writer = 0;
                if (c == 1)
                    writer = startDirtyWriter(dirty, o.dirtyMiB, o.rateMiB);
                const long d = dirtyKiB();
                dirtyAtStart[c] = std::max(dirtyAtStart[c], d);
                const Measured m = measure(o, s, work + "/run" + std::to_string(runNo++), data);
                if (writer)
                    stopDirtyWriter(writer, dirty);
                results[c][s.name].push_back(m.filesPerS);
                syncCost[c][s.name].push_back(m.syncUsPerFile);
                std::fprintf(stderr,
                             "rep %d %-6s %-12s %8.0f files/s, durability %7.0f us/file, "
                             "syncfs %d/%d batches (Dirty at start %ld MiB)\n",
                             rep + 1, conditions[c], s.name.c_str(), m.filesPerS, m.syncUsPerFile,
                             m.syncfsBatches, m.batches, d / 1024);
            }
        }
    }

    const Stat base = stat(results[0][all.front().name]);
    std::printf("\n%d files x %zu B, batches of %d, %d reps interleaved; dirty writer: %d MiB "
                "then %d MiB/s (Dirty in /proc/meminfo at start: up to %ld MiB alone, %ld MiB "
                "dirty)\n\n",
                o.files, o.size, o.batch, o.reps, o.dirtyMiB, o.rateMiB, dirtyAtStart[0] / 1024,
                dirtyAtStart[1] / 1024);
    std::printf("| strategy | alone files/s | dirty writer files/s | dirty ÷ alone | alone ÷ "
                "%s alone | dirty ÷ %s alone |\n|---|---|---|---|---|---|\n",
                all.front().name.c_str(), all.front().name.c_str());
    for (const Strategy &s : all) {
        const Stat a = stat(results[0][s.name]);
        const Stat d = stat(results[1][s.name]);
        std::printf("| %s | %.0f [%.0f–%.0f] | %.0f [%.0f–%.0f] | %.2f | %.2f | %.2f |\n",
                    s.name.c_str(), a.med, a.lo, a.hi, d.med, d.lo, d.hi, d.med / a.med,
                    a.med / base.med, d.med / base.med);
    }
    std::printf("\nThe durability steps alone (sync, rename, directory sync), us per file:\n\n"
                "| strategy | alone | dirty writer | dirty ÷ alone |\n|---|---|---|---|\n");
    for (const Strategy &s : all) {
        const Stat a = stat(syncCost[0][s.name]);
        const Stat d = stat(syncCost[1][s.name]);
        std::printf("| %s | %.0f [%.0f–%.0f] | %.0f [%.0f–%.0f] | %.2f |\n", s.name.c_str(),
                    a.med, a.lo, a.hi, d.med, d.lo, d.hi, d.med / a.med);
    }
    std::fflush(stdout);

    // Clean up (after the measurements: see above).
    const auto remove = [](const char *path, const struct stat *, int, FTW *) {
        return ::remove(path);
    };
    if (::nftw(work.c_str(), remove, 64, FTW_DEPTH | FTW_PHYS) != 0)
        std::fprintf(stderr, "syncbench: could not remove %s\n", work.c_str());
    return 0;
}
