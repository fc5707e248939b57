// The manager's Redis back end (redis_client.hpp).
#include "redis_client.hpp"

#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <set>

#include "../types/request_error.hpp"
#include "../wire.hpp"
#include "ipckit/error.hpp"
#include "ipckit/signals.hpp"
#include "script.hpp"

namespace ipckit::detail {

namespace {

using redis::ReplyPtr;
using redis::ReplyView;
using Clock = std::chrono::steady_clock;
namespace w = wire;

constexpr std::chrono::milliseconds slice{200};  // the longest BLPOP

std::string sha1_hex(std::string_view text) {
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest);
    return w::to_hex(std::string_view(reinterpret_cast<const char*>(digest), sizeof digest));
}
const std::string& script_sha() {
    static const std::string sha = sha1_hex(redis::eval_script());
    return sha;
}
const std::string& function_name() {
    static const std::string name = "ipckit_" + script_sha().substr(0, 12);
    return name;
}

// Set once a server says it has no Functions (Redis < 7): scripts from then on.
std::atomic<bool> no_functions{false};

// Runs operation `op` of the library on the object at `base` (its node, in a Cluster):
// FCALL, loading the library first where the server lacks it (a new or restarted server);
// EVALSHA (EVAL when the server lacks the script) on servers without Functions.
ReplyPtr run_op(redis::Router& router, const std::string& base, std::string_view op,
                std::string_view lease, const std::vector<std::string_view>& args) {
    std::vector<std::string_view> argv{"FCALL", function_name(), "1", base, op, lease};
    argv.insert(argv.end(), args.begin(), args.end());
    if (!no_functions.load(std::memory_order_relaxed)) {
        ReplyPtr r = router.command(base, argv);
        ReplyView v(r.get());
        if (!v.is_error()) return r;
        std::string_view error = v.str();
        bool missing = error.find("Function not found") != std::string_view::npos;
        bool unknown = error.find("unknown command") != std::string_view::npos;
        if (!missing && !unknown) return r;
        if (missing) {
            ReplyPtr load = router.command(
                base, {"FUNCTION", "LOAD", "REPLACE", redis::function_library(function_name())});
            ReplyView lv(load.get());
            if (!lv.is_error()) return router.command(base, argv);
            if (lv.str().find("unknown") == std::string_view::npos) return load;
        }
        no_functions.store(true, std::memory_order_relaxed);
    }
    argv[0] = "EVALSHA";
    argv[1] = script_sha();
    ReplyPtr r = router.command(base, argv);
    if (ReplyView(r.get()).is_error() && ReplyView(r.get()).str().substr(0, 8) == "NOSCRIPT") {
        argv[0] = "EVAL";
        argv[1] = redis::eval_script();
        r = router.command(base, argv);
    }
    return r;
}

std::string encode(const Object& value) {
    std::string out;
    w::encode(out, value, 1);
    return out;
}
Object decode(std::string_view bytes) {
    return w::decode(bytes, w::max_depth + 8);
}
Object decode(ReplyView r) {
    return decode(r.str());
}

const Object& arg(const Object::List& args, std::size_t i) {
    static const Object none;
    return i < args.size() ? args[i] : none;
}
std::int64_t int_arg(const Object::List& args, std::size_t i, const char* what) {
    const Object& a = arg(args, i);
    if (!a.is_int() && !a.is_bool()) {
        throw ValueError(std::string(what) + " must be integers, not " + a.type_name());
    }
    return a.as_int();
}
std::string bound_arg(const Object::List& args, std::size_t i) {
    const Object& a = arg(args, i);
    if (a.is_none()) return {};
    if (!a.is_int() && !a.is_bool()) {
        throw ValueError(std::string("slice indices must be integers or None, not ") +
                         a.type_name());
    }
    return std::to_string(a.as_int());
}
void key_check(const Object& key) {
    if (!key.is_scalar()) {
        throw ValueError(std::string("unhashable type: '") + key.type_name() + "'");
    }
}

// A blocking request's [block, timeout] (or [timeout]): no deadline = forever.
struct Wait {
    bool block = true;
    std::optional<Clock::time_point> deadline;
};
Wait wait_of(const Object& timeout) {
    Wait wt;
    if (timeout.is_none()) return wt;
    if (!timeout.is_int() || timeout.as_int() < 0) {
        throw ValueError("'timeout' must be a non-negative number");
    }
    constexpr std::int64_t forever_ns = std::int64_t{10} * 365 * 24 * 3600 * 1'000'000'000;
    if (timeout.as_int() < forever_ns) {
        wt.deadline = Clock::now() + std::chrono::nanoseconds(timeout.as_int());
    }
    return wt;
}
Wait block_wait(const Object::List& args, std::size_t i) {
    const Object& block = arg(args, i);
    if (!block.is_bool()) throw ValueError("'block' must be a bool");
    if (!block.as_bool()) return Wait{false, Clock::now()};
    return wait_of(arg(args, i + 1));
}

std::string seconds(Clock::duration d) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    if (ms < 1) ms = 1;
    char text[32];
    std::snprintf(text, sizeof text, "%lld.%03lld", static_cast<long long>(ms / 1000),
                  static_cast<long long>(ms % 1000));
    return text;
}

// The ipckit server's checks (types/request_error.hpp) throw RequestError: the exception
// the server's client makes of the same answer.
template <class F>
auto checked(F f) {
    try {
        return f();
    } catch (const RequestError& e) {
        switch (e.status) {
            case w::key_error:
                throw KeyError(e.message);
            case w::index_error:
                throw IndexError(e.message);
            default:
                throw ValueError(e.message);
        }
    }
}

// A Namespace attribute's name, checked as the ipckit server does (types/namespace.cpp).
const Object& attribute_name(const Object::List& args) {
    const Object& name = arg(args, 0);
    if (!name.is_string()) {
        throw ValueError(std::string("attribute name must be string, not '") + name.type_name() +
                         "'");
    }
    if (name.as_string().empty() || name.as_string()[0] == '_') {
        throw ValueError(
            "a Namespace attribute name must be non-empty and not start "
            "with '_' (got " +
            name.repr() + ")");
    }
    return name;
}
[[noreturn]] void no_attribute(const Object& name) {
    throw KeyError("AttributeError: 'Namespace' object has no attribute " + name.repr());
}

bool is_lock(const std::string& t) {
    return t == w::type_lock || t == w::type_rlock;
}
bool is_semaphore(const std::string& t) {
    return t == w::type_semaphore || t == w::type_bounded_semaphore;
}
bool is_queue(const std::string& t) {
    return t == w::type_queue || t == w::type_joinable_queue;
}

}  // namespace

// What this process holds, renewed every lease/3 by a thread of its own. A forked child
// leaves its parent's Renewer alone (the thread is not in the child) and starts one of its
// own: the child holds nothing of its parent's.
// (base, token) keys, looked up without copying them (string views).
struct LockKeyLess {
    using is_transparent = void;
    using View = std::pair<std::string_view, std::string_view>;
    static View view(const std::pair<std::string, std::string>& k) { return {k.first, k.second}; }
    static View view(const View& k) { return k; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
        return view(a) < view(b);
    }
};

struct RedisClient::Renewer {
    std::mutex m;
    std::condition_variable cv;
    bool stop = false;
    std::map<std::string, int> anonymous;  // base -> references
    // (base, token) -> depth held; 0: released (kept, so that the next acquire of the same
    // lock allocates nothing), not renewed.
    std::map<std::pair<std::string, std::string>, int, LockKeyLess> locks;
    void set_depth(std::string_view base, std::string_view token, int depth) {
        auto it = locks.find(LockKeyLess::View{base, token});
        if (it == locks.end()) {
            if (depth == 0) return;
            locks.emplace(std::pair<std::string, std::string>(base, token), depth);
        } else {
            it->second = depth;
        }
    }
    int depth(std::string_view base, std::string_view token) const {
        auto it = locks.find(LockKeyLess::View{base, token});
        return it == locks.end() ? 0 : it->second;
    }
    std::map<std::string, std::vector<std::string>> units;  // base -> semaphore units
    std::thread thread;

    void run(const redis::Endpoint& endpoint, std::chrono::milliseconds connect_timeout) {
        std::unique_ptr<redis::Router> router;
        std::string lease = std::to_string(endpoint.lease.count());
        std::unique_lock lock(m);
        while (!stop) {
            cv.wait_for(lock, endpoint.lease / 3, [this] { return stop; });
            if (stop) break;
            std::vector<std::vector<std::string>> commands;
            for (auto& [base, n] : anonymous)
                commands.push_back({base, "touch"});
            for (auto& [key, depth] : locks) {
                if (depth > 0) commands.push_back({key.first, "lkrenew", key.second});
            }
            for (auto& [base, list] : units) {
                if (list.empty()) continue;
                std::vector<std::string> c{base, "smrenew"};
                c.insert(c.end(), list.begin(), list.end());
                commands.push_back(std::move(c));
            }
            lock.unlock();
            try {
                if (!router) router = std::make_unique<redis::Router>(endpoint, connect_timeout);
                for (auto& c : commands) {
                    std::vector<std::string_view> args(c.begin() + 2, c.end());
                    run_op(*router, c[0], c[1], lease, args);
                }
            } catch (const std::exception&) {
                router.reset();  // the server is away: try again next round
            }
            lock.lock();
        }
    }
};

RedisClient::RedisClient(const std::string& address, const std::string& password,
                         ManagerOptions options)
    : endpoint_(redis::parse_endpoint(address)),
      options_(options),
      pid_(current_pid()),
      session_(w::to_hex(w::random_bytes(12))) {
    if (!password.empty() && endpoint_.password.empty()) endpoint_.password = password;
}

RedisClient::~RedisClient() {
    if (renewer_ && renewer_pid_ == current_pid()) {
        {
            std::lock_guard lock(renewer_->m);
            renewer_->stop = true;
        }
        renewer_->cv.notify_all();
        if (renewer_->thread.joinable()) renewer_->thread.join();
        delete renewer_;
    }
}

RedisClient::Renewer& RedisClient::renewer() {
    // Called with mutex_ held.
    if (!renewer_ || renewer_pid_ != pid_) {
        renewer_ = new Renewer;  // a parent's copy (in a child) is left as it is
        renewer_pid_ = pid_;
        renewer_->thread =
            std::thread(&Renewer::run, renewer_, endpoint_, options_.connect_timeout);
    }
    return *renewer_;
}

redis::Router& RedisClient::router() {
    if (closed_) {
        throw ConnectionError(0, "redis at " + endpoint_.text + ": the manager was shut down");
    }
    std::lock_guard lock(mutex_);
    pid_t now = current_pid();
    if (now != pid_) {
        // A forked child: the inherited connections are the parent's conversations.
        routers_.clear();
        session_ = w::to_hex(w::random_bytes(12));
        pid_ = now;
    }
    auto& slot = routers_[std::this_thread::get_id()];
    if (!slot) slot = std::make_unique<redis::Router>(endpoint_, options_.connect_timeout);
    return *slot;
}

void RedisClient::drop_connection() {
    std::lock_guard lock(mutex_);
    routers_.erase(std::this_thread::get_id());
}

void RedisClient::check() {
    ReplyPtr r = router().seed().command({"PING"});
    if (ReplyView(r.get()).is_error() && ReplyView(r.get()).str().substr(0, 6) == "NOAUTH") {
        throw AuthenticationError("redis at " + endpoint_.text +
                                  ": the server wants a password (set REDISCLI_AUTH)");
    }
    if (ReplyView(r.get()).is_error()) {
        throw ConnectionError(
            0, "redis at " + endpoint_.text + ": PING: " + std::string(ReplyView(r.get()).str()));
    }
}

std::string RedisClient::thread_token() {
    static std::atomic<std::uint64_t> counter{0};
    thread_local std::uint64_t mine = ++counter;
    std::lock_guard lock(mutex_);
    return session_ + "." + std::to_string(mine);
}

std::shared_ptr<const RedisClient::Ref> RedisClient::ref(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    auto it = refs_.find(id);
    if (it == refs_.end()) {
        throw ValueError("manager has no object " + std::to_string(id) +
                         " (its last proxy was released)");
    }
    return it->second;
}

namespace {

// One session of requests on one connection: runs the script, maps its errors.
class Session {
  public:
    Session(redis::Router& c, const redis::Endpoint& e, const RedisClient::Ref& r)
        : c_(c),
          e_(e),
          r_(r),
          // 'n': a named object (the function skips the lookup of an anonymous one's lease)
          lease_((r.anonymous ? "" : "n") + std::to_string(e.lease.count())) {}

    ReplyPtr raw(const std::vector<std::string_view>& argv) {
        ReplyPtr r = c_.command(argv.at(1), argv);
        if (ReplyView(r.get()).is_error()) fail(ReplyView(r.get()).str());
        return r;
    }
    ReplyPtr run(std::string_view op, const std::vector<std::string_view>& args = {}) {
        ReplyPtr r = run_op(c_, r_.base, op, lease_, args);
        if (ReplyView(r.get()).is_error()) fail(ReplyView(r.get()).str());
        return r;
    }
    std::int64_t run_int(std::string_view op, const std::vector<std::string_view>& args = {}) {
        ReplyPtr r = run(op, args);
        return ReplyView(r.get()).integer();
    }
    std::string key(const char* suffix) const { return r_.base + ":" + suffix; }

    [[noreturn]] void fail(std::string_view error) {
        auto space = error.find(' ');
        std::string_view kind = error.substr(0, space);
        std::string message(space == std::string_view::npos ? "" : error.substr(space + 1));
        if (auto where = message.find(" script: "); where != std::string::npos) {
            message.resize(where);  // Redis appends the script's sha and line
        }
        std::string named = "redis at " + e_.text + ": " + message;
        if (kind == "IPCKIT_KEY") throw KeyError(message);
        if (kind == "IPCKIT_INDEX") throw IndexError(message);
        if (kind == "IPCKIT_VALUE") throw ValueError(message);
        if (kind == "IPCKIT_RUNTIME") throw RuntimeError(named);
        if (kind == "IPCKIT_BROKEN") throw BrokenBarrierError(named);
        if (kind == "IPCKIT_TYPE") {
            throw ValueError("shared object " + Object(r_.name).repr() + " is a " + message +
                             ", not a " + r_.type);
        }
        if (kind == "WRONGTYPE") {
            throw ValueError("redis at " + e_.text + ": the keys of " + r_.base +
                             " hold another kind of value (not made by ipckit?)");
        }
        throw RemoteError("redis at " + e_.text + ": " + std::string(error));
    }

    // Runs `attempt` (a script that registers waiter key `wkey` on channel `chan` when it
    // cannot proceed) until it proceeds (true), the deadline passes (false), or a stop is
    // requested (InterruptedError). Between attempts it blocks in BLPOP on its key.
    template <class Attempt>
    bool wait_until(const char* chan, const std::string& wkey, const Wait& wt, Attempt attempt) {
        while (true) {
            if (attempt()) return true;
            auto now = Clock::now();
            bool stop = stop_requested();
            if (stop || (wt.deadline && now >= *wt.deadline)) {
                run("unregister", {chan, wkey});
                if (stop) {
                    throw InterruptedError(
                        EINTR, "redis at " + e_.text + ": call interrupted by a stop request");
                }
                return false;
            }
            auto left = wt.deadline ? std::min<Clock::duration>(*wt.deadline - now, slice)
                                    : Clock::duration(slice);
            std::string timeout = seconds(left);
            raw({"BLPOP", wkey, timeout});
        }
    }
    // The same, with a first try that registers no waiter (attempt gets wkey "": the cheap
    // call of the uncontended case); only when it cannot proceed does the loop above run,
    // its first attempt registering the waiter atomically with its check (no lost wake-up).
    template <class Attempt>
    bool try_then_wait(const char* chan, const std::string& wkey, const Wait& wt, Attempt attempt) {
        if (attempt(std::string_view())) return true;
        if (!wt.block) return false;  // nothing registered: nothing to undo
        return wait_until(chan, wkey, wt, [&] { return attempt(std::string_view(wkey)); });
    }

    redis::Router& c_;
    const redis::Endpoint& e_;
    const RedisClient::Ref& r_;
    std::string lease_;
};

Object::List decode_all(ReplyView r) {
    Object::List out;
    out.reserve(r.size());
    for (std::size_t i = 0; i < r.size(); ++i)
        out.push_back(decode(r[i]));
    return out;
}

Object::Dict dict_items(Session& s) {
    ReplyPtr r = s.run("ditems");
    ReplyView v(r.get());
    Object::Dict d;
    for (std::size_t i = 0; i + 1 < v.size(); i += 2)
        d.set(decode(v[i]), decode(v[i + 1]));
    return d;
}

Object::List list_items(Session& s) {
    std::string key = s.key("l");
    ReplyPtr r = s.raw({"LRANGE", key, "0", "-1"});
    return decode_all(ReplyView(r.get()));
}

[[noreturn]] void index_error(const char* what, std::int64_t given, std::int64_t size) {
    throw IndexError(std::string(what) + " (index " + std::to_string(given) + ", size " +
                     std::to_string(size) + ")");
}

}  // namespace

Object RedisClient::create(const Object::List& args) {
    const Object& type = arg(args, 0);
    if (!type.is_string()) throw ValueError("create: the type must be a str");
    const std::string& t = type.as_string();
    const Object& name = arg(args, 1);
    std::string param;
    if (t == w::type_queue || t == w::type_joinable_queue) {
        const Object& p = arg(args, 2);
        if (!p.is_int()) throw ValueError("Queue(maxsize): maxsize must be an int");
        param = std::to_string(p.as_int());
    } else if (is_semaphore(t)) {
        const Object& p = arg(args, 2);
        if (!p.is_int()) throw ValueError("Semaphore(value): value must be an int");
        if (p.as_int() < 0) throw ValueError("semaphore initial value must be >= 0");
        param = std::to_string(p.as_int());
    } else if (t == w::type_barrier) {
        const Object& p = arg(args, 2);
        if (!p.is_int() || p.as_int() < 1) {
            throw ValueError("Barrier(parties): parties must be an int >= 1");
        }
        param = std::to_string(p.as_int());
    }
    // The initial contents of a Value ('v', value) or an Array ('l', items...).
    std::vector<std::string> initial;
    Ref lock;
    if (t == w::type_value || t == w::type_array) {
        if (args.size() < 4) {
            throw ValueError(t == w::type_value ? "Value(typecode, value): two arguments"
                                                : "Array(typecode, sequence): two arguments");
        }
        char typecode = checked([&] { return array_typecode(args[2]); });
        param = std::string(1, typecode);
        if (t == w::type_value) {
            checked([&] { return array_item(typecode, args[3]); });  // kept as given
            initial = {"v", encode(args[3])};
        } else {
            Object items = args[3];
            if (typecode == 'u' && items.is_string()) {  // one item per character
                Object::List chars;
                const std::string& text = items.as_string();
                for (std::size_t i = 0; i < text.size();) {
                    std::size_t j = i + 1;
                    while (j < text.size() && (static_cast<unsigned char>(text[j]) & 0xc0) == 0x80)
                        ++j;
                    chars.emplace_back(text.substr(i, j - i));
                    i = j;
                }
                items = Object(std::move(chars));
            }
            if (!items.is_list()) {
                throw ValueError(std::string("TypeError: cannot use a ") + items.type_name() +
                                 " to initialize an array with typecode '" + typecode + "'");
            }
            initial = {"l"};
            for (const auto& item : items.as_list())
                initial.push_back(encode(checked([&] { return array_item(typecode, item); })));
        }
    } else if (t == w::type_condition) {
        const Object& l = arg(args, 2);
        if (!l.is_ref())
            throw ValueError("Condition(lock): the lock must be a Lock or RLock proxy");
        {
            std::lock_guard guard(mutex_);
            auto it = refs_.find(l.as_ref().id);
            if (it == refs_.end() || !is_lock(it->second->type)) {
                throw ValueError("Condition(lock): the lock must be a Lock or RLock");
            }
            lock = *it->second;
        }
        param = lock.type + " " + lock.name;
    } else if (t != w::type_dict && t != w::type_list && !is_lock(t) && t != w::type_event &&
               t != w::type_namespace && !is_queue(t) && !is_semaphore(t) && t != w::type_barrier) {
        throw ValueError("the Redis back end has no type " + type.repr());
    }
    Ref r;
    r.type = t;
    r.anonymous = name.is_none();
    if (r.anonymous) {
        r.name = "anon:" + w::to_hex(w::random_bytes(12));
    } else {
        if (!name.is_string() || name.as_string().empty()) {
            throw ValueError("a shared object's name must be a non-empty string");
        }
        r.name = name.as_string();
    }
    r.base = "ipckit:{" + r.name + "}";
    redis::Router& c = router();
    Session s(c, endpoint_, r);
    std::vector<std::string_view> create_args{t, r.anonymous ? "1" : "0", param};
    create_args.insert(create_args.end(), initial.begin(), initial.end());
    s.run("create", create_args);
    r.param = param;
    if (!param.empty() && !r.anonymous) {  // a named object made before: its own param
        ReplyPtr p = s.raw({"HGET", s.key("meta"), "param"});
        if (!ReplyView(p.get()).is_nil()) r.param = std::string(ReplyView(p.get()).str());
    }
    if (t == w::type_condition && r.anonymous && lock.anonymous) {
        // The condition holds its lock: a reference of its own, renewed with it.
        Session ls(c, endpoint_, lock);
        ls.run("incref");
        hold(lock, true);
    }
    std::lock_guard guard(mutex_);
    std::uint64_t id = next_id_++;
    refs_.emplace(id, std::make_shared<const Ref>(r));
    if (r.anonymous) {
        Renewer& rn = renewer();
        std::lock_guard held(rn.m);
        ++rn.anonymous[r.base];
    }
    return Object(static_cast<std::int64_t>(id));
}

void RedisClient::hold(const Ref& r, bool more) {
    std::lock_guard lock(mutex_);
    Renewer& rn = renewer();
    std::lock_guard held(rn.m);
    if (more) {
        ++rn.anonymous[r.base];
    } else if (--rn.anonymous[r.base] <= 0) {
        rn.anonymous.erase(r.base);
    }
}

namespace {
// A Condition's lock, from its param "LOCKTYPE NAME".
RedisClient::Ref lock_of(const RedisClient::Ref& condition) {
    RedisClient::Ref l;
    auto space = condition.param.find(' ');
    l.type = condition.param.substr(0, space);
    l.name = space == std::string::npos ? std::string() : condition.param.substr(space + 1);
    l.base = "ipckit:{" + l.name + "}";
    l.anonymous = l.name.rfind("anon:", 0) == 0;
    return l;
}

std::string lock_repr(Session& s, bool rlock) {
    ReplyPtr p = s.run("lkstate");
    ReplyView v(p.get());
    bool held = v[0].integer() == 1;
    if (!rlock) return std::string("<") + (held ? "locked" : "unlocked") + " Lock object>";
    return std::string("<") + (held ? "locked" : "unlocked") +
           " RLock object count=" + std::to_string(v[1].integer()) + ">";
}
}  // namespace

Object RedisClient::call(int op, std::uint64_t id, const Object::List& args, const Deadline*) {
    return perform(op, id, args, false);
}

Object RedisClient::call_blocking(int op, std::uint64_t id, const Object::List& args) {
    if (stop_requested()) {
        throw InterruptedError(
            EINTR, "redis at " + endpoint_.text + ": call interrupted by a stop request");
    }
    return perform(op, id, args, true);
}

Object RedisClient::perform(int op, std::uint64_t id, const Object::List& args, bool) {
    try {
        switch (op) {
            case w::create_dict:
            case w::create_list: {
                bool is_dict = op == w::create_dict;
                Object result = create({Object(is_dict ? w::type_dict : w::type_list), Object()});
                const Object& initial = arg(args, 0);
                auto new_id = static_cast<std::uint64_t>(result.as_int());
                if (is_dict && initial.is_dict() && !initial.as_dict().empty()) {
                    Object::List flat;
                    for (const auto& [k, v] : initial.as_dict()) {
                        flat.push_back(k);
                        flat.push_back(v);
                    }
                    perform(w::dict_update_flat, new_id, {Object(std::move(flat))}, false);
                } else if (!is_dict && initial.is_list() && !initial.as_list().empty()) {
                    perform(w::list_extend, new_id, {initial}, false);
                }
                return result;
            }
            case w::named_dict:
            case w::named_list:
                return create(
                    {Object(op == w::named_dict ? w::type_dict : w::type_list), arg(args, 0)});
            case w::create:
                return create(args);
            case w::stats:
                return Object(Object::Dict{{"backend", "redis"}, {"address", endpoint_.text}});
            case w::shutdown:
                return Object();  // the Redis server is not ours to stop
            case w::ping:
                check();
                return Object(true);
            case w::cancel:
                return Object();
            default:
                break;
        }
        std::shared_ptr<const Ref> held_ref = ref(id);
        const Ref& r = *held_ref;
        redis::Router& c = router();
        Session s(c, endpoint_, r);
        const std::string& t = r.type;
        if (op == w::incref || op == w::decref) {
            if (!r.anonymous) return Object();
            s.run(op == w::incref ? "incref" : "decref");
            if (t == w::type_condition) {
                Ref lock = lock_of(r);
                if (lock.anonymous) {
                    Session ls(c, endpoint_, lock);
                    ls.run(op == w::incref ? "incref" : "decref");
                    hold(lock, op == w::incref);
                }
            }
            std::lock_guard lock(mutex_);
            Renewer& rn = renewer();
            std::lock_guard held(rn.m);
            if (op == w::incref) {
                ++rn.anonymous[r.base];
            } else if (--rn.anonymous[r.base] <= 0) {
                rn.anonymous.erase(r.base);
                refs_.erase(id);
            }
            return Object();
        }
        if (t == w::type_condition) return condition(op, id, r, args);
        if (t == w::type_namespace) {
            std::string hkey = s.key("h");
            switch (op) {
                case w::repr: {
                    std::vector<std::string> parts;
                    for (const auto& [name, value] : dict_items(s))
                        parts.push_back(name.as_string() + "=" + value.repr());
                    std::sort(parts.begin(), parts.end());
                    std::string out = "Namespace(";
                    for (std::size_t i = 0; i < parts.size(); ++i)
                        out += (i ? ", " : "") + parts[i];
                    return Object(out + ")");
                }
                case w::copy:
                    return Object(dict_items(s));
                case w::namespace_get:
                case w::namespace_get_default: {
                    const Object& name = attribute_name(args);
                    std::string k = encode(name);
                    ReplyPtr v = s.raw({"HGET", hkey, k});
                    if (!ReplyView(v.get()).is_nil()) return decode(ReplyView(v.get()));
                    if (op == w::namespace_get) no_attribute(name);
                    return arg(args, 1);
                }
                case w::namespace_set: {
                    const Object& name = attribute_name(args);
                    s.run("dset", {encode(name), encode(arg(args, 1))});
                    return Object();
                }
                case w::namespace_del: {
                    const Object& name = attribute_name(args);
                    if (s.run_int("ddel", {encode(name)}) == 0) no_attribute(name);
                    return Object();
                }
                case w::namespace_contains: {
                    std::string k = encode(attribute_name(args));
                    return Object(ReplyView(s.raw({"HEXISTS", hkey, k}).get()).integer() == 1);
                }
                default:
                    break;
            }
        } else if (t == w::type_value) {
            std::string vkey = s.key("v");
            char typecode = r.param.empty() ? 'i' : r.param[0];
            auto get = [&] { return decode(ReplyView(s.raw({"GET", vkey}).get())); };
            switch (op) {
                case w::repr:
                    return Object("Value('" + std::string(1, typecode) + "', " + get().repr() +
                                  ")");
                case w::copy:
                case w::value_get:
                    return get();
                case w::value_set: {
                    const Object& value = arg(args, 0);
                    checked([&] { return array_item(typecode, value); });  // kept as given
                    std::string v = encode(value);
                    s.raw({"SET", vkey, v});
                    return Object();
                }
                default:
                    break;
            }
        } else if (t == w::type_array) {
            std::string lkey = s.key("l");
            char typecode = r.param.empty() ? 'i' : r.param[0];
            auto index_of = [&](const Object& index) {
                if (!index.is_int() && !index.is_bool()) {
                    throw ValueError(
                        std::string("TypeError: array indices must be integers, not ") +
                        index.type_name());
                }
                return index.as_int();
            };
            switch (op) {
                case w::repr: {
                    Object::List items = list_items(s);
                    std::string out = "array('";
                    out += typecode;
                    out += '\'';
                    if (!items.empty()) {
                        out += ", ";
                        if (typecode == 'u') {
                            std::string text;
                            for (const auto& item : items)
                                text += item.as_string();
                            out += Object(text).repr();
                        } else {
                            out += Object(items).repr();
                        }
                    }
                    return Object(out + ")");
                }
                case w::len:
                    return Object(ReplyView(s.raw({"LLEN", lkey}).get()).integer());
                case w::copy:
                    return Object(list_items(s));
                case w::array_get: {
                    std::string index = std::to_string(index_of(arg(args, 0)));
                    ReplyPtr v = s.raw({"LINDEX", lkey, index});
                    if (ReplyView(v.get()).is_nil()) throw IndexError("array index out of range");
                    return decode(ReplyView(v.get()));
                }
                case w::array_set: {
                    std::int64_t i = index_of(arg(args, 0));
                    Object item;
                    try {
                        item = checked([&] { return array_item(typecode, arg(args, 1)); });
                    } catch (const ValueError&) {
                        // the server looks at the index first
                        auto n = ReplyView(s.raw({"LLEN", lkey}).get()).integer();
                        if (i < -n || i >= n) {
                            throw IndexError("array assignment index out of range");
                        }
                        throw;
                    }
                    ReplyPtr p = s.run("lset", {std::to_string(i), encode(item)});
                    if (ReplyView(p.get())[0].integer() == 0) {
                        throw IndexError("array assignment index out of range");
                    }
                    return Object();
                }
                default:
                    break;
            }
        } else if (t == w::type_dict) {
            std::string hkey = s.key("h");
            switch (op) {
                case w::repr:
                    return Object(Object(dict_items(s)).repr());
                case w::len:
                    return Object(ReplyView(s.raw({"HLEN", hkey}).get()).integer());
                case w::copy:
                    return Object(dict_items(s));
                case w::clear:
                    s.run("dclear");
                    return Object();
                case w::dict_get:
                case w::dict_get_default: {
                    key_check(arg(args, 0));
                    std::string k = encode(arg(args, 0));
                    ReplyPtr v = s.raw({"HGET", hkey, k});
                    if (!ReplyView(v.get()).is_nil()) return decode(ReplyView(v.get()));
                    if (op == w::dict_get_default) return arg(args, 1);
                    throw KeyError("KeyError: " + arg(args, 0).repr());
                }
                case w::dict_set: {
                    key_check(arg(args, 0));
                    s.run("dset", {encode(arg(args, 0)), encode(arg(args, 1))});
                    return Object();
                }
                case w::dict_del: {
                    key_check(arg(args, 0));
                    if (s.run_int("ddel", {encode(arg(args, 0))}) == 0) {
                        throw KeyError("KeyError: " + arg(args, 0).repr());
                    }
                    return Object();
                }
                case w::dict_contains: {
                    key_check(arg(args, 0));
                    std::string k = encode(arg(args, 0));
                    return Object(ReplyView(s.raw({"HEXISTS", hkey, k}).get()).integer() == 1);
                }
                case w::dict_keys: {
                    std::string okey = s.key("o");
                    ReplyPtr keys = s.raw({"ZRANGE", okey, "0", "-1"});
                    return Object(decode_all(ReplyView(keys.get())));
                }
                case w::dict_values: {
                    ReplyPtr values = s.run("dvalues");
                    return Object(decode_all(ReplyView(values.get())));
                }
                case w::dict_items: {
                    ReplyPtr items = s.run("ditems");
                    ReplyView v(items.get());
                    Object::List out;
                    for (std::size_t i = 0; i + 1 < v.size(); i += 2)
                        out.push_back(Object::list({decode(v[i]), decode(v[i + 1])}));
                    return Object(std::move(out));
                }
                case w::dict_pop:
                case w::dict_pop_default: {
                    key_check(arg(args, 0));
                    ReplyPtr p = s.run("dpop", {encode(arg(args, 0))});
                    ReplyView v(p.get());
                    if (v[0].integer() == 1) return decode(v[1]);
                    if (op == w::dict_pop_default) return arg(args, 1);
                    throw KeyError("KeyError: " + arg(args, 0).repr());
                }
                case w::dict_popitem: {
                    ReplyPtr p = s.run("dpopitem");
                    ReplyView v(p.get());
                    if (v[0].integer() == 0) {
                        throw KeyError("KeyError: 'popitem(): dictionary is empty'");
                    }
                    return Object::list({decode(v[1]), decode(v[2])});
                }
                case w::dict_setdefault: {
                    key_check(arg(args, 0));
                    ReplyPtr p = s.run("dsetdefault", {encode(arg(args, 0)), encode(arg(args, 1))});
                    return decode(ReplyView(p.get()));
                }
                case w::dict_update_flat: {
                    const Object& flat = arg(args, 0);
                    if (!flat.is_list() || flat.as_list().size() % 2 != 0) {
                        throw ValueError("update(): expected a flat list of keys and values");
                    }
                    if (flat.as_list().empty()) return Object();
                    // Every key and value encoded into one buffer (no string per item).
                    const Object::List& items = flat.as_list();
                    std::string buffer;
                    std::vector<std::size_t> ends;
                    ends.reserve(items.size());
                    for (std::size_t i = 0; i < items.size(); ++i) {
                        if (i % 2 == 0) key_check(items[i]);
                        w::encode(buffer, items[i], 1);
                        ends.push_back(buffer.size());
                    }
                    std::vector<std::string_view> views;
                    views.reserve(items.size());
                    std::size_t begin = 0;
                    for (std::size_t end : ends) {
                        views.emplace_back(buffer.data() + begin, end - begin);
                        begin = end;
                    }
                    s.run("dupdate", views);
                    return Object();
                }
                default:
                    break;
            }
        } else if (t == w::type_list) {
            std::string lkey = s.key("l");
            switch (op) {
                case w::repr:
                    return Object(Object(list_items(s)).repr());
                case w::len:
                    return Object(ReplyView(s.raw({"LLEN", lkey}).get()).integer());
                case w::copy:
                    return Object(list_items(s));
                case w::clear:
                    s.run("lclear");
                    return Object();
                case w::list_get: {
                    std::int64_t i = int_arg(args, 0, "list indices");
                    std::string index = std::to_string(i);
                    ReplyPtr v = s.raw({"LINDEX", lkey, index});
                    if (!ReplyView(v.get()).is_nil()) return decode(ReplyView(v.get()));
                    index_error("list index out of range", i,
                                ReplyView(s.raw({"LLEN", lkey}).get()).integer());
                }
                case w::list_set: {
                    std::int64_t i = int_arg(args, 0, "list indices");
                    ReplyPtr p = s.run("lset", {std::to_string(i), encode(arg(args, 1))});
                    ReplyView v(p.get());
                    if (v[0].integer() == 0) {
                        index_error("list assignment index out of range", i, v[1].integer());
                    }
                    return Object();
                }
                case w::list_append: {
                    std::string item = encode(arg(args, 0));
                    if (!r.anonymous) {  // one RPUSH (an anonymous list's new key needs its lease)
                        s.raw({"RPUSH", lkey, item});
                    } else {
                        s.run("lextend", {item});
                    }
                    return Object();
                }
                case w::list_extend: {
                    const Object& items = arg(args, 0);
                    if (!items.is_list()) throw ValueError("extend(): expected a list");
                    if (items.as_list().empty()) return Object();
                    std::vector<std::string> encoded;
                    encoded.reserve(items.as_list().size());
                    for (const auto& item : items.as_list())
                        encoded.push_back(encode(item));
                    std::vector<std::string_view> views(encoded.begin(), encoded.end());
                    s.run("lextend", views);
                    return Object();
                }
                case w::list_insert: {
                    std::int64_t i = int_arg(args, 0, "list indices");
                    s.run("linsert", {std::to_string(i), encode(arg(args, 1))});
                    return Object();
                }
                case w::list_pop:
                case w::list_del: {
                    std::int64_t i = args.empty() ? -1 : int_arg(args, 0, "list indices");
                    ReplyPtr p = s.run("lpop", {std::to_string(i)});
                    ReplyView v(p.get());
                    if (v[0].integer() == 0) {
                        if (op == w::list_pop && v[1].integer() == 0) {
                            throw IndexError("pop from empty list");
                        }
                        index_error(op == w::list_pop ? "pop index out of range"
                                                      : "list assignment index out of range",
                                    i, v[1].integer());
                    }
                    return op == w::list_pop ? decode(v[1]) : Object();
                }
                case w::list_remove: {
                    if (s.run_int("lremove", {encode(arg(args, 0))}) == 0) {
                        throw ValueError("list.remove(x): x not in list");
                    }
                    return Object();
                }
                case w::list_index: {
                    std::int64_t at = s.run_int(
                        "lindex", {encode(arg(args, 0)), bound_arg(args, 1), bound_arg(args, 2)});
                    if (at < 0) throw ValueError(arg(args, 0).repr() + " is not in list");
                    return Object(at);
                }
                case w::list_count:
                case w::list_contains: {
                    std::string value = encode(arg(args, 0));
                    ReplyPtr p =
                        s.raw({"LPOS", lkey, value, "COUNT", op == w::list_count ? "0" : "1"});
                    auto n = static_cast<std::int64_t>(ReplyView(p.get()).size());
                    return op == w::list_count ? Object(n) : Object(n > 0);
                }
                case w::list_reverse:
                    s.run("lreverse");
                    return Object();
                case w::list_sort:
                    s.run("lsort", {arg(args, 0).is_bool() && arg(args, 0).as_bool() ? "1" : "0"});
                    return Object();
                case w::list_get_slice: {
                    ReplyPtr p = s.run(
                        "lslice", {bound_arg(args, 0), bound_arg(args, 1), bound_arg(args, 2)});
                    return Object(decode_all(ReplyView(p.get())));
                }
                case w::list_set_slice: {
                    const Object& items = arg(args, 3);
                    if (!items.is_list()) throw ValueError("can only assign a list to a slice");
                    std::vector<std::string> encoded{bound_arg(args, 0), bound_arg(args, 1),
                                                     bound_arg(args, 2)};
                    for (const auto& item : items.as_list())
                        encoded.push_back(encode(item));
                    std::vector<std::string_view> views(encoded.begin(), encoded.end());
                    s.run("lsetslice", views);
                    return Object();
                }
                case w::list_del_slice:
                    s.run("ldelslice",
                          {bound_arg(args, 0), bound_arg(args, 1), bound_arg(args, 2)});
                    return Object();
                default:
                    break;
            }
        } else if (is_queue(t)) {
            std::string qkey = s.key("q");
            bool joinable = t == w::type_joinable_queue;
            auto qsize = [&] { return ReplyView(s.raw({"LLEN", qkey}).get()).integer(); };
            auto maxsize = [&] {
                std::string meta = s.key("meta");
                ReplyPtr p = s.raw({"HGET", meta, "param"});
                return ReplyView(p.get()).is_nil()
                           ? 0
                           : std::stoll(std::string(ReplyView(p.get()).str()));
            };
            // An unbounded queue (maxsize is fixed when the object is made: r.param) has no
            // waiters for room: put and get are plain RPUSH and LPOP (a JoinableQueue's put
            // also counts the task, and an anonymous queue's new key needs its lease: their
            // put stays a function).
            bool unbounded = !r.param.empty() && std::stoll(r.param) <= 0;
            switch (op) {
                case w::repr:
                    return Object("<" + t + " object, maxsize=" + std::to_string(maxsize()) +
                                  ", qsize=" + std::to_string(qsize()) + ">");
                case w::len:
                case w::queue_qsize:
                    return Object(qsize());
                case w::queue_empty:
                    return Object(qsize() == 0);
                case w::queue_full: {
                    auto m = maxsize();
                    return Object(m > 0 && qsize() >= m);
                }
                case w::queue_maxsize:
                    return Object(maxsize());
                case w::queue_put: {
                    std::string item = encode(arg(args, 0));
                    Wait wt = block_wait(args, 1);
                    if (unbounded && !joinable && !r.anonymous) {
                        s.raw({"RPUSH", qkey, item});
                        return Object();
                    }
                    std::string wkey = r.base + ":w:" + thread_token();
                    bool done = s.try_then_wait("room", wkey, wt, [&](std::string_view wk) {
                        return s.run_int("qput", {item, joinable ? "1" : "0", wk}) == 1;
                    });
                    if (!done) {
                        bool timed = wt.block;
                        throw Full(
                            timed ? BusyError::Reason::timed_out : BusyError::Reason::would_block,
                            timed ? ETIMEDOUT : EAGAIN,
                            "redis at " + endpoint_.text + ": " +
                                (timed ? "put timed out: the queue stayed full"
                                       : "the queue is full"));
                    }
                    return Object();
                }
                case w::queue_get: {
                    Wait wt = block_wait(args, 0);
                    while (true) {
                        if (unbounded) {
                            ReplyPtr p = s.raw({"LPOP", qkey});
                            if (!ReplyView(p.get()).is_nil()) return decode(ReplyView(p.get()));
                        } else {
                            ReplyPtr p = s.run("qget");
                            ReplyView v(p.get());
                            if (v[0].integer() == 1) return decode(v[1]);
                        }
                        auto now = Clock::now();
                        if (stop_requested()) {
                            throw InterruptedError(EINTR,
                                                   "redis at " + endpoint_.text +
                                                       ": call interrupted by a stop request");
                        }
                        if (wt.deadline && now >= *wt.deadline) {
                            bool timed = wt.block;
                            throw Empty(timed ? BusyError::Reason::timed_out
                                              : BusyError::Reason::would_block,
                                        timed ? ETIMEDOUT : EAGAIN,
                                        "redis at " + endpoint_.text + ": " +
                                            (timed ? "get timed out: the queue stayed empty"
                                                   : "the queue is empty"));
                        }
                        auto left = wt.deadline
                                        ? std::min<Clock::duration>(*wt.deadline - now, slice)
                                        : Clock::duration(slice);
                        std::string timeout = seconds(left);
                        ReplyPtr b = s.raw({"BLPOP", qkey, timeout});
                        ReplyView bv(b.get());
                        if (bv.is_array() && bv.size() == 2) {
                            Object item = decode(bv[1]);
                            if (!unbounded) s.run("qgot");
                            return item;
                        }
                    }
                }
                case w::queue_task_done:
                    if (!joinable) break;
                    s.run("qtaskdone");
                    return Object();
                case w::queue_join: {
                    if (!joinable) break;
                    Wait wt = wait_of(arg(args, 0));
                    std::string wkey = r.base + ":w:" + thread_token();
                    return Object(s.wait_until("join", wkey, wt,
                                               [&] { return s.run_int("qjoin", {wkey}) == 1; }));
                }
                default:  // a queue has no clear (as on the ipckit server)
                    break;
            }
        } else if (is_lock(t)) {
            bool rlock = t == w::type_rlock;
            switch (op) {
                case w::repr: {
                    ReplyPtr p = s.run("lkstate");
                    ReplyView v(p.get());
                    bool held = v[0].integer() == 1;
                    if (!rlock) {
                        return Object(std::string("<") + (held ? "locked" : "unlocked") +
                                      " Lock object>");
                    }
                    return Object(std::string("<") + (held ? "locked" : "unlocked") +
                                  " RLock object count=" + std::to_string(v[1].integer()) + ">");
                }
                case w::acquire: {
                    Wait wt = block_wait(args, 0);
                    std::string token;
                    if (rlock) {
                        token = thread_token();
                    } else {
                        std::lock_guard lock(mutex_);
                        token = session_;
                    }
                    // A first try registers no waiter; the waiter's key only when it waits.
                    std::int64_t result = s.run_int("lkacquire", {token, "", rlock ? "1" : "0"});
                    if (result == 0 && wt.block) {
                        std::string wkey = r.base + ":w:" + thread_token();
                        s.wait_until("lock", wkey, wt, [&] {
                            result = s.run_int("lkacquire", {token, wkey, rlock ? "1" : "0"});
                            return result != 0;
                        });
                    }
                    if (result != 0) {
                        std::lock_guard lock(mutex_);
                        Renewer& rn = renewer();
                        std::lock_guard held(rn.m);
                        rn.set_depth(r.base, token, rn.depth(r.base, token) + 1);
                    }
                    return Object(result);
                }
                case w::release: {
                    std::string token;
                    if (rlock) {
                        token = thread_token();
                    } else {
                        std::lock_guard lock(mutex_);
                        token = session_;
                    }
                    std::int64_t depth = s.run_int("lkrelease", {token, rlock ? "1" : "0"});
                    std::lock_guard lock(mutex_);
                    Renewer& rn = renewer();
                    std::lock_guard held(rn.m);
                    rn.set_depth(r.base, token, static_cast<int>(depth));
                    return Object();
                }
                default:
                    break;
            }
        } else if (is_semaphore(t)) {
            bool bounded = t == w::type_bounded_semaphore;
            switch (op) {
                case w::repr:
                    return Object("<" + t +
                                  " object value=" + std::to_string(s.run_int("smvalue")) + ">");
                case w::acquire: {
                    Wait wt = block_wait(args, 0);
                    std::string token;
                    {
                        std::lock_guard lock(mutex_);
                        token = session_;
                    }
                    std::string wkey = r.base + ":w:" + thread_token();
                    std::int64_t result = 0;
                    std::string unit;
                    s.wait_until("lock", wkey, wt, [&] {
                        ReplyPtr p =
                            s.run("smacquire", {token, wt.block ? std::string_view(wkey) : ""});
                        ReplyView v(p.get());
                        result = v[0].integer();
                        if (result != 0) unit = std::string(v[1].str());
                        return result != 0;
                    });
                    if (result != 0) {
                        std::lock_guard lock(mutex_);
                        Renewer& rn = renewer();
                        std::lock_guard held(rn.m);
                        rn.units[r.base].push_back(unit);
                    }
                    return Object(result);
                }
                case w::release: {
                    std::string unit;
                    {
                        std::lock_guard lock(mutex_);
                        Renewer& rn = renewer();
                        std::lock_guard held(rn.m);
                        auto& units = rn.units[r.base];
                        if (!units.empty()) {
                            unit = units.back();
                            units.pop_back();
                        }
                    }
                    s.run("smrelease", {unit, bounded ? "1" : "0"});
                    return Object();
                }
                default:
                    break;
            }
        } else if (t == w::type_event) {
            switch (op) {
                case w::repr: {
                    std::string flag = s.key("flag");
                    bool set = ReplyView(s.raw({"EXISTS", flag}).get()).integer() == 1;
                    return Object(std::string("<Event object: ") + (set ? "set" : "unset") + ">");
                }
                case w::event_set:
                    s.run("evset");
                    return Object();
                case w::event_clear:
                    s.run("evclear");
                    return Object();
                case w::event_is_set: {
                    std::string flag = s.key("flag");
                    return Object(ReplyView(s.raw({"EXISTS", flag}).get()).integer() == 1);
                }
                case w::event_wait: {
                    Wait wt = wait_of(arg(args, 0));
                    std::string wkey = r.base + ":w:" + thread_token();
                    return Object(s.wait_until("event", wkey, wt,
                                               [&] { return s.run_int("evwait", {wkey}) == 1; }));
                }
                default:
                    break;
            }
        }
        if (t == w::type_barrier) {
            auto state = [&] {
                ReplyPtr p = s.run("bstate");
                ReplyView v(p.get());
                return std::array<std::int64_t, 3>{v[0].integer(), v[1].integer(), v[2].integer()};
            };
            switch (op) {
                case w::repr: {
                    auto st = state();
                    return Object("<Barrier object: parties=" + std::to_string(st[0]) +
                                  ", n_waiting=" + std::to_string(st[1]) +
                                  ", broken=" + (st[2] ? "True" : "False") + ">");
                }
                case w::barrier_parties:
                    return Object(state()[0]);
                case w::barrier_n_waiting:
                    return Object(state()[1]);
                case w::barrier_broken:
                    return Object(state()[2] != 0);
                case w::barrier_reset:
                    s.run("breset");
                    return Object();
                case w::barrier_abort:
                    s.run("babort");
                    return Object();
                case w::barrier_wait: {
                    Wait wt = wait_of(arg(args, 0));
                    std::string wkey = r.base + ":w:" + thread_token();
                    ReplyPtr p = s.run("bwait", {wkey});
                    ReplyView v(p.get());
                    std::int64_t index = v[1].integer();
                    if (v[0].integer() == 1) return Object(index);
                    std::string gen = std::to_string(v[2].integer());
                    // Waits for the round to end; a timeout or a stop breaks the barrier.
                    while (true) {
                        auto now = Clock::now();
                        bool stop = stop_requested();
                        bool give_up = stop || (wt.deadline && now >= *wt.deadline);
                        try {
                            if (s.run_int("bcheck", {gen, wkey, give_up ? "1" : "0"}) == 1) {
                                return Object(index);
                            }
                        } catch (const BrokenBarrierError&) {
                            if (stop) {
                                throw InterruptedError(EINTR,
                                                       "redis at " + endpoint_.text +
                                                           ": call interrupted by a stop request");
                            }
                            throw;
                        }
                        auto left = wt.deadline
                                        ? std::min<Clock::duration>(*wt.deadline - now, slice)
                                        : Clock::duration(slice);
                        std::string timeout = seconds(left);
                        s.raw({"BLPOP", wkey, timeout});
                    }
                }
                default:
                    break;
            }
        }
        switch (op) {
            case w::len:
                throw ValueError("object of type '" + t + "' has no len()");
            case w::clear:
                throw ValueError("'" + t + "' object has no attribute 'clear'");
            case w::copy:
                throw ValueError("'" + t + "' object cannot be copied");
            default:
                throw ValueError("the Redis back end has no request " + std::to_string(op) +
                                 " for a " + t);
        }
    } catch (const ConnectionError&) {
        drop_connection();
        throw;
    }
}

// A Condition (redis_client.hpp): its own keys hold the waiters, its lock's keys the lock.
Object RedisClient::condition(int op, std::uint64_t, const Ref& r, const Object::List& args) {
    redis::Router& c = router();
    Session s(c, endpoint_, r);
    Ref lock = lock_of(r);
    Session ls(c, endpoint_, lock);
    bool rlock = lock.type == w::type_rlock;
    std::string token;
    {
        std::string tt = thread_token();
        std::lock_guard guard(mutex_);
        token = rlock ? tt : session_;
    }
    auto owned = [&](const char* what) {
        std::int64_t levels = ls.run_int("lkowned", {token});
        if (levels == 0) {
            throw RuntimeError("redis at " + endpoint_.text + ": cannot " + what +
                               " on un-acquired lock");
        }
        return levels;
    };
    auto held = [&](std::int64_t levels) {  // what the Renewer renews
        std::lock_guard guard(mutex_);
        Renewer& rn = renewer();
        std::lock_guard h(rn.m);
        rn.set_depth(lock.base, token, static_cast<int>(levels));
    };
    switch (op) {
        case w::repr: {
            std::string waiting =
                std::to_string(ReplyView(s.raw({"LLEN", s.key("cw")}).get()).integer());
            return Object("<Condition(" + lock_repr(ls, rlock) + ", " + waiting + ")>");
        }
        case w::condition_lock: {
            // A reference of the caller's own (its proxy releases it).
            if (lock.anonymous) {
                if (ls.run_int("incref") == 0) {
                    throw ValueError("the lock of Condition " + Object(r.name).repr() + " is gone");
                }
                hold(lock, true);
            }
            std::uint64_t lock_id;
            {
                std::lock_guard guard(mutex_);
                lock_id = next_id_++;
                refs_.emplace(lock_id, std::make_shared<const Ref>(lock));
            }
            // Through the codec, so that the proxy machinery adopts it (ProxyState).
            return decode(encode(Object::ref(lock.type, lock_id)));
        }
        case w::condition_notify:
        case w::condition_notify_all: {
            bool all = op == w::condition_notify_all;
            const Object& n = args.empty() ? Object(1) : args[0];
            if (!all && !n.is_int()) throw ValueError("notify(n): n must be an int");
            owned("notify");
            s.run("cvnotify", {all ? "0" : std::to_string(n.as_int()), all ? "1" : "0"});
            return Object();
        }
        case w::condition_wait: {
            Wait wt = wait_of(arg(args, 0));
            owned("wait");  // the caller must hold the lock (RuntimeError otherwise)
            if (wt.deadline && *wt.deadline <= Clock::now()) return Object(false);
            std::string wkey = r.base + ":w:" + thread_token();
            std::string alive = wkey + ":a";
            std::string lease = std::to_string(endpoint_.lease.count());
            s.run("cvwait", {wkey});
            const std::int64_t levels = ls.run_int("lkreleaseall", {token});
            held(0);
            bool notified = false;
            while (true) {
                auto now = Clock::now();
                bool stop = stop_requested();
                if (stop || (wt.deadline && now >= *wt.deadline)) {
                    notified = s.run_int("cvcancel", {wkey}) == 0;
                    if (stop) {
                        throw InterruptedError(
                            EINTR, "redis at " + endpoint_.text +
                                       ": call interrupted by a stop request (the lock is "
                                       "not held)");
                    }
                    break;
                }
                auto left = wt.deadline ? std::min<Clock::duration>(*wt.deadline - now, slice)
                                        : Clock::duration(slice);
                std::string timeout = seconds(left);
                ReplyPtr b = s.raw({"BLPOP", wkey, timeout});
                if (ReplyView(b.get()).is_array()) {
                    notified = true;
                    s.raw({"DEL", alive});
                    break;
                }
                s.raw({"SET", alive, "1", "PX", lease});  // still waiting
            }
            // The lock back, with the levels it had (no deadline, as on the ipckit server).
            std::string lwkey = lock.base + ":w:" + thread_token();
            std::string depth = std::to_string(levels);
            ls.wait_until("lock", lwkey, Wait{}, [&] {
                return ls.run_int("lkacquire", {token, lwkey, rlock ? "1" : "0", depth}) != 0;
            });
            held(levels);
            return Object(notified);
        }
        default:
            throw ValueError("the Redis back end has no request " + std::to_string(op) + " for a " +
                             r.type);
    }
}

}  // namespace ipckit::detail
