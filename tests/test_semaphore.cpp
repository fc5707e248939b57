// ipckit::sysv::Semaphore against real kernel semaphores and real processes.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/sem.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <thread>

#include "ipckit/ipckit.hpp"
#include "support.hpp"

namespace sysv = ipckit::sysv;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ipckit::Process;
using ipckit::test::Child;
using ipckit::test::Event;

namespace {

// A fresh semaphore with a random key, removed when the test ends, even when it fails.
sysv::Semaphore fresh_semaphore(int initial_value = 0) {
    sysv::Semaphore sem(std::nullopt, sysv::IPC_CREX, sysv::default_mode, initial_value);
    sem.set_auto_remove(true);
    return sem;
}

// Removes whatever semaphore has this key when it goes out of scope.
struct RemoveByKey {
    sysv::Key key;
    ~RemoveByKey() {
        int id = semget(key, 0, 0);
        if (id >= 0) semctl(id, 0, IPC_RMID);
    }
};

// Waits (on the kernel's own count) until n processes wait on the semaphore. The count
// cannot notify, so it is polled, sleeping between polls: a busy loop would take the core
// from the very process it waits for.
bool wait_for_waiters(const sysv::Semaphore& sem, std::size_t n, bool for_zero = false) {
    return ipckit::test::wait_until(
        [&] { return (for_zero ? sem.waiting_for_zero() : sem.waiting_for_nonzero()) == n; });
}

// The stray signal's handler (in the waiting process): counts, and says it ran.
volatile sig_atomic_t stray_signals = 0;
int stray_fd = -1;
void on_stray_signal(int) {
    stray_signals = stray_signals + 1;
    ssize_t written = ::write(stray_fd, "s", 1);
    (void)written;
}

template <class F>
auto elapsed(F&& f) {
    auto start = Clock::now();
    f();
    return Clock::now() - start;
}

std::string worker() {
    return IPCKIT_SYSV_WORKER;
}

}  // namespace

TEST(Semaphore, SysvIpcDefaults) {
    auto sem = fresh_semaphore();
    EXPECT_EQ(sem.value(), 0);
    EXPECT_EQ(sem.mode(), 0600);
    EXPECT_NE(sem.key(), IPC_PRIVATE);
    EXPECT_TRUE(sem.created());
    EXPECT_TRUE(sem.block());
    EXPECT_FALSE(sem.undo());
    EXPECT_EQ(sem.uid(), ::geteuid());
    EXPECT_EQ(sem.cuid(), ::geteuid());
    EXPECT_EQ(sem.gid(), ::getegid());
    EXPECT_EQ(sem.cgid(), ::getegid());
    // Initialised with a semop, so o_time is set and last_pid is us.
    EXPECT_NE(sem.o_time(), 0);
    EXPECT_EQ(sem.last_pid(), ::getpid());
}

TEST(Semaphore, AcquireReleaseAndDelta) {
    auto sem = fresh_semaphore(3);
    EXPECT_EQ(sem.value(), 3);
    sem.acquire();
    EXPECT_EQ(sem.value(), 2);
    sem.acquire(std::nullopt, 2);
    EXPECT_EQ(sem.value(), 0);
    sem.release(5);
    EXPECT_EQ(sem.value(), 5);
    sem.P();
    sem.V(2);
    EXPECT_EQ(sem.value(), 6);
    EXPECT_TRUE(sem.try_acquire(6));
    EXPECT_FALSE(sem.try_acquire());
    sem.set_value(4);
    EXPECT_EQ(sem.value(), 4);
}

TEST(Semaphore, GuardAndStandardLocks) {
    auto sem = fresh_semaphore(1);
    {
        auto held = sem.guard();
        EXPECT_TRUE(held.owns());
        EXPECT_EQ(sem.value(), 0);
    }
    EXPECT_EQ(sem.value(), 1);
    {
        auto held = sem.guard(1s);
        held.release();
        EXPECT_FALSE(held.owns());
        EXPECT_EQ(sem.value(), 1);
    }
    EXPECT_EQ(sem.value(), 1);
    {
        std::lock_guard lock(sem);
        EXPECT_EQ(sem.value(), 0);
        std::unique_lock other(sem, std::try_to_lock);
        EXPECT_FALSE(other.owns_lock());
    }
    EXPECT_EQ(sem.value(), 1);
    {
        auto held = sem.guard(std::nullopt, 1);
        EXPECT_THROW((void)sem.guard(0s), ipckit::BusyError);
    }
    EXPECT_EQ(sem.value(), 1);
}

TEST(Semaphore, PrivateAndOpenByIdAndKey) {
    sysv::Semaphore sem(IPC_PRIVATE, 0, 0640, 2);
    sem.set_auto_remove(true);
    EXPECT_EQ(sem.key(), IPC_PRIVATE);
    EXPECT_EQ(sem.mode(), 0640);
    EXPECT_EQ(sem.value(), 2);
    EXPECT_NE(sem.describe().find("(id " + std::to_string(sem.id()) + ")"), std::string::npos);
    auto same = sysv::Semaphore::from_id(sem.id());
    same.acquire();
    EXPECT_EQ(sem.value(), 1);

    auto named = fresh_semaphore(1);
    sysv::Semaphore opened(named.key());
    EXPECT_FALSE(opened.created());
    EXPECT_EQ(opened.id(), named.id());
    // Opening with IPC_CREAT never resets the value of an existing semaphore.
    named.acquire();
    sysv::Semaphore again(named.key(), IPC_CREAT, 0600, 7);
    EXPECT_FALSE(again.created());
    EXPECT_EQ(again.value(), 0);
}

TEST(Semaphore, AttributesAndSetters) {
    auto sem = fresh_semaphore();
    sem.set_mode(0644);
    EXPECT_EQ(sem.mode(), 0644);
    // The owner may give it to another user and group (nobody's, 65534) and, being its
    // creator, take it back.
    sem.set_uid(65534);
    sem.set_gid(65534);
    EXPECT_EQ(sem.uid(), 65534u);
    EXPECT_EQ(sem.gid(), 65534u);
    EXPECT_EQ(sem.cuid(), ::geteuid());
    sem.set_uid(::geteuid());
    sem.set_gid(::getegid());
    EXPECT_EQ(sem.uid(), ::geteuid());
    EXPECT_EQ(sem.gid(), ::getegid());
    auto info = sem.info();
    EXPECT_EQ(info.key, sem.key());
    EXPECT_EQ(info.id, sem.id());
    EXPECT_EQ(info.count, 1u);
    EXPECT_NE(info.last_change_time, 0);

    bool listed = false;
    for (const auto& s : sysv::list_semaphores()) {
        if (s.id == sem.id()) {
            listed = true;
            EXPECT_EQ(s.key, sem.key());
            EXPECT_EQ(s.mode, 0644);
        }
    }
    EXPECT_TRUE(listed);

    // last_pid and the waiter counts, from another process.
    Process waiter([key = sem.key()] {
        sysv::Semaphore s(key);
        s.acquire(20s);
    });
    waiter.start();
    ASSERT_TRUE(wait_for_waiters(sem, 1));
    EXPECT_EQ(sem.waiting_for_nonzero(), 1u);
    sem.release();
    ASSERT_TRUE(waiter.join(20s));
    EXPECT_EQ(waiter.exitcode(), 0);
    EXPECT_EQ(sem.last_pid(), waiter.pid());

    sem.release();
    Process zero_waiter([key = sem.key()] {
        sysv::Semaphore s(key);
        s.Z(20s);
    });
    zero_waiter.start();
    ASSERT_TRUE(wait_for_waiters(sem, 1, true));
    EXPECT_EQ(sem.waiting_for_zero(), 1u);
    sem.acquire();
    ASSERT_TRUE(zero_waiter.join(20s));
    EXPECT_EQ(zero_waiter.exitcode(), 0);
}

TEST(Semaphore, TimeoutsAreHonoured) {
    auto sem = fresh_semaphore(0);
    try {
        auto took = elapsed([&] { sem.acquire(200ms); });
        FAIL() << "acquired after " << took.count();
    } catch (const ipckit::BusyError& e) {
        EXPECT_TRUE(e.timed_out());
        EXPECT_EQ(e.errno_value(), ETIMEDOUT);
        EXPECT_NE(std::string(e.what()).find(sysv::format_key(sem.key())), std::string::npos);
    }
    auto took = elapsed([&] { EXPECT_THROW(sem.acquire(200ms), ipckit::BusyError); });
    EXPECT_GE(took, 200ms);  // not earlier
    EXPECT_LT(took, 30s);    // only against a hang: speed is for the benchmarks

    // Fractional seconds, as sysv_ipc's acquire(0.05).
    took = elapsed(
        [&] { EXPECT_THROW(sem.acquire(std::chrono::duration<double>(0.05)), ipckit::BusyError); });
    EXPECT_GE(took, 50ms);

    // Zero: try once, and give up (a timeout, not a wait without end).
    took = elapsed([&] {
        try {
            sem.acquire(0s);
            ADD_FAILURE() << "acquired a zero semaphore";
        } catch (const ipckit::BusyError& e) {
            EXPECT_TRUE(e.timed_out());
        }
    });
    EXPECT_LT(took, 30s);
    sem.release();
    sem.acquire(0s);  // succeeds when it can

    // Z: wait for zero, with a timeout.
    sem.release();
    took = elapsed([&] { EXPECT_THROW(sem.Z(150ms), ipckit::BusyError); });
    EXPECT_GE(took, 150ms);
    sem.acquire();
    sem.Z(0s);  // zero now: returns at once

    // A timeout that is met: a release from another process within it.
    Process releaser([key = sem.key()] {
        sysv::Semaphore s(key);
        if (!ipckit::test::wait_until([&] { return s.waiting_for_nonzero() == 1; })) _exit(3);
        s.release();
    });
    releaser.start();
    sem.acquire(20s);
    ASSERT_TRUE(releaser.join(20s));
    EXPECT_EQ(releaser.exitcode(), 0);
}

TEST(Semaphore, NonBlockingMode) {
    auto sem = fresh_semaphore(0);
    sem.set_block(false);
    try {
        sem.acquire();
        FAIL() << "acquired a zero semaphore";
    } catch (const ipckit::BusyError& e) {
        EXPECT_FALSE(e.timed_out());
        EXPECT_EQ(e.errno_value(), EAGAIN);
    }
    sem.release();
    EXPECT_THROW(sem.Z(), ipckit::BusyError);
    // Without block, a timeout does not make it wait.
    auto took = elapsed([&] {
        sem.acquire();
        EXPECT_THROW(sem.acquire(5s), ipckit::BusyError);
    });
    EXPECT_LT(took, 1s);
}

TEST(Semaphore, RemovedUnderAWaiter) {
    auto sem = fresh_semaphore(0);
    Process waiter([key = sem.key()] {
        sysv::Semaphore s(key);
        try {
            s.acquire();
        } catch (const ipckit::ExistentialError& e) {
            std::string what = e.what();
            _exit(what.find("removed") != std::string::npos && e.errno_value() == EIDRM ? 3 : 4);
        }
        _exit(0);
    });
    waiter.start();
    ASSERT_TRUE(wait_for_waiters(sem, 1));
    sem.remove();
    ASSERT_TRUE(waiter.join(20s));
    EXPECT_EQ(waiter.exitcode(), 3);
    // Every use afterwards says the semaphore is gone.
    EXPECT_THROW(sem.acquire(), ipckit::ExistentialError);
    EXPECT_THROW(sem.release(), ipckit::ExistentialError);
    EXPECT_THROW(sem.value(), ipckit::ExistentialError);
    EXPECT_THROW(sem.set_value(1), ipckit::ExistentialError);
    EXPECT_THROW(sem.info(), ipckit::ExistentialError);
    EXPECT_THROW(sem.set_mode(0600), ipckit::ExistentialError);
    EXPECT_THROW(sem.remove(), ipckit::ExistentialError);
}

TEST(Semaphore, StopRequestInterruptsAndStraySignalsDoNot) {
    auto sem = fresh_semaphore(0);
    // A stop request (here from SIGUSR1's handler) ends a blocked acquire.
    Process stopped([key = sem.key()] {
        ipckit::install_stop_handler({SIGUSR1});
        sysv::Semaphore s(key);
        try {
            s.acquire();
        } catch (const ipckit::InterruptedError&) {
            _exit(7);
        }
        _exit(0);
    });
    stopped.start();
    ASSERT_TRUE(wait_for_waiters(sem, 1));
    ::kill(stopped.pid(), SIGUSR1);
    ASSERT_TRUE(stopped.join(20s));
    EXPECT_EQ(stopped.exitcode(), 7);

    // A signal whose handler asks for nothing: the acquire goes on waiting, and then
    // acquires. The signal certainly lands mid-call: the kernel counts the process among
    // the semaphore's waiters (semncnt) and shows it asleep in semop; the handler says it
    // ran (a pipe), and the process checks that it ran exactly once before the acquire
    // returned normally.
    int handled[2];
    ASSERT_EQ(::pipe2(handled, O_CLOEXEC), 0);
    stray_fd = handled[1];
    Process stray([key = sem.key()] {
        struct sigaction action {};
        action.sa_handler = on_stray_signal;
        sigaction(SIGUSR2, &action, nullptr);  // no SA_RESTART: semop returns EINTR
        sysv::Semaphore s(key);
        s.acquire(120s);
        _exit(stray_signals == 1 ? 0 : 6);
    });
    stray.start();
    ::close(handled[1]);
    ASSERT_TRUE(wait_for_waiters(sem, 1));
    ASSERT_TRUE(ipckit::test::wait_until_blocked_in(stray.pid(), "semop"));
    ::kill(stray.pid(), SIGUSR2);
    pollfd ran{handled[0], POLLIN, 0};
    char byte = 0;
    bool handler_ran = ::poll(&ran, 1, 30'000) == 1 && ::read(handled[0], &byte, 1) == 1;
    ::close(handled[0]);
    ASSERT_TRUE(handler_ran) << "the handler did not run";
    // The handler ran after semop returned EINTR (which took the process off the
    // waiters): counted as a waiter again is the retry.
    ASSERT_TRUE(wait_for_waiters(sem, 1));
    EXPECT_TRUE(stray.is_alive());  // still waiting, not failed
    sem.release();
    ASSERT_TRUE(stray.join(60s));
    EXPECT_EQ(stray.exitcode(), 0);
    EXPECT_EQ(sem.value(), 0);  // it took what was released
}

TEST(Semaphore, ErrorPaths) {
    // Not there.
    auto gone = fresh_semaphore();
    sysv::Key key = gone.key();
    gone.remove();
    try {
        sysv::Semaphore s(key);
        FAIL() << "opened a missing semaphore";
    } catch (const ipckit::ExistentialError& e) {
        EXPECT_EQ(e.errno_value(), ENOENT);
        std::string what = e.what();
        EXPECT_NE(what.find("semaphore " + sysv::format_key(key)), std::string::npos) << what;
        EXPECT_NE(what.find("IPC_CREAT"), std::string::npos) << what;
    }
    EXPECT_THROW(sysv::Semaphore::from_id(gone.id()), ipckit::ExistentialError);
    EXPECT_THROW(sysv::remove_semaphore(gone.id()), ipckit::ExistentialError);

    // Already there.
    auto sem = fresh_semaphore();
    try {
        sysv::Semaphore s(sem.key(), sysv::IPC_CREX);
        FAIL() << "created an existing semaphore";
    } catch (const ipckit::ExistentialError& e) {
        EXPECT_EQ(e.errno_value(), EEXIST);
        EXPECT_NE(std::string(e.what()).find("ipcrm -s ID"), std::string::npos) << e.what();
    }

    // Bad values.
    EXPECT_THROW(sysv::Semaphore(std::nullopt, sysv::IPC_CREX, 0600, -1), ipckit::ValueError);
    EXPECT_THROW(sysv::Semaphore(std::nullopt, sysv::IPC_CREX, 0600, 40000), ipckit::ValueError);
    EXPECT_THROW(sem.acquire(std::nullopt, 0), ipckit::ValueError);
    EXPECT_THROW(sem.release(-1), ipckit::ValueError);
    EXPECT_THROW(sem.release(sysv::semaphore_value_max + 1), ipckit::ValueError);
    EXPECT_THROW(sem.set_value(sysv::semaphore_value_max + 1), ipckit::ValueError);
    sem.set_value(sysv::semaphore_value_max);
    try {
        sem.release();
        FAIL() << "released past SEMVMX";
    } catch (const ipckit::ValueError& e) {
        EXPECT_EQ(e.errno_value(), ERANGE);
    }
    EXPECT_EQ(sem.value(), sysv::semaphore_value_max);

    // remove_semaphore by id.
    auto doomed = fresh_semaphore();
    sysv::remove_semaphore(doomed.id());
    EXPECT_THROW(doomed.value(), ipckit::ExistentialError);
}

TEST(Semaphore, PermissionDenied) {
    auto sem = fresh_semaphore(1);  // mode 0600: only its owner
    if (::geteuid() != 0) {
        // Without root there is no other user to become; the owner can still lock
        // itself out by clearing the mode. The rest needs root (a failure in CI).
        sem.set_mode(0);
        EXPECT_THROW(sem.value(), ipckit::PermissionsError);
        sem.set_mode(0600);
        IPCKIT_SKIP_UNLESS_ROOT();
    }
    Process stranger([key = sem.key()] {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) _exit(5);
        try {
            sysv::Semaphore s(key);
        } catch (const ipckit::PermissionsError& e) {
            _exit(std::string(e.what()).find("ipcs -s") != std::string::npos ? 3 : 4);
        }
        _exit(0);
    });
    stranger.start();
    ASSERT_TRUE(stranger.join(20s));
    EXPECT_EQ(stranger.exitcode(), 3);
}

TEST(Semaphore, UndoGivesItBackWhenTheHolderIsKilled) {
    auto sem = fresh_semaphore(1);
    Child holder({worker(), "hold", std::to_string(sem.key()), "undo"});
    ASSERT_NE(holder.read_until("held").find("held"), std::string::npos);
    EXPECT_EQ(sem.value(), 0);
    EXPECT_EQ(sem.last_pid(), holder.pid());
    holder.signal(SIGKILL);
    EXPECT_EQ(holder.wait().exit_code, -SIGKILL);
    // The kernel undid the dead holder's acquire.
    sem.acquire(0s);
}

TEST(Semaphore, WithoutUndoAKilledHolderKeepsIt) {
    auto sem = fresh_semaphore(1);
    Child holder({worker(), "hold", std::to_string(sem.key()), "no-undo"});
    ASSERT_NE(holder.read_until("held").find("held"), std::string::npos);
    holder.signal(SIGKILL);
    EXPECT_EQ(holder.wait().exit_code, -SIGKILL);
    EXPECT_EQ(sem.value(), 0);
    EXPECT_THROW(sem.acquire(0s), ipckit::BusyError);
}

// Two processes create-or-open the same key at the same moment, 1,000 times: exactly
// one creates it, and both see it initialised (value 1), never the kernel's bare 0.
// Both contenders wake on the same event, so their semget calls are close together;
// the window between the creator's semget and semop is only microseconds wide, though,
// so OpenerWaitsForTheCreatorToInitialise below holds it open on purpose.
TEST(Semaphore, CreateRaceNeverLeavesItUninitialised) {
    struct Shared {
        int created[2];
        int value[2];
    };
    auto* shared = static_cast<Shared*>(
        ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(shared, MAP_FAILED);
    struct Unmap {
        void* p;
        ~Unmap() { ::munmap(p, sizeof(Shared)); }
    } unmap{shared};

    constexpr int rounds = 1000;
    int both_initialised = 0;
    for (int round = 0; round < rounds; ++round) {
        sysv::Key key;
        do {
            key = sysv::random_key();
        } while (semget(key, 0, 0) >= 0);
        RemoveByKey cleanup{key};
        *shared = Shared{{-1, -1}, {-1, -1}};
        Event go;
        auto contender = [shared, key, &go](int slot) {
            go.wait();
            sysv::Semaphore sem(key, IPC_CREAT, 0600, 1);
            shared->created[slot] = sem.created() ? 1 : 0;
            shared->value[slot] = sem.value();
        };
        Process a(contender, 0), b(contender, 1);
        a.start();
        b.start();
        go.set();
        ASSERT_TRUE(a.join(20s));
        ASSERT_TRUE(b.join(20s));
        ASSERT_EQ(a.exitcode(), 0);
        ASSERT_EQ(b.exitcode(), 0);
        ASSERT_EQ(shared->created[0] + shared->created[1], 1) << "round " << round;
        ASSERT_EQ(shared->value[0], 1) << "round " << round;
        ASSERT_EQ(shared->value[1], 1) << "round " << round;
        ++both_initialised;
    }
    EXPECT_EQ(both_initialised, rounds);
}

// The opener's side of the protocol, step by step: a creator stopped between semget
// and its initialising semop (the window the race above hits by chance) keeps every
// opener waiting until it initialises.
TEST(Semaphore, OpenerWaitsForTheCreatorToInitialise) {
    sysv::Key key;
    int id;
    do {
        key = sysv::random_key();
        id = semget(key, 1, IPC_CREAT | IPC_EXCL | 0600);  // created, not initialised
    } while (id < 0 && errno == EEXIST);
    ASSERT_GE(id, 0);
    RemoveByKey cleanup{key};
    Event opened;
    Process opener([&] {
        sysv::Semaphore sem(key, IPC_CREAT, 0600, 5);
        opened.set();
        _exit(!sem.created() && sem.value() == 2 ? 0 : 3);
    });
    opener.start();
    // The kernel shows the opener sleeping in its backoff, and it has not returned.
    ASSERT_TRUE(ipckit::test::wait_until_blocked_in(opener.pid(), "nanosleep"));
    EXPECT_FALSE(opened.wait(0ms));
    sembuf init{0, 2, 0};
    ASSERT_EQ(semop(id, &init, 1), 0);
    EXPECT_TRUE(opened.wait(5s));
    ASSERT_TRUE(opener.join(20s));
    EXPECT_EQ(opener.exitcode(), 0);
}

// Two unrelated processes (siblings running the worker program) increment one counter
// in a shared memory segment under the semaphore; no increment is lost.
TEST(Semaphore, TwoProcessesCountExactlyUnderTheSemaphore) {
    // 2 x 500,000 take about 2.5 s, and 7 s under ASan+UBSan, on the project's machine.
    constexpr long per_process = 500'000;
    auto sem = fresh_semaphore(1);
    sysv::SharedMemory shm(std::nullopt, sysv::IPC_CREX, 0600, sizeof(std::uint64_t), '\0');
    shm.set_auto_remove(true);
    auto n = std::to_string(per_process);
    Child first({worker(), "count", std::to_string(sem.key()), std::to_string(shm.key()), n});
    Child second({worker(), "count", std::to_string(sem.key()), std::to_string(shm.key()), n});
    ASSERT_NE(first.read_until("ready").find("ready"), std::string::npos);
    ASSERT_NE(second.read_until("ready").find("ready"), std::string::npos);
    first.write("go\n");
    second.write("go\n");
    auto r1 = first.wait(std::chrono::minutes(4));
    auto r2 = second.wait(std::chrono::minutes(4));
    ASSERT_EQ(r1.exit_code, 0) << r1.err;
    ASSERT_EQ(r2.exit_code, 0) << r2.err;
    std::uint64_t counter = 0;
    std::memcpy(&counter, shm.cbytes().data(), sizeof counter);
    EXPECT_EQ(counter, static_cast<std::uint64_t>(2 * per_process));
    EXPECT_EQ(sem.value(), 1);
}
