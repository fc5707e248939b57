// Test support: running programs, synchronising processes without sleeps.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ipckit::test {

inline constexpr const char* python = "/usr/bin/python3";  // Debian's, with sysv_ipc

// True when the suite runs in CI (the environment has CI=true, as .ci/run exports).
// There a skipped test fails (see leak_check.cpp): CI runs as root with every
// dependency, so a skip would hide a test that never ran.
bool running_in_ci();

// Skips a test that needs root when not root (a failure in CI, see running_in_ci()).
#define IPCKIT_SKIP_UNLESS_ROOT()                                             \
    do {                                                                      \
        if (::geteuid() != 0) GTEST_SKIP() << "needs root (CI runs as root)"; \
    } while (0)

// Sleeps about a millisecond (between two polls of kernel state).
void pause_briefly();

// The leak checker (leak_check.cpp): test_main.cpp installs it before the tests run.
void install_leak_checker();
// Registers a program the test started (Child does it): System V objects that it used
// last are attributed to the test.
void note_child_process(pid_t pid);
// The System V objects that exist now and whose kernel pids (lspid/lrpid of a queue,
// cpid/lpid of a segment, sempid of a semaphore) name one of these processes, described
// ("message queue 0x... (id N)").
std::vector<std::string> system_v_objects_used_by(const std::set<pid_t>& pids);

// A program's outcome. exit_code is minus the signal number when a signal ended it.
struct RunResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

// A program started with pipes on stdin, stdout and stderr.
class Child {
  public:
    Child(const std::vector<std::string>& argv, bool merge_stderr = false);
    Child(Child&&) noexcept;
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;
    ~Child();  // kills and reaps the program if it still runs

    pid_t pid() const { return pid_; }
    void write(const std::string& text);
    void close_stdin();
    // Reads stdout until `text` appears (returns everything read so far) or the timeout.
    std::string read_until(const std::string& text,
                           std::chrono::milliseconds timeout = std::chrono::seconds(20));
    // Closes stdin, reads everything, waits for the exit (kills after the timeout).
    RunResult wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));
    void signal(int signo);

  private:
    pid_t pid_ = -1;
    int in_ = -1, out_ = -1, err_ = -1;
    std::string out_buffer_, err_buffer_;
    bool pump(std::chrono::milliseconds timeout);  // reads what is ready; false at EOF
};

RunResult run(const std::vector<std::string>& argv, const std::string& input = "",
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A private directory (mode 0700) in TMPDIR, removed with everything in it at the end.
struct TempDir {
    explicit TempDir(const std::string& prefix = "ipckit-test");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    // Writes `content` to PATH/name with `mode`; returns the file's path.
    std::string file(const std::string& name, const std::string& content, mode_t mode = 0600) const;
    std::string path;
};

// `ipckit manager serve` on a unix socket in a private directory (no authkey: the socket is
// owner-only), stopped with SIGTERM and reaped at the end.
class ManagerProgram {
  public:
    ManagerProgram();
    ~ManagerProgram();
    ManagerProgram(const ManagerProgram&) = delete;
    ManagerProgram& operator=(const ManagerProgram&) = delete;
    const std::string& address() const { return address_; }

  private:
    TempDir dir_;
    std::string address_;
    Child server_;
};

// The ipckit program built alongside the tests (with IPCKIT_BUILD_APPS, see CMakeLists.txt).
std::string ipckit_program();
// tests/python/NAME
std::string python_script(const std::string& name);

// Waits until the task (a process, or a thread by its id) sleeps in the system call
// `syscall`, named as in <sys/syscall.h> without SYS_ ("msgrcv", "msgsnd", "semop",
// "read", "futex", "nanosleep", "recv"; see support.cpp for the list). It reads the
// kernel's own record of the task: the state in /proc/TID/stat must be S (an
// interruptible sleep) and /proc/TID/syscall must show that system call. Both are part
// of the kernel's ABI, unlike the kernel function names of /proc/PID/wchan (which change
// between versions and read as 0 under kptr_restrict). Where /proc/TID/syscall cannot be
// read (a kernel without it, or ptrace denied) only the state is checked, so callers
// must also make sure, by a handshake, that the task has nothing else to sleep in.
// The old kernel names ("do_msgrcv", "pipe_read", "hrtimer_nanosleep", "unix_stream")
// are accepted as aliases. False on timeout.
bool wait_until_blocked_in(pid_t tid, const std::string& syscall,
                           std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Waits until the process is in this state of /proc/PID/stat ('T': stopped). False on timeout.
bool wait_until_state(pid_t pid, char state,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Polls `ready` until it returns true (false after the timeout). Between polls the
// caller sleeps a millisecond, so that the process it waits for has the core: for kernel
// state that has no way to notify (a semaphore's waiter count, a queue's last pids).
template <class F>
bool wait_until(F&& ready, std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (ready()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        pause_briefly();
    }
}

// Waits until a message queue with this key exists (a server has started). False on timeout.
bool wait_for_queue(int key, std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Removes the message queue with this key when the test ends, if a failed test left it.
struct QueueGuard {
    explicit QueueGuard(int k) : key(k) {}
    int key;
    QueueGuard(const QueueGuard&) = delete;
    QueueGuard& operator=(const QueueGuard&) = delete;
    ~QueueGuard();
};
bool queue_exists(int key);

// A one-shot event between processes (a pipe): fork-safe, no sleeps.
class Event {
  public:
    Event();
    ~Event();
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
    void set();
    // True when set, false on timeout.
    bool wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));

  private:
    int fds_[2] = {-1, -1};
};

}  // namespace ipckit::test
