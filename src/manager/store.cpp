// The manager server's objects: sessions and references, the dispatch table, parked
// requests and their deadlines. The methods of each type are in types/*.cpp.
#include "store.hpp"

#include <algorithm>
#include <climits>
#include <mutex>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
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
        register_condition();
        register_namespace();
        register_value();
        register_array();
        register_custom();
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
bool is_builtin_type(const std::string& type) {
    ensure_registered();
    return factory_of(type) != nullptr;
}
Factory factory_of(const std::string& type) {
    auto& f = registry().factories;
    auto it = f.find(type);
    return it == f.end() ? nullptr : it->second;
}

// custom.cpp: an instance of a registered type.
std::unique_ptr<Referent> make_custom(const ipckit::Registry::Type& type, Object::List& params);

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
std::uint64_t Referent::relocate_on_timeout(Waiter&) {
    return 0;
}
void Referent::collect_refs(std::vector<std::uint64_t>&) const {}
void Referent::attach(Store&) {}

void collect_refs(const Object& value, std::vector<std::uint64_t>& ids) {
    if (value.is_ref()) {
        ids.push_back(value.as_ref().id);
    } else if (value.is_list()) {
        for (const auto& item : value.as_list())
            collect_refs(item, ids);
    } else if (value.is_dict()) {
        for (const auto& [key, item] : value.as_dict()) {
            collect_refs(key, ids);
            collect_refs(item, ids);
        }
    }
}

namespace {
template <class F>
void for_each_ref(Object& value, F&& f) {
    if (value.is_ref()) {
        f(value.as_ref());
    } else if (value.is_list()) {
        for (auto& item : value.as_list())
            for_each_ref(item, f);
    } else if (value.is_dict()) {
        for (const auto& [key, item] : value.as_dict()) {
            // keys are const in a Dict: a ref key is checked, its type is left as sent
            if (key.is_ref()) f(const_cast<Object::Ref&>(key.as_ref()));
            for_each_ref(const_cast<Object&>(item), f);
        }
    }
}
}  // namespace

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
    collect_cycles();
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
        if (std::uint64_t to = objects_.at(object).referent->relocate_on_timeout(w)) {
            move_waiter(seq, to, 0);
            wake(to);
            continue;
        }
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

void Store::move_waiter(std::uint64_t seq, std::uint64_t object, int channel) {
    Waiter& w = waiters_.at(seq);
    auto from = objects_.find(w.object);
    if (from != objects_.end()) from->second.referent->waiting[w.channel].erase(seq);
    if (w.deadline != Clock::time_point::max()) timers_.erase({w.deadline, seq});
    w.deadline = Clock::time_point::max();
    w.object = object;
    w.channel = channel;
    objects_.at(object).referent->waiting[channel].insert(seq);
}

Referent* Store::find(std::uint64_t id) {
    auto it = objects_.find(id);
    return it == objects_.end() ? nullptr : it->second.referent.get();
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
        if (it->second.refs == 0 && it->second.name.empty()) {
            erase_object(it);
        } else {
            suspect(it->second, id);
        }
    }
    session.refs.clear();
}

void Store::suspect(const Entry& e, std::uint64_t id) {
    if (e.refs > 0 && !e.held.empty() && e.name.empty()) suspects_.push_back(id);
}

void Store::collect_cycles() {
    while (!suspects_.empty()) {
        std::uint64_t start = suspects_.back();
        suspects_.pop_back();
        auto s = objects_.find(start);
        if (s == objects_.end() || s->second.refs == 0 || s->second.held.empty()) continue;
        // Trial deletion over the anonymous objects reachable from `start`: one referred to
        // more often than from inside that group is referred to from outside (a session, a
        // named object), so it and all it reaches live; the rest refer only to each other.
        std::unordered_map<std::uint64_t, std::uint64_t> inside;  // refs from the group
        std::vector<std::uint64_t> group{start}, stack{start};
        inside[start];
        while (!stack.empty()) {
            std::uint64_t x = stack.back();
            stack.pop_back();
            for (const auto& [ref, n] : objects_.at(x).held) {
                auto e = objects_.find(ref);
                if (e == objects_.end() || !e->second.name.empty()) continue;
                auto [slot, fresh] = inside.try_emplace(ref, 0);
                slot->second += n;
                if (fresh) {
                    group.push_back(ref);
                    stack.push_back(ref);
                }
            }
        }
        std::unordered_set<std::uint64_t> live;
        for (auto x : group) {
            if (objects_.at(x).refs > inside[x] && live.insert(x).second) stack.push_back(x);
        }
        while (!stack.empty()) {
            std::uint64_t x = stack.back();
            stack.pop_back();
            for (const auto& [ref, n] : objects_.at(x).held) {
                if (inside.count(ref) && live.insert(ref).second) stack.push_back(ref);
            }
        }
        for (auto x : group) {
            if (live.count(x)) continue;
            auto e = objects_.find(x);  // an earlier one's erasure may have freed it
            if (e != objects_.end()) erase_object(e);
        }
    }
}

void Store::erase_object(std::unordered_map<std::uint64_t, Entry>::iterator it) {
    // What it refers to loses a reference (and may go too: a worklist, not recursion, so
    // that a long chain of lists in lists is freed in constant stack).
    std::vector<std::pair<std::uint64_t, std::uint64_t>> drops;
    for (;;) {
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
        drops.insert(drops.end(), it->second.held.begin(), it->second.held.end());
        objects_.erase(it);
        it = objects_.end();
        while (!drops.empty() && it == objects_.end()) {
            auto [id, n] = drops.back();
            drops.pop_back();
            auto e = objects_.find(id);
            if (e == objects_.end() || !e->second.name.empty()) continue;
            e->second.refs -= std::min(n, e->second.refs);
            if (e->second.refs == 0) {
                it = e;
            } else {
                suspect(e->second, id);
            }
        }
        if (it == objects_.end()) return;
    }
}

void Store::check_refs(List& args) {
    for (auto& a : args) {
        for_each_ref(a, [&](Object::Ref& ref) {
            auto it = objects_.find(ref.id);
            if (it == objects_.end()) {
                fail(wire::value_error, "the proxy refers to no object of this manager (id " +
                                            std::to_string(ref.id) + ")");
            }
            ref.type = it->second.referent->type_name();
        });
    }
}

void Store::grant_refs(const std::string& session, const std::string& out, std::size_t from) {
    // The answers appended since `from`: [4-byte length][payload]...
    while (from + 4 <= out.size()) {
        const auto* h = reinterpret_cast<const unsigned char*>(out.data() + from);
        std::size_t n = (std::size_t{h[0]} << 24) | (std::size_t{h[1]} << 16) |
                        (std::size_t{h[2]} << 8) | std::size_t{h[3]};
        std::uint64_t before = wire::refs_decoded();
        Object answer = wire::decode(std::string_view(out).substr(from + 4, n), INT_MAX);
        from += 4 + n;
        if (wire::refs_decoded() == before) continue;
        std::vector<std::uint64_t> ids;
        collect_refs(answer, ids);
        for (auto id : ids) {
            if (objects_.count(id)) acquire(session, id);
        }
    }
}

void Store::resync(std::uint64_t id) {
    auto it = objects_.find(id);
    if (it == objects_.end()) return;
    std::vector<std::uint64_t> ids;
    it->second.referent->collect_refs(ids);
    std::unordered_map<std::uint64_t, std::uint64_t> now;
    for (auto ref : ids) {
        auto e = objects_.find(ref);
        if (e != objects_.end() && e->second.name.empty()) ++now[ref];  // named: not counted
    }
    auto before = std::exchange(it->second.held, std::move(now));
    for (const auto& [ref, n] : it->second.held) {
        auto old = before.find(ref);
        std::uint64_t had = old == before.end() ? 0 : old->second;
        if (n > had) objects_.at(ref).refs += n - had;
    }
    std::vector<std::uint64_t> gone;
    for (const auto& [ref, had] : before) {
        auto now_it = it->second.held.find(ref);
        std::uint64_t n = now_it == it->second.held.end() ? 0 : now_it->second;
        if (had <= n) continue;
        auto e = objects_.find(ref);
        if (e == objects_.end()) continue;
        e->second.refs -= std::min(had - n, e->second.refs);
        if (e->second.refs == 0) {
            gone.push_back(ref);
        } else {
            suspect(e->second, ref);
        }
    }
    for (auto ref : gone) {
        auto e = objects_.find(ref);
        if (e != objects_.end() && e->second.refs == 0) erase_object(e);
    }
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
    objects_.emplace(id, Entry{std::move(referent), name, 0, {}});
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
    if (it->second.refs == 0 && it->second.name.empty()) {
        erase_object(it);
    } else {
        suspect(it->second, id);
    }
}

void Store::handle(ConnId conn, std::string_view payload) {
    // The caller flushes `conn` after this (the server's read path): its own answer does not
    // count it as touched. Other connections answered by this request (a put that reaches a
    // parked get) are.
    std::string& out = *conns_.at(conn).out;
    std::uint64_t refs_before = wire::refs_decoded();
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
    fields.erase(fields.begin(), fields.begin() + 2);  // the arguments, without a new vector
    serve(conn, static_cast<int>(code), id, fields, wire::refs_decoded() != refs_before, out);
}

void Store::request(ConnId conn, int op, std::uint64_t id, List args, bool has_refs) {
    serve(conn, op, id, args, has_refs, output(conn));
}

void Store::serve(ConnId conn, int op, std::uint64_t id, List& args, bool has_refs,
                  std::string& out) {
    request_refs_ = has_refs;
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
    collect_cycles();
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
    const ipckit::Registry::Type* custom =
        factory || !registry_ ? nullptr : registry_->find(type.as_string());
    if (!factory && !custom) {
        std::string known = registry_ && !registry_->types().empty()
                                ? " (registered types: " + custom_type_list() + ")"
                                : " (and no custom types are registered with it)";
        fail(wire::value_error, "manager has no type " + type.repr() + known);
    }
    const Object& name = arg(args, 1);
    List params(std::make_move_iterator(args.begin() + 2), std::make_move_iterator(args.end()));
    if (!name.is_none() && (!name.is_string() || name.as_string().empty())) {
        fail(wire::value_error, "a shared object's name must be a non-empty string");
    }
    auto make = [&] {
        std::unique_ptr<Referent> referent =
            factory ? factory(params) : make_custom(*custom, params);
        if (request_refs_ && !referent->accepts_refs()) {
            fail(wire::value_error, std::string("a proxy cannot be stored in a ") +
                                        referent->type_name() +
                                        " (only in a dict, a list or a Namespace)");
        }
        referent->attach(*this);
        return referent;
    };
    if (name.is_none()) {
        std::uint64_t id = add(make(), "", c.session);
        resync(id);
        return Object(id);
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
    std::uint64_t id = add(make(), name.as_string(), c.session);
    resync(id);
    return Object(id);
}

std::string Store::custom_type_list() const {
    std::string list;
    for (const auto& type : registry_->types())
        list += (list.empty() ? "" : ", ") + type;
    return list;
}

Object Store::named_objects() const {
    std::vector<std::pair<std::string, std::uint64_t>> sorted(names_.begin(), names_.end());
    std::sort(sorted.begin(), sorted.end());
    List rows;
    rows.reserve(sorted.size());
    for (const auto& [name, id] : sorted) {
        const Referent& r = *objects_.at(id).referent;
        Object size;
        try {
            size = Object(r.size());
        } catch (...) {
            // A type without len() (a Lock), or a custom __len__ that failed.
        }
        rows.push_back(Object::list({name, r.type_name(), std::move(size)}));
    }
    return Object(std::move(rows));
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
    if (request_refs_) check_refs(args);
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
        case wire::named_objects:
            return answer(named_objects());
        default:
            break;
    }

    Entry& e = entry(id);
    Referent& target = *e.referent;
    if (request_refs_ && !target.accepts_refs()) {
        fail(value_error, std::string("a proxy cannot be stored in a ") + target.type_name() +
                              " (only in a dict, a list or a Namespace)");
    }
    if (!request_refs_ && e.held.empty()) return apply(c, conn, target, op, id, args);
    // It holds refs, or may come to: the refs in the answer are the caller's, then its own
    // are counted again (which may free objects, this one included: nothing after it).
    std::size_t mark = out.size();
    try {
        apply(c, conn, target, op, id, args);
    } catch (...) {
        resync(id);
        throw;
    }
    grant_refs(c.session, out, mark);
    resync(id);
}

void Store::apply(Conn& c, ConnId conn, Referent& target, int op, std::uint64_t id, List& args) {
    using namespace wire;
    std::string& out = *c.out;
    auto answer = [&](const Object& value) { append_ok(out, value); };
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
