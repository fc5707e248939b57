// The client side of the manager: connections, the handshake, requests, proxy references.
#include "client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../sysv/interrupt_timer.hpp"
#include "ipckit/error.hpp"
#include "ipckit/signals.hpp"
#include "spin.hpp"

namespace ipckit::detail {

namespace {
// getpid() is a system call; every proxy call asks "am I still the same process?", so the
// answer is cached and refreshed in the child by a fork handler (glibc's fork runs it).
std::atomic<pid_t> cached_pid{0};
void refresh_pid() noexcept {
    cached_pid.store(::getpid(), std::memory_order_relaxed);
}
}  // namespace

pid_t current_pid() noexcept {
    pid_t pid = cached_pid.load(std::memory_order_relaxed);
    if (pid == 0) {
        static std::once_flag once;
        std::call_once(once, [] { ::pthread_atfork(nullptr, nullptr, refresh_pid); });
        refresh_pid();
        pid = cached_pid.load(std::memory_order_relaxed);
    }
    return pid;
}

SocketClient::SocketClient(std::string address, std::string authkey, ManagerOptions options)
    : address_text_(std::move(address)),
      address_(parse_address(address_text_)),
      authkey_(std::move(authkey)),
      options_(options),
      pid_(current_pid()),
      session_(wire::random_bytes(wire::session_size)) {}

SocketClient::~SocketClient() = default;

void SocketClient::no_answer(const char* what) {
    throw ConnectionError(
        ETIMEDOUT, "manager at " + address_text_ + ": " + what + " within the call timeout of " +
                       std::to_string(options_.call_timeout.count()) +
                       " ms: the server is alive but not answering (stopped, overloaded, "
                       "or busy in a long method); ManagerOptions::call_timeout sets the limit");
}

void SocketClient::lost(const std::string& what, int error) {
    std::string message = "manager at " + address_text_ + ": " + what;
    if (error != 0) message += std::string(": ") + std::strerror(error);
    throw ConnectionError(error, message);
}

SocketClient::Connection& SocketClient::connection(const Deadline* deadline) {
    std::lock_guard lock(mutex_);
    pid_t now = current_pid();
    if (now != pid_) {
        // A forked child: the inherited sockets belong to the parent's conversations.
        // Close our copies (the parent's stay open) and start a session of our own.
        connections_.clear();
        retired_.clear();
        session_ = wire::random_bytes(wire::session_size);
        pid_ = now;
    }
    auto& slot = connections_[std::this_thread::get_id()];
    if (!slot) {
        slot = open(deadline);
        retired_.clear();  // the session has a live connection again
    }
    return *slot;
}

void SocketClient::retire_connection() {
    std::lock_guard lock(mutex_);
    auto it = connections_.find(std::this_thread::get_id());
    if (it == connections_.end()) return;
    if (it->second) retired_.push_back(std::move(it->second));
    connections_.erase(it);
}

// Ordinary calls wait for an answer at most the call timeout: the socket's receive and
// send timeouts, set once (no system call per call). Blocking calls retry past them.
void SocketClient::set_call_timeout(int fd) const {
    auto ms = options_.call_timeout.count();
    if (ms <= 0) return;
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

namespace {

// The adaptive wait (ManagerOptions::spin): reads what `fd` has without sleeping until
// something comes or `spin` has passed. False when the wait is over (closed: error 0, a
// socket error, or a stop request: EINTR); true otherwise (data read, or the spin ran out).
bool spin_read(int fd, wire::FrameReader& reader, std::chrono::microseconds spin, int& error) {
    auto& spinner = AdaptiveSpin::this_thread();
    auto now = std::chrono::steady_clock::now();
    if (!spinner.allowed(now)) return true;  // backing off: sleep at once
    auto until = now + spin;
    do {
        char* room = reader.prepare(wire::read_chunk);
        ssize_t n = ::recv(fd, room, wire::read_chunk, MSG_DONTWAIT);
        if (n > 0) {
            reader.commit(static_cast<std::size_t>(n));
            return true;
        }
        if (n == 0) return false;  // closed
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            error = errno;
            return false;
        }
        if (stop_requested()) {
            error = EINTR;
            return false;
        }
    } while (spinner.pause(spin, until));
    return true;
}

// Reads one frame, waiting at most until the deadline (none: forever, or until the
// socket's receive timeout unless `past_timeout`: a blocking call waits on through it).
// With `spin`, it first polls for up to that long without sleeping (spin_read).
bool read_frame(int fd, wire::FrameReader& reader, std::string_view& payload,
                const std::chrono::steady_clock::time_point* deadline, int& error,
                bool past_timeout = false, std::chrono::microseconds spin = {}) {
    error = 0;
    std::optional<detail::InterruptTimer> wake;  // a stop request while we wait wakes recv
    while (!reader.next(payload)) {
        if (spin.count() > 0) {
            if (!spin_read(fd, reader, spin, error)) {
                // A stop request ends only a wait without a deadline (as recv's EINTR does).
                if (error == EINTR && deadline)
                    error = 0;
                else
                    return false;
            }
            spin = {};
            continue;
        }
        if (deadline) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                *deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) {
                error = ETIMEDOUT;
                return false;
            }
            pollfd p{fd, POLLIN, 0};
            int rc = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
            if (rc < 0 && errno != EINTR) {
                error = errno;
                return false;
            }
            if (rc <= 0) continue;
        }
        if (!deadline && !wake) wake.emplace();
        char* room = reader.prepare(wire::read_chunk);
        ssize_t n = ::recv(fd, room, wire::read_chunk, 0);
        if (n < 0) {
            if (errno == EINTR && !deadline && stop_requested()) {
                error = EINTR;  // a stop was requested (ipckit/signals.hpp): give up waiting
                return false;
            }
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && !deadline && !past_timeout) {
                error = ETIMEDOUT;  // the socket's receive timeout (the call timeout)
                return false;
            }
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
            error = errno;
            return false;
        }
        if (n == 0) return false;  // closed
        reader.commit(static_cast<std::size_t>(n));
    }
    return true;
}

bool send_all(int fd, std::string_view data, const std::chrono::steady_clock::time_point* deadline,
              int& error) {
    error = 0;
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            if ((errno == EAGAIN || errno == EWOULDBLOCK) && deadline) {
                auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    *deadline - std::chrono::steady_clock::now());
                if (left.count() <= 0) {
                    error = ETIMEDOUT;
                    return false;
                }
                pollfd p{fd, POLLOUT, 0};
                ::poll(&p, 1, static_cast<int>(left.count()) + 1);
                continue;
            }
            // Without a deadline the socket blocks: EAGAIN is its send timeout.
            error = errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
            return false;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace

std::unique_ptr<SocketClient::Connection> SocketClient::open(const Deadline* call_deadline) {
    auto deadline = std::chrono::steady_clock::now() + options_.connect_timeout;
    if (call_deadline && *call_deadline < deadline) deadline = *call_deadline;
    auto c = std::make_unique<Connection>(wire::handshake_max_frame);
    c->fd = Fd(connect_to(address_, address_text_, deadline));
    int error = 0;
    std::string_view payload;
    auto handshake_failed = [&](const char* what) {
        lost(std::string("handshake failed: ") + what, error);
    };
    try {
        if (!read_frame(c->fd.get(), c->reader, payload, &deadline, error)) {
            handshake_failed(error == ETIMEDOUT ? "no greeting before the connect timeout"
                                                : "the server closed the connection");
        }
        std::string server_challenge;
        if (!wire::parse_greeting(payload, server_challenge)) {
            if (payload.substr(0, wire::python_challenge_tag.size()) ==
                wire::python_challenge_tag) {
                handshake_failed("this is a Python manager server, not an ipckit manager");
            }
            handshake_failed("this is not an ipckit manager");
        }
        std::string client_challenge = wire::random_bytes(wire::challenge_size);
        std::string out;
        std::size_t start = wire::begin_frame(out);
        out += wire::client_answer(Object::list(
            {Object::bytes(wire::hmac(authkey_, "client", server_challenge, client_challenge)),
             Object::bytes(client_challenge), Object::bytes(session_)}));
        wire::end_frame(out, start);
        if (!send_all(c->fd.get(), out, &deadline, error)) handshake_failed("cannot send");
        if (!read_frame(c->fd.get(), c->reader, payload, &deadline, error)) {
            handshake_failed(error == ETIMEDOUT ? "no answer before the connect timeout"
                                                : "the server closed the connection");
        }
        Object answer = wire::decode(payload);
        const auto& reply = answer.as_list();
        if (reply.size() != 2) handshake_failed("malformed answer");
        if (!reply[0].as_bool()) {
            throw AuthenticationError("manager at " + address_text_ + ": " + reply[1].as_string() +
                                      " (check the authkey)");
        }
        std::string expected = wire::hmac(authkey_, "server", client_challenge, server_challenge);
        if (!wire::equal_digests(reply[1].as_bytes(), expected)) {
            throw AuthenticationError("manager at " + address_text_ +
                                      ": the server did not prove it knows the authkey");
        }
    } catch (const ValueError& e) {
        lost(std::string("handshake failed: ") + e.what());
    }
    // Requests block (a server that goes away closes the socket and wakes us), bounded by
    // the call timeout.
    int flags = ::fcntl(c->fd.get(), F_GETFL);
    ::fcntl(c->fd.get(), F_SETFL, flags & ~O_NONBLOCK);
    set_call_timeout(c->fd.get());
    c->reader.set_max_frame(options_.max_frame);
    return c;
}

void SocketClient::send_request(Connection& c, int op, std::uint64_t id, const Object::List& args,
                                const Deadline* deadline) {
    c.out.clear();
    std::size_t start = wire::begin_frame(c.out);
    c.out += static_cast<char>(0x90 | (2 + args.size()));  // fixarray [op, id, args...]
    wire::encode(c.out, Object(op));
    wire::encode(c.out, Object(static_cast<std::int64_t>(id)));
    for (const auto& a : args)
        wire::encode(c.out, a, 1);  // throws when nested too deep
    wire::end_frame(c.out, start);
    if (c.out.size() - 4 > options_.max_frame) {
        throw ValueError("manager request of " + std::to_string(c.out.size() - 4) +
                         " bytes exceeds the frame limit of " + std::to_string(options_.max_frame) +
                         " bytes (send it in parts, or raise ManagerOptions::max_frame)");
    }
    int error = 0;
    if (!send_all(c.fd.get(), c.out, deadline, error)) {
        retire_connection();
        if (error == ETIMEDOUT && !deadline) no_answer("could not send a request");
        lost("connection lost while sending", error);
    }
    if (c.out.capacity() > (1u << 20)) c.out = std::string();
}

Object SocketClient::result(std::string_view payload) {
    Object response;
    try {
        // The usual answer, [0, value] (wire::append_ok): the value alone, without building
        // the list around it.
        if (payload.size() > 2 && payload[0] == '\x92' && payload[1] == '\x00') {
            return wire::decode(payload.substr(2), wire::max_depth + 7);
        }
        response = wire::decode(payload, wire::max_depth + 8);
    } catch (const ValueError& e) {
        {
            std::lock_guard lock(mutex_);
            connections_.erase(std::this_thread::get_id());
        }
        lost(std::string("bad answer: ") + e.what());
    }
    auto& fields = response.as_list();
    auto status = fields.at(0).as_int();
    if (status == wire::ok) return std::move(fields.at(1));
    const std::string& message = fields.at(1).as_string();
    std::string named = "manager at " + address_text_ + ": " + message;
    bool timed_out = message.find("timed out") != std::string::npos;
    auto reason = timed_out ? BusyError::Reason::timed_out : BusyError::Reason::would_block;
    switch (status) {
        case wire::key_error:
            throw KeyError(message);
        case wire::index_error:
            throw IndexError(message);
        case wire::value_error:
            throw ValueError(message);
        case wire::empty:
            throw Empty(reason, timed_out ? ETIMEDOUT : EAGAIN, named);
        case wire::full:
            throw Full(reason, timed_out ? ETIMEDOUT : EAGAIN, named);
        case wire::interrupted:
            throw InterruptedError(EINTR, named + " (a stop request)");
        case wire::runtime_error:
            throw RuntimeError(named);
        case wire::broken_barrier:
            throw BrokenBarrierError(named);
        default:
            throw RemoteError(named);
    }
}

Object SocketClient::call(int op, std::uint64_t id, const Object::List& args,
                          const Deadline* deadline) {
    if (closed_) lost("the manager was shut down");
    Connection& c = connection(deadline);
    send_request(c, op, id, args, deadline);
    int error = 0;
    std::string_view payload;
    if (!read_frame(c.fd.get(), c.reader, payload, deadline, error, false, options_.spin)) {
        retire_connection();  // the answer may still come: this connection is out of step now
        if (error == ETIMEDOUT && !deadline) no_answer("got no answer");
        if (error == EINTR) {
            throw InterruptedError(
                EINTR, "manager at " + address_text_ + ": call interrupted by a stop request");
        }
        lost(error ? "connection lost" : "connection closed by the server (did it stop?)", error);
    }
    return result(payload);
}

Object SocketClient::call_blocking(int op, std::uint64_t id, const Object::List& args) {
    if (closed_) lost("the manager was shut down");
    auto interrupted = [this] {
        return InterruptedError(
            EINTR, "manager at " + address_text_ + ": call interrupted by a stop request");
    };
    if (stop_requested()) throw interrupted();
    Connection& c = connection();
    send_request(c, op, id, args, nullptr);
    auto drop = [this] { retire_connection(); };
    int error = 0;
    std::string_view payload;
    // The call waits as long as its own timeout says (the server applies it).
    if (read_frame(c.fd.get(), c.reader, payload, nullptr, error, true, options_.spin)) {
        return result(payload);
    }
    if (error != EINTR) {
        drop();
        lost(error ? "connection lost" : "connection closed by the server (did it stop?)", error);
    }
    // A stop request: ask the server to cancel the parked call, and read its answer (the
    // result, when the server answered before the cancel arrived). A server that does not
    // answer within the connect timeout is given up on with the connection.
    Deadline deadline = std::chrono::steady_clock::now() + options_.connect_timeout;
    std::string cancel;
    wire::append_frame(cancel, Object::list({static_cast<int>(wire::cancel), 0}));
    if (!send_all(c.fd.get(), cancel, &deadline, error) ||
        !read_frame(c.fd.get(), c.reader, payload, &deadline, error)) {
        drop();
        throw interrupted();
    }
    return result(payload);
}

ProxyState::ProxyState(std::shared_ptr<Client> c, std::uint64_t object_id, bool is_named,
                       std::string type_name)
    : client(std::move(c)),
      id(object_id),
      named(is_named),
      type(std::move(type_name)),
      holder(current_pid()) {}

void ProxyState::adopt_refs(Object& value, const std::shared_ptr<Client>& client) {
    if (value.is_ref()) {
        auto& ref = value.as_ref();
        if (!ref.handle) ref.handle = std::make_shared<ProxyState>(client, ref.id, false, ref.type);
    } else if (value.is_list()) {
        for (auto& item : value.as_list())
            adopt_refs(item, client);
    } else if (value.is_dict()) {
        for (const auto& [key, item] : value.as_dict()) {
            // keys are const in a Dict; the handle is not part of a key's identity
            adopt_refs(const_cast<Object&>(key), client);
            adopt_refs(const_cast<Object&>(item), client);
        }
    }
}

std::shared_ptr<ProxyState> ProxyState::of_ref(const Object& ref, std::string_view types) {
    if (!ref.is_ref()) {
        throw ValueError(std::string("expected a proxy stored in a manager dict or list, got ") +
                         ref.type_name() + " " + ref.repr());
    }
    const auto& r = ref.as_ref();
    auto state = std::static_pointer_cast<ProxyState>(r.handle);
    if (!state) {
        throw ValueError("the proxy " + ref.repr() +
                         " was not read from a manager (no connection to reach it)");
    }
    std::string_view rest = types;
    while (!rest.empty()) {
        auto space = rest.find(' ');
        if (rest.substr(0, space) == r.type) return state;
        rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
    }
    throw ValueError("the proxy " + ref.repr() + " refers to a " + r.type + ", not a " +
                     std::string(types));
}

ProxyState::~ProxyState() {
    if (named || holder.load() != current_pid() || client->closed()) return;
    try {
        client->call(wire::decref, id, {});
    } catch (...) {
        // The server is gone: nothing left to release.
    }
}

Object ProxyState::call(int op, const Object::List& args) {
    pid_t now = current_pid();
    pid_t before = holder.load();
    if (!named && before != now && holder.compare_exchange_strong(before, now)) {
        // First use in a forked child: hold a reference of our own, so the referent lives
        // while we use it even if the parent lets go, and is released when we end.
        client->call(wire::incref, id, {});
    }
    std::uint64_t refs_before = wire::refs_decoded();
    Object result = client->call(op, id, args);
    if (wire::refs_decoded() != refs_before) adopt_refs(result, client);
    return result;
}

Object ProxyState::call_blocking(int op, const Object::List& args) {
    pid_t now = current_pid();
    pid_t before = holder.load();
    if (!named && before != now && holder.compare_exchange_strong(before, now)) {
        client->call(wire::incref, id, {});
    }
    std::uint64_t refs_before = wire::refs_decoded();
    Object result = client->call_blocking(op, id, args);
    if (wire::refs_decoded() != refs_before) adopt_refs(result, client);
    return result;
}

}  // namespace ipckit::detail
