// ipckit::Lock, how it works (the guarantees are in include/ipckit/lock.hpp).
//
// The lock word holds the owner's thread id (the Linux futex convention), so an uncontended
// lock()/unlock() pair is one compare-and-swap and one exchange, as fast as a plain pthread
// mutex; glibc's robust mutexes cost about twice as much (and Boost's interprocess mutex
// throws when its owner died, and stays unusable). A waiter sets the waiters bit and sleeps
// on the futex in slices of 10 ms; after each slice in which the owner did not change, it
// checks in /proc whether the owner thread still exists, and if not takes the lock over.
// Thread ids can be reused by the system: a dead owner whose id was handed to a new thread
// within that window would not be detected. Linux hands out ids in increasing order up to
// pid_max, so this needs ~4 million thread creations in 10 ms. The thread id is cached per
// thread; an atfork handler resets the cache in the child, which is why processes must be
// made with fork() and not a raw clone.

#include "ipckit/lock.hpp"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>

#include "../sysv/interrupt_timer.hpp"
#include "internal.hpp"
#include "ipckit/error.hpp"
#include "ipckit/shared_arena.hpp"
#include "ipckit/signals.hpp"

namespace ipckit {
namespace detail {
namespace {

constexpr auto wait_slice = std::chrono::milliseconds(10);

long futex(std::atomic<std::uint32_t>& word, int op, std::uint32_t value, const timespec* ts) {
    // Not FUTEX_PRIVATE_FLAG: waiters live in other processes.
    return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(&word), op, value, ts, nullptr, 0);
}

// /proc must be mounted and belong to our pid namespace (its view of us is our pid),
// or thread ids read there would name other threads.
bool proc_usable() {
    static const bool usable = [] {
        std::FILE* f = std::fopen("/proc/self/stat", "r");
        if (f == nullptr) return false;
        long pid = -1;
        const bool read = std::fscanf(f, "%ld", &pid) == 1;
        std::fclose(f);
        return read && pid == static_cast<long>(::getpid());
    }();
    return usable;
}

// Whether thread `tid` (of any process) still runs. A zombie does not: it died and its
// parent has not reaped it yet. When in doubt, the thread is taken to be alive.
bool thread_alive(std::uint32_t tid) {
    if (!proc_usable()) return true;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%u/stat", tid);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errno != ENOENT && errno != ESRCH;
    char buffer[512];
    ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
    ::close(fd);
    if (n <= 0) return n < 0 && errno != ESRCH;  // a reaped task reads as ESRCH
    buffer[n] = '\0';
    // "tid (comm) S ...": comm may hold spaces and parentheses, so find the last ')'.
    const char* close = std::strrchr(buffer, ')');
    if (close == nullptr || close[1] != ' ') return true;
    const char state = close[2];
    return state != 'Z' && state != 'X' && state != 'x';
}

timespec to_timespec(std::chrono::nanoseconds d) {
    auto s = std::chrono::duration_cast<std::chrono::seconds>(d);
    return timespec{static_cast<time_t>(s.count()), static_cast<long>((d - s).count())};
}

}  // namespace

std::uint32_t fetch_tid() noexcept {
    ensure_fork_handlers();
    return static_cast<std::uint32_t>(::gettid());
}

void unlock_not_owner() {
    throw Error(EPERM, "lock: released by thread " + std::to_string(current_tid()) +
                           ", which does not hold it (every unlock must pair with a lock "
                           "in the same thread)");
}

void wake_one(std::atomic<std::uint32_t>& word) {
    futex(word, FUTEX_WAKE, 1, nullptr);
}

bool LockState::held_by_caller() const noexcept {
    return (word.load(std::memory_order_relaxed) & tid_mask) == current_tid();
}

bool LockState::try_lock() {
    const std::uint32_t tid = current_tid();
    std::uint32_t expected = 0;
    if (word.compare_exchange_strong(expected, tid, std::memory_order_acquire,
                                     std::memory_order_relaxed)) {
        depth = 1;
        return true;
    }
    if ((expected & tid_mask) == tid) {
        ++depth;
        return true;
    }
    return false;
}

std::optional<bool> LockState::try_lock_for(std::chrono::nanoseconds timeout) {
    if (try_lock()) return false;
    return lock_slow(current_tid(), std::chrono::steady_clock::now() + timeout);
}

std::optional<bool> LockState::lock_slow(
    std::uint32_t tid, std::optional<std::chrono::steady_clock::time_point> deadline) {
    // No spinning before sleeping, as glibc's default mutex: measured with two processes on
    // two cores hammering one lock, 100 spins gave 18 M increments/s against 58 M/s without
    // (spinning waiters steal the lock's cache line from the owner).
    std::optional<InterruptTimer> wake;
    for (;;) {
        std::uint32_t current = word.load(std::memory_order_relaxed);
        if (current == 0) {
            // Others may be asleep: keep the waiters bit so that our unlock wakes one.
            if (word.compare_exchange_strong(current, tid | waiters_bit, std::memory_order_acquire,
                                             std::memory_order_relaxed)) {
                depth = 1;
                return false;
            }
            continue;
        }
        if (!(current & waiters_bit)) {
            if (!word.compare_exchange_strong(current, current | waiters_bit,
                                              std::memory_order_relaxed,
                                              std::memory_order_relaxed)) {
                continue;
            }
            current |= waiters_bit;
        }
        std::chrono::nanoseconds slice = wait_slice;
        if (deadline) {
            auto left = *deadline - std::chrono::steady_clock::now();
            if (left <= std::chrono::nanoseconds::zero()) return std::nullopt;
            slice = std::min<std::chrono::nanoseconds>(slice, left);
        }
        // Only a waiter that sleeps can be stopped (ipckit/signals.hpp): registered once.
        if (!wake) wake.emplace();
        if (stop_requested()) {
            throw InterruptedError(EINTR,
                                   "lock: waiting for the lock stopped (a stop was requested)");
        }
        timespec ts = to_timespec(slice);
        if (futex(word, FUTEX_WAIT, current, &ts) == -1 && errno == ETIMEDOUT) {
            // The owner kept the lock for a whole slice: is it still alive?
            if (word.load(std::memory_order_relaxed) == current &&
                !thread_alive(current & tid_mask)) {
                if (word.compare_exchange_strong(current, tid | waiters_bit,
                                                 std::memory_order_acquire,
                                                 std::memory_order_relaxed)) {
                    depth = 1;
                    recoveries.fetch_add(1, std::memory_order_relaxed);
                    return true;
                }
            }
        }
    }
}

}  // namespace detail

Lock::Lock() {
    auto block = detail::shared_allocate(sizeof(detail::LockState), alignof(detail::LockState));
    state_ = new (block.get()) detail::LockState();
    owner_ = std::move(block);
}

}  // namespace ipckit
