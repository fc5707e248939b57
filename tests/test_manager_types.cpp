// The manager's Queue, JoinableQueue, Lock, RLock, Semaphore, BoundedSemaphore and Event,
// against Python's semantics, with real processes (issue 11).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <thread>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/process.hpp"
#include "ipckit/signals.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using ipckit::Manager;
using ipckit::Object;
using ipckit::Process;
using ipckit::test::wait_until;
using Clock = std::chrono::steady_clock;

namespace {

// In a child: a failed check ends it with status 1 (the parent checks the exit code).
void check(bool ok) {
    if (!ok) throw std::runtime_error("check failed in the child");
}

std::int64_t waiting(Manager& m) {
    return m.stats().at("waiting").as_int();
}

// Waits (no sleep as synchronisation: polling the server's own count) until `n` calls
// are parked on the server.
bool parked(Manager& m, std::int64_t n) {
    return wait_until([&] { return waiting(m) == n; });
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool sanitized = true;
#else
constexpr bool sanitized = false;
#endif

}  // namespace

TEST(ManagerQueue, FifoOrderAndMaxsizeBlocksThePutter) {
    Manager m;
    auto q = m.queue(2);
    EXPECT_EQ(q.maxsize(), 2);
    EXPECT_TRUE(q.empty());
    q.put(1);
    q.put("two");
    EXPECT_TRUE(q.full());
    EXPECT_EQ(q.qsize(), 2u);
    EXPECT_THROW(q.put_nowait(3), ipckit::Full);
    try {
        q.put(3, true, 10ms);
        FAIL() << "put on a full queue did not time out";
    } catch (const ipckit::Full& e) {
        EXPECT_TRUE(e.timed_out());
    }
    // A putter in another process waits for room, on the server.
    Process putter([](ipckit::QueueProxy queue) { queue.put(Object::list({3, 3.5})); }, q);
    putter.start();
    ASSERT_TRUE(parked(m, 1));
    EXPECT_EQ(q.qsize(), 2u);
    EXPECT_EQ(q.get().as_int(), 1);  // makes room: the parked put goes in
    ASSERT_TRUE(putter.join(20s));
    EXPECT_EQ(putter.exitcode(), 0);
    EXPECT_EQ(q.get().as_string(), "two");
    EXPECT_EQ(q.get().repr(), "[3, 3.5]");
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(waiting(m), 0);
}

TEST(ManagerQueue, GetTimesOutWithEmpty) {
    Manager m;
    auto q = m.queue();
    try {
        q.get_nowait();
        FAIL() << "get_nowait on an empty queue returned";
    } catch (const ipckit::Empty& e) {
        EXPECT_FALSE(e.timed_out());
    }
    auto start = Clock::now();
    try {
        q.get(true, 200ms);
        FAIL() << "get on an empty queue returned";
    } catch (const ipckit::Empty& e) {
        EXPECT_TRUE(e.timed_out());
        EXPECT_NE(std::string(e.what()).find(m.address()), std::string::npos) << e.what();
    }
    auto took = Clock::now() - start;
    EXPECT_GE(took, 195ms);
    EXPECT_LT(took, 10s);  // generous: the machine is loaded
    EXPECT_EQ(waiting(m), 0);
    EXPECT_THROW(q.get(true, std::chrono::nanoseconds(-1)), ipckit::ValueError);
}

TEST(ManagerQueue, AGetterInAnotherProcessIsWokenByAPut) {
    Manager m;
    auto q = m.named_queue("jobs");
    Process getter([&m] {
        auto queue = m.named_queue("jobs");
        check(queue.get(true, 20s).as_string() == "job");
    });
    getter.start();
    ASSERT_TRUE(parked(m, 1));
    q.put("job");
    ASSERT_TRUE(getter.join(20s));
    EXPECT_EQ(getter.exitcode(), 0);
}

TEST(ManagerQueue, TaskDoneAndJoin) {
    Manager m;
    auto q = m.joinable_queue();
    for (int i = 0; i < 3; ++i)
        q.put(i);
    EXPECT_FALSE(q.join(10ms));  // three unfinished
    Process worker(
        [](ipckit::JoinableQueueProxy queue) {
            for (int i = 0; i < 3; ++i) {
                check(queue.get().as_int() == i);
                queue.task_done();
            }
        },
        q);
    worker.start();
    EXPECT_TRUE(q.join(20s));
    ASSERT_TRUE(worker.join(20s));
    EXPECT_EQ(worker.exitcode(), 0);
    EXPECT_TRUE(q.join());
    EXPECT_THROW(q.task_done(), ipckit::ValueError);  // called too many times
}

TEST(ManagerQueue, EightProcessesPutAndGetEveryItemExactlyOnce) {
    Manager m;
    auto q = m.queue();
    auto got = m.list();
    constexpr int processes = 8;
    constexpr int per_process = sanitized ? 1000 : 10000;
    std::vector<Process> workers;
    workers.reserve(processes);
    for (int p = 0; p < processes; ++p) {
        workers.emplace_back(
            [p](ipckit::QueueProxy queue, ipckit::ListProxy results) {
                Object::List mine;
                mine.reserve(static_cast<std::size_t>(per_process));
                for (int i = 0; i < per_process; ++i) {
                    queue.put(std::int64_t{p} * 1'000'000 + i);
                    mine.emplace_back(queue.get(true, 60s));
                }
                results.extend(std::move(mine));
            },
            q, got);
    }
    for (auto& w : workers)
        w.start();
    for (auto& w : workers) {
        ASSERT_TRUE(w.join(300s));
        EXPECT_EQ(w.exitcode(), 0);
    }
    Object::List all = got.copy();
    ASSERT_EQ(all.size(), static_cast<std::size_t>(processes * per_process));
    std::vector<std::int64_t> values;
    for (const auto& v : all)
        values.push_back(v.as_int());
    std::sort(values.begin(), values.end());
    std::vector<std::int64_t> expected;
    for (int p = 0; p < processes; ++p) {
        for (int i = 0; i < per_process; ++i)
            expected.push_back(std::int64_t{p} * 1'000'000 + i);
    }
    EXPECT_EQ(values, expected);  // every item delivered exactly once
    EXPECT_TRUE(q.empty());
}

TEST(ManagerQueue, ThousandParkedGettersDoNotStopOtherClients) {
    Manager m;
    auto q = m.queue();
    auto d = m.dict();
    const int n = sanitized ? 100 : 1000;
    std::atomic<int> delivered{0};
    std::vector<std::thread> getters;
    getters.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        getters.emplace_back([q, &delivered]() mutable {
            if (q.get(true, 120s).is_int()) ++delivered;
        });
    }
    ASSERT_TRUE(wait_until([&] { return waiting(m) == n; }, 120s));
    // Another client's dict calls are served while every getter waits.
    Process other(
        [](ipckit::DictProxy dict) {
            for (int i = 0; i < 1000; ++i)
                dict[i] = std::int64_t{i} * i;
            check(dict.size() == 1000 && dict.get(999).as_int() == std::int64_t{999} * 999);
        },
        d);
    other.start();
    ASSERT_TRUE(other.join(60s));
    EXPECT_EQ(other.exitcode(), 0);
    EXPECT_EQ(d.size(), 1000u);
    for (int i = 0; i < n; ++i)
        q.put(i);
    for (auto& t : getters)
        t.join();
    EXPECT_EQ(delivered.load(), n);
    EXPECT_EQ(waiting(m), 0);
}

TEST(ManagerLock, LockAcquireReleaseAndGuard) {
    Manager m;
    auto lock = m.lock();
    auto a = lock.acquire();
    EXPECT_TRUE(a);
    EXPECT_FALSE(a.recovered());
    EXPECT_FALSE(lock.acquire(false));  // not re-entrant
    EXPECT_FALSE(lock.acquire(true, 10ms));
    EXPECT_THROW(lock.acquire(false, 1s), ipckit::ValueError);
    lock.release();
    EXPECT_THROW(lock.release(), ipckit::RuntimeError);  // release unlocked lock
    {
        auto guard = lock.guard();
        EXPECT_TRUE(guard.owns_lock());
        EXPECT_FALSE(lock.try_lock());
    }
    {
        std::lock_guard held(lock);  // BasicLockable
        EXPECT_FALSE(lock.try_lock());
    }
    {
        // A guard outlives the proxy it came from.
        auto guard = m.named_lock("t").guard();
        EXPECT_FALSE(m.named_lock("t").acquire(false));
        guard.unlock();
        EXPECT_FALSE(guard.owns_lock());
        EXPECT_TRUE(m.named_lock("t").acquire(false));
    }
    EXPECT_TRUE(lock.try_lock());
    // A Lock may be released by another process (as in Python).
    Process releaser([](const ipckit::LockProxy& l) { l.release(); }, lock);
    releaser.start();
    ASSERT_TRUE(releaser.join(20s));
    EXPECT_EQ(releaser.exitcode(), 0);
    EXPECT_TRUE(lock.acquire(false));
    lock.release();
}

TEST(ManagerLock, AWaiterInAnotherProcessGetsTheLockOnRelease) {
    Manager m;
    auto lock = m.named_lock("door");
    lock.acquire();
    Process waiter([&m] {
        auto l = m.named_lock("door");
        auto a = l.acquire(true, 20s);
        check(a.acquired() && !a.recovered());
        l.release();
    });
    waiter.start();
    ASSERT_TRUE(parked(m, 1));
    lock.release();
    ASSERT_TRUE(waiter.join(20s));
    EXPECT_EQ(waiter.exitcode(), 0);
}

TEST(ManagerLock, RLockIsReentrantAndOnlyItsOwnerReleasesIt) {
    Manager m;
    auto r = m.rlock();
    EXPECT_TRUE(r.acquire());
    EXPECT_TRUE(r.acquire(false));  // re-entered by its owner
    // Another thread (its own connection) neither gets nor releases it.
    std::thread other([r] {
        EXPECT_FALSE(r.acquire(false));
        EXPECT_THROW(r.release(), ipckit::RuntimeError);  // cannot release un-acquired lock
    });
    other.join();
    Process child(
        [](const ipckit::RLockProxy& rl) {
            check(!rl.acquire(true, 10ms));
            try {
                rl.release();
                check(false);
            } catch (const ipckit::RuntimeError&) {
            }
        },
        r);
    child.start();
    ASSERT_TRUE(child.join(20s));
    EXPECT_EQ(child.exitcode(), 0);
    r.release();
    std::thread still_held([r] { EXPECT_FALSE(r.acquire(false)); });
    still_held.join();
    r.release();
    EXPECT_THROW(r.release(), ipckit::RuntimeError);
    std::thread free_now([r] {
        EXPECT_TRUE(r.acquire(false));
        r.release();
    });
    free_now.join();
}

TEST(ManagerLock, SemaphoreCountsAndBoundedSemaphoreRefusesOverRelease) {
    Manager m;
    auto s = m.semaphore(2);
    EXPECT_TRUE(s.acquire());
    EXPECT_TRUE(s.acquire());
    EXPECT_FALSE(s.acquire(false));
    s.release();
    s.release();
    s.release();  // a Semaphore may go above its initial value
    for (int i = 0; i < 3; ++i)
        EXPECT_TRUE(s.acquire(false));
    EXPECT_FALSE(s.acquire(false));

    auto b = m.bounded_semaphore(1);
    EXPECT_THROW(b.release(), ipckit::ValueError);  // Semaphore released too many times
    EXPECT_TRUE(b.acquire());
    b.release();
    EXPECT_THROW(b.release(), ipckit::ValueError);
    EXPECT_THROW(m.semaphore(-1), ipckit::ValueError);
}

TEST(ManagerLock, NamedObjectsOfAnotherTypeAreRefused) {
    Manager m;
    m.named_lock("x");
    EXPECT_THROW(m.named_queue("x"), ipckit::ValueError);
    EXPECT_THROW(m.dict("x"), ipckit::ValueError);
    auto q = m.queue();
    EXPECT_EQ(q.repr(), "<Queue object, maxsize=0, qsize=0>");
}

TEST(ManagerEvent, WaitTimesOutThenIsWokenBySet) {
    Manager m;
    auto e = m.event();
    EXPECT_FALSE(e.is_set());
    auto start = Clock::now();
    EXPECT_FALSE(e.wait(100ms));
    EXPECT_GE(Clock::now() - start, 95ms);
    Process waiter([](const ipckit::EventProxy& ev) { check(ev.wait(20s)); }, e);
    waiter.start();
    ASSERT_TRUE(parked(m, 1));
    e.set();
    ASSERT_TRUE(waiter.join(20s));
    EXPECT_EQ(waiter.exitcode(), 0);
    EXPECT_TRUE(e.is_set());
    EXPECT_TRUE(e.wait(0ms));
    e.clear();
    EXPECT_FALSE(e.is_set());
    EXPECT_FALSE(e.wait(0ms));
}

TEST(ManagerStop, AStopRequestInterruptsAParkedGetAndTheThreadKeepsItsLock) {
    Manager m;
    auto q = m.queue();
    auto lock = m.lock();
    std::atomic<bool> interrupted{false};
    std::thread t([&] {
        if (!lock.acquire()) return;
        try {
            q.get();
        } catch (const ipckit::InterruptedError&) {
            interrupted = true;
        }
    });
    ASSERT_TRUE(parked(m, 1));
    ipckit::request_stop();
    t.join();
    ipckit::clear_stop();
    EXPECT_TRUE(interrupted.load());
    EXPECT_EQ(waiting(m), 0);  // the server dropped the parked get
    // The thread's connection stayed open: it still holds the lock (nothing was recovered).
    EXPECT_FALSE(lock.acquire(false));
    // No item is taken by the cancelled get.
    q.put(1);
    EXPECT_EQ(q.get_nowait().as_int(), 1);
}

TEST(ManagerBarrier, FourProcessesPassTogetherWithDistinctIndexes) {
    Manager m;
    auto barrier = m.barrier(4);
    auto indexes = m.list();
    EXPECT_EQ(barrier.parties(), 4);
    std::vector<Process> parties;
    parties.reserve(4);
    for (int p = 0; p < 4; ++p) {
        parties.emplace_back(
            [](const ipckit::BarrierProxy& b, ipckit::ListProxy out) {
                out.append(b.wait(60s));
                out.append(b.wait(60s));  // a barrier is used again, round after round
            },
            barrier, indexes);
    }
    for (auto& p : parties)
        p.start();
    for (auto& p : parties) {
        ASSERT_TRUE(p.join(60s));
        EXPECT_EQ(p.exitcode(), 0);
    }
    std::vector<std::int64_t> got;
    for (const auto& i : indexes.copy())
        got.push_back(i.as_int());
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::int64_t>{0, 0, 1, 1, 2, 2, 3, 3}));
    EXPECT_FALSE(barrier.broken());
    EXPECT_EQ(barrier.n_waiting(), 0);
}

TEST(ManagerBarrier, AbortBreaksItForTheWaitersUntilReset) {
    Manager m;
    auto barrier = m.barrier(3);
    Process waiter(
        [](const ipckit::BarrierProxy& b) {
            try {
                (void)b.wait(60s);
            } catch (const ipckit::BrokenBarrierError&) {
                std::_Exit(7);
            }
        },
        barrier);
    waiter.start();
    ASSERT_TRUE(parked(m, 1));
    EXPECT_EQ(barrier.n_waiting(), 1);
    barrier.abort();
    ASSERT_TRUE(waiter.join(20s));
    EXPECT_EQ(waiter.exitcode(), 7);  // BrokenBarrierError
    EXPECT_TRUE(barrier.broken());
    EXPECT_THROW((void)barrier.wait(1s), ipckit::BrokenBarrierError);
    barrier.reset();
    EXPECT_FALSE(barrier.broken());
    EXPECT_EQ(barrier.n_waiting(), 0);
}

TEST(ManagerBarrier, AWaitThatTimesOutBreaksIt) {
    Manager m;
    auto barrier = m.barrier(2);
    auto start = Clock::now();
    EXPECT_THROW((void)barrier.wait(100ms), ipckit::BrokenBarrierError);
    EXPECT_GE(Clock::now() - start, 95ms);
    EXPECT_TRUE(barrier.broken());
    barrier.reset();
    EXPECT_THROW(m.barrier(0), ipckit::ValueError);
}
