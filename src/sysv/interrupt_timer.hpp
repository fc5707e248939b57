// Internal: timeouts for blocking System V calls that have none (msgrcv, msgsnd).
//
// A per-thread POSIX timer sends a signal to this thread at the deadline, which makes
// the blocked call return EINTR; the caller sees the deadline has passed. After the
// deadline the timer keeps ticking every few milliseconds, so a tick that lands just
// before the call enters the kernel cannot leave it blocked forever. No polling: the
// thread sleeps in the kernel until the deadline.
#pragma once

#include <chrono>
#include <csignal>

namespace ipckit::detail {

using Clock = std::chrono::steady_clock;

// The real-time signal used for timeouts. Its handler does nothing.
int timeout_signal() noexcept;

class InterruptTimer {
  public:
    // Arms the timer for `deadline`; disarmed by the destructor.
    explicit InterruptTimer(Clock::time_point deadline);
    InterruptTimer(const InterruptTimer&) = delete;
    InterruptTimer& operator=(const InterruptTimer&) = delete;
    ~InterruptTimer();

  private:
    bool restore_mask_ = false;
    sigset_t saved_mask_{};
};

}  // namespace ipckit::detail
