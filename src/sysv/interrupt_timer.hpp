// Internal: a way out of blocking calls that have none of their own.
//
// An InterruptTimer lives around one blocking system call (msgrcv, msgsnd, semop, a futex
// or socket wait). While it lives, the calling thread's POSIX timer can interrupt the call
// with a signal whose handler does nothing, so the call returns EINTR and the caller looks
// at why:
//   - a deadline (msgrcv and msgsnd have no timeout): the timer fires at the deadline;
//   - a stop request: request_stop(), from any thread or signal handler, fires the timer
//     of every thread that is inside an InterruptTimer at that moment.
// Once fired, the timer keeps ticking every few milliseconds until the InterruptTimer
// ends, so a tick that lands just before the call enters the kernel cannot leave it
// blocked forever. No polling: the thread sleeps in the kernel until it is woken.
//
// A caller checks stop_requested() before each (re)try of its call, after constructing the
// InterruptTimer; request_stop() sets the flag before it looks for threads to wake, so a
// stop is never missed.
#pragma once

#include <chrono>
#include <csignal>
#include <optional>

namespace ipckit::detail {

using Clock = std::chrono::steady_clock;

// The real-time signal used for timeouts and stop requests. Its handler does nothing.
int timeout_signal() noexcept;

class InterruptTimer {
  public:
    // Wakeable by a stop request only.
    InterruptTimer();
    // Also fires at `deadline`.
    explicit InterruptTimer(Clock::time_point deadline);
    InterruptTimer(const InterruptTimer&) = delete;
    InterruptTimer& operator=(const InterruptTimer&) = delete;
    ~InterruptTimer();

  private:
    void enter(std::optional<Clock::time_point> deadline);

    int slot_ = -1;  // in the registry of wakeable threads; -1 if it was full
    bool armed_ = false;
    bool restore_mask_ = false;
    sigset_t saved_mask_{};
};

// Fires the timer of every thread inside an InterruptTimer. Async-signal-safe; called by
// request_stop().
void wake_blocked_calls() noexcept;

}  // namespace ipckit::detail
