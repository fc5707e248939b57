// ipckit::Lock: a process-shared, recursive, robust lock in shared memory, the lock of
// Value and Array (multiprocessing.RLock, which Value and Array use by default).
//
//   ipckit::Lock lock;                    // lives in the shared arena
//   ipckit::Value<int> a(0, lock), b(0, lock);   // one lock for both, as Python's lock=
//   {
//       auto g = lock.guard();            // scoped: unlocks at the end of the block
//       if (g.recovered()) repair();      // the previous owner died holding the lock
//   }
//
// Robust: when the thread holding the lock dies (its process was killed, say), the next
// lock() takes the lock over within about 10 ms instead of hanging forever as Python's does.
// The caller is told: lock() returns true, Guard::recovered() is true, and recoveries()
// counts the takeovers over the lock's life (visible to every process), so code that uses
// the implicit per-access locking of Value and Array can check it afterwards. Dead owners
// are found through /proc: without a /proc of the caller's pid namespace, waiters wait, as
// in Python. Processes must be made with fork() (ipckit::Process, std::system...), not with
// a raw clone system call.
//
// Recursive: the owner may lock again; it must unlock as many times.
//
// An uncontended lock()/unlock() pair costs about what a pthread mutex's does
// (docs/benchmarks.md). A wait for a lock that someone else holds ends with
// InterruptedError when a stop is requested (ipckit/signals.hpp); a lock that is free is
// taken whatever the stop flag says.
//
// How it works: src/shared/lock.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

namespace ipckit {

namespace detail {
// The lock's state, in shared memory. 16 bytes.
struct LockState {
    std::atomic<std::uint32_t> word{0};  // 0: free; else owner tid | waiters bit
    std::uint32_t depth = 0;             // recursion depth, written by the owner only
    std::atomic<std::uint32_t> recoveries{0};
    std::uint32_t reserved = 0;

    static constexpr std::uint32_t waiters_bit = 0x80000000u;
    static constexpr std::uint32_t tid_mask = 0x3fffffffu;

    bool lock();  // true if taken over from a dead owner
    bool try_lock();
    std::optional<bool> try_lock_for(std::chrono::nanoseconds timeout);
    void unlock();
    bool held_by_caller() const noexcept;

  private:
    std::optional<bool> lock_slow(std::uint32_t tid,
                                  std::optional<std::chrono::steady_clock::time_point> deadline);
};
static_assert(sizeof(LockState) == 16);

// The calling thread's id, cached per thread (reset in a forked child by an atfork handler).
inline thread_local std::uint32_t cached_tid = 0;
std::uint32_t fetch_tid() noexcept;  // gettid(), and registers the atfork handler once
inline std::uint32_t current_tid() noexcept {
    if (cached_tid == 0) [[unlikely]]
        cached_tid = fetch_tid();
    return cached_tid;
}
[[noreturn]] void unlock_not_owner();
void wake_one(std::atomic<std::uint32_t>& word);

inline bool LockState::lock() {
    const std::uint32_t tid = current_tid();
    // Try to take it first: a separate read to check for recursion would cost one more
    // cache-line transfer whenever another process just used the lock.
    std::uint32_t expected = 0;
    if (word.compare_exchange_strong(expected, tid, std::memory_order_acquire,
                                     std::memory_order_relaxed)) [[likely]] {
        depth = 1;
        return false;
    }
    if ((expected & tid_mask) == tid) {
        ++depth;
        return false;
    }
    return *lock_slow(tid, std::nullopt);
}

inline void LockState::unlock() {
    const std::uint32_t tid = current_tid();
    if ((word.load(std::memory_order_relaxed) & tid_mask) != tid) unlock_not_owner();
    if (--depth > 0) return;
    if (word.exchange(0, std::memory_order_release) & waiters_bit) wake_one(word);
}
}  // namespace detail

class Lock;

// Holds a lock for its scope (movable, not copyable). Python's `with lock:`.
class Guard {
  public:
    Guard() = default;
    explicit Guard(detail::LockState* state) : state_(state) {
        if (state_) recovered_ = state_->lock();
    }
    Guard(detail::LockState* state, std::adopt_lock_t, bool recovered)
        : state_(state), recovered_(recovered) {}
    Guard(Guard&& other) noexcept
        : state_(std::exchange(other.state_, nullptr)), recovered_(other.recovered_) {}
    Guard& operator=(Guard&& other) noexcept {
        if (this != &other) {
            unlock();
            state_ = std::exchange(other.state_, nullptr);
            recovered_ = other.recovered_;
        }
        return *this;
    }
    Guard(const Guard&) = delete;
    Guard& operator=(const Guard&) = delete;
    ~Guard() { unlock(); }

    // True if this acquisition took the lock over from a thread that died holding it:
    // the data it protects may be half-updated.
    bool recovered() const noexcept { return recovered_; }
    // False for the guard of an object that has no lock (lock=false).
    bool owns_lock() const noexcept { return state_ != nullptr; }
    void unlock() {
        if (state_) std::exchange(state_, nullptr)->unlock();
    }

  private:
    detail::LockState* state_ = nullptr;
    bool recovered_ = false;
};

// A handle to a lock in shared memory. Copies refer to the same lock; a child forked
// after the lock was made uses it too. Meets BasicLockable and Lockable, so
// std::scoped_lock and std::unique_lock work with it.
class Lock {
  public:
    // A new, unlocked lock (Python's multiprocessing.RLock()).
    Lock();
    // No lock at all (what Value::get_lock() guards against handing out).
    explicit Lock(std::nullptr_t) noexcept {}
    // The lock at `state`, kept alive by `owner` (used by Value/Array for their own lock).
    Lock(std::shared_ptr<void> owner, detail::LockState* state)
        : owner_(std::move(owner)), state_(state) {}

    // Blocks until the lock is ours. Returns true if it was taken over from a dead owner.
    bool lock() const { return state_->lock(); }
    bool try_lock() const { return state_->try_lock(); }
    // False if the timeout passed first (Python's acquire(timeout=...)).
    bool try_lock_for(std::chrono::nanoseconds timeout) const {
        return state_->try_lock_for(timeout).has_value();
    }
    // Throws ipckit::Error (EPERM) if the calling thread does not hold the lock.
    void unlock() const { state_->unlock(); }
    // Locks for the guard's scope.
    [[nodiscard]] Guard guard() const { return Guard(state_); }

    // Times the lock was taken over from a dead owner, over its whole life, all processes.
    std::uint32_t recoveries() const noexcept {
        return state_->recoveries.load(std::memory_order_relaxed);
    }
    bool held_by_caller() const noexcept { return state_->held_by_caller(); }

    detail::LockState* state() const noexcept { return state_; }
    friend bool operator==(const Lock& a, const Lock& b) noexcept { return a.state_ == b.state_; }

  private:
    std::shared_ptr<void> owner_;
    detail::LockState* state_ = nullptr;
};

}  // namespace ipckit
