// ipckit::Pool with real worker processes: map/imap/imap_unordered against the serial
// result, apply_async timeouts, errors raised in tasks, a worker SIGKILLed mid-task,
// terminate with tasks running, close/join. Tasks that must be "running" block on a pipe
// the test controls and report their pid on another, so nothing here sleeps to synchronise.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "ipckit/pool.hpp"
#include "ipckit/range.hpp"
#include "ipckit/repr.hpp"
#include "ipckit/signals.hpp"
#include "support.hpp"

namespace {

using namespace std::chrono_literals;

std::int64_t square(std::int64_t x) {
    return x * x;
}

int fails_on_13(int x) {
    if (x == 13) throw ipckit::ValueError("unlucky " + std::to_string(x));
    return x;
}

// A pipe whose ends every worker inherits (made before the pool).
struct TestPipe {
    int fds[2] = {-1, -1};
    TestPipe() {
        if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    }
    ~TestPipe() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
    int read_end() const { return fds[0]; }
    int write_end() const { return fds[1]; }
};

// Reads exactly n bytes, waiting at most 20 s in all (false on timeout or EOF).
bool read_exactly(int fd, void* out, std::size_t n) {
    auto* p = static_cast<char*>(out);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (n > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd pfd{fd, POLLIN, 0};
        if (::poll(&pfd, 1, static_cast<int>(left.count())) <= 0) continue;
        const ssize_t r = ::read(fd, p, n);
        if (r == 0) return false;
        if (r < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += r;
        n -= static_cast<std::size_t>(r);
    }
    return true;
}

// Reads one byte from `fd` (blocks until the test writes it) and returns it.
int wait_for_byte(int fd) {
    char c = 0;
    if (::read(fd, &c, 1) != 1) throw ipckit::Error(errno, "read failed");
    return c;
}

// Ends its worker as a task that calls exit() would.
int end_the_worker(int code) {
    ::_exit(code);
}

// Tells the test its pid on `started`, then blocks on `release` (until the test writes a
// byte there, or for ever: every worker holds the pipe's write end).
int report_and_block(int started, int release) {
    const pid_t pid = ::getpid();
    if (::write(started, &pid, sizeof pid) != sizeof pid) throw ipckit::Error(errno, "write");
    char c = 0;
    if (::read(release, &c, 1) != 1) throw ipckit::Error(errno, "read");
    return static_cast<int>(pid);
}

// An item of the order tests: item 0 waits for a byte on `release`; the others write a byte
// on `done` when they have run.
struct Gated {
    int x;
    int release;
    int done;
};
int gated_times_ten(Gated g) {
    char c = 0;
    if (g.x == 0) {
        if (::read(g.release, &c, 1) != 1) throw ipckit::Error(errno, "read");
    } else if (::write(g.done, "d", 1) != 1) {
        throw ipckit::Error(errno, "write");
    }
    return g.x * 10;
}

TEST(Pool, MapOf100000ItemsEqualsTheSerialResult) {
    ipckit::Pool pool(4);
    auto squares = pool.map(square, ipckit::range(100000));
    std::vector<std::int64_t> serial;
    for (auto x : ipckit::range(100000))
        serial.push_back(square(x));
    EXPECT_EQ(squares, serial);
    // And with an explicit chunksize, and a lambda without captures.
    auto plus_one = pool.map([](int x) { return x + 1; }, std::vector<int>{1, 2, 3}, 2);
    EXPECT_EQ(plus_one, (std::vector<int>{2, 3, 4}));
    EXPECT_TRUE(pool.map(square, std::vector<std::int64_t>{}).empty());
}

TEST(Pool, ImapKeepsTheItemsOrder) {
    ipckit::Pool pool(3);
    std::vector<std::int64_t> got;
    for (auto x : pool.imap(square, ipckit::range(2000)))
        got.push_back(x);
    ASSERT_EQ(got.size(), 2000u);
    for (std::int64_t i = 0; i < 2000; ++i)
        ASSERT_EQ(got[static_cast<std::size_t>(i)], i * i) << i;
    auto it = pool.imap(square, ipckit::range(10), 3);
    for (std::int64_t i = 0; i < 10; ++i)
        EXPECT_EQ(it.next(20s), i * i);
    EXPECT_FALSE(it.next(20s));
}

TEST(Pool, ImapWaitsForTheFirstItemWhileLaterOnesAreDone) {
    TestPipe release, done;
    ipckit::Pool pool(3);
    std::vector<Gated> items;
    for (int x : {0, 1, 2})
        items.push_back({x, release.read_end(), done.write_end()});
    auto it = pool.imap(gated_times_ten, items);
    char both[2];
    ASSERT_TRUE(read_exactly(done.read_end(), both, 2));    // items 1 and 2 ran
    EXPECT_THROW(it.next(50ms), ipckit::PoolTimeoutError);  // item 0 cannot have
    ASSERT_EQ(::write(release.write_end(), "r", 1), 1);
    EXPECT_EQ(it.next(20s), 0);
    EXPECT_EQ(it.next(20s), 10);
    EXPECT_EQ(it.next(20s), 20);
    EXPECT_FALSE(it.next(20s));
}

TEST(Pool, ImapUnorderedYieldsResultsAsTheyFinish) {
    TestPipe release, done;
    ipckit::Pool pool(3);
    std::vector<Gated> items;
    for (int x : {0, 1, 2})
        items.push_back({x, release.read_end(), done.write_end()});
    auto it = pool.imap_unordered(gated_times_ten, items);
    std::set<int> first_two{*it.next(20s), *it.next(20s)};  // while item 0 still waits
    EXPECT_EQ(first_two, (std::set<int>{10, 20}));
    EXPECT_THROW(it.next(50ms), ipckit::PoolTimeoutError);
    ASSERT_EQ(::write(release.write_end(), "r", 1), 1);
    EXPECT_EQ(it.next(20s), 0);
    EXPECT_FALSE(it.next(20s));
}

TEST(Pool, ImapUnorderedReturnsEveryResultOnce) {
    ipckit::Pool pool(3);
    std::multiset<std::int64_t> got;
    for (auto x : pool.imap_unordered(square, ipckit::range(3000), 7))
        got.insert(x);
    std::multiset<std::int64_t> expected;
    for (auto x : ipckit::range(3000))
        expected.insert(x * x);
    EXPECT_EQ(got, expected);
}

TEST(Pool, ApplyAsyncGetTimesOutWhileTheTaskBlocks) {
    TestPipe gate;
    ipckit::Pool pool(2);
    auto result = pool.apply_async(wait_for_byte, gate.read_end());
    const auto start = std::chrono::steady_clock::now();
    EXPECT_THROW(result.get(100ms), ipckit::PoolTimeoutError);
    const auto waited = std::chrono::steady_clock::now() - start;
    EXPECT_GE(waited, 100ms);
    EXPECT_LT(waited, 10s);  // generous: a loaded machine
    EXPECT_FALSE(result.ready());
    EXPECT_FALSE(result.wait(1ms));
    EXPECT_THROW(result.successful(), ipckit::ValueError);
    // Other tasks go on meanwhile, on the other worker.
    EXPECT_EQ(pool.apply(square, 12), 144);
    ASSERT_EQ(::write(gate.write_end(), "x", 1), 1);
    EXPECT_EQ(result.get(20s), 'x');
    EXPECT_TRUE(result.ready());
    EXPECT_TRUE(result.successful());
}

TEST(Pool, AnExceptionInATaskComesBackInItsResult) {
    ipckit::Pool pool(2);
    auto r = pool.apply_async(fails_on_13, 13);
    try {
        r.get(20s);
        FAIL() << "get() did not throw";
    } catch (const ipckit::TaskError& e) {
        EXPECT_NE(std::string(e.what()).find("ipckit::ValueError: unlucky 13"), std::string::npos)
            << e.what();
    }
    EXPECT_FALSE(r.successful());
    EXPECT_THROW(pool.map(fails_on_13, ipckit::range(100)), ipckit::TaskError);
    // The workers survive their tasks' exceptions.
    EXPECT_EQ(pool.apply(fails_on_13, 12), 12);
    EXPECT_EQ(pool.replacements(), 0u);
}

TEST(Pool, ObjectsAndStringsAsArgumentsAndResults) {
    ipckit::Pool pool(2);
    auto tagged = pool.apply(
        [](const ipckit::Object& o, const std::string& tag) {
            return ipckit::Object::list({o, tag});
        },
        ipckit::Object::list({1, "two"}), "seen");
    EXPECT_EQ(ipckit::repr(tagged), "[[1, 'two'], 'seen']");
    auto lengths = pool.map([](const std::string& s) { return s.size(); },
                            std::vector<std::string>{"a", "bb", std::string(100000, 'c')});
    EXPECT_EQ(lengths, (std::vector<std::size_t>{1, 2, 100000}));
}

TEST(Pool, AWorkerKilledMidTaskFailsThatTaskAndThePoolFinishesTheRest) {
    TestPipe started, release;
    ipckit::Pool pool(2);
    auto blocked = pool.apply_async(report_and_block, started.write_end(), release.read_end());
    pid_t victim = 0;
    ASSERT_TRUE(read_exactly(started.read_end(), &victim, sizeof victim));
    auto pids = pool.pids();
    ASSERT_NE(std::find(pids.begin(), pids.end(), victim), pids.end());
    auto rest = pool.map_async(square, ipckit::range(50000));
    ASSERT_EQ(::kill(victim, SIGKILL), 0);
    try {
        blocked.get(30s);
        FAIL() << "get() did not throw";
    } catch (const ipckit::WorkerLostError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find(std::to_string(victim)), std::string::npos) << what;
        EXPECT_NE(what.find("SIGKILL"), std::string::npos) << what;
    }
    auto squares = rest.get(60s);
    ASSERT_EQ(squares.size(), 50000u);
    for (std::int64_t i = 0; i < 50000; ++i)
        ASSERT_EQ(squares[static_cast<std::size_t>(i)], i * i);
    EXPECT_EQ(pool.replacements(), 1u);
    pids = pool.pids();
    EXPECT_EQ(pids.size(), 2u);
    EXPECT_EQ(std::find(pids.begin(), pids.end(), victim), pids.end());
    // The replacement works too.
    EXPECT_EQ(pool.map(square, ipckit::range(100)).back(), 99 * 99);
    pool.close();
    pool.join();
}

// Workers SIGKILLed at random moments of a long imap_unordered: every task either returns
// its right result or fails with WorkerLostError, at most one task per kill fails, and
// every killed worker is replaced.
TEST(Pool, WorkersKilledAtRandomDuringAnImapLoseOnlyTheirTasks) {
    ipckit::Pool pool(3);
    constexpr int items = 20000;
    auto it = pool.imap_unordered(square, ipckit::range(items), 1);
    std::mt19937 random(std::random_device{}());
    constexpr std::size_t kills = 10;
    std::set<std::int64_t> got;
    std::size_t failed = 0;
    auto take = [&] {
        try {
            auto x = it.next(60s);
            if (!x) return false;
            EXPECT_TRUE(got.insert(*x).second) << *x;
            return true;
        } catch (const ipckit::WorkerLostError&) {
            ++failed;
            return true;
        }
    };
    for (std::size_t k = 0; k < kills; ++k) {
        for (int i = 0, n = static_cast<int>(random() % 500); i < n; ++i)
            ASSERT_TRUE(take());
        auto pids = pool.pids();
        ASSERT_EQ(pids.size(), 3u);
        ASSERT_EQ(::kill(pids[random() % pids.size()], SIGKILL), 0);
        // The supervisor reaps and replaces it before the next kill picks a victim.
        ASSERT_TRUE(ipckit::test::wait_until([&] { return pool.replacements() == k + 1; }));
    }
    while (take()) {
    }
    EXPECT_LE(failed, kills);
    EXPECT_EQ(got.size() + failed, static_cast<std::size_t>(items));
    for (auto x : got) {
        const auto root =
            static_cast<std::int64_t>(std::llround(std::sqrt(static_cast<double>(x))));
        EXPECT_EQ(root * root, x);
    }
    EXPECT_EQ(pool.replacements(), kills);
}

// request_stop() is for the program's own blocking calls: the pool's threads, whose queue
// waits would otherwise throw InterruptedError (and retry 10 ms later) while the stop stays
// requested, go on at full speed.
TEST(Pool, AStopRequestDoesNotStallThePool) {
    ipckit::Pool pool(2);
    struct ClearStop {
        ~ClearStop() { ipckit::clear_stop(); }
    } clear;
    ipckit::request_stop();
    // One task at a time: each time, the collector waits for a result.
    const auto start = std::chrono::steady_clock::now();
    std::int64_t sum = 0;
    for (std::int64_t i = 0; i < 2000; ++i)
        sum += pool.apply(square, i);
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(sum, std::int64_t{2664667000});
    // With the pool's threads obeying the stop (a 10 ms pause per interrupted wait), 1,000
    // applies took 5.6 s here; now 2,000 take a fraction of a second. 5 s is a generous bound
    // for a loaded machine and the sanitizers.
    EXPECT_LT(took, 5s);
    EXPECT_TRUE(ipckit::stop_requested());
}

TEST(Pool, ATaskThatEndsItsWorkerFailsAndThePoolGoesOn) {
    ipckit::Pool pool(2);
    for (int code : {0, 3}) {
        try {
            pool.apply(end_the_worker, code);
            FAIL() << "apply did not throw";
        } catch (const ipckit::WorkerLostError& e) {
            EXPECT_NE(std::string(e.what()).find("exited with status " + std::to_string(code)),
                      std::string::npos)
                << e.what();
        }
    }
    EXPECT_EQ(pool.replacements(), 2u);
    EXPECT_EQ(pool.map(square, ipckit::range(1000)).back(), 999 * 999);
    EXPECT_EQ(pool.pids().size(), 2u);
}

TEST(Pool, TerminateWithTasksRunningFailsThemAndReapsTheWorkers) {
    TestPipe started, release;
    ipckit::Pool pool(2);
    auto a = pool.apply_async(report_and_block, started.write_end(), release.read_end());
    auto b = pool.apply_async(report_and_block, started.write_end(), release.read_end());
    auto queued = pool.map_async(square, ipckit::range(10));  // no worker free for these
    pid_t pids[2] = {0, 0};
    ASSERT_TRUE(read_exactly(started.read_end(), pids, sizeof pids));
    pool.terminate();
    EXPECT_THROW(a.get(1s), ipckit::WorkerLostError);
    EXPECT_THROW(b.get(1s), ipckit::WorkerLostError);
    EXPECT_THROW(queued.get(1s), ipckit::WorkerLostError);
    for (pid_t pid : pids) {
        EXPECT_EQ(::kill(pid, 0), -1);  // reaped: no such process
        EXPECT_EQ(errno, ESRCH);
    }
    EXPECT_TRUE(pool.pids().empty());
    EXPECT_THROW(pool.apply_async(square, 1), ipckit::ValueError);
    pool.join();  // after terminate: returns at once
}

TEST(Pool, TheDestructorTerminatesBlockedTasks) {
    TestPipe started, release;
    std::optional<ipckit::AsyncResult<int>> result;
    pid_t pid = 0;
    {
        ipckit::Pool pool(1);
        result.emplace(pool.apply_async(report_and_block, started.write_end(), release.read_end()));
        ASSERT_TRUE(read_exactly(started.read_end(), &pid, sizeof pid));
    }
    EXPECT_THROW(result->get(1s), ipckit::WorkerLostError);
    EXPECT_EQ(::kill(pid, 0), -1);
}

TEST(Pool, CloseThenJoinFinishesEverySubmittedTask) {
    ipckit::Pool pool(3);
    EXPECT_THROW(pool.join(), ipckit::ValueError);  // still running
    auto squares = pool.map_async(square, ipckit::range(10000), 10);
    auto one = pool.apply_async(square, 9);
    pool.close();
    EXPECT_THROW(pool.apply_async(square, 1), ipckit::ValueError);
    pool.join();
    EXPECT_TRUE(squares.ready());
    EXPECT_EQ(squares.get().size(), 10000u);
    EXPECT_EQ(squares.get()[9999], 9999 * 9999);
    EXPECT_EQ(one.get(), 81);
    EXPECT_TRUE(pool.pids().empty());
}

}  // namespace
