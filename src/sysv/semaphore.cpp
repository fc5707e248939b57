#include "ipckit/sysv/semaphore.hpp"

#include <sys/ipc.h>
#include <sys/sem.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <sstream>
#include <utility>

#include "errors.hpp"
#include "interrupt_timer.hpp"
#include "ipckit/signals.hpp"

namespace ipckit::sysv {
namespace {

using Clock = std::chrono::steady_clock;
using detail::Kind;

// glibc leaves this union to the caller (semctl(2)).
union semun {
    int val;
    semid_ds* buf;
    unsigned short* array;
};

[[noreturn]] void throw_for(int err, const std::string& who, const char* operation) {
    detail::throw_for(Kind::semaphore, err, who, operation);
}

// Linux says EINVAL both for a removed semaphore and for a bad argument; a failed
// IPC_STAT tells them apart.
bool exists(int id) {
    semid_ds ds{};
    semun arg{};
    arg.buf = &ds;
    return semctl(id, 0, IPC_STAT, arg) == 0 || errno == EACCES;
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

semid_ds stat_or_throw(int id, const std::string& who) {
    semid_ds ds{};
    semun arg{};
    arg.buf = &ds;
    if (semctl(id, 0, IPC_STAT, arg) != 0) {
        int err = errno;
        throw_for(err == EINVAL ? EIDRM : err, who, "semctl(IPC_STAT)");
    }
    return ds;
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

Semaphore::Semaphore(Key key, int flags, int mode, int initial_value) : key_(key) {
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
        if (err == EINTR) continue;
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
        semun arg{};
        arg.buf = &ds;
        if (semctl(id_, 0, IPC_STAT, arg) != 0) {
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
    semaphore.id_ = id;
    semid_ds ds{};
    semun arg{};
    arg.buf = &ds;
    if (semctl(id, 0, IPC_STAT, arg) != 0) {
        int err = errno;
        if (err == EINVAL || err == EIDRM) err = ENOENT;  // Linux says EINVAL for a bad id
        throw_for(err, "semaphore id " + std::to_string(id), "semctl(IPC_STAT)");
    }
    semaphore.key_ = ds.sem_perm.__key;
    return semaphore;
}

Semaphore::Semaphore(Semaphore&& other) noexcept
    : key_(other.key_),
      id_(std::exchange(other.id_, -1)),
      undo_(other.undo_),
      block_(other.block_),
      auto_remove_(std::exchange(other.auto_remove_, false)),
      created_(other.created_) {}

Semaphore& Semaphore::operator=(Semaphore&& other) noexcept {
    if (this != &other) {
        if (auto_remove_ && id_ >= 0) semctl(id_, 0, IPC_RMID);
        key_ = other.key_;
        id_ = std::exchange(other.id_, -1);
        undo_ = other.undo_;
        block_ = other.block_;
        auto_remove_ = std::exchange(other.auto_remove_, false);
        created_ = other.created_;
    }
    return *this;
}

Semaphore::~Semaphore() {
    if (auto_remove_ && id_ >= 0) semctl(id_, 0, IPC_RMID);
}

std::string Semaphore::describe() const {
    std::string text = "semaphore " + format_key(key_);
    if (key_ == IPC_PRIVATE) text += " (id " + std::to_string(id_) + ")";
    return text;
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
        if (err == EAGAIN && first_try) {
            wake.emplace();  // a stop request interrupts the wait below
            continue;
        }
        if (err == EINTR) continue;  // a stray signal: retry (a stop is checked above)
        if (err == EAGAIN) {
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
        if (err != EINTR) fail(err, "acquire");
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

// --- removal and attributes ---

void Semaphore::remove() {
    if (semctl(id_, 0, IPC_RMID) != 0) {
        int err = errno;
        throw_for(err == EINVAL ? EIDRM : err, describe(), "remove");
    }
    auto_remove_ = false;
}

namespace {
SemaphoreInfo to_info(int id, const semid_ds& ds) {
    SemaphoreInfo info;
    info.key = ds.sem_perm.__key;
    info.id = id;
    info.count = ds.sem_nsems;
    info.o_time = ds.sem_otime;
    info.last_change_time = ds.sem_ctime;
    info.uid = ds.sem_perm.uid;
    info.gid = ds.sem_perm.gid;
    info.cuid = ds.sem_perm.cuid;
    info.cgid = ds.sem_perm.cgid;
    info.mode = ds.sem_perm.mode & 0777;
    // The per-semaphore numbers; the set may vanish meanwhile, then they stay 0.
    info.value = std::max(semctl(id, 0, GETVAL), 0);
    info.last_pid = std::max(semctl(id, 0, GETPID), 0);
    info.waiting_for_nonzero = static_cast<std::size_t>(std::max(semctl(id, 0, GETNCNT), 0));
    info.waiting_for_zero = static_cast<std::size_t>(std::max(semctl(id, 0, GETZCNT), 0));
    return info;
}
}  // namespace

SemaphoreInfo Semaphore::info() const {
    return to_info(id_, stat_or_throw(id_, describe()));
}

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

namespace {
template <class Change>
void change_semaphore(int id, const std::string& who, Change change) {
    semid_ds ds = stat_or_throw(id, who);
    change(ds);
    semun arg{};
    arg.buf = &ds;
    if (semctl(id, 0, IPC_SET, arg) != 0) {
        int err = errno;
        throw_for(err == EINVAL ? EIDRM : err, who, "semctl(IPC_SET)");
    }
}
}  // namespace

void Semaphore::set_uid(uid_t uid) {
    change_semaphore(id_, describe(), [&](semid_ds& ds) { ds.sem_perm.uid = uid; });
}
void Semaphore::set_gid(gid_t gid) {
    change_semaphore(id_, describe(), [&](semid_ds& ds) { ds.sem_perm.gid = gid; });
}
void Semaphore::set_mode(int mode) {
    change_semaphore(id_, describe(), [&](semid_ds& ds) {
        ds.sem_perm.mode = static_cast<unsigned short>((ds.sem_perm.mode & ~0777) | (mode & 0777));
    });
}

std::vector<SemaphoreInfo> list_semaphores() {
    std::vector<SemaphoreInfo> semaphores;
    for (int id : detail::sysvipc_ids("sem")) {
        semid_ds ds{};
        semun arg{};
        arg.buf = &ds;
        if (semctl(id, 0, IPC_STAT, arg) != 0) continue;  // removed meanwhile, or not ours
        semaphores.push_back(to_info(id, ds));
    }
    return semaphores;
}

void remove_semaphore(int id) {
    if (semctl(id, 0, IPC_RMID) != 0) {
        int err = errno;
        if (err == EINVAL) err = ENOENT;
        throw_for(err, "semaphore id " + std::to_string(id), "remove");
    }
}

}  // namespace ipckit::sysv
