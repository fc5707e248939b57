// The manager's crash matrix (issue 11): a client killed (SIGKILL) while holding a lock or
// waiting in Queue.get, and the server killed while clients wait. Python's manager keeps a
// dead holder's lock forever; ours releases it and tells the next acquirer.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/process.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using ipckit::Manager;
using ipckit::Object;
using ipckit::Process;
using ipckit::test::wait_until;
using Clock = std::chrono::steady_clock;

namespace {

std::int64_t waiting(Manager& m) {
    return m.stats().at("waiting").as_int();
}

// A child that takes what `take` takes, says so, and then waits to be killed.
Process holder(const std::function<void()>& take, ipckit::test::Event& ready) {
    Process p([take, &ready] {
        take();
        ready.set();
        for (;;)
            ::pause();
    });
    p.start();
    return p;
}

// Kills `p` with SIGKILL and reaps it: its sockets are closed once this returns.
void kill_and_reap(Process& p) {
    p.kill();
    ASSERT_TRUE(p.join(20s));
    EXPECT_EQ(p.exitcode(), -SIGKILL);
}

// The next acquirer of `acquirer` (parked on the server before the kill) gets it once the
// holder is killed, and is told it was recovered.
template <class Proxy>
void next_acquirer_is_told(Manager& m, Proxy lock) {
    ipckit::test::Event ready;
    Process p = holder([lock] { (void)lock.acquire(); }, ready);
    ASSERT_TRUE(ready.wait());
    EXPECT_FALSE(lock.acquire(false));  // the holder has it
    std::atomic<bool> acquired{false}, recovered{false};
    Clock::time_point got{};
    std::thread next([&, lock] {
        auto a = lock.acquire(true, 60s);
        got = Clock::now();
        acquired = a.acquired();
        recovered = a.recovered();
    });
    ASSERT_TRUE(wait_until([&] { return waiting(m) == 1; }));
    auto killed = Clock::now();
    kill_and_reap(p);
    next.join();
    EXPECT_TRUE(acquired.load());
    EXPECT_TRUE(recovered.load());
    // Promptly: the server releases it as soon as it sees the connection close (the
    // issue's target is 100 ms; a generous bound here, the machine is loaded).
    EXPECT_LT(got - killed, 5s);
    // Only the first acquirer after the crash is told.
    lock.release();
    auto again = lock.acquire(false);
    EXPECT_TRUE(again.acquired());
    EXPECT_FALSE(again.recovered());
    lock.release();
}

}  // namespace

TEST(ManagerCrash, KilledLockHolderReleasesTheLock) {
    Manager m;
    next_acquirer_is_told(m, m.lock());
}

TEST(ManagerCrash, KilledRLockHolderReleasesTheRLock) {
    Manager m;
    auto r = m.rlock();
    ipckit::test::Event ready;
    Process p = holder(
        [r] {
            (void)r.acquire();
            (void)r.acquire();  // twice: every level goes with the holder
        },
        ready);
    ASSERT_TRUE(ready.wait());
    EXPECT_FALSE(r.acquire(false));
    kill_and_reap(p);
    auto a = r.acquire(true, 60s);
    EXPECT_TRUE(a.acquired());
    EXPECT_TRUE(a.recovered());
    r.release();
    EXPECT_THROW(r.release(), ipckit::RuntimeError);  // one level: ours
}

TEST(ManagerCrash, KilledSemaphoreHolderGivesItsUnitBack) {
    Manager m;
    next_acquirer_is_told(m, m.semaphore(1));
}

TEST(ManagerCrash, KilledGuardHolderReleasesAndTheGuardSaysRecovered) {
    Manager m;
    auto lock = m.named_lock("l");
    ipckit::test::Event ready;
    Process p = holder([&m] { (void)m.named_lock("l").acquire(); }, ready);
    ASSERT_TRUE(ready.wait());
    kill_and_reap(p);
    auto guard = lock.guard();
    EXPECT_TRUE(guard.recovered());
}

TEST(ManagerCrash, AGetterKilledWhileWaitingTakesNoItem) {
    Manager m;
    auto q = m.queue();
    Process getter([](ipckit::QueueProxy queue) { (void)queue.get(); }, q);
    getter.start();
    ASSERT_TRUE(wait_until([&] { return waiting(m) == 1; }));
    kill_and_reap(getter);
    // The server drops the dead getter's parked call when it sees its connection close.
    ASSERT_TRUE(wait_until([&] { return waiting(m) == 0; }));
    // A live getter, parked next, gets the item put after the crash.
    std::atomic<bool> got{false};
    std::thread live([&, q]() mutable { got = q.get(true, 60s).as_string() == "item"; });
    ASSERT_TRUE(wait_until([&] { return waiting(m) == 1; }));
    q.put("item");
    live.join();
    EXPECT_TRUE(got.load());
    EXPECT_TRUE(q.empty());
}

TEST(ManagerCrash, AGetterKilledBeforeItsItemReachedItGivesTheItemBack) {
    Manager m;
    auto q = m.queue();
    Process getter([](ipckit::QueueProxy queue) { (void)queue.get(); }, q);
    getter.start();
    ASSERT_TRUE(wait_until([&] { return waiting(m) == 1; }));
    // Stopped, the getter reads nothing: an item larger than the socket buffers is handed
    // to it, but most of the answer stays in the server's output.
    ASSERT_EQ(::kill(getter.pid(), SIGSTOP), 0);
    ASSERT_TRUE(ipckit::test::wait_until_state(getter.pid(), 'T'));
    const std::string big(std::size_t{4} << 20, 'x');
    q.put(Object::bytes(big));
    ASSERT_TRUE(wait_until([&] { return waiting(m) == 0; }));  // answered, not yet written
    EXPECT_EQ(q.qsize(), 0u);
    kill_and_reap(getter);
    // The item was never delivered: it is back in the queue for a live getter.
    Object item = q.get(true, 60s);
    EXPECT_EQ(item.as_bytes().size(), big.size());
}

TEST(ManagerCrash, AWaiterKilledInsideBarrierWaitBreaksItForTheOthers) {
    Manager m;
    auto barrier = m.barrier(3);
    Process doomed([](const ipckit::BarrierProxy& b) { (void)b.wait(); }, barrier);
    doomed.start();
    ASSERT_TRUE(wait_until([&] { return waiting(m) == 1; }));
    std::atomic<bool> broken{false};
    std::thread other([&, barrier] {
        try {
            (void)barrier.wait(60s);
        } catch (const ipckit::BrokenBarrierError&) {
            broken = true;
        }
    });
    ASSERT_TRUE(wait_until([&] { return waiting(m) == 2; }));
    auto killed = Clock::now();
    kill_and_reap(doomed);
    other.join();
    EXPECT_TRUE(broken.load());
    EXPECT_LT(Clock::now() - killed, 5s);
    EXPECT_TRUE(barrier.broken());
}

TEST(ManagerCrash, AKilledServerEndsEveryWaitWithConnectionError) {
    Manager m;
    auto q = m.queue();
    auto lock = m.lock();
    auto e = m.event();
    lock.acquire();
    std::atomic<int> connection_errors{0};
    auto expect_connection_error = [&](const std::function<void()>& call) {
        return std::thread([&, call] {
            try {
                call();
            } catch (const ipckit::ConnectionError&) {
                ++connection_errors;
            }
        });
    };
    std::vector<std::thread> waiters;
    waiters.push_back(expect_connection_error([q]() mutable { (void)q.get(); }));
    waiters.push_back(expect_connection_error([lock] { (void)lock.acquire(); }));
    waiters.push_back(expect_connection_error([e] { (void)e.wait(); }));
    ASSERT_TRUE(wait_until([&] { return waiting(m) == 3; }));
    auto killed = Clock::now();
    ASSERT_EQ(::kill(m.server_pid(), SIGKILL), 0);
    for (auto& t : waiters)
        t.join();
    EXPECT_LT(Clock::now() - killed, 10s);  // promptly, no hang
    EXPECT_EQ(connection_errors.load(), 3);
    EXPECT_THROW(q.put(1), ipckit::ConnectionError);
}
