#include "ipckit/sysv/semaphore.hpp"

#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "interrupt_timer.hpp"
#include "ipckit/signals.hpp"
#include "object_impl.hpp"

namespace ipckit::sysv {
namespace {

// glibc leaves this union to the caller (semctl(2)).
union semun {
    int val;
    semid_ds* buf;
    unsigned short* array;
};

}  // namespace

namespace detail {

template <>
struct Traits<SemaphoreInfo> : TraitsBase<semid_ds, Kind::semaphore, &semid_ds::sem_perm> {
    static int ctl(int id, int command, semid_ds* ds) {
        semun arg{};
        arg.buf = ds;
        return semctl(id, 0, command, arg);
    }
    static SemaphoreInfo make(const ObjectInfo& common, const semid_ds& ds) {
        // The per-semaphore numbers; the set may vanish meanwhile, then they stay 0.
        auto get = [&](int command) { return std::max(semctl(common.id, 0, command), 0); };
        return {common,
                get(GETVAL),
                ds.sem_nsems,
                ds.sem_otime,
                ds.sem_ctime,
                get(GETPID),
                static_cast<std::size_t>(get(GETNCNT)),
                static_cast<std::size_t>(get(GETZCNT))};
    }
};

template class Object<SemaphoreInfo>;

}  // namespace detail

namespace {

using ipckit::detail::Clock;
constexpr auto throw_for = detail::fail<SemaphoreInfo>;

// Linux says EINVAL both for a removed semaphore and for a bad argument; a failed
// IPC_STAT tells them apart.
bool exists(int id) {
    semid_ds ds{};
    return detail::stat<SemaphoreInfo>(id, ds) == 0 || errno == EACCES;
}

void check_value(int value, const std::string& who, const char* what) {
    if (value < 0 || value > semaphore_value_max) {
        throw ValueError(EINVAL, who + ": " + what + " must be between 0 and " +
                                     std::to_string(semaphore_value_max) + ", not " +
                                     std::to_string(value));
    }
}

// Takes the object, not its description: describe() allocates, and this is the hot path.
void check_delta(int delta, const Semaphore& semaphore) {
    if (delta < 1 || delta > semaphore_value_max) [[unlikely]] {
        throw ValueError(EINVAL, semaphore.describe() + ": delta must be between 1 and " +
                                     std::to_string(semaphore_value_max) + ", not " +
                                     std::to_string(delta));
    }
}

timespec to_timespec(std::chrono::nanoseconds d) {
    if (d.count() < 0) d = std::chrono::nanoseconds(0);
    timespec ts{};
    ts.tv_sec = static_cast<time_t>(d.count() / 1'000'000'000);
    ts.tv_nsec = static_cast<long>(d.count() % 1'000'000'000);
    return ts;
}

// The GET* commands that return a number (GETVAL, GETPID, GETNCNT, GETZCNT). The
// description is built only on failure: value() may well be polled.
int get(const Semaphore& semaphore, int command, const char* operation) {
    int result = semctl(semaphore.id(), 0, command);
    if (result < 0) {
        int err = errno;
        throw_for(err == EINVAL ? EIDRM : err, semaphore.describe(), operation);
    }
    return result;
}

}  // namespace

// --- construction ---

Semaphore::Semaphore(Key key, int flags, int mode, int initial_value) : Object(key) {
    open_or_create(flags, mode, initial_value);
}

Semaphore::Semaphore(std::nullopt_t, int flags, int mode, int initial_value) {
    check_value(initial_value, "semaphore", "initial_value");
    // Try random keys until one is free, as sysv_ipc does for key=None.
    for (;;) {
        key_ = random_key();
        id_ = semget(key_, 1, flags | IPC_CREX | (mode & 0777));
        if (id_ >= 0) break;
        if (errno != EEXIST) throw_for(errno, describe(), "semget");
    }
    created_ = true;
    initialise(initial_value);
}

// Race-free creation: with IPC_CREAT, first try IPC_CREAT|IPC_EXCL. The winner
// initialises the semaphore with one semop (+initial_value, or a wait-for-zero when it is
// 0), which makes the kernel's sem_otime non-zero in the same atomic step that sets the
// value. Everyone else opens the existing semaphore and waits until sem_otime is non-zero
// (or the value is), sleeping with a short exponential backoff (10 us doubling to 1 ms),
// for at most semaphore_initialisation_wait. A semaphore made by another program that
// sets its value with semctl (sysv_ipc does) and was never used since looks
// uninitialised: after that wait it is taken as it is.
void Semaphore::open_or_create(int flags, int mode, int initial_value) {
    check_value(initial_value, describe(), "initial_value");
    const int permissions = mode & 0777;
    if (key_ == IPC_PRIVATE) {
        // Always a new semaphore, whatever the flags.
        id_ = semget(IPC_PRIVATE, 1, IPC_CREAT | permissions);
        if (id_ < 0) throw_for(errno, describe(), "semget");
        created_ = true;
        initialise(initial_value);
        return;
    }
    if ((flags & IPC_CREAT) == 0) {
        id_ = semget(key_, 0, flags | permissions);
        if (id_ < 0) throw_for(errno, describe(), "semget");
        wait_until_initialised();
        return;
    }
    for (;;) {
        // Exactly one process gets past IPC_EXCL: it alone initialises.
        id_ = semget(key_, 1, flags | IPC_EXCL | permissions);
        if (id_ >= 0) {
            created_ = true;
            initialise(initial_value);
            return;
        }
        if (errno != EEXIST) throw_for(errno, describe(), "semget");
        if (flags & IPC_EXCL) throw_for(EEXIST, describe(), "semget");
        id_ = semget(key_, 0, permissions);
        if (id_ >= 0) {
            wait_until_initialised();
            return;
        }
        // Removed between the two calls: try to create it again.
        if (errno != ENOENT) throw_for(errno, describe(), "semget");
    }
}

void Semaphore::initialise(int initial_value) {
    // One semop sets the value and sem_otime together, so an opener that sees a
    // non-zero sem_otime sees the value too. A zero op (wait for zero) on the new
    // semaphore, whose value is 0, succeeds at once and still sets sem_otime.
    sembuf op{};
    op.sem_num = 0;
    op.sem_op = static_cast<short>(initial_value);
    op.sem_flg = IPC_NOWAIT;
    while (semop(id_, &op, 1) != 0) {
        int err = errno;
        if (detail::retry_interrupted(err, std::nullopt)) continue;
        // EAGAIN: a zero op found a non-zero value, so someone has used it already.
        if (err == EAGAIN) return;
        semctl(id_, 0, IPC_RMID);  // we created it: never leave it half-made
        throw_for(err == EINVAL ? EIDRM : err, describe(), "semop (initialise)");
    }
}

void Semaphore::wait_until_initialised() {
    const auto deadline = Clock::now() + semaphore_initialisation_wait;
    auto pause = std::chrono::microseconds(10);
    for (;;) {
        semid_ds ds{};
        if (detail::stat<SemaphoreInfo>(id_, ds) != 0) {
            int err = errno;
            if (err == EACCES) return;  // no read permission: we cannot tell; go ahead
            throw_for(err == EINVAL ? EIDRM : err, describe(), "semctl(IPC_STAT)");
        }
        if (ds.sem_otime != 0) return;
        // A value set with semctl (as other programs, sysv_ipc among them, do) leaves
        // sem_otime at 0; -1 is an error that the next call will report.
        if (semctl(id_, 0, GETVAL) != 0) return;
        if (Clock::now() >= deadline) return;
        if (stop_requested()) {
            throw InterruptedError(EINTR, describe() + ": waiting for initialisation stopped");
        }
        timespec ts = to_timespec(pause);
        nanosleep(&ts, nullptr);
        pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(1));
    }
}

Semaphore Semaphore::from_id(int id) {
    Semaphore semaphore;
    semaphore.open_id(id);
    return semaphore;
}

void Semaphore::fail(int err, const char* operation) const {
    if (err == EINVAL && !exists(id_)) err = EIDRM;
    throw_for(err, describe(), operation);
}

// --- operations ---

void Semaphore::operate(int sem_op, Timeout timeout, const char* operation) {
    sembuf op{};
    op.sem_num = 0;
    op.sem_op = static_cast<short>(sem_op);
    op.sem_flg = static_cast<short>((undo_ ? SEM_UNDO : 0) | (block_ ? 0 : IPC_NOWAIT));
    std::optional<Clock::time_point> deadline;
    if (block_ && timeout) deadline = Clock::now() + std::max(*timeout, Timeout::value_type{0});
    // An operation that may wait first tries without waiting; only when it would block is
    // the thread registered for stop requests (ipckit/signals.hpp), then it waits.
    const bool may_block = block_ && sem_op <= 0;
    std::optional<ipckit::detail::InterruptTimer> wake;
    for (;;) {
        if (stop_requested()) {
            throw InterruptedError(EINTR, describe() + ": " + operation + " stopped");
        }
        const bool first_try = may_block && !wake;
        sembuf attempt = op;
        if (first_try) attempt.sem_flg = static_cast<short>(attempt.sem_flg | IPC_NOWAIT);
        int result;
        if (deadline && !first_try) {
            // semtimedop takes a relative timeout: recompute it after each interruption.
            timespec left = to_timespec(*deadline - Clock::now());
            result = semtimedop(id_, &attempt, 1, &left);
        } else {
            result = semop(id_, &attempt, 1);
        }
        if (result == 0) return;
        int err = errno;
        auto next = detail::after_failure(err, first_try, wake, deadline);
        if (next == detail::Next::retry) continue;
        if (next == detail::Next::busy) {
            if (deadline) {
                throw BusyError(
                    BusyError::Reason::timed_out, ETIMEDOUT,
                    describe() + ": " + operation + " timed out after " +
                        std::to_string(
                            std::chrono::duration_cast<std::chrono::milliseconds>(*timeout)
                                .count()) +
                        " ms (the semaphore stayed busy)");
            }
            throw BusyError(BusyError::Reason::would_block, err,
                            describe() + ": " + operation +
                                " would block (the semaphore is busy and block is off)");
        }
        fail(err, operation);
    }
}

void Semaphore::acquire(Timeout timeout, int delta) {
    check_delta(delta, *this);
    operate(-delta, timeout, "acquire");
}

void Semaphore::release(int delta) {
    check_delta(delta, *this);
    operate(delta, std::nullopt, "release");
}

void Semaphore::Z(Timeout timeout) {
    operate(0, timeout, "wait for zero");
}

bool Semaphore::try_acquire(int delta) {
    check_delta(delta, *this);
    sembuf op{};
    op.sem_num = 0;
    op.sem_op = static_cast<short>(-delta);
    op.sem_flg = static_cast<short>((undo_ ? SEM_UNDO : 0) | IPC_NOWAIT);
    for (;;) {
        if (semop(id_, &op, 1) == 0) return true;
        int err = errno;
        if (err == EAGAIN) return false;
        if (!detail::retry_interrupted(err, std::nullopt)) fail(err, "acquire");
    }
}

Semaphore::Guard Semaphore::guard(Timeout timeout, int delta) {
    acquire(timeout, delta);
    return Guard(*this, delta);
}

Semaphore::Guard::Guard(Guard&& other) noexcept
    : semaphore_(std::exchange(other.semaphore_, nullptr)), delta_(other.delta_) {}

Semaphore::Guard::~Guard() {
    try {
        release();
    } catch (...) {
        // The semaphore was removed meanwhile: there is nothing left to give back.
        // (A destructor must not throw.)
    }
}

void Semaphore::Guard::release() {
    if (semaphore_ == nullptr) return;
    Semaphore* semaphore = std::exchange(semaphore_, nullptr);
    semaphore->release(delta_);
}

// --- attributes ---

int Semaphore::value() const {
    return get(*this, GETVAL, "semctl(GETVAL)");
}

void Semaphore::set_value(int value) {
    check_value(value, describe(), "value");
    semun arg{};
    arg.val = value;
    if (semctl(id_, 0, SETVAL, arg) != 0) fail(errno, "semctl(SETVAL)");
}

pid_t Semaphore::last_pid() const {
    return get(*this, GETPID, "semctl(GETPID)");
}

std::size_t Semaphore::waiting_for_nonzero() const {
    return static_cast<std::size_t>(get(*this, GETNCNT, "semctl(GETNCNT)"));
}

std::size_t Semaphore::waiting_for_zero() const {
    return static_cast<std::size_t>(get(*this, GETZCNT, "semctl(GETZCNT)"));
}

}  // namespace ipckit::sysv
