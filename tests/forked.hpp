// A forked child process running a function, for tests that share memory or objects with it
// by fork (test_queue, test_named_queue, test_pipe).
#pragma once

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <functional>
#include <iostream>
#include <stdexcept>

namespace ipckit::test {

// A forked child running `body` (its return value is the exit code; an exception it throws
// is printed and exits 3); killed and reaped if the test ends first.
class Forked {
  public:
    explicit Forked(const std::function<int()>& body) {
        std::cout.flush();
        std::cerr.flush();
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            int code = 1;
            try {
                code = body();
            } catch (const std::exception& e) {
                std::fprintf(stderr, "child: %s\n", e.what());
                code = 3;
            }
            ::_exit(code);
        }
    }
    Forked(const Forked&) = delete;
    Forked& operator=(const Forked&) = delete;
    ~Forked() {
        if (pid_ > 0) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    pid_t pid() const { return pid_; }
    // The exit code, or minus the signal number.
    int wait() {
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    }
    int kill_and_wait() {
        ::kill(pid_, SIGKILL);
        return wait();
    }

  private:
    pid_t pid_ = -1;
};

}  // namespace ipckit::test
