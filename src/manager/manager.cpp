// ipckit::Manager and its proxies.
#include "ipckit/manager.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <ostream>

#include "client.hpp"
#include "ipckit/error.hpp"
#include "python_client.hpp"
#include "redis/redis_client.hpp"
#include "server.hpp"
#include "wire.hpp"

namespace ipckit {

using detail::ProxyState;
namespace wire = detail::wire;

// ---- proxies --------------------------------------------------------------------------

namespace {
// A one-argument list that moves its argument in ({x} would copy it).
Object::List single(Object&& argument) {
    Object::List args;
    args.push_back(std::move(argument));
    return args;
}
}  // namespace

std::uint64_t Proxy::id() const noexcept {
    return state_->id;
}
Object Proxy::call(int op, const Object::List& args) const {
    return state_->call(op, args);
}
Object Proxy::call_blocking(int op, const Object::List& args) const {
    return state_->call_blocking(op, args);
}
std::string Proxy::repr() const {
    return call(wire::repr).as_string();
}
std::size_t Proxy::size() const {
    return static_cast<std::size_t>(call(wire::len).as_int());
}
void Proxy::clear() {
    call(wire::clear);
}

Proxy::operator Object() const {
    return Object::ref(state_->type, state_->id, state_);
}

std::shared_ptr<ProxyState> detail::ref_state(const Object& ref, std::string_view types) {
    return ProxyState::of_ref(ref, types);
}

std::ostream& operator<<(std::ostream& out, const Proxy& proxy) {
    return out << proxy.repr();
}

Object DictProxy::Item::value() const {
    return DictProxy(state_).get(key_);
}
DictProxy::Item& DictProxy::Item::operator=(const Object& value) {
    DictProxy(state_).set(key_, value);
    return *this;
}
std::ostream& operator<<(std::ostream& out, const DictProxy::Item& item) {
    return out << item.value();
}

Object DictProxy::get(const Object& key) const {
    return call(wire::dict_get, {key});
}
Object DictProxy::get(const Object& key, const Object& default_value) const {
    return call(wire::dict_get_default, {key, default_value});
}
void DictProxy::set(const Object& key, const Object& value) {
    call(wire::dict_set, {key, value});
}
void DictProxy::erase(const Object& key) {
    call(wire::dict_del, {key});
}
bool DictProxy::contains(const Object& key) const {
    return call(wire::dict_contains, {key}).as_bool();
}
Object::List DictProxy::keys() const {
    return std::move(call(wire::dict_keys).as_list());
}
Object::List DictProxy::values() const {
    return std::move(call(wire::dict_values).as_list());
}
std::vector<std::pair<Object, Object>> DictProxy::items() const {
    Object result = call(wire::dict_items);
    std::vector<std::pair<Object, Object>> items;
    items.reserve(result.as_list().size());
    for (auto& pair : result.as_list()) {
        auto& kv = pair.as_list();
        items.emplace_back(std::move(kv.at(0)), std::move(kv.at(1)));
    }
    return items;
}
Object DictProxy::pop(const Object& key) {
    return call(wire::dict_pop, {key});
}
Object DictProxy::pop(const Object& key, const Object& default_value) {
    return call(wire::dict_pop_default, {key, default_value});
}
std::pair<Object, Object> DictProxy::popitem() {
    Object result = call(wire::dict_popitem);
    auto& kv = result.as_list();
    return {std::move(kv.at(0)), std::move(kv.at(1))};
}
Object DictProxy::setdefault(const Object& key, const Object& default_value) {
    return call(wire::dict_setdefault, {key, default_value});
}
void DictProxy::update(const Object::Dict& items) {
    Object::List flat;
    flat.reserve(items.size() * 2);
    for (const auto& [key, value] : items) {
        flat.push_back(key);
        flat.push_back(value);
    }
    call(wire::dict_update_flat, single(Object(std::move(flat))));
}
void DictProxy::update(const std::vector<std::pair<Object, Object>>& items) {
    Object::List flat;
    flat.reserve(items.size() * 2);
    for (const auto& [key, value] : items) {
        if (!key.is_scalar()) {
            throw ValueError(std::string("unhashable type: '") + key.type_name() + "'");
        }
        flat.push_back(key);
        flat.push_back(value);
    }
    call(wire::dict_update_flat, single(Object(std::move(flat))));
}
void DictProxy::update(std::initializer_list<Object::Dict::Item> items) {
    update(Object::Dict(items));
}
Object::Dict DictProxy::copy() const {
    return std::move(call(wire::copy).as_dict());
}

Object ListProxy::Item::value() const {
    return ListProxy(state_).get(index_);
}
ListProxy::Item& ListProxy::Item::operator=(const Object& value) {
    ListProxy(state_).set(index_, value);
    return *this;
}
std::ostream& operator<<(std::ostream& out, const ListProxy::Item& item) {
    return out << item.value();
}

namespace {
Object bound(const std::optional<std::int64_t>& b) {
    return b ? Object(*b) : Object();
}
}  // namespace

Object ListProxy::get(std::int64_t index) const {
    return call(wire::list_get, {index});
}
void ListProxy::set(std::int64_t index, const Object& value) {
    call(wire::list_set, {index, value});
}
void ListProxy::erase(std::int64_t index) {
    call(wire::list_del, {index});
}
void ListProxy::append(const Object& value) {
    call(wire::list_append, {value});
}
void ListProxy::extend(Object::List items) {
    call(wire::list_extend, single(Object(std::move(items))));
}
void ListProxy::insert(std::int64_t index, const Object& value) {
    call(wire::list_insert, {index, value});
}
Object ListProxy::pop(std::int64_t index) {
    return call(wire::list_pop, {index});
}
void ListProxy::remove(const Object& value) {
    call(wire::list_remove, {value});
}
std::int64_t ListProxy::index(const Object& value, std::optional<std::int64_t> start,
                              std::optional<std::int64_t> stop) const {
    return call(wire::list_index, {value, bound(start), bound(stop)}).as_int();
}
std::size_t ListProxy::count(const Object& value) const {
    return static_cast<std::size_t>(call(wire::list_count, {value}).as_int());
}
bool ListProxy::contains(const Object& value) const {
    return call(wire::list_contains, {value}).as_bool();
}
void ListProxy::reverse() {
    call(wire::list_reverse);
}
void ListProxy::sort(bool reverse) {
    call(wire::list_sort, {reverse});
}
Object::List ListProxy::slice(Bound start, Bound stop, Bound step) const {
    return std::move(
        call(wire::list_get_slice, {bound(start), bound(stop), bound(step)}).as_list());
}
void ListProxy::set_slice(Bound start, Bound stop, Object::List items, Bound step) {
    call(wire::list_set_slice, {bound(start), bound(stop), bound(step), Object(std::move(items))});
}
void ListProxy::erase_slice(Bound start, Bound stop, Bound step) {
    call(wire::list_del_slice, {bound(start), bound(stop), bound(step)});
}
Object::List ListProxy::copy() const {
    return std::move(call(wire::copy).as_list());
}

// ---- queues and synchronisation types ------------------------------------------------

namespace {
Object timeout_arg(const ManagerTimeout& timeout) {
    if (!timeout) return Object();
    if (timeout->count() < 0) throw ValueError("'timeout' must be a non-negative number");
    return Object(static_cast<std::int64_t>(timeout->count()));
}
}  // namespace

void QueueProxy::put(const Object& item, bool block, ManagerTimeout timeout) {
    Object::List args{item, Object(block), timeout_arg(timeout)};
    if (block) {
        call_blocking(wire::queue_put, args);
    } else {
        call(wire::queue_put, args);
    }
}
Object QueueProxy::get(bool block, ManagerTimeout timeout) {
    Object::List args{Object(block), timeout_arg(timeout)};
    return block ? call_blocking(wire::queue_get, args) : call(wire::queue_get, args);
}
std::size_t QueueProxy::qsize() const {
    return static_cast<std::size_t>(call(wire::queue_qsize).as_int());
}
bool QueueProxy::empty() const {
    return call(wire::queue_empty).as_bool();
}
bool QueueProxy::full() const {
    return call(wire::queue_full).as_bool();
}
std::int64_t QueueProxy::maxsize() const {
    return call(wire::queue_maxsize).as_int();
}
void JoinableQueueProxy::task_done() {
    call(wire::queue_task_done);
}
bool JoinableQueueProxy::join(ManagerTimeout timeout) {
    return call_blocking(wire::queue_join, {timeout_arg(timeout)}).as_bool();
}

Acquired AcquirerProxy::acquire(bool blocking, ManagerTimeout timeout) const {
    if (!blocking && timeout) throw ValueError("can't specify a timeout for a non-blocking call");
    Object::List args{Object(blocking), timeout_arg(timeout)};
    auto r = (blocking ? call_blocking(wire::acquire, args) : call(wire::acquire, args)).as_int();
    return Acquired(r != 0, r == 2);
}
void AcquirerProxy::release() const {
    call(wire::release);
}
AcquirerProxy::Guard AcquirerProxy::guard() const {
    Acquired a = acquire();
    return Guard(state_, a.recovered());
}
AcquirerProxy::Guard& AcquirerProxy::Guard::operator=(Guard&& other) noexcept {
    if (this != &other) {
        unlock_noexcept();
        state_ = std::move(other.state_);
        recovered_ = other.recovered_;
    }
    return *this;
}
void AcquirerProxy::Guard::unlock() {
    if (state_) AcquirerProxy(std::exchange(state_, nullptr)).release();
}
void AcquirerProxy::Guard::unlock_noexcept() noexcept {
    try {
        unlock();
    } catch (...) {
        // The server is gone (or the call was interrupted): nothing is held there any more
        // once this connection closes.
    }
}

void EventProxy::set() {
    call(wire::event_set);
}
void EventProxy::clear() {
    call(wire::event_clear);
}
bool EventProxy::is_set() const {
    return call(wire::event_is_set).as_bool();
}
bool EventProxy::wait(ManagerTimeout timeout) const {
    return call_blocking(wire::event_wait, {timeout_arg(timeout)}).as_bool();
}

std::int64_t BarrierProxy::wait(ManagerTimeout timeout) const {
    return call_blocking(wire::barrier_wait, {timeout_arg(timeout)}).as_int();
}
void BarrierProxy::reset() {
    call(wire::barrier_reset);
}
void BarrierProxy::abort() {
    call(wire::barrier_abort);
}
std::int64_t BarrierProxy::parties() const {
    return call(wire::barrier_parties).as_int();
}
std::int64_t BarrierProxy::n_waiting() const {
    return call(wire::barrier_n_waiting).as_int();
}
bool BarrierProxy::broken() const {
    return call(wire::barrier_broken).as_bool();
}

bool ConditionProxy::wait(ManagerTimeout timeout) const {
    return call_blocking(wire::condition_wait, {timeout_arg(timeout)}).as_bool();
}
void ConditionProxy::notify(std::int64_t n) const {
    call(wire::condition_notify, {n});
}
void ConditionProxy::notify_all() const {
    call(wire::condition_notify_all);
}

Object NamespaceProxy::get(std::string_view name) const {
    return call(wire::namespace_get, {Object(name)});
}
Object NamespaceProxy::get(std::string_view name, const Object& default_value) const {
    return call(wire::namespace_get_default, {Object(name), default_value});
}
void NamespaceProxy::set(std::string_view name, const Object& value) {
    call(wire::namespace_set, {Object(name), value});
}
void NamespaceProxy::erase(std::string_view name) {
    call(wire::namespace_del, {Object(name)});
}
bool NamespaceProxy::contains(std::string_view name) const {
    return call(wire::namespace_contains, {Object(name)}).as_bool();
}
Object::Dict NamespaceProxy::copy() const {
    return std::move(call(wire::copy).as_dict());
}

Object ValueProxy::get() const {
    return call(wire::value_get);
}
void ValueProxy::set(const Object& value) {
    call(wire::value_set, {value});
}

Object ArrayProxy::get(std::int64_t index) const {
    return call(wire::array_get, {index});
}
void ArrayProxy::set(std::int64_t index, const Object& value) {
    call(wire::array_set, {index, value});
}
Object::List ArrayProxy::copy() const {
    return std::move(call(wire::copy).as_list());
}

// ---- Manager --------------------------------------------------------------------------

namespace {

// In the forked server: keep only what it needs open, so that it never holds the
// parent's pipes (a reader waiting for EOF would wait for the server too).
void close_other_descriptors(int keep1, int keep2) {
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        ::dup2(null, 0);
        ::dup2(null, 1);
    }
    int low = std::min(keep1, keep2), high = std::max(keep1, keep2);
    if (low > 3) ::syscall(SYS_close_range, 3u, static_cast<unsigned>(low - 1), 0u);
    if (high > low + 1) {
        ::syscall(SYS_close_range, static_cast<unsigned>(low + 1), static_cast<unsigned>(high - 1),
                  0u);
    }
    ::syscall(SYS_close_range, static_cast<unsigned>(high + 1), ~0u, 0u);
}

// In the forked server: every signal the owner catches goes back to its default action,
// as exec would do (ignored ones stay ignored). The fault signals keep their handlers, so
// that a sanitizer's report still covers the server.
void reset_inherited_handlers() {
    for (int signo = 1; signo < NSIG; ++signo) {
        switch (signo) {
            case SIGKILL:
            case SIGSTOP:
            case SIGSEGV:
            case SIGBUS:
            case SIGFPE:
            case SIGILL:
            case SIGTRAP:
            case SIGABRT:
            case SIGSYS:
                continue;
            default:
                break;
        }
        struct sigaction current {};
        if (::sigaction(signo, nullptr, &current) != 0) continue;  // reserved by the C library
        bool caught = (current.sa_flags & SA_SIGINFO) != 0 ||
                      (current.sa_handler != SIG_DFL && current.sa_handler != SIG_IGN);
        if (caught) ::signal(signo, SIG_DFL);
    }
}

}  // namespace

Manager::Manager() : Manager(ManagerOptions{}) {}

Manager::Manager(ManagerOptions options) {
    start_local_server(options, nullptr);
}

Manager::Manager(const Registry& registry, ManagerOptions options) {
    start_local_server(options, &registry);
}

// The forked server keeps its copy of `registry` (the process image) for its whole life.
void Manager::start_local_server(ManagerOptions options, const Registry* registry) {
    std::string authkey = wire::to_hex(wire::random_bytes(32));
    const char* tmp = std::getenv("TMPDIR");
    std::string base = tmp && *tmp && std::strlen(tmp) < 60 ? tmp : "/tmp";
    std::string pattern = base + "/ipckit-manager-XXXXXX";
    if (!::mkdtemp(pattern.data())) {  // mode 0700
        throw Error(errno, "manager: cannot create a private directory in " + base + ": " +
                               std::strerror(errno));
    }
    directory_ = pattern;
    std::string path = directory_ + "/socket";
    std::string bound_address;
    detail::Fd listener;
    int lifeline[2];
    try {
        listener =
            detail::Fd(detail::listen_on(detail::parse_address("unix:" + path), bound_address));
        if (::pipe2(lifeline, O_CLOEXEC) != 0) {
            throw Error(errno, std::string("manager: pipe: ") + std::strerror(errno));
        }
    } catch (...) {
        ::unlink(path.c_str());
        ::rmdir(directory_.c_str());
        throw;
    }
    // Every signal stays blocked across the fork until the server has set its own
    // dispositions: a SIGINT (Ctrl-C to the group) arriving before it ignores SIGINT would
    // kill it, and a handler inherited from the owner would run in the server.
    sigset_t all_signals, owner_mask;
    ::sigfillset(&all_signals);
    ::pthread_sigmask(SIG_SETMASK, &all_signals, &owner_mask);
    pid_t pid = ::fork();
    if (pid != 0) ::pthread_sigmask(SIG_SETMASK, &owner_mask, nullptr);
    if (pid < 0) {
        int saved = errno;
        ::close(lifeline[0]);
        ::close(lifeline[1]);
        ::unlink(path.c_str());
        ::rmdir(directory_.c_str());
        throw Error(saved, std::string("manager: cannot fork the server: ") + std::strerror(saved));
    }
    if (pid == 0) {
        // The server. SIGINT goes to the whole foreground group: let the owner decide.
        // Handlers inherited from the owner (a stop handler, say) make no sense here.
        reset_inherited_handlers();
        ::signal(SIGINT, SIG_IGN);
        ::signal(SIGPIPE, SIG_IGN);
        ::signal(SIGTERM, SIG_DFL);
        ::signal(SIGHUP, SIG_DFL);
        sigset_t none;  // a SIGINT that came meanwhile was pending, and is now discarded
        ::sigemptyset(&none);
        ::pthread_sigmask(SIG_SETMASK, &none, nullptr);
        ::close(lifeline[1]);
        close_other_descriptors(listener.get(), lifeline[0]);
        int status = 0;
        try {
            detail::ServerConfig config{authkey, options.max_frame, lifeline[0], false};
            config.registry = registry;
            config.address = bound_address;
            config.spin = options.spin;
            detail::run_server(listener.get(), config);
        } catch (const std::exception& e) {
            std::cerr << "ipckit manager server " << ::getpid() << ": " << e.what() << std::endl;
            status = 1;
        }
        // The socket and its private directory: when the owner was killed, nobody else
        // removes them (the owner's own cleanup, when it runs, finds them gone).
        ::unlink(path.c_str());
        ::rmdir(directory_.c_str());
        ::_exit(status);
    }
    ::close(lifeline[0]);
    lifeline_fd_ = lifeline[1];
    server_pid_ = pid;
    owner_pid_ = ::getpid();
    server_pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
    client_ = std::make_shared<detail::SocketClient>("unix:" + path, authkey, options);
}

Manager Manager::connect(const std::string& address, std::string authkey, ManagerOptions options) {
    std::shared_ptr<detail::Client> client;
    if (detail::redis::is_redis_address(address)) {  // the Redis back end (redis/redis_client.hpp)
        client = std::make_shared<detail::RedisClient>(address, std::move(authkey), options);
    } else if (detail::is_python_address(address)) {
        client = std::make_shared<detail::PythonClient>(address, std::move(authkey), options);
    } else {
        client = std::make_shared<detail::SocketClient>(address, std::move(authkey), options);
    }
    client->check();
    Manager m(std::move(client));
    m.owner_pid_ = ::getpid();
    return m;
}

Manager::Manager(Manager&& other) noexcept
    : client_(std::move(other.client_)),
      server_pid_(std::exchange(other.server_pid_, 0)),
      owner_pid_(other.owner_pid_),
      server_pidfd_(std::exchange(other.server_pidfd_, -1)),
      lifeline_fd_(std::exchange(other.lifeline_fd_, -1)),
      directory_(std::move(other.directory_)) {
    other.directory_.clear();
}

Manager& Manager::operator=(Manager&& other) noexcept {
    if (this != &other) {
        stop_local_server();
        client_ = std::move(other.client_);
        server_pid_ = std::exchange(other.server_pid_, 0);
        owner_pid_ = other.owner_pid_;
        server_pidfd_ = std::exchange(other.server_pidfd_, -1);
        lifeline_fd_ = std::exchange(other.lifeline_fd_, -1);
        directory_ = std::move(other.directory_);
        other.directory_.clear();
    }
    return *this;
}

Manager::~Manager() {
    stop_local_server();
}

void Manager::stop_local_server() noexcept {
    if (owner_pid_ != ::getpid()) return;  // a forked child's copy: the parent owns it
    if (server_pid_ > 0) {
        // The request and the wait together take at most 5 s: a server that does not
        // answer (stopped, wedged) must not hang the owner.
        using Clock = std::chrono::steady_clock;
        const Clock::time_point deadline = Clock::now() + std::chrono::seconds(5);
        if (client_ && !client_->closed()) {
            try {
                client_->call(wire::shutdown, 0, {}, &deadline);
            } catch (...) {
                // Already gone, or unreachable: the lifeline and SIGKILL below still stop it.
            }
        }
        if (lifeline_fd_ >= 0) ::close(lifeline_fd_);
        lifeline_fd_ = -1;
        bool ended = false;
        if (server_pidfd_ >= 0) {
            pollfd p{server_pidfd_, POLLIN, 0};
            while (true) {
                auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
                int rc = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
                if (rc < 0 && errno == EINTR) continue;
                ended = rc > 0;
                break;
            }
        }
        if (!ended) ::kill(server_pid_, SIGKILL);
        while (::waitpid(server_pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
        if (server_pidfd_ >= 0) ::close(server_pidfd_);
        server_pidfd_ = -1;
        server_pid_ = 0;
    }
    if (client_) client_->mark_closed();
    if (!directory_.empty()) {
        ::unlink((directory_ + "/socket").c_str());
        ::rmdir(directory_.c_str());
        directory_.clear();
    }
}

void Manager::shutdown() {
    if (server_pid_ > 0) {
        stop_local_server();
        return;
    }
    if (client_ && !client_->closed()) {
        client_->call(wire::shutdown, 0, {});
        client_->mark_closed();
    }
}

DictProxy Manager::dict(const Object::Dict& initial) {
    auto id = client_->call(wire::create_dict, 0, {Object(initial)}).as_int();
    return DictProxy(std::make_shared<ProxyState>(client_, static_cast<std::uint64_t>(id), false,
                                                  wire::type_dict));
}

DictProxy Manager::dict(std::string_view name) {
    auto id = client_->call(wire::named_dict, 0, {Object(name)}).as_int();
    return DictProxy(std::make_shared<ProxyState>(client_, static_cast<std::uint64_t>(id), true,
                                                  wire::type_dict));
}

ListProxy Manager::list(Object::List initial) {
    auto id = client_->call(wire::create_list, 0, {Object(std::move(initial))}).as_int();
    return ListProxy(std::make_shared<ProxyState>(client_, static_cast<std::uint64_t>(id), false,
                                                  wire::type_list));
}

ListProxy Manager::named_list(std::string_view name) {
    auto id = client_->call(wire::named_list, 0, {Object(name)}).as_int();
    return ListProxy(std::make_shared<ProxyState>(client_, static_cast<std::uint64_t>(id), true,
                                                  wire::type_list));
}

std::shared_ptr<ProxyState> Manager::create(const char* type, std::string_view name,
                                            Object::List params) {
    Object::List args{Object(type), name.empty() ? Object() : Object(name)};
    for (auto& p : params)
        args.push_back(std::move(p));
    auto id = client_->call(wire::create, 0, args).as_int();
    return std::make_shared<ProxyState>(client_, static_cast<std::uint64_t>(id), !name.empty(),
                                        type);
}

namespace {
std::string_view check_name(std::string_view name) {
    if (name.empty()) throw ValueError("a shared object's name must be a non-empty string");
    return name;
}
}  // namespace

namespace {
std::string typeid_type(std::string_view typeid_) {
    if (typeid_.empty()) throw ValueError("a typeid must be a non-empty string");
    return "typeid:" + std::string(typeid_);
}
}  // namespace
QueueProxy Manager::typeid_queue(std::string_view typeid_) {
    return QueueProxy(create(typeid_type(typeid_).c_str(), {}));
}
DictProxy Manager::typeid_dict(std::string_view typeid_) {
    return DictProxy(create(typeid_type(typeid_).c_str(), {}));
}
ListProxy Manager::typeid_list(std::string_view typeid_) {
    return ListProxy(create(typeid_type(typeid_).c_str(), {}));
}
ObjectProxy Manager::typeid_object(std::string_view typeid_) {
    return make_object(typeid_type(typeid_), {}, {});
}
QueueProxy Manager::queue(std::int64_t maxsize) {
    return QueueProxy(create(wire::type_queue, {}, {Object(maxsize)}));
}
QueueProxy Manager::named_queue(std::string_view name, std::int64_t maxsize) {
    return QueueProxy(create(wire::type_queue, check_name(name), {Object(maxsize)}));
}
JoinableQueueProxy Manager::joinable_queue(std::int64_t maxsize) {
    return JoinableQueueProxy(create(wire::type_joinable_queue, {}, {Object(maxsize)}));
}
JoinableQueueProxy Manager::named_joinable_queue(std::string_view name, std::int64_t maxsize) {
    return JoinableQueueProxy(
        create(wire::type_joinable_queue, check_name(name), {Object(maxsize)}));
}
LockProxy Manager::lock() {
    return LockProxy(create(wire::type_lock, {}));
}
LockProxy Manager::named_lock(std::string_view name) {
    return LockProxy(create(wire::type_lock, check_name(name)));
}
RLockProxy Manager::rlock() {
    return RLockProxy(create(wire::type_rlock, {}));
}
RLockProxy Manager::named_rlock(std::string_view name) {
    return RLockProxy(create(wire::type_rlock, check_name(name)));
}
SemaphoreProxy Manager::semaphore(std::int64_t value) {
    return SemaphoreProxy(create(wire::type_semaphore, {}, {Object(value)}));
}
SemaphoreProxy Manager::named_semaphore(std::string_view name, std::int64_t value) {
    return SemaphoreProxy(create(wire::type_semaphore, check_name(name), {Object(value)}));
}
BoundedSemaphoreProxy Manager::bounded_semaphore(std::int64_t value) {
    return BoundedSemaphoreProxy(create(wire::type_bounded_semaphore, {}, {Object(value)}));
}
BoundedSemaphoreProxy Manager::named_bounded_semaphore(std::string_view name, std::int64_t value) {
    return BoundedSemaphoreProxy(
        create(wire::type_bounded_semaphore, check_name(name), {Object(value)}));
}
EventProxy Manager::event() {
    return EventProxy(create(wire::type_event, {}));
}
EventProxy Manager::named_event(std::string_view name) {
    return EventProxy(create(wire::type_event, check_name(name)));
}

BarrierProxy Manager::barrier(std::int64_t parties) {
    return BarrierProxy(create(wire::type_barrier, {}, {Object(parties)}));
}
BarrierProxy Manager::named_barrier(std::string_view name, std::int64_t parties) {
    return BarrierProxy(create(wire::type_barrier, check_name(name), {Object(parties)}));
}

std::shared_ptr<ProxyState> detail::condition_lock(const std::shared_ptr<ProxyState>& condition) {
    // A named condition may have been made by another client, over another lock.
    return ProxyState::of_ref(condition->call(wire::condition_lock, {}), "Lock RLock");
}
ConditionProxy Manager::condition() {
    return condition(rlock());
}
ConditionProxy Manager::condition(const AcquirerProxy& lock) {
    Object ref(lock);
    auto lock_state = ProxyState::of_ref(ref, "Lock RLock");
    return ConditionProxy(create(wire::type_condition, {}, {ref}), std::move(lock_state));
}
ConditionProxy Manager::named_condition(std::string_view name) {
    return named_condition(name, rlock());
}
ConditionProxy Manager::named_condition(std::string_view name, const AcquirerProxy& lock) {
    auto state = create(wire::type_condition, check_name(name), {Object(lock)});
    auto lock_state = detail::condition_lock(state);
    return ConditionProxy(std::move(state), std::move(lock_state));
}
NamespaceProxy Manager::namespace_() {
    return NamespaceProxy(create(wire::type_namespace, {}));
}
NamespaceProxy Manager::named_namespace(std::string_view name) {
    return NamespaceProxy(create(wire::type_namespace, check_name(name)));
}
ValueProxy Manager::value(char typecode, const Object& initial) {
    return ValueProxy(create(wire::type_value, {}, {Object(std::string(1, typecode)), initial}));
}
ValueProxy Manager::named_value(std::string_view name, char typecode, const Object& initial) {
    return ValueProxy(
        create(wire::type_value, check_name(name), {Object(std::string(1, typecode)), initial}));
}
ArrayProxy Manager::array(char typecode, Object::List items) {
    return ArrayProxy(
        create(wire::type_array, {}, {Object(std::string(1, typecode)), Object(std::move(items))}));
}
ArrayProxy Manager::named_array(std::string_view name, char typecode, Object::List items) {
    return ArrayProxy(create(wire::type_array, check_name(name),
                             {Object(std::string(1, typecode)), Object(std::move(items))}));
}

ObjectProxy Manager::make_object(std::string_view type, std::string_view name, Object::List args) {
    Object::List create_args{Object(type), name.empty() ? Object() : Object(name)};
    for (auto& a : args)
        create_args.push_back(std::move(a));
    auto id = client_->call(wire::create, 0, create_args).as_int();
    return ObjectProxy(
        std::make_shared<ProxyState>(client_, static_cast<std::uint64_t>(id), !name.empty()));
}

std::vector<NamedObject> Manager::named_objects() const {
    Object rows = client_->call(wire::named_objects, 0, {});
    std::vector<NamedObject> out;
    for (auto& row : rows.as_list()) {
        auto& fields = row.as_list();
        std::optional<std::size_t> size;
        if (fields.at(2).is_int()) size = static_cast<std::size_t>(fields.at(2).as_int());
        out.push_back({fields.at(0).as_string(), fields.at(1).as_string(), size});
    }
    return out;
}

Object::Dict Manager::stats() const {
    return std::move(client_->call(wire::stats, 0, {}).as_dict());
}

const std::string& Manager::address() const {
    return client_->address();
}
const std::string& Manager::authkey() const {
    return client_->authkey();
}

// ---- serve_manager --------------------------------------------------------------------

namespace {

void serve_registered(const std::string& address, const std::string& authkey,
                      const Registry* registry, const ServeOptions& options) {
    detail::Address parsed = detail::parse_address(address);
    if (parsed.kind == detail::Address::Kind::tcp && authkey.empty()) {
        throw ValueError("manager at " + address + ": a TCP manager needs a non-empty authkey");
    }
    std::vector<detail::python::Expose> expose;
    for (const auto& e : options.expose)
        expose.push_back(detail::python::parse_expose(e));
    std::string bound;
    detail::Fd listener(detail::listen_on(parsed, bound));
    struct Unlink {
        std::string path;
        ~Unlink() {
            if (!path.empty()) ::unlink(path.c_str());
        }
    } unlink{parsed.kind == detail::Address::Kind::unix_socket ? parsed.path : std::string()};
    if (options.on_ready) options.on_ready(bound);
    detail::ServerConfig config{authkey, options.max_frame, -1, true};
    config.handshake_timeout = options.handshake_timeout;
    config.max_pending = std::max<std::size_t>(options.max_pending, 1);
    config.registry = registry;
    config.expose = std::move(expose);
    config.address = bound;
    config.spin = options.spin;
    detail::run_server(listener.get(), config);
}

}  // namespace

void serve_manager(const std::string& address, const std::string& authkey,
                   const ServeOptions& options) {
    serve_registered(address, authkey, nullptr, options);
}

void serve_manager(const std::string& address, const std::string& authkey, const Registry& registry,
                   const ServeOptions& options) {
    serve_registered(address, authkey, &registry, options);
}

}  // namespace ipckit
