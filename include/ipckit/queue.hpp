// Queues in shared memory for processes in a parent-child family: multiprocessing.Queue,
// SimpleQueue and JoinableQueue.
//
//   ipckit::Queue<int> q(100);               // at most 100 items
//   ipckit::Process p([](auto queue) { queue.put(42); }, q);
//   p.start();
//   std::cout << q.get() << '\n';            // 42
//   p.join();
//
// Unrelated processes share a queue by name instead: Queue<int>::create("jobs", 100) in
// one, Queue<int>::open("jobs") in another (POSIX shared memory, /dev/shm/ipckit.q.jobs;
// removed by its last user or by remove(); docs/queues.md, "Named queues").
//
// Queue<T> carries any trivially copyable T; ByteQueue carries messages of any size up to
// its byte capacity (std::string, std::span<const std::byte>), and ObjectQueue carries
// ipckit::Object values (encoded as the manager's wire does). All three are handles: copies
// refer to the same queue, and a child forked after the queue was made uses it too. The
// memory comes from the shared arena (ipckit/shared_arena.hpp).
//
// As Python's: put/get with `block` and `timeout` (Full/Empty when a non-blocking call
// cannot proceed or the timeout passes), put_nowait/get_nowait, qsize, empty, full, close,
// and task_done/join (JoinableQueue; every queue here has them). close() is shared by all
// processes: it wakes every waiter; afterwards put throws QueueClosed and get returns what
// is left, then throws QueueClosed. Many producers and many consumers may use a queue.
//
// Waiting: a caller that has to wait polls for at most spin() (set_spin; by default 2 µs
// for a Queue<T> of items up to 60 bytes, 0 otherwise: sleep at once), then sleeps in the
// kernel on a futex until another process changes the queue. request_stop() (ipckit/signals.hpp)
// wakes it with InterruptedError.
//
// Robust: a producer or consumer killed at any instant (SIGKILL mid-put, mid-get, while it
// holds the queue's lock) does not corrupt the queue, lose or duplicate a message whose
// put returned, or block the others for more than about 60 ms. Why (docs/queues.md):
//   - a robust lock per side (ipckit::Lock's state: a dead owner is taken over within
//     ~10 ms) serialises the producers, another the consumers;
//   - each operation commits with ONE store: a put copies its message into free space,
//     then stores the record's header (length | published), which is what consumers read;
//     a get copies the message out, then stores the consumers' word (head offset, gets).
//     Killed before that store, the operation did nothing (the bytes it wrote lie in space
//     nobody reads); killed after it, it is complete, but for the producers' own word
//     (tail offset, puts), which the next put finishes when it finds a published header at
//     the tail. So the next holder of a lock, dead owner or not, finds a consistent ring;
//   - sleepers wake on the futex every 50 ms at the latest and look again, so a wake-up
//     lost with a process killed between its store and its wake delays nobody longer.
//   (A get whose process dies after its store has taken the message: it was delivered, to
//   the process that died. get_into(shared memory) lets a caller record it before the
//   store: see tests/test_queue.cpp, CrashMatrix.)
#pragma once

#include <atomic>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

#include "ipckit/error.hpp"
#include "ipckit/object.hpp"

namespace ipckit {

// get raises Empty and put raises Full (ipckit/error.hpp), as Python's queue module does.
// The queue was closed: put after close(), or get on a closed queue that is empty.
class QueueClosed : public ValueError {
  public:
    using ValueError::ValueError;
};

using Timeout = std::optional<std::chrono::nanoseconds>;

namespace detail {

struct QueueShared;

// Fault injection for the crash tests (tests/test_queue.cpp): when set, put calls it between
// its commit and its store of the producers' count, the one moment at which a producer that
// dies leaves work for the next one (docs/queues.md). Null in normal use.
inline void (*queue_fault_after_commit)() = nullptr;

// The untyped queue that Queue<T>, ByteQueue and ObjectQueue wrap (src/shared/queue.cpp).
class QueueCore {
  public:
    // fixed_size > 0: every message has that size (Queue<T>); 0: any size up to max_bytes.
    QueueCore(const char* kind, std::size_t maxsize, std::size_t max_bytes, std::size_t fixed_size);

    // False when a non-blocking put found no room or the timeout passed.
    bool put(const void* data, std::size_t size, bool block, Timeout timeout);
    // Copies the next message to `out` (at most `capacity` bytes; a larger message stays
    // and ValueError is thrown). nullopt when empty (non-blocking) or timed out.
    std::optional<std::size_t> get(void* out, std::size_t capacity, bool block, Timeout timeout);
    // Variable-size: into a string (resized).
    bool get(std::string& out, bool block, Timeout timeout);

    std::size_t qsize() const noexcept;
    bool full() const noexcept;
    std::size_t maxsize() const noexcept;
    std::size_t max_bytes() const noexcept;
    void close() noexcept;
    bool closed() const noexcept;
    void task_done();
    void join(Timeout timeout);  // Timeout: throws BusyError(timed_out)
    std::size_t unfinished_tasks() const noexcept;
    std::uint32_t recoveries() const noexcept;
    bool lock_held() const noexcept;
    std::string describe() const;

    // The default spin of a queue whose records fit in a cache line (Queue<T> of items up to
    // 60 bytes): such items come faster than a sleep and a wake-up, and a waiter polls the
    // one line the next record lands on. Larger or variable-size records: 0, because a
    // consumer that polls them copies each message as the producer writes the next, which
    // halved 1 KiB throughput (docs/queues.md, docs/benchmarks.md).
    static constexpr std::chrono::nanoseconds small_record_spin{2000};
    void set_spin(std::chrono::nanoseconds spin) noexcept { spin_ = spin; }
    std::chrono::nanoseconds spin() const noexcept { return spin_; }

    // Named queues (src/shared/named_queue.cpp). The bytes of the queue's shared state and
    // ring for these sizes (throws ValueError as the constructor does).
    static std::size_t layout_bytes(const char* kind, std::size_t maxsize, std::size_t max_bytes,
                                    std::size_t fixed_size);
    // The queue in `memory` (64-byte aligned, `available` bytes, kept alive by the pointer):
    // initialised when `initialize` (zeroed memory of layout_bytes()), else checked against
    // `fixed_size` and `available` (ValueError when it does not fit).
    QueueCore(const char* kind, std::shared_ptr<std::byte> memory, std::size_t available,
              std::string name, bool initialize, std::size_t maxsize, std::size_t max_bytes,
              std::size_t fixed_size);
    enum class NamedMode { create, open, open_or_create };
    // Creates or opens the named queue `name` (/dev/shm/ipckit.q.NAME); `type` names the
    // element type (checked on open together with kind, fixed_size and align).
    static std::shared_ptr<QueueCore> named(NamedMode mode, std::string_view name, const char* kind,
                                            std::string_view type, std::size_t fixed_size,
                                            std::size_t align, std::size_t maxsize,
                                            std::size_t max_bytes);
    const std::string& name() const noexcept { return name_; }
    bool created() const noexcept { return created_; }
    bool remove_name();
    std::size_t users() const;

  private:
    template <class Sink>
    bool get_impl(Sink&& sink, bool block, Timeout timeout);
    // A record's length from its header, or Error(EBADMSG) naming the queue.
    std::uint32_t checked_length(std::uint32_t length, std::uint32_t offset) const;

    std::shared_ptr<std::byte> block_;
    QueueShared* shared_ = nullptr;
    std::byte* ring_ = nullptr;
    const char* kind_ = "Queue";
    std::chrono::nanoseconds spin_{0};
    bool small_records_ = false;          // records fit in a cache line: waiters poll the ring
    std::string name_;                    // a named queue's name; empty for an anonymous one
    bool created_ = false;                // a named queue: this handle created it
    std::function<bool()> remove_;        // named: unlinks the name
    std::function<std::size_t()> users_;  // named: live users
};

// The element type's name as the compiler spells it (checked when a named queue opens).
template <class T>
std::string_view type_name() {
    std::string_view f = __PRETTY_FUNCTION__;  // "... [with T = int; ...]" or "[T = int]"
    auto at = f.find("T = ");
    if (at == std::string_view::npos) return "?";
    f.remove_prefix(at + 4);
    return f.substr(0, f.find_first_of(";]"));
}
// For a thread that serves others (ipckit::Pool's feeder, collector and supervisor): its
// waits in every queue ignore request_stop(), which would otherwise make them throw
// InterruptedError for as long as the stop stays requested. Per thread; false by default.
void set_queue_waits_ignore_stop(bool ignore) noexcept;

[[noreturn]] void throw_empty(const QueueCore& core, bool block);
[[noreturn]] void throw_full(const QueueCore& core, bool block);

}  // namespace detail

// Members every queue shares.
class QueueBase {
  public:
    // Python's qsize(): messages in the queue now (exact, but stale as soon as it returns).
    std::size_t qsize() const noexcept { return core_->qsize(); }
    bool empty() const noexcept { return qsize() == 0; }
    bool full() const noexcept { return core_->full(); }
    std::size_t maxsize() const noexcept { return core_->maxsize(); }
    // Closes the queue for every process: wakes all waiters; put throws QueueClosed from
    // now on, get throws it once the queue is empty.
    void close() noexcept { core_->close(); }
    bool closed() const noexcept { return core_->closed(); }

    // JoinableQueue: each get'd message's consumer calls task_done() when done with it;
    // join() waits until every message put has been marked done. task_done() more times
    // than messages put throws ValueError.
    void task_done() { core_->task_done(); }
    void join(Timeout timeout = std::nullopt) { core_->join(timeout); }
    template <class Rep, class Period>
    void join(std::chrono::duration<Rep, Period> timeout) {
        join(ns(timeout));
    }
    std::size_t unfinished_tasks() const noexcept { return core_->unfinished_tasks(); }

    // The longest a waiting put or get polls before it sleeps in the kernel, for this
    // handle and its copies in this process (a forked child inherits the setting). By
    // default 2 µs for items up to 60 bytes, else 0 (sleep at once).
    void set_spin(std::chrono::nanoseconds spin) noexcept { core_->set_spin(spin); }
    std::chrono::nanoseconds spin() const noexcept { return core_->spin(); }
    // Times one of the queue's two locks (producers', consumers') was taken over from a
    // process that died holding it.
    std::uint32_t recoveries() const noexcept { return core_->recoveries(); }
    // Whether some thread (of any process, dead or alive) holds either of the queue's locks
    // now: for diagnostics and tests.
    bool lock_held() const noexcept { return core_->lock_held(); }

    // Named queues (create/open): the name ("" for an anonymous queue), whether this
    // handle created it, the processes that have it open now (dead ones not counted), and
    // remove(): unlinks the name at once (false if it was already gone); processes that
    // have it open keep using it, and it goes when the last of them closes it.
    const std::string& name() const noexcept { return core_->name(); }
    bool created() const noexcept { return core_->created(); }
    std::size_t users() const { return core_->users(); }
    bool remove() { return core_->remove_name(); }

  protected:
    explicit QueueBase(std::shared_ptr<detail::QueueCore> core) : core_(std::move(core)) {}
    template <class D>
    static Timeout ns(D d) {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(d);
    }
    std::shared_ptr<detail::QueueCore> core_;
};

// multiprocessing.Queue(maxsize) for trivially copyable T.
template <class T>
    requires std::is_trivially_copyable_v<T> && std::is_object_v<T>
class Queue : public QueueBase {
  public:
    using value_type = T;
    static constexpr std::size_t default_maxsize = 1024;

    explicit Queue(std::size_t maxsize = default_maxsize)
        : QueueBase(std::make_shared<detail::QueueCore>("Queue", maxsize, 0, sizeof(T))) {}

    // A named queue (POSIX shared memory, /dev/shm/ipckit.q.NAME) that unrelated processes
    // open by name: create() fails with ExistentialError if it exists, open() if it does
    // not (or ValueError if it holds another type), open_or_create() does whichever
    // applies (created() tells). It is removed when the last process that has it open
    // closes it, or by remove(). docs/queues.md, "Named queues".
    static Queue create(std::string_view name, std::size_t maxsize = default_maxsize) {
        return Queue(named(detail::QueueCore::NamedMode::create, name, maxsize));
    }
    static Queue open(std::string_view name) {
        return Queue(named(detail::QueueCore::NamedMode::open, name, 1));
    }
    static Queue open_or_create(std::string_view name, std::size_t maxsize = default_maxsize) {
        return Queue(named(detail::QueueCore::NamedMode::open_or_create, name, maxsize));
    }

    // Blocks while the queue is full (at most `timeout`); Full if non-blocking or timed out.
    void put(const T& item, bool block = true, Timeout timeout = std::nullopt) {
        if (!core_->put(&item, sizeof(T), block, timeout)) detail::throw_full(*core_, block);
    }
    template <class Rep, class Period>
    void put(const T& item, std::chrono::duration<Rep, Period> timeout) {
        put(item, true, ns(timeout));
    }
    void put_nowait(const T& item) { put(item, false); }

    // Blocks while the queue is empty (at most `timeout`); Empty if non-blocking or timed out.
    T get(bool block = true, Timeout timeout = std::nullopt) {
        struct alignas(T) Raw {
            std::byte bytes[sizeof(T)];
        } raw;
        if (!core_->get(&raw, sizeof(T), block, timeout)) detail::throw_empty(*core_, block);
        return std::bit_cast<T>(raw);
    }
    template <class Rep, class Period>
    T get(std::chrono::duration<Rep, Period> timeout) {
        return get(true, ns(timeout));
    }
    T get_nowait() { return get(false); }
    // As get, into `out` (which may live in shared memory: it is written before the
    // message leaves the queue, so a process killed mid-get leaves it there or in `out`).
    void get_into(T& out, bool block = true, Timeout timeout = std::nullopt) {
        if (!core_->get(&out, sizeof(T), block, timeout)) detail::throw_empty(*core_, block);
    }

  private:
    explicit Queue(std::shared_ptr<detail::QueueCore> core) : QueueBase(std::move(core)) {}
    static std::shared_ptr<detail::QueueCore> named(detail::QueueCore::NamedMode mode,
                                                    std::string_view name, std::size_t maxsize) {
        return detail::QueueCore::named(mode, name, "Queue", detail::type_name<T>(), sizeof(T),
                                        alignof(T), maxsize, 0);
    }
};

// A queue of byte messages of any size up to max_bytes (multiprocessing.Queue of bytes).
class ByteQueue : public QueueBase {
  public:
    static constexpr std::size_t default_maxsize = 1024;
    static constexpr std::size_t default_max_bytes = std::size_t{1} << 20;

    // At most `maxsize` messages and `max_bytes` bytes of ring (each message takes its size
    // plus 4, rounded up to 8; Queue<T>'s items too). A message larger than the ring throws
    // ValueError on put.
    explicit ByteQueue(std::size_t maxsize = default_maxsize,
                       std::size_t max_bytes = default_max_bytes)
        : QueueBase(std::make_shared<detail::QueueCore>("ByteQueue", maxsize, max_bytes, 0)) {}

    // Named: as Queue<T>::create/open/open_or_create.
    static ByteQueue create(std::string_view name, std::size_t maxsize = default_maxsize,
                            std::size_t max_bytes = default_max_bytes) {
        return named(detail::QueueCore::NamedMode::create, name, maxsize, max_bytes);
    }
    static ByteQueue open(std::string_view name) {
        return named(detail::QueueCore::NamedMode::open, name, 1, 8);
    }
    static ByteQueue open_or_create(std::string_view name, std::size_t maxsize = default_maxsize,
                                    std::size_t max_bytes = default_max_bytes) {
        return named(detail::QueueCore::NamedMode::open_or_create, name, maxsize, max_bytes);
    }

    void put(std::span<const std::byte> message, bool block = true,
             Timeout timeout = std::nullopt) {
        if (!core_->put(message.data(), message.size(), block, timeout)) {
            detail::throw_full(*core_, block);
        }
    }
    void put(std::string_view message, bool block = true, Timeout timeout = std::nullopt) {
        put(std::as_bytes(std::span(message.data(), message.size())), block, timeout);
    }
    void put(const char* message, bool block = true, Timeout timeout = std::nullopt) {
        put(std::string_view(message), block, timeout);
    }
    template <class M, class Rep, class Period>
    void put(const M& message, std::chrono::duration<Rep, Period> timeout) {
        put(message, true, ns(timeout));
    }
    template <class M>
    void put_nowait(const M& message) {
        put(message, false);
    }

    std::string get(bool block = true, Timeout timeout = std::nullopt) {
        std::string out;
        get(out, block, timeout);
        return out;
    }
    template <class Rep, class Period>
    std::string get(std::chrono::duration<Rep, Period> timeout) {
        return get(true, ns(timeout));
    }
    std::string get_nowait() { return get(false); }
    // Into a string the caller reuses (no allocation once it is large enough).
    void get(std::string& out, bool block = true, Timeout timeout = std::nullopt) {
        if (!core_->get(out, block, timeout)) detail::throw_empty(*core_, block);
    }
    // Into caller-owned memory; returns the message's size. A message larger than `out`
    // stays in the queue and ValueError says its size.
    std::size_t get_into(std::span<std::byte> out, bool block = true,
                         Timeout timeout = std::nullopt) {
        auto n = core_->get(out.data(), out.size(), block, timeout);
        if (!n) detail::throw_empty(*core_, block);
        return *n;
    }
    std::size_t max_bytes() const noexcept { return core_->max_bytes(); }

  private:
    explicit ByteQueue(std::shared_ptr<detail::QueueCore> core) : QueueBase(std::move(core)) {}
    static ByteQueue named(detail::QueueCore::NamedMode mode, std::string_view name,
                           std::size_t maxsize, std::size_t max_bytes) {
        return ByteQueue(
            detail::QueueCore::named(mode, name, "ByteQueue", "bytes", 0, 1, maxsize, max_bytes));
    }
};

// A queue of ipckit::Object values (Python's Queue of picklable objects), encoded with the
// manager's MessagePack encoding.
class ObjectQueue : public QueueBase {
  public:
    explicit ObjectQueue(std::size_t maxsize = ByteQueue::default_maxsize,
                         std::size_t max_bytes = ByteQueue::default_max_bytes)
        : QueueBase(std::make_shared<detail::QueueCore>("ObjectQueue", maxsize, max_bytes, 0)) {}

    // Named: as Queue<T>::create/open/open_or_create.
    static ObjectQueue create(std::string_view name,
                              std::size_t maxsize = ByteQueue::default_maxsize,
                              std::size_t max_bytes = ByteQueue::default_max_bytes) {
        return named(detail::QueueCore::NamedMode::create, name, maxsize, max_bytes);
    }
    static ObjectQueue open(std::string_view name) {
        return named(detail::QueueCore::NamedMode::open, name, 1, 8);
    }
    static ObjectQueue open_or_create(std::string_view name,
                                      std::size_t maxsize = ByteQueue::default_maxsize,
                                      std::size_t max_bytes = ByteQueue::default_max_bytes) {
        return named(detail::QueueCore::NamedMode::open_or_create, name, maxsize, max_bytes);
    }

    void put(const Object& item, bool block = true, Timeout timeout = std::nullopt);
    template <class Rep, class Period>
    void put(const Object& item, std::chrono::duration<Rep, Period> timeout) {
        put(item, true, ns(timeout));
    }
    void put_nowait(const Object& item) { put(item, false); }
    Object get(bool block = true, Timeout timeout = std::nullopt);
    template <class Rep, class Period>
    Object get(std::chrono::duration<Rep, Period> timeout) {
        return get(true, ns(timeout));
    }
    Object get_nowait() { return get(false); }

  private:
    explicit ObjectQueue(std::shared_ptr<detail::QueueCore> core) : QueueBase(std::move(core)) {}
    static ObjectQueue named(detail::QueueCore::NamedMode mode, std::string_view name,
                             std::size_t maxsize, std::size_t max_bytes) {
        return ObjectQueue(detail::QueueCore::named(mode, name, "ObjectQueue", "Object", 0, 1,
                                                    maxsize, max_bytes));
    }
};

// Python's SimpleQueue and JoinableQueue: the same queue (every queue has task_done/join).
template <class T>
using SimpleQueue = Queue<T>;
template <class T>
using JoinableQueue = Queue<T>;

}  // namespace ipckit
