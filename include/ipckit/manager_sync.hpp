// The manager's queues and synchronisation types, as Python's SyncManager serves them:
// Queue, JoinableQueue, Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event,
// Barrier. Included by ipckit/manager.hpp; made by a Manager (m.queue(), m.lock(),
// m.event(), ... anonymous, or named: m.named_queue("tasks") is the same queue for every
// client of the server).
//
//   ipckit::Manager m;
//   auto tasks = m.joinable_queue();
//   auto lock = m.lock();
//   ipckit::Process worker([](ipckit::JoinableQueueProxy q, ipckit::LockProxy l) {
//       for (;;) {
//           ipckit::Object task = q.get();
//           if (task.is_none()) break;
//           { auto held = l.guard(); /* ... */ }
//           q.task_done();
//       }
//       q.task_done();
//   }, tasks, lock);
//
// Blocking calls (get, put on a full queue, acquire, join, Event::wait) wait on the server,
// which goes on serving every other client meanwhile. Each takes a timeout (nullopt: as
// long as it takes); a stop request (ipckit/signals.hpp) interrupts the wait with
// InterruptedError, and the server drops the call (nothing is taken for a caller who gave
// up: an item got or a lock acquired just before the stop is returned instead).
//
// Unlike Python's: when a client holding a Lock, RLock or (a unit of) a Semaphore ends
// without releasing it (killed, say), the server releases it and the next acquire says
// so (Acquired::recovered(), Guard::recovered()). A getter that ends while waiting takes
// no item with it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "ipckit/manager.hpp"

namespace ipckit {

// How long a blocking call may wait: nullopt waits as long as it takes.
using ManagerTimeout = std::optional<std::chrono::nanoseconds>;

// A manager queue (Python's multiprocessing Manager().Queue(), a queue.Queue): FIFO,
// bounded when maxsize > 0. Items are Objects.
class QueueProxy : public Proxy {
  public:
    // Waits for room when the queue is full (block = true), at most `timeout`; throws Full
    // (an ipckit::BusyError) when there is none (at once when block is false).
    void put(const Object& item, bool block = true, ManagerTimeout timeout = std::nullopt);
    // Waits for an item (block = true), at most `timeout`; throws Empty (an
    // ipckit::BusyError: timed_out() after a timeout) when there is none.
    Object get(bool block = true, ManagerTimeout timeout = std::nullopt);
    void put_nowait(const Object& item) { put(item, false); }
    Object get_nowait() { return get(false); }
    std::size_t qsize() const;
    bool empty() const;
    bool full() const;
    std::int64_t maxsize() const;

  private:
    friend class Manager;
    using Proxy::Proxy;
};

// A queue whose consumers say when they are done with each item (Python's JoinableQueue).
class JoinableQueueProxy : public QueueProxy {
  public:
    // One item taken from the queue is done; ValueError when called more times than put.
    void task_done();
    // Waits until every item put has been marked done; false when the timeout passed first.
    bool join(ManagerTimeout timeout = std::nullopt);

  private:
    friend class Manager;
    using QueueProxy::QueueProxy;
};

// What acquire returns: true when acquired; recovered() when the lock (or the semaphore's
// unit) comes from a holder that ended without releasing it (what it protects may be
// half-updated).
class Acquired {
  public:
    Acquired(bool acquired, bool recovered) : acquired_(acquired), recovered_(recovered) {}
    explicit operator bool() const noexcept { return acquired_; }
    bool acquired() const noexcept { return acquired_; }
    bool recovered() const noexcept { return recovered_; }

  private:
    bool acquired_;
    bool recovered_;
};

// The methods shared by the manager's Lock, RLock, Semaphore and BoundedSemaphore (Python's
// AcquirerProxy). Meets BasicLockable and Lockable: std::lock_guard and std::unique_lock work.
class AcquirerProxy : public Proxy {
  public:
    // Holds the lock for its scope (movable): `with lock:`.
    class Guard {
      public:
        Guard() = default;
        Guard(Guard&& other) noexcept
            : state_(std::move(other.state_)), recovered_(other.recovered_) {}
        Guard& operator=(Guard&& other) noexcept;
        Guard(const Guard&) = delete;
        Guard& operator=(const Guard&) = delete;
        ~Guard() { unlock_noexcept(); }
        bool recovered() const noexcept { return recovered_; }
        bool owns_lock() const noexcept { return state_ != nullptr; }
        // Releases now (the destructor then does nothing).
        void unlock();

      private:
        friend class AcquirerProxy;
        Guard(std::shared_ptr<detail::ProxyState> state, bool recovered)
            : state_(std::move(state)), recovered_(recovered) {}
        void unlock_noexcept() noexcept;
        std::shared_ptr<detail::ProxyState> state_;  // the lock's: a guard may outlive a proxy
        bool recovered_ = false;
    };

    // Python's acquire(blocking=True, timeout=-1): false when not acquired (at once when
    // blocking is false, or when the timeout passed).
    Acquired acquire(bool blocking = true, ManagerTimeout timeout = std::nullopt) const;
    // RuntimeError when releasing an unlocked Lock or an RLock this thread does not own;
    // ValueError when a BoundedSemaphore is released more times than acquired.
    void release() const;
    // Acquires (waiting as long as it takes) for the guard's scope.
    [[nodiscard]] Guard guard() const;

    void lock() const { acquire(); }
    bool try_lock() const { return static_cast<bool>(acquire(false)); }
    void unlock() const { release(); }

  protected:
    friend class ConditionProxy;
    using Proxy::Proxy;
};

// Python's threading.Lock: released by anyone; releasing it unlocked raises RuntimeError.
class LockProxy : public AcquirerProxy {
  private:
    friend class Manager;
    using AcquirerProxy::AcquirerProxy;
};
// Python's threading.RLock: owned by the client thread (connection) that acquired it,
// which may acquire it again; only the owner may release it.
class RLockProxy : public AcquirerProxy {
  private:
    friend class Manager;
    using AcquirerProxy::AcquirerProxy;
};
// Python's threading.Semaphore(value).
class SemaphoreProxy : public AcquirerProxy {
  private:
    friend class Manager;
    using AcquirerProxy::AcquirerProxy;
};
// Python's threading.BoundedSemaphore(value): released more times than acquired raises
// ValueError.
class BoundedSemaphoreProxy : public AcquirerProxy {
  private:
    friend class Manager;
    using AcquirerProxy::AcquirerProxy;
};

// Python's threading.Event.
class EventProxy : public Proxy {
  public:
    void set();
    void clear();
    bool is_set() const;
    // Waits until the flag is set; false when the timeout passed first.
    bool wait(ManagerTimeout timeout = std::nullopt) const;

  private:
    friend class Manager;
    using Proxy::Proxy;
};

// Python's threading.Barrier(parties) (no action, no default timeout).
class BarrierProxy : public Proxy {
  public:
    // Waits until `parties` callers have called wait; returns this caller's arrival index
    // (0 .. parties - 1). BrokenBarrierError when the barrier is broken or breaks while
    // waiting: abort(), reset(), a waiter's timeout (which breaks it), a waiter that went
    // away (killed, say).
    std::int64_t wait(ManagerTimeout timeout = std::nullopt) const;
    // Back to its initial state; waiters get BrokenBarrierError.
    void reset();
    // Breaks it: waiters and later wait calls get BrokenBarrierError until reset().
    void abort();
    std::int64_t parties() const;
    std::int64_t n_waiting() const;
    bool broken() const;

  private:
    friend class Manager;
    using Proxy::Proxy;
};

// Python's threading.Condition(lock) (m.condition(), m.condition(lock)): its lock is a
// manager Lock or RLock (a new RLock by default); acquire, release, guard, lock and unlock
// are the lock's. wait releases the lock, waits on the server until notified (or the
// timeout), and holds the lock again before it returns (with the RLock's levels it had).
// RuntimeError ("cannot wait on un-acquired lock") when this thread does not hold the lock.
// A waiter that ends (killed, say) leaves no trace; one that ends holding the lock has it
// released (AcquirerProxy). A stop request ends a wait with InterruptedError, the lock then
// not held.
class ConditionProxy : public Proxy {
  public:
    Acquired acquire(bool blocking = true, ManagerTimeout timeout = std::nullopt) const {
        return lock_.acquire(blocking, timeout);
    }
    void release() const { lock_.release(); }
    [[nodiscard]] AcquirerProxy::Guard guard() const { return lock_.guard(); }
    void lock() const { lock_.lock(); }
    bool try_lock() const { return lock_.try_lock(); }
    void unlock() const { lock_.unlock(); }

    // False when the timeout passed before a notify.
    bool wait(ManagerTimeout timeout = std::nullopt) const;
    // Python's wait_for: waits until predicate() is true (checked first, then after each
    // wakeup, with the lock held), at most `timeout` in all; returns the last predicate().
    template <class Predicate>
    bool wait_for(Predicate predicate, ManagerTimeout timeout = std::nullopt) const {
        using Clock = std::chrono::steady_clock;
        std::optional<Clock::time_point> end;
        if (timeout) end = Clock::now() + *timeout;
        bool result = static_cast<bool>(predicate());
        while (!result) {
            ManagerTimeout left;
            if (end) {
                left = std::chrono::duration_cast<std::chrono::nanoseconds>(*end - Clock::now());
                if (left->count() <= 0) break;
            }
            wait(left);
            result = static_cast<bool>(predicate());
        }
        return result;
    }
    // Wakes up to n waiters (in the order they came); RuntimeError when not holding the lock.
    void notify(std::int64_t n = 1) const;
    void notify_all() const;

  private:
    friend class Manager;
    ConditionProxy(std::shared_ptr<detail::ProxyState> state,
                   std::shared_ptr<detail::ProxyState> lock)
        : Proxy(std::move(state)), lock_(std::move(lock)) {}
    AcquirerProxy lock_;
};

}  // namespace ipckit
