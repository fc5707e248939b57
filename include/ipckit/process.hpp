// ipckit::Process: run a callable in a forked child, as multiprocessing.Process.
//
//   ipckit::Process p(f, number, vector);
//   p.start();
//   p.join();
//
// The child leaves with _exit, so the parent's atexit handlers and static destructors
// never run in it. exitcode() is 0 after a normal return, 1 after an uncaught
// exception (its message goes to stderr, naming the process), and -N when signal N
// killed it. A Process destroyed while its child runs waits for the child.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <concepts>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <utility>

namespace ipckit {

class Process {
  public:
    template <class F, class... Args>
        requires std::invocable<std::decay_t<F>&, std::decay_t<Args>&...>
    explicit Process(F&& target, Args&&... args)
        : Process(std::function<void()>(
              [f = std::forward<F>(target), tuple = std::make_tuple(std::forward<Args>(
                                                args)...)]() mutable { std::apply(f, tuple); })) {}
    explicit Process(std::function<void()> target);

    Process(Process&& other) noexcept;
    Process& operator=(Process&& other) noexcept;
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;
    ~Process();

    // Forks and runs the target in the child. Throws if already started.
    void start();
    // Waits for the child to end. With a timeout, returns false if it is still running.
    bool join(std::optional<std::chrono::milliseconds> timeout = std::nullopt);
    bool is_alive();
    // nullopt while running (or before start); 0, 1, or minus the signal number.
    std::optional<int> exitcode();
    void terminate();  // SIGTERM
    void kill();       // SIGKILL
    pid_t pid() const noexcept { return pid_; }
    const std::string& name() const noexcept { return name_; }
    void set_name(std::string name) { name_ = std::move(name); }

  private:
    void signal(int signo);
    bool reap(bool block);

    std::function<void()> target_;
    std::string name_;
    pid_t pid_ = 0;
    int pidfd_ = -1;
    std::optional<int> exitcode_;
};

}  // namespace ipckit
