// ipckit::sysv::Semaphore: a System V semaphore, as sysv_ipc.Semaphore.
//
//   sysv::Semaphore sem(42, IPC_CREAT, 0600, 1);   // a lock shared by unrelated processes
//   {
//       auto held = sem.guard();                   // acquire; released at the end of scope
//       // ...
//   }
//   sem.acquire(2s);      // value 1 -> 0; BusyError (timed_out) if still held after 2 s
//   bool again = sem.try_acquire();                // false: the value is 0
//   sem.release();                                 // value 0 -> 1
//   sem.remove();
//
// The object is a handle: destroying it leaves the kernel semaphore in place (semaphores
// outlive processes), unless set_auto_remove(true) asked for removal.
//
// Creation is race-free, unlike sysv_ipc's: with IPC_CREAT, exactly one process creates
// and initialises the semaphore and every other one waits until it is initialised
// before using it (see the constructor). An existing semaphore's value is never reset
// by opening it (sysv_ipc sets initial_value again whenever IPC_CREAT is passed).
#pragma once

#include <sys/types.h>
#include <chrono>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/sysv/ipc.hpp"
#include "ipckit/sysv/object.hpp"

namespace ipckit::sysv {

// The largest value a semaphore can hold (the kernel's SEMVMX), as sysv_ipc's
// SEMAPHORE_VALUE_MAX.
inline constexpr int semaphore_value_max = 32767;

// How long an opener waits for the creator to initialise a new semaphore.
inline constexpr std::chrono::milliseconds semaphore_initialisation_wait{1000};

// Everything IPC_STAT and the GET* commands tell about a semaphore.
struct SemaphoreInfo : ObjectInfo {
    int value = 0;
    std::size_t count = 1;   // semaphores in the set (ipckit and sysv_ipc use 1)
    std::time_t o_time = 0;  // last semop; 0 until the first one
    std::time_t last_change_time = 0;
    pid_t last_pid = 0;
    std::size_t waiting_for_nonzero = 0;
    std::size_t waiting_for_zero = 0;
};

// key(), id(), info(), uid/gid/mode, remove() and describe(): see ipckit/sysv/object.hpp.
class Semaphore : public detail::Object<SemaphoreInfo> {
  public:
    // No timeout (std::nullopt): wait as long as it takes. Zero: try once.
    using Timeout = std::optional<std::chrono::nanoseconds>;

    // Opens (flags 0) or creates (IPC_CREAT, IPC_CREX) the semaphore with this key.
    // initial_value (0..semaphore_value_max) is set only when this call creates it:
    //   sysv::Semaphore lock(42, IPC_CREAT, 0600, 1);  // any number of processes at once
    // Exactly one of them creates and initialises it; the others return only once it is
    // initialised (waiting at most semaphore_initialisation_wait). A semaphore that
    // another program made with semctl(SETVAL) and never used is taken as it is after
    // that wait.
    explicit Semaphore(Key key, int flags = 0, int mode = default_mode, int initial_value = 0);
    // key = std::nullopt: a random free key, created exclusively (sysv_ipc's key=None).
    explicit Semaphore(std::nullopt_t, int flags = IPC_CREX, int mode = default_mode,
                       int initial_value = 0);
    // Opens an existing semaphore by its id (as ipcs shows it).
    static Semaphore from_id(int id);

    Semaphore(Semaphore&& other) noexcept = default;
    Semaphore& operator=(Semaphore&& other) noexcept = default;
    ~Semaphore() = default;

    // --- operations ---
    // Decrements the value by delta (1..semaphore_value_max), waiting while it is less
    // than delta. BusyError: timed_out after the timeout, would_block when block() is
    // false. ExistentialError when the semaphore is removed while waiting.
    void acquire(Timeout timeout = std::nullopt, int delta = 1);
    // Increments the value by delta; never waits (unless it would pass SEMVMX: ValueError).
    void release(int delta = 1);
    // Waits until the value is zero.
    void Z(Timeout timeout = std::nullopt);
    // Any duration, fractional seconds too (sysv_ipc takes acquire(0.5)):
    //   sem.acquire(std::chrono::duration<double>(0.5));
    template <class Rep, class Period>
    void acquire(std::chrono::duration<Rep, Period> timeout, int delta = 1) {
        acquire(Timeout(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout)), delta);
    }
    template <class Rep, class Period>
    void Z(std::chrono::duration<Rep, Period> timeout) {
        Z(Timeout(std::chrono::duration_cast<std::chrono::nanoseconds>(timeout)));
    }
    // sysv_ipc's other names for acquire and release.
    void P(Timeout timeout = std::nullopt, int delta = 1) { acquire(timeout, delta); }
    void V(int delta = 1) { release(delta); }
    // Acquires if it can without waiting; false if not.
    bool try_acquire(int delta = 1);

    // BasicLockable and Lockable, so std::lock_guard, std::unique_lock and
    // std::scoped_lock work with a semaphore used as a lock.
    void lock() { acquire(); }
    void unlock() { release(); }
    bool try_lock() { return try_acquire(); }

    // Holds `delta` of the semaphore until destroyed (sysv_ipc's `with sem:`).
    class Guard {
      public:
        Guard(Guard&& other) noexcept;
        Guard& operator=(Guard&&) = delete;
        Guard(const Guard&) = delete;
        Guard& operator=(const Guard&) = delete;
        ~Guard();
        // Releases now instead of at the end of the scope.
        void release();
        bool owns() const noexcept { return semaphore_ != nullptr; }

      private:
        friend class Semaphore;
        Guard(Semaphore& semaphore, int delta) : semaphore_(&semaphore), delta_(delta) {}
        Semaphore* semaphore_;
        int delta_;
    };
    // Acquires (with the timeout) and returns the guard that releases.
    [[nodiscard]] Guard guard(Timeout timeout = std::nullopt, int delta = 1);

    // --- modes of operation (per handle, as in sysv_ipc) ---
    // SEM_UNDO: the kernel undoes this process's acquires and releases when it exits,
    // so a process that dies holding the semaphore gives it back.
    bool undo() const noexcept { return undo_; }
    void set_undo(bool on) noexcept { undo_ = on; }
    // false: operations that would wait throw BusyError (would_block) at once.
    bool block() const noexcept { return block_; }
    void set_block(bool on) noexcept { block_ = on; }

    // True when this handle created the semaphore (and so initialised it).
    bool created() const noexcept { return created_; }

    // --- attributes (each reads the kernel's current state) ---
    int value() const;
    // Sets the value (semctl SETVAL); clears every process's undo record for it.
    void set_value(int value);
    pid_t last_pid() const;
    std::size_t waiting_for_nonzero() const;
    std::size_t waiting_for_zero() const;
    std::time_t o_time() const { return info().o_time; }
    std::time_t last_change_time() const { return info().last_change_time; }

  private:
    Semaphore() = default;
    void open_or_create(int flags, int mode, int initial_value);
    void initialise(int initial_value);
    void wait_until_initialised();
    void operate(int sem_op, Timeout timeout, const char* operation);
    [[noreturn]] void fail(int err, const char* operation) const;

    bool undo_ = false;
    bool block_ = true;
    bool created_ = false;
};

// Information about every semaphore set on the system (as `ipcs -s`), from
// /proc/sysvipc/sem. `value` is the first semaphore's.
inline constexpr auto list_semaphores = &detail::Object<SemaphoreInfo>::list;

// Removes the semaphore with this id (sysv_ipc.remove_semaphore).
inline constexpr auto remove_semaphore = &detail::Object<SemaphoreInfo>::remove_id;

}  // namespace ipckit::sysv
