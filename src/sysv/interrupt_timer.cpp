#include "interrupt_timer.hpp"

#include <pthread.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "ipckit/error.hpp"

namespace ipckit::detail {
namespace {

constexpr auto tick_after_deadline = std::chrono::milliseconds(5);

void on_timeout_signal(int) {}

void install_handler_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction action {};
        action.sa_handler = on_timeout_signal;
        sigemptyset(&action.sa_mask);
        action.sa_flags = 0;  // no SA_RESTART: the blocked call must return EINTR
        sigaction(timeout_signal(), &action, nullptr);
    });
}

// One timer per thread, created on first use, deleted when the thread ends.
struct ThreadTimer {
    timer_t id{};
    bool created = false;
    pid_t owner = 0;  // after fork the child needs its own timer

    timer_t get() {
        pid_t self = static_cast<pid_t>(::syscall(SYS_gettid));
        if (created && owner == self) return id;
        struct sigevent event {};
        event.sigev_notify = SIGEV_THREAD_ID;
        event.sigev_signo = timeout_signal();
        event._sigev_un._tid = self;
        if (timer_create(CLOCK_MONOTONIC, &event, &id) != 0) {
            throw Error(errno, "cannot create the timer used for timeouts");
        }
        created = true;
        owner = self;
        return id;
    }
    ~ThreadTimer() {
        if (created && owner == static_cast<pid_t>(::syscall(SYS_gettid))) timer_delete(id);
    }
};
thread_local ThreadTimer thread_timer;

timespec to_timespec(std::chrono::nanoseconds d) {
    if (d.count() <= 0) d = std::chrono::nanoseconds(1);  // 0 would disarm
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(d.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(d.count() % 1'000'000'000);
    return ts;
}

}  // namespace

int timeout_signal() noexcept {
    return SIGRTMIN + 3;
}

InterruptTimer::InterruptTimer(Clock::time_point deadline) {
    install_handler_once();
    // The signal must reach this thread even if the program blocks it.
    sigset_t ours;
    sigemptyset(&ours);
    sigaddset(&ours, timeout_signal());
    if (pthread_sigmask(SIG_UNBLOCK, &ours, &saved_mask_) == 0) {
        restore_mask_ = sigismember(&saved_mask_, timeout_signal()) == 1;
    }
    itimerspec spec{};
    spec.it_value = to_timespec(deadline - Clock::now());
    spec.it_interval = to_timespec(tick_after_deadline);
    timer_settime(thread_timer.get(), 0, &spec, nullptr);
}

InterruptTimer::~InterruptTimer() {
    itimerspec off{};
    timer_settime(thread_timer.get(), 0, &off, nullptr);
    if (restore_mask_) {
        // Drop a tick that is still pending before blocking the signal again.
        sigset_t ours;
        sigemptyset(&ours);
        sigaddset(&ours, timeout_signal());
        pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
        timespec zero{};
        while (sigtimedwait(&ours, nullptr, &zero) > 0) {
        }
    }
}

}  // namespace ipckit::detail
