// The manager's shared types on the server: what a type implements (Referent), what its
// handlers see (Call), and the registration of handlers by op code and of constructors by
// type name. One file per type: dict.cpp, list.cpp, queue.cpp, lock.cpp, event.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "../store.hpp"
#include "../wire.hpp"
#include "ipckit/object.hpp"
#include "request_error.hpp"

namespace ipckit::detail {

inline Object& arg(Object::List& args, std::size_t i) {
    if (i >= args.size()) fail(wire::value_error, "request lacks argument " + std::to_string(i));
    return args[i];
}

// What a handler sees: the request and its caller.
struct Call {
    Store& store;
    ConnId conn;
    const std::string& session;
    std::uint64_t id;  // the object's (0 for requests about no object)
    int op;
    Object::List& args;
    std::string& out;  // the caller's output
    // Set by a handler that appended its own answer to `out` (a stored value sent without
    // a copy, an error status that is not an exception).
    bool answered = false;
    // Set by a handler whose request must wait: parked on `channel` until `deadline`.
    struct Park {
        int channel;
        Clock::time_point deadline;
    };
    std::optional<Park> park;
};

// A shared object of some type. Parked requests wait on one of its channels (a queue's
// getters, putters and joiners); each channel answers in arrival order and stops at the
// first request that cannot proceed.
class Referent {
  public:
    static constexpr int max_channels = 3;
    virtual ~Referent() = default;
    virtual const char* type_name() const = 0;
    // Python's repr of the referent.
    virtual std::string repr() const = 0;
    // len(); clear(); copy(): ValueError unless the type has them.
    virtual std::size_t size() const;
    virtual void clear();
    virtual const Object& value() const;
    // A parked request: appends its answer to `out` and returns true when it can proceed
    // now, false to keep waiting.
    virtual bool retry(Store& store, Waiter& waiter, std::string& out);
    // A parked request's deadline passed: appends its answer to `out`.
    virtual void time_out(const Waiter& waiter, std::string& out);
    // Connection `conn` closed: give back what it held. True when that changed the state
    // (parked requests may proceed).
    virtual bool connection_closed(ConnId conn);
    // An item this object handed over (Store::hand_over) never reached its caller: take it
    // back, first in line.
    virtual void give_back(Object&& item);
    // A parked request's connection closed (it is dropped unanswered). True when that
    // changed the state (other parked requests may proceed: a Barrier breaks).
    virtual bool abandoned(const Waiter& waiter);
    // A parked request's deadline passed but it must go on waiting elsewhere before it is
    // answered (a Condition's waiter re-acquires its lock): updates `waiter` and returns the
    // object it now waits on (channel 0). 0 (the default): time_out answers it.
    virtual std::uint64_t relocate_on_timeout(Waiter& waiter);
    // Whether it may store refs (Object::ref) that requests bring; then collect_refs lists
    // every object it refers to (once per reference).
    virtual bool accepts_refs() const { return false; }
    virtual void collect_refs(std::vector<std::uint64_t>& ids) const;
    // Called once, after construction and before it is stored (a Condition finds its lock).
    virtual void attach(Store& store);

    std::set<std::uint64_t> waiting[max_channels];  // seqs of parked requests
    std::uint64_t id = 0;
};

using Handler = Object (*)(Call& call, Referent& target);
using Factory = std::unique_ptr<Referent> (*)(Object::List& params);

// The registry: ops handled by a type's file, constructors by type name.
void register_op(int op, Handler handler);
void register_type(const std::string& type, Factory factory);
Handler handler_of(int op);
Factory factory_of(const std::string& type);

// Each type file's registration.
void register_dict();
void register_list();
void register_queue();
void register_locks();
void register_event();
void register_barrier();
void register_condition();
void register_namespace();
void register_value();
void register_array();

// For Condition (condition.cpp), about a lock (lock.cpp): whether it is a Lock or RLock;
// whether connection `conn` holds it; releasing it entirely for `conn` (which holds it),
// the RLock's levels returned (1 for a Lock). A Condition's waiter parked on the lock
// (op condition_wait, args [timeout, levels, result]) gets it back with its levels, then
// `result` as its answer.
bool is_plain_lock(Referent& r);
bool lock_owned_by(Referent& lock, ConnId conn);
std::uint64_t lock_release_all(Referent& lock, ConnId conn);

// RequestError, fail, array_typecode and array_item: request_error.hpp.

// Appends the id of every ref in `value` (lists, dict keys and values, at any depth).
void collect_refs(const Object& value, std::vector<std::uint64_t>& ids);
void register_custom();  // custom.cpp: registered types' methods

// The type a handler expects: ValueError naming the object otherwise.
template <class T>
T& expect(Referent& target, const char* what) {
    auto* t = dynamic_cast<T*>(&target);
    if (!t) {
        fail(wire::value_error, "object " + std::to_string(target.id) + " is a " +
                                    target.type_name() + ", not a " + what);
    }
    return *t;
}

// [block, timeout] of a blocking request, from args[i], args[i + 1]: the deadline, or
// nullopt when the request must not wait. Timeout nil: forever; else nanoseconds >= 0.
std::optional<Clock::time_point> wait_deadline(Object::List& args, std::size_t i);
// [timeout] alone (Event.wait, join): the call always blocks.
Clock::time_point timeout_deadline(Object::List& args, std::size_t i);

}  // namespace ipckit::detail
