// ipckit::Pool (include/ipckit/pool.hpp): forked workers fed by a ByteQueue, three threads in
// the parent (feeder, collector, supervisor), and one slot of shared memory per worker that
// says which task it runs.
#include "ipckit/pool.hpp"

#include <cxxabi.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <exception>
#include <iostream>
#include <shared_mutex>
#include <thread>
#include <typeinfo>
#include <unordered_map>

#include "ipckit/shared_arena.hpp"
#include "ipckit/signals.hpp"
#include "manager/wire.hpp"

namespace ipckit {
namespace detail {

namespace {

using Clock = std::chrono::steady_clock;

// A task message: this header, then the encoded arguments.
struct TaskHeader {
    std::uint64_t id;  // never 0: a slot whose id is 0 runs nothing
    std::uint64_t runner;
    std::uint64_t fn;
    std::uint32_t count;
    std::uint32_t reserved;
};
static_assert(sizeof(TaskHeader) == pool_task_header_bytes);
// A result message: this header, then the encoded results or the error message.
struct ResultHeader {
    std::uint64_t id;
    std::uint32_t status;  // PoolChunk::Status
    std::uint32_t reserved;
};

constexpr std::size_t slot_bytes = sizeof(TaskHeader) + pool_max_task_bytes;
constexpr std::size_t task_ring_bytes = std::size_t{4} << 20;
constexpr std::size_t result_ring_bytes = std::size_t{4} << 20;

std::string demangled(const char* name) {
    int status = 0;
    std::unique_ptr<char, void (*)(void*)> d(abi::__cxa_demangle(name, nullptr, nullptr, &status),
                                             std::free);
    return status == 0 && d ? std::string(d.get()) : std::string(name);
}

std::string describe_exit(int status) {
    if (status == -1) return "ended (it was reaped by someone else)";
    if (WIFSIGNALED(status)) {
        const int sig = WTERMSIG(status);
        const char* name = sigabbrev_np(sig);
        return std::string("was killed by signal ") + std::to_string(sig) +
               (name ? std::string(" (SIG") + name + ")" : std::string());
    }
    if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
    return "ended";
}

void flush_all() {
    std::cout.flush();
    std::cerr.flush();
    std::fflush(nullptr);
}

// The pool's threads ignore stop requests in their queue waits
// (set_queue_waits_ignore_stop), but the queue's lock, when another process holds it, still
// throws InterruptedError while a stop is requested: then they try again 10 ms later.
void pause_for_stop() {
    ::poll(nullptr, 0, 10);
}

}  // namespace

void pool_truncated(std::size_t left, std::size_t wanted) {
    throw ValueError("ipckit::Pool: a message ended early (" + std::to_string(left) +
                     " bytes left, " + std::to_string(wanted) + " needed)");
}

void pool_encode_object(std::string& out, const Object& object) {
    const std::size_t at = out.size();
    out.append(sizeof(std::uint64_t), '\0');
    wire::encode(out, object);
    const auto n = static_cast<std::uint64_t>(out.size() - at - sizeof(std::uint64_t));
    std::memcpy(out.data() + at, &n, sizeof n);
}

Object pool_decode_object(PoolReader& in) {
    std::uint64_t n = 0;
    in.take(&n, sizeof n);
    if (static_cast<std::uint64_t>(in.end - in.p) < n) {
        pool_truncated(static_cast<std::size_t>(in.end - in.p), static_cast<std::size_t>(n));
    }
    Object object = wire::decode(
        std::string_view(reinterpret_cast<const char*>(in.p), static_cast<std::size_t>(n)));
    in.p += n;
    return object;
}

void pool_check(const PoolChunk& chunk) {
    if (chunk.status == PoolChunk::raised) throw TaskError(chunk.data);
    if (chunk.status == PoolChunk::lost) throw WorkerLostError(chunk.data);
}

void pool_throw_timeout(const char* what) {
    throw PoolTimeoutError(BusyError::Reason::timed_out, ETIMEDOUT,
                           std::string(what) + ": timed out (the result is not ready yet)");
}

PoolJob::PoolJob(std::vector<std::uint32_t> counts)
    : counts_(std::move(counts)), chunks_(counts_.size()) {}

namespace {
// Waits on `cv` until `ready`, at most `timeout`; false on timeout.
template <class Ready>
bool wait_on(std::condition_variable& cv, std::unique_lock<std::mutex>& lock, Timeout timeout,
             Ready&& ready) {
    if (!timeout) {
        cv.wait(lock, ready);
        return true;
    }
    return cv.wait_until(lock, Clock::now() + *timeout, ready);
}
}  // namespace

const PoolChunk* PoolJob::wait_chunk(std::size_t i, Timeout timeout) {
    std::unique_lock lock(mutex_);
    if (!wait_on(changed_, lock, timeout, [&] { return chunks_[i].done; })) return nullptr;
    return &chunks_[i];
}

std::optional<std::size_t> PoolJob::next_finished(Timeout timeout) {
    std::unique_lock lock(mutex_);
    if (handed_out_ == size()) return size();
    if (!wait_on(changed_, lock, timeout, [&] { return handed_out_ < finished_.size(); })) {
        return std::nullopt;
    }
    return finished_[handed_out_++];
}

bool PoolJob::ready() {
    std::lock_guard lock(mutex_);
    return done_ == size();
}

bool PoolJob::wait(Timeout timeout) {
    std::unique_lock lock(mutex_);
    return wait_on(changed_, lock, timeout, [&] { return done_ == size(); });
}

void PoolJob::complete(std::size_t i, PoolChunk::Status status, std::string data) {
    {
        std::lock_guard lock(mutex_);
        PoolChunk& c = chunks_[i];
        if (c.done) return;
        c.status = status;
        c.data = std::move(data);
        c.done = true;
        ++done_;
        finished_.push_back(i);
    }
    changed_.notify_all();
}

class PoolCore {
  public:
    explicit PoolCore(std::size_t processes);
    ~PoolCore() { terminate(); }

    std::shared_ptr<PoolJob> submit(PoolRunner runner, std::uintptr_t fn,
                                    std::vector<std::pair<std::string, std::uint32_t>> chunks);
    void close();
    void join();
    void terminate();
    std::vector<pid_t> pids() const;

    const std::size_t processes;
    std::atomic<std::size_t> replacements{0};

  private:
    enum class State { running, closed, terminating, joined };
    struct Worker {
        pid_t pid = -1;
        int pidfd = -1;
        std::size_t slot = 0;
    };
    struct Pending {
        std::shared_ptr<PoolJob> job;
        std::size_t index;
    };

    std::byte* slot(std::size_t i) const { return slots_.get() + i * slot_bytes; }
    std::atomic_ref<std::uint64_t> slot_task(std::size_t i) const {
        return std::atomic_ref<std::uint64_t>(*reinterpret_cast<std::uint64_t*>(slot(i)));
    }
    Worker spawn(std::size_t slot_index);
    [[noreturn]] void worker_main(std::size_t slot_index);
    void feed();
    void collect();
    void supervise();
    void wake_supervisor();
    void fail_pending(const std::string& why);
    void join_threads();

    ByteQueue tasks_{1024, task_ring_bytes};
    ByteQueue results_{1024, result_ring_bytes};
    std::shared_ptr<std::byte> slots_;
    int wake_fd_ = -1;

    // Held shared by the pool's threads while they may allocate, exclusively by the supervisor
    // around the fork of a replacement worker (taken before mutex_ when both are). A child
    // forked while another thread is inside malloc inherits the allocator's lock held:
    // glibc's malloc guards against that itself, ASan's allocator (GCC 12) does not, and a
    // replacement worker hung in CI's ASan run (Pool.AWorkerKilledMidTask..., 2 runs in 16).
    std::shared_mutex fork_guard_;

    mutable std::mutex mutex_;  // guards what follows
    std::condition_variable feed_cv_;
    State state_ = State::running;
    std::deque<std::string> to_feed_;
    std::unordered_map<std::uint64_t, Pending> pending_;
    std::uint64_t next_id_ = 1;
    std::vector<Worker> workers_;

    std::thread feeder_, collector_, supervisor_;
};

PoolCore::PoolCore(std::size_t n)
    : processes(n == 0 ? std::max<std::size_t>(1, std::thread::hardware_concurrency()) : n) {
    slots_ = shared_allocate(processes * slot_bytes, 64);
    wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd_ < 0) throw Error(errno, "ipckit::Pool: eventfd failed");
    try {
        for (std::size_t i = 0; i < processes; ++i)
            workers_.push_back(spawn(i));
        // The pool's threads serve every caller: a stop request is not theirs to obey.
        feeder_ = std::thread([this] {
            set_queue_waits_ignore_stop(true);
            feed();
        });
        collector_ = std::thread([this] {
            set_queue_waits_ignore_stop(true);
            collect();
        });
        supervisor_ = std::thread([this] {
            set_queue_waits_ignore_stop(true);
            supervise();
        });
    } catch (...) {
        terminate();
        throw;
    }
}

PoolCore::Worker PoolCore::spawn(std::size_t slot_index) {
    slot_task(slot_index).store(0);
    flush_all();
    const pid_t pid = ::fork();
    if (pid < 0) throw Error(errno, "ipckit::Pool: fork failed (a worker could not be started)");
    if (pid == 0) worker_main(slot_index);
    Worker w;
    w.pid = pid;
    w.slot = slot_index;
    w.pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    if (w.pidfd < 0) {
        const int e = errno;
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        throw Error(e, "ipckit::Pool: pidfd_open failed (Linux 5.3 or later is needed)");
    }
    return w;
}

// In the forked worker: only this thread exists; the parent's mutexes are not to be touched.
void PoolCore::worker_main(std::size_t slot_index) {
    // A worker takes tasks until the pool closes the queue; a stop request (a Ctrl-C reaching
    // the process group, say) is for the program, not for it.
    set_queue_waits_ignore_stop(true);
    clear_stop();
    std::byte* buffer = slot(slot_index);
    std::string out;
    int code = 0;
    try {
        for (;;) {
            slot_task(slot_index).store(0);
            std::size_t n = 0;
            try {
                // Straight into the slot: if this process dies after the get took the task,
                // the slot names it.
                n = tasks_.get_into(std::span<std::byte>(buffer, slot_bytes));
            } catch (const InterruptedError&) {
                clear_stop();
                continue;
            }
            TaskHeader h{};
            std::memcpy(&h, buffer, sizeof h);
            out.assign(sizeof(ResultHeader), '\0');
            auto status = PoolChunk::ok;
            try {
                // The parent's address of a pool_run instance: the same code here (fork).
                auto runner =
                    reinterpret_cast<PoolRunner>(h.runner);  // NOLINT(performance-no-int-to-ptr)
                runner(static_cast<std::uintptr_t>(h.fn), buffer + sizeof h, n - sizeof h, h.count,
                       out);
                if (out.size() > pool_max_result_bytes) {
                    const std::size_t size = out.size();
                    status = PoolChunk::raised;
                    out.resize(sizeof(ResultHeader));
                    out += "ipckit::ValueError: the results of this task take " +
                           std::to_string(size) + " bytes, more than the pool carries (" +
                           std::to_string(pool_max_result_bytes) + "); use a smaller chunksize";
                }
            } catch (const std::exception& e) {
                status = PoolChunk::raised;
                out.resize(sizeof(ResultHeader));
                out += demangled(typeid(e).name()) + ": " + e.what();
            } catch (...) {
                status = PoolChunk::raised;
                out.resize(sizeof(ResultHeader));
                out += "an exception of unknown type";
            }
            ResultHeader r{h.id, status, 0};
            std::memcpy(out.data(), &r, sizeof r);
            for (;;) {
                try {
                    results_.put(std::string_view(out));
                    break;
                } catch (const InterruptedError&) {
                    clear_stop();
                }
            }
        }
    } catch (const QueueClosed&) {
        code = 0;  // close() or terminate(): no more tasks
    } catch (const std::exception& e) {
        std::cerr << "ipckit::Pool worker " << ::getpid() << ": " << e.what() << '\n';
        code = 1;
    }
    flush_all();
    ::_exit(code);
}

std::shared_ptr<PoolJob> PoolCore::submit(
    PoolRunner runner, std::uintptr_t fn,
    std::vector<std::pair<std::string, std::uint32_t>> chunks) {
    std::vector<std::uint32_t> counts;
    counts.reserve(chunks.size());
    for (auto& c : chunks)
        counts.push_back(c.second);
    auto job = std::make_shared<PoolJob>(std::move(counts));
    {
        std::lock_guard lock(mutex_);
        if (state_ != State::running) throw ValueError("ipckit::Pool: the pool is not running");
        for (std::size_t i = 0; i < chunks.size(); ++i) {
            TaskHeader h{next_id_++, reinterpret_cast<std::uint64_t>(runner), fn, chunks[i].second,
                         0};
            // The chunk starts with room for the header (Pool::submit_items, apply_async).
            std::string message = std::move(chunks[i].first);
            std::memcpy(message.data(), &h, sizeof h);
            pending_.emplace(h.id, Pending{job, i});
            to_feed_.push_back(std::move(message));
        }
    }
    feed_cv_.notify_one();
    return job;
}

void PoolCore::feed() {
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            feed_cv_.wait(lock, [&] { return !to_feed_.empty() || state_ != State::running; });
            if (state_ == State::terminating) return;
            if (to_feed_.empty()) {  // closed, and everything is in the queue
                lock.unlock();
                tasks_.close();
                return;
            }
        }
        std::string message;
        {
            std::shared_lock quiet(fork_guard_);  // (pop_front may free)
            std::lock_guard lock(mutex_);
            if (to_feed_.empty()) continue;  // terminate() emptied it: the wait above tells
            message = std::move(to_feed_.front());
            to_feed_.pop_front();
        }
        for (;;) {
            try {
                tasks_.put(std::string_view(message));
                break;
            } catch (const QueueClosed&) {
                return;  // terminate() closed it
            } catch (const InterruptedError&) {
                pause_for_stop();
            }
        }
        std::shared_lock quiet(fork_guard_);
        message = std::string();
    }
}

void PoolCore::collect() {
    std::string message;
    // Room for any result: the blocking get below then never allocates, so it can wait
    // without holding fork_guard_.
    message.reserve(result_ring_bytes);
    for (;;) {
        try {
            results_.get(message);
        } catch (const QueueClosed&) {
            return;
        } catch (const InterruptedError&) {
            pause_for_stop();
            continue;
        }
        if (message.size() < sizeof(ResultHeader)) continue;
        std::shared_lock quiet(fork_guard_);
        ResultHeader h{};
        std::memcpy(&h, message.data(), sizeof h);
        Pending p{};
        {
            std::lock_guard lock(mutex_);
            auto it = pending_.find(h.id);
            if (it == pending_.end()) continue;  // a second outcome: the first counts
            p = std::move(it->second);
            pending_.erase(it);
        }
        auto status = h.status <= PoolChunk::lost ? static_cast<PoolChunk::Status>(h.status)
                                                  : PoolChunk::lost;
        p.job->complete(p.index, status, message.substr(sizeof h));
    }
}

void PoolCore::wake_supervisor() {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
}

void PoolCore::supervise() {
    std::vector<pollfd> fds;
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            if (state_ == State::terminating) return;
            if (state_ == State::closed && workers_.empty()) return;
            fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
            for (const Worker& w : workers_)
                fds.push_back(pollfd{w.pidfd, POLLIN, 0});
        }
        if (::poll(fds.data(), fds.size(), -1) < 0) continue;  // EINTR
        if (fds[0].revents) {
            std::uint64_t count = 0;
            [[maybe_unused]] auto r = ::read(wake_fd_, &count, sizeof count);
        }
        for (std::size_t k = 1; k < fds.size(); ++k) {
            if (!fds[k].revents) continue;
            Worker dead;
            int status = 0;
            {
                std::lock_guard lock(mutex_);
                if (state_ == State::terminating) return;
                auto it = std::find_if(workers_.begin(), workers_.end(),
                                       [&](const Worker& w) { return w.pidfd == fds[k].fd; });
                if (it == workers_.end()) continue;
                const pid_t r = ::waitpid(it->pid, &status, WNOHANG);
                if (r == 0 || (r < 0 && errno != ECHILD)) continue;
                // ECHILD: the program reaped it itself (waitpid(-1) in a SIGCHLD handler).
                if (r < 0) status = -1;
                dead = *it;
                workers_.erase(it);
            }
            ::close(dead.pidfd);
            const std::uint64_t task = slot_task(dead.slot).load();
            // A worker ends by itself only when the task queue is closed and empty, between
            // tasks, with status 0. Anything else (a signal, a crash, a task calling exit)
            // fails its task and brings a replacement.
            const bool normal =
                status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0 && task == 0;
            if (!normal) {  // (the slot's task was read above: spawn clears it)
                std::optional<Worker> fresh;
                try {
                    std::unique_lock quiet(fork_guard_);
                    {
                        std::lock_guard lock(mutex_);
                        if (state_ == State::terminating) return;
                    }
                    fresh = spawn(dead.slot);
                } catch (const Error& e) {
                    std::cerr << "ipckit::Pool: " << e.what() << '\n';
                }
                if (fresh) {
                    std::lock_guard lock(mutex_);
                    if (state_ == State::terminating) {  // terminate() came in between
                        ::kill(fresh->pid, SIGKILL);
                        ::waitpid(fresh->pid, nullptr, 0);
                        ::close(fresh->pidfd);
                        return;
                    }
                    workers_.push_back(*fresh);
                    replacements.fetch_add(1);
                }
            }
            if (!normal && task != 0) {
                // After any result the worker put: the collector takes the first. (The
                // replacement is already there when the task's caller hears of it.)
                std::string message(sizeof(ResultHeader), '\0');
                ResultHeader h{task, PoolChunk::lost, 0};
                std::memcpy(message.data(), &h, sizeof h);
                message += "ipckit::Pool: worker process " + std::to_string(dead.pid) + " " +
                           describe_exit(status) +
                           " while it ran this task; a new worker took its place";
                try {
                    results_.put(std::string_view(message));
                } catch (const Error&) {
                    // closed: terminate() fails the task
                }
            }
        }
    }
}

void PoolCore::close() {
    {
        std::lock_guard lock(mutex_);
        if (state_ == State::running) state_ = State::closed;
    }
    feed_cv_.notify_all();
    wake_supervisor();
}

void PoolCore::fail_pending(const std::string& why) {
    std::unordered_map<std::uint64_t, Pending> left;
    {
        std::lock_guard lock(mutex_);
        left.swap(pending_);
    }
    for (auto& [id, p] : left)
        p.job->complete(p.index, PoolChunk::lost, why);
}

void PoolCore::join_threads() {
    if (feeder_.joinable()) feeder_.join();
    if (supervisor_.joinable()) supervisor_.join();
    results_.close();  // the collector takes what is left, then ends
    if (collector_.joinable()) collector_.join();
}

void PoolCore::join() {
    {
        std::lock_guard lock(mutex_);
        if (state_ == State::running) {
            throw ValueError(
                "ipckit::Pool.join: the pool is still running (call close() or "
                "terminate() first)");
        }
        if (state_ == State::joined) return;
    }
    join_threads();
    fail_pending("ipckit::Pool: no worker ran this task");
    std::lock_guard lock(mutex_);
    if (state_ != State::terminating) state_ = State::joined;
}

void PoolCore::terminate() {
    {
        std::lock_guard lock(mutex_);
        if (state_ == State::joined) return;
        state_ = State::terminating;
        to_feed_.clear();
    }
    feed_cv_.notify_all();
    tasks_.close();
    wake_supervisor();
    if (supervisor_.joinable()) supervisor_.join();
    std::vector<Worker> workers;
    {
        std::lock_guard lock(mutex_);
        workers.swap(workers_);
    }
    for (const Worker& w : workers)
        ::kill(w.pid, SIGKILL);
    for (const Worker& w : workers) {
        while (::waitpid(w.pid, nullptr, 0) < 0 && errno == EINTR) {
        }
        ::close(w.pidfd);
    }
    join_threads();
    fail_pending("ipckit::Pool: the pool was terminated before this task finished");
    if (wake_fd_ >= 0) {
        ::close(wake_fd_);
        wake_fd_ = -1;
    }
    std::lock_guard lock(mutex_);
    state_ = State::joined;
}

std::vector<pid_t> PoolCore::pids() const {
    std::lock_guard lock(mutex_);
    std::vector<pid_t> out;
    for (const Worker& w : workers_)
        out.push_back(w.pid);
    return out;
}

}  // namespace detail

Pool::Pool(std::size_t processes) : core_(std::make_unique<detail::PoolCore>(processes)) {}

Pool::~Pool() {
    try {
        core_->terminate();
    } catch (...) {
    }
}

std::shared_ptr<detail::PoolJob> Pool::submit(detail::PoolRunner runner, std::uintptr_t fn,
                                              std::vector<Chunk> chunks) {
    std::vector<std::pair<std::string, std::uint32_t>> plain;
    plain.reserve(chunks.size());
    for (auto& c : chunks)
        plain.emplace_back(std::move(c.data), c.count);
    return core_->submit(runner, fn, std::move(plain));
}

void Pool::too_large(std::size_t bytes) {
    throw ValueError("ipckit::Pool: one item's arguments take " + std::to_string(bytes) +
                     " bytes, more than a task carries (" +
                     std::to_string(detail::pool_max_task_bytes) + ")");
}

void Pool::close() {
    core_->close();
}
void Pool::join() {
    core_->join();
}
void Pool::terminate() {
    core_->terminate();
}
std::size_t Pool::processes() const noexcept {
    return core_->processes;
}
std::vector<pid_t> Pool::pids() const {
    return core_->pids();
}
std::size_t Pool::replacements() const noexcept {
    return core_->replacements.load();
}

}  // namespace ipckit
