// Internal: the one implementation of detail::Object (ipckit/sysv/object.hpp), the one
// errno mapper and the one EINTR rule, over per-kind traits.
//
// Each kind's .cpp specialises Traits<Info> (its IPC_STAT record, its ctl calls, how the
// record reads as Info) and instantiates Object<Info>, list<Info> and remove_id<Info>.
#pragma once

#include <sys/ipc.h>

#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "interrupt_timer.hpp"
#include "ipckit/sysv/object.hpp"

namespace ipckit::sysv::detail {

enum class Kind { message_queue, semaphore, shared_memory };

// "message queue", "semaphore" or "shared memory segment".
const char* noun(Kind kind) noexcept;
// "msgctl", "semctl" or "shmctl".
const char* ctl_name(Kind kind) noexcept;

// Throws the exception that errno `err` from `operation` calls for: each message names
// the object (`who`) and, where there is one, the fix.
[[noreturn]] void throw_for(Kind kind, int err, const std::string& who,
                            const std::string& operation);

// The ids listed in /proc/sysvipc/{msg,sem,shm}: every object of the kind on the system,
// whether or not this process may read it.
std::vector<int> sysvipc_ids(Kind kind);

// The one rule for EINTR: a stray signal, or the wake-up of a stop request (the caller
// checks stop_requested() before each try), means try again; past the deadline it is the
// timer that ends the wait, and err becomes ETIMEDOUT. True: try again.
inline bool retry_interrupted(int& err,
                              const std::optional<ipckit::detail::Clock::time_point>& deadline) {
    if (err != EINTR) return false;
    if (deadline && ipckit::detail::Clock::now() >= *deadline) {
        err = ETIMEDOUT;
        return false;
    }
    return true;
}

// What a wait loop does after a failed call. A call that may wait is tried first without
// waiting (`first_try`): only when that finds the object busy is the thread registered
// for stop requests (`wake`), and the call is made again, waiting. busy: the object
// stayed busy (time out when there is a deadline, else "would block"); fail: err says why.
enum class Next { retry, busy, fail };
inline Next after_failure(int& err, bool first_try,
                          std::optional<ipckit::detail::InterruptTimer>& wake,
                          const std::optional<ipckit::detail::Clock::time_point>& deadline) {
    if (err == EAGAIN && first_try) {
        wake.emplace();
        return Next::retry;
    }
    if (retry_interrupted(err, deadline)) return Next::retry;
    return err == EAGAIN || err == ETIMEDOUT ? Next::busy : Next::fail;
}

// Specialised by each kind, on TraitsBase: ctl(id, command, record*) (its *ctl call,
// returning 0 or -1 with errno); make(common, record) (Info from the fields every kind
// has and the kind's own); optionally explain_set_failure (throws for an IPC_SET error
// that the kind explains better).
template <class Info>
struct Traits;

// The kind's *id_ds record, the kind, and the record's ipc_perm.
template <class R, Kind K, ipc_perm R::*Perm>
struct TraitsBase {
    using Record = R;
    static constexpr Kind kind = K;
    static constexpr ipc_perm R::*perm = Perm;
};

template <class Info>
using Record = typename Traits<Info>::Record;

template <class Info>
[[noreturn]] void fail(int err, const std::string& who, const std::string& operation) {
    throw_for(Traits<Info>::kind, err, who, operation);
}

template <class Info>
int stat(int id, Record<Info>& ds) {
    return Traits<Info>::ctl(id, IPC_STAT, &ds);
}

template <class Info>
int remove(int id) {
    return Traits<Info>::ctl(id, IPC_RMID, nullptr);
}

template <class Info>
std::string operation(const char* command) {
    return std::string(ctl_name(Traits<Info>::kind)) + "(" + command + ")";
}

template <class Info>
Info to_info(int id, const Record<Info>& ds) {
    const ipc_perm& perm = ds.*Traits<Info>::perm;
    const ObjectInfo common{perm.__key,
                            id,
                            perm.uid,
                            perm.gid,
                            perm.cuid,
                            perm.cgid,
                            static_cast<int>(perm.mode & 0777U)};
    return Traits<Info>::make(common, ds);
}

template <class Info>
Record<Info> stat_or_throw(int id, const std::string& who) {
    Record<Info> ds{};
    if (stat<Info>(id, ds) != 0) {
        int err = errno;
        fail<Info>(err == EINVAL ? EIDRM : err, who, operation<Info>("IPC_STAT"));
    }
    return ds;
}

// IPC_STAT, change, IPC_SET.
template <class Info, class Change>
void change(int id, const std::string& who, Change change_record) {
    auto ds = stat_or_throw<Info>(id, who);
    change_record(ds);
    if (Traits<Info>::ctl(id, IPC_SET, &ds) != 0) {
        int err = errno;
        if constexpr (requires { Traits<Info>::explain_set_failure(err, ds, who); }) {
            Traits<Info>::explain_set_failure(err, ds, who);
        }
        fail<Info>(err == EINVAL ? EIDRM : err, who, operation<Info>("IPC_SET"));
    }
}

template <class Info>
Info Object<Info>::info() const {
    return to_info<Info>(id_, stat_or_throw<Info>(id_, describe()));
}

template <class Info>
void Object<Info>::set_uid(uid_t uid) {
    change<Info>(id_, describe(), [&](auto& ds) { (ds.*Traits<Info>::perm).uid = uid; });
}

template <class Info>
void Object<Info>::set_gid(gid_t gid) {
    change<Info>(id_, describe(), [&](auto& ds) { (ds.*Traits<Info>::perm).gid = gid; });
}

template <class Info>
void Object<Info>::set_mode(int mode) {
    change<Info>(id_, describe(), [&](auto& ds) {
        ipc_perm& perm = ds.*Traits<Info>::perm;
        perm.mode = static_cast<unsigned short>((perm.mode & ~0777) | (mode & 0777));
    });
}

template <class Info>
void Object<Info>::remove() {
    if (detail::remove<Info>(id_) != 0) {
        int err = errno;
        fail<Info>(err == EINVAL ? EIDRM : err, describe(), "remove");
    }
    auto_remove_ = false;
}

template <class Info>
std::string Object<Info>::describe() const {
    std::string text = std::string(noun(Traits<Info>::kind)) + " " + format_key(key_);
    if (key_ == IPC_PRIVATE) text += " (id " + std::to_string(id_) + ")";
    return text;
}

template <class Info>
Object<Info>::Object(Object&& other) noexcept
    : key_(other.key_),
      id_(std::exchange(other.id_, -1)),
      auto_remove_(std::exchange(other.auto_remove_, false)) {}

template <class Info>
Object<Info>& Object<Info>::operator=(Object&& other) noexcept {
    if (this != &other) {
        if (auto_remove_ && id_ >= 0) detail::remove<Info>(id_);
        key_ = other.key_;
        id_ = std::exchange(other.id_, -1);
        auto_remove_ = std::exchange(other.auto_remove_, false);
    }
    return *this;
}

template <class Info>
Object<Info>::~Object() {
    if (auto_remove_ && id_ >= 0) detail::remove<Info>(id_);
}

template <class Info>
void Object<Info>::open_id(int id) {
    Record<Info> ds{};
    if (stat<Info>(id, ds) != 0) {
        int err = errno;
        if (err == EINVAL || err == EIDRM) err = ENOENT;  // Linux says EINVAL for a bad id
        fail<Info>(err, std::string(noun(Traits<Info>::kind)) + " id " + std::to_string(id),
                   operation<Info>("IPC_STAT"));
    }
    id_ = id;
    key_ = (ds.*Traits<Info>::perm).__key;
}

template <class Info>
std::vector<Info> Object<Info>::list() {
    std::vector<Info> objects;
    for (int id : sysvipc_ids(Traits<Info>::kind)) {
        Record<Info> ds{};
        if (stat<Info>(id, ds) != 0) continue;  // removed meanwhile, or not ours to see
        objects.push_back(to_info<Info>(id, ds));
    }
    return objects;
}

template <class Info>
void Object<Info>::remove_id(int id) {
    if (detail::remove<Info>(id) != 0) {
        int err = errno;
        if (err == EINVAL) err = ENOENT;
        fail<Info>(err, std::string(noun(Traits<Info>::kind)) + " id " + std::to_string(id),
                   "remove");
    }
}

// Each kind's .cpp instantiates Object<Info> once its Traits<Info> is defined.

}  // namespace ipckit::sysv::detail
