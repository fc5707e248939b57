// The manager server: accepts connections, authenticates them, answers requests.
#include "server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <iostream>
#include <iterator>
#include <list>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/python_connection.hpp"
#include "ipckit/signals.hpp"
#include "spin.hpp"
#include "store.hpp"
#include "wire.hpp"

namespace ipckit::detail {
namespace {

using Clock = std::chrono::steady_clock;

struct Connection {
    Connection(ConnId conn_id, int descriptor, std::size_t max_frame,
               Clock::time_point handshake_deadline)
        : id(conn_id),
          fd(descriptor),
          reader(wire::handshake_max_frame),
          max_frame_after_auth(max_frame),
          deadline(handshake_deadline) {}
    ~Connection() { ::close(fd); }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ConnId id;
    int fd;
    wire::FrameReader reader;
    std::size_t max_frame_after_auth;
    Clock::time_point deadline;  // to authenticate by
    std::string out;
    std::size_t out_sent = 0;
    std::string challenge;
    std::string session;
    // Before authentication: what the connection's last handshake frame answered.
    enum class Stage { greeted, python_challenge, python_welcome, done } stage = Stage::greeted;
    std::unique_ptr<python::Peer> python;  // a Python client's, once authenticated
    std::string python_session;
    bool authenticated = false;
    bool closing = false;  // flush `out`, then close (after a failed authentication)
    bool dead = false;
    std::uint32_t interest = 0;                             // the epoll events watched
    std::uint32_t revents = 0;                              // this round's
    std::list<std::unique_ptr<Connection>>::iterator self;  // in Server::connections_
};

// How long poll may sleep until `when` (rounded up, so that the deadline has passed on
// waking), or `cap` (-1: forever) if that comes first.
int wait_ms(Clock::time_point now, Clock::time_point when, int cap) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(when - now).count();
    if (left < 0) left = 0;
    if (cap >= 0 && left > cap) return cap;
    return left > INT_MAX ? INT_MAX : static_cast<int>(left);
}

class Server {
  public:
    Server(int listen_fd, const ServerConfig& config)
        : listen_fd_(listen_fd), config_(config), reserve_(open_reserve()) {
        store_.set_max_decoded(wire::max_decoded_for(config_.max_frame));
        store_.set_registry(config_.registry);
        python_.exposes = config_.expose;
        python_.address = python::token_address(config_.address);
    }
    ~Server() {
        if (reserve_ >= 0) ::close(reserve_);
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    void run() {
        epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (epoll_ < 0) {
            throw Error(errno,
                        std::string("manager server: epoll_create1: ") + std::strerror(errno));
        }
        struct CloseEpoll {
            int& fd;
            ~CloseEpoll() {
                ::close(fd);
                fd = -1;
            }
        } close_epoll{epoll_};
        // epoll, not poll: a round costs the connections that have events, not every
        // connection (1,000 clients parked in blocking calls cost nothing per request).
        watch(listen_fd_, EPOLLIN, &listen_tag_);
        if (config_.lifeline_fd >= 0) watch(config_.lifeline_fd, EPOLLIN, &lifeline_tag_);
        bool listen_watched = true;
        std::vector<epoll_event> events(256);
        std::vector<Connection*> active;
        std::vector<ConnId> touched;
        // Adaptive wait: until this time the loop polls (timeout 0) instead of sleeping.
        Clock::time_point spin_until{};
        AdaptiveSpin spinner;
        while (!store_.shutdown_requested()) {
            if (config_.honour_stop && stop_requested()) break;
            // The clock is read only when something has a deadline (a handshake, a parked
            // call, a pause in accepting, the adaptive wait).
            bool timed = pending_ > 0 || store_.next_deadline() || !listen_watched ||
                         accept_paused_until_ != Clock::time_point{} || config_.spin.count() > 0;
            Clock::time_point now = timed ? Clock::now() : Clock::time_point{};
            expire(now);
            store_.expire(now);  // parked requests whose timeout passed are answered
            bool listening = now >= accept_paused_until_;
            if (listening != listen_watched) {
                epoll_event ev{};
                ev.events = listening ? static_cast<std::uint32_t>(EPOLLIN) : 0u;
                ev.data.ptr = &listen_tag_;
                ::epoll_ctl(epoll_, EPOLL_CTL_MOD, listen_fd_, &ev);
                listen_watched = listening;
            }
            // Connections that another's request (or a timeout) answered: send now, and
            // watch for room to send the rest (a dead one reports its hang-up to the wait).
            store_.take_touched(touched);
            for (ConnId id : touched) {
                auto it = by_id_.find(id);
                if (it == by_id_.end()) continue;
                Connection& c = *it->second;
                send_and_answer_held(c);
                if (!c.dead) update_interest(c);
            }
            // The timeout bounds the wait for a stop signal that lands between the check
            // above and the wait, and wakes the loop for the oldest handshake's deadline,
            // the end of a pause in accepting and the earliest deadline of a parked request
            // (kept ordered by the store: no per-waiter polling); every other event wakes
            // the loop directly.
            int timeout = config_.honour_stop ? 500 : -1;
            if (const Connection* oldest = oldest_pending()) {
                timeout = wait_ms(now, oldest->deadline, timeout);
            }
            if (!listening) timeout = wait_ms(now, accept_paused_until_, timeout);
            if (auto next = store_.next_deadline()) timeout = wait_ms(now, *next, timeout);
            bool spinning = now < spin_until && spinner.allowed(now);
            if (spinning) timeout = 0;
            int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()), timeout);
            if (n < 0) {
                if (errno == EINTR) continue;
                throw Error(errno,
                            std::string("manager server: epoll_wait: ") + std::strerror(errno));
            }
            if (n > 0 && config_.spin.count() > 0) {
                spin_until = Clock::now() + config_.spin;
            } else if (spinning && !spinner.pause(config_.spin, spin_until)) {
                spin_until = {};
            }
            bool accept_ready = false;
            bool owner_gone = false;
            active.clear();
            for (int k = 0; k < n; ++k) {
                void* tag = events[static_cast<std::size_t>(k)].data.ptr;
                if (tag == &listen_tag_) {
                    accept_ready = (events[static_cast<std::size_t>(k)].events & EPOLLIN) != 0;
                } else if (tag == &lifeline_tag_) {
                    owner_gone = true;
                } else {
                    auto* c = static_cast<Connection*>(tag);
                    c->revents = events[static_cast<std::size_t>(k)].events;
                    active.push_back(c);
                }
            }
            if (owner_gone) break;  // the owner is gone
            // Connections whose peer has gone are dropped before any request of this round
            // is answered, so that a client that saw another die (and reaped it) and then
            // asks for stats sees the dead one's references released.
            // Only the connections with events are visited: a round costs what happened, not
            // the number of connections.
            for (Connection* c : active) {
                if (c->revents & (EPOLLHUP | EPOLLERR | EPOLLRDHUP)) c->dead = true;
            }
            reap_some(active);
            for (Connection* c : active) {
                if (c->revents & EPOLLIN) readable(*c);
                send_and_answer_held(*c);
                if (!c->dead && c->closing && c->out_sent == c->out.size()) c->dead = true;
                c->revents = 0;
                if (!c->dead) update_interest(*c);
            }
            reap_some(active);
            if (accept_ready) accept_some();
        }
        connections_.clear();
    }

    // serve_connection (server.hpp): one connection through the read path of run().
    ReadPathOutcome serve_one(int fd, const std::string& challenge) {
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        Connection& c = add_connection(fd, challenge);
        ReadPathOutcome outcome;
        while (!c.dead && !c.closing && !store_.shutdown_requested()) {
            int unread = 0;
            if (::ioctl(c.fd, FIONREAD, &unread) != 0 || unread == 0) break;  // all read
            readable(c);
            if (!c.dead && c.out_sent < c.out.size()) flush(c);
            int left = 0;  // nothing read: the server waits for the peer to read first
            if (!c.dead && ::ioctl(c.fd, FIONREAD, &left) == 0 && left >= unread) break;
        }
        if (!c.dead && c.out_sent < c.out.size()) flush(c);
        outcome.authenticated = c.authenticated;
        c.dead = true;
        reap();
        // The peer is gone with its connection (a Python client's references go too).
        for (const auto& [session, s] : python_sessions_)
            store_.release_session(session);
        python_sessions_.clear();
        outcome.objects = store_.object_count();
        outcome.named = store_.named_count();
        outcome.sessions = store_.session_count();
        return outcome;
    }

  private:
    void watch(int fd, std::uint32_t events, void* tag) {
        epoll_event ev{};
        ev.events = events;
        ev.data.ptr = tag;
        if (::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
            throw Error(errno, std::string("manager server: epoll_ctl: ") + std::strerror(errno));
        }
    }

    // Watches what the connection's state asks for (changed with epoll_ctl only when it
    // changes).
    void update_interest(Connection& c) {
        if (epoll_ < 0) return;
        std::uint32_t wanted = EPOLLRDHUP;
        if (!c.closing && !backlogged(c)) wanted |= EPOLLIN;
        if (c.out_sent < c.out.size()) wanted |= EPOLLOUT;
        if (wanted == c.interest) return;
        epoll_event ev{};
        ev.events = wanted;
        ev.data.ptr = &c;
        if (::epoll_ctl(epoll_, c.interest == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c.fd, &ev) == 0) {
            c.interest = wanted;
        }
    }

    // Sends, and answers the requests held back while the output was over its cap, until
    // the kernel takes no more (then EPOLLOUT resumes) or none is left: the loop must not
    // wait for input on requests already read. Every flush is followed by this, wherever
    // it happens: a flush that drains the output leaves no event to wake the loop for the
    // requests still held in the reader.
    void send_and_answer_held(Connection& c) {
        if (c.python) {
            c.python->pump();
            if (c.python->finished()) c.closing = true;
        }
        for (;;) {
            if (!c.dead && c.out_sent < c.out.size()) flush(c);
            if (c.dead || c.closing || backlogged(c) || process(c) == 0) break;
        }
    }

    static int open_reserve() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

    bool backlogged(const Connection& c) const {
        return c.out.size() - c.out_sent > config_.max_unsent;
    }

    const Connection* oldest_pending() const {
        if (pending_ == 0) return nullptr;
        for (const auto& c : connections_) {
            if (!c->authenticated) return c.get();
        }
        return nullptr;
    }

    // Closes the connections that did not authenticate in time.
    void expire(Clock::time_point now) {
        if (pending_ == 0) return;
        for (auto& c : connections_) {
            if (!c->authenticated && now >= c->deadline) c->dead = true;
        }
        reap();
    }

    // Closes the oldest connection still waiting to authenticate; false when there is none.
    bool drop_oldest_pending() {
        if (pending_ == 0) return false;
        for (auto it = connections_.begin(); it != connections_.end(); ++it) {
            if (!(*it)->authenticated) {
                erase(it);
                store_.set_connection_count(connections_.size());
                return true;
            }
        }
        return false;
    }

    bool connection_waiting() const {
        pollfd p{listen_fd_, POLLIN, 0};
        return ::poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
    }

    // Accepts what is waiting, a bounded number per round so that a flood of connections
    // does not starve the connected clients.
    void accept_some() {
        if (reserve_ < 0) reserve_ = open_reserve();  // lost when the system ran out (ENFILE)
        for (int n = 0; n < 64; ++n) {
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                int error = errno;
                if (error == EAGAIN || error == EWOULDBLOCK) return;
                if (error == EMFILE || error == ENFILE) {
                    // Out of descriptors (accept says so even when no connection waits).
                    if (!connection_waiting()) return;
                    // One waits, and the listening socket stays readable: waiting would
                    // spin. Make room by closing the oldest unauthenticated connection;
                    // failing that, accept with the reserved descriptor and close at once
                    // (the client sees the connection closed rather than a silent timeout).
                    if (drop_oldest_pending()) continue;
                    if (reserve_ >= 0) {
                        ::close(reserve_);
                        int refused = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
                        if (refused >= 0) ::close(refused);
                        reserve_ = open_reserve();
                        if (refused >= 0) continue;
                    }
                }
                if (error == EINTR || error == ECONNABORTED) continue;
                // Nothing to free now (or another failure): stop accepting for a moment
                // rather than spin on a listening socket that stays readable.
                accept_paused_until_ = Clock::now() + std::chrono::milliseconds(100);
                return;
            }
            if (pending_ >= config_.max_pending) drop_oldest_pending();
            add_connection(fd, wire::random_bytes(wire::challenge_size));
        }
    }

    // A new connection, not authenticated yet: greets it with its challenge.
    Connection& add_connection(int fd, std::string challenge) {
        connections_.push_back(std::make_unique<Connection>(
            next_conn_id_++, fd, config_.max_frame, Clock::now() + config_.handshake_timeout));
        Connection& c = *connections_.back();
        c.self = std::prev(connections_.end());
        by_id_[c.id] = &c;
        c.challenge = std::move(challenge);
        append_raw_frame(c.out, wire::greeting(c.challenge));
        flush(c);
        update_interest(c);
        ++pending_;
        store_.set_connection_count(connections_.size());
        return c;
    }

    static void append_raw_frame(std::string& out, std::string_view payload) {
        std::size_t start = wire::begin_frame(out);
        out.append(payload);
        wire::end_frame(out, start);
    }

    void readable(Connection& c) {
        // Before authentication, read no more than a handshake frame at a time: a silent or
        // slow connection holds a small buffer, not a 64 KiB one.
        std::size_t chunk =
            c.authenticated ? wire::read_chunk : wire::handshake_max_frame + std::size_t{4};
        for (int rounds = 0; rounds < 16 && !c.dead && !c.closing && !backlogged(c); ++rounds) {
            char* room = c.reader.prepare(chunk);
            ssize_t n = ::recv(c.fd, room, chunk, 0);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK) c.dead = true;
                break;
            }
            if (n == 0) {
                c.dead = true;
                break;
            }
            c.reader.commit(static_cast<std::size_t>(n));
            process(c);
            if (static_cast<std::size_t>(n) < chunk) break;
        }
    }

    // Handles the whole frames read so far, until the output is over its cap; returns how
    // many it handled.
    std::size_t process(Connection& c) {
        std::size_t handled = 0;
        try {
            std::string_view payload;
            while (!c.dead && !c.closing && !backlogged(c) && !(c.python && c.python->busy()) &&
                   c.reader.next(payload)) {
                handle(c, payload);
                ++handled;
            }
        } catch (const std::exception&) {
            c.dead = true;  // malformed or oversized frame: drop this connection only
        }
        return handled;
    }

    void handle(Connection& c, std::string_view payload) {
        if (!c.authenticated) {
            authenticate(c, payload);
            return;
        }
        if (c.python) {
            c.python->request(payload);
            if (c.python->finished()) c.closing = true;
            return;
        }
        store_.handle(c.id, payload);
    }

    // The first answer to the greeting says who the client is: an ipckit client's starts with
    // wire::answer_marker; anything else is taken as a Python client's HMAC of the challenge
    // (and the handshake goes on as Python's Server does it).
    void authenticate(Connection& c, std::string_view payload) {
        using Stage = Connection::Stage;
        if (c.stage == Stage::python_challenge) {
            // The Python client's challenge to us.
            std::string_view tag = wire::python_challenge_tag;
            if (payload.substr(0, tag.size()) != tag || payload.size() < tag.size() + 20) {
                throw ValueError("bad handshake");
            }
            append_raw_frame(c.out, ::ipckit::python::create_response(config_.authkey,
                                                                      payload.substr(tag.size())));
            c.stage = Stage::python_welcome;
            return;
        }
        if (c.stage == Stage::python_welcome) {
            if (payload != ::ipckit::python::welcome) throw ValueError("bad handshake");
            open_python(c);
            return;
        }
        if (payload.substr(0, wire::answer_marker.size()) != wire::answer_marker) {
            std::string greeting = wire::greeting(c.challenge);
            if (!::ipckit::python::verify_response(config_.authkey, wire::python_message(greeting),
                                                   payload)) {
                append_raw_frame(c.out, ::ipckit::python::failure);
                c.closing = true;
                return;
            }
            append_raw_frame(c.out, ::ipckit::python::welcome);
            c.stage = Stage::python_challenge;
            return;
        }
        Object reply =
            wire::parse_client_answer(payload, wire::max_decoded_for(wire::handshake_max_frame));
        const auto& fields = reply.as_list();
        if (fields.size() != 3) throw ValueError("bad handshake");
        const std::string& proof = fields[0].as_bytes();
        const std::string& client_challenge = fields[1].as_bytes();
        const std::string& session = fields[2].as_bytes();
        if (client_challenge.size() != wire::challenge_size ||
            session.size() != wire::session_size) {
            throw ValueError("bad handshake");
        }
        std::string expected = wire::hmac(config_.authkey, "client", c.challenge, client_challenge);
        if (!wire::equal_digests(proof, expected)) {
            wire::append_frame(c.out,
                               Object::list({false, "authentication failed: wrong authkey"}));
            c.closing = true;
            return;
        }
        c.authenticated = true;
        c.stage = Connection::Stage::done;
        --pending_;
        c.session = session;
        c.reader.set_max_frame(c.max_frame_after_auth);
        store_.open_connection(c.id, c.session, &c.out);
        wire::append_frame(
            c.out, Object::list({true, Object::bytes(wire::hmac(config_.authkey, "server",
                                                                client_challenge, c.challenge))}));
    }

    // A Python client authenticated: its references are held by its process (found from the
    // socket, python_server.hpp), and dropped when that process is gone (not when its
    // connections close: it opens one per create/incref/decref).
    void open_python(Connection& c) {
        c.authenticated = true;
        c.stage = Connection::Stage::done;
        --pending_;
        c.reader.set_max_frame(c.max_frame_after_auth);
        std::vector<int> likely;
        for (const auto& [session, s] : python_sessions_)
            likely.push_back(s.process.pid);
        auto process = python::peer_process(c.fd, likely);
        std::string session = process ? "python:" + std::to_string(process->pid) + ":" +
                                            std::to_string(process->start_time)
                                      : std::string("python:elsewhere");
        auto [it, fresh] = python_sessions_.try_emplace(session);
        if (fresh) {
            it->second.process = process.value_or(python::Process{});
            it->second.known = process.has_value();
            store_.hold_session(session);
        }
        ++it->second.connections;
        c.python_session = session;
        c.python = std::make_unique<python::Peer>(store_, python_, c.id, c.out, session);
        c.python->open();
    }

    // Drops the references of the Python client processes that are gone.
    void sweep_python() {
        for (auto it = python_sessions_.begin(); it != python_sessions_.end();) {
            if (it->second.known && !python::running(it->second.process)) {
                store_.release_session(it->first);
                it = python_sessions_.erase(it);
            } else {
                ++it;
            }
        }
    }

    void flush(Connection& c) {
        while (c.out_sent < c.out.size()) {
            ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK) c.dead = true;
                // A client that keeps the output from ever draining must not make it grow
                // by what was already sent.
                if (c.out_sent >= config_.max_unsent) {
                    c.out.erase(0, c.out_sent);
                    c.out_sent = 0;
                }
                return;
            }
            c.out_sent += static_cast<std::size_t>(n);
        }
        c.out.clear();
        c.out_sent = 0;
        if (c.out.capacity() > (1u << 20)) c.out.shrink_to_fit();
        // Every answer is in the socket now: items handed over in them are delivered (a
        // connection that dies before this gives them back to their queue).
        if (c.authenticated) store_.delivered(c.id);
    }

    void erase(std::list<std::unique_ptr<Connection>>::iterator it) {
        bool python = (*it)->python != nullptr;
        if ((*it)->authenticated) {
            store_.close_connection((*it)->id);
        } else {
            --pending_;
        }
        if (python) {
            auto s = python_sessions_.find((*it)->python_session);
            if (s != python_sessions_.end() && s->second.connections > 0) --s->second.connections;
        }
        by_id_.erase((*it)->id);
        connections_.erase(it);
        if (python) sweep_python();
    }

    // Erases the dead connections among `some` (and removes them from it).
    void reap_some(std::vector<Connection*>& some) {
        bool changed = false;
        std::size_t kept = 0;
        for (Connection* c : some) {
            if (c->dead) {
                erase(c->self);
                changed = true;
            } else {
                some[kept++] = c;
            }
        }
        some.resize(kept);
        if (changed) store_.set_connection_count(connections_.size());
    }

    void reap() {
        bool changed = false;
        for (auto it = connections_.begin(); it != connections_.end();) {
            if ((*it)->dead) {
                erase(it++);
                changed = true;
            } else {
                ++it;
            }
        }
        if (changed) store_.set_connection_count(connections_.size());
    }

    int listen_fd_;
    const ServerConfig& config_;
    Store store_;
    python::Shared python_;
    struct PythonSession {
        python::Process process;
        bool known = false;  // process found (else the references live as in Python's server)
        std::size_t connections = 0;
    };
    std::map<std::string, PythonSession> python_sessions_;
    std::list<std::unique_ptr<Connection>> connections_;
    std::size_t pending_ = 0;  // connections not authenticated yet
    ConnId next_conn_id_ = 1;
    std::unordered_map<ConnId, Connection*> by_id_;
    int epoll_ = -1;  // run()'s
    char listen_tag_ = 0, lifeline_tag_ = 0;
    int reserve_;  // a spare descriptor, to accept and close when out of them
    Clock::time_point accept_paused_until_{};
};

}  // namespace

void run_server(int listen_fd, const ServerConfig& config) {
    Server server(listen_fd, config);
    server.run();
}

ReadPathOutcome serve_connection(int fd, const ServerConfig& config, const std::string& challenge) {
    Server server(-1, config);
    return server.serve_one(fd, challenge);
}

}  // namespace ipckit::detail
