// The manager's Event, as Python's threading.Event: a wait parks until set() or timeout.
#include "types.hpp"

namespace ipckit::detail {
namespace {

class EventReferent : public Referent {
  public:
    const char* type_name() const override { return wire::type_event; }
    std::string repr() const override {
        return std::string("<Event object: ") + (flag_ ? "set" : "unset") + ">";
    }
    bool retry(Store&, Waiter&, std::string& out) override {
        if (!flag_) return false;
        wire::append_ok(out, Object(true));
        return true;
    }
    bool flag_ = false;
};

EventReferent& event_of(Referent& target) {
    return expect<EventReferent>(target, "Event");
}

Object set(Call&, Referent& target) {
    event_of(target).flag_ = true;  // the store then answers every waiter
    return Object();
}
Object clear(Call&, Referent& target) {
    event_of(target).flag_ = false;
    return Object();
}
Object is_set(Call&, Referent& target) {
    return Object(event_of(target).flag_);
}
Object wait(Call& call, Referent& target) {
    EventReferent& e = event_of(target);
    Clock::time_point deadline = timeout_deadline(call.args, 0);
    if (e.flag_) return Object(true);
    if (deadline <= Clock::now()) return Object(false);
    call.park = Call::Park{0, deadline};
    return Object();
}

std::unique_ptr<Referent> make(Object::List&) {
    return std::make_unique<EventReferent>();
}

}  // namespace

void register_event() {
    register_type(wire::type_event, make);
    register_op(wire::event_set, set);
    register_op(wire::event_clear, clear);
    register_op(wire::event_is_set, is_set);
    register_op(wire::event_wait, wait);
}

}  // namespace ipckit::detail
