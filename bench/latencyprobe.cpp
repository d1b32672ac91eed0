// isocket-latency-probe: the producer side and the stopwatch of the "live" benchmark case.
//
// Writes COUNT files of SIZE bytes into WRITE_DIR, one every INTERVAL ms (umask-style mode
// 0644, like the parser), and watches ARRIVE_DIR with inotify for the same name to appear there:
// IN_MOVED_TO (rsync, and isocket for a file with a named partial, rename a temporary into place)
// or IN_CREATE (isocket links a small file, written unnamed, in at its final name). Temporaries
// have other (hidden) names, so the final name appearing is "durable arrival" for isocket (it
// syncs before it renames or links) and "arrival" for rsync. Latency is close() of the source →
// that event, both on CLOCK_MONOTONIC. Prints one JSON object on
// stdout: every latency in ms, p50, p99, max, the names that never arrived, and the close time of
// each file that arrived (CLOCK_MONOTONIC ms, in the order of the latencies: Python's
// time.monotonic() reads the same clock, so a caller can keep the files closed in a period).
//
// Usage: isocket-latency-probe WRITE_DIR ARRIVE_DIR COUNT SIZE INTERVAL_MS [WAIT_MS] [PREFIX]
//   WAIT_MS (default 5000): how long to wait for stragglers after the last write.
//   PREFIX  (default "probe"): file names are PREFIX-000001.dat …
// Before measuring, it writes PREFIX-warmup.dat and waits (up to 30 s) for it to arrive, so
// that the peer's start-up (connect, initial sync) is not counted.
//
// Plain C++ and POSIX on purpose: no event loop between the clock and the kernel.

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

namespace {

double nowMs()
{
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return double(ts.tv_sec) * 1000.0 + double(ts.tv_nsec) / 1e6;
}

[[noreturn]] void die(const std::string &what)
{
    std::fprintf(stderr, "latency-probe: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
}

std::string fileName(const std::string &prefix, int i)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "-%06d.dat", i);
    return prefix + buf;
}

void writeFile(const std::string &path, const std::vector<char> &data)
{
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("open " + path);
    size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            die("write " + path);
        }
        done += size_t(n);
    }
    if (::close(fd) != 0)
        die("close " + path);
}

// Reads pending inotify events; records the arrival time of every name that appeared
// (IN_MOVED_TO or IN_CREATE).
void drain(int ifd, std::map<std::string, double> &arrived)
{
    alignas(inotify_event) char buf[64 * 1024];
    for (;;) {
        const ssize_t n = ::read(ifd, buf, sizeof buf);
        if (n <= 0)
            return;
        const double t = nowMs();
        for (char *p = buf; p < buf + n;) {
            const auto *ev = reinterpret_cast<const inotify_event *>(p);
            if (ev->len > 0 && (ev->mask & (IN_MOVED_TO | IN_CREATE)))
                arrived.emplace(ev->name, t);
            if (ev->mask & IN_Q_OVERFLOW)
                std::fprintf(stderr, "latency-probe: inotify queue overflow\n");
            p += sizeof(inotify_event) + ev->len;
        }
    }
}

double percentile(std::vector<double> v, double p)
{
    if (v.empty())
        return -1;
    std::sort(v.begin(), v.end());
    // Nearest rank.
    size_t rank = size_t(p / 100.0 * double(v.size()) + 0.999999);
    rank = std::clamp<size_t>(rank, 1, v.size());
    return v[rank - 1];
}

} // namespace

int main(int argc, char **argv)
{
    if (argc < 6) {
        std::fprintf(stderr,
                     "usage: %s WRITE_DIR ARRIVE_DIR COUNT SIZE INTERVAL_MS [WAIT_MS] [PREFIX]\n",
                     argv[0]);
        return 2;
    }
    const std::string writeDir = argv[1];
    const std::string arriveDir = argv[2];
    const int count = std::atoi(argv[3]);
    const size_t size = size_t(std::atoll(argv[4]));
    const double intervalMs = std::atof(argv[5]);
    const double waitMs = argc > 6 ? std::atof(argv[6]) : 5000.0;
    const std::string prefix = argc > 7 ? argv[7] : "probe";

    const int ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (ifd < 0)
        die("inotify_init1");
    if (inotify_add_watch(ifd, arriveDir.c_str(), IN_MOVED_TO | IN_CREATE | IN_ONLYDIR) < 0)
        die("inotify_add_watch " + arriveDir);

    std::vector<char> data(size);
    unsigned x = 2463534242u;
    for (char &c : data) { // xorshift: incompressible, deterministic
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        c = char(x);
    }

    std::map<std::string, double> arrived;
    const std::string warm = prefix + "-warmup.dat";
    writeFile(writeDir + "/" + warm, data);
    const double warmDeadline = nowMs() + 30000;
    while (!arrived.count(warm) && nowMs() < warmDeadline) {
        pollfd pfd{ifd, POLLIN, 0};
        ::poll(&pfd, 1, 100);
        drain(ifd, arrived);
    }
    if (!arrived.count(warm)) {
        std::fprintf(stderr, "latency-probe: warm-up file never arrived in %s\n", arriveDir.c_str());
        return 1;
    }

    std::map<std::string, double> closed;
    double next = nowMs();
    int written = 0;
    for (;;) {
        const double now = nowMs();
        if (written < count && now >= next) {
            const std::string name = fileName(prefix, written + 1);
            writeFile(writeDir + "/" + name, data);
            closed[name] = nowMs();
            ++written;
            next += intervalMs;
            continue;
        }
        if (written == count) {
            size_t got = 0;
            for (const auto &[name, t] : closed)
                got += arrived.count(name);
            if (got == closed.size() || now > next - intervalMs + waitMs)
                break;
        }
        const double until = written < count ? next : now + 50;
        pollfd pfd{ifd, POLLIN, 0};
        const int timeout = std::max(0, int(until - now));
        if (::poll(&pfd, 1, timeout) > 0)
            drain(ifd, arrived);
    }
    drain(ifd, arrived);

    std::vector<double> lat;
    std::vector<double> closedAt;
    std::string missing;
    for (const auto &[name, t] : closed) {
        auto it = arrived.find(name);
        if (it == arrived.end()) {
            missing += (missing.empty() ? "\"" : ",\"") + name + "\"";
            continue;
        }
        lat.push_back(it->second - t);
        closedAt.push_back(t);
    }
    std::printf("{\"count\": %d, \"arrived\": %zu, \"p50_ms\": %.3f, \"p99_ms\": %.3f, "
                "\"max_ms\": %.3f, \"missing\": [%s], \"latencies_ms\": [",
                count, lat.size(), percentile(lat, 50), percentile(lat, 99),
                lat.empty() ? -1.0 : *std::max_element(lat.begin(), lat.end()), missing.c_str());
    for (size_t i = 0; i < lat.size(); ++i)
        std::printf(i ? ", %.3f" : "%.3f", lat[i]);
    std::printf("], \"closed_ms\": [");
    for (size_t i = 0; i < closedAt.size(); ++i)
        std::printf(i ? ", %.3f" : "%.3f", closedAt[i]);
    std::printf("]}\n");
    return lat.size() == size_t(count) ? 0 : 1;
}
