#include "spin.hpp"

#include <sched.h>

#include <algorithm>

namespace ipckit::detail {

AdaptiveSpin& AdaptiveSpin::this_thread() {
    thread_local AdaptiveSpin state;
    return state;
}

bool AdaptiveSpin::pause(std::chrono::microseconds spin, Clock::time_point until) {
    constexpr std::chrono::microseconds first_backoff{1000};
    constexpr std::chrono::microseconds longest_backoff{1000000};
    auto before = Clock::now();
    ::sched_yield();
    auto after = Clock::now();
    // A peer's turn on a shared core lasts microseconds; another process's time slice, a
    // millisecond or more (4 ms here, a tick).
    constexpr std::chrono::microseconds slice{500};
    if (after - before > std::max(spin, slice)) {
        backoff_ = std::clamp(backoff_ * 2, first_backoff, longest_backoff);
        resume_ = after + backoff_;
        last_slow_ = after;
        return false;
    }
    if (backoff_.count() > 0 && after - last_slow_ > 10 * backoff_) {
        backoff_ /= 2;
        if (backoff_ < first_backoff) backoff_ = {};
        last_slow_ = after;
    }
    return after < until;
}

}  // namespace ipckit::detail
