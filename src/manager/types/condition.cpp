// The manager's Condition, as Python's threading.Condition(lock) over a manager Lock or
// RLock (its acquire and release go to the lock itself). wait releases the lock and parks
// on the condition's channel 0; notify moves waiters, in arrival order, onto the lock, where
// each waits (without a deadline) until it can hold the lock again, with the RLock's levels
// it had; only then is it answered (true when notified, false when its timeout passed).
// A waiter whose connection closes is dropped wherever it waits; it holds nothing.
#include <cstdint>
#include <vector>

#include "types.hpp"

namespace ipckit::detail {
namespace {

class ConditionReferent : public Referent {
  public:
    explicit ConditionReferent(std::uint64_t lock) : lock_id_(lock) {}
    const char* type_name() const override { return wire::type_condition; }
    std::string repr() const override {
        return "<Condition(" + (lock_ ? lock_->repr() : std::string("?")) + ", " +
               std::to_string(waiting[0].size()) + ")>";
    }
    // Its lock is a reference (it lives as long as the condition); requests bring none.
    bool accepts_refs() const override { return true; }
    void collect_refs(std::vector<std::uint64_t>& ids) const override { ids.push_back(lock_id_); }
    void attach(Store& store) override {
        lock_ = store.find(lock_id_);
        if (!lock_ || !is_plain_lock(*lock_)) {
            fail(wire::value_error, "Condition(lock): the lock must be a Lock or RLock");
        }
    }
    // A waiter's timeout passed: it holds the lock again before it is told (false).
    std::uint64_t relocate_on_timeout(Waiter& w) override {
        w.args.at(2) = Object(false);
        return lock_id_;
    }

    std::uint64_t lock_id_;
    Referent* lock_ = nullptr;
};

ConditionReferent& condition_of(Referent& target) {
    return expect<ConditionReferent>(target, "Condition");
}

void check_owned(Call& call, ConditionReferent& c, const char* what) {
    if (!lock_owned_by(*c.lock_, call.conn)) {
        fail(wire::runtime_error, std::string("cannot ") + what + " on un-acquired lock");
    }
}

Object wait(Call& call, Referent& target) {
    ConditionReferent& c = condition_of(target);
    Clock::time_point deadline = timeout_deadline(call.args, 0);
    check_owned(call, c, "wait");
    if (deadline <= Clock::now() && c.lock_->waiting[0].empty()) {
        return Object(false);  // released and taken back at once: nothing to wait for
    }
    std::uint64_t levels = lock_release_all(*c.lock_, call.conn);
    call.args.resize(1);
    call.args.emplace_back(levels);
    call.args.emplace_back(true);
    call.park = Call::Park{0, deadline};
    call.store.changed(c.lock_id_);  // another caller may take the lock now
    return Object();
}

void notify_waiters(Call& call, ConditionReferent& c, std::int64_t n) {
    std::vector<std::uint64_t> chosen;
    for (auto seq : c.waiting[0]) {
        if (static_cast<std::int64_t>(chosen.size()) >= n) break;
        chosen.push_back(seq);
    }
    for (auto seq : chosen)
        call.store.move_waiter(seq, c.lock_id_, 0);
    if (!chosen.empty()) call.store.changed(c.lock_id_);
}

Object notify(Call& call, Referent& target) {
    ConditionReferent& c = condition_of(target);
    const Object& n = call.args.empty() ? Object(1) : call.args[0];
    if (!n.is_int()) fail(wire::value_error, "notify(n): n must be an int");
    check_owned(call, c, "notify");
    notify_waiters(call, c, n.as_int());
    return Object();
}

Object notify_all(Call& call, Referent& target) {
    ConditionReferent& c = condition_of(target);
    check_owned(call, c, "notify");
    notify_waiters(call, c, INT64_MAX);
    return Object();
}

Object lock(Call&, Referent& target) {
    ConditionReferent& c = condition_of(target);
    return Object::ref(c.lock_->type_name(), c.lock_id_);
}

std::unique_ptr<Referent> make(Object::List& params) {
    if (params.empty() || !params[0].is_ref()) {
        fail(wire::value_error, "Condition(lock): the lock must be a Lock or RLock proxy");
    }
    return std::make_unique<ConditionReferent>(params[0].as_ref().id);
}

}  // namespace

void register_condition() {
    register_type(wire::type_condition, make);
    register_op(wire::condition_wait, wait);
    register_op(wire::condition_notify, notify);
    register_op(wire::condition_notify_all, notify_all);
    register_op(wire::condition_lock, lock);
}

}  // namespace ipckit::detail
