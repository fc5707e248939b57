// Shared-memory queue benchmark: ipckit::Queue / ByteQueue against the System V queue, a
// PTHREAD_PROCESS_SHARED mutex + condition-variable ring (the textbook way) and, when its
// headers are installed, Boost.Interprocess message_queue, all in one run.
//
//   build/bench/bench_queue [--count N] [--rounds R]
//
// Each figure is the best of R rounds (3 by default), the implementations interleaved, so
// that a busy machine disturbs them alike.
// One-way throughput (a producer process and a consumer process) at 16 B and 1 KiB, and
// ping-pong round trip between two processes (a request queue and a reply queue).
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "bench_support.hpp"
#include "ipckit/ipckit.hpp"

#if __has_include(<boost/interprocess/ipc/message_queue.hpp>)
#include <boost/interprocess/ipc/message_queue.hpp>
#include "bench_cli.hpp"
#define IPCKIT_HAVE_BOOST 1
#endif

namespace sysv = ipckit::sysv;
using Clock = std::chrono::steady_clock;

namespace {

using namespace ipckit::bench;

constexpr std::size_t capacity = 1024;  // messages, every implementation
// ipckit's queues as made, with their default spin (set_spin not called).
constexpr std::optional<std::chrono::nanoseconds> default_spin;

// Python's multiprocessing.Queue: messages per second (below).
double python_queue_rate(std::size_t size, int producers, int consumers, int count);

template <std::size_t N>
struct Msg {
    std::array<char, N> bytes;
};

// --- ipckit::Queue<T> ---
template <std::size_t N>
Result queue_throughput(int count, std::optional<std::chrono::nanoseconds> spin, bool pin = false) {
    ipckit::Queue<Msg<N>> q(capacity);
    if (spin) q.set_spin(*spin);
    Msg<N> m{};
    return run_pair(
        [&] {
            for (int i = 0; i < count; ++i)
                q.put(m);
        },
        [&] {
            for (int i = 0; i < count; ++i)
                q.get();
        },
        pin);
}
template <std::size_t N>
Result queue_pingpong(int count, std::optional<std::chrono::nanoseconds> spin, bool pin) {
    ipckit::Queue<Msg<N>> request(capacity), reply(capacity);
    if (spin) {
        request.set_spin(*spin);
        reply.set_spin(*spin);
    }
    Msg<N> m{};
    return run_pair(
        [&] {
            for (int i = 0; i < count; ++i) {
                request.put(m);
                reply.get();
            }
        },
        [&] {
            for (int i = 0; i < count; ++i)
                reply.put(request.get());
        },
        pin);
}

// --- ipckit::ByteQueue ---
Result bytequeue_throughput(std::size_t size, int count) {
    ipckit::ByteQueue q(capacity, capacity * (size + 8));
    const std::string m(size, 'x');
    return run_pair(
        [&] {
            for (int i = 0; i < count; ++i)
                q.put(m);
        },
        [&] {
            std::string out;
            for (int i = 0; i < count; ++i)
                q.get(out);
        },
        false);
}

// --- System V (ipckit's wrapper, which costs nothing over the system calls) ---
sysv::MessageQueue fresh_sysv() {
    return fresh_sysv_queue(1 << 20);
}
Result sysv_throughput(std::size_t size, int count) {
    auto mq = fresh_sysv();
    sysv::MessageBuffer message(size);
    message.assign(std::string(size, 'x'), 1);
    return run_pair(
        [&] {
            for (int i = 0; i < count; ++i)
                mq.send(message);
        },
        [&] {
            sysv::MessageBuffer buffer(8192);
            for (int i = 0; i < count; ++i)
                mq.receive_into(buffer);
        },
        false);
}
Result sysv_pingpong(std::size_t size, int count) {
    auto mq = fresh_sysv();
    return ipckit::bench::sysv_pingpong(mq, size, count, std::chrono::nanoseconds(0), false);
}

// --- the textbook ring: a PTHREAD_PROCESS_SHARED mutex and two condition variables ---
template <std::size_t N>
struct CondvarRing {
    pthread_mutex_t mutex;
    pthread_cond_t not_empty, not_full;
    std::size_t head = 0, tail = 0, count = 0;
    std::array<Msg<N>, capacity> slots;

    CondvarRing() {
        pthread_mutexattr_t ma;
        pthread_mutexattr_init(&ma);
        pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED);
        pthread_mutex_init(&mutex, &ma);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
        pthread_cond_init(&not_empty, &ca);
        pthread_cond_init(&not_full, &ca);
    }
    void put(const Msg<N>& m) {
        pthread_mutex_lock(&mutex);
        while (count == capacity)
            pthread_cond_wait(&not_full, &mutex);
        slots[tail] = m;
        tail = (tail + 1) % capacity;
        ++count;
        pthread_cond_signal(&not_empty);
        pthread_mutex_unlock(&mutex);
    }
    Msg<N> get() {
        pthread_mutex_lock(&mutex);
        while (count == 0)
            pthread_cond_wait(&not_empty, &mutex);
        Msg<N> m = slots[head];
        head = (head + 1) % capacity;
        --count;
        pthread_cond_signal(&not_full);
        pthread_mutex_unlock(&mutex);
        return m;
    }
};
template <class T>
struct SharedObject {  // an object in a MAP_SHARED mapping, for forked children
    T* p;
    SharedObject() {
        void* mem =
            mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) throw std::bad_alloc();
        p = new (mem) T();
    }
    ~SharedObject() { munmap(p, sizeof(T)); }
    T* operator->() { return p; }
};
template <std::size_t N>
Result condvar_throughput(int count, bool pin = false) {
    SharedObject<CondvarRing<N>> ring;
    Msg<N> m{};
    return run_pair(
        [&] {
            for (int i = 0; i < count; ++i)
                ring->put(m);
        },
        [&] {
            for (int i = 0; i < count; ++i)
                ring->get();
        },
        pin);
}
template <std::size_t N>
Result condvar_pingpong(int count) {
    SharedObject<CondvarRing<N>> request, reply;
    Msg<N> m{};
    return run_pair(
        [&] {
            for (int i = 0; i < count; ++i) {
                request->put(m);
                reply->get();
            }
        },
        [&] {
            for (int i = 0; i < count; ++i)
                reply->put(request->get());
        },
        false);
}

#ifdef IPCKIT_HAVE_BOOST
// --- Boost.Interprocess message_queue (named: POSIX shared memory, removed at the end) ---
namespace bip = boost::interprocess;
struct BoostQueue {
    std::string name;
    std::unique_ptr<bip::message_queue> q;
    BoostQueue(const std::string& tag, std::size_t size)
        : name("ipckit-bench-" + tag + "-" + std::to_string(getpid())) {
        bip::message_queue::remove(name.c_str());
        q = std::make_unique<bip::message_queue>(bip::create_only, name.c_str(), capacity, size);
    }
    ~BoostQueue() { bip::message_queue::remove(name.c_str()); }
};
Result boost_throughput(std::size_t size, int count, bool pin = false) {
    BoostQueue bq("tp", size);
    std::string m(size, 'x');
    return run_pair(
        [&] {
            for (int i = 0; i < count; ++i)
                bq.q->send(m.data(), size, 0);
        },
        [&] {
            std::string out(size, '\0');
            bip::message_queue::size_type n;
            unsigned priority;
            for (int i = 0; i < count; ++i)
                bq.q->receive(out.data(), size, n, priority);
        },
        pin);
}
Result boost_pingpong(std::size_t size, int count) {
    BoostQueue request("rq", size), reply("rp", size);
    std::string m(size, 'x');
    return run_pair(
        [&] {
            std::string out(size, '\0');
            bip::message_queue::size_type n;
            unsigned priority;
            for (int i = 0; i < count; ++i) {
                request.q->send(m.data(), size, 0);
                reply.q->receive(out.data(), size, n, priority);
            }
        },
        [&] {
            std::string out(size, '\0');
            bip::message_queue::size_type n;
            unsigned priority;
            for (int i = 0; i < count; ++i) {
                request.q->receive(out.data(), size, n, priority);
                reply.q->send(out.data(), n, 0);
            }
        },
        false);
}
#endif

void header(const char* title, const char* unit) {
    std::printf("\n| %-52s | %16s | %22s |\n", title, unit, "ratio");
    std::printf("|%s|%s|%s|\n", std::string(54, '-').c_str(), std::string(18, '-').c_str(),
                std::string(24, '-').c_str());
}
void rate_row(const std::string& name, double rate, double baseline, const char* baseline_name) {
    std::printf("| %-52s | %10.0f msg/s | %6.2f x %-13s |\n", name.c_str(), rate,
                baseline > 0 ? rate / baseline : 0.0, baseline_name);
}
void time_row(const std::string& name, double us, double baseline_us, const char* baseline_name,
              const std::string& note = "") {
    std::printf("| %-52s | %13.2f us | %6.2f x %-13s | %s\n", name.c_str(), us,
                baseline_us > 0 ? baseline_us / us : 0.0, baseline_name, note.c_str());
}

int rounds = 3;

// Runs every measurement `rounds` times, interleaved (so that a change in the machine's load
// touches all alike), and keeps each one's best.
std::vector<Result> best_of(const std::vector<std::function<Result()>>& runs) {
    std::vector<Result> best(runs.size(), Result{1e300, 0});
    for (int r = 0; r < rounds; ++r) {
        for (std::size_t i = 0; i < runs.size(); ++i) {
            Result x = runs[i]();
            if (x.seconds < best[i].seconds) best[i] = x;
        }
    }
    return best;
}

template <std::size_t N>
void throughput_rows(int count) {
    const std::string label = ", " + std::to_string(N) + " B";
    using namespace std::chrono_literals;
    std::vector<std::function<Result()>> runs = {
        [&] { return sysv_throughput(N, count); },
        [&] { return condvar_throughput<N>(count); },
        [&] { return queue_throughput<N>(count, default_spin); },
        [&] { return queue_throughput<N>(count, 0ns); },
        [&] { return bytequeue_throughput(N, count); },
        // Producer and consumer pinned to separate cores: the case of an idle machine, where
        // the two run side by side and every hand-off crosses cores.
        [&] { return condvar_throughput<N>(count, true); },
        [&] { return queue_throughput<N>(count, default_spin, true); },
#ifdef IPCKIT_HAVE_BOOST
        [&] { return boost_throughput(N, count); },
        [&] { return boost_throughput(N, count, true); },
#endif
    };
    auto best = best_of(runs);
    auto rate = [&](std::size_t i) { return count / best[i].seconds; };
    const double sysv_rate = rate(0), condvar = rate(1), queue0 = rate(2), queue_nospin = rate(3),
                 bytes = rate(4), condvar_pinned = rate(5), queue_pinned = rate(6);
    rate_row("System V queue (sysv::MessageQueue)" + label, sysv_rate, sysv_rate, "System V");
    rate_row("pthread mutex + condvar ring" + label, condvar, sysv_rate, "System V");
#ifdef IPCKIT_HAVE_BOOST
    const double boost_rate = rate(7), boost_pinned = rate(8);
    rate_row("Boost.Interprocess message_queue" + label, boost_rate, sysv_rate, "System V");
#endif
    rate_row("ipckit::Queue<T>" + label, queue0, sysv_rate, "System V");
    rate_row("ipckit::Queue<T>, no spin (set_spin(0))" + label, queue_nospin, sysv_rate,
             "System V");
    rate_row("ipckit::ByteQueue" + label, bytes, sysv_rate, "System V");
    rate_row("ipckit::Queue<T> vs condvar ring" + label, queue0, condvar, "condvar");
#ifdef IPCKIT_HAVE_BOOST
    rate_row("ipckit::Queue<T> vs Boost" + label, queue0, boost_rate, "Boost");
    rate_row("ipckit::ByteQueue vs Boost" + label, bytes, boost_rate, "Boost");
#endif
    const std::string cores = ", separate cores" + label;
    rate_row("pthread mutex + condvar ring" + cores, condvar_pinned, condvar_pinned, "condvar");
    rate_row("ipckit::Queue<T>" + cores, queue_pinned, condvar_pinned, "condvar");
#ifdef IPCKIT_HAVE_BOOST
    rate_row("Boost message_queue" + cores, boost_pinned, condvar_pinned, "condvar");
    rate_row("ipckit::Queue<T> vs Boost" + cores, queue_pinned, boost_pinned, "Boost");
#endif
    // Python's multiprocessing.Queue, run once (a tenth of the messages: it is that slow).
    const double python = python_queue_rate(N, 1, 1, std::max(1000, count / 10));
    rate_row("Python multiprocessing.Queue" + label, python, sysv_rate, "System V");
    rate_row("ipckit::Queue<T> vs Python" + label, queue0, python, "Python");
}

template <std::size_t N>
void pingpong_rows(int count) {
    const std::string label = ", " + std::to_string(N) + " B";
    using namespace std::chrono_literals;
    std::vector<std::function<Result()>> runs = {
        [&] { return sysv_pingpong(N, count); },
        [&] { return condvar_pingpong<N>(count); },
        [&] { return queue_pingpong<N>(count, default_spin, false); },
        [&] { return queue_pingpong<N>(count, 20us, true); },
#ifdef IPCKIT_HAVE_BOOST
        [&] { return boost_pingpong(N, count); },
#endif
    };
    auto best = best_of(runs);
    auto us = [&](std::size_t i) { return best[i].seconds / count * 1e6; };
    const double sysv_us = us(0), condvar = us(1), queue0 = us(2);
    time_row("System V queue" + label, sysv_us, sysv_us, "System V");
    time_row("pthread mutex + condvar ring" + label, condvar, sysv_us, "System V");
#ifdef IPCKIT_HAVE_BOOST
    time_row("Boost.Interprocess message_queue" + label, us(4), sysv_us, "System V");
#endif
    time_row("ipckit::Queue<T>" + label, queue0, sysv_us, "System V");
    time_row("ipckit::Queue<T> vs condvar ring" + label, queue0, condvar, "condvar");
#ifdef IPCKIT_HAVE_BOOST
    time_row("ipckit::Queue<T> vs Boost" + label, queue0, us(4), "Boost");
#endif
    char note[96];
    std::snprintf(note, sizeof note, "CPU %.2f us per round trip (both processes)",
                  best[3].cpu_seconds / count * 1e6);
    time_row("ipckit::Queue<T>, spin 20 us, separate cores" + label, us(3), sysv_us, "System V",
             note);
}

// --- Python's multiprocessing (bench/python/queue_bench.py, /usr/bin/python3) ---
double python_number(const std::string& args) {
    const std::string command =
        "/usr/bin/python3 " IPCKIT_BENCH_DIR "/python/queue_bench.py " + args;
    std::cout.flush();
    std::fflush(nullptr);
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return 0;
    double value = 0;
    if (std::fscanf(pipe, "%lf", &value) != 1) value = 0;
    ::pclose(pipe);
    return value;
}
double python_queue_rate(std::size_t size, int producers, int consumers, int count) {
    return python_number("queue " + std::to_string(size) + " " + std::to_string(count) + " " +
                         std::to_string(producers) + " " + std::to_string(consumers));
}

// --- many producers -> many consumers: each producer puts count / P, each consumer gets
// count / C (count a multiple of both) ---
Result run_many(int producers, int consumers, int count, const std::function<void(int)>& produce,
                const std::function<void(int)>& consume) {
    const double children_before = cpu_seconds(RUSAGE_CHILDREN);
    std::cout.flush();
    std::vector<pid_t> pids;
    auto start = Clock::now();
    for (int i = 0; i < producers + consumers; ++i) {
        pid_t pid = fork();
        if (pid == 0) {
            if (i < producers) {
                produce(count / producers);
            } else {
                consume(count / consumers);
            }
            _exit(0);
        }
        pids.push_back(pid);
    }
    for (pid_t pid : pids)
        waitpid(pid, nullptr, 0);
    return {std::chrono::duration<double>(Clock::now() - start).count(),
            cpu_seconds(RUSAGE_CHILDREN) - children_before};
}

template <std::size_t N>
void many_to_many_rows(int producers, int consumers, int count) {
    const std::string label = ", " + std::to_string(producers) + " -> " +
                              std::to_string(consumers) + ", " + std::to_string(N) + " B";
    std::vector<std::function<Result()>> runs = {
        [&] {
            auto mq = fresh_sysv();
            sysv::MessageBuffer message(N);
            message.assign(std::string(N, 'x'), 1);
            return run_many(
                producers, consumers, count,
                [&](int n) {
                    for (int i = 0; i < n; ++i)
                        mq.send(message);
                },
                [&](int n) {
                    sysv::MessageBuffer buffer(8192);
                    for (int i = 0; i < n; ++i)
                        mq.receive_into(buffer);
                });
        },
        [&] {
            SharedObject<CondvarRing<N>> ring;
            Msg<N> m{};
            return run_many(
                producers, consumers, count,
                [&](int n) {
                    for (int i = 0; i < n; ++i)
                        ring->put(m);
                },
                [&](int n) {
                    for (int i = 0; i < n; ++i)
                        ring->get();
                });
        },
        [&] {
            ipckit::Queue<Msg<N>> q(capacity);
            Msg<N> m{};
            return run_many(
                producers, consumers, count,
                [&](int n) {
                    for (int i = 0; i < n; ++i)
                        q.put(m);
                },
                [&](int n) {
                    for (int i = 0; i < n; ++i)
                        q.get();
                });
        },
#ifdef IPCKIT_HAVE_BOOST
        [&] {
            BoostQueue bq("mm", N);
            return run_many(
                producers, consumers, count,
                [&](int n) {
                    std::string m(N, 'x');
                    for (int i = 0; i < n; ++i)
                        bq.q->send(m.data(), N, 0);
                },
                [&](int n) {
                    std::string out(N, '\0');
                    bip::message_queue::size_type size;
                    unsigned priority;
                    for (int i = 0; i < n; ++i)
                        bq.q->receive(out.data(), N, size, priority);
                });
        },
#endif
    };
    auto best = best_of(runs);
    auto rate = [&](std::size_t i) { return count / best[i].seconds; };
    const double sysv_rate = rate(0), condvar = rate(1), queue = rate(2);
    const double python = python_queue_rate(N, producers, consumers, std::max(1000, count / 10));
    rate_row("System V queue" + label, sysv_rate, sysv_rate, "System V");
    rate_row("pthread mutex + condvar ring" + label, condvar, sysv_rate, "System V");
#ifdef IPCKIT_HAVE_BOOST
    rate_row("Boost.Interprocess message_queue" + label, rate(3), sysv_rate, "System V");
#endif
    rate_row("Python multiprocessing.Queue" + label, python, sysv_rate, "System V");
    rate_row("ipckit::Queue<T>" + label, queue, sysv_rate, "System V");
    rate_row("ipckit::Queue<T> vs condvar ring" + label, queue, condvar, "condvar");
#ifdef IPCKIT_HAVE_BOOST
    rate_row("ipckit::Queue<T> vs Boost" + label, queue, rate(3), "Boost");
#endif
    rate_row("ipckit::Queue<T> vs Python" + label, queue, python, "Python");
}

// --- Pool.map of a trivial function against Python's Pool.map, same chunksize ---
std::int64_t square(std::int64_t x) {
    return x * x;
}
void pool_rows(int count, int processes) {
    ipckit::Pool pool(static_cast<std::size_t>(processes));
    pool.map(square, ipckit::range(processes));  // the workers are up
    const auto per = static_cast<std::size_t>(processes) * 4;
    const std::size_t default_chunk = (static_cast<std::size_t>(count) + per - 1) / per;
    for (std::size_t chunksize : {std::size_t{1000}, default_chunk}) {
        double best = 1e300;
        for (int r = 0; r < rounds; ++r) {
            auto start = Clock::now();
            auto squares = pool.map(square, ipckit::range(count), chunksize);
            best = std::min(best, std::chrono::duration<double>(Clock::now() - start).count());
            if (squares.back() != square(count - 1)) std::abort();
        }
        const double python =
            python_number("poolmap " + std::to_string(count) + " " + std::to_string(chunksize) +
                          " " + std::to_string(processes));
        const std::string label = ", chunksize " + std::to_string(chunksize);
        rate_row("Python Pool(" + std::to_string(processes) + ").map(square)" + label,
                 python > 0 ? count / python : 0, python > 0 ? count / python : 0, "Python");
        rate_row("ipckit::Pool(" + std::to_string(processes) + ").map(square)" + label,
                 count / best, python > 0 ? count / python : 0, "Python");
    }
}

// --- throughput against message size, one producer -> one consumer: the table that
// bench/plot_queue.sh draws (docs/queue-benchmark.png) ---
long msgmax() {
    FILE* f = std::fopen("/proc/sys/kernel/msgmax", "r");
    long value = 8192;
    if (f != nullptr) {
        if (std::fscanf(f, "%ld", &value) != 1) value = 8192;
        std::fclose(f);
    }
    return value;
}
template <std::size_t N>
void sweep_row(int count) {
    // At most 256 MiB per run, at least 2,000 messages.
    const int n = std::max(2000, std::min(count, static_cast<int>((std::size_t{256} << 20) / N)));
    using namespace std::chrono_literals;
    const bool sysv_fits = static_cast<long>(N) <= msgmax();
    std::vector<std::function<Result()>> runs = {
        [&] {
            return sysv_fits ? sysv_throughput(N, n) : Result{1e300, 0};
        },
        [&] { return condvar_throughput<N>(n); },
        [&] { return queue_throughput<N>(n, default_spin); },
        [&] { return bytequeue_throughput(N, n); },
#ifdef IPCKIT_HAVE_BOOST
        [&] { return boost_throughput(N, n); },
#endif
    };
    auto best = best_of(runs);
    auto rate = [&](std::size_t i) { return n / best[i].seconds; };
    const double python = python_queue_rate(N, 1, 1, std::max(500, n / 10));
    double boost = 0;
#ifdef IPCKIT_HAVE_BOOST
    boost = rate(4);
#endif
    std::printf("| %8zu | %12.0f | %12.0f | %12.0f | %12.0f | %12.0f | %12.0f |\n", N,
                sysv_fits ? rate(0) : 0.0, rate(1), boost, rate(2), rate(3), python);
    std::fflush(stdout);
}
void sweep(int count) {
    std::printf("\n%s\n", "throughput against message size (msg/s; 0: not measured)");
    std::printf("| %8s | %12s | %12s | %12s | %12s | %12s | %12s |\n", "size B", "System V",
                "condvar ring", "Boost", "Queue<T>", "ByteQueue", "Python Queue");
    std::printf(
        "|----------|--------------|--------------|--------------|--------------|-----"
        "---------|--------------|\n");
    sweep_row<16>(count);
    sweep_row<64>(count);
    sweep_row<256>(count);
    sweep_row<1024>(count);
    sweep_row<4096>(count);
    sweep_row<16384>(count);
    sweep_row<65536>(count);
}

}  // namespace

int main(int argc, char** argv) {
    ignore_closed_output();
    CLI::App app{
        "ipckit::Queue and ByteQueue against the System V queue, a process-shared "
        "mutex + condvar ring, Boost.Interprocess message_queue and Python's "
        "multiprocessing.Queue; the Pool against Python's Pool.",
        "bench_queue"};
    int count = 1000000;
    std::string only;
    add_whole_number(app, "--count", count, "messages a throughput run (ping-pong: a tenth)", 10);
    add_whole_number(app, "--rounds", rounds, "interleaved rounds, the best kept");
    app.add_option("--only", only, "that table alone")
        ->check(CLI::IsMember({"one-to-one", "ping-pong", "many", "pool", "sweep"}));
    if (auto status = parse_command_line(app, argc, argv)) return *status;
    auto wanted = [&](const char* table) { return only.empty() || only == table; };
    const int pp_count = std::max(1, count / 10);
    std::printf(
        "messages per run: %d (throughput), %d (ping-pong); queues of %zu messages; "
        "best of %d interleaved rounds\n",
        count, pp_count, capacity, rounds);
    if (wanted("one-to-one")) {
        header("one producer -> one consumer, throughput", "rate");
        throughput_rows<16>(count);
        throughput_rows<1024>(count);
    }
    if (wanted("ping-pong")) {
        header("ping-pong round trip between two processes", "time");
        pingpong_rows<16>(pp_count);
        pingpong_rows<1024>(pp_count);
    }
    if (wanted("many")) {
        header("4 producers -> 4 consumers, throughput", "rate");
        many_to_many_rows<16>(4, 4, count / 4 * 4);
    }
    if (wanted("pool")) {
        header("Pool.map(square, range(count)), items per second", "rate");
        pool_rows(count, 4);
    }
    if (wanted("sweep")) sweep(count);
    return 0;
}
