// tsdwatch: an LD_PRELOAD module for the end-to-end tests (tst_e2e_tls). It reports on stderr
// every OpenSSL thread-local destructor that runs at a thread's exit.
//
// Qt's threads are detached: QThread::wait() returns before the thread has ended, and what the
// thread's exit still does (its thread-local destructors) races with the process's exit, which
// frees OpenSSL's globals. isocket releases a thread's OpenSSL state in the thread before
// wait() returns (core/eventloopthread.cpp); then libcrypto's destructor has nothing left to do
// and is not called. The race itself is rare (a crash in some hundreds of exits under load); a
// destructor that runs at all is what makes it possible, and that this module shows every time.
//
// How: pthread_key_create() is interposed; a key whose destructor lies in libcrypto gets a
// wrapper that writes one line and calls the original. At exit it says how many it watches,
// and the process waits a little, so that threads still ending get to their destructors before
// it is gone.

#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <utility>

namespace {

using Destructor = void (*)(void *);
constexpr int MaxWatched = 8;
std::array<std::atomic<Destructor>, MaxWatched> originals{};
std::atomic<int> watched{0};

template <int I>
void wrapper(void *value)
{
    static const char line[] =
        "tsdwatch: an OpenSSL thread-local destructor ran at a thread's exit\n";
    [[maybe_unused]] const ssize_t n = ::write(STDERR_FILENO, line, sizeof line - 1);
    originals[I].load()(value);
}

template <int... I>
constexpr std::array<Destructor, MaxWatched> makeWrappers(std::integer_sequence<int, I...>)
{
    return {&wrapper<I>...};
}
constexpr std::array<Destructor, MaxWatched> wrappers =
    makeWrappers(std::make_integer_sequence<int, MaxWatched>{});

bool inLibcrypto(Destructor d)
{
    Dl_info info{};
    return ::dladdr(reinterpret_cast<void *>(d), &info) != 0 && info.dli_fname
           && std::strstr(info.dli_fname, "libcrypto") != nullptr;
}

void pauseAtExit()
{
    // Says that it was loaded and found libcrypto's keys, so a test cannot pass without it.
    char line[96];
    const int n = std::snprintf(line, sizeof line,
                                "tsdwatch loaded: watching %d OpenSSL thread-local destructor(s)\n",
                                watched.load());
    if (n > 0) {
        [[maybe_unused]] const ssize_t w = ::write(STDERR_FILENO, line, size_t(n));
    }
    const timespec ts{0, 300'000'000};
    ::nanosleep(&ts, nullptr);
}

[[gnu::constructor]] void init()
{
    std::atexit(pauseAtExit); // registered first: runs last, after OpenSSL's own clean-up
}

} // namespace

extern "C" int pthread_key_create(pthread_key_t *key, Destructor destructor)
{
    using Create = int (*)(pthread_key_t *, Destructor);
    static const auto real = reinterpret_cast<Create>(::dlsym(RTLD_NEXT, "pthread_key_create"));
    if (destructor && inLibcrypto(destructor)) {
        const int i = watched.fetch_add(1);
        if (i < MaxWatched) {
            originals[i] = destructor;
            destructor = wrappers[i];
        }
    }
    return real(key, destructor);
}
