// Test support: running programs, synchronising processes without sleeps.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace ipckit::test {

inline constexpr const char* python = "/usr/bin/python3";  // Debian's, with sysv_ipc

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

// The ipckit program built alongside the tests.
std::string ipckit_program();
// tests/python/NAME
std::string python_script(const std::string& name);

// Waits until the process (or thread id) sleeps in the kernel in a function whose name
// contains `wchan` (as /proc/PID/wchan shows, e.g. "do_msgrcv"). Checks the kernel's
// own record rather than sleeping and hoping. False on timeout.
bool wait_until_blocked_in(pid_t pid, const std::string& wchan,
                           std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Waits until the process is in this state of /proc/PID/stat ('T': stopped). False on timeout.
bool wait_until_state(pid_t pid, char state,
                      std::chrono::milliseconds timeout = std::chrono::seconds(20));

// Waits until a message queue with this key exists (a server has started). False on timeout.
bool wait_for_queue(int key, std::chrono::milliseconds timeout = std::chrono::seconds(20));

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
