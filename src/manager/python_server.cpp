// Python clients of the manager server: multiprocessing.managers requests translated to the
// Store's, the Store's answers pickled as Python's Server replies.
#include "python_server.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "ipckit/error.hpp"
#include "ipckit/pickle.hpp"
#include "ipckit/python_connection.hpp"

namespace ipckit::detail::python {
namespace {

using List = Object::List;

// ---- what Python's Server exposes per type ------------------------------------------------

const List& exposed_of(std::string_view type, bool iterator) {
    static const List dict = {"__contains__", "__delitem__", "__getitem__", "__iter__",
                              "__len__",      "__setitem__", "clear",       "copy",
                              "get",          "items",       "keys",        "pop",
                              "popitem",      "setdefault",  "update",      "values"};
    static const List list = {"__add__", "__contains__", "__delitem__", "__getitem__", "__len__",
                              "__mul__", "__reversed__", "__rmul__",    "__setitem__", "append",
                              "count",   "extend",       "index",       "insert",      "pop",
                              "remove",  "reverse",      "sort",        "__imul__"};
    static const List queue = {"empty", "full",       "get",   "get_nowait", "join",
                               "put",   "put_nowait", "qsize", "task_done"};
    static const List lock = {"acquire", "release"};
    static const List event = {"is_set", "set", "clear", "wait"};
    static const List barrier = {"__getattribute__", "wait", "abort", "reset"};
    static const List iter = {"__next__", "send", "throw", "close"};
    static const List condition = {"acquire", "release", "wait", "notify", "notify_all"};
    static const List namespace_ = {"__getattribute__", "__setattr__", "__delattr__"};
    static const List value = {"get", "set"};
    static const List array = {"__len__", "__getitem__", "__setitem__"};
    static const List none;
    if (iterator) return iter;
    if (type == wire::type_dict) return dict;
    if (type == wire::type_list) return list;
    if (type == wire::type_queue || type == wire::type_joinable_queue) return queue;
    if (type == wire::type_lock || type == wire::type_rlock || type == wire::type_semaphore ||
        type == wire::type_bounded_semaphore)
        return lock;
    if (type == wire::type_event) return event;
    if (type == wire::type_barrier) return barrier;
    if (type == wire::type_condition) return condition;
    if (type == wire::type_namespace) return namespace_;
    if (type == wire::type_value) return value;
    if (type == wire::type_array) return array;
    return none;
}

bool exposes(const List& exposed, const std::string& method) {
    for (const auto& e : exposed)
        if (e.as_string() == method) return true;
    return false;
}

// Python's typeid (SyncManager's registry) -> the store's type.
const char* store_type(const std::string& typeid_) {
    static const std::pair<const char*, const char*> types[] = {
        {"dict", wire::type_dict},           {"list", wire::type_list},
        {"Queue", wire::type_queue},         {"JoinableQueue", wire::type_joinable_queue},
        {"Lock", wire::type_lock},           {"RLock", wire::type_rlock},
        {"Semaphore", wire::type_semaphore}, {"BoundedSemaphore", wire::type_bounded_semaphore},
        {"Event", wire::type_event},         {"Barrier", wire::type_barrier},
        {"Condition", wire::type_condition}, {"Namespace", wire::type_namespace},
        {"Value", wire::type_value},         {"Array", wire::type_array},
    };
    for (const auto& [py, store] : types)
        if (typeid_ == py) return store;
    return nullptr;
}

std::string hex(std::uint64_t id) {
    char text[32];
    std::snprintf(text, sizeof text, "%" PRIx64, id);
    return text;
}

std::optional<std::uint64_t> parse_ident(const std::string& ident) {
    if (ident.empty() || ident.size() > 16) return std::nullopt;
    std::uint64_t id = 0;
    for (char ch : ident) {
        int d;
        if (ch >= '0' && ch <= '9') {
            d = ch - '0';
        } else if (ch >= 'a' && ch <= 'f') {
            d = ch - 'a' + 10;
        } else {
            return std::nullopt;
        }
        id = id * 16 + static_cast<std::uint64_t>(d);
    }
    return id;
}

// A Python TypeError for a call with the wrong arguments.
struct CallError {
    Object exception;
};
[[noreturn]] void type_error(const std::string& message) {
    throw CallError{pickle::make_exception("TypeError", {Object(message)})};
}

// Binds positional and keyword arguments to the parameters `names` (Python's rules, no
// *args): missing trailing ones take `defaults` (aligned to the end of `names`).
List bind(const char* method, const List& args, const Object& kwds,
          std::initializer_list<const char*> names, List defaults = {}) {
    std::vector<const char*> params(names);
    if (args.size() > params.size()) {
        type_error(std::string(method) + "() takes at most " + std::to_string(params.size()) +
                   " arguments (" + std::to_string(args.size()) + " given)");
    }
    std::vector<std::optional<Object>> bound(params.size());
    for (std::size_t i = 0; i < args.size(); ++i)
        bound[i] = args[i];
    if (kwds.is_dict()) {
        for (const auto& [key, value] : kwds.as_dict()) {
            bool found = false;
            for (std::size_t i = 0; i < params.size(); ++i) {
                if (key.is_string() && key.as_string() == params[i]) {
                    if (bound[i]) {
                        type_error(std::string(method) + "() got multiple values for argument '" +
                                   params[i] + "'");
                    }
                    bound[i] = value;
                    found = true;
                }
            }
            if (!found) {
                type_error(std::string(method) + "() got an unexpected keyword argument " +
                           key.repr());
            }
        }
    }
    List result;
    std::size_t first_default = params.size() - defaults.size();
    for (std::size_t i = 0; i < params.size(); ++i) {
        if (bound[i]) {
            result.push_back(std::move(*bound[i]));
        } else if (i >= first_default) {
            result.push_back(defaults[i - first_default]);
        } else {
            type_error(std::string(method) + "() missing required argument '" + params[i] + "'");
        }
    }
    return result;
}

// Seconds (int or float, None: forever) -> the store's nanoseconds or nil.
Object nanoseconds(const Object& seconds) {
    if (seconds.is_none()) return Object();
    double s;
    if (seconds.is_int() || seconds.is_bool() || seconds.is_double()) {
        s = seconds.as_double();
    } else {
        type_error(std::string("'") + seconds.type_name() +
                   "' object cannot be interpreted as a timeout");
    }
    if (std::isnan(s)) throw CallError{pickle::make_exception("ValueError", {"Invalid value NaN"})};
    if (s < 0) return Object(std::int64_t{-1});
    if (s > 3.0e8) return Object();  // ten years and more: forever
    return Object(static_cast<std::int64_t>(std::ceil(s * 1e9)));
}

Object as_list(const Object& value) {
    if (value.is_list()) return value;
    if (value.is_tuple()) return Object(value.as_tuple());
    type_error(std::string("'") + value.type_name() + "' object is not iterable");
}

// A slice object from Python (builtins.slice instance) -> [start, stop, step].
std::optional<List> slice_of(const Object& value) {
    if (!value.is_instance()) return std::nullopt;
    const auto& inst = value.as_instance();
    if (inst.module != "builtins" || inst.name != "slice") return std::nullopt;
    List bounds = inst.args;
    bounds.resize(3);
    return bounds;
}

}  // namespace

namespace {

bool is_rebuild_proxy(const Object& value) {
    if (!value.is_instance()) return false;
    const auto& inst = value.as_instance();
    return inst.module == "multiprocessing.managers" && inst.name == "RebuildProxy" &&
           inst.args.size() == 4 && pickle::is_token(inst.args[1]);
}

bool has_ref(const Object& value) {
    if (value.is_ref()) return true;
    if (value.is_list() || value.is_tuple()) {
        for (const auto& x : value.as_sequence())
            if (has_ref(x)) return true;
    } else if (value.is_dict()) {
        for (const auto& [k, x] : value.as_dict())
            if (has_ref(k) || has_ref(x)) return true;
    }
    return false;
}

// A reference to the class multiprocessing.managers.NAME, as pickle writes it (opaque).
Object proxy_class(const std::string& name) {
    std::string module = "multiprocessing.managers";
    std::string p = "\x80\x04";
    p += '\x8c';
    p += static_cast<char>(module.size());
    p += module + "\x94";
    p += '\x8c';
    p += static_cast<char>(name.size());
    p += name + "\x94\x93\x94.";
    return pickle::loads(p);
}

// SyncManager's proxy type of each typeid (AutoProxy: Queue, JoinableQueue).
const char* proxy_type_of(const std::string& type) {
    static const std::pair<const char*, const char*> types[] = {
        {wire::type_dict, "DictProxy"},           {wire::type_list, "ListProxy"},
        {wire::type_lock, "AcquirerProxy"},       {wire::type_rlock, "AcquirerProxy"},
        {wire::type_semaphore, "AcquirerProxy"},  {wire::type_bounded_semaphore, "AcquirerProxy"},
        {wire::type_event, "EventProxy"},         {wire::type_barrier, "BarrierProxy"},
        {wire::type_condition, "ConditionProxy"}, {wire::type_namespace, "NamespaceProxy"},
        {wire::type_value, "ValueProxy"},         {wire::type_array, "ArrayProxy"},
    };
    for (const auto& [t, proxy] : types)
        if (type == t) return proxy;
    return "AutoProxy";
}

}  // namespace

// A proxy of this manager's, as Python sends it in arguments -> the store's ref to it.
Object Peer::proxy_ref(const Object& value) const {
    bool any = false;
    Object ref = refs_in(value, any);
    if (!ref.is_ref()) type_error("expected a proxy of an object of this manager");
    return ref;
}

Object Peer::refs_in(const Object& value, bool& any) const {
    if (is_rebuild_proxy(value)) {
        auto id = parse_ident(pickle::as_token(value.as_instance().args[1]).id);
        const char* type = id ? store_.type_of(*id) : nullptr;
        if (!type || shared_.iterators.count(*id)) return value;  // not ours: kept as sent
        any = true;
        return Object::ref(type, *id);
    }
    if (value.is_list() || value.is_tuple()) {
        List items;
        for (const auto& x : value.as_sequence())
            items.push_back(refs_in(x, any));
        return value.is_list() ? Object(std::move(items)) : Object::tuple(std::move(items));
    }
    if (value.is_dict()) {
        Object::Dict d;
        for (const auto& [k, x] : value.as_dict())
            d.set(k, refs_in(x, any));
        return Object(std::move(d));
    }
    return value;
}

Object Peer::proxies_in(const Object& value) const {
    if (value.is_ref()) {
        std::uint64_t id = value.as_ref().id;
        const char* type = store_.type_of(id);
        std::string t = type ? type : value.as_ref().type;
        std::string proxy = proxy_type_of(t);
        Object::Dict kwds;
        if (proxy == "AutoProxy") kwds.set(Object("exposed"), Object::tuple(exposed_of(t, false)));
        pickle::Token token{t, shared_.address, hex(id)};
        return Object::instance(
            "multiprocessing.managers", "RebuildProxy",
            {proxy_class(proxy), pickle::make_token(token), Object("pickle"), Object(kwds)});
    }
    if (value.is_list() || value.is_tuple()) {
        List items;
        for (const auto& x : value.as_sequence())
            items.push_back(proxies_in(x));
        return value.is_list() ? Object(std::move(items)) : Object::tuple(std::move(items));
    }
    if (value.is_dict()) {
        Object::Dict d;
        for (const auto& [k, x] : value.as_dict())
            d.set(k, proxies_in(x));
        return Object(std::move(d));
    }
    return value;
}

// ---- public helpers -----------------------------------------------------------------------

Expose parse_expose(const std::string& text) {
    auto eq = text.find('=');
    auto colon = text.find(':', eq == std::string::npos ? 0 : eq);
    if (eq == std::string::npos || eq == 0 || colon == std::string::npos || colon == eq + 1 ||
        colon + 1 == text.size()) {
        throw ValueError("--expose " + text + ": expected TYPEID=TYPE:NAME (e.g. " +
                         "get_queue=queue:jobs)");
    }
    std::string type = text.substr(eq + 1, colon - eq - 1);
    static const std::pair<const char*, const char*> names[] = {
        {"dict", wire::type_dict},           {"list", wire::type_list},
        {"queue", wire::type_queue},         {"joinable_queue", wire::type_joinable_queue},
        {"lock", wire::type_lock},           {"rlock", wire::type_rlock},
        {"semaphore", wire::type_semaphore}, {"bounded_semaphore", wire::type_bounded_semaphore},
        {"event", wire::type_event},         {"barrier", wire::type_barrier},
        {"condition", wire::type_condition}, {"namespace", wire::type_namespace},
        {"value", wire::type_value},         {"array", wire::type_array},
    };
    const char* store = nullptr;
    for (const auto& [cli, name] : names)
        if (type == cli || type == name) store = name;
    if (!store) {
        throw ValueError("--expose " + text + ": unknown type '" + type +
                         "' (dict, list, queue, joinable_queue, lock, rlock, semaphore, "
                         "bounded_semaphore, event, barrier, condition, namespace, value, "
                         "array; a condition, value or array must exist: a C++ client makes "
                         "it with that name first)");
    }
    return Expose{text.substr(0, eq), store, text.substr(colon + 1)};
}

Object token_address(const std::string& bound) {
    if (bound.rfind("unix:", 0) == 0) return Object(bound.substr(5));
    std::string hostport = bound.rfind("tcp://", 0) == 0 ? bound.substr(6) : bound;
    auto colon = hostport.rfind(':');
    if (colon == std::string::npos) return Object(hostport);
    std::string host = hostport.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    return Object::tuple({Object(host), Object(std::stoll(hostport.substr(colon + 1)))});
}

// ---- Peer ---------------------------------------------------------------------------------

Peer::Peer(Store& store, Shared& shared, ConnId conn, std::string& out, std::string session)
    : store_(store), shared_(shared), conn_(conn), out_(out), session_(std::move(session)) {
    wire::register_sink(&inner_, this);
}

Peer::~Peer() {
    wire::unregister_sink(&inner_);
}

void Peer::open() {
    store_.open_connection(conn_, session_, &inner_);
    opened_ = true;
}

void Peer::ok(const Object& value) {
    answers_.push_back(Answer{wire::ok, value, {}});
}

void Peer::error(wire::Status status, const std::string& message) {
    answers_.push_back(Answer{status, Object(), message});
}

void Peer::reply(const Object& kind, const Object& value) {
    std::size_t start = wire::begin_frame(out_);
    pickle::dump_to(out_, Object::tuple({kind, has_ref(value) ? proxies_in(value) : value}));
    wire::end_frame(out_, start);
}

void Peer::reply_traceback(const std::string& text) {
    reply("#TRACEBACK",
          Object("Traceback (most recent call last):\n  (ipckit manager server)\n" + text + "\n"));
}

void Peer::submit(int op, std::uint64_t id, Object::List args, Pending pending) {
    pending_ = std::move(pending);
    store_.request(conn_, op, id, std::move(args), request_refs_);
    pump();
}

void Peer::pump() {
    while (!answers_.empty() && pending_) {
        Answer a = std::move(answers_.front());
        answers_.pop_front();
        Pending p = std::move(*pending_);
        pending_.reset();
        finish(p, a);
    }
    answers_.clear();  // answers nobody waits for (none expected)
}

void Peer::request(std::string_view payload) {
    Object request;
    try {
        request = pickle::loads(payload);
    } catch (const ValueError& e) {
        // A whole frame naming a global the decoder refuses (a sort key such as str.lower
        // pickles as builtins.getattr): the frame was read whole, so the connection stays in
        // step; Python's client raises TypeError. Any other malformed pickle closes it.
        if (std::string_view(e.what()).find("refusing the global") == std::string_view::npos) throw;
        reply_error(pickle::make_exception(
            "TypeError",
            {Object(std::string("the ipckit manager server refused the request: ") + e.what() +
                    " (a function sent to the server, such as a sort key, is "
                    "never called)")}));
        if (!serving_) finished_ = true;
        return;
    }
    if (!request.is_tuple() || request.as_tuple().size() != 4) {
        throw ValueError("Python manager request: not a 4-tuple");
    }
    const List& fields = request.as_tuple();
    const Object& args_object = fields[2];
    if (!fields[1].is_string() || !(args_object.is_tuple() || args_object.is_list()) ||
        !(fields[3].is_dict() || fields[3].is_none())) {
        throw ValueError("Python manager request: malformed");
    }
    // Proxies in the arguments (d['q'] = q): the store's refs, counted as held.
    request_refs_ = false;
    Object converted_args, converted_kwds;
    if (payload.find("RebuildProxy") != std::string_view::npos) {
        converted_args = refs_in(args_object, request_refs_);
        converted_kwds = refs_in(fields[3], request_refs_);
    }
    const List& args = request_refs_ ? converted_args.as_sequence() : args_object.as_sequence();
    const Object& kwds = request_refs_ ? converted_kwds : fields[3];
    const std::string& method = fields[1].as_string();
    try {
        if (!serving_) {
            if (!fields[0].is_none()) {
                reply_traceback("AssertionError: the first request must be a public method");
                finished_ = true;
                return;
            }
            public_request(method, args, kwds);
        } else {
            if (!fields[0].is_string()) throw ValueError("Python manager request: bad ident");
            method_request(fields[0].as_string(), method, args, kwds);
        }
    } catch (const CallError& e) {
        pending_.reset();
        reply_error(e.exception);
    }
}

void Peer::public_request(const std::string& method, const Object::List& args, const Object& kwds) {
    auto finish_public = [this] { finished_ = true; };
    if (method == "accept_connection") {
        serving_ = true;
        reply_return(Object());
        return;
    }
    Pending p{Then::nothing, Object(), 0, true};
    if (method == "dummy") {
        reply_return(Object());
        return finish_public();
    }
    if (method == "create") {
        if (args.empty() || !args[0].is_string()) {
            reply_traceback("TypeError: create() needs a typeid");
            return finish_public();
        }
        const std::string& typeid_ = args[0].as_string();
        List rest(args.begin() + 1, args.end());
        for (const auto& e : shared_.exposes) {
            if (e.typeid_ == typeid_) {
                p.then = Then::created;
                p.operand = Object(e.type);
                return submit(wire::create, 0, {Object(e.type), Object(e.name)}, std::move(p));
            }
        }
        const char* type = store_type(typeid_);
        if (!type) {
            reply_traceback("KeyError: " + Object(typeid_).repr() +
                            " (the ipckit manager has no such type id)");
            return finish_public();
        }
        List params;
        std::string t = type;
        if (t == wire::type_dict) {
            // dict(mapping or pairs, **kwds)
            Object::Dict d;
            if (!rest.empty()) {
                if (rest[0].is_dict()) {
                    d = rest[0].as_dict();
                } else {
                    for (const auto& pair : as_list(rest[0]).as_list()) {
                        const auto& kv = pair.as_sequence();
                        if (kv.size() != 2)
                            type_error("dictionary update sequence element has wrong length");
                        d.set(kv[0], kv[1]);
                    }
                }
            }
            if (kwds.is_dict())
                for (const auto& [k, v] : kwds.as_dict())
                    d.set(k, v);
            params.push_back(Object(std::move(d)));
        } else if (t == wire::type_list) {
            params.push_back(rest.empty() ? Object(List()) : as_list(rest[0]));
        } else if (t == wire::type_queue || t == wire::type_joinable_queue) {
            params = bind("Queue", rest, kwds, {"maxsize"}, {Object(0)});
        } else if (t == wire::type_semaphore || t == wire::type_bounded_semaphore) {
            params = bind(typeid_.c_str(), rest, kwds, {"value"}, {Object(1)});
        } else if (t == wire::type_value) {
            List a = bind("Value", rest, kwds, {"typecode", "value", "lock"}, {Object(true)});
            params = {a[0], a[1]};
        } else if (t == wire::type_array) {
            List a = bind("Array", rest, kwds, {"typecode", "sequence", "lock"}, {Object(true)});
            params = {a[0], as_list(a[1])};
        } else if (t == wire::type_namespace) {
            // Namespace(**kwds): made empty, then its attributes set one by one.
            if (!rest.empty()) type_error("Namespace() takes no positional arguments");
            p.then = Then::ns_made;
            p.operand = kwds.is_dict() ? kwds : Object(Object::Dict());
            return submit(wire::create, 0, {Object(t), Object()}, std::move(p));
        } else if (t == wire::type_condition) {
            List a = bind("Condition", rest, kwds, {"lock"}, {Object()});
            if (a[0].is_none()) {
                p.then = Then::cond_lock_made;
                return submit(wire::create, 0, {Object(wire::type_rlock), Object()}, std::move(p));
            }
            Object lock = proxy_ref(a[0]);
            std::int64_t lock_id = static_cast<std::int64_t>(lock.as_ref().id);
            p.then = Then::cond_made;
            p.operand = Object::list({Object(lock_id), Object(false)});
            return submit(wire::create, 0, {Object(t), Object(), std::move(lock)}, std::move(p));
        } else if (t == wire::type_barrier) {
            List b =
                bind("Barrier", rest, kwds, {"parties", "action", "timeout"}, {Object(), Object()});
            params.push_back(b[0]);
        }
        List create_args{Object(t), Object()};
        for (auto& x : params)
            create_args.push_back(std::move(x));
        p.then = Then::created;
        p.operand = Object(t);
        return submit(wire::create, 0, std::move(create_args), std::move(p));
    }
    if (method == "incref" || method == "decref") {
        std::optional<std::uint64_t> id;
        if (args.size() == 1 && args[0].is_string()) id = parse_ident(args[0].as_string());
        if (!id || !store_.type_of(*id)) {
            reply_traceback("KeyError: " + (args.empty() ? std::string("None") : args[0].repr()));
            return finish_public();
        }
        return submit(method == "incref" ? wire::incref : wire::decref, *id, {}, std::move(p));
    }
    if (method == "number_of_objects") {
        p.then = Then::objects;
        return submit(wire::stats, 0, {}, std::move(p));
    }
    if (method == "debug_info") {
        p.then = Then::debug_info;
        return submit(wire::stats, 0, {}, std::move(p));
    }
    if (method == "get_methods") {
        std::optional<std::uint64_t> id;
        if (args.size() == 1 && pickle::is_token(args[0])) {
            id = parse_ident(pickle::as_token(args[0]).id);
        }
        const char* type = id ? store_.type_of(*id) : nullptr;
        if (!type) {
            reply_traceback("KeyError: no such object");
        } else {
            reply_return(Object::tuple(exposed_of(type, shared_.iterators.count(*id) > 0)));
        }
        return finish_public();
    }
    if (method == "shutdown") {
        return submit(wire::shutdown, 0, {}, std::move(p));
    }
    reply_traceback("AssertionError: " + Object(method).repr() + " unrecognized");
    finish_public();
}

void Peer::method_request(const std::string& ident, const std::string& method,
                          const Object::List& args, const Object& kwds) {
    std::optional<std::uint64_t> parsed = parse_ident(ident);
    const char* type_name = parsed ? store_.type_of(*parsed) : nullptr;
    if (!type_name) {
        reply_traceback("KeyError: " + Object(ident).repr());
        return;
    }
    std::uint64_t id = *parsed;
    std::string type = type_name;
    bool iterator = shared_.iterators.count(id) > 0;
    const List& exposed = exposed_of(type, iterator);
    auto value = [&](int op, List a, Then then = Then::value, Object operand = Object()) {
        submit(op, id, std::move(a), Pending{then, std::move(operand), id, false});
    };
    if (!exposes(exposed, method)) {
        if (method == "__str__" || method == "__repr__") return value(wire::repr, {}, Then::str);
        if (method == "#GETVALUE") return value(wire::copy, {});
        reply_traceback("AttributeError: method " + Object(method).repr() + " of " +
                        Object(type).repr() + " object is not in exposed");
        return;
    }
    using namespace wire;
    if (iterator) {
        if (method == "__next__") return value(list_pop, {}, Then::value, Object("next"));
        reply_traceback("AttributeError: the ipckit manager's iterators only have __next__");
        return;
    }
    if (type == type_dict) {
        if (method == "__getitem__") {
            List a = bind(method.c_str(), args, kwds, {"key"});
            Object key = a[0];
            return value(dict_get, std::move(a), Then::value, std::move(key));
        }
        if (method == "__setitem__")
            return value(dict_set, bind("__setitem__", args, kwds, {"key", "value"}),
                         Then::nothing);
        if (method == "__delitem__") {
            List a = bind(method.c_str(), args, kwds, {"key"});
            Object key = a[0];
            return value(dict_del, std::move(a), Then::nothing, std::move(key));
        }
        if (method == "__contains__")
            return value(dict_contains, bind("__contains__", args, kwds, {"key"}));
        if (method == "__len__") return value(len, {});
        if (method == "__iter__") return value(dict_keys, {}, Then::iter_keys);
        if (method == "clear") return value(clear, {}, Then::nothing);
        if (method == "copy") return value(copy, {});
        if (method == "get")
            return value(dict_get_default, bind("get", args, kwds, {"key", "default"}, {Object()}));
        if (method == "items") return value(dict_items, {}, Then::tuples);
        if (method == "keys") return value(dict_keys, {});
        if (method == "values") return value(dict_values, {});
        if (method == "pop") {
            if (args.size() >= 2) return value(dict_pop_default, {args[0], args[1]});
            List a = bind("pop", args, kwds, {"key"});
            Object key = a[0];
            return value(dict_pop, std::move(a), Then::value, std::move(key));
        }
        if (method == "popitem") return value(dict_popitem, {}, Then::tuple);
        if (method == "setdefault")
            return value(dict_setdefault,
                         bind("setdefault", args, kwds, {"key", "default"}, {Object()}));
        if (method == "update") {
            List flat;
            if (!args.empty()) {
                if (args[0].is_dict()) {
                    for (const auto& [k, v] : args[0].as_dict()) {
                        flat.push_back(k);
                        flat.push_back(v);
                    }
                } else {
                    for (const auto& pair : as_list(args[0]).as_list()) {
                        const auto& kv = pair.as_sequence();
                        if (kv.size() != 2)
                            type_error("dictionary update sequence element has wrong length");
                        flat.push_back(kv[0]);
                        flat.push_back(kv[1]);
                    }
                }
            }
            if (kwds.is_dict()) {
                for (const auto& [k, v] : kwds.as_dict()) {
                    flat.push_back(k);
                    flat.push_back(v);
                }
            }
            return value(dict_update_flat, {Object(std::move(flat))}, Then::nothing);
        }
    } else if (type == type_list) {
        if (method == "__getitem__" || method == "__setitem__" || method == "__delitem__") {
            if (args.empty()) type_error(method + "() missing an index");
            if (auto bounds = slice_of(args[0])) {
                List a = *bounds;
                if (method == "__getitem__") return value(list_get_slice, std::move(a));
                if (method == "__delitem__")
                    return value(list_del_slice, std::move(a), Then::nothing);
                if (args.size() != 2) type_error("__setitem__ needs a value");
                a.push_back(as_list(args[1]));
                return value(list_set_slice, std::move(a), Then::nothing);
            }
            if (method == "__getitem__")
                return value(list_get, bind("__getitem__", args, kwds, {"index"}));
            if (method == "__delitem__")
                return value(list_del, bind("__delitem__", args, kwds, {"index"}), Then::nothing);
            return value(list_set, bind("__setitem__", args, kwds, {"index", "value"}),
                         Then::nothing);
        }
        if (method == "__contains__")
            return value(list_contains, bind("__contains__", args, kwds, {"value"}));
        if (method == "__len__") return value(len, {});
        if (method == "__add__") {
            List a = bind("__add__", args, kwds, {"other"});
            return value(copy, {}, Then::concat, as_list(a[0]));
        }
        if (method == "__mul__" || method == "__rmul__") {
            List a = bind(method.c_str(), args, kwds, {"n"});
            if (!a[0].is_int()) type_error("can't multiply sequence by non-int");
            return value(copy, {}, Then::repeat, a[0]);
        }
        if (method == "append")
            return value(list_append, bind("append", args, kwds, {"object"}), Then::nothing);
        if (method == "count") return value(list_count, bind("count", args, kwds, {"value"}));
        if (method == "extend") {
            List a = bind("extend", args, kwds, {"iterable"});
            return value(list_extend, {as_list(a[0])}, Then::nothing);
        }
        if (method == "index")
            return value(list_index, bind("index", args, kwds, {"value", "start", "stop"},
                                          {Object(), Object()}));
        if (method == "insert")
            return value(list_insert, bind("insert", args, kwds, {"index", "object"}),
                         Then::nothing);
        if (method == "pop") {
            List a = bind("pop", args, kwds, {"index"}, {Object(-1)});
            return value(list_pop, std::move(a));
        }
        if (method == "remove")
            return value(list_remove, bind("remove", args, kwds, {"value"}), Then::nothing);
        if (method == "reverse") return value(list_reverse, {}, Then::nothing);
        if (method == "sort") {
            List a = bind("sort", {}, kwds, {"key", "reverse"}, {Object(), Object(false)});
            if (!args.empty()) type_error("sort() takes no positional arguments");
            if (!a[0].is_none()) {
                // The key arrives as a reference to a function (builtins.len): ipckit never
                // calls what a client sends (docs/python-interop.md).
                std::string key = a[0].is_opaque()
                                      ? a[0].as_opaque().module + "." + a[0].as_opaque().name
                                      : a[0].repr();
                throw CallError{pickle::make_exception(
                    "TypeError",
                    {Object("sort(key=" + key +
                            "): the ipckit manager server never calls a function sent by a "
                            "client; sort without key, or sort a copy in Python: "
                            "sorted(proxy, key=...)")})};
            }
            return value(list_sort, {Object(a[1].as_bool())}, Then::nothing);
        }
    } else if (type == type_queue || type == type_joinable_queue) {
        if (method == "put" || method == "put_nowait") {
            List a = method == "put" ? bind("put", args, kwds, {"item", "block", "timeout"},
                                            {Object(true), Object()})
                                     : bind("put_nowait", args, kwds, {"item"});
            bool block = a.size() > 1 && a[1].as_bool();
            Object timeout = block ? nanoseconds(a[2]) : Object();
            if (timeout.is_int() && timeout.as_int() < 0) {
                throw CallError{pickle::make_exception(
                    "ValueError", {"'timeout' must be a non-negative number"})};
            }
            return value(queue_put, {a[0], Object(block), timeout}, Then::nothing);
        }
        if (method == "get" || method == "get_nowait") {
            List a = method == "get"
                         ? bind("get", args, kwds, {"block", "timeout"}, {Object(true), Object()})
                         : List{Object(false), Object()};
            bool block = a[0].as_bool();
            Object timeout = block ? nanoseconds(a[1]) : Object();
            if (timeout.is_int() && timeout.as_int() < 0) {
                throw CallError{pickle::make_exception(
                    "ValueError", {"'timeout' must be a non-negative number"})};
            }
            return value(queue_get, {Object(block), timeout});
        }
        if (method == "qsize") return value(queue_qsize, {});
        if (method == "empty") return value(queue_empty, {});
        if (method == "full") return value(queue_full, {});
        if (method == "task_done") return value(queue_task_done, {}, Then::nothing);
        if (method == "join") return value(queue_join, {Object()}, Then::nothing);
    } else if (type == type_lock || type == type_rlock || type == type_semaphore ||
               type == type_bounded_semaphore) {
        if (method == "acquire") {
            List a =
                bind("acquire", args, kwds, {"blocking", "timeout"}, {Object(true), Object(-1)});
            bool block = a[0].as_bool();
            Object timeout;
            if (!(a[1].is_int() && a[1].as_int() == -1)) {
                if (!block) {
                    throw CallError{pickle::make_exception(
                        "ValueError", {"can't specify a timeout for a non-blocking call"})};
                }
                timeout = nanoseconds(a[1]);
                if (timeout.is_int() && timeout.as_int() < 0) {
                    throw CallError{pickle::make_exception(
                        "ValueError", {"timeout value must be a non-negative number"})};
                }
            }
            return value(wire::acquire, {Object(block), timeout}, Then::acquired);
        }
        if (method == "release") return value(wire::release, {}, Then::nothing);
    } else if (type == type_event) {
        if (method == "set") return value(event_set, {}, Then::nothing);
        if (method == "clear") return value(event_clear, {}, Then::nothing);
        if (method == "is_set") return value(event_is_set, {});
        if (method == "wait") {
            List a = bind("wait", args, kwds, {"timeout"}, {Object()});
            Object timeout = nanoseconds(a[0]);
            if (timeout.is_int() && timeout.as_int() < 0) timeout = Object(0);
            return value(event_wait, {timeout});
        }
    } else if (type == type_condition) {
        // acquire and release go to the condition's lock, as threading.Condition's do.
        if (method == "acquire" || method == "release") {
            auto lock = shared_.condition_locks.find(id);
            if (lock == shared_.condition_locks.end()) {  // made by a C++ client: ask for it
                Object call = Object::list(
                    {Object(method), Object(args), kwds.is_dict() ? kwds : Object(Object::Dict())});
                return value(condition_lock, {}, Then::lock_found, std::move(call));
            }
            return method_request(hex(lock->second), method, args, kwds);
        }
        if (method == "wait") {
            List a = bind("wait", args, kwds, {"timeout"}, {Object()});
            Object timeout = nanoseconds(a[0]);
            if (timeout.is_int() && timeout.as_int() < 0) timeout = Object(0);
            return value(condition_wait, {timeout});
        }
        if (method == "notify") {
            List a = bind("notify", args, kwds, {"n"}, {Object(1)});
            if (!a[0].is_int()) type_error("notify(n): n must be an int");
            return value(condition_notify, std::move(a), Then::nothing);
        }
        if (method == "notify_all") return value(condition_notify_all, {}, Then::nothing);
    } else if (type == type_namespace) {
        if (method == "__getattribute__")
            return value(namespace_get, bind("__getattribute__", args, kwds, {"name"}));
        if (method == "__setattr__")
            return value(namespace_set, bind("__setattr__", args, kwds, {"name", "value"}),
                         Then::nothing);
        if (method == "__delattr__")
            return value(namespace_del, bind("__delattr__", args, kwds, {"name"}), Then::nothing);
    } else if (type == type_value) {
        if (method == "get") return value(value_get, bind("get", args, kwds, {}));
        if (method == "set")
            return value(value_set, bind("set", args, kwds, {"value"}), Then::nothing);
    } else if (type == type_array) {
        if (method == "__len__") return value(len, {});
        if (method == "__getitem__" || method == "__setitem__") {
            if (!args.empty() && slice_of(args[0])) {
                throw CallError{pickle::make_exception(
                    "TypeError", {"the ipckit manager's Array takes no slices"})};
            }
            if (method == "__getitem__")
                return value(array_get, bind("__getitem__", args, kwds, {"index"}));
            return value(array_set, bind("__setitem__", args, kwds, {"index", "value"}),
                         Then::nothing);
        }
    } else if (type == type_barrier) {
        if (method == "wait") {
            List a = bind("wait", args, kwds, {"timeout"}, {Object()});
            return value(barrier_wait, {nanoseconds(a[0])});
        }
        if (method == "abort") return value(barrier_abort, {}, Then::nothing);
        if (method == "reset") return value(barrier_reset, {}, Then::nothing);
        if (method == "__getattribute__") {
            List a = bind("__getattribute__", args, kwds, {"name"});
            std::string name = a[0].is_string() ? a[0].as_string() : "";
            if (name == "parties") return value(barrier_parties, {});
            if (name == "n_waiting") return value(barrier_n_waiting, {});
            if (name == "broken") return value(barrier_broken, {});
            throw CallError{pickle::make_exception(
                "AttributeError", {"'Barrier' object has no attribute " + a[0].repr()})};
        }
    }
    reply_traceback("AttributeError: the ipckit manager does not implement " + type + "." + method);
}

std::string Peer::python_str(std::uint64_t id, const std::string& r) const {
    std::string at = "0x" + hex(id);
    std::string type = store_.type_of(id) ? store_.type_of(id) : "";
    auto number_after = [&](const std::string& key) {
        auto pos = r.find(key);
        if (pos == std::string::npos) return std::string("?");
        pos += key.size();
        auto end = r.find_first_not_of("0123456789", pos);
        return r.substr(pos, end - pos);
    };
    bool locked = r.rfind("<locked", 0) == 0;
    if (type == wire::type_queue || type == wire::type_joinable_queue) {
        return "<queue.Queue object at " + at + ">";
    }
    if (type == wire::type_lock) {
        return std::string("<") + (locked ? "locked" : "unlocked") + " _thread.lock object at " +
               at + ">";
    }
    if (type == wire::type_rlock) {
        return std::string("<") + (locked ? "locked" : "unlocked") +
               " _thread.RLock object owner=0 count=" + number_after("count=") + " at " + at + ">";
    }
    if (type == wire::type_semaphore) {
        return "<threading.Semaphore at " + at + ": value=" + number_after("value=") + ">";
    }
    if (type == wire::type_bounded_semaphore) {
        return "<threading.BoundedSemaphore at " + at + ": value=" + number_after("value=") + ">";
    }
    if (type == wire::type_event) {
        bool set = r.find(": set>") != std::string::npos;
        return "<threading.Event at " + at + ": " + (set ? "set" : "unset") + ">";
    }
    if (type == wire::type_barrier) return "<threading.Barrier at " + at + ">";
    if (type == wire::type_condition) {
        // <Condition(<unlocked RLock object count=0>, 0)> -> Python's, its lock's repr too.
        auto open = r.find('(');
        auto comma = r.rfind(", ");
        if (open == std::string::npos || comma == std::string::npos || comma < open) return r;
        std::string lock = r.substr(open + 1, comma - open - 1);
        bool rlock = lock.find("RLock") != std::string::npos;
        bool held = lock.rfind("<locked", 0) == 0;
        std::string py = std::string("<") + (held ? "locked" : "unlocked") +
                         (rlock ? " _thread.RLock object owner=0 count=" +
                                      [&] {
                                          auto pos = lock.find("count=");
                                          if (pos == std::string::npos) return std::string("0");
                                          pos += 6;
                                          return lock.substr(
                                              pos, lock.find_first_not_of("0123456789", pos) - pos);
                                      }() +
                                      " at "
                                : " _thread.lock object at ") +
                         at + ">";
        return "<Condition(" + py + r.substr(comma);
    }
    if (shared_.iterators.count(id)) return "<dict_keyiterator object at " + at + ">";
    return r;
}

void Peer::finish(const Pending& p, Answer& a) {
    if (a.status != wire::ok) {
        using namespace wire;
        if (p.public_call) {
            reply_traceback("Error: " + a.message);
            finished_ = true;
            return;
        }
        if (p.then == Then::value && p.operand.is_string() && p.operand.as_string() == "next" &&
            a.status == index_error && shared_.iterators.count(p.id)) {
            return reply_error(pickle::make_exception("StopIteration", {}));
        }
        switch (a.status) {
            case key_error:
                if (a.message.rfind("AttributeError: ", 0) == 0) {
                    return reply_error(
                        pickle::make_exception("AttributeError", {Object(a.message.substr(16))}));
                }
                if (p.then == Then::value || p.then == Then::nothing) {
                    if (!p.operand.is_none()) {
                        return reply_error(pickle::make_exception("KeyError", {p.operand}));
                    }
                }
                return reply_error(pickle::make_exception("KeyError", {Object(a.message)}));
            case index_error: {
                // Python's own message: without ipckit's detail ("(index 100, size 11)").
                std::string text = a.message;
                auto detail = text.find(" (");
                if (detail != std::string::npos && text.back() == ')') text.resize(detail);
                return reply_error(pickle::make_exception("IndexError", {Object(text)}));
            }
            case value_error:
                for (const char* kind : {"TypeError", "OverflowError"}) {
                    std::string prefix = std::string(kind) + ": ";
                    if (a.message.rfind(prefix, 0) == 0) {
                        return reply_error(pickle::make_exception(
                            kind, {Object(a.message.substr(prefix.size()))}));
                    }
                }
                return reply_error(pickle::make_exception("ValueError", {Object(a.message)}));
            case empty:
                return reply_error(pickle::make_exception("Empty", {}));
            case full:
                return reply_error(pickle::make_exception("Full", {}));
            case runtime_error:
                return reply_error(pickle::make_exception("RuntimeError", {Object(a.message)}));
            case broken_barrier:
                return reply_traceback("threading.BrokenBarrierError: " + a.message);
            default:
                return reply_traceback("Error: " + a.message);
        }
    }
    Object& v = a.value;
    switch (p.then) {
        case Then::value:
            reply_return(v);
            break;
        case Then::nothing:
            reply_return(Object());
            break;
        case Then::acquired:
            reply_return(Object(v.is_int() ? v.as_int() != 0 : v.is_bool() && v.as_bool()));
            break;
        case Then::tuples: {
            List items;
            for (const auto& x : v.as_list())
                items.push_back(Object::tuple(x.as_list()));
            reply_return(Object(std::move(items)));
            break;
        }
        case Then::tuple:
            reply_return(Object::tuple(v.as_list()));
            break;
        case Then::created: {
            std::uint64_t id = static_cast<std::uint64_t>(v.as_int());
            reply_return(Object::tuple(
                {Object(hex(id)), Object::tuple(exposed_of(p.operand.as_string(), false))}));
            break;
        }
        case Then::objects:
            reply_return(*v.as_dict().find(Object("objects")));
            break;
        case Then::debug_info:
            reply_return(Object("  ipckit manager: " + v.repr()));
            break;
        case Then::str:
            reply_return(Object(python_str(p.id, v.as_string())));
            break;
        case Then::iter_keys: {
            List keys = v.as_list();
            std::reverse(keys.begin(), keys.end());  // __next__ pops from the end
            // Python's Server creates the iterator with a reference for the caller's process.
            submit(wire::create, 0, {Object(wire::type_list), Object(), Object(std::move(keys))},
                   Pending{Then::iter_made, Object(), p.id, false});
            return;
        }
        case Then::iter_made: {
            std::uint64_t id = static_cast<std::uint64_t>(v.as_int());
            shared_.iterators[id] = true;
            pickle::Token token{"Iterator", shared_.address, hex(id)};
            reply("#PROXY",
                  Object::tuple({Object::tuple(exposed_of("", true)), pickle::make_token(token)}));
            break;
        }
        case Then::cond_lock_made: {
            std::uint64_t lock = static_cast<std::uint64_t>(v.as_int());
            submit(wire::create, 0,
                   {Object(wire::type_condition), Object(), Object::ref(wire::type_rlock, lock)},
                   Pending{Then::cond_made,
                           Object::list({Object(static_cast<std::int64_t>(lock)), Object(true)}), 0,
                           true});
            return;
        }
        case Then::cond_made: {
            std::uint64_t lock = static_cast<std::uint64_t>(p.operand.as_list()[0].as_int());
            shared_.condition_locks[static_cast<std::uint64_t>(v.as_int())] = lock;
            Pending done{Then::cond_done, v, 0, true};
            if (p.operand.as_list()[1].as_bool()) return submit(wire::decref, lock, {}, done);
            return finish(done, a);
        }
        case Then::cond_done:
            reply_return(Object::tuple({Object(hex(static_cast<std::uint64_t>(p.operand.as_int()))),
                                        Object::tuple(exposed_of(wire::type_condition, false))}));
            break;
        case Then::ns_made: {
            List flat;
            for (const auto& [k, x] : p.operand.as_dict()) {
                flat.push_back(k);
                flat.push_back(x);
            }
            Pending next{Then::ns_set, Object::list({v, Object(std::move(flat)), Object(0)}), 0,
                         true};
            return finish(next, a);  // a.value is not used by ns_set
        }
        case Then::ns_set: {
            const List& state = p.operand.as_list();
            std::uint64_t id = static_cast<std::uint64_t>(state[0].as_int());
            const List& flat = state[1].as_list();
            std::size_t i = static_cast<std::size_t>(state[2].as_int());
            if (i >= flat.size()) {
                reply_return(Object::tuple(
                    {Object(hex(id)), Object::tuple(exposed_of(wire::type_namespace, false))}));
                break;
            }
            submit(wire::namespace_set, id, {flat[i], flat[i + 1]},
                   Pending{
                       Then::ns_set,
                       Object::list({state[0], state[1], Object(static_cast<std::int64_t>(i + 2))}),
                       0, true});
            return;
        }
        case Then::lock_found: {
            // A C++ client's Condition: its lock (a ref; a Python peer is granted no reference
            // by it) takes the acquire/release, now and from now on.
            std::uint64_t lock = v.as_ref().id;
            shared_.condition_locks[p.id] = lock;
            const List& call = p.operand.as_list();
            try {
                method_request(hex(lock), call[0].as_string(), call[1].as_sequence(), call[2]);
            } catch (const CallError& e) {
                pending_.reset();
                reply_error(e.exception);
            }
            return;
        }
        case Then::concat: {
            List all = v.as_list();
            for (const auto& x : p.operand.as_list())
                all.push_back(x);
            reply_return(Object(std::move(all)));
            break;
        }
        case Then::repeat: {
            List all;
            std::int64_t n = p.operand.as_int();
            const List& one = v.as_list();
            if (n > 0 && one.size() * static_cast<std::size_t>(n) > (std::size_t{1} << 24)) {
                reply_error(pickle::make_exception("MemoryError", {}));
                break;
            }
            for (std::int64_t k = 0; k < n; ++k)
                all.insert(all.end(), one.begin(), one.end());
            reply_return(Object(std::move(all)));
            break;
        }
    }
    if (p.public_call) finished_ = true;
}

}  // namespace ipckit::detail::python

// ---- the client's process -----------------------------------------------------------------

namespace ipckit::detail::python {
namespace {

std::optional<std::pair<char, std::uint64_t>> stat_of(int pid, std::uint64_t* flags) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    if (!std::getline(in, text)) return std::nullopt;
    auto close = text.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream fields(text.substr(close + 2));
    std::vector<std::string> f;
    std::string s;
    while (fields >> s && f.size() < 20)
        f.push_back(s);
    // Fields after the command: state(3) ppid pgrp session tty tpgid flags(9) ... starttime(22)
    if (f.size() < 20) return std::nullopt;
    if (flags) *flags = std::stoull(f[6]);
    return std::make_pair(f[0].empty() ? '?' : f[0][0], std::stoull(f[19]));
}

std::string proc_address(const sockaddr_storage& ss) {
    char text[64];
    if (ss.ss_family == AF_INET) {
        const auto& in = reinterpret_cast<const sockaddr_in&>(ss);
        std::snprintf(text, sizeof text, "%08X:%04X", in.sin_addr.s_addr, ntohs(in.sin_port));
        return text;
    }
    if (ss.ss_family == AF_INET6) {
        const auto& in6 = reinterpret_cast<const sockaddr_in6&>(ss);
        std::uint32_t words[4];
        std::memcpy(words, in6.sin6_addr.s6_addr, sizeof words);
        std::snprintf(text, sizeof text, "%08X%08X%08X%08X:%04X", words[0], words[1], words[2],
                      words[3], ntohs(in6.sin6_port));
        return text;
    }
    return {};
}

bool holds_socket(int pid, const std::string& link) {
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(dir.c_str());
    if (!d) return false;
    bool found = false;
    char target[64];
    while (dirent* e = ::readdir(d)) {
        if (e->d_name[0] == '.') continue;
        ssize_t n = ::readlinkat(::dirfd(d), e->d_name, target, sizeof target - 1);
        if (n <= 0) continue;
        if (link.compare(0, std::string::npos, target, static_cast<std::size_t>(n)) == 0) {
            found = true;
            break;
        }
    }
    ::closedir(d);
    return found;
}

}  // namespace

std::optional<Process> peer_process(int fd, const std::vector<int>& likely) {
    auto with_start = [](int pid) -> std::optional<Process> {
        auto st = stat_of(pid, nullptr);
        if (!st) return std::nullopt;
        return Process{pid, st->second};
    };
    ucred cred{};
    socklen_t len = sizeof cred;
    sockaddr_storage peer{}, self{};
    socklen_t peer_len = sizeof peer, self_len = sizeof self;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) return std::nullopt;
    if (peer.ss_family == AF_UNIX) {
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || cred.pid <= 0) {
            return std::nullopt;
        }
        return with_start(cred.pid);
    }
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&self), &self_len) != 0) return std::nullopt;
    std::string local = proc_address(peer), remote = proc_address(self);
    if (local.empty()) return std::nullopt;
    std::ifstream table(peer.ss_family == AF_INET ? "/proc/net/tcp" : "/proc/net/tcp6");
    std::string line, inode;
    std::getline(table, line);  // the header
    while (std::getline(table, line)) {
        std::istringstream f(line);
        std::string sl, l, r, st, queues, tr, retr, uid, timeout, node;
        if (!(f >> sl >> l >> r >> st >> queues >> tr >> retr >> uid >> timeout >> node)) continue;
        if (l == local && r == remote) {
            inode = node;
            break;
        }
    }
    if (inode.empty() || inode == "0") return std::nullopt;
    std::string link = "socket:[" + inode + "]";
    for (int pid : likely)
        if (holds_socket(pid, link)) return with_start(pid);
    DIR* proc = ::opendir("/proc");
    if (!proc) return std::nullopt;
    std::optional<Process> found;
    while (dirent* e = ::readdir(proc)) {
        char* end = nullptr;
        long pid = std::strtol(e->d_name, &end, 10);
        if (*end != '\0' || pid <= 0 || pid == ::getpid()) continue;
        if (holds_socket(static_cast<int>(pid), link)) {
            found = with_start(static_cast<int>(pid));
            break;
        }
    }
    ::closedir(proc);
    return found;
}

bool running(const Process& process) {
    std::uint64_t flags = 0;
    auto st = stat_of(process.pid, &flags);
    if (!st || st->second != process.start_time) return false;
    constexpr std::uint64_t pf_exiting = 0x4;
    return st->first != 'Z' && st->first != 'X' && (flags & pf_exiting) == 0;
}

}  // namespace ipckit::detail::python
