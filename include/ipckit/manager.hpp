// ipckit::Manager: a server process that owns shared dicts and lists, queues, locks,
// semaphores, conditions, events, barriers, namespaces, values and arrays, as
// multiprocessing.Manager; other processes reach them through proxies. (Queues and
// synchronisation types: ipckit/manager_sync.hpp; Namespace, Value, Array:
// ipckit/manager_data.hpp; both included below.) A proxy stored in a dict, list or
// Namespace is a reference to its object, as in Python (Proxy::operator Object).
//
//   ipckit::Manager manager;                        // forks a server on a private Unix socket
//   auto dct = manager.dict();
//   auto lst = manager.list(ipckit::range(10));
//   ipckit::Process p([](ipckit::DictProxy d, ipckit::ListProxy l) {
//       d[1] = "one";
//       l.reverse();
//   }, dct, lst);
//   p.start();
//   p.join();
//   std::cout << dct << '\n' << lst << '\n';     // {1: 'one'}  [9, 8, ..., 0]
//
// The server stops (and is reaped) when the Manager leaves scope or on shutdown().
// Unrelated processes and other machines reach a server with Manager::connect(address,
// authkey): "unix:/path/to/socket" or "tcp://host:port" (see `ipckit manager serve`).
// Objects are anonymous (freed once no proxy refers to them in any process, dead processes
// included) or named (m.dict("scores"): created on first use, found by every client after,
// alive as long as the server).
//
// Proxies are copyable handles that work in any thread and in a forked child (but do not
// fork while another thread of the same process is inside a proxy call). A call waits for
// the server's answer; a stop request (ipckit/signals.hpp, e.g. SIGINT with
// install_stop_handler) ends the wait with InterruptedError, and the proxy stays usable.
//
// Errors: KeyError / IndexError carry the key's repr or the index; ValueError for wrong
// arguments (Python's TypeError and ValueError); ConnectionError naming the address when the
// server cannot be reached within the connect timeout or goes away; AuthenticationError on a
// wrong authkey.
//
// The server, references, the wire protocol and the server's limits: docs/manager.md.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ipckit/object.hpp"

namespace ipckit {

namespace detail {
class Client;
struct ProxyState;
// The state behind a ref read from a manager (see Manager::proxy).
std::shared_ptr<ProxyState> ref_state(const Object& ref, std::string_view types);
// The lock of a Condition, as the server has it.
std::shared_ptr<ProxyState> condition_lock(const std::shared_ptr<ProxyState>& condition);
}  // namespace detail

// The default bound on one frame (a request or a reply, in bytes): 64 MiB.
inline constexpr std::size_t default_max_frame = std::size_t{64} << 20;

struct ManagerOptions {
    // How long connecting (and the authentication handshake) may take.
    std::chrono::milliseconds connect_timeout{5000};
    // The largest frame accepted or sent, in bytes.
    std::size_t max_frame = default_max_frame;
    // How long an ordinary call (not a blocking one: Queue.get, acquire... carry their own
    // timeout) waits for the server's answer; 0: forever. A server that is alive but does
    // not answer in time gives ConnectionError (ETIMEDOUT) naming the address; the proxy
    // stays usable (the next call uses a new connection).
    std::chrono::milliseconds call_timeout{30000};
    // Adaptive wait (opt-in, as sysv::adaptive_wait for queues): after sending a request
    // the client polls its socket without sleeping for up to this long before it blocks,
    // and the local server (Manager's own) spins this long after serving before it
    // sleeps. A call answered within it costs no wake-up: a faster round trip with the
    // two processes on separate cores, for up to this much CPU per call. A spinner yields
    // its core between polls and stops spinning for a while on a core another busy
    // process holds (docs/manager.md, "The adaptive wait"). 0: off.
    std::chrono::microseconds spin{0};
};

class Registry;
class ObjectProxy;
// A named object of a server (Manager::named_objects): size is nullopt for types without len().
struct NamedObject {
    std::string name;
    std::string type;
    std::optional<std::size_t> size;
};

class DictProxy;
class ListProxy;
class QueueProxy;
class JoinableQueueProxy;
class LockProxy;
class RLockProxy;
class SemaphoreProxy;
class BoundedSemaphoreProxy;
class EventProxy;
class BarrierProxy;
class AcquirerProxy;
class ConditionProxy;
class NamespaceProxy;
class ValueProxy;
class ArrayProxy;

// Behaviour shared by both proxies.
class Proxy {
  public:
    // The server-side id of the referent.
    std::uint64_t id() const noexcept;
    // Python's repr of the referent, e.g. {1: 'one', 'two': 2}.
    std::string repr() const;
    std::size_t size() const;
    void clear();
    // A proxy stored in a dict, list or Namespace stores a reference to its referent (an
    // Object::ref; the referent lives while anything refers to it), read back with
    // Manager::proxy<P>(value): d.set("q", queue); Manager::proxy<QueueProxy>(d.get("q")).
    operator Object() const;

  protected:
    explicit Proxy(std::shared_ptr<detail::ProxyState> state) : state_(std::move(state)) {}
    Object call(int op, const Object::List& args = {}) const;
    // A call the server may park until it can proceed (see manager_sync.hpp).
    Object call_blocking(int op, const Object::List& args) const;
    std::shared_ptr<detail::ProxyState> state_;
};

std::ostream& operator<<(std::ostream& out, const Proxy& proxy);

// A shared dict. Keys are scalar Objects (None, bool, int, float, str, bytes).
class DictProxy : public Proxy {
  public:
    // d[key] = value, and d[key] read as an Object (KeyError when absent).
    class Item {
      public:
        operator Object() const { return value(); }
        Object value() const;
        Item& operator=(const Object& value);
        friend std::ostream& operator<<(std::ostream& out, const Item& item);

      private:
        friend class DictProxy;
        Item(std::shared_ptr<detail::ProxyState> state, Object key)
            : state_(std::move(state)), key_(std::move(key)) {}
        std::shared_ptr<detail::ProxyState> state_;
        Object key_;
    };
    Item operator[](Object key) { return Item(state_, std::move(key)); }

    Object get(const Object& key) const;  // d[key]: KeyError when absent
    Object get(const Object& key, const Object& default_value) const;
    void set(const Object& key, const Object& value);
    void erase(const Object& key);  // del d[key]: KeyError when absent
    bool contains(const Object& key) const;
    Object::List keys() const;
    Object::List values() const;
    std::vector<std::pair<Object, Object>> items() const;
    Object pop(const Object& key);  // KeyError when absent
    Object pop(const Object& key, const Object& default_value);
    std::pair<Object, Object> popitem();  // KeyError when empty
    Object setdefault(const Object& key, const Object& default_value = Object());
    // One request for all the items (the batched way to fill a dict).
    void update(const Object::Dict& items);
    void update(std::initializer_list<Object::Dict::Item> items);
    void update(const std::vector<std::pair<Object, Object>>& items);  // later pairs win
    Object::Dict copy() const;

  private:
    friend class Manager;
    using Proxy::Proxy;
};

// A shared list. Negative indexes count from the end, as in Python.
class ListProxy : public Proxy {
  public:
    class Item {
      public:
        operator Object() const { return value(); }
        Object value() const;
        Item& operator=(const Object& value);
        friend std::ostream& operator<<(std::ostream& out, const Item& item);

      private:
        friend class ListProxy;
        Item(std::shared_ptr<detail::ProxyState> state, std::int64_t index)
            : state_(std::move(state)), index_(index) {}
        std::shared_ptr<detail::ProxyState> state_;
        std::int64_t index_;
    };
    Item operator[](std::int64_t index) { return Item(state_, index); }

    Object get(std::int64_t index) const;  // IndexError when out of range
    void set(std::int64_t index, const Object& value);
    void erase(std::int64_t index);  // del l[index]
    void append(const Object& value);
    // One request for all the items (the batched way to fill a list).
    void extend(Object::List items);
    template <std::ranges::input_range R>
        requires std::is_constructible_v<Object, std::ranges::range_reference_t<R>>
    void extend(R&& items) {
        Object::List list;
        for (auto&& item : items)
            list.emplace_back(item);
        extend(std::move(list));
    }
    void insert(std::int64_t index, const Object& value);
    Object pop(std::int64_t index = -1);
    void remove(const Object& value);  // ValueError when absent
    std::int64_t index(const Object& value, std::optional<std::int64_t> start = std::nullopt,
                       std::optional<std::int64_t> stop = std::nullopt) const;
    std::size_t count(const Object& value) const;
    bool contains(const Object& value) const;
    void reverse();
    void sort(bool reverse = false);
    // l[start:stop:step], l[start:stop:step] = items, del l[start:stop:step]; nullopt is an
    // omitted bound: l.slice({}, {}, -1) is l[::-1].
    using Bound = std::optional<std::int64_t>;
    Object::List slice(Bound start, Bound stop, Bound step = std::nullopt) const;
    void set_slice(Bound start, Bound stop, Object::List items, Bound step = std::nullopt);
    void erase_slice(Bound start, Bound stop, Bound step = std::nullopt);
    Object::List copy() const;  // l[:]

  private:
    friend class Manager;
    using Proxy::Proxy;
};

class Manager {
  public:
    // Starts a local server: a forked process listening on a Unix socket in a private
    // directory (mode 0700), with a random authkey.
    Manager();
    explicit Manager(ManagerOptions options);
    // A local server that also serves the custom types of `registry`
    // (ipckit/manager_registry.hpp).
    explicit Manager(const Registry& registry, ManagerOptions options = {});
    // Reaches a running server: "unix:PATH" or "tcp://HOST:PORT"; a Python manager server
    // (SyncManager/BaseManager, docs/python-interop.md) as "python+tcp://HOST:PORT" or
    // "python+unix:PATH"; Redis as "redis://HOST:PORT[/DB]" (docs/scale-out.md). Throws
    // ConnectionError (naming the address) when it cannot be reached within
    // options.connect_timeout, and AuthenticationError when the authkey is wrong.
    static Manager connect(const std::string& address, std::string authkey,
                           ManagerOptions options = {});

    Manager(Manager&& other) noexcept;
    Manager& operator=(Manager&& other) noexcept;
    Manager(const Manager&) = delete;
    Manager& operator=(const Manager&) = delete;
    // A local manager's server is shut down and reaped; a connected one is left running.
    ~Manager();

    DictProxy dict(const Object::Dict& initial = {});
    // The dict named `name`, created empty on first use.
    DictProxy dict(std::string_view name);
    DictProxy dict(const char* name) { return dict(std::string_view(name)); }
    DictProxy named_dict(std::string_view name) { return dict(name); }

    ListProxy list(Object::List initial = {});
    ListProxy list(std::initializer_list<Object> initial) { return list(Object::List(initial)); }
    // Any range of values convertible to Object: m.list(ipckit::range(10)), a std::vector...
    template <std::ranges::input_range R>
        requires(std::is_constructible_v<Object, std::ranges::range_reference_t<R>> &&
                 !std::is_same_v<std::remove_cvref_t<R>, Object::List> &&
                 !std::is_convertible_v<R, std::string_view>)
    ListProxy list(R&& items) {
        Object::List initial;
        for (auto&& item : items)
            initial.emplace_back(item);
        return list(std::move(initial));
    }
    // The list named `name`, created empty on first use.
    ListProxy named_list(std::string_view name);

    // Queues (maxsize <= 0: unbounded) and synchronisation types (ipckit/manager_sync.hpp),
    // anonymous or named (created on first use; the parameters of later uses are ignored).
    QueueProxy queue(std::int64_t maxsize = 0);
    QueueProxy named_queue(std::string_view name, std::int64_t maxsize = 0);
    JoinableQueueProxy joinable_queue(std::int64_t maxsize = 0);
    JoinableQueueProxy named_joinable_queue(std::string_view name, std::int64_t maxsize = 0);
    LockProxy lock();
    LockProxy named_lock(std::string_view name);
    RLockProxy rlock();
    RLockProxy named_rlock(std::string_view name);
    SemaphoreProxy semaphore(std::int64_t value = 1);
    SemaphoreProxy named_semaphore(std::string_view name, std::int64_t value = 1);
    BoundedSemaphoreProxy bounded_semaphore(std::int64_t value = 1);
    BoundedSemaphoreProxy named_bounded_semaphore(std::string_view name, std::int64_t value = 1);
    EventProxy event();
    EventProxy named_event(std::string_view name);
    BarrierProxy barrier(std::int64_t parties);
    BarrierProxy named_barrier(std::string_view name, std::int64_t parties);
    // Condition over `lock` (a Lock or RLock of this manager; none: a new RLock), Namespace,
    // Value(typecode, value) and Array(typecode, items), typecodes as Python's array module
    // (ipckit/manager_sync.hpp, ipckit/manager_data.hpp).
    ConditionProxy condition();
    ConditionProxy condition(const AcquirerProxy& lock);
    ConditionProxy named_condition(std::string_view name);
    ConditionProxy named_condition(std::string_view name, const AcquirerProxy& lock);
    NamespaceProxy namespace_();
    NamespaceProxy named_namespace(std::string_view name);
    ValueProxy value(char typecode, const Object& initial = 0);
    ValueProxy named_value(std::string_view name, char typecode, const Object& initial = 0);
    ArrayProxy array(char typecode, Object::List items);
    ArrayProxy named_array(std::string_view name, char typecode, Object::List items);
    // A proxy read back from a dict, list or Namespace (an Object::ref), as proxy type P:
    // Manager::proxy<QueueProxy>(d.get("q")). ValueError when `ref` is no proxy or refers to
    // an object of another type.
    template <class P>
    static P proxy(const Object& ref);

    // An object of a type registered with the server (ipckit/manager_registry.hpp), built
    // from `args`; named: created on first use, shared by every client.
    template <class... A>
    ObjectProxy object(std::string_view type, A&&... args);
    template <class... A>
    ObjectProxy named_object(std::string_view name, std::string_view type, A&&... args);

    // The server's named objects, by name.
    std::vector<NamedObject> named_objects() const;

    // Server statistics: {"objects", "named", "anonymous", "sessions", "connections",
    // "waiting"} (waiting: blocking calls parked on the server).
    Object::Dict stats() const;
    // Python manager servers (python+tcp://, docs/python-interop.md): a typeid the server
    // registered (BaseManager.register("get_queue", callable=...)), called without
    // arguments, as a proxy of that kind. ValueError against an ipckit server.
    QueueProxy typeid_queue(std::string_view typeid_);
    DictProxy typeid_dict(std::string_view typeid_);
    ListProxy typeid_list(std::string_view typeid_);
    // A typeid of a type ipckit does not know (a class of the user's registered on the Python
    // server): a generic proxy whose call(method, args...) calls that method there
    // (manager_registry.hpp). Python's exceptions map as for the typed proxies; others are
    // RemoteError("Type: message"), an unexposed method RemoteError with Python's traceback.
    ObjectProxy typeid_object(std::string_view typeid_);
    // The same with arguments: Python's server calls the registered callable with them
    // (register('Counter', Counter): m.typeid_object("Counter", 5) is Counter(5) there).
    template <class A0, class... A>
    ObjectProxy typeid_object(std::string_view typeid_, A0&& arg, A&&... args);
    // Asks the server to stop; a local manager also waits for it and removes its socket.
    // Proxies used afterwards throw ConnectionError.
    void shutdown();

    const std::string& address() const;
    const std::string& authkey() const;
    // The local server's pid, 0 for a connected manager (or after shutdown).
    pid_t server_pid() const noexcept { return server_pid_; }

  private:
    Manager(std::shared_ptr<detail::Client> client) : client_(std::move(client)) {}
    void stop_local_server() noexcept;
    void start_local_server(ManagerOptions options, const Registry* registry);
    ObjectProxy make_object(std::string_view type, std::string_view name, Object::List args);
    std::shared_ptr<detail::ProxyState> create(const char* type, std::string_view name,
                                               Object::List params = {});

    std::shared_ptr<detail::Client> client_;
    pid_t server_pid_ = 0;
    pid_t owner_pid_ = 0;
    int server_pidfd_ = -1;
    int lifeline_fd_ = -1;  // the server exits when every copy of this pipe end is closed
    std::string directory_;
};

struct ServeOptions {
    std::size_t max_frame = default_max_frame;
    // A connection that has not authenticated within this time is closed.
    std::chrono::milliseconds handshake_timeout{5000};
    // The most connections waiting to authenticate (at least 1): a new one closes the oldest.
    std::size_t max_pending = 256;
    // Called once the server listens, with its address (the real port for tcp://HOST:0).
    std::function<void(const std::string& address)> on_ready;
    // For Python clients (docs/python-interop.md): "TYPEID=TYPE:NAME" makes Python's
    // create(TYPEID) -- `m.get_queue()` after `BaseManager.register('get_queue')` -- return
    // the named object NAME of TYPE (dict, list, queue, joinable_queue, lock, rlock,
    // semaphore, bounded_semaphore, event, barrier). ValueError for a malformed one.
    std::vector<std::string> expose;
    // Adaptive wait (ManagerOptions::spin): after serving something the server polls for
    // the next request without sleeping for up to this long before it blocks, yielding its
    // core between polls (docs/manager.md, "The adaptive wait"). 0: off.
    std::chrono::microseconds spin{0};
};

// Runs a manager server in this process until a client asks it to shut down or a stop is
// requested (ipckit/signals.hpp, e.g. by SIGINT with install_stop_handler). A unix: socket
// file is created owner-only (mode 0700: only its owner can connect) and removed at the end;
// a socket file nobody listens on (left by a server that died) is replaced, and a path where
// a server listens is refused (Error). A tcp:// address needs a non-empty authkey
// (ValueError otherwise).
void serve_manager(const std::string& address, const std::string& authkey,
                   const ServeOptions& options = {});

}  // namespace ipckit

#include "ipckit/manager_data.hpp"
#include "ipckit/manager_registry.hpp"
#include "ipckit/manager_sync.hpp"

namespace ipckit {
template <class A0, class... A>
ObjectProxy Manager::typeid_object(std::string_view typeid_, A0&& arg, A&&... args) {
    if (typeid_.empty()) throw ValueError("a typeid must be a non-empty string");
    Object::List list;
    list.reserve(sizeof...(A) + 1);
    list.push_back(detail::to_object(std::forward<A0>(arg)));
    (list.push_back(detail::to_object(std::forward<A>(args))), ...);
    return make_object("typeid:" + std::string(typeid_), {}, std::move(list));
}
}  // namespace ipckit
