// The manager's Redis back end against its limits, in one run: single calls (dict set/get,
// list append, queue put+get, lock acquire+release) on Redis and on a local ipckit server;
// batched calls (dict update, list extend) in items per second; redis-benchmark's own figure
// for the equivalent single command with one client (the limit for any Redis client), read
// from its output; the memory per dict entry in Redis (INFO memory).
//
//   build/bench/bench_redis --benchmark_min_time=1
// Needs redis-server and redis-benchmark (Debian's redis-server, redis-tools); it starts
// its own server on a random loopback port (tests/redis_fixture.hpp).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <regex>
#include <string>

#include "ipckit/manager.hpp"
#include "redis_fixture.hpp"

using ipckit::Manager;
using ipckit::Object;

namespace {

// Made on first use and destroyed at the end of main (not by static destructors, which run
// after OpenSSL's exit handlers: the local manager's stop call crashed there, leaving the
// Redis server running).
std::unique_ptr<ipckit::test::RedisServer> the_server;
std::unique_ptr<Manager> the_local, the_redis;

ipckit::test::RedisServer& server() {
    if (!the_server) the_server = std::make_unique<ipckit::test::RedisServer>();
    return *the_server;
}

Manager& backend(int which) {
    if (which == 0) {
        if (!the_local) the_local = std::make_unique<Manager>();
        return *the_local;
    }
    if (!the_redis) the_redis = std::make_unique<Manager>(Manager::connect(server().url(), ""));
    return *the_redis;
}
const char* label(int which) {
    return which == 0 ? "ipckit server (unix socket)" : "redis (loopback TCP)";
}

void BM_DictSet(benchmark::State& state) {
    auto d = backend(static_cast<int>(state.range(0))).dict("bench-dict");
    std::int64_t i = 0;
    for (auto _ : state) {
        d.set(i % 1000, i);
        ++i;
    }
    state.SetLabel(label(static_cast<int>(state.range(0))));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_DictSet)->Arg(0)->Arg(1)->UseRealTime();

void BM_DictGet(benchmark::State& state) {
    auto d = backend(static_cast<int>(state.range(0))).dict("bench-dict-get");
    d.set(1, 1);
    for (auto _ : state)
        benchmark::DoNotOptimize(d.get(1));
    state.SetLabel(label(static_cast<int>(state.range(0))));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_DictGet)->Arg(0)->Arg(1)->UseRealTime();

void BM_ListAppend(benchmark::State& state) {
    auto l = backend(static_cast<int>(state.range(0))).named_list("bench-list");
    for (auto _ : state)
        l.append(1);
    l.clear();
    state.SetLabel(label(static_cast<int>(state.range(0))));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_ListAppend)->Arg(0)->Arg(1)->UseRealTime();

void BM_QueuePutGet(benchmark::State& state) {
    auto q = backend(static_cast<int>(state.range(0))).named_queue("bench-queue");
    for (auto _ : state) {
        q.put(1);
        benchmark::DoNotOptimize(q.get());
    }
    state.SetLabel(label(static_cast<int>(state.range(0))));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_QueuePutGet)->Arg(0)->Arg(1)->UseRealTime();

void BM_LockAcquireRelease(benchmark::State& state) {
    auto l = backend(static_cast<int>(state.range(0))).named_lock("bench-lock");
    for (auto _ : state) {
        l.acquire();
        l.release();
    }
    state.SetLabel(label(static_cast<int>(state.range(0))));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_LockAcquireRelease)->Arg(0)->Arg(1)->UseRealTime();

// Batched: one call for 10,000 items.
void BM_ListExtend10k(benchmark::State& state) {
    auto l = backend(static_cast<int>(state.range(0))).named_list("bench-extend");
    Object::List items(10000, Object(std::int64_t{12345}));
    for (auto _ : state) {
        l.extend(items);
        state.PauseTiming();
        l.clear();
        state.ResumeTiming();
    }
    state.SetLabel(label(static_cast<int>(state.range(0))));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 10000);
}
BENCHMARK(BM_ListExtend10k)->Arg(0)->Arg(1)->UseRealTime();

void BM_DictUpdate10k(benchmark::State& state) {
    auto d = backend(static_cast<int>(state.range(0))).dict("bench-update");
    Object::Dict items;
    for (std::int64_t i = 0; i < 10000; ++i)
        items.set(Object(i), Object(i));
    for (auto _ : state)
        d.update(items);
    state.SetLabel(label(static_cast<int>(state.range(0))));
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()) * 10000);
}
BENCHMARK(BM_DictUpdate10k)->Arg(0)->Arg(1)->UseRealTime();

// redis-benchmark's requests per second for one client and these commands.
void report_redis_benchmark() {
    std::string command = "redis-benchmark -p " + std::to_string(server().port()) +
                          " -c 1 -n 100000 -q -t set,get,rpush,lpop,hset 2>/dev/null";
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
    if (!pipe) return;
    std::string out;
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe.get()))
        out.append(buffer, n);
    std::regex line(R"(([A-Z]+): ([0-9.]+) requests per second)");
    std::cout << "redis-benchmark, 1 client:";
    for (std::sregex_iterator it(out.begin(), out.end(), line), end; it != end; ++it)
        std::cout << ' ' << (*it)[1] << ' ' << (*it)[2] << "/s";
    std::cout << '\n';
}

// INFO memory's used_memory before and after 100,000 small int -> int dict entries.
void report_memory() {
    auto used = [] {
        redisReply* r = server().command({"INFO", "memory"});
        long long bytes = 0;
        if (r && r->type == REDIS_REPLY_STRING) {
            std::string text(r->str, r->len);
            auto at = text.find("used_memory:");
            if (at != std::string::npos) bytes = std::stoll(text.substr(at + 12));
        }
        if (r) freeReplyObject(r);
        return bytes;
    };
    long long before = used();
    auto d = backend(1).dict("bench-memory");
    for (int round = 0; round < 10; ++round) {
        Object::Dict batch;
        for (std::int64_t i = 0; i < 10000; ++i)
            batch.set(Object(round * 10000 + i), Object(i));
        d.update(batch);
    }
    long long after = used();
    std::cout << "redis memory per dict entry (100,000 int -> int): "
              << static_cast<double>(after - before) / 100000.0 << " bytes\n";
    d.clear();
}

// The server's own time per command (INFO commandstats usec_per_call) over the benchmarks:
// where a call's server time goes (a function's FCALL against the plain commands).
void report_commandstats() {
    redisReply* r = server().command({"INFO", "commandstats"});
    if (!r) return;
    if (r->type == REDIS_REPLY_STRING) {
        std::string text(r->str, r->len);
        std::regex line(R"(cmdstat_([a-z|]+):calls=([0-9]+),usec=[0-9]+,usec_per_call=([0-9.]+))");
        std::cout << "redis server time per call (INFO commandstats):";
        for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it)
            std::cout << ' ' << (*it)[1] << ' ' << (*it)[3] << " us (" << (*it)[2] << " calls)";
        std::cout << '\n';
    }
    freeReplyObject(r);
}

}  // namespace

int main(int argc, char** argv) {
    if (!ipckit::test::redis_available()) {
        std::cerr << "bench_redis: redis-server is not installed\n";
        return 0;
    }
    benchmark::Initialize(&argc, argv);
    report_redis_benchmark();
    report_memory();
    freeReplyObject(server().command({"CONFIG", "RESETSTAT"}));
    benchmark::RunSpecifiedBenchmarks();
    report_commandstats();
    benchmark::Shutdown();
    the_redis.reset();
    the_local.reset();
    the_server.reset();
    return 0;
}
