// ipckit::request_stop() wakes every blocked call of the process (ipckit/signals.hpp,
// README "Errors"): a thread blocked in msgrcv, msgsnd, semop, the wait for a shared Lock
// or a manager call throws InterruptedError when another thread (or a signal handler)
// requests a stop. Each test first proves, from the kernel's own record of the thread
// (/proc/self/task/TID: asleep, in that system call), that the call is blocked, so a pass
// cannot come from the stop flag being seen before the call started.
#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include "ipckit/ipckit.hpp"
#include "support.hpp"

namespace sysv = ipckit::sysv;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

pid_t this_thread_id() {
    return static_cast<pid_t>(::syscall(SYS_gettid));
}

// True once the thread sleeps (state S) inside one of these system calls, as
// /proc/self/task/TID/stat and /proc/self/task/TID/syscall tell. Polls the kernel's state.
bool wait_until_blocked_in(pid_t tid, std::initializer_list<long> syscalls,
                           std::chrono::milliseconds timeout = 20s) {
    const std::string dir = "/proc/self/task/" + std::to_string(tid) + "/";
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        std::ifstream sys(dir + "syscall");
        long number = -1;
        sys >> number;
        std::ifstream stat_file(dir + "stat");
        std::string stat((std::istreambuf_iterator<char>(stat_file)), {});
        auto paren = stat.rfind(')');
        bool sleeping =
            paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'S';
        for (long wanted : syscalls) {
            if (sleeping && number == wanted) return true;
        }
        ::usleep(200);  // polling the kernel's record, not sleeping in hope
    }
    return false;
}

// What a blocking call in another thread ended with.
enum class Outcome { returned, interrupted, other_error };

// Runs `call` in a new thread, waits until it is blocked in one of `syscalls`, requests a
// stop from this thread and checks that the call ended with InterruptedError. If it does
// not end within 20 s, `unblock` gives it a way out (so a failing test never hangs).
// `armed`, when given, is ready once the call is past its own set-up (system calls that
// must not be mistaken for the blocking one).
void expect_woken(const std::function<void()>& call, std::initializer_list<long> syscalls,
                  const std::function<void()>& unblock, std::shared_future<void> armed = {}) {
    std::promise<pid_t> tid;
    std::promise<Outcome> outcome;
    auto tid_future = tid.get_future();
    auto outcome_future = outcome.get_future();
    std::thread thread([&] {
        tid.set_value(this_thread_id());
        try {
            call();
            outcome.set_value(Outcome::returned);
        } catch (const ipckit::InterruptedError&) {
            outcome.set_value(Outcome::interrupted);
        } catch (...) {
            outcome.set_value(Outcome::other_error);
        }
    });
    pid_t blocked = tid_future.get();
    if (armed.valid()) armed.wait();
    bool is_blocked = wait_until_blocked_in(blocked, syscalls);
    ipckit::request_stop();
    bool ended = outcome_future.wait_for(20s) == std::future_status::ready;
    if (!ended) {
        ipckit::clear_stop();  // (the way out may itself be a call that honours a stop)
        unblock();
    }
    thread.join();
    ASSERT_TRUE(is_blocked) << "the call never blocked in the expected system call";
    ASSERT_TRUE(ended) << "request_stop() did not wake the blocked call within 20 s";
    EXPECT_EQ(outcome_future.get(), Outcome::interrupted);
}

class RequestStop : public ::testing::Test {
  protected:
    void SetUp() override { ipckit::clear_stop(); }
    void TearDown() override { ipckit::clear_stop(); }
};

sysv::Semaphore fresh_semaphore(int value = 0) {
    sysv::Semaphore sem(std::nullopt, sysv::IPC_CREX, sysv::default_mode, value);
    sem.set_auto_remove(true);
    return sem;
}

sysv::MessageQueue fresh_queue() {
    sysv::MessageQueue mq(std::nullopt);
    mq.set_auto_remove(true);
    return mq;
}

}  // namespace

TEST_F(RequestStop, WakesSemaphoreAcquire) {
    auto sem = fresh_semaphore();
    expect_woken([&] { sem.acquire(); }, {SYS_semop, SYS_semtimedop}, [&] { sem.release(); });
    EXPECT_EQ(sem.value(), 0);  // the acquire did not take anything
}

TEST_F(RequestStop, WakesSemaphoreAcquireWithTimeout) {
    auto sem = fresh_semaphore();
    expect_woken([&] { sem.acquire(60s); }, {SYS_semtimedop}, [&] { sem.release(); });
}

TEST_F(RequestStop, WakesSemaphoreWaitForZero) {
    auto sem = fresh_semaphore(1);
    expect_woken([&] { sem.Z(); }, {SYS_semop, SYS_semtimedop}, [&] { sem.acquire(); });
}

TEST_F(RequestStop, WakesMessageQueueReceive) {
    auto mq = fresh_queue();
    expect_woken([&] { mq.receive(); }, {SYS_msgrcv}, [&] { mq.send("unblock"); });
    EXPECT_EQ(mq.current_messages(), 0u);
}

TEST_F(RequestStop, WakesMessageQueueReceiveWithTimeout) {
    // The thread's timer is armed for the 60 s deadline; the stop must still wake it now.
    auto mq = fresh_queue();
    expect_woken([&] { mq.receive(sysv::timeout(60s)); }, {SYS_msgrcv},
                 [&] { mq.send("unblock"); });
}

TEST_F(RequestStop, WakesMessageQueueSendOnAFullQueue) {
    auto mq = fresh_queue();
    mq.set_max_size(16);
    mq.send(std::string(16, 'x'));  // the queue is full
    expect_woken([&] { mq.send("one more"); }, {SYS_msgsnd}, [&] { mq.receive(); });
    EXPECT_EQ(mq.current_messages(), 1u);  // the blocked message was not sent
}

TEST_F(RequestStop, WakesTheWaitForASharedLock) {
    ipckit::Lock lock;
    lock.lock();  // held by this thread: the other one waits on the futex
    expect_woken([&] { lock.lock(); }, {SYS_futex}, [&] { lock.unlock(); });
    if (!ipckit::stop_requested()) return;  // (unreachable unless the test failed)
    lock.unlock();
    ipckit::clear_stop();
    EXPECT_TRUE(lock.try_lock());  // the woken waiter did not take it
    lock.unlock();
}

TEST_F(RequestStop, WakesAManagerCallWaitingForItsAnswer) {
    ipckit::Manager manager;
    auto dict = manager.dict();
    dict[1] = "one";
    const pid_t server = manager.server_pid();
    ASSERT_GT(server, 0);
    bool stopped = false;
    std::promise<void> server_stopped;
    expect_woken(
        [&] {
            (void)dict.get(1);  // this thread's connection is open (one per thread)
            stopped = ::kill(server, SIGSTOP) == 0 && ipckit::test::wait_until_state(server, 'T');
            server_stopped.set_value();  // from here on, a wait in recv is the call's below
            (void)dict.get(1);           // the server cannot answer now: waits in recv
        },
        {SYS_recvfrom}, [&] { ::kill(server, SIGCONT); }, server_stopped.get_future().share());
    ::kill(server, SIGCONT);
    EXPECT_TRUE(stopped);
    ipckit::clear_stop();
    EXPECT_EQ(dict.get(1), ipckit::Object("one"));  // calls work again
}

TEST_F(RequestStop, WakesEveryBlockedThreadAtOnce) {
    constexpr int threads = 8;  // on each of the semaphore and the queue
    constexpr std::size_t total = 2 * threads;
    auto sem = fresh_semaphore();
    auto mq = fresh_queue();
    std::vector<std::promise<pid_t>> tids(total);
    std::vector<std::promise<bool>> interrupted(total);
    std::vector<std::thread> pool;
    pool.reserve(total);
    for (std::size_t i = 0; i < total; ++i) {
        pool.emplace_back([&, i] {
            tids[i].set_value(this_thread_id());
            try {
                if (i % 2 == 0) {
                    sem.acquire();
                } else {
                    mq.receive();
                }
                interrupted[i].set_value(false);
            } catch (const ipckit::InterruptedError&) {
                interrupted[i].set_value(true);
            } catch (...) {
                interrupted[i].set_value(false);
            }
        });
    }
    bool all_blocked = true;
    for (std::size_t i = 0; i < total; ++i) {
        pid_t tid = tids[i].get_future().get();
        all_blocked =
            all_blocked && (i % 2 == 0 ? wait_until_blocked_in(tid, {SYS_semop, SYS_semtimedop})
                                       : wait_until_blocked_in(tid, {SYS_msgrcv}));
    }
    EXPECT_EQ(sem.waiting_for_nonzero(), static_cast<std::size_t>(threads));
    ipckit::request_stop();
    std::size_t woken = 0;
    std::vector<std::future<bool>> results;
    results.reserve(total);
    for (auto& p : interrupted)
        results.push_back(p.get_future());
    const auto deadline = Clock::now() + 20s;
    for (auto& r : results) {
        if (r.wait_until(deadline) == std::future_status::ready && r.get()) ++woken;
    }
    if (woken != total) {
        ipckit::clear_stop();
        sem.remove();  // the way out for threads that were not woken
        mq.remove();
    }
    for (auto& t : pool)
        t.join();
    ASSERT_TRUE(all_blocked);
    EXPECT_EQ(woken, total);
}

// A stop requested just as the call starts is never lost: either the call sees the flag,
// or request_stop sees the call registered and wakes it (no waiting for it to block here).
TEST_F(RequestStop, NeverLosesAStopRequestedAsTheCallStarts) {
    auto sem = fresh_semaphore();
    for (int round = 0; round < 300; ++round) {
        ipckit::clear_stop();
        std::promise<bool> interrupted;
        auto result = interrupted.get_future();
        std::thread thread([&] {
            try {
                sem.acquire();
                interrupted.set_value(false);
            } catch (const ipckit::InterruptedError&) {
                interrupted.set_value(true);
            } catch (...) {
                interrupted.set_value(false);
            }
        });
        ipckit::request_stop();
        bool ended = result.wait_for(20s) == std::future_status::ready;
        if (!ended) {
            ipckit::clear_stop();
            sem.release();
        }
        thread.join();
        ASSERT_TRUE(ended) << "round " << round << ": the stop was lost";
        ASSERT_TRUE(result.get()) << "round " << round;
    }
}

// The handler installed by install_stop_handler wakes a call blocked in another thread
// (before, the signal interrupted only the thread that received it).
TEST_F(RequestStop, AStopSignalHandledByOneThreadWakesAnother) {
    struct sigaction old {};
    ASSERT_EQ(::sigaction(SIGUSR1, nullptr, &old), 0);
    ipckit::install_stop_handler({SIGUSR1});
    auto sem = fresh_semaphore();
    // The blocked thread does not take SIGUSR1: only this one can run the handler.
    sigset_t usr1;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    std::promise<pid_t> tid;
    std::promise<bool> interrupted;
    auto result = interrupted.get_future();
    std::thread thread([&] {
        pthread_sigmask(SIG_BLOCK, &usr1, nullptr);
        tid.set_value(this_thread_id());
        try {
            sem.acquire();
            interrupted.set_value(false);
        } catch (const ipckit::InterruptedError&) {
            interrupted.set_value(true);
        }
    });
    bool blocked = wait_until_blocked_in(tid.get_future().get(), {SYS_semop, SYS_semtimedop});
    ASSERT_EQ(::pthread_kill(::pthread_self(), SIGUSR1), 0);  // handled here, at once
    EXPECT_EQ(ipckit::stop_signal(), SIGUSR1);
    bool ended = result.wait_for(20s) == std::future_status::ready;
    if (!ended) {
        ipckit::clear_stop();
        sem.release();
    }
    thread.join();
    ::sigaction(SIGUSR1, &old, nullptr);
    ASSERT_TRUE(blocked);
    ASSERT_TRUE(ended) << "the stop handler did not wake the call blocked in another thread";
    EXPECT_TRUE(result.get());
}

// The timer that a stop fired (it ticks every 5 ms until the call notices) is disarmed
// when the call ends: the thread's later system calls are not interrupted by it.
TEST_F(RequestStop, LeavesNoTickingTimerBehind) {
    auto sem = fresh_semaphore();
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    std::promise<pid_t> tid;
    std::promise<bool> interrupted;
    std::promise<void> stop_cleared;
    auto interrupted_future = interrupted.get_future();
    ssize_t n = -1;
    int err = 0;
    std::thread thread([&] {
        tid.set_value(this_thread_id());
        try {
            sem.acquire();
            interrupted.set_value(false);
        } catch (const ipckit::InterruptedError&) {
            interrupted.set_value(true);
        }
        stop_cleared.get_future().wait();
        char byte = 0;
        n = ::read(fds[0], &byte, 1);  // a ticking timer would make this fail with EINTR
        err = errno;
    });
    pid_t blocked = tid.get_future().get();
    bool in_semop = wait_until_blocked_in(blocked, {SYS_semop, SYS_semtimedop});
    ipckit::request_stop();
    bool ended = interrupted_future.wait_for(20s) == std::future_status::ready;
    ipckit::clear_stop();
    if (!ended) sem.release();
    stop_cleared.set_value();
    bool in_read = wait_until_blocked_in(blocked, {SYS_read});
    // An observation window, not synchronisation: ten ticks' worth of time in read().
    std::this_thread::sleep_for(50ms);
    char byte = 'x';
    EXPECT_EQ(::write(fds[1], &byte, 1), 1);
    thread.join();
    ::close(fds[0]);
    ::close(fds[1]);
    ASSERT_TRUE(in_semop);
    ASSERT_TRUE(ended);
    EXPECT_TRUE(interrupted_future.get());
    EXPECT_TRUE(in_read);
    EXPECT_EQ(n, 1) << "read failed: " << std::strerror(err);
}
