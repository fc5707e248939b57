// The manager's Redis back end (src/manager/redis/) against real redis-server processes
// started by tests/redis_fixture.hpp: every proxy method, many processes on one object,
// locks whose holder dies, a server restarted under its client.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <numeric>
#include <regex>
#include <thread>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/process.hpp"
#include "ipckit/signals.hpp"
#include "manager/redis/connection.hpp"
#include "redis_fixture.hpp"
#include "support.hpp"

using ipckit::DictProxy;
using ipckit::ListProxy;
using ipckit::Manager;
using ipckit::Object;
using ipckit::Process;
using ipckit::test::RedisServer;
using List = Object::List;
using Dict = Object::Dict;
using namespace std::chrono_literals;

namespace {

#define REQUIRE_REDIS()                                                               \
    do {                                                                              \
        if (!ipckit::test::redis_available()) GTEST_SKIP() << "redis-server missing"; \
    } while (0)

// A pipe a child writes one byte to when it reached a point (no sleeps).
struct Signal {
    int fds[2];
    Signal() {
        if (::pipe(fds) != 0) throw std::runtime_error("pipe");
    }
    ~Signal() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    void post() const {
        char c = 1;
        if (::write(fds[1], &c, 1) != 1) ::_exit(3);
    }
    void wait() const {
        char c;
        ASSERT_EQ(::read(fds[0], &c, 1), 1);
    }
};

}  // namespace

TEST(Redis, BadAddressesFailClearly) {
    REQUIRE_REDIS();
    EXPECT_THROW(Manager::connect("redis://127.0.0.1:notaport", ""), ipckit::ValueError);
    EXPECT_THROW(Manager::connect("redis://user:pw@127.0.0.1:1", ""), ipckit::ValueError);
    int port = ipckit::test::free_loopback_port();  // nobody listens there
    try {
        Manager::connect("redis://127.0.0.1:" + std::to_string(port), "");
        FAIL() << "connected to a closed port";
    } catch (const ipckit::ConnectionError& e) {
        EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)),
                  std::string::npos)
            << e.what();
    }
}

TEST(Redis, DictEveryMethod) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    DictProxy d = m.dict("scores");
    d[1] = "one";
    d.set("two", 2);
    d.set(Object::bytes("b"), List{1, 2.5, "x"});
    EXPECT_EQ(d.repr(), "{1: 'one', 'two': 2, b'b': [1, 2.5, 'x']}");
    EXPECT_EQ(d.size(), 3u);
    EXPECT_EQ(d.get(1), Object("one"));
    EXPECT_EQ(d.get("missing", 7), Object(7));
    EXPECT_THROW(d.get("missing"), ipckit::KeyError);
    EXPECT_TRUE(d.contains("two"));
    EXPECT_FALSE(d.contains(2));
    EXPECT_EQ(d.keys(), (List{1, "two", Object::bytes("b")}));
    EXPECT_EQ(d.values(), (List{"one", 2, List{1, 2.5, "x"}}));
    auto items = d.items();
    ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(items[1].first, Object("two"));
    EXPECT_EQ(items[1].second, Object(2));
    d.set(1, "uno");  // replacing keeps the insertion order
    EXPECT_EQ(d.keys().front(), Object(1));
    EXPECT_EQ(d.pop("two"), Object(2));
    EXPECT_THROW(d.pop("two"), ipckit::KeyError);
    EXPECT_EQ(d.pop("two", "gone"), Object("gone"));
    EXPECT_EQ(d.setdefault("new", 5), Object(5));
    EXPECT_EQ(d.setdefault("new", 6), Object(5));
    auto [k, v] = d.popitem();  // the last inserted, as Python's popitem
    EXPECT_EQ(k, Object("new"));
    EXPECT_EQ(v, Object(5));
    d.erase(1);
    EXPECT_THROW(d.erase(1), ipckit::KeyError);
    d.update({{"a", 1}, {"b", 2}});
    d.update(std::vector<std::pair<Object, Object>>{{"c", 0}, {"a", 9}, {"c", 3}});
    EXPECT_EQ(d.keys(), (List{Object::bytes("b"), "a", "b", "c"}));  // first insertions' order
    EXPECT_EQ(d.get("c"), Object(3));                                // later pairs win
    EXPECT_EQ(d.get("a"), Object(9));
    d.erase("c");
    d.set("a", 1);
    EXPECT_EQ(d.copy(), (Dict{{Object::bytes("b"), List{1, 2.5, "x"}}, {"a", 1}, {"b", 2}}));
    EXPECT_THROW(d.set(List{1}, 1), ipckit::ValueError);  // unhashable
    d.clear();
    EXPECT_EQ(d.size(), 0u);
    EXPECT_THROW(d.popitem(), ipckit::KeyError);
    EXPECT_EQ(d.repr(), "{}");

    // Another client (a new connection) sees the same dict.
    Manager other = Manager::connect(server.url(), "");
    DictProxy same = other.dict("scores");
    d.set("shared", 1.5);
    EXPECT_EQ(same.get("shared"), Object(1.5));
    // Its keys live under ipckit:{scores}:...
    EXPECT_EQ(server.integer({"HLEN", "ipckit:{scores}:h"}), 1);
    // A name is one type.
    EXPECT_THROW(m.named_list("scores"), ipckit::ValueError);
}

namespace {
// Runs `script` (which logs what each step returned or threw) against a Redis back end and
// against a local ipckit server, and expects the two logs to be equal line for line.
template <class Script>
void expect_same_on_redis_and_ipckit(Script script) {
    RedisServer server;
    Manager redis = Manager::connect(server.url(), "");
    Manager local;
    std::vector<std::string> log_redis, log_local;
    script(redis, log_redis);
    script(local, log_local);
    ASSERT_EQ(log_redis.size(), log_local.size());
    for (std::size_t i = 0; i < log_local.size(); ++i)
        EXPECT_EQ(log_redis[i], log_local[i]);
}
}  // namespace

// Every list method, run against an ipckit server and against Redis: same results.
TEST(Redis, ListEveryMethodMatchesTheIpckitServer) {
    REQUIRE_REDIS();
    expect_same_on_redis_and_ipckit([](Manager& m, std::vector<std::string>& log) {
        ListProxy l = m.list(List{5, 3, 8, 1});
        auto note = [&](const std::string& what) { log.push_back(what + " " + l.repr()); };
        auto attempt = [&](const char* what, auto f) {
            try {
                f();
                note(what);
            } catch (const ipckit::Error& e) {
                log.push_back(std::string(what) + " threw " + typeid(e).name() + " " + e.what());
            }
        };
        note("start");
        l.append("x");
        note("append");
        l.extend(List{1, 2, 3});
        note("extend");
        l.insert(2, 42);
        l.insert(-1, 43);
        l.insert(100, 44);
        l.insert(-100, 45);
        note("insert");
        log.push_back("get " + l.get(3).repr() + l.get(-1).repr());
        attempt("get out of range", [&] { l.get(100); });
        l.set(0, "first");
        l.set(-1, "last");
        note("set");
        attempt("set out of range", [&] { l.set(-100, 1); });
        log.push_back("pop " + l.pop().repr() + l.pop(0).repr() + l.pop(3).repr());
        note("pop");
        l.erase(1);
        note("erase");
        l.remove("x");
        attempt("remove absent", [&] { l.remove("x"); });
        note("remove");
        log.push_back("index " + std::to_string(l.index(1)) + " " + std::to_string(l.index(1, 3)) +
                      " " + std::to_string(l.count(1)));
        attempt("index absent", [&] { l.index(999); });
        attempt("index outside", [&] { l.index(5, 0, 1); });
        log.push_back(std::string("contains ") + (l.contains(8) ? "1" : "0") +
                      (l.contains(99) ? "1" : "0"));
        l.reverse();
        note("reverse");
        l.sort();
        note("sort");
        l.sort(true);
        note("sort reverse");
        log.push_back("slice " + Object(l.slice(1, 4)).repr() + Object(l.slice({}, {}, -1)).repr() +
                      Object(l.slice(-3, {}, 2)).repr() + Object(l.slice(10, 2, -3)).repr());
        l.set_slice(1, 3, List{"a", "b", "c"});
        note("set_slice");
        l.set_slice(0, {}, List{"e", "v"}, 4);
        note("set_slice extended");
        attempt("set_slice bad size", [&] { l.set_slice(0, {}, List{1}, 2); });
        l.erase_slice({}, {}, 3);
        note("erase_slice");
        l.erase_slice(-2, {});
        note("erase_slice tail");
        log.push_back("size " + std::to_string(l.size()) + " copy " + Object(l.copy()).repr());
        ListProxy mixed = m.list(List{1, "a"});
        attempt("sort mixed", [&] { mixed.sort(); });
        log.push_back("mixed " + mixed.repr());
        ListProxy stable = m.list(List{List{2, "b"}, List{1, "z"}, List{2, "a"}, 1.5});
        attempt("sort lists", [&] { stable.sort(); });
        ListProxy nums = m.list(List{3, 1.5, -2, 10, 0});
        nums.sort();
        log.push_back("nums " + nums.repr());
        l.clear();
        note("clear");
        attempt("pop empty", [&] { l.pop(); });
    });
}

TEST(Redis, AnonymousObjectsHaveALeaseAndGoWithTheirLastProxy) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url("lease_ms=5000"), "");
    std::string key;
    {
        ListProxy l = m.list(List{1, 2, 3});
        auto keys = server.command({"KEYS", "ipckit:{anon:*}:l"});
        ASSERT_NE(keys, nullptr);
        ASSERT_EQ(keys->elements, 1u);
        key = keys->element[0]->str;
        freeReplyObject(keys);
        long long ttl = server.integer({"PTTL", key});
        EXPECT_GT(ttl, 0);  // expires unless renewed: gone when every holder died
        EXPECT_LE(ttl, 5000);
        DictProxy named = m.dict("kept");
        named.set(1, 1);
        EXPECT_EQ(server.integer({"PTTL", "ipckit:{kept}:h"}), -1);  // named: no expiry
    }
    EXPECT_EQ(server.integer({"EXISTS", key}), 0);  // the last proxy went
}

TEST(Redis, QueuePutGetBlockAndTimeOut) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    auto q = m.named_queue("jobs", 2);
    EXPECT_EQ(q.maxsize(), 2);
    EXPECT_TRUE(q.empty());
    q.put(1);
    q.put(List{"two", 2});
    EXPECT_TRUE(q.full());
    EXPECT_EQ(q.qsize(), 2u);
    EXPECT_EQ(q.repr(), "<Queue object, maxsize=2, qsize=2>");
    EXPECT_THROW(q.put_nowait(3), ipckit::Full);
    try {
        q.put(3, true, 50ms);
        FAIL();
    } catch (const ipckit::Full& e) {
        EXPECT_TRUE(e.timed_out());
    }
    EXPECT_EQ(q.get(), Object(1));
    EXPECT_EQ(q.get(), Object(List{"two", 2}));
    EXPECT_THROW(q.get_nowait(), ipckit::Empty);
    try {
        q.get(true, 50ms);
        FAIL();
    } catch (const ipckit::Empty& e) {
        EXPECT_TRUE(e.timed_out());
    }
    // A blocked getter is woken by another process's put; a blocked put by a get.
    Signal started;
    Process producer(
        [&](ipckit::QueueProxy queue) {
            started.post();
            for (int i = 0; i < 5; ++i)
                queue.put(i);  // blocks while the queue holds 2
        },
        q);
    producer.start();
    started.wait();
    for (int i = 0; i < 5; ++i)
        EXPECT_EQ(q.get(true, 30s), Object(i));
    producer.join();
    EXPECT_EQ(producer.exitcode(), 0);
}

TEST(Redis, JoinableQueueJoinsWhenEveryTaskIsDone) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    auto q = m.joinable_queue();
    EXPECT_THROW(q.task_done(), ipckit::ValueError);
    for (int i = 0; i < 3; ++i)
        q.put(i);
    EXPECT_FALSE(q.join(20ms));
    Process worker(
        [](ipckit::JoinableQueueProxy queue) {
            for (int i = 0; i < 3; ++i) {
                queue.get();
                queue.task_done();
            }
        },
        q);
    worker.start();
    EXPECT_TRUE(q.join(30s));
    worker.join();
    EXPECT_EQ(worker.exitcode(), 0);
}

TEST(Redis, GetHonoursAStopRequest) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    auto q = m.queue();
    std::thread stopper([] { ipckit::request_stop(); });
    EXPECT_THROW(
        {
            while (true)
                q.get();  // the stop may come before the first wait
        },
        ipckit::InterruptedError);
    stopper.join();
    ipckit::clear_stop();
    q.put(1);
    EXPECT_EQ(q.get(), Object(1));  // still usable
}

TEST(Redis, LocksSemaphoresAndEvents) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    auto lock = m.named_lock("l");
    EXPECT_EQ(lock.repr(), "<unlocked Lock object>");
    EXPECT_TRUE(lock.acquire());
    EXPECT_EQ(lock.repr(), "<locked Lock object>");
    EXPECT_FALSE(lock.acquire(false));
    EXPECT_FALSE(lock.acquire(true, 20ms));
    lock.release();
    EXPECT_THROW(lock.release(), ipckit::RuntimeError);
    {
        auto held = lock.guard();
        EXPECT_FALSE(held.recovered());
    }

    auto r = m.rlock();
    r.acquire();
    r.acquire();
    EXPECT_EQ(r.repr(), "<locked RLock object count=2>");
    r.release();
    r.release();
    EXPECT_THROW(r.release(), ipckit::RuntimeError);
    EXPECT_EQ(r.repr(), "<unlocked RLock object count=0>");

    auto s = m.semaphore(2);
    EXPECT_TRUE(s.acquire());
    EXPECT_TRUE(s.acquire());
    EXPECT_FALSE(s.acquire(false));
    EXPECT_EQ(s.repr(), "<Semaphore object value=0>");
    s.release();
    s.release();
    s.release();  // a plain Semaphore may go above its initial value
    EXPECT_EQ(s.repr(), "<Semaphore object value=3>");
    auto b = m.bounded_semaphore(1);
    EXPECT_THROW(b.release(), ipckit::ValueError);

    auto e = m.event();
    EXPECT_FALSE(e.is_set());
    EXPECT_FALSE(e.wait(20ms));
    Signal waiting;
    Process setter(
        [&](ipckit::EventProxy ev) {
            waiting.wait();
            ev.set();
        },
        e);
    setter.start();
    waiting.post();
    EXPECT_TRUE(e.wait(30s));  // woken by the set (a notification, not a poll)
    EXPECT_EQ(e.repr(), "<Event object: set>");
    e.clear();
    EXPECT_FALSE(e.is_set());
    setter.join();
    EXPECT_EQ(setter.exitcode(), 0);

    // A waiter for the lock is woken by another process's release.
    lock.acquire();
    Signal tried;
    Process other(
        [&](ipckit::LockProxy l) {
            tried.post();
            if (!l.acquire(true, 30s)) ::_exit(2);
            l.release();
        },
        lock);
    other.start();
    tried.wait();
    lock.release();
    other.join();
    EXPECT_EQ(other.exitcode(), 0);
}

TEST(Redis, FourProcessesAppendingLoseNothing) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    ListProxy l = m.named_list("appends");
    constexpr int per_process = 10000;
    std::vector<Process> workers;
    workers.reserve(4);
    for (int w = 0; w < 4; ++w) {
        workers.emplace_back(
            [w](ListProxy list) {
                for (int i = 0; i < per_process; ++i)
                    list.append(w * per_process + i);
            },
            l);
    }
    for (auto& p : workers)
        p.start();
    for (auto& p : workers) {
        p.join();
        EXPECT_EQ(p.exitcode(), 0);
    }
    ASSERT_EQ(l.size(), 4u * per_process);
    std::vector<std::int64_t> values;
    for (const auto& v : l.copy())
        values.push_back(v.as_int());
    std::sort(values.begin(), values.end());
    std::vector<std::int64_t> expected(std::size_t{4} * per_process);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(values, expected);
}

TEST(Redis, ALockSharedByFourProcessesCountsExactly) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    auto lock = m.named_lock("counter-lock");
    DictProxy d = m.dict("counter");
    d.set("n", 0);
    constexpr int per_process = 300;
    std::vector<Process> workers;
    workers.reserve(4);
    for (int w = 0; w < 4; ++w) {
        workers.emplace_back(
            [](ipckit::LockProxy l, DictProxy counter) {
                for (int i = 0; i < per_process; ++i) {
                    auto held = l.guard();
                    counter.set("n", counter.get("n").as_int() + 1);  // read, then write
                }
            },
            lock, d);
    }
    for (auto& p : workers)
        p.start();
    for (auto& p : workers) {
        p.join();
        EXPECT_EQ(p.exitcode(), 0);
    }
    EXPECT_EQ(d.get("n"), Object(4 * per_process));
}

TEST(Redis, AKilledHoldersLockFreesItselfWithinItsLease) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url("lease_ms=1000"), "");
    auto lock = m.named_lock("dies");
    Signal holding;
    Process holder(
        [&](ipckit::LockProxy l) {
            l.acquire();
            holding.post();
            ::pause();
        },
        lock);
    holder.start();
    holding.wait();
    EXPECT_FALSE(lock.acquire(false));
    holder.kill();
    holder.join();
    auto start = std::chrono::steady_clock::now();
    ipckit::Acquired a = lock.acquire(true, 30s);
    auto waited = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(a);
    EXPECT_TRUE(a.recovered());  // the next holder is told
    EXPECT_LT(waited, 10s);      // within the lease (1 s), with room for a loaded machine
    lock.release();
    EXPECT_FALSE(lock.acquire().recovered());
    lock.release();
}

TEST(Redis, ALiveHoldersLeaseIsRenewed) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url("lease_ms=1000"), "");
    auto lock = m.named_lock("renewed");
    lock.acquire();
    // Three leases: the renewal thread (every lease/3) keeps it held.
    EXPECT_FALSE(lock.acquire(true, 3000ms));
    EXPECT_GT(server.integer({"PTTL", "ipckit:{renewed}:lock"}), 0);
    lock.release();
}

TEST(Redis, AServerRestartedUnderAClientIsAConnectionErrorThenReconnects) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    DictProxy d = m.dict("survives");
    d.set("before", 1);
    server.stop();
    server.start();
    try {
        d.set("after", 2);
        FAIL() << "no error from a broken connection";
    } catch (const ipckit::ConnectionError& e) {
        EXPECT_NE(std::string(e.what()).find("127.0.0.1:" + std::to_string(server.port())),
                  std::string::npos)
            << e.what();
    }
    d.set("after", 2);  // reconnected (the restarted server kept nothing: --save '')
    EXPECT_EQ(d.get("after"), Object(2));
    EXPECT_FALSE(d.contains("before"));
}

// A 3-node Redis Cluster: objects spread over every node, reached through one node's
// address; a slot moved mid-test (keys migrated: ASK, then the slot reassigned: MOVED).
TEST(Redis, ClusterSpreadsObjectsAndFollowsAMovedSlot) {
    REQUIRE_REDIS();
    ipckit::test::RedisCluster cluster(3);
    Manager m = Manager::connect(cluster.url(), "");
    for (int i = 0; i < 30; ++i) {
        DictProxy d = m.dict("obj" + std::to_string(i));
        d.set("i", i);
    }
    for (std::size_t n = 0; n < cluster.size(); ++n)
        EXPECT_GT(cluster.node(n).integer({"DBSIZE"}), 0) << "node " << n << " holds nothing";
    Manager other = Manager::connect(cluster.node(2).url(), "");
    for (int i = 0; i < 30; ++i)
        EXPECT_EQ(other.dict("obj" + std::to_string(i)).get("i"), Object(i));
    // With the slot map loaded, each call goes to the right node at once: no more MOVED.
    auto moved = [&] {
        long long total = 0;
        for (std::size_t n = 0; n < cluster.size(); ++n) {
            std::string info = cluster.text(cluster.node(n), {"INFO", "errorstats"});
            auto at = info.find("errorstat_MOVED:count=");
            if (at != std::string::npos) total += std::stoll(info.substr(at + 22));
        }
        return total;
    };
    long long before = moved();
    EXPECT_GT(before, 0);  // the first calls were redirected (the map was loaded then)
    for (int i = 0; i < 30; ++i)
        EXPECT_EQ(other.dict("obj" + std::to_string(i)).get("i"), Object(i));
    EXPECT_EQ(moved(), before);

    ListProxy l = m.named_list("moving");
    l.extend(List{1, 2, 3});
    auto lock = m.named_lock("moving-lock");
    std::string key = "ipckit:{moving}:l";
    std::string slot = std::to_string(cluster.node(0).integer({"CLUSTER", "KEYSLOT", key}));
    std::size_t source = 0;
    while (cluster.node(source).integer({"EXISTS", key}) != 1)
        ASSERT_LT(++source, cluster.size());
    std::size_t target = (source + 1) % cluster.size();
    auto& src = cluster.node(source);
    auto& dst = cluster.node(target);
    std::string src_id = cluster.text(src, {"CLUSTER", "MYID"});
    std::string dst_id = cluster.text(dst, {"CLUSTER", "MYID"});
    ASSERT_EQ(cluster.text(dst, {"CLUSTER", "SETSLOT", slot, "IMPORTING", src_id}), "OK");
    ASSERT_EQ(cluster.text(src, {"CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id}), "OK");
    redisReply* keys = src.command({"CLUSTER", "GETKEYSINSLOT", slot, "1000"});
    ASSERT_NE(keys, nullptr);
    std::vector<std::string> migrate{"MIGRATE", "127.0.0.1", std::to_string(dst.port()), "", "0",
                                     "5000",    "KEYS"};
    for (std::size_t i = 0; i < keys->elements; ++i)
        migrate.push_back(keys->element[i]->str);
    freeReplyObject(keys);
    ASSERT_EQ(cluster.text(src, migrate), "OK");
    // Keys moved, slot not yet reassigned: the source answers ASK.
    l.append(4);
    EXPECT_EQ(l.copy(), (List{1, 2, 3, 4}));
    for (std::size_t n = 0; n < cluster.size(); ++n) {
        ASSERT_EQ(cluster.text(cluster.node(n), {"CLUSTER", "SETSLOT", slot, "NODE", dst_id}),
                  "OK");
    }
    // Reassigned: the source answers MOVED, the client reloads its slot map.
    l.append(5);
    l.reverse();
    EXPECT_EQ(l.copy(), (List{5, 4, 3, 2, 1}));
    EXPECT_EQ(dst.integer({"EXISTS", key}), 1);
    EXPECT_EQ(cluster.text(src, {"EXISTS", key}).substr(0, 6), "MOVED ");  // not its slot now
    EXPECT_TRUE(lock.acquire());
    lock.release();
    EXPECT_EQ(other.named_list("moving").copy(), (List{5, 4, 3, 2, 1}));
}

TEST(Redis, APasswordComesFromREDISCLI_AUTH) {
    REQUIRE_REDIS();
    RedisServer server({"--requirepass", "s3cret"});
    ::unsetenv("REDISCLI_AUTH");
    EXPECT_THROW(Manager::connect(server.url(), ""), ipckit::AuthenticationError);
    ::setenv("REDISCLI_AUTH", "wrong", 1);
    EXPECT_THROW(Manager::connect(server.url(), ""), ipckit::AuthenticationError);
    ::setenv("REDISCLI_AUTH", "s3cret", 1);
    Manager m = Manager::connect(server.url(), "");
    ::unsetenv("REDISCLI_AUTH");
    m.dict("d").set(1, 2);
    EXPECT_EQ(m.dict("d").get(1), Object(2));
}

TEST(Redis, TheManagerCommandsTakeARedisAddress) {
    REQUIRE_REDIS();
    RedisServer server;
    auto r = ipckit::test::run({ipckit::test::ipckit_program(), "manager", "dict", "scores",
                                "--address", server.url(), "--set", "'bob'=5"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "{'bob': 5}\n");
    Manager m = Manager::connect(server.url(), "");
    EXPECT_EQ(m.dict("scores").get("bob"), Object(5));
    r = ipckit::test::run(
        {ipckit::test::ipckit_program(), "manager", "shutdown", "--address", server.url()});
    EXPECT_EQ(r.exit_code, 2) << r.err;  // Redis is not ours to stop
    EXPECT_EQ(server.integer({"DBSIZE"}) > 0, true);
}

TEST(Redis, BarrierReleasesEveryPartyAndBreaks) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    auto b = m.named_barrier("b", 3);
    EXPECT_EQ(b.parties(), 3);
    EXPECT_EQ(b.repr(), "<Barrier object: parties=3, n_waiting=0, broken=False>");
    std::vector<Process> parties;
    for (int i = 0; i < 2; ++i) {
        parties.emplace_back(
            [](ipckit::BarrierProxy barrier) {
                std::int64_t index = barrier.wait(30s);
                ::_exit(index >= 0 && index < 3 ? 0 : 1);
            },
            b);
        parties.back().start();
    }
    std::int64_t mine = b.wait(30s);  // the three meet, whoever comes last
    EXPECT_GE(mine, 0);
    EXPECT_LT(mine, 3);
    for (auto& p : parties) {
        p.join();
        EXPECT_EQ(p.exitcode(), 0);
    }
    // A wait that times out breaks it for everyone, until reset.
    EXPECT_THROW(b.wait(20ms), ipckit::BrokenBarrierError);
    EXPECT_TRUE(b.broken());
    EXPECT_THROW(b.wait(), ipckit::BrokenBarrierError);
    b.reset();
    EXPECT_FALSE(b.broken());
    EXPECT_EQ(b.n_waiting(), 0);
    b.abort();
    EXPECT_TRUE(b.broken());
    EXPECT_THROW(m.barrier(0), ipckit::ValueError);
}

TEST(Redis, AKilledSemaphoreHoldersUnitComesBack) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url("lease_ms=1000"), "");
    auto s = m.named_semaphore("units", 1);
    Signal holding;
    Process holder(
        [&](ipckit::SemaphoreProxy sem) {
            sem.acquire();
            holding.post();
            ::pause();
        },
        s);
    holder.start();
    holding.wait();
    EXPECT_FALSE(s.acquire(false));
    holder.kill();
    holder.join();
    ipckit::Acquired a = s.acquire(true, 30s);
    ASSERT_TRUE(a);
    EXPECT_TRUE(a.recovered());
    s.release();
}

// Threads of one process share a manager: each has its own connection.
TEST(Redis, ThreadsShareOneManager) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    ListProxy l = m.list();
    auto q = m.queue();
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 500; ++i)
                l.append(t * 500 + i);
            q.put(t);
        });
    }
    std::int64_t sum = 0;
    for (int t = 0; t < 4; ++t)
        sum += q.get(true, 30s).as_int();  // a blocking get while others put
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(sum, 0 + 1 + 2 + 3);
    EXPECT_EQ(l.size(), 2000u);
}

// A server without Functions (as Redis 6; here FUNCTION is renamed away): scripts instead.
TEST(Redis, AServerWithoutFunctionsRunsTheScripts) {
    REQUIRE_REDIS();
    RedisServer server({"--rename-command", "FUNCTION", ""});
    Manager m = Manager::connect(server.url(), "");
    ListProxy l = m.named_list("l");
    l.extend(List{3, 1, 2});
    l.sort();
    EXPECT_EQ(l.copy(), (List{1, 2, 3}));
    EXPECT_EQ(m.dict("d").setdefault("k", 1), Object(1));
    redisReply* r = server.command({"SCRIPT", "FLUSH"});  // as after a restart: EVAL again
    if (r) freeReplyObject(r);
    l.reverse();
    EXPECT_EQ(l.copy(), (List{3, 2, 1}));
}

// Our CRC16 key slots are the server's (CLUSTER KEYSLOT), hash tags included.
TEST(Redis, KeySlotsMatchTheServers) {
    REQUIRE_REDIS();
    RedisServer node({"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"});
    std::vector<std::string> keys{"",
                                  "a",
                                  "ipckit:{scores}:h",
                                  "{}x",
                                  "{a}{b}",
                                  "x{}{y}",
                                  "{user1000}.following",
                                  "foo{bar",
                                  "ipckit:{anon:0123456789abcdef}:l"};
    for (int i = 0; i < 200; ++i)
        keys.push_back("key:" + std::to_string(i * 7919) +
                       (i % 3 == 0 ? "{t" + std::to_string(i) + "}" : ""));
    for (const auto& key : keys) {
        EXPECT_EQ(static_cast<long long>(ipckit::detail::redis::key_slot(key)),
                  node.integer({"CLUSTER", "KEYSLOT", key}))
            << key;
    }
}

namespace {
// An error's message without the "manager at ADDRESS: " / "redis at ADDRESS: " that names
// the server, and with a proxy's id as "at 0x?" (the rest must be the same on both back ends).
std::string unprefixed(const std::string& message) {
    std::string out = message;
    for (const char* prefix : {"manager at ", "redis at "}) {
        if (out.rfind(prefix, 0) == 0) {
            auto colon = out.find(": ");
            if (colon != std::string::npos) out = out.substr(colon + 2);
        }
    }
    return std::regex_replace(out, std::regex("at 0x[0-9a-f]+"), "at 0x?");
}

// Runs f, logging what it did: "what ok RESULT" or "what threw TYPE MESSAGE".
template <class F>
void attempt_into(std::vector<std::string>& log, const std::string& what, F f) {
    try {
        log.push_back(what + " ok " + f());
    } catch (const ipckit::Error& e) {
        log.push_back(what + " threw " + typeid(e).name() + " " + unprefixed(e.what()));
    }
}

}  // namespace

TEST(Redis, NamespaceValueArrayEveryMethodMatchesTheIpckitServer) {
    REQUIRE_REDIS();
    expect_same_on_redis_and_ipckit([](Manager& m, std::vector<std::string>& log) {
        auto attempt = [&](const std::string& what, auto f) { attempt_into(log, what, f); };
        // Namespace
        auto ns = m.namespace_();
        attempt("ns repr empty", [&] { return ns.repr(); });
        ns.set("x", 1);
        ns.set("b", "text");
        ns.set("a", List{1, 2.5, Object()});
        ns.set("x", 2);  // replaced
        attempt("ns repr", [&] { return ns.repr(); });
        attempt("ns get", [&] { return ns.get("x").repr() + ns.get("a").repr(); });
        attempt("ns get absent", [&] { return ns.get("nope").repr(); });
        attempt("ns get default", [&] { return ns.get("nope", 7).repr(); });
        attempt("ns contains", [&] {
            return std::to_string(ns.contains("b")) + std::to_string(ns.contains("c"));
        });
        attempt("ns copy", [&] { return Object(ns.copy()).repr(); });
        attempt("ns erase", [&] {
            ns.erase("b");
            return ns.repr();
        });
        attempt("ns erase absent", [&] {
            ns.erase("b");
            return std::string();
        });
        attempt("ns set _private", [&] {
            ns.set("_x", 1);
            return std::string();
        });
        attempt("ns set empty name", [&] {
            ns.set("", 1);
            return std::string();
        });
        attempt("ns get _private", [&] { return ns.get("_x").repr(); });
        attempt("ns contains _private", [&] { return std::to_string(ns.contains("_x")); });
        auto named = m.named_namespace("cfg");
        named.set("k", "v");
        attempt("ns named reopened", [&] { return m.named_namespace("cfg").repr(); });
        attempt("ns named as a Value", [&] { return m.named_value("cfg", 'i', 0).repr(); });

        // Value
        auto v = m.value('i', 5);
        attempt("value repr", [&] { return v.repr(); });
        attempt("value get", [&] { return v.get().repr(); });
        v.set(-7);
        attempt("value set", [&] { return v.repr(); });
        v.set(true);
        attempt("value set bool", [&] { return v.repr(); });
        attempt("value set overflow", [&] {
            v.set(std::int64_t{1} << 40);
            return v.repr();
        });
        attempt("value set str", [&] {
            v.set("s");
            return v.repr();
        });
        attempt("value set float to i", [&] {
            v.set(1.5);
            return v.repr();
        });
        auto d = m.value('d', 1);
        attempt("value d", [&] { return d.repr(); });
        d.set(2.25);
        attempt("value d set", [&] { return d.repr() + " " + d.get().repr(); });
        auto c = m.value('u', "é");
        attempt("value u", [&] { return c.repr(); });
        attempt("value u two chars", [&] {
            c.set("ab");
            return c.repr();
        });
        attempt("value B negative", [&] { return m.value('B', -1).repr(); });
        attempt("value b range", [&] { return m.value('b', 200).repr(); });
        attempt("value H range", [&] { return m.value('H', 70000).repr(); });
        attempt("value I negative", [&] { return m.value('I', -1).repr(); });
        attempt("value bad typecode", [&] { return m.value('x', 1).repr(); });
        auto nv = m.named_value("counter", 'q', 1);
        nv.set(3);
        attempt("value named reopened", [&] { return m.named_value("counter", 'i', 99).repr(); });

        // Array
        auto a = m.array('i', List{1, 2, 3});
        attempt("array repr", [&] { return a.repr(); });
        attempt("array size", [&] { return std::to_string(a.size()); });
        attempt("array get", [&] { return a.get(0).repr() + a.get(-1).repr(); });
        attempt("array get out of range", [&] { return a.get(3).repr(); });
        attempt("array get negative out of range", [&] { return a.get(-4).repr(); });
        a.set(1, 20);
        a.set(-1, 30);
        attempt("array set", [&] { return a.repr(); });
        attempt("array set out of range", [&] {
            a.set(5, 1);
            return a.repr();
        });
        attempt("array set out of range, bad item", [&] {
            a.set(5, "x");
            return a.repr();
        });
        attempt("array set bad item", [&] {
            a.set(0, "x");
            return a.repr();
        });
        attempt("array set overflow", [&] {
            a.set(0, std::int64_t{1} << 35);
            return a.repr();
        });
        attempt("array copy", [&] { return Object(a.copy()).repr(); });
        attempt("array f", [&] { return m.array('f', List{0.1, 2}).repr(); });
        attempt("array d", [&] { return m.array('d', List{1, true}).repr(); });
        attempt("array u", [&] { return m.array('u', List{"a", "é"}).repr(); });
        attempt("array empty", [&] { return m.array('q', List{}).repr(); });
        attempt("array bad item", [&] { return m.array('h', List{1, 40000}).repr(); });
        attempt("array bad typecode", [&] { return m.array('z', List{1}).repr(); });
        attempt("array u bad item", [&] { return m.array('u', List{"ab"}).repr(); });
        auto na = m.named_array("arr", 'b', List{1, 2});
        attempt("array named reopened", [&] { return m.named_array("arr", 'd', List{}).repr(); });
        attempt("array named set", [&] {
            m.named_array("arr", 'd', List{}).set(0, 1.5);  // the stored typecode: b
            return na.repr();
        });
    });
}

TEST(Redis, ConditionEveryMethodMatchesTheIpckitServer) {
    REQUIRE_REDIS();
    expect_same_on_redis_and_ipckit([](Manager& m, std::vector<std::string>& log) {
        auto attempt = [&](const std::string& what, auto f) { attempt_into(log, what, f); };
        auto c = m.condition();
        attempt("repr", [&] { return c.repr(); });
        attempt("wait unheld", [&] { return std::to_string(c.wait(10ms)); });
        attempt("notify unheld", [&] {
            c.notify();
            return std::string();
        });
        attempt("notify_all unheld", [&] {
            c.notify_all();
            return std::string();
        });
        c.acquire();
        c.acquire();
        attempt("repr held twice", [&] { return c.repr(); });
        attempt("wait times out", [&] { return std::to_string(c.wait(20ms)); });
        attempt("held again, both levels", [&] { return c.repr(); });
        attempt("wait 0", [&] { return std::to_string(c.wait(0ms)); });
        attempt("notify nobody", [&] {
            c.notify();
            c.notify(3);
            c.notify_all();
            return c.repr();
        });
        attempt("wait_for true", [&] { return std::to_string(c.wait_for([] { return true; })); });
        attempt("wait_for timeout",
                [&] { return std::to_string(c.wait_for([] { return false; }, 20ms)); });
        c.release();
        c.release();
        attempt("released", [&] { return c.repr(); });
        attempt("release again", [&] {
            c.release();
            return std::string();
        });

        auto lock = m.named_lock("cv-lock");
        auto plain = m.named_condition("cv", lock);
        attempt("over a Lock", [&] { return plain.repr(); });
        {
            auto held = plain.guard();
            attempt("over a Lock, held", [&] { return plain.repr(); });
            attempt("over a Lock, wait", [&] { return std::to_string(plain.wait(10ms)); });
            attempt("over a Lock, after", [&] { return plain.repr(); });
        }
        auto again = m.named_condition("cv");  // made before: its own lock
        attempt("reopened", [&] { return again.repr(); });
        lock.acquire();
        attempt("reopened shares the lock", [&] { return again.repr(); });
        lock.release();
        attempt("over a Semaphore", [&] { return m.condition(m.semaphore(1)).repr(); });
    });
}

TEST(Redis, AConditionNotifiedAcrossProcesses) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    auto c = m.condition();  // anonymous, over an anonymous RLock
    {
        // Two waiters in other processes, each holding the lock when it posts: once the
        // parent holds the lock, both are queued in wait (which released it).
        Signal holding;
        auto waiter = [&](ipckit::ConditionProxy cv) {
            cv.acquire();
            holding.post();
            bool notified = cv.wait(60s);
            bool held = cv.repr().rfind("<Condition(<locked RLock object count=1>", 0) == 0;
            cv.release();
            if (!notified || !held) throw std::runtime_error("not notified, or the lock not held");
        };
        Process a(waiter, c), b(waiter, c);
        a.start();
        b.start();
        holding.wait();
        holding.wait();
        c.acquire();
        EXPECT_EQ(c.repr(), "<Condition(<locked RLock object count=1>, 2)>");
        c.notify();  // one of them
        EXPECT_EQ(c.repr(), "<Condition(<locked RLock object count=1>, 1)>");
        c.notify_all();
        EXPECT_EQ(c.repr(), "<Condition(<locked RLock object count=1>, 0)>");
        c.release();
        a.join();
        b.join();
        EXPECT_EQ(a.exitcode(), 0);
        EXPECT_EQ(b.exitcode(), 0);

        // Python's producer/consumer: wait_for a predicate another process makes true.
        auto ns = m.namespace_();
        ns.set("ready", false);
        Process consumer(
            [](ipckit::ConditionProxy cv, ipckit::NamespaceProxy n) {
                bool ok = false;
                {
                    auto held = cv.guard();
                    ok = cv.wait_for([&] { return n.get("ready").as_bool(); }, 60s);
                }
                if (!ok) throw std::runtime_error("wait_for timed out");
            },
            c, ns);
        consumer.start();
        {
            auto held = c.guard();
            ns.set("ready", true);
            c.notify_all();
        }
        consumer.join();
        EXPECT_EQ(consumer.exitcode(), 0);
    }
}

TEST(Redis, AnAnonymousConditionAndItsLockGoWithTheirLastProxies) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    {
        auto c = m.condition();
        auto held = c.guard();
        EXPECT_FALSE(c.wait(10ms));
        c.notify_all();
        auto again = ipckit::Manager::proxy<ipckit::ConditionProxy>(Object(c));  // its lock: a ref
        EXPECT_EQ(again.repr(), "<Condition(<locked RLock object count=1>, 0)>");
        auto ns = m.namespace_();
        ns.set("x", 1);
        auto v = m.value('d', 1.5);
        auto a = m.array('i', List{1, 2});
        EXPECT_GT(server.integer({"DBSIZE"}), 0);
    }
    redisReply* keys = server.command({"KEYS", "*"});
    ASSERT_NE(keys, nullptr);
    std::string left;
    for (std::size_t i = 0; i < keys->elements; ++i)
        left += std::string(keys->element[i]->str) + " ";
    freeReplyObject(keys);
    EXPECT_EQ(left, "");
}

TEST(Redis, AValueIncrementedUnderALockByFourProcessesCountsExactly) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    auto lock = m.named_lock("value-lock");
    auto v = m.named_value("total", 'i', 0);
    constexpr int per_process = 300;
    std::vector<Process> workers;
    workers.reserve(4);
    for (int w = 0; w < 4; ++w) {
        workers.emplace_back(
            [](ipckit::LockProxy l, ipckit::ValueProxy value) {
                for (int i = 0; i < per_process; ++i) {
                    auto held = l.guard();
                    value.set(value.get().as_int() + 1);  // read, then write
                }
            },
            lock, v);
    }
    for (auto& p : workers)
        p.start();
    for (auto& p : workers) {
        p.join();
        EXPECT_EQ(p.exitcode(), 0);
    }
    EXPECT_EQ(v.get(), Object(4 * per_process));
    EXPECT_EQ(v.repr(), "Value('i', 1200)");
}

// In a Cluster a Condition and its lock may live on different nodes: wait and notify still
// work (no script touches both); Namespace, Value and Array read back through another node.
TEST(Redis, ClusterConditionOverALockOnAnotherNode) {
    REQUIRE_REDIS();
    ipckit::test::RedisCluster cluster(3);
    Manager m = Manager::connect(cluster.url(), "");
    auto node_of = [&](const std::string& key) {
        for (std::size_t n = 0; n < cluster.size(); ++n) {
            if (cluster.node(n).integer({"EXISTS", key}) == 1) return n;
        }
        return cluster.size();
    };
    auto lock = m.named_lock("cl-lock");
    std::size_t lock_node = node_of("ipckit:{cl-lock}:meta");
    ASSERT_LT(lock_node, cluster.size());
    std::string name;
    for (int i = 0; name.empty(); ++i) {
        ASSERT_LT(i, 100);
        std::string candidate = "cv" + std::to_string(i);
        m.named_condition(candidate, lock);
        std::size_t n = node_of("ipckit:{" + candidate + "}:meta");
        ASSERT_LT(n, cluster.size());
        if (n != lock_node) name = candidate;
    }
    auto c = m.named_condition(name, lock);
    Signal holding;
    Process waiter(
        [&](ipckit::ConditionProxy cv) {
            cv.acquire();
            holding.post();
            bool notified = cv.wait(60s);
            cv.release();
            if (!notified) throw std::runtime_error("not notified");
        },
        c);
    waiter.start();
    holding.wait();
    {
        auto held = c.guard();  // the waiter released the lock in wait: it is queued
        EXPECT_EQ(c.repr(), "<Condition(<locked Lock object>, 1)>");
        c.notify();
    }
    waiter.join();
    EXPECT_EQ(waiter.exitcode(), 0);

    Manager other = Manager::connect(cluster.node((lock_node + 1) % cluster.size()).url(), "");
    m.named_namespace("cl-ns").set("x", List{1, "a"});
    m.named_value("cl-v", 'd', 0.5).set(2);
    m.named_array("cl-a", 'u', List{"a", "b"}).set(1, "z");
    EXPECT_EQ(other.named_namespace("cl-ns").repr(), "Namespace(x=[1, 'a'])");
    EXPECT_EQ(other.named_value("cl-v", 'd', 0).repr(), "Value('d', 2)");
    EXPECT_EQ(other.named_array("cl-a", 'u', List{}).repr(), "array('u', 'az')");
    EXPECT_EQ(other.named_condition(name).repr(), "<Condition(<unlocked Lock object>, 0)>");
}

// A waiter killed in wait stays queued until its lease ends; then a notify passes it over
// and wakes the next (the ipckit server drops a waiter whose connection closed).
TEST(Redis, ANotifySkipsAWaiterThatDied) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url("lease_ms=1000"), "");
    auto c = m.named_condition("cv", m.named_lock("cv-lock"));
    Signal holding;
    auto waiter = [&](ipckit::ConditionProxy cv) {
        cv.acquire();
        holding.post();
        bool notified = cv.wait(60s);
        cv.release();
        if (!notified) throw std::runtime_error("not notified");
    };
    Process doomed(waiter, c);
    doomed.start();
    holding.wait();
    c.acquire();  // the doomed waiter is queued
    c.release();
    ASSERT_EQ(::kill(doomed.pid(), SIGKILL), 0);
    doomed.join();
    EXPECT_EQ(doomed.exitcode(), -SIGKILL);
    Process live(waiter, c);
    live.start();
    holding.wait();
    c.acquire();
    EXPECT_EQ(c.repr(), "<Condition(<locked Lock object>, 2)>");
    auto alive_marks = [&] {
        redisReply* keys = server.command({"KEYS", "ipckit:{cv}:w:*:a"});
        std::size_t n = keys ? keys->elements : 0;
        if (keys) freeReplyObject(keys);
        return n;
    };
    // The dead waiter's mark expires within the lease (a bounded wait on Redis's state).
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (alive_marks() != 1) {
        ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the dead waiter's mark stayed";
        std::this_thread::sleep_for(20ms);
    }
    c.notify();  // passes over the dead waiter
    EXPECT_EQ(c.repr(), "<Condition(<locked Lock object>, 0)>");
    c.release();
    live.join();
    EXPECT_EQ(live.exitcode(), 0);
}

// An unbounded named queue's put and get are plain RPUSH and LPOP (no function): the items
// are the queue's list, in order with those put through the function (an anonymous queue
// shares nothing with it, so a JoinableQueue of the same kind is checked too), and a get
// blocked in another process is woken by a put.
TEST(Redis, AnUnboundedQueuesPlainCommandsKeepItsOrderAndWakeAGetter) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    auto q = m.named_queue("plain");
    EXPECT_EQ(q.maxsize(), 0);
    for (int i = 0; i < 3; ++i)
        q.put(i);
    EXPECT_EQ(server.integer({"LLEN", "ipckit:{plain}:q"}), 3);
    EXPECT_EQ(q.qsize(), 3u);
    for (int i = 0; i < 3; ++i)
        EXPECT_EQ(q.get_nowait(), Object(i));
    EXPECT_THROW(q.get_nowait(), ipckit::Empty);
    try {
        q.get(true, 50ms);
        FAIL();
    } catch (const ipckit::Empty& e) {
        EXPECT_TRUE(e.timed_out());
    }
    // The same queue opened by name with a maxsize keeps the one it was made with.
    EXPECT_EQ(m.named_queue("plain", 5).maxsize(), 0);
    Signal waiting;
    Process getter(
        [&](ipckit::QueueProxy queue) {
            waiting.post();
            if (queue.get(true, 30s) != Object("woken")) ::_exit(4);
        },
        q);
    getter.start();
    waiting.wait();
    q.put("woken");
    getter.join();
    EXPECT_EQ(getter.exitcode(), 0);
    // A JoinableQueue's put still counts its task.
    auto jq = m.named_joinable_queue("plain-joinable");
    jq.put(1);
    EXPECT_FALSE(jq.join(20ms));
    EXPECT_EQ(jq.get(), Object(1));
    jq.task_done();
    EXPECT_TRUE(jq.join(30s));
}

// A lock's acquire first tries without registering a waiter; only a blocking acquire that
// found the lock held registers one (and is woken by the release), then leaves nothing
// behind: no waiter in the set, no waiter key.
TEST(Redis, AContendedAcquireRegistersItsWaiterOnlyAfterAFailedTry) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    auto lock = m.named_lock("contended");
    ASSERT_TRUE(lock.acquire());
    EXPECT_FALSE(lock.acquire(false));  // a failed try: nothing registered
    EXPECT_EQ(server.integer({"SCARD", "ipckit:{contended}:W:lock"}), 0);
    Signal acquired;
    Process waiter(
        [&](ipckit::LockProxy l) {
            ipckit::Acquired a = l.acquire(true, 30s);
            if (!a || a.recovered()) ::_exit(4);
            acquired.post();
            l.release();
        },
        lock);
    waiter.start();
    // Its waiter is registered once its first try failed (a bounded wait on that state).
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (server.integer({"SCARD", "ipckit:{contended}:W:lock"}) != 1 &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
    }
    ASSERT_EQ(server.integer({"SCARD", "ipckit:{contended}:W:lock"}), 1);
    lock.release();
    acquired.wait();
    waiter.join();
    EXPECT_EQ(waiter.exitcode(), 0);
    EXPECT_EQ(server.integer({"SCARD", "ipckit:{contended}:W:lock"}), 0);
    EXPECT_EQ(server.integer({"KEYS", "ipckit:{contended}:w:*"}), 0);
    EXPECT_FALSE(lock.acquire().recovered());
    lock.release();
}

// update() sends its pairs in chunks of 500: a chunk of known keys leaves the insertion
// order alone (their values change in place), a chunk with new keys appends them in order.
TEST(Redis, ALargeUpdateKeepsPythonsInsertionOrder) {
    REQUIRE_REDIS();
    RedisServer server;
    Manager m = Manager::connect(server.url(), "");
    DictProxy d = m.dict("ordered");
    Dict expected;
    Dict first;
    for (std::int64_t i = 0; i < 1200; ++i)
        first.set(Object(i), Object(i));
    d.update(first);
    expected = first;
    // 600 known keys (first chunk all known), then 600 new ones mixed with known ones.
    Dict second;
    for (std::int64_t i = 599; i >= 0; --i)
        second.set(Object(i), Object(-i));
    for (std::int64_t i = 0; i < 600; ++i) {
        second.set(Object(5000 + i), Object(i));
        second.set(Object(600 + i), Object(-i));
    }
    d.update(second);
    for (const auto& [k, v] : second)
        expected.set(k, v);
    List keys;
    List values;
    for (const auto& [k, v] : expected) {
        keys.push_back(k);
        values.push_back(v);
    }
    EXPECT_EQ(d.keys(), keys);
    EXPECT_EQ(d.values(), values);
    EXPECT_EQ(d.size(), 1800u);
    EXPECT_EQ(server.integer({"ZCARD", "ipckit:{ordered}:o"}), 1800);
}
