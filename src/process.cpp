#include "ipckit/process.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>

#include "ipckit/error.hpp"

namespace ipckit {
namespace {
std::atomic<int> g_process_counter{0};

int pidfd_open(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}

// Flush everything buffered, so the child does not print the parent's output again.
void flush_all() {
    std::cout.flush();
    std::cerr.flush();
    std::clog.flush();
    std::fflush(nullptr);
}
}  // namespace

Process::Process(std::function<void()> target)
    : target_(std::move(target)), name_("Process-" + std::to_string(++g_process_counter)) {}

Process::Process(Process&& other) noexcept
    : target_(std::move(other.target_)),
      name_(std::move(other.name_)),
      pid_(std::exchange(other.pid_, 0)),
      pidfd_(std::exchange(other.pidfd_, -1)),
      exitcode_(std::exchange(other.exitcode_, std::nullopt)) {}

Process& Process::operator=(Process&& other) noexcept {
    if (this != &other) {
        if (pid_ > 0 && !exitcode_) join();
        if (pidfd_ >= 0) ::close(pidfd_);
        target_ = std::move(other.target_);
        name_ = std::move(other.name_);
        pid_ = std::exchange(other.pid_, 0);
        pidfd_ = std::exchange(other.pidfd_, -1);
        exitcode_ = std::exchange(other.exitcode_, std::nullopt);
    }
    return *this;
}

Process::~Process() {
    // Like std::jthread: never leave a zombie or an orphan we own.
    if (pid_ > 0 && !exitcode_) {
        try {
            join();
        } catch (...) {
        }
    }
    if (pidfd_ >= 0) ::close(pidfd_);
}

void Process::start() {
    if (pid_ != 0) throw Error(EINVAL, name_ + ": a process can only be started once");
    flush_all();
    pid_t pid = ::fork();
    if (pid < 0) throw Error(errno, name_ + ": fork failed");
    if (pid == 0) {
        int status = 0;
        try {
            target_();
        } catch (const std::exception& e) {
            std::cerr << "Process " << name_ << ": uncaught exception: " << e.what() << '\n';
            status = 1;
        } catch (...) {
            std::cerr << "Process " << name_ << ": uncaught exception\n";
            status = 1;
        }
        flush_all();
        ::_exit(status);
    }
    pid_ = pid;
    pidfd_ = pidfd_open(pid);  // -1 on kernels without pidfd: join(timeout) then polls waitid
}

bool Process::reap(bool block) {
    if (exitcode_) return true;
    if (pid_ <= 0) throw Error(EINVAL, name_ + ": not started");
    int status = 0;
    for (;;) {
        pid_t r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
        if (r == pid_) break;
        if (r == 0) return false;
        if (errno == EINTR) continue;
        throw Error(errno, name_ + ": waitpid failed");
    }
    if (WIFEXITED(status)) {
        exitcode_ = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        exitcode_ = -WTERMSIG(status);
    } else {
        exitcode_ = -1;
    }
    return true;
}

bool Process::join(std::optional<std::chrono::milliseconds> timeout) {
    if (exitcode_) return true;
    if (!timeout) return reap(true);
    auto deadline = std::chrono::steady_clock::now() + *timeout;
    for (;;) {
        if (reap(false)) return true;
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        if (pidfd_ >= 0) {
            // The pidfd becomes readable when the child ends: sleep until then.
            pollfd fd{pidfd_, POLLIN, 0};
            ::poll(&fd, 1, static_cast<int>(left.count()) + 1);
        } else {
            ::usleep(1000);  // old kernels only
        }
    }
}

bool Process::is_alive() {
    if (pid_ <= 0) return false;
    return !reap(false);
}

std::optional<int> Process::exitcode() {
    if (pid_ > 0) reap(false);
    return exitcode_;
}

void Process::signal(int signo) {
    if (pid_ <= 0 || exitcode_) return;  // nothing to signal, as Python
    if (::kill(pid_, signo) != 0 && errno != ESRCH) {
        throw Error(errno, name_ + ": cannot send signal " + std::to_string(signo));
    }
}

void Process::terminate() {
    signal(SIGTERM);
}
void Process::kill() {
    signal(SIGKILL);
}

}  // namespace ipckit
