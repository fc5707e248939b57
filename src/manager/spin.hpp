// The manager's adaptive wait (ManagerOptions::spin, ServeOptions::spin): how a client or
// server spins between two polls, and when it stops spinning.
#pragma once

#include <chrono>

namespace ipckit::detail {

// Between two polls a spinner yields its CPU, so that when the process it waits for shares
// its core (a local server, say) that process runs first instead of waiting for the
// spinner's time slice to end. A yield that lasts longer than the spin and than 0.5 ms means
// another busy process held that core for a time slice (a peer's turn takes microseconds;
// a CPU hog's, 4 ms on the test machines): spinning cannot pay there, and one such yield
// costs more than many spins save, so the spinner stops spinning for a while (1 ms,
// doubling up to 1 s while slow yields recur) and sleeps at once instead. The back-off
// halves only after ten back-off periods without a slow yield: a quick yield says little,
// since a busy process that has had its share of the core lets a yielder run on.
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

  private:
    Clock::time_point resume_{};
    Clock::time_point last_slow_{};  // the last slow yield, or the last halving since
    std::chrono::microseconds backoff_{0};
};

}  // namespace ipckit::detail
