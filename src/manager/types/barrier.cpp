// The manager's Barrier, as Python's threading.Barrier (without action and default
// timeout): wait parks until `parties` callers have arrived; a wait that times out, a
// waiter whose connection closes (its process died), abort() and reset() break it for the
// waiters (BrokenBarrierError), as Python's does on abort.
#include "types.hpp"

namespace ipckit::detail {
namespace {

class BarrierReferent : public Referent {
  public:
    explicit BarrierReferent(std::int64_t parties) : parties_(parties) {}
    const char* type_name() const override { return wire::type_barrier; }
    std::string repr() const override {
        return "<Barrier object: parties=" + std::to_string(parties_) +
               ", n_waiting=" + std::to_string(n_waiting()) +
               ", broken=" + (broken_ ? "True" : "False") + ">";
    }
    std::int64_t n_waiting() const { return broken_ ? 0 : count_; }

    // A parked wait's args: [timeout, generation, index].
    bool retry(Store&, Waiter& w, std::string& out) override {
        auto generation = static_cast<std::uint64_t>(w.args.at(1).as_int());
        if (generation < generation_) {  // its round ended: released, or reset
            if (released_) {
                wire::append_ok(out, w.args.at(2));
            } else {
                wire::append_error(out, wire::broken_barrier, "the barrier was reset");
            }
            return true;
        }
        if (!broken_) return false;
        --count_;
        wire::append_error(out, wire::broken_barrier, "the barrier is broken");
        return true;
    }
    void time_out(const Waiter&, std::string& out) override {
        broken_ = true;  // the others are told by the store's wake
        --count_;
        wire::append_error(out, wire::broken_barrier, "the barrier is broken (wait timed out)");
    }
    bool abandoned(const Waiter& w) override {
        if (static_cast<std::uint64_t>(w.args.at(1).as_int()) < generation_) return false;
        broken_ = true;
        --count_;
        return true;
    }

    std::int64_t parties_;
    std::int64_t count_ = 0;
    std::uint64_t generation_ = 0;
    bool released_ = false;  // how the previous round ended
    bool broken_ = false;
};

BarrierReferent& barrier_of(Referent& target) {
    return expect<BarrierReferent>(target, "Barrier");
}

Object wait(Call& call, Referent& target) {
    BarrierReferent& b = barrier_of(target);
    Clock::time_point deadline = timeout_deadline(call.args, 0);
    if (b.broken_) fail(wire::broken_barrier, "the barrier is broken");
    std::int64_t index = b.count_++;
    if (b.count_ == b.parties_) {  // the last arrival releases the round
        ++b.generation_;
        b.released_ = true;
        b.count_ = 0;
        return Object(index);
    }
    if (deadline <= Clock::now()) {
        b.broken_ = true;
        --b.count_;
        fail(wire::broken_barrier, "the barrier is broken (wait timed out)");
    }
    call.args.resize(1);
    call.args.emplace_back(static_cast<std::int64_t>(b.generation_));
    call.args.emplace_back(index);
    call.park = Call::Park{0, deadline};
    return Object();
}

Object reset(Call&, Referent& target) {
    BarrierReferent& b = barrier_of(target);
    if (b.count_ > 0 && !b.broken_) {  // the waiters are told (BrokenBarrierError)
        ++b.generation_;
        b.released_ = false;
    }
    b.count_ = 0;
    b.broken_ = false;
    return Object();
}

Object abort(Call&, Referent& target) {
    barrier_of(target).broken_ = true;
    return Object();
}
Object parties(Call&, Referent& target) {
    return Object(barrier_of(target).parties_);
}
Object n_waiting(Call&, Referent& target) {
    return Object(barrier_of(target).n_waiting());
}
Object broken(Call&, Referent& target) {
    return Object(barrier_of(target).broken_);
}

std::unique_ptr<Referent> make(Object::List& params) {
    if (params.empty() || !params[0].is_int() || params[0].as_int() < 1) {
        fail(wire::value_error, "Barrier(parties): parties must be an int >= 1");
    }
    return std::make_unique<BarrierReferent>(params[0].as_int());
}

}  // namespace

void register_barrier() {
    register_type(wire::type_barrier, make);
    register_op(wire::barrier_wait, wait);
    register_op(wire::barrier_reset, reset);
    register_op(wire::barrier_abort, abort);
    register_op(wire::barrier_parties, parties);
    register_op(wire::barrier_n_waiting, n_waiting);
    register_op(wire::barrier_broken, broken);
}

}  // namespace ipckit::detail
