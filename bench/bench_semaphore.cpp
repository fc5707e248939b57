// Uncontended acquire/release pairs per second on one System V semaphore:
// ipckit::sysv::Semaphore against Python's sysv_ipc (Debian's /usr/bin/python3), in one
// run, and their ratio.
//
//   build/bench/bench_semaphore
#include <benchmark/benchmark.h>
#include <sys/sem.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <string>

#include "bench_support.hpp"
#include "ipckit/sysv/semaphore.hpp"

namespace sysv = ipckit::sysv;

namespace {

// Pairs per second of wall-clock time and of CPU time (user + system, this process).
// The machine is shared, so the CPU-time rates are the ones to compare: they do not
// count the time another program had the core.
struct Rates {
    double wall = 0;
    double cpu = 0;
};
Rates ipckit_rates;  // from the last (longest) run
Rates python_rates;

double cpu_seconds() {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

sysv::Semaphore& semaphore() {
    static sysv::Semaphore sem = [] {
        sysv::Semaphore s(std::nullopt, sysv::IPC_CREX, sysv::default_mode, 1);
        s.set_auto_remove(true);
        return s;
    }();
    return sem;
}

void BM_IpckitAcquireRelease(benchmark::State& state) {
    auto& sem = semaphore();
    auto start = std::chrono::steady_clock::now();
    double cpu_start = cpu_seconds();
    for (auto _ : state) {
        sem.acquire();
        sem.release();
    }
    double cpu = cpu_seconds() - cpu_start;
    std::chrono::duration<double> wall = std::chrono::steady_clock::now() - start;
    auto pairs = static_cast<double>(state.iterations());
    ipckit_rates = {pairs / wall.count(), pairs / cpu};
    state.SetItemsProcessed(state.iterations());
    state.counters["pairs_per_cpu_second"] = ipckit_rates.cpu;
    state.counters["pairs_per_wall_second"] = ipckit_rates.wall;
}
BENCHMARK(BM_IpckitAcquireRelease);

// The floor: the two semop(2) calls alone, with no library around them.
void BM_RawSemopPair(benchmark::State& state) {
    int id = semaphore().id();
    sembuf down{0, -1, 0};
    sembuf up{0, 1, 0};
    for (auto _ : state) {
        benchmark::DoNotOptimize(semop(id, &down, 1));
        benchmark::DoNotOptimize(semop(id, &up, 1));
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RawSemopPair);

// The same loop in Python: sysv_ipc.Semaphore.acquire() and release() on the same
// semaphore, timed by Python itself; we run it once and read its rate.
void BM_PythonSysvIpcAcquireRelease(benchmark::State& state) {
    constexpr long pairs = 500'000;
    const std::string script =
        "import sys, time, sysv_ipc\n"
        "sem = sysv_ipc.Semaphore(int(sys.argv[1]))\n"
        "n = int(sys.argv[2])\n"
        "acquire, release = sem.acquire, sem.release\n"
        "start, cpu_start = time.perf_counter(), time.process_time()\n"
        "for _ in range(n):\n"
        "    acquire()\n"
        "    release()\n"
        "cpu, wall = time.process_time() - cpu_start, time.perf_counter() - start\n"
        "print(n / wall, n / cpu)\n";
    const std::string command = "/usr/bin/python3 -c '" + script + "' " +
                                std::to_string(semaphore().key()) + " " + std::to_string(pairs);
    for (auto _ : state) {
        FILE* pipe = ::popen(command.c_str(), "r");
        if (pipe == nullptr) {
            state.SkipWithError("cannot run /usr/bin/python3");
            return;
        }
        char line[128] = {};
        bool got = std::fgets(line, sizeof line, pipe) != nullptr;
        int status = ::pclose(pipe);
        if (!got || status != 0) {
            state.SkipWithError("the Python baseline failed (is python3-sysv-ipc installed?)");
            return;
        }
        if (std::sscanf(line, "%lf %lf", &python_rates.wall, &python_rates.cpu) != 2) {
            state.SkipWithError("cannot parse the Python baseline's output");
            return;
        }
    }
    state.counters["pairs_per_cpu_second"] = python_rates.cpu;
    state.counters["pairs_per_wall_second"] = python_rates.wall;
}
BENCHMARK(BM_PythonSysvIpcAcquireRelease)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    ipckit::bench::ignore_closed_output();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (ipckit_rates.cpu > 0 && python_rates.cpu > 0) {
        std::printf(
            "\nuncontended acquire/release pairs per CPU second: ipckit %.0f, "
            "Python sysv_ipc %.0f, ratio ipckit/Python %.2f\n"
            "(per wall-clock second: ipckit %.0f, Python %.0f, ratio %.2f)\n",
            ipckit_rates.cpu, python_rates.cpu, ipckit_rates.cpu / python_rates.cpu,
            ipckit_rates.wall, python_rates.wall, ipckit_rates.wall / python_rates.wall);
    }
    return 0;
}
