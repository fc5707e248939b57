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
    if (after - before > spin) {
        backoff_ = backoff_.count() ? std::min(backoff_ * 2, longest_backoff) : first_backoff;
        resume_ = after + backoff_;
        return false;
    }
    return after < until;
}

}  // namespace ipckit::detail
