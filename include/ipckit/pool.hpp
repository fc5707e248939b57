// ipckit::Pool: multiprocessing.Pool, a pool of forked worker processes fed by the
// shared-memory queue (ipckit/queue.hpp).
//
//   auto square = [](std::int64_t x) { return x * x; };       // or a function
//   ipckit::Pool pool(4);                                      // 4 worker processes
//   auto squares = pool.map(square, ipckit::range(100000));    // std::vector<std::int64_t>
//   auto r = pool.apply_async(square, 7);                      // r.get() == 49
//
// Functions: a function, or a lambda without captures (it converts to a function pointer).
// The workers are forked from this process, so the pointer means the same code there.
// Arguments and results: trivially copyable types, std::string and ipckit::Object, copied
// through shared memory (a function may take them by value or by const reference).
//
// As Python's: apply, apply_async (an AsyncResult: get(timeout), ready(), wait(timeout),
// successful()), map, map_async, imap, imap_unordered (with chunksize), close, join,
// terminate. map's default chunksize is Python's (items / (4 × processes), rounded up);
// imap's and imap_unordered's is 1.
//
// Errors: an exception thrown by a task comes back in its result: get() (or map, or the
// imap iterator) throws TaskError, whose message names the exception's type and what().
// A worker that dies (killed, crashed, _exit) is noticed at once (its pidfd wakes the pool's
// supervisor thread; nothing polls): the task it was running fails with WorkerLostError
// naming the process and the signal, a new worker takes its place, and every other task
// completes. Where Python's Pool hangs, this one goes on.
//
// Lifetime: the destructor terminates (as Python's `with Pool() as pool:` does on exit):
// it kills the workers (SIGKILL), reaps them, and fails the unfinished tasks with
// WorkerLostError; it never waits for a task. close() then join() lets every submitted
// task finish first. join() and terminate() are for the thread that owns the pool.
//
// Stop requests (ipckit/signals.hpp) are not for the pool: its threads and workers go on,
// and AsyncResult::get is not woken by one (give it a timeout, or terminate the pool).
//
// Inside: a task is a message on a ByteQueue (a chunk of encoded arguments, the function's
// address and the address of a function template instance that decodes, calls and
// encodes); each worker gets a message straight into its own slot of shared memory, so
// when it dies the pool reads there what it was running. Results come back on a second
// ByteQueue. Three threads of the parent feed the task queue, collect results and watch
// the workers. A task message holds at most max_task_bytes of arguments (a map cuts a
// chunk short rather than exceed it); a task's results at most max_result_bytes.
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <memory>
#include <mutex>
#include <optional>
#include <ranges>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/object.hpp"
#include "ipckit/queue.hpp"

namespace ipckit {

// A task threw: the message is "<type>: <what()>" of the exception in the worker.
class TaskError : public Error {
  public:
    using Error::Error;
};
// A task's worker died while running it, or the pool was terminated before it finished.
class WorkerLostError : public Error {
  public:
    using Error::Error;
};
// multiprocessing.TimeoutError: AsyncResult::get or an imap iterator's next timed out.
class PoolTimeoutError : public BusyError {
  public:
    using BusyError::BusyError;
};

namespace detail {

inline constexpr std::size_t pool_max_task_bytes = std::size_t{256} << 10;
// A task's message starts with a header of this size (src/pool.cpp): the encoded arguments
// are built after that much room, so that the message is not copied to prepend it.
inline constexpr std::size_t pool_task_header_bytes = 32;
inline constexpr std::size_t pool_max_result_bytes = (std::size_t{4} << 20) - 64;

// Reads what PoolCodec wrote.
[[noreturn]] void pool_truncated(std::size_t left, std::size_t wanted);
struct PoolReader {
    const std::byte* p;
    const std::byte* end;
    void take(void* out, std::size_t n) {
        if (static_cast<std::size_t>(end - p) < n)
            pool_truncated(static_cast<std::size_t>(end - p), n);
        std::memcpy(out, p, n);
        p += n;
    }
};

void pool_encode_object(std::string& out, const Object& object);
Object pool_decode_object(PoolReader& in);

template <class T>
struct PoolCodec {
    static_assert(std::is_trivially_copyable_v<T>,
                  "ipckit::Pool: arguments and results must be trivially copyable, "
                  "std::string or ipckit::Object");
    static void encode(std::string& out, const T& value) {
        out.append(reinterpret_cast<const char*>(&value), sizeof(T));
    }
    static T decode(PoolReader& in) {
        struct alignas(T) Raw {
            std::byte bytes[sizeof(T)];
        } raw;
        in.take(&raw, sizeof(T));
        return std::bit_cast<T>(raw);
    }
};
template <>
struct PoolCodec<std::string> {
    static void encode(std::string& out, const std::string& value) {
        const auto n = static_cast<std::uint64_t>(value.size());
        out.append(reinterpret_cast<const char*>(&n), sizeof n);
        out.append(value);
    }
    static std::string decode(PoolReader& in) {
        std::uint64_t n = 0;
        in.take(&n, sizeof n);
        std::string value(static_cast<std::size_t>(n), '\0');
        in.take(value.data(), value.size());
        return value;
    }
};
template <>
struct PoolCodec<Object> {
    static void encode(std::string& out, const Object& value) { pool_encode_object(out, value); }
    static Object decode(PoolReader& in) { return pool_decode_object(in); }
};

// Runs `count` calls of the function at `fn` on the encoded arguments, appending the
// encoded results to `out`. Called in a worker, at the same address as in the parent.
using PoolRunner = void (*)(std::uintptr_t fn, const std::byte* in, std::size_t size,
                            std::uint32_t count, std::string& out);

template <class R, class... A>
void pool_run(std::uintptr_t fn, const std::byte* in, std::size_t size, std::uint32_t count,
              std::string& out) {
    auto f = reinterpret_cast<R (*)(A...)>(fn);  // NOLINT(performance-no-int-to-ptr)
    PoolReader reader{in, in + size};
    if constexpr (std::is_trivially_copyable_v<std::remove_cvref_t<R>>) {
        out.reserve(out.size() + std::size_t{count} * sizeof(R));
    }
    for (std::uint32_t i = 0; i < count; ++i) {
        // Braced initialisation decodes the arguments in order.
        std::tuple<std::remove_cvref_t<A>...> args{
            PoolCodec<std::remove_cvref_t<A>>::decode(reader)...};
        if constexpr (std::is_void_v<R>) {
            std::apply(f, args);
        } else {
            PoolCodec<std::remove_cvref_t<R>>::encode(out, std::apply(f, args));
        }
    }
}

template <class F>
struct PoolFunctionTraits;
template <class R, class... A>
struct PoolFunctionTraits<R (*)(A...)> {
    using result = std::remove_cvref_t<R>;
    using args = std::tuple<std::remove_cvref_t<A>...>;
    static constexpr std::size_t arity = sizeof...(A);
    static constexpr PoolRunner runner = &pool_run<R, A...>;
    static std::uintptr_t address(R (*f)(A...)) { return reinterpret_cast<std::uintptr_t>(f); }
};
template <class R, class... A>
struct PoolFunctionTraits<R (*)(A...) noexcept> : PoolFunctionTraits<R (*)(A...)> {
    static std::uintptr_t address(R (*f)(A...) noexcept) {
        return reinterpret_cast<std::uintptr_t>(f);
    }
};

// A function, or a lambda without captures.
template <class F>
concept PoolFunction = requires(F f) {
    { +f };
    typename PoolFunctionTraits<decltype(+f)>::result;
};
template <class F>
using PoolTraits = PoolFunctionTraits<decltype(+std::declval<F>())>;

// One task's outcome.
struct PoolChunk {
    enum Status : std::uint32_t { ok = 0, raised = 1, lost = 2 };
    bool done = false;
    Status status = ok;
    std::string data;  // the encoded results, or the error message
};
// Throws the chunk's error (TaskError or WorkerLostError), if it has one.
void pool_check(const PoolChunk& chunk);

// The tasks of one apply_async / map_async / imap call, completed by the pool's collector
// thread in any order.
class PoolJob {
  public:
    explicit PoolJob(std::vector<std::uint32_t> counts);
    std::size_t size() const noexcept { return counts_.size(); }              // tasks
    std::uint32_t count(std::size_t i) const noexcept { return counts_[i]; }  // items of task i
    // Waits (at most `timeout`) for task i: nullptr on timeout.
    const PoolChunk* wait_chunk(std::size_t i, Timeout timeout);
    // Waits for a finished task not returned before, in the order they finished: its
    // index, size() when every task has been returned, nullopt on timeout.
    std::optional<std::size_t> next_finished(Timeout timeout);
    bool ready();
    bool wait(Timeout timeout);  // false on timeout
    // The first outcome of task i counts; later ones are ignored.
    void complete(std::size_t i, PoolChunk::Status status, std::string data);

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::uint32_t> counts_;
    std::vector<PoolChunk> chunks_;
    std::size_t done_ = 0;
    std::vector<std::size_t> finished_;  // task indices in the order they finished
    std::size_t handed_out_ = 0;         // of finished_, by next_finished
};

template <class R>
void pool_decode_chunk(const PoolChunk& chunk, std::uint32_t count, std::vector<R>& out) {
    pool_check(chunk);
    if constexpr (std::is_trivially_copyable_v<R> && std::is_default_constructible_v<R>) {
        // The results as they lie: one copy.
        if (chunk.data.size() != std::size_t{count} * sizeof(R)) {
            pool_truncated(chunk.data.size(), std::size_t{count} * sizeof(R));
        }
        const std::size_t at = out.size();
        out.resize(at + count);
        std::memcpy(static_cast<void*>(out.data() + at), chunk.data.data(), chunk.data.size());
        return;
    }
    PoolReader reader{reinterpret_cast<const std::byte*>(chunk.data.data()),
                      reinterpret_cast<const std::byte*>(chunk.data.data()) + chunk.data.size()};
    for (std::uint32_t i = 0; i < count; ++i)
        out.push_back(PoolCodec<R>::decode(reader));
}

[[noreturn]] void pool_throw_timeout(const char* what);

class PoolCore;

}  // namespace detail

// The result of apply_async (R is the function's result) or map_async (std::vector of it).
template <class R>
class AsyncResult {
  public:
    // Waits for the result (at most `timeout`: PoolTimeoutError after it) and returns it, or
    // throws the task's error (TaskError, WorkerLostError). May be called again.
    R get(Timeout timeout = std::nullopt) {
        if (!job_->wait(timeout)) detail::pool_throw_timeout("AsyncResult.get");
        return decode_(*job_);
    }
    template <class Rep, class Period>
    R get(std::chrono::duration<Rep, Period> timeout) {
        return get(Timeout(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout)));
    }
    bool ready() { return job_->ready(); }
    // Waits until ready (true) or the timeout (false).
    bool wait(Timeout timeout = std::nullopt) { return job_->wait(timeout); }
    template <class Rep, class Period>
    bool wait(std::chrono::duration<Rep, Period> timeout) {
        return wait(Timeout(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout)));
    }
    // Ready and without error. Python raises ValueError when not ready: so does this.
    bool successful() {
        if (!ready()) throw ValueError("AsyncResult.successful: the result is not ready");
        for (std::size_t i = 0; i < job_->size(); ++i) {
            if (job_->wait_chunk(i, std::chrono::nanoseconds(0))->status != detail::PoolChunk::ok)
                return false;
        }
        return true;
    }

    AsyncResult(std::shared_ptr<detail::PoolJob> job, R (*decode)(detail::PoolJob&))
        : job_(std::move(job)), decode_(decode) {}

  private:
    std::shared_ptr<detail::PoolJob> job_;
    R (*decode_)(detail::PoolJob&);
};

// The iterator returned by imap (results in the order of the items) and imap_unordered
// (in the order they finish). Use it in a range-for, or call next(timeout) as Python's
// next(): nullopt once every result has been returned.
template <class R>
class IMapIterator {
  public:
    IMapIterator(std::shared_ptr<detail::PoolJob> job, bool ordered)
        : job_(std::move(job)), ordered_(ordered) {}

    std::optional<R> next(Timeout timeout = std::nullopt) {
        while (pos_ >= buffer_.size()) {
            if (ordered_) {
                if (chunk_ == job_->size()) return std::nullopt;
                const detail::PoolChunk* c = job_->wait_chunk(chunk_, timeout);
                if (c == nullptr) detail::pool_throw_timeout("IMapIterator.next");
                take(*c, chunk_++);
            } else {
                auto i = job_->next_finished(timeout);
                if (!i) detail::pool_throw_timeout("IMapIterator.next");
                if (*i == job_->size()) return std::nullopt;
                take(*job_->wait_chunk(*i, std::nullopt), *i);
            }
        }
        return std::move(buffer_[pos_++]);
    }
    template <class Rep, class Period>
    std::optional<R> next(std::chrono::duration<Rep, Period> timeout) {
        return next(Timeout(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout)));
    }

    // Input iteration: for (auto x : pool.imap(f, items)).
    class iterator {
      public:
        using value_type = R;
        using difference_type = std::ptrdiff_t;
        iterator() = default;
        explicit iterator(IMapIterator* owner) : owner_(owner) { ++*this; }
        const R& operator*() const { return *value_; }
        iterator& operator++() {
            value_ = owner_->next();
            return *this;
        }
        void operator++(int) { ++*this; }
        bool operator==(std::default_sentinel_t) const { return !value_; }

      private:
        IMapIterator* owner_ = nullptr;
        std::optional<R> value_;
    };
    iterator begin() { return iterator(this); }
    std::default_sentinel_t end() { return {}; }

  private:
    void take(const detail::PoolChunk& chunk, std::size_t index) {
        buffer_.clear();
        pos_ = 0;
        detail::pool_decode_chunk(chunk, job_->count(index), buffer_);
    }
    std::shared_ptr<detail::PoolJob> job_;
    bool ordered_;
    std::size_t chunk_ = 0;
    std::vector<R> buffer_;
    std::size_t pos_ = 0;
};

class Pool {
  public:
    // `processes` workers; 0: one per online CPU (Python's os.cpu_count()).
    explicit Pool(std::size_t processes = 0);
    Pool(const Pool&) = delete;
    Pool& operator=(const Pool&) = delete;
    ~Pool();  // terminate()

    // f(args...) in a worker; waits for the result.
    template <class F, class... Args>
        requires detail::PoolFunction<F>
    auto apply(F f, Args&&... args) {
        return apply_async(f, std::forward<Args>(args)...).get();
    }

    template <class F, class... Args>
        requires detail::PoolFunction<F>
    auto apply_async(F f, Args&&... args) {
        using Traits = detail::PoolTraits<F>;
        using R = typename Traits::result;
        static_assert(Traits::arity == sizeof...(Args),
                      "ipckit::Pool::apply: pass one argument per parameter of the function");
        std::string encoded(detail::pool_task_header_bytes, '\0');
        encode_args(encoded, static_cast<typename Traits::args*>(nullptr),
                    std::forward<Args>(args)...);
        std::vector<Chunk> chunks;
        chunks.push_back({std::move(encoded), 1});
        auto job = submit(Traits::runner, Traits::address(+f), std::move(chunks));
        return AsyncResult<R>(std::move(job), [](detail::PoolJob& j) -> R {
            const detail::PoolChunk* c = j.wait_chunk(0, std::nullopt);
            if constexpr (std::is_void_v<R>) {
                detail::pool_check(*c);
            } else {
                std::vector<R> out;
                detail::pool_decode_chunk(*c, 1, out);
                return std::move(out.front());
            }
        });
    }

    // [f(x) for x in items], computed by the workers in chunks of `chunksize` items
    // (0: Python's default). f takes one argument; items convert to it.
    template <class F, class Items>
        requires detail::PoolFunction<F>
    auto map(F f, const Items& items, std::size_t chunksize = 0) {
        return map_async(f, items, chunksize).get();
    }

    template <class F, class Items>
        requires detail::PoolFunction<F>
    auto map_async(F f, const Items& items, std::size_t chunksize = 0) {
        using Traits = detail::PoolTraits<F>;
        using R = typename Traits::result;
        auto job = submit_items<F>(f, items, chunksize == 0 ? default_chunksize(items) : chunksize);
        return AsyncResult<std::vector<R>>(std::move(job), [](detail::PoolJob& j) {
            std::vector<R> out;
            std::size_t total = 0;
            for (std::size_t i = 0; i < j.size(); ++i)
                total += j.count(i);
            out.reserve(total);
            for (std::size_t i = 0; i < j.size(); ++i)
                detail::pool_decode_chunk(*j.wait_chunk(i, std::nullopt), j.count(i), out);
            return out;
        });
    }

    // As map, lazily: the results in the items' order, each as soon as it (and those
    // before it) are ready.
    template <class F, class Items>
        requires detail::PoolFunction<F>
    IMapIterator<typename detail::PoolTraits<F>::result> imap(F f, const Items& items,
                                                              std::size_t chunksize = 1) {
        return {submit_items<F>(f, items, chunksize == 0 ? 1 : chunksize), true};
    }
    // As imap, in the order the results are ready.
    template <class F, class Items>
        requires detail::PoolFunction<F>
    IMapIterator<typename detail::PoolTraits<F>::result> imap_unordered(F f, const Items& items,
                                                                        std::size_t chunksize = 1) {
        return {submit_items<F>(f, items, chunksize == 0 ? 1 : chunksize), false};
    }

    // No more tasks: the workers end once the submitted ones are done.
    void close();
    // Waits for the workers to end (after close() or terminate(); ValueError before).
    void join();
    // Kills the workers now; unfinished tasks fail with WorkerLostError. Waits for them.
    void terminate();

    std::size_t processes() const noexcept;
    // The workers' process ids now (a replaced worker's successor has a new one).
    std::vector<pid_t> pids() const;
    // Workers replaced so far because one died.
    std::size_t replacements() const noexcept;

  private:
    struct Chunk {
        std::string data;
        std::uint32_t count = 0;
    };
    std::shared_ptr<detail::PoolJob> submit(detail::PoolRunner runner, std::uintptr_t fn,
                                            std::vector<Chunk> chunks);

    template <class... P, class... Args>
    static void encode_args(std::string& out, std::tuple<P...>*, Args&&... args) {
        (detail::PoolCodec<P>::encode(out, static_cast<P>(std::forward<Args>(args))), ...);
    }

    template <class Items>
    std::size_t default_chunksize(const Items& items) const {
        const auto n = static_cast<std::size_t>(std::ranges::distance(items));
        const std::size_t per = processes() * 4;
        return std::max<std::size_t>(1, (n + per - 1) / per);
    }

    template <class F, class Items>
    std::shared_ptr<detail::PoolJob> submit_items(F f, const Items& items, std::size_t chunksize) {
        using Traits = detail::PoolTraits<F>;
        static_assert(Traits::arity == 1,
                      "ipckit::Pool::map/imap: the function takes one argument");
        using Arg = std::tuple_element_t<0, typename Traits::args>;
        constexpr std::size_t header = detail::pool_task_header_bytes;
        const std::size_t reserve =
            header +
            (std::is_trivially_copyable_v<Arg>
                 ? std::min(chunksize, detail::pool_max_task_bytes / sizeof(Arg)) * sizeof(Arg)
                 : 0);
        auto fresh = [&] {
            Chunk c;
            c.data.reserve(reserve);
            c.data.assign(header, '\0');
            return c;
        };
        std::vector<Chunk> chunks;
        Chunk current = fresh();
        for (auto&& item : items) {
            const std::size_t before = current.data.size();
            detail::PoolCodec<Arg>::encode(current.data, static_cast<Arg>(item));
            if (current.data.size() - header > detail::pool_max_task_bytes) {
                if (current.count == 0) too_large(current.data.size() - header);
                Chunk next = fresh();
                next.data.append(current.data, before);
                current.data.resize(before);
                chunks.push_back(std::move(current));
                current = std::move(next);
            }
            if (++current.count == chunksize) {
                chunks.push_back(std::move(current));
                current = fresh();
            }
        }
        if (current.count != 0) chunks.push_back(std::move(current));
        return submit(Traits::runner, Traits::address(+f), std::move(chunks));
    }
    [[noreturn]] static void too_large(std::size_t bytes);

    std::unique_ptr<detail::PoolCore> core_;
};

}  // namespace ipckit
