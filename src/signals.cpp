#include "ipckit/signals.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "ipckit/error.hpp"
#include "sysv/interrupt_timer.hpp"

namespace ipckit {
namespace {
// Lock-free atomics are async-signal-safe.
std::atomic<bool> g_stop{false};
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<bool>::is_always_lock_free);

// The flag is set before the blocked threads are looked for, and a blocking call enters the
// registry before it reads the flag (both sequentially consistent): either the call sees
// the flag, or request_stop sees the call and wakes it.
void stop_and_wake() noexcept {
    g_stop.store(true);
    detail::wake_blocked_calls();
}

void on_stop_signal(int signo) {
    int saved_errno = errno;
    g_stop_signal.store(signo, std::memory_order_relaxed);
    stop_and_wake();
    errno = saved_errno;
}
}  // namespace

void request_stop() noexcept {
    stop_and_wake();
}
bool stop_requested() noexcept {
    return g_stop.load();
}
void clear_stop() noexcept {
    g_stop.store(false, std::memory_order_release);
    g_stop_signal.store(0, std::memory_order_relaxed);
}
int stop_signal() noexcept {
    return g_stop_signal.load(std::memory_order_relaxed);
}

void install_stop_handler(std::initializer_list<int> signals) {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: blocked calls must return to notice the stop
    for (int signo : signals) {
        if (sigaction(signo, &action, nullptr) != 0) {
            throw Error(errno, std::string("cannot install a handler for signal ") +
                                   std::to_string(signo) + ": " + std::strerror(errno));
        }
    }
}

}  // namespace ipckit
