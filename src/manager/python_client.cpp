// The client of a Python manager server: ipckit's proxy requests as Python method calls.
#include "python_client.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "../sysv/interrupt_timer.hpp"
#include "ipckit/error.hpp"
#include "ipckit/pickle.hpp"
#include "ipckit/python_connection.hpp"
#include "ipckit/signals.hpp"
#include "spin.hpp"

namespace ipckit::detail {
namespace {

using List = Object::List;
using Clock = std::chrono::steady_clock;

constexpr std::string_view prefix = "python+";
std::string ident(std::uint64_t id) {
    char text[32];
    std::snprintf(text, sizeof text, "%" PRIx64, id);
    return text;
}

std::uint64_t id_of(const Object& ident_text) {
    const std::string& s = ident_text.as_string();
    if (s.empty() || s.size() > 16)
        throw ValueError("Python manager: bad ident " + ident_text.repr());
    std::uint64_t id = 0;
    for (char ch : s) {
        int d = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
        if (d < 0) throw ValueError("Python manager: bad ident " + ident_text.repr());
        id = id * 16 + static_cast<std::uint64_t>(d);
    }
    return id;
}

// The store's type names -> SyncManager's typeids.
const char* typeid_of(const std::string& type) {
    if (type == wire::type_dict || type == wire::type_list || type == wire::type_queue ||
        type == wire::type_joinable_queue || type == wire::type_lock || type == wire::type_rlock ||
        type == wire::type_semaphore || type == wire::type_bounded_semaphore ||
        type == wire::type_event || type == wire::type_barrier || type == wire::type_namespace ||
        type == wire::type_value || type == wire::type_array) {
        return type.c_str();  // the same names
    }
    return nullptr;
}

// Nanoseconds (or nil) -> Python's seconds (or None).
Object seconds(const Object& ns) {
    if (ns.is_none()) return Object();
    return Object(static_cast<double>(ns.as_int()) / 1e9);
}

Object slice(const List& args, std::size_t i) {
    List bounds;
    for (std::size_t k = i; k < i + 3; ++k)
        bounds.push_back(k < args.size() ? args[k] : Object());
    return Object::instance("builtins", "slice", std::move(bounds));
}

List pairs_as_lists(const Object& value) {
    List out;
    for (const auto& p : value.as_sequence())
        out.push_back(Object(p.as_sequence()));
    return out;
}

}  // namespace

bool is_python_address(const std::string& address) {
    return address.rfind(prefix, 0) == 0;
}

PythonClient::PythonClient(std::string address, std::string authkey, ManagerOptions options)
    : address_text_(std::move(address)),
      address_(parse_address(address_text_.substr(prefix.size()))),
      authkey_(std::move(authkey)),
      options_(options),
      pid_(current_pid()) {}

PythonClient::~PythonClient() = default;

void PythonClient::check() {
    public_call("dummy", {});
}

Fd PythonClient::open() {
    auto deadline = Clock::now() + options_.connect_timeout;
    Fd fd(connect_to(address_, address_text_, deadline));
    try {
        python::answer_challenge(fd.get(), authkey_, deadline);
        python::deliver_challenge(fd.get(), authkey_, deadline);
    } catch (const AuthenticationError& e) {
        throw AuthenticationError("Python manager at " + address_text_ + ": " + e.what() +
                                  " (check the authkey)");
    } catch (const BusyError&) {
        throw ConnectionError(ETIMEDOUT, "Python manager at " + address_text_ +
                                             ": no handshake before the connect timeout");
    }
    // From here on the socket blocks (set once): a call is one send and, usually, one
    // receive (exchange). A send or a receive waits at most the call timeout (a blocking
    // call's receive waits on through it: see receive_reply).
    int flags = ::fcntl(fd.get(), F_GETFL);
    if (flags >= 0) ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK);
    if (auto ms = options_.call_timeout.count(); ms > 0) {
        timeval tv{};
        tv.tv_sec = static_cast<time_t>(ms / 1000);
        tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
        ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    return fd;
}

[[noreturn]] void PythonClient::lost(const std::string& what, int error) {
    std::string message = "Python manager at " + address_text_ + ": " + what;
    if (error == EAGAIN || error == EWOULDBLOCK || error == ETIMEDOUT) {
        error = ETIMEDOUT;
        message += " within the call timeout of " + std::to_string(options_.call_timeout.count()) +
                   " ms (ManagerOptions::call_timeout sets the limit)";
    } else if (error != 0) {
        message += std::string(": ") + std::strerror(error);
    }
    throw ConnectionError(error, message);
}

void PythonClient::send_request(int fd, const Object& request) {
    // The frame built in place: 4 bytes of length, then the pickle (one buffer per thread,
    // kept between calls).
    thread_local std::string out;
    out.assign(4, '\0');
    pickle::dump_to(out, request);
    std::size_t size = out.size() - 4;
    if (size > 0x7fffffffu) {  // the 8-byte extended length: rare, done the long way
        python::send_message(fd, std::string_view(out).substr(4),
                             Clock::now() + options_.connect_timeout);
        return;
    }
    for (int i = 0; i < 4; ++i)
        out[static_cast<std::size_t>(i)] = static_cast<char>((size >> (8 * (3 - i))) & 0xff);
    std::string_view data = out;
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
        } else if (n < 0 && errno != EINTR) {
            lost("cannot send the request", errno);
        }
    }
    if (out.capacity() > (std::size_t{1} << 20)) out = std::string();
}

std::string_view PythonClient::receive_reply(int fd, bool blocking) {
    // One buffer per thread: a reply is read whole by one recv when it fits (a manager's
    // replies are small), and decoded in place.
    constexpr std::size_t initial = std::size_t{64} << 10;
    thread_local std::string in;
    if (in.size() != initial && (in.size() < initial || in.size() > (std::size_t{1} << 20)))
        in = std::string(initial, '\0');
    std::size_t have = 0;
    const auto started = Clock::now();
    // Python's server works on a blocking call in a thread of its own: wait as long as it
    // takes; a stop request wakes the receive (EINTR, through the InterruptTimer).
    std::optional<InterruptTimer> wake;
    auto check = [&] {
        if (blocking && stop_requested()) {
            throw InterruptedError(
                EINTR, "Python manager at " + address_text_ + ": a stop request ended the wait");
        }
        if (!blocking && options_.call_timeout.count() > 0 &&
            Clock::now() - started >= options_.call_timeout) {
            lost("no reply", ETIMEDOUT);
        }
    };
    auto& spinner = AdaptiveSpin::this_thread();
    if (options_.spin.count() > 0 && spinner.allowed(started)) {  // the adaptive wait
        auto until = started + options_.spin;
        do {
            check();
            ssize_t n = ::recv(fd, in.data(), in.size(), MSG_DONTWAIT);
            if (n > 0) {
                have = static_cast<std::size_t>(n);
                break;
            }
            if (n == 0) lost("the server closed the connection", 0);
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                lost("cannot receive the reply", errno);
        } while (spinner.pause(options_.spin, until));
    }
    if (blocking && have == 0) {  // armed only for a wait that the spin did not end
        wake.emplace();
        check();
    }
    for (;;) {
        if (have > 0) {
            std::string_view payload;
            std::size_t consumed = 0, needed = 0;
            if (python::parse_message(std::string_view(in.data(), have), options_.max_frame,
                                      payload, consumed, &needed)) {
                if (consumed != have) lost("bytes after the reply (not a manager server?)", 0);
                return payload;
            }
            if (needed > in.size()) in.resize(needed);
        }
        ssize_t n = ::recv(fd, in.data() + have, in.size() - have, 0);
        if (n > 0) {
            have += static_cast<std::size_t>(n);
        } else if (n == 0) {
            lost(have ? "the server closed the connection in the middle of a reply"
                      : "the server closed the connection",
                 0);
        } else if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) {
            check();
        } else {
            lost("no reply", errno);
        }
    }
}

Object PythonClient::exchange(int fd, const Object& request, bool blocking) {
    send_request(fd, request);
    Object reply = pickle::loads(receive_reply(fd, blocking));
    if (!reply.is_tuple() || reply.as_tuple().size() != 2 || !reply.as_tuple()[0].is_string()) {
        throw ConnectionError(0, "Python manager at " + address_text_ + ": malformed reply");
    }
    const std::string& kind = reply.as_tuple()[0].as_string();
    if (kind == "#RETURN") return reply.as_tuple()[1];
    if (kind == "#PROXY") return proxy_of(reply.as_tuple()[1]);
    raise(kind, reply.as_tuple()[1]);
}

Object PythonClient::proxy_of(const Object& exposed_and_token) {
    if (!exposed_and_token.is_tuple() || exposed_and_token.as_tuple().size() != 2 ||
        !pickle::is_token(exposed_and_token.as_tuple()[1])) {
        throw ConnectionError(0, "Python manager at " + address_text_ +
                                     ": malformed #PROXY reply " + exposed_and_token.repr());
    }
    pickle::Token token = pickle::as_token(exposed_and_token.as_tuple()[1]);
    std::uint64_t id = id_of(Object(token.id));
    // SyncManager's typeids are the store's type names (the typed proxies accept them);
    // any other typeid is kept as it is (ObjectProxy calls its methods by name).
    std::string type = token.type_id;
    auto state = std::make_shared<ProxyState>(shared_from_this(), id, false, type);
    return Object::ref(std::move(type), id, std::move(state));
}

void PythonClient::raise(const std::string& kind, const Object& value) {
    std::string where = "Python manager at " + address_text_ + ": ";
    if (kind != "#ERROR") {
        throw RemoteError(where + kind + " " +
                          (value.is_string() ? value.as_string() : value.repr()));
    }
    std::string name = pickle::exception_name(value);
    std::string message;
    if (value.is_instance() && !value.as_instance().args.empty()) {
        const Object& first = value.as_instance().args[0];
        message = first.is_string() && name != "KeyError" ? first.as_string() : first.repr();
    }
    if (name == "KeyError") throw KeyError(message);
    // A Namespace's missing attribute: KeyError, as the ipckit server reports it.
    if (name == "AttributeError") throw KeyError("AttributeError: " + message);
    if (name == "IndexError") throw IndexError(message);
    if (name == "ValueError") throw ValueError(message);
    if (name == "RuntimeError") throw RuntimeError(where + message);
    if (name == "Empty")
        throw Empty(BusyError::Reason::would_block, EAGAIN, where + "queue is empty");
    if (name == "Full") throw Full(BusyError::Reason::would_block, EAGAIN, where + "queue is full");
    throw RemoteError(where + (name.empty() ? value.repr() : name + ": " + message));
}

Object PythonClient::public_call(const std::string& method, const List& args) {
    Fd fd = open();
    return exchange(
        fd.get(),
        Object::tuple({Object(), Object(method), Object::tuple(args), Object(Object::Dict())}),
        false);
}

Object PythonClient::method_call(std::uint64_t id, const std::string& method, const List& args,
                                 const Object& kwds, bool blocking) {
    int fd;
    {
        std::lock_guard lock(mutex_);
        if (current_pid() != pid_) {
            connections_.clear();  // a forked child opens its own
            pid_ = current_pid();
        }
        auto& slot = connections_[std::this_thread::get_id()];
        if (!slot) {
            Fd fresh = open();
            exchange(fresh.get(),
                     Object::tuple({Object(), Object("accept_connection"),
                                    Object::tuple({Object("ipckit")}), Object(Object::Dict())}),
                     false);
            slot = std::move(fresh);
        }
        fd = slot.get();
    }
    try {
        return exchange(fd,
                        Object::tuple({Object(ident(id)), Object(method), Object::tuple(args),
                                       kwds.is_dict() ? kwds : Object(Object::Dict())}),
                        blocking);
    } catch (const InterruptedError&) {
        std::lock_guard lock(mutex_);
        connections_.erase(std::this_thread::get_id());  // its answer will never be read
        throw;
    } catch (const ConnectionError&) {
        std::lock_guard lock(mutex_);
        connections_.erase(std::this_thread::get_id());
        throw;
    }
}

std::uint64_t PythonClient::create(const std::string& typeid_, const List& args) {
    List full{Object(typeid_)};
    full.insert(full.end(), args.begin(), args.end());
    Object created = public_call("create", full);
    // (ident, exposed): Python's create holds one reference for us.
    return id_of(created.as_sequence().at(0));
}

Object PythonClient::call_blocking(int op, std::uint64_t id, const List& args) {
    return call(op, id, args, nullptr);
}

Object PythonClient::call(int op, std::uint64_t id, const List& args, const Deadline*) {
    using namespace wire;
    if (closed()) throw ConnectionError(0, "Python manager at " + address_text_ + ": shut down");
    auto at = [&](std::size_t i) { return i < args.size() ? args[i] : Object(); };
    auto m = [&](const char* method, const List& a = {}, bool blocking = false) {
        return method_call(id, method, a, Object(), blocking);
    };
    switch (op) {
        case create_dict:
        case create_list: {
            List params;
            if (!args.empty()) params.push_back(args[0]);
            return Object(create(op == create_dict ? "dict" : "list", params));
        }
        case named_dict:
        case named_list:
            throw ValueError(
                "a Python manager has no named objects: register a typeid on the "
                "Python server and use Manager::typeid");
        case wire::create: {
            const std::string& type = args.at(0).as_string();
            if (type.rfind("typeid:", 0) == 0) {  // Manager::typeid_queue and the like
                // create(typeid, *args): Python's server calls the registered callable
                return Object(create(type.substr(7), List(args.begin() + 2, args.end())));
            }
            if (!args.at(1).is_none()) {
                throw ValueError("a Python manager has no named objects (" + args[1].repr() +
                                 "): register a typeid on the Python server");
            }
            const char* typeid_ = typeid_of(type);
            if (!typeid_) throw ValueError("a Python manager has no type " + Object(type).repr());
            List params(args.begin() + 2, args.end());
            if (type == type_barrier && !params.empty()) params.resize(1);
            return Object(create(typeid_, params));
        }
        case incref:
            public_call("incref", {Object(ident(id))});
            return Object();
        case decref:
            public_call("decref", {Object(ident(id))});
            return Object();
        case stats: {
            Object n = public_call("number_of_objects", {});
            return Object(Object::Dict{{"objects", n}});
        }
        case shutdown:
            public_call("shutdown", {});
            return Object();
        case ping:
            public_call("dummy", {});
            return Object(true);
        case repr:
            return m("__str__");
        case len:
            return m("__len__");
        case copy:
            return m("#GETVALUE");
        case clear:
            return m("clear");
        case dict_get:
            return m("__getitem__", {at(0)});
        case dict_get_default:
            return m("get", {at(0), at(1)});
        case dict_set:
            return m("__setitem__", {at(0), at(1)});
        case dict_del:
            return m("__delitem__", {at(0)});
        case dict_contains:
            return m("__contains__", {at(0)});
        case dict_keys:
            return Object(m("keys").as_sequence());
        case dict_values:
            return Object(m("values").as_sequence());
        case dict_items:
            return Object(pairs_as_lists(m("items")));
        case dict_pop:
            return m("pop", {at(0)});
        case dict_pop_default:
            return m("pop", {at(0), at(1)});
        case dict_popitem:
            return Object(m("popitem").as_sequence());
        case dict_setdefault:
            return m("setdefault", {at(0), at(1)});
        case dict_update_flat: {
            Object::Dict d;
            const List& flat = at(0).as_list();
            for (std::size_t i = 0; i + 1 < flat.size(); i += 2)
                d.set(flat[i], flat[i + 1]);
            return m("update", {Object(std::move(d))});
        }
        case list_get:
            return m("__getitem__", {at(0)});
        case list_set:
            return m("__setitem__", {at(0), at(1)});
        case list_del:
            return m("__delitem__", {at(0)});
        case list_append:
            return m("append", {at(0)});
        case list_extend:
            return m("extend", {at(0)});
        case list_insert:
            return m("insert", {at(0), at(1)});
        case list_pop:
            return args.empty() ? m("pop") : m("pop", {at(0)});
        case list_remove:
            return m("remove", {at(0)});
        case list_index: {
            List a{at(0)};
            if (!at(1).is_none() || !at(2).is_none())
                a.push_back(at(1).is_none() ? Object(0) : at(1));
            if (!at(2).is_none()) a.push_back(at(2));
            return m("index", a);
        }
        case list_count:
            return m("count", {at(0)});
        case list_reverse:
            return m("reverse");
        case list_sort:
            return method_call(
                id, "sort", {},
                Object(Object::Dict{{"reverse", at(0).is_bool() && at(0).as_bool()}}));
        case list_get_slice:
            return m("__getitem__", {slice(args, 0)});
        case list_set_slice:
            return m("__setitem__", {slice(args, 0), at(3)});
        case list_del_slice:
            return m("__delitem__", {slice(args, 0)});
        case list_contains:
            return m("__contains__", {at(0)});
        case queue_put:
            try {
                return m("put", {at(0), at(1), seconds(at(2))}, at(1).as_bool());
            } catch (const Full& e) {
                if (at(1).as_bool()) throw Full(BusyError::Reason::timed_out, ETIMEDOUT, e.what());
                throw;
            }
        case queue_get:
            try {
                return m("get", {at(0), seconds(at(1))}, at(0).as_bool());
            } catch (const Empty& e) {
                if (at(0).as_bool()) throw Empty(BusyError::Reason::timed_out, ETIMEDOUT, e.what());
                throw;
            }
        case queue_qsize:
            return m("qsize");
        case queue_empty:
            return m("empty");
        case queue_full:
            return m("full");
        case queue_task_done:
            return m("task_done");
        case queue_join:
            if (!at(0).is_none()) throw ValueError("Python's Queue.join takes no timeout");
            return m("join", {}, true);
        case wire::acquire: {
            bool block = at(0).as_bool();
            Object got = at(1).is_none() ? m("acquire", {Object(block)}, block)
                                         : m("acquire", {Object(block), seconds(at(1))}, block);
            return Object(got.as_bool() ? 1 : 0);
        }
        case wire::release:
            return m("release");
        case event_set:
            return m("set");
        case event_clear:
            return m("clear");
        case event_is_set:
            return m("is_set");
        case event_wait:
        case barrier_wait:
            return m("wait", {seconds(at(0))}, true);
        case barrier_reset:
            return m("reset");
        case barrier_abort:
            return m("abort");
        case barrier_parties:
            return m("__getattribute__", {Object("parties")});
        case barrier_n_waiting:
            return m("__getattribute__", {Object("n_waiting")});
        case barrier_broken:
            return m("__getattribute__", {Object("broken")});
        case namespace_get:
            return m("__getattribute__", {at(0)});
        case namespace_get_default:
        case namespace_contains:
            try {
                Object value = m("__getattribute__", {at(0)});
                return op == namespace_contains ? Object(true) : value;
            } catch (const KeyError&) {
                return op == namespace_contains ? Object(false) : at(1);
            }
        case namespace_set:
            return m("__setattr__", {at(0), at(1)});
        case namespace_del:
            return m("__delattr__", {at(0)});
        case value_get:
            return m("get");
        case value_set:
            return m("set", {at(0)});
        case array_get:
            return m("__getitem__", {at(0)});
        case array_set:
            return m("__setitem__", {at(0), at(1)});
        case call_method: {  // ObjectProxy::call on a typeid_object: (method, args...)
            if (args.empty() || !args[0].is_string())
                throw ValueError("call_method needs a method name");
            return m(args[0].as_string().c_str(), List(args.begin() + 1, args.end()));
        }
        default:
            throw ValueError("not supported against a Python manager server (request " +
                             std::to_string(op) + ")");
    }
}

}  // namespace ipckit::detail
