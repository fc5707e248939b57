// The manager's Lock, RLock, Semaphore and BoundedSemaphore, as Python's threading ones,
// plus what Python lacks: the server knows which connection holds what, and when a
// connection closes (its process died, say) it gives back what that connection held; the
// next acquirer is told (acquire answers 2: acquired, recovered).
//
// RLock ownership is per connection, i.e. per client thread (each thread has its own).
// A Lock or Semaphore may be released by another caller than the one that acquired it (as
// in Python); the unit released is then taken off the releaser's own holdings if it has
// any, else off the oldest holder's.
#include <map>

#include "types.hpp"

namespace ipckit::detail {
namespace {

using List = Object::List;

enum class Kind { lock, rlock, semaphore, bounded };

class LockReferent : public Referent {
  public:
    LockReferent(Kind kind, std::int64_t value) : kind_(kind), value_(value), initial_(value) {}
    const char* type_name() const override {
        switch (kind_) {
            case Kind::lock:
                return wire::type_lock;
            case Kind::rlock:
                return wire::type_rlock;
            case Kind::semaphore:
                return wire::type_semaphore;
            default:
                return wire::type_bounded_semaphore;
        }
    }
    std::string repr() const override {
        switch (kind_) {
            case Kind::lock:
                return std::string("<") + (value_ > 0 ? "unlocked" : "locked") + " Lock object>";
            case Kind::rlock:
                return std::string("<") + (count_ == 0 ? "unlocked" : "locked") +
                       " RLock object count=" + std::to_string(count_) + ">";
            default:
                return std::string("<") + type_name() + " object value=" + std::to_string(value_) +
                       ">";
        }
    }

    bool can_take(ConnId conn) const {
        if (kind_ == Kind::rlock) return count_ == 0 || owner_ == conn;
        return value_ > 0;
    }
    // Takes it for `conn`: 1, or 2 when it comes from a holder that died.
    int take(Store& store, ConnId conn) {
        if (kind_ == Kind::rlock) {
            owner_ = conn;
            ++count_;
        } else {
            --value_;
        }
        ++holds_[conn];
        store.note_hold(conn, id);
        if (recovered_ > 0 && (kind_ != Kind::rlock || count_ == 1)) {
            --recovered_;
            return 2;
        }
        return 1;
    }
    void drop_hold(ConnId conn) {
        auto it = holds_.find(conn);
        if (it == holds_.end()) it = holds_.begin();  // someone else's: the oldest holder's
        if (it == holds_.end()) return;
        if (--it->second == 0) holds_.erase(it);
    }
    void release(ConnId conn) {
        switch (kind_) {
            case Kind::lock:
                if (value_ > 0) fail(wire::runtime_error, "release unlocked lock");
                break;
            case Kind::rlock:
                if (count_ == 0 || owner_ != conn)
                    fail(wire::runtime_error, "cannot release un-acquired lock");
                if (--count_ == 0) owner_ = 0;
                drop_hold(conn);
                return;
            case Kind::bounded:
                if (value_ >= initial_)
                    fail(wire::value_error, "Semaphore released too many times");
                break;
            case Kind::semaphore:
                break;
        }
        ++value_;
        drop_hold(conn);
    }

    bool retry(Store& store, Waiter& w, std::string& out) override {
        if (!can_take(w.conn)) return false;
        if (w.op == wire::condition_wait) {  // a Condition's waiter: args [timeout, levels, result]
            take(store, w.conn);
            if (kind_ == Kind::rlock) {
                auto levels = static_cast<std::uint64_t>(w.args.at(1).as_int());
                count_ = levels;
                holds_[w.conn] = levels;
            }
            wire::append_ok(out, w.args.at(2));
            return true;
        }
        wire::append_ok(out, Object(take(store, w.conn)));
        return true;
    }
    bool plain() const { return kind_ == Kind::lock || kind_ == Kind::rlock; }
    bool owned_by(ConnId conn) const {
        if (kind_ == Kind::rlock) return count_ > 0 && owner_ == conn;
        return value_ == 0 && holds_.count(conn) > 0;
    }
    std::uint64_t release_all(ConnId conn) {
        if (kind_ != Kind::rlock) {
            release(conn);
            return 1;
        }
        std::uint64_t levels = count_;
        count_ = 0;
        owner_ = 0;
        holds_.erase(conn);
        return levels;
    }
    void time_out(const Waiter&, std::string& out) override { wire::append_ok(out, Object(0)); }
    bool connection_closed(ConnId conn) override {
        auto it = holds_.find(conn);
        if (it == holds_.end()) return false;
        std::uint64_t n = it->second;
        holds_.erase(it);
        if (kind_ == Kind::rlock) {
            if (owner_ != conn) return false;
            owner_ = 0;
            count_ = 0;
            recovered_ = 1;
        } else {
            value_ += static_cast<std::int64_t>(n);
            recovered_ += n;
        }
        return true;
    }

  private:
    Kind kind_;
    std::int64_t value_;  // free units (Lock: 1 unlocked, 0 locked; unused for RLock)
    std::int64_t initial_;
    ConnId owner_ = 0;  // RLock
    std::uint64_t count_ = 0;
    std::map<ConnId, std::uint64_t> holds_;  // units (RLock: levels) taken per connection
    std::uint64_t recovered_ = 0;            // units given back for dead holders, not yet told
};

LockReferent& lock_of(Referent& target) {
    return expect<LockReferent>(target, "lock or semaphore");
}

Object acquire(Call& call, Referent& target) {
    LockReferent& l = lock_of(target);
    const Object& block = arg(call.args, 0);
    if (block.is_bool() && !block.as_bool() && call.args.size() > 1 && !call.args[1].is_none()) {
        fail(wire::value_error, "can't specify a timeout for a non-blocking call");
    }
    auto deadline = wait_deadline(call.args, 0);
    if (l.can_take(call.conn)) return Object(l.take(call.store, call.conn));
    if (!deadline || *deadline <= Clock::now()) return Object(0);
    call.park = Call::Park{0, *deadline};
    return Object();
}

Object release(Call& call, Referent& target) {
    lock_of(target).release(call.conn);
    return Object();
}

std::int64_t value_param(List& params) {
    if (params.empty() || params[0].is_none()) return 1;
    if (!params[0].is_int()) fail(wire::value_error, "Semaphore(value): value must be an int");
    if (params[0].as_int() < 0) fail(wire::value_error, "semaphore initial value must be >= 0");
    return params[0].as_int();
}

std::unique_ptr<Referent> make_lock(List&) {
    return std::make_unique<LockReferent>(Kind::lock, 1);
}
std::unique_ptr<Referent> make_rlock(List&) {
    return std::make_unique<LockReferent>(Kind::rlock, 1);
}
std::unique_ptr<Referent> make_semaphore(List& params) {
    return std::make_unique<LockReferent>(Kind::semaphore, value_param(params));
}
std::unique_ptr<Referent> make_bounded(List& params) {
    return std::make_unique<LockReferent>(Kind::bounded, value_param(params));
}

}  // namespace

bool is_plain_lock(Referent& r) {
    auto* l = dynamic_cast<LockReferent*>(&r);
    return l && l->plain();
}
bool lock_owned_by(Referent& lock, ConnId conn) {
    return lock_of(lock).owned_by(conn);
}
std::uint64_t lock_release_all(Referent& lock, ConnId conn) {
    return lock_of(lock).release_all(conn);
}

void register_locks() {
    register_type(wire::type_lock, make_lock);
    register_type(wire::type_rlock, make_rlock);
    register_type(wire::type_semaphore, make_semaphore);
    register_type(wire::type_bounded_semaphore, make_bounded);
    register_op(wire::acquire, acquire);
    register_op(wire::release, release);
}

}  // namespace ipckit::detail
