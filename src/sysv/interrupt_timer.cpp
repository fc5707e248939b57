#include "interrupt_timer.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <mutex>

#include "ipckit/error.hpp"

namespace ipckit::detail {
namespace {

constexpr auto tick_after_firing = std::chrono::milliseconds(5);

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

// One timer per thread, created on first use, deleted when the thread ends. Timers are not
// inherited by fork(): a forked child makes its own (the atfork handler forgets the
// parent's, so that the common path costs no gettid call).
struct ThreadTimer {
    timer_t id{};
    bool created = false;

    timer_t get() {
        if (created) return id;
        static std::once_flag once;
        std::call_once(once, [] { pthread_atfork(nullptr, nullptr, [] { forget_after_fork(); }); });
        struct sigevent event {};
        event.sigev_notify = SIGEV_THREAD_ID;
        event.sigev_signo = timeout_signal();
        event._sigev_un._tid = static_cast<pid_t>(::syscall(SYS_gettid));
        if (timer_create(CLOCK_MONOTONIC, &event, &id) != 0) {
            throw Error(errno, "cannot create the timer used for timeouts and stop requests");
        }
        created = true;
        return id;
    }
    static void forget_after_fork() noexcept;
    ~ThreadTimer() {
        if (created) timer_delete(id);
    }
};
thread_local ThreadTimer thread_timer;

// True once this thread has unblocked the signal for a call without a deadline and left it
// unblocked (see enter()). Inherited, with the mask, by a forked child.
thread_local bool signal_left_unblocked = false;

timespec to_timespec(std::chrono::nanoseconds d) {
    if (d.count() <= 0) d = std::chrono::nanoseconds(1);  // 0 would disarm
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(d.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(d.count() % 1'000'000'000);
    return ts;
}

void arm(timer_t timer, std::chrono::nanoseconds first) noexcept {
    itimerspec spec{};
    spec.it_value = to_timespec(first);
    spec.it_interval = to_timespec(tick_after_firing);
    timer_settime(timer, 0, &spec, nullptr);
}

// The registry of threads inside an InterruptTimer, read by request_stop() (perhaps in a
// signal handler: only lock-free atomics and timer_settime). A slot is claimed by its
// thread (free -> claiming -> active) and given back (active -> free); `readers` counts
// wakers looking at the slot, and the owner waits for them to finish before it disarms
// its timer, so no waker can arm a timer after its thread has left the call.
struct Slot {
    enum : int { free = 0, claiming = 1, active = 2 };
    std::atomic<int> state{free};
    std::atomic<int> readers{0};
    std::atomic<bool> fired{false};  // a waker armed the timer
    std::atomic<timer_t> timer{};
};
static_assert(std::atomic<timer_t>::is_always_lock_free);
static_assert(std::atomic<int>::is_always_lock_free);

// More threads blocked at once than this are not woken by a stop request (their calls
// still end by their timeout or the removal of their object).
constexpr std::size_t slot_count = 1024;
std::array<Slot, slot_count> slots;
std::atomic<std::size_t> next_hint{0};

int claim(timer_t timer) noexcept {
    std::size_t start = next_hint.fetch_add(1, std::memory_order_relaxed);
    for (std::size_t i = 0; i < slot_count; ++i) {
        std::size_t index = (start + i) % slot_count;
        Slot& slot = slots[index];
        int expected = Slot::free;
        if (slot.state.load(std::memory_order_relaxed) == Slot::free &&
            slot.state.compare_exchange_strong(expected, Slot::claiming)) {
            slot.timer.store(timer, std::memory_order_relaxed);
            slot.fired.store(false, std::memory_order_relaxed);
            slot.state.store(Slot::active);  // seq_cst: before the caller reads the stop flag
            return static_cast<int>(index);
        }
    }
    return -1;
}

// Gives the slot back; true if a waker armed the timer.
bool release(int index) noexcept {
    Slot& slot = slots[static_cast<std::size_t>(index)];
    slot.state.store(Slot::claiming);  // seq_cst: wakers that come now leave it alone
    while (slot.readers.load() != 0)
        sched_yield();  // a waker between its check and its arm
    bool fired = slot.fired.load(std::memory_order_relaxed);
    slot.state.store(Slot::free, std::memory_order_release);
    return fired;
}

}  // namespace

// In a forked child: the parent's timers and blocked threads are not here.
void ThreadTimer::forget_after_fork() noexcept {
    thread_timer.created = false;
    for (Slot& slot : slots) {
        slot.state.store(Slot::free, std::memory_order_relaxed);
        slot.readers.store(0, std::memory_order_relaxed);
    }
}

int timeout_signal() noexcept {
    return SIGRTMIN + 3;
}

void wake_blocked_calls() noexcept {
    for (Slot& slot : slots) {
        if (slot.state.load() == Slot::free) continue;  // seq_cst: see claim()
        slot.readers.fetch_add(1);  // seq_cst, as the flag request_stop set before
        if (slot.state.load() == Slot::active) {
            slot.fired.store(true, std::memory_order_relaxed);
            arm(slot.timer.load(std::memory_order_relaxed), std::chrono::nanoseconds(0));
        }
        slot.readers.fetch_sub(1);
    }
}

InterruptTimer::InterruptTimer() {
    enter(std::nullopt);
}

InterruptTimer::InterruptTimer(Clock::time_point deadline) {
    enter(deadline);
}

void InterruptTimer::enter(std::optional<Clock::time_point> deadline) {
    install_handler_once();
    timer_t timer = thread_timer.get();
    // The signal must reach this thread even if the program blocks it. With a deadline the
    // mask is restored afterwards, as it was. Without one (the common, untimed call), the
    // signal is unblocked once per thread and left so (only ipckit's timers send it, and
    // its handler does nothing), which saves a system call per call; a thread that blocks
    // it again later is not woken by stop requests.
    sigset_t ours;
    sigemptyset(&ours);
    sigaddset(&ours, timeout_signal());
    if (deadline || !signal_left_unblocked) {
        if (pthread_sigmask(SIG_UNBLOCK, &ours, &saved_mask_) == 0) {
            const bool was_blocked = sigismember(&saved_mask_, timeout_signal()) == 1;
            restore_mask_ = deadline && was_blocked;
            signal_left_unblocked = !restore_mask_;
        }
    }
    // The deadline first: a stop request's arming must not be overwritten by it.
    if (deadline) {
        arm(timer, *deadline - Clock::now());
        armed_ = true;
    }
    slot_ = claim(timer);
}

InterruptTimer::~InterruptTimer() {
    if (slot_ >= 0 && release(slot_)) armed_ = true;
    if (armed_) {
        itimerspec off{};
        timer_settime(thread_timer.get(), 0, &off, nullptr);
    }
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
