// Small helpers shared by the test_claims_* files: a pipe between processes, reading a
// process's state and signal masks from /proc, a counting signal handler.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>

namespace ipckit::test::claims {

// A pipe carrying bytes between processes; both ends close on destruction.
class Pipe {
  public:
    Pipe() {
        if (::pipe2(fds_, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    }
    ~Pipe() {
        close_read();
        close_write();
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
    int read_end() const { return fds_[0]; }
    int write_end() const { return fds_[1]; }
    void close_read() {
        if (fds_[0] >= 0) ::close(fds_[0]);
        fds_[0] = -1;
    }
    void close_write() {
        if (fds_[1] >= 0) ::close(fds_[1]);
        fds_[1] = -1;
    }
    void put(const std::string& text) const {
        std::size_t done = 0;
        while (done < text.size()) {
            ssize_t n = ::write(fds_[1], text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return;
            done += static_cast<std::size_t>(n);
        }
    }
    // Reads until `n` bytes came, EOF, or the timeout; returns what came.
    std::string get(std::size_t n,
                    std::chrono::milliseconds timeout = std::chrono::seconds(30)) const {
        std::string out;
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (out.size() < n) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            pollfd p{fds_[0], POLLIN, 0};
            int rc = ::poll(&p, 1, static_cast<int>(left.count()));
            if (rc < 0 && errno == EINTR) continue;
            if (rc <= 0) break;
            char buffer[256];
            ssize_t got = ::read(fds_[0], buffer, std::min(sizeof buffer, n - out.size()));
            if (got < 0 && errno == EINTR) continue;
            if (got <= 0) break;
            out.append(buffer, static_cast<std::size_t>(got));
        }
        return out;
    }
    // Reads up to and including '\n' (without it in the result).
    std::string line(std::chrono::milliseconds timeout = std::chrono::seconds(30)) const {
        std::string out;
        for (;;) {
            std::string c = get(1, timeout);
            if (c.empty() || c == "\n") return out;
            out += c;
        }
    }

  private:
    int fds_[2] = {-1, -1};
};

// The state letter of /proc/PID/stat ('R', 'S', 'T', 'Z'...), or nullopt when it is gone.
inline std::optional<char> proc_state(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string stat;
    if (!std::getline(in, stat)) return std::nullopt;
    auto paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size()) return std::nullopt;
    return stat[paren + 2];
}

// The system call the process sleeps in, from /proc/PID/syscall (the kernel's record, the
// first field: "230 0x0 ..."), or nullopt when it runs ("running") or is gone.
inline std::optional<long> blocked_syscall(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/syscall");
    long number = 0;
    if (!(in >> number)) return std::nullopt;
    return number;
}

// Polls /proc (the kernel's record) until the state is `state`; false on timeout.
inline bool wait_for_state(pid_t pid, char state,
                           std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (proc_state(pid) == state) return true;
        ::usleep(200);  // reading the kernel's state again, not sleeping in hope
    }
    return false;
}

// A hex mask line of /proc/PID/status ("SigIgn", "SigBlk", "SigCgt").
inline std::uint64_t signal_mask(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind(field + ":", 0) == 0)
            return std::stoull(line.substr(field.size() + 1), nullptr, 16);
    }
    throw std::runtime_error("no " + field + " in /proc/" + std::to_string(pid) + "/status");
}
inline bool in_mask(std::uint64_t mask, int signo) {
    return (mask >> (signo - 1)) & 1u;
}

// A handler that counts and writes one byte to a pipe (both async-signal-safe), installed
// without SA_RESTART, so that an interrupted system call returns EINTR.
inline volatile sig_atomic_t handled_signals = 0;
inline int handler_pipe = -1;
inline void counting_handler(int) {
    int saved = errno;
    handled_signals = handled_signals + 1;
    if (handler_pipe >= 0) {
        char c = 'h';
        [[maybe_unused]] ssize_t n = ::write(handler_pipe, &c, 1);
    }
    errno = saved;
}
inline void install_counting_handler(int signo, int pipe_fd) {
    handler_pipe = pipe_fd;
    struct sigaction action {};
    action.sa_handler = counting_handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART
    if (::sigaction(signo, &action, nullptr) != 0) throw std::runtime_error("sigaction failed");
}

// Waits for a child process with a bound (SIGKILLs it after the timeout). Returns the
// wait status, or nullopt when it had to be killed.
inline std::optional<int> wait_child(pid_t pid,
                                     std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    for (;;) {
        pid_t r = ::waitpid(pid, &status, WNOHANG);
        if (r == pid) return status;
        if (r < 0 && errno != EINTR) return std::nullopt;
        if (std::chrono::steady_clock::now() >= deadline) {
            ::kill(pid, SIGKILL);
            while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            return std::nullopt;
        }
        int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
        if (pidfd >= 0) {
            pollfd p{pidfd, POLLIN, 0};
            ::poll(&p, 1, 100);
            ::close(pidfd);
        } else {
            ::usleep(1000);
        }
    }
}

}  // namespace ipckit::test::claims
