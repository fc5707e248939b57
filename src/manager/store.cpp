// The manager server's objects: sessions and references, the dispatch table, parked
// requests and their deadlines. The methods of each type are in types/*.cpp.
#include "store.hpp"

#include <algorithm>
#include <climits>
#include <mutex>
#include <vector>

#include "ipckit/error.hpp"
#include "types/types.hpp"
#include "wire.hpp"

namespace ipckit::detail {
namespace {

using List = Object::List;

constexpr int max_op = 128;

struct Registry {
    Handler handlers[max_op] = {};
    std::unordered_map<std::string, Factory> factories;
};

Registry& registry() {
    static Registry r;
    return r;
}

// Every type file registers its handlers once per process, before the first store serves.
void ensure_registered() {
    static std::once_flag once;
    std::call_once(once, [] {
        register_dict();
        register_list();
        register_queue();
        register_locks();
        register_event();
        register_barrier();
    });
}

}  // namespace

void register_op(int op, Handler handler) {
    registry().handlers[op] = handler;
}
void register_type(const std::string& type, Factory factory) {
    registry().factories[type] = factory;
}
Handler handler_of(int op) {
    return op >= 0 && op < max_op ? registry().handlers[op] : nullptr;
}
Factory factory_of(const std::string& type) {
    auto& f = registry().factories;
    auto it = f.find(type);
    return it == f.end() ? nullptr : it->second;
}

// ---- Referent defaults ------------------------------------------------------------------

std::size_t Referent::size() const {
    fail(wire::value_error, std::string("object of type '") + type_name() + "' has no len()");
}
void Referent::clear() {
    fail(wire::value_error, std::string("'") + type_name() + "' object has no attribute 'clear'");
}
const Object& Referent::value() const {
    fail(wire::value_error, std::string("'") + type_name() + "' object cannot be copied");
}
bool Referent::retry(Store&, Waiter&, std::string&) {
    return false;
}
void Referent::time_out(const Waiter&, std::string& out) {
    wire::append_ok(out, Object(false));
}
bool Referent::connection_closed(ConnId) {
    return false;
}
void Referent::give_back(Object&&) {}
bool Referent::abandoned(const Waiter&) {
    return false;
}

namespace {
constexpr std::int64_t forever_ns = std::int64_t{10} * 365 * 24 * 3600 * 1'000'000'000;

Clock::time_point deadline_after(const Object& timeout) {
    if (timeout.is_none()) return Clock::time_point::max();
    if (!timeout.is_int() || timeout.as_int() < 0) {
        fail(wire::value_error, "'timeout' must be a non-negative number");
    }
    if (timeout.as_int() >= forever_ns) return Clock::time_point::max();
    return Clock::now() + std::chrono::nanoseconds(timeout.as_int());
}
}  // namespace

std::optional<Clock::time_point> wait_deadline(Object::List& args, std::size_t i) {
    const Object& block = arg(args, i);
    if (!block.is_bool()) fail(wire::value_error, "'block' must be a bool");
    if (!block.as_bool()) return std::nullopt;
    return deadline_after(arg(args, i + 1));
}

Clock::time_point timeout_deadline(Object::List& args, std::size_t i) {
    return deadline_after(i < args.size() ? args[i] : Object());
}

// ---- Store --------------------------------------------------------------------------------

Store::Store() {
    ensure_registered();
}

Store::~Store() = default;

void Store::open_connection(ConnId conn, const std::string& session, std::string* out) {
    conns_[conn] = Conn{session, out, std::nullopt, {}, {}};
    ++sessions_[session].connections;
}

void Store::close_connection(ConnId conn) {
    auto c = conns_.find(conn);
    if (c == conns_.end()) return;
    if (c->second.parked) {  // unanswered: nobody to tell
        std::uint64_t seq = *c->second.parked;
        std::uint64_t object = waiters_.at(seq).object;
        bool changed = objects_.at(object).referent->abandoned(waiters_.at(seq));
        unpark(seq);
        if (changed) wake(object);
    }
    // Items in answers it never got go back, first in line (last handed over first).
    auto& in_flight = c->second.in_flight;
    for (auto it = in_flight.rbegin(); it != in_flight.rend(); ++it) {
        auto object = objects_.find(it->first);
        if (object != objects_.end()) object->second.referent->give_back(std::move(it->second));
    }
    std::vector<std::uint64_t> returned;
    returned.reserve(in_flight.size());
    for (auto& [id, item] : in_flight)
        returned.push_back(id);
    in_flight.clear();
    std::vector<std::uint64_t> held(c->second.holds.begin(), c->second.holds.end());
    std::sort(held.begin(), held.end());
    std::string session = c->second.session;
    for (auto id : held) {
        auto it = objects_.find(id);
        if (it != objects_.end() && it->second.referent->connection_closed(conn)) wake(id);
    }
    for (auto id : returned)
        wake(id);
    conns_.erase(conn);
    auto s = sessions_.find(session);
    if (s == sessions_.end()) return;
    if (--s->second.connections == 0) {
        drop_refs(s->second);
        sessions_.erase(s);
    }
}

void Store::note_hold(ConnId conn, std::uint64_t id) {
    auto c = conns_.find(conn);
    if (c != conns_.end()) c->second.holds.insert(id);
}

std::string& Store::output(ConnId conn) {
    touched_.push_back(conn);
    return *conns_.at(conn).out;
}

void Store::hand_over(ConnId conn, std::uint64_t id, Object item) {
    conns_.at(conn).in_flight.emplace_back(id, std::move(item));
}

void Store::delivered(ConnId conn) {
    auto c = conns_.find(conn);
    if (c != conns_.end()) c->second.in_flight.clear();
}

bool Store::parked(ConnId conn) const {
    auto c = conns_.find(conn);
    return c != conns_.end() && c->second.parked.has_value();
}

std::optional<Clock::time_point> Store::next_deadline() const {
    if (timers_.empty()) return std::nullopt;
    return timers_.begin()->first;
}

void Store::expire(Clock::time_point now) {
    while (!timers_.empty() && timers_.begin()->first <= now) {
        std::uint64_t seq = timers_.begin()->second;
        Waiter& w = waiters_.at(seq);
        std::uint64_t object = w.object;
        objects_.at(object).referent->time_out(w, output(w.conn));
        unpark(seq);
        wake(object);  // a timeout may change the state (a Barrier breaks)
    }
}

void Store::park(ConnId conn, std::uint64_t id, int op, int channel, Object::List args,
                 Clock::time_point deadline) {
    std::uint64_t seq = next_seq_++;
    waiters_.emplace(seq, Waiter{seq, conn, id, op, channel, std::move(args), deadline});
    objects_.at(id).referent->waiting[channel].insert(seq);
    if (deadline != Clock::time_point::max()) timers_.emplace(deadline, seq);
    conns_.at(conn).parked = seq;
}

void Store::unpark(std::uint64_t seq) {
    auto w = waiters_.find(seq);
    if (w == waiters_.end()) return;
    auto it = objects_.find(w->second.object);
    if (it != objects_.end()) it->second.referent->waiting[w->second.channel].erase(seq);
    if (w->second.deadline != Clock::time_point::max()) timers_.erase({w->second.deadline, seq});
    auto c = conns_.find(w->second.conn);
    if (c != conns_.end() && c->second.parked == seq) c->second.parked.reset();
    waiters_.erase(w);
}

void Store::wake(std::uint64_t id) {
    auto it = objects_.find(id);
    if (it == objects_.end()) return;
    Referent& r = *it->second.referent;
    for (bool progress = true; progress;) {
        progress = false;
        for (auto& channel : r.waiting) {
            while (!channel.empty()) {
                std::uint64_t seq = *channel.begin();
                Waiter& w = waiters_.at(seq);
                if (!r.retry(*this, w, output(w.conn))) break;
                unpark(seq);
                progress = true;
            }
        }
    }
}

void Store::drop_refs(Session& session) {
    for (auto [id, count] : session.refs) {
        auto it = objects_.find(id);
        if (it == objects_.end()) continue;
        it->second.refs -= std::min(count, it->second.refs);
        if (it->second.refs == 0 && it->second.name.empty()) erase_object(it);
    }
    session.refs.clear();
}

void Store::erase_object(std::unordered_map<std::uint64_t, Entry>::iterator it) {
    // Requests parked on it (from a thread of a process that let go of its last proxy
    // meanwhile) are told.
    std::vector<std::uint64_t> seqs;
    for (auto& channel : it->second.referent->waiting)
        seqs.insert(seqs.end(), channel.begin(), channel.end());
    for (auto seq : seqs) {
        Waiter& w = waiters_.at(seq);
        wire::append_error(output(w.conn), wire::value_error,
                           "manager object " + std::to_string(w.object) +
                               " was released while a call waited on it");
        unpark(seq);
    }
    objects_.erase(it);
}

Store::Entry& Store::entry(std::uint64_t id) {
    auto it = objects_.find(id);
    if (it == objects_.end()) {
        fail(wire::value_error,
             "manager has no object " + std::to_string(id) + " (its last proxy was released)");
    }
    return it->second;
}

std::uint64_t Store::add(std::unique_ptr<Referent> referent, const std::string& name,
                         const std::string& session) {
    std::uint64_t id = next_id_++;
    referent->id = id;
    objects_.emplace(id, Entry{std::move(referent), name, 0});
    if (name.empty()) {
        acquire(session, id);
    } else {
        names_.emplace(name, id);
    }
    return id;
}

void Store::acquire(const std::string& session, std::uint64_t id) {
    Entry& e = entry(id);
    if (!e.name.empty()) return;  // named objects are not counted
    ++e.refs;
    ++sessions_[session].refs[id];
}

void Store::release(const std::string& session, std::uint64_t id) {
    auto s = sessions_.find(session);
    if (s == sessions_.end()) return;
    auto r = s->second.refs.find(id);
    if (r == s->second.refs.end()) return;  // never held: ignore
    if (--r->second == 0) s->second.refs.erase(r);
    auto it = objects_.find(id);
    if (it == objects_.end()) return;
    if (it->second.refs > 0) --it->second.refs;
    if (it->second.refs == 0 && it->second.name.empty()) erase_object(it);
}

void Store::handle(ConnId conn, std::string_view payload) {
    std::string& out = output(conn);
    Object request = wire::decode(payload, wire::max_depth, max_decoded_);
    if (!request.is_list() || request.as_list().size() < 2 || !request.as_list()[0].is_int() ||
        !request.as_list()[1].is_int()) {
        wire::append_error(out, wire::value_error, "malformed request: expected [op, id, args...]");
        return;
    }
    List& fields = request.as_list();
    std::int64_t code = fields[0].as_int();
    if (code < 0 || code > INT_MAX) {  // never truncated into a valid op
        wire::append_error(out, wire::value_error,
                           "unknown manager request " + std::to_string(code));
        return;
    }
    auto id = static_cast<std::uint64_t>(fields[1].as_int());
    List args(std::make_move_iterator(fields.begin() + 2), std::make_move_iterator(fields.end()));
    this->request(conn, static_cast<int>(code), id, std::move(args));
}

void Store::request(ConnId conn, int op, std::uint64_t id, List args) {
    std::string& out = output(conn);
    try {
        dispatch(conn, op, id, args);
    } catch (const RequestError& e) {
        wire::append_error(out, e.status, e.message);
    } catch (const KeyError& e) {
        wire::append_error(out, wire::key_error, e.what());
    } catch (const IndexError& e) {
        wire::append_error(out, wire::index_error, e.what());
    } catch (const ValueError& e) {
        wire::append_error(out, wire::value_error, e.what());
    } catch (const std::bad_alloc&) {
        wire::append_error(out, wire::other_error, "manager server out of memory");
    }
}

const char* Store::type_of(std::uint64_t id) const {
    auto it = objects_.find(id);
    return it == objects_.end() ? nullptr : it->second.referent->type_name();
}

void Store::hold_session(const std::string& session) {
    ++sessions_[session].connections;
}

void Store::release_session(const std::string& session) {
    auto s = sessions_.find(session);
    if (s == sessions_.end()) return;
    if (--s->second.connections == 0) {
        drop_refs(s->second);
        sessions_.erase(s);
    }
}

Object Store::create(Conn& c, List& args) {
    const Object& type = arg(args, 0);
    if (!type.is_string()) fail(wire::value_error, "create: the type must be a str");
    Factory factory = factory_of(type.as_string());
    if (!factory) fail(wire::value_error, "manager has no type " + type.repr());
    const Object& name = arg(args, 1);
    List params(std::make_move_iterator(args.begin() + 2), std::make_move_iterator(args.end()));
    if (name.is_none()) return Object(add(factory(params), "", c.session));
    if (!name.is_string() || name.as_string().empty()) {
        fail(wire::value_error, "a shared object's name must be a non-empty string");
    }
    auto it = names_.find(name.as_string());
    if (it != names_.end()) {
        const Referent& existing = *objects_.at(it->second).referent;
        if (type.as_string() != existing.type_name()) {
            fail(wire::value_error, "shared object " + name.repr() + " is a " +
                                        existing.type_name() + ", not a " + type.as_string());
        }
        return Object(it->second);
    }
    return Object(add(factory(params), name.as_string(), c.session));
}

void Store::dispatch(ConnId conn, int op, std::uint64_t id, List& args) {
    using namespace wire;
    Conn& c = conns_.at(conn);
    std::string& out = *c.out;
    if (op == cancel) {
        if (c.parked) {
            std::uint64_t seq = *c.parked;
            append_error(out, interrupted, "call cancelled");
            unpark(seq);
        }
        return;  // a cancel itself is never answered
    }
    if (c.parked) {
        fail(value_error,
             "a blocking call is waiting on this connection: send cancel, or wait for its answer");
    }
    auto answer = [&](const Object& value) { append_ok(out, value); };
    switch (op) {
        case create_dict:
        case create_list: {
            List params;
            if (!args.empty()) params.push_back(std::move(args[0]));
            List create_args{Object(op == create_dict ? type_dict : type_list), Object()};
            for (auto& p : params)
                create_args.push_back(std::move(p));
            return answer(create(c, create_args));
        }
        case named_dict:
        case named_list: {
            List create_args{Object(op == named_dict ? type_dict : type_list),
                             std::move(arg(args, 0))};
            return answer(create(c, create_args));
        }
        case wire::create:
            return answer(create(c, args));
        case incref:
            acquire(c.session, id);
            return answer(Object());
        case decref:
            release(c.session, id);
            return answer(Object());
        case stats: {
            std::size_t named = names_.size();
            return answer(Object(Object::Dict{{"objects", objects_.size()},
                                              {"named", named},
                                              {"anonymous", objects_.size() - named},
                                              {"sessions", sessions_.size()},
                                              {"connections", connections_},
                                              {"waiting", waiters_.size()}}));
        }
        case shutdown:
            shutdown_ = true;
            return answer(Object());
        case ping:
            return answer(Object(true));
        default:
            break;
    }

    Referent& target = *entry(id).referent;
    switch (op) {
        case repr:
            return answer(Object(target.repr()));
        case len:
            return answer(Object(target.size()));
        case copy:
            return answer(target.value());
        case clear:
            target.clear();
            answer(Object());
            if (!target.waiting[0].empty() || !target.waiting[1].empty() ||
                !target.waiting[2].empty())
                wake(id);
            return;
        default:
            break;
    }
    Handler handler = handler_of(op);
    if (!handler) fail(value_error, "unknown manager request " + std::to_string(op));
    Call call{*this, conn, c.session, id, op, args, out, false, std::nullopt};
    Object result = handler(call, target);
    if (call.park) {
        park(conn, id, op, call.park->channel, std::move(args), call.park->deadline);
    } else if (!call.answered) {
        answer(result);
    }
    // What the request changed may let parked requests proceed (a put, a release, a set).
    bool any = false;
    for (auto& channel : target.waiting)
        any = any || !channel.empty();
    if (any) wake(id);
}

}  // namespace ipckit::detail
