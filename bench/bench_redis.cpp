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

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <regex>
#include <string>
#include <vector>

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

// ---- The ratio table: interleaved rounds, best of each --------------------------------------
// Each round runs redis-benchmark (one client, -n N, the equivalent commands), then each row
// against Redis and against the local ipckit server, then Python's redis client
// (bench/python/redis_bench.py) doing the same; every figure is the best of its rounds, so
// that a round slowed by other jobs on the machine does not count against one column only.

using Clock = std::chrono::steady_clock;

double timed_rate(std::int64_t count, const std::function<void()>& body) {
    auto start = Clock::now();
    body();
    std::chrono::duration<double> took = Clock::now() - start;
    return static_cast<double>(count) / took.count();
}

std::map<std::string, double> run_lines(const std::string& command, const std::regex& line) {
    std::map<std::string, double> out;
    std::unique_ptr<FILE, int (*)(FILE*)> pipe(::popen(command.c_str(), "r"), ::pclose);
    if (!pipe) return out;
    std::string text;
    char buffer[4096];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe.get()))
        text.append(buffer, n);
    for (std::sregex_iterator it(text.begin(), text.end(), line), end; it != end; ++it)
        out[(*it)[1]] = std::stod((*it)[2]);
    return out;
}

struct Row {
    std::string name;
    std::string python;                          // redis_bench.py's name
    int calls;                                   // calls per iteration (a put+get pair: 2)
    bool batched;                                // rates in items per second
    std::function<double(Manager&, int n)> run;  // items (or iterations) per second
};

double single(Manager&, int n, const std::function<void(std::int64_t)>& body) {
    return timed_rate(n, [&] {
        for (std::int64_t i = 0; i < n; ++i)
            body(i);
    });
}

std::vector<Row> rows() {
    std::vector<Row> out;
    out.push_back({"d[k] = v", "dict_set", 1, false, [](Manager& m, int n) {
                       auto d = m.dict("ratio-dict");
                       return single(m, n, [&](std::int64_t i) { d.set(i % 1000, i); });
                   }});
    out.push_back({"d[k]", "dict_get", 1, false, [](Manager& m, int n) {
                       auto d = m.dict("ratio-dict-get");
                       d.set(1, 1);
                       return single(m, n,
                                     [&](std::int64_t) { benchmark::DoNotOptimize(d.get(1)); });
                   }});
    out.push_back({"l.append(x)", "list_append", 1, false, [](Manager& m, int n) {
                       auto l = m.named_list("ratio-list");
                       double r = single(m, n, [&](std::int64_t) { l.append(1); });
                       l.clear();
                       return r;
                   }});
    out.push_back({"q.put(x); q.get()", "queue_put_get", 2, false, [](Manager& m, int n) {
                       auto q = m.named_queue("ratio-queue");
                       return single(m, n, [&](std::int64_t) {
                           q.put(1);
                           benchmark::DoNotOptimize(q.get());
                       });
                   }});
    out.push_back(
        {"lock.acquire(); lock.release()", "lock_acquire_release", 2, false, [](Manager& m, int n) {
             auto l = m.named_lock("ratio-lock");
             return single(m, n, [&](std::int64_t) {
                 l.acquire();
                 l.release();
             });
         }});
    Object::Dict update_items;
    for (std::int64_t i = 0; i < 10000; ++i)
        update_items.set(Object(i), Object(i));
    out.push_back({"d.update(10,000 known keys)", "dict_update_10k", 1, true,
                   [update_items](Manager& m, int n) {
                       auto d = m.dict("ratio-update");
                       d.update(update_items);  // the keys exist: their values change
                       int batches = std::max(1, n / 1000);
                       return timed_rate(std::int64_t{batches} * 10000, [&] {
                           for (int b = 0; b < batches; ++b)
                               d.update(update_items);
                       });
                   }});
    out.push_back({"d.update(10,000 new keys)", "dict_update_10k", 1, true,
                   [update_items](Manager& m, int n) {
                       auto d = m.dict("ratio-update-new");
                       int batches = std::max(1, n / 1000);
                       double seconds = 0;
                       for (int b = 0; b < batches; ++b) {
                           d.clear();
                           seconds += 10000 / timed_rate(10000, [&] { d.update(update_items); });
                       }
                       d.clear();
                       return static_cast<double>(batches) * 10000 / seconds;
                   }});
    Object::List extend_items(10000, Object(std::int64_t{12345}));
    out.push_back(
        {"l.extend(10,000 items)", "list_extend_10k", 1, true, [extend_items](Manager& m, int n) {
             auto l = m.named_list("ratio-extend");
             int batches = std::max(1, n / 1000);
             double seconds = 0;
             for (int b = 0; b < batches; ++b) {
                 seconds += 10000 / timed_rate(10000, [&] { l.extend(extend_items); });
                 l.clear();
             }
             return static_cast<double>(batches) * 10000 / seconds;
         }});
    return out;
}

std::string per_second(double rate) {
    char text[64];
    if (rate >= 1e6) {
        std::snprintf(text, sizeof text, "%.2f M/s", rate / 1e6);
    } else {
        std::snprintf(text, sizeof text, "%.0f /s", rate);
    }
    return text;
}

void ratio_table(int rounds, int n) {
    std::vector<Row> table = rows();
    std::map<std::string, double> best_rb, best_py;
    std::vector<double> best_redis(table.size(), 0), best_local(table.size(), 0);
    std::regex rb_line(R"(([A-Z]+): ([0-9.]+) requests per second)");
    std::regex py_line(R"(([a-z_0-9]+) ([0-9.e+]+))");
    bool python = ::system("/usr/bin/python3 -c 'import redis' >/dev/null 2>&1") == 0;
    auto keep = [](std::map<std::string, double>& best, const std::map<std::string, double>& got) {
        for (auto& [k, v] : got)
            best[k] = std::max(best[k], v);
    };
    for (int round = 0; round < rounds; ++round) {
        keep(best_rb, run_lines("redis-benchmark -p " + std::to_string(server().port()) +
                                    " -c 1 -n " + std::to_string(std::max(n, 20000)) +
                                    " -q -t set,get,rpush,lpop,hset 2>/dev/null",
                                rb_line));
        for (std::size_t i = 0; i < table.size(); ++i) {
            best_redis[i] = std::max(best_redis[i], table[i].run(backend(1), n));
            best_local[i] = std::max(best_local[i], table[i].run(backend(0), n));
        }
        if (python) {
            keep(best_py, run_lines("/usr/bin/python3 " IPCKIT_BENCH_DIR "/python/redis_bench.py " +
                                        std::to_string(server().port()) + " " + std::to_string(n),
                                    py_line));
        }
    }
    double queue_base = 2.0 / (1.0 / best_rb["RPUSH"] + 1.0 / best_rb["LPOP"]);
    std::map<std::string, std::pair<std::string, double>> baseline{
        {"d[k] = v", {"HSET", best_rb["HSET"]}},
        {"d[k]", {"GET", best_rb["GET"]}},
        {"l.append(x)", {"RPUSH", best_rb["RPUSH"]}},
        {"q.put(x); q.get()", {"RPUSH+LPOP", queue_base}},
        {"lock.acquire(); lock.release()", {"SET", best_rb["SET"]}},
    };
    std::printf("\nratio table: best of %d interleaved rounds of %d calls\n", rounds, n);
    std::printf(
        "| operation | ipckit on Redis | redis-benchmark | Redis / redis-benchmark | "
        "Python's redis client | ipckit / Python | local ipckit server |\n");
    std::printf("|---|---|---|---|---|---|---|\n");
    for (std::size_t i = 0; i < table.size(); ++i) {
        const Row& row = table[i];
        double calls = best_redis[i] * row.calls;  // calls (or items) per second
        std::string rb = "—", ratio = "—";
        if (auto it = baseline.find(row.name); it != baseline.end()) {
            rb = it->second.first + " " + per_second(it->second.second);
            char text[32];
            std::snprintf(text, sizeof text, "**%.2f**", calls / it->second.second);
            ratio = text;
        }
        std::string py = "—", vs_py = "—";
        if (auto it = best_py.find(row.python); it != best_py.end() && it->second > 0) {
            py = per_second(it->second * row.calls);
            char text[32];
            std::snprintf(text, sizeof text, "%.2f", best_redis[i] / it->second);
            vs_py = text;
        }
        std::string unit = row.calls == 2 ? " calls" : (row.batched ? " items" : "");
        std::printf("| `%s` | %s%s | %s | %s | %s | %s | %s |\n", row.name.c_str(),
                    per_second(calls).c_str(), unit.c_str(), rb.c_str(), ratio.c_str(), py.c_str(),
                    vs_py.c_str(), per_second(best_local[i] * row.calls).c_str());
    }
    std::fflush(stdout);
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
    // --rounds=R --calls=N: the ratio table's rounds (0: none) and calls per round.
    int rounds = 3, calls = 20000;
    int kept = 1;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a.rfind("--rounds=", 0) == 0) {
            rounds = std::stoi(a.substr(9));
        } else if (a.rfind("--calls=", 0) == 0) {
            calls = std::stoi(a.substr(8));
        } else {
            argv[kept++] = argv[i];
        }
    }
    argc = kept;
    benchmark::Initialize(&argc, argv);
    report_redis_benchmark();
    report_memory();
    freeReplyObject(server().command({"CONFIG", "RESETSTAT"}));
    if (rounds > 0) ratio_table(rounds, calls);
    report_commandstats();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    the_redis.reset();
    the_local.reset();
    the_server.reset();
    return 0;
}
