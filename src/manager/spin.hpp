// The manager's adaptive wait (ManagerOptions::spin, ServeOptions::spin): how a client or
// server spins between two polls, and when it stops spinning.
#pragma once

#include <chrono>

namespace ipckit::detail {

// Between two polls a spinner yields its CPU, so that when the process it waits for shares
// its core (a local server, say) that process runs first instead of waiting for the
// spinner's time slice to end. A yield that takes longer than the whole spin means another
// busy process holds that core (the kernel puts a yielder behind it for a time slice):
// spinning cannot pay there and only delays the spinner, so it stops spinning for a while
// (1 ms, doubling up to 1 s while yields stay slow) and sleeps at once instead.
class AdaptiveSpin {
public:
    using Clock = std::chrono::steady_clock;

    // The calling thread's state (clients: the back-off is about the CPU this thread runs on).
    static AdaptiveSpin& this_thread();

    // Whether a wait that starts at `now` may spin (false while backing off).
    bool allowed(Clock::time_point now) const noexcept { return now >= resume_; }

    // Between two polls of a spin of length `spin` ending at `until`: yields the CPU. False
    // when the spin is over (its time is up, or the yield showed a contended core).
    bool pause(std::chrono::microseconds spin, Clock::time_point until);

    // The spin got what it waited for: the next slow yield backs off from the start again.
    void succeeded() noexcept { backoff_ = {}; }

private:
    Clock::time_point resume_{};
    std::chrono::microseconds backoff_{0};
};

}  // namespace ipckit::detail
