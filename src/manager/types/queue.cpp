// The manager's Queue and JoinableQueue: Python's queue.Queue (FIFO, maxsize, task_done and
// join). A get that finds no item and a put that finds no room are parked until an item or
// room comes, their timeout passes, or their caller goes away; an item is only handed to a
// caller whose connection is open (a caller that died while parked takes nothing with it).
#include <deque>

#include "types.hpp"

namespace ipckit::detail {
namespace {

using List = Object::List;

enum Channel { getters = 0, putters = 1, joiners = 2 };

class QueueReferent : public Referent {
  public:
    QueueReferent(const char* type, std::int64_t maxsize) : type_(type), maxsize_(maxsize) {}
    const char* type_name() const override { return type_; }
    std::string repr() const override {
        return std::string("<") + type_ + " object, maxsize=" + std::to_string(maxsize_) +
               ", qsize=" + std::to_string(items_.size()) + ">";
    }
    std::size_t size() const override { return items_.size(); }

    bool full() const {
        return maxsize_ > 0 && items_.size() >= static_cast<std::size_t>(maxsize_);
    }
    void put(Object item) {
        items_.push_back(std::move(item));
        ++unfinished_;
    }
    // Takes the first item into an answer on `out` for `conn`; it stays the queue's until
    // the answer is written to the connection (Store::hand_over).
    void hand(Store& store, ConnId conn, std::string& out) {
        Object item = std::move(items_.front());
        items_.pop_front();
        wire::append_ok(out, item);
        store.hand_over(conn, id, std::move(item));
    }
    void give_back(Object&& item) override { items_.push_front(std::move(item)); }

    bool retry(Store& store, Waiter& w, std::string& out) override {
        switch (w.channel) {
            case getters:
                if (items_.empty()) return false;
                hand(store, w.conn, out);
                return true;
            case putters:
                if (full()) return false;
                put(std::move(w.args[0]));
                wire::append_ok(out, Object());
                return true;
            default:
                if (unfinished_ != 0) return false;
                wire::append_ok(out, Object(true));
                return true;
        }
    }
    void time_out(const Waiter& w, std::string& out) override {
        switch (w.channel) {
            case getters:
                wire::append_error(out, wire::empty, "queue is empty (get timed out)");
                break;
            case putters:
                wire::append_error(out, wire::full, "queue is full (put timed out)");
                break;
            default:
                wire::append_ok(out, Object(false));
        }
    }

    const char* type_;
    std::int64_t maxsize_;
    std::deque<Object> items_;
    std::uint64_t unfinished_ = 0;
};

QueueReferent& queue_of(Referent& target) {
    return expect<QueueReferent>(target, "Queue");
}

// Parks the call until `deadline`, or, when it may not wait, answers `status`.
Object wait_or(Call& call, std::optional<Clock::time_point> deadline, int channel,
               wire::Status status, const char* message) {
    if (!deadline || *deadline <= Clock::now()) {
        wire::append_error(call.out, status, message);
        call.answered = true;
    } else {
        call.park = Call::Park{channel, *deadline};
    }
    return Object();
}

Object put(Call& call, Referent& target) {
    QueueReferent& q = queue_of(target);
    arg(call.args, 0);
    auto deadline = wait_deadline(call.args, 1);
    if (!q.full()) {
        q.put(std::move(call.args[0]));
        return Object();
    }
    return wait_or(call, deadline, putters, wire::full, "queue is full");
}

Object get(Call& call, Referent& target) {
    QueueReferent& q = queue_of(target);
    auto deadline = wait_deadline(call.args, 0);
    if (!q.items_.empty()) {
        q.hand(call.store, call.conn, call.out);
        call.answered = true;
        return Object();
    }
    return wait_or(call, deadline, getters, wire::empty, "queue is empty");
}

Object qsize(Call&, Referent& target) {
    return Object(queue_of(target).items_.size());
}
Object empty(Call&, Referent& target) {
    return Object(queue_of(target).items_.empty());
}
Object full(Call&, Referent& target) {
    return Object(queue_of(target).full());
}
Object maxsize(Call&, Referent& target) {
    return Object(queue_of(target).maxsize_);
}

Object task_done(Call&, Referent& target) {
    QueueReferent& q = queue_of(target);
    if (q.unfinished_ == 0) fail(wire::value_error, "task_done() called too many times");
    --q.unfinished_;
    return Object();
}

Object join(Call& call, Referent& target) {
    QueueReferent& q = queue_of(target);
    Clock::time_point deadline = timeout_deadline(call.args, 0);
    if (q.unfinished_ == 0) return Object(true);
    if (deadline <= Clock::now()) return Object(false);
    call.park = Call::Park{joiners, deadline};
    return Object();
}

std::int64_t maxsize_param(List& params) {
    if (params.empty() || params[0].is_none()) return 0;
    if (!params[0].is_int()) fail(wire::value_error, "Queue(maxsize): maxsize must be an int");
    return params[0].as_int();
}

std::unique_ptr<Referent> make_queue(List& params) {
    return std::make_unique<QueueReferent>(wire::type_queue, maxsize_param(params));
}
std::unique_ptr<Referent> make_joinable(List& params) {
    return std::make_unique<QueueReferent>(wire::type_joinable_queue, maxsize_param(params));
}

}  // namespace

void register_queue() {
    register_type(wire::type_queue, make_queue);
    register_type(wire::type_joinable_queue, make_joinable);
    register_op(wire::queue_put, put);
    register_op(wire::queue_get, get);
    register_op(wire::queue_qsize, qsize);
    register_op(wire::queue_empty, empty);
    register_op(wire::queue_full, full);
    register_op(wire::queue_maxsize, maxsize);
    register_op(wire::queue_task_done, task_done);
    register_op(wire::queue_join, join);
}

}  // namespace ipckit::detail
