// Locked increments per second, 1 and 2 processes: ipckit::Value<int64_t> against a plain
// process-shared pthread mutex, glibc's robust recursive mutex, std::atomic in shared
// memory, and Python's multiprocessing.Value (/usr/bin/python3).
//
//   bench_shared [--quick]
//
// Prints a Markdown table (rates in millions of increments per second, median of several
// rounds, total over all processes; "both running" is the share of the 2-process run during
// which both processes were incrementing) and the ratios the issue asks for. Each process does
// its increments between a common start signal and its join; the count is checked.
#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_cli.hpp"
#include "ipckit/process.hpp"
#include "ipckit/shared.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// Shared scratch memory for the baselines (not from the ipckit arena).
struct SharedPage {
    void* p;
    SharedPage() {
        p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
    }
    ~SharedPage() { ::munmap(p, 4096); }
    SharedPage(const SharedPage&) = delete;
    SharedPage& operator=(const SharedPage&) = delete;
};

struct Measure {
    double rate;     // increments per second, all processes together
    double overlap;  // the fraction of the run during which every process was working
};

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
        .count();
}

// Runs `work(n)` in `procs` child processes started together.
Measure rate(int procs, std::int64_t n, const std::function<void(std::int64_t)>& work) {
    ipckit::RawValue<int> ready(0), go(0);
    ipckit::RawArray<std::int64_t> spans(2 * static_cast<std::size_t>(procs));
    std::vector<std::unique_ptr<ipckit::Process>> children;
    for (int i = 0; i < procs; ++i) {
        children.push_back(std::make_unique<ipckit::Process>([&, i, ready, go, spans] {
            std::atomic_ref<int>(ready.value()).fetch_add(1);
            while (std::atomic_ref<int>(go.value()).load() == 0) {
            }
            spans[2 * static_cast<std::size_t>(i)] = now_ns();
            work(n);
            spans[2 * static_cast<std::size_t>(i) + 1] = now_ns();
        }));
        children.back()->start();
    }
    while (std::atomic_ref<int>(ready.value()).load() < procs) {
    }
    auto start = Clock::now();
    std::atomic_ref<int>(go.value()).store(1);
    for (auto& c : children) {
        c->join();
        if (c->exitcode() != 0) throw std::runtime_error("a benchmark child failed");
    }
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::int64_t first_start = spans[0], last_start = spans[0];
    std::int64_t first_end = spans[1], last_end = spans[1];
    for (std::size_t i = 1; i < static_cast<std::size_t>(procs); ++i) {
        first_start = std::min(first_start, spans[2 * i]);
        last_start = std::max(last_start, spans[2 * i]);
        first_end = std::min(first_end, spans[2 * i + 1]);
        last_end = std::max(last_end, spans[2 * i + 1]);
    }
    double overlap = static_cast<double>(std::max<std::int64_t>(first_end - last_start, 0)) /
                     static_cast<double>(last_end - first_start);
    return {static_cast<double>(n) * procs / seconds, overlap};
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

const char* python_script = R"(
import sys, time
from multiprocessing import Process, Value, Event

def work(v, n, go):
    go.wait()
    for _ in range(n):
        with v.get_lock():
            v.value += 1

if __name__ == '__main__':
    n, procs = int(sys.argv[1]), int(sys.argv[2])
    v = Value('q', 0)
    go = Event()
    ps = [Process(target=work, args=(v, n, go)) for _ in range(procs)]
    for p in ps:
        p.start()
    start = time.perf_counter()
    go.set()
    for p in ps:
        p.join()
    seconds = time.perf_counter() - start
    assert v.value == n * procs, v.value
    print(n * procs / seconds)
)";

double python_rate(int procs, std::int64_t n) {
    std::string command = "/usr/bin/python3 -c \"$IPCKIT_BENCH_SCRIPT\" " + std::to_string(n) +
                          " " + std::to_string(procs);
    ::setenv("IPCKIT_BENCH_SCRIPT", python_script, 1);
    std::FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) throw std::runtime_error("cannot run /usr/bin/python3");
    char line[128] = {};
    bool got = std::fgets(line, sizeof line, pipe) != nullptr;
    int status = ::pclose(pipe);
    if (!got || status != 0) throw std::runtime_error("the Python baseline failed");
    return std::stod(line);
}

struct Row {
    std::string name;
    double one = 0, two = 0;
    double overlap = -1;  // unknown for Python
};

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "Locked increments per second, 1 and 2 processes: ipckit::Value against a "
        "process-shared pthread mutex, glibc's robust mutex, std::atomic in shared "
        "memory and Python's multiprocessing.Value.",
        "bench_shared"};
    bool quick = false;
    app.add_flag("--quick", quick, "fewer and shorter rounds");
    if (auto status = ipckit::bench::parse_command_line(app, argc, argv)) return *status;
    const std::int64_t n = quick ? 1'000'000 : 10'000'000;
    const std::int64_t python_n = quick ? 100'000 : 500'000;
    const int runs = quick ? 1 : 7;
    // The implementations are measured in turns, round after round, and each reports its
    // median round: on a shared machine, load from elsewhere then hits them all alike.
    struct Candidate {
        std::string name;
        std::function<void()> reset;
        std::function<void(std::int64_t)> work;
        std::function<std::int64_t()> count;
    };
    std::vector<Candidate> candidates;

    ipckit::Value<std::int64_t> v(0);
    candidates.push_back({"ipckit::Value<int64_t> (`v.value() += 1`)", [&] { v.set(0); },
                          [v](std::int64_t k) {
                              for (std::int64_t i = 0; i < k; ++i)
                                  v.value() += 1;
                          },
                          [&] { return v.get(); }});

    SharedPage plain_page, robust_page, atomic_page;
    auto add_mutex = [&](const std::string& name, SharedPage& page, bool robust_recursive) {
        auto* m = static_cast<pthread_mutex_t*>(page.p);
        auto* counter = reinterpret_cast<std::int64_t*>(static_cast<char*>(page.p) + 128);
        pthread_mutexattr_t attr;
        ::pthread_mutexattr_init(&attr);
        ::pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
        if (robust_recursive) {
            ::pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
            ::pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
        }
        ::pthread_mutex_init(m, &attr);
        candidates.push_back({name, [counter] { *counter = 0; },
                              [m, counter](std::int64_t k) {
                                  for (std::int64_t i = 0; i < k; ++i) {
                                      ::pthread_mutex_lock(m);
                                      ++*counter;
                                      ::pthread_mutex_unlock(m);
                                  }
                              },
                              [counter] { return *counter; }});
    };
    add_mutex("plain process-shared pthread mutex", plain_page, false);
    add_mutex("pthread mutex, robust + recursive (glibc)", robust_page, true);
    auto* atomic_counter = new (atomic_page.p) std::atomic<std::int64_t>(0);
    candidates.push_back({"std::atomic<int64_t> in shared memory (`++a`)",
                          [atomic_counter] { atomic_counter->store(0); },
                          [atomic_counter](std::int64_t k) {
                              for (std::int64_t i = 0; i < k; ++i)
                                  ++*atomic_counter;
                          },
                          [atomic_counter] { return atomic_counter->load(); }});

    std::vector<Row> rows;
    for (const auto& c : candidates)
        rows.push_back(Row{c.name});
    std::vector<std::vector<double>> one(candidates.size()), two(candidates.size()),
        overlaps(candidates.size());
    for (int round = 0; round < runs; ++round) {
        for (int procs : {1, 2}) {
            for (std::size_t i = 0; i < candidates.size(); ++i) {
                const Candidate& c = candidates[i];
                c.reset();
                Measure m = rate(procs, n, c.work);
                if (c.count() != n * procs) {
                    throw std::runtime_error(c.name + ": lost increments");
                }
                (procs == 1 ? one[i] : two[i]).push_back(m.rate);
                if (procs == 2) overlaps[i].push_back(m.overlap);
            }
        }
        std::fprintf(stderr, "round %d of %d done\n", round + 1, runs);
    }
    for (std::size_t i = 0; i < candidates.size(); ++i) {
        rows[i].one = median(one[i]);
        rows[i].two = median(two[i]);
        rows[i].overlap = median(overlaps[i]);
    }
    {
        Row row{"Python multiprocessing.Value (`with v.get_lock(): v.value += 1`)"};
        row.one = python_rate(1, python_n);
        row.two = python_rate(2, python_n);
        rows.push_back(row);
    }

    const Row& ipckit_row = rows[0];
    const Row& plain = rows[1];
    const Row& python = rows.back();
    std::printf(
        "| implementation | 1 process (M/s) | 2 processes (M/s) | 2 processes: both running "
        "|\n|---|---:|---:|---:|\n");
    for (const Row& r : rows) {
        std::string overlap =
            r.overlap < 0 ? "" : std::to_string(std::lround(r.overlap * 100)) + " %";
        std::printf("| %s | %.2f | %.2f | %s |\n", r.name.c_str(), r.one / 1e6, r.two / 1e6,
                    overlap.c_str());
    }
    std::printf("\n| ratio | 1 process | 2 processes | target |\n|---|---:|---:|---|\n");
    std::printf("| ipckit / plain mutex | %.2f | %.2f | >= 0.9 |\n", ipckit_row.one / plain.one,
                ipckit_row.two / plain.two);
    std::printf("| ipckit / Python | %.0f | %.0f | >= 50 |\n", ipckit_row.one / python.one,
                ipckit_row.two / python.two);
    std::printf("| ipckit / glibc robust recursive mutex | %.2f | %.2f | |\n",
                ipckit_row.one / rows[2].one, ipckit_row.two / rows[2].two);
    std::printf("| ipckit / std::atomic | %.2f | %.2f | |\n", ipckit_row.one / rows[3].one,
                ipckit_row.two / rows[3].two);
    std::printf(
        "\n(%lld increments per process, median of %d rounds; Python %lld per process, one run)\n",
        static_cast<long long>(n), runs, static_cast<long long>(python_n));
    return 0;
}
