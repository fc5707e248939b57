// Semaphores and shared memory shared with Debian's python3-sysv-ipc.
#include <gtest/gtest.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <unistd.h>

#include <chrono>
#include <iomanip>
#include <sstream>

#include "ipckit/ipckit.hpp"
#include "support.hpp"

namespace sysv = ipckit::sysv;
using namespace std::chrono_literals;
using ipckit::test::Child;
using ipckit::test::python;
using ipckit::test::python_script;
using ipckit::test::run;

namespace {

std::string hex(const std::string& bytes) {
    std::ostringstream out;
    for (unsigned char c : bytes)
        out << std::hex << std::setw(2) << std::setfill('0') << int(c);
    return out.str();
}

// Removes whatever segment or semaphore sysv_ipc made under this key, even on failure.
struct RemoveByKey {
    sysv::Key key;
    ~RemoveByKey() {
        if (int id = semget(key, 0, 0); id >= 0) semctl(id, 0, IPC_RMID);
        if (int id = shmget(key, 0, 0); id >= 0) shmctl(id, IPC_RMID, nullptr);
    }
};

}  // namespace

TEST(SysvInterop, PythonReadsWhatIpckitWroteInASegment) {
    sysv::SharedMemory shm(std::nullopt, sysv::IPC_CREX, 0600, 64);
    shm.set_auto_remove(true);
    std::string data("binary\0\xff\xfe text \xc3\x28", 18);
    shm.write(data, 10);
    auto result = run({python, python_script("shm_read.py"), std::to_string(shm.key()),
                       std::to_string(data.size()), "10"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, "64 " + hex(data) + "\n");
    // The untouched bytes are ipckit's init_character, as sysv_ipc's default.
    result = run({python, python_script("shm_read.py"), std::to_string(shm.key()), "10", "0"});
    EXPECT_EQ(result.out, "64 " + hex(std::string(10, ' ')) + "\n");
}

TEST(SysvInterop, IpckitReadsWhatPythonWrote) {
    sysv::Key key = sysv::random_key();
    RemoveByKey cleanup{key};
    auto result = run({python, "-c",
                       "import sysv_ipc; m = sysv_ipc.SharedMemory(" + std::to_string(key) +
                           ", sysv_ipc.IPC_CREX, size=100, init_character=b'.'); "
                           "m.write(b'from python\\x00\\x01', 5)"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    sysv::SharedMemory shm(key);
    EXPECT_EQ(shm.size(), 100u);
    EXPECT_EQ(shm.read(20), "....." + std::string("from python\0\1", 13) + "..");
}

TEST(SysvInterop, PythonWaitsOnASemaphoreIpckitReleases) {
    sysv::Semaphore sem(std::nullopt, sysv::IPC_CREX, 0600, 0);
    sem.set_auto_remove(true);
    Child waiter({python, python_script("sem_acquire.py"), std::to_string(sem.key()), "30"});
    ASSERT_NE(waiter.read_until("waiting").find("waiting"), std::string::npos);
    // The kernel's count says when Python sleeps in acquire: no guessing (polled with
    // sleeps in between, so that Python has the core).
    ASSERT_TRUE(ipckit::test::wait_until([&] { return sem.waiting_for_nonzero() == 1; }));
    pid_t python_pid = waiter.pid();
    sem.release(2);
    auto result = waiter.wait();
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, "waiting\nacquired 1\n");
    EXPECT_EQ(sem.value(), 1);
    EXPECT_EQ(sem.last_pid(), python_pid);
}

TEST(SysvInterop, PythonTimesOutOnASemaphoreIpckitHolds) {
    sysv::Semaphore sem(std::nullopt, sysv::IPC_CREX, 0600, 1);
    sem.set_auto_remove(true);
    auto held = sem.guard();
    auto result = run({python, python_script("sem_acquire.py"), std::to_string(sem.key()), "0.1"});
    EXPECT_EQ(result.exit_code, 3) << result.err;
}

TEST(SysvInterop, IpckitOpensWhatPythonCreated) {
    sysv::Key key = sysv::random_key();
    RemoveByKey cleanup{key};
    auto result = run({python, "-c",
                       "import sysv_ipc; s = sysv_ipc.Semaphore(" + std::to_string(key) +
                           ", sysv_ipc.IPC_CREX, 0o640, initial_value=3); print(s.id)"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    sysv::Semaphore sem(key);
    EXPECT_EQ(std::to_string(sem.id()) + "\n", result.out);
    EXPECT_EQ(sem.value(), 3);
    EXPECT_EQ(sem.mode(), 0640);
    sem.acquire(0s, 3);
    // And Python sees what ipckit did.
    result = run({python, "-c",
                  "import sysv_ipc; s = sysv_ipc.Semaphore(" + std::to_string(key) +
                      "); print(s.value, s.last_pid)"});
    EXPECT_EQ(result.out, "0 " + std::to_string(::getpid()) + "\n");
}
