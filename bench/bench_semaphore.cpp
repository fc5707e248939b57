// Uncontended acquire/release pairs per second on one System V semaphore:
// ipckit::sysv::Semaphore against Python's sysv_ipc (Debian's /usr/bin/python3), in one
// run, and their ratio.
//
//   build/bench/bench_semaphore
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "ipckit/sysv/semaphore.hpp"

namespace sysv = ipckit::sysv;

namespace {

double ipckit_rate = 0;  // pairs per second, from the last (longest) run
double python_rate = 0;

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
    for (auto _ : state) {
        sem.acquire();
        sem.release();
    }
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    ipckit_rate = static_cast<double>(state.iterations()) / took.count();
    state.SetItemsProcessed(state.iterations());
    state.counters["pairs_per_second"] = ipckit_rate;
}
BENCHMARK(BM_IpckitAcquireRelease);

// The same loop in Python: sysv_ipc.Semaphore.acquire() and release() on the same
// semaphore, timed by Python itself; we run it once and read its rate.
void BM_PythonSysvIpcAcquireRelease(benchmark::State& state) {
    constexpr long pairs = 500'000;
    const std::string script =
        "import sys, time, sysv_ipc\n"
        "sem = sysv_ipc.Semaphore(int(sys.argv[1]))\n"
        "n = int(sys.argv[2])\n"
        "acquire, release = sem.acquire, sem.release\n"
        "start = time.perf_counter()\n"
        "for _ in range(n):\n"
        "    acquire()\n"
        "    release()\n"
        "print(n / (time.perf_counter() - start))\n";
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
        python_rate = std::stod(line);
    }
    state.counters["pairs_per_second"] = python_rate;
}
BENCHMARK(BM_PythonSysvIpcAcquireRelease)->Iterations(1)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (ipckit_rate > 0 && python_rate > 0) {
        std::printf(
            "\nuncontended acquire/release pairs per second: ipckit %.0f, "
            "Python sysv_ipc %.0f, ratio ipckit/Python %.2f\n",
            ipckit_rate, python_rate, ipckit_rate / python_rate);
    }
    return 0;
}
