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

// Specialised by each kind: using Record (its *id_ds); kind; ctl (the call's name);
// stat, set and remove (the ctl calls, returning 0 or -1 with errno); perm (the
// record's ipc_perm); to_info; optionally explain_set_failure (throws for an IPC_SET
// error that the kind explains better).
template <class Info>
struct Traits;

// The fields every kind's Info has, from the record's ipc_perm.
template <class Info>
Info perm_info(int id, const ipc_perm& perm) {
    Info info;
    info.key = perm.__key;
    info.id = id;
    info.uid = perm.uid;
    info.gid = perm.gid;
    info.cuid = perm.cuid;
    info.cgid = perm.cgid;
    info.mode = static_cast<int>(perm.mode & 0777U);
    return info;
}

template <class Info>
std::string operation(const char* command) {
    return std::string(Traits<Info>::ctl) + "(" + command + ")";
}

template <class Info>
typename Traits<Info>::Record stat_or_throw(int id, const std::string& who) {
    typename Traits<Info>::Record ds{};
    if (Traits<Info>::stat(id, ds) != 0) {
        int err = errno;
        throw_for(Traits<Info>::kind, err == EINVAL ? EIDRM : err, who,
                  operation<Info>("IPC_STAT"));
    }
    return ds;
}

// IPC_STAT, change, IPC_SET.
template <class Info, class Change>
void change(int id, const std::string& who, Change change_record) {
    auto ds = stat_or_throw<Info>(id, who);
    change_record(ds);
    if (Traits<Info>::set(id, ds) != 0) {
        int err = errno;
        if constexpr (requires { Traits<Info>::explain_set_failure(err, ds, who); }) {
            Traits<Info>::explain_set_failure(err, ds, who);
        }
        throw_for(Traits<Info>::kind, err == EINVAL ? EIDRM : err, who, operation<Info>("IPC_SET"));
    }
}

template <class Info>
Info Object<Info>::info() const {
    return Traits<Info>::to_info(id_, stat_or_throw<Info>(id_, describe()));
}

template <class Info>
void Object<Info>::set_uid(uid_t uid) {
    change<Info>(id_, describe(), [&](auto& ds) { Traits<Info>::perm(ds).uid = uid; });
}

template <class Info>
void Object<Info>::set_gid(gid_t gid) {
    change<Info>(id_, describe(), [&](auto& ds) { Traits<Info>::perm(ds).gid = gid; });
}

template <class Info>
void Object<Info>::set_mode(int mode) {
    change<Info>(id_, describe(), [&](auto& ds) {
        auto& perm = Traits<Info>::perm(ds);
        perm.mode = static_cast<unsigned short>((perm.mode & ~0777) | (mode & 0777));
    });
}

template <class Info>
void Object<Info>::remove() {
    if (Traits<Info>::remove(id_) != 0) {
        int err = errno;
        throw_for(Traits<Info>::kind, err == EINVAL ? EIDRM : err, describe(), "remove");
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
        if (auto_remove_ && id_ >= 0) Traits<Info>::remove(id_);
        key_ = other.key_;
        id_ = std::exchange(other.id_, -1);
        auto_remove_ = std::exchange(other.auto_remove_, false);
    }
    return *this;
}

template <class Info>
Object<Info>::~Object() {
    if (auto_remove_ && id_ >= 0) Traits<Info>::remove(id_);
}

template <class Info>
void Object<Info>::open_id(int id) {
    typename Traits<Info>::Record ds{};
    if (Traits<Info>::stat(id, ds) != 0) {
        int err = errno;
        if (err == EINVAL || err == EIDRM) err = ENOENT;  // Linux says EINVAL for a bad id
        throw_for(Traits<Info>::kind, err,
                  std::string(noun(Traits<Info>::kind)) + " id " + std::to_string(id),
                  operation<Info>("IPC_STAT"));
    }
    id_ = id;
    key_ = Traits<Info>::perm(ds).__key;
}

template <class Info>
std::vector<Info> list() {
    std::vector<Info> objects;
    for (int id : sysvipc_ids(Traits<Info>::kind)) {
        typename Traits<Info>::Record ds{};
        if (Traits<Info>::stat(id, ds) != 0) continue;  // removed meanwhile, or not ours to see
        objects.push_back(Traits<Info>::to_info(id, ds));
    }
    return objects;
}

template <class Info>
void remove_id(int id) {
    if (Traits<Info>::remove(id) != 0) {
        int err = errno;
        if (err == EINVAL) err = ENOENT;
        throw_for(Traits<Info>::kind, err,
                  std::string(noun(Traits<Info>::kind)) + " id " + std::to_string(id), "remove");
    }
}

// Each kind's .cpp instantiates Object<Info>, list<Info> and remove_id<Info> once its
// Traits<Info> is defined.

}  // namespace ipckit::sysv::detail
