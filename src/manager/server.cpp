// The manager server: accepts connections, authenticates them, answers requests.
#include "server.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <list>
#include <memory>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/signals.hpp"
#include "store.hpp"
#include "wire.hpp"

namespace ipckit::detail {
namespace {

struct Connection {
    explicit Connection(int descriptor, std::size_t max_frame)
        : fd(descriptor), reader(wire::handshake_max_frame), max_frame_after_auth(max_frame) {}
    ~Connection() { ::close(fd); }
    int fd;
    wire::FrameReader reader;
    std::size_t max_frame_after_auth;
    std::string out;
    std::size_t out_sent = 0;
    std::string challenge;
    std::string session;
    bool authenticated = false;
    bool closing = false;  // flush `out`, then close (after a failed authentication)
    bool dead = false;
};

class Server {
  public:
    Server(int listen_fd, const ServerConfig& config) : listen_fd_(listen_fd), config_(config) {}

    void run() {
        std::vector<pollfd> fds;
        while (!store_.shutdown_requested()) {
            if (config_.honour_stop && stop_requested()) break;
            fds.clear();
            fds.push_back({listen_fd_, POLLIN, 0});
            if (config_.lifeline_fd >= 0) fds.push_back({config_.lifeline_fd, POLLIN, 0});
            std::size_t first = fds.size();
            for (auto& c : connections_) {
                short events = c->closing ? POLLRDHUP : (POLLIN | POLLRDHUP);
                if (c->out_sent < c->out.size()) events |= POLLOUT;
                fds.push_back({c->fd, events, 0});
            }
            // The timeout only bounds the wait for a stop signal that lands between the
            // check above and poll; every other event wakes poll directly.
            int rc = ::poll(fds.data(), fds.size(), config_.honour_stop ? 500 : -1);
            if (rc < 0) {
                if (errno == EINTR) continue;
                throw Error(errno, std::string("manager server: poll: ") + std::strerror(errno));
            }
            if (config_.lifeline_fd >= 0 && fds[1].revents) break;  // the owner is gone
            // Connections whose peer has gone are dropped before any request of this round
            // is answered, so that a client that saw another die (and reaped it) and then
            // asks for stats sees the dead one's references released.
            std::size_t i = first;
            for (auto& c : connections_) {
                if (fds[i++].revents & (POLLHUP | POLLERR | POLLRDHUP)) c->dead = true;
            }
            reap();
            i = first;
            for (auto& c : connections_) {
                while (fds[i].fd != c->fd)
                    ++i;  // skip the entries of the reaped ones
                short revents = fds[i++].revents;
                if (revents & POLLIN) readable(*c);
                if (!c->dead && c->out_sent < c->out.size()) flush(*c);
                if (!c->dead && c->closing && c->out_sent == c->out.size()) c->dead = true;
            }
            reap();
            if (fds[0].revents & POLLIN) accept_all();
        }
        connections_.clear();
    }

    // serve_connection (server.hpp): one connection through the read path of run().
    ReadPathOutcome serve_one(int fd, const std::string& challenge) {
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
        connections_.push_back(std::make_unique<Connection>(fd, config_.max_frame));
        Connection& c = *connections_.back();
        c.challenge = challenge;
        wire::append_frame(
            c.out, Object::list({wire::magic, wire::protocol_version, Object::bytes(c.challenge)}));
        flush(c);
        store_.set_connection_count(connections_.size());
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
        outcome.objects = store_.object_count();
        outcome.named = store_.named_count();
        outcome.sessions = store_.session_count();
        return outcome;
    }

  private:
    void accept_all() {
        for (;;) {
            int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno == EINTR) continue;
                return;  // EAGAIN, or out of descriptors: try again on the next wake-up
            }
            auto c = std::make_unique<Connection>(fd, config_.max_frame);
            c->challenge = wire::random_bytes(wire::challenge_size);
            wire::append_frame(c->out, Object::list({wire::magic, wire::protocol_version,
                                                     Object::bytes(c->challenge)}));
            flush(*c);
            connections_.push_back(std::move(c));
            store_.set_connection_count(connections_.size());
        }
    }

    void readable(Connection& c) {
        for (int rounds = 0; rounds < 16 && !c.dead; ++rounds) {
            char* room = c.reader.prepare(wire::read_chunk);
            ssize_t n = ::recv(c.fd, room, wire::read_chunk, 0);
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
            try {
                std::string_view payload;
                while (!c.closing && c.reader.next(payload))
                    handle(c, payload);
            } catch (const std::exception&) {
                c.dead = true;  // malformed or oversized frame: drop this connection only
            }
            if (static_cast<std::size_t>(n) < wire::read_chunk) break;
        }
    }

    void handle(Connection& c, std::string_view payload) {
        if (!c.authenticated) {
            authenticate(c, payload);
            return;
        }
        store_.handle(c.session, payload, c.out);
    }

    void authenticate(Connection& c, std::string_view payload) {
        Object reply = wire::decode(payload);
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
        c.session = session;
        c.reader.set_max_frame(c.max_frame_after_auth);
        store_.open_session(c.session);
        wire::append_frame(
            c.out, Object::list({true, Object::bytes(wire::hmac(config_.authkey, "server",
                                                                client_challenge, c.challenge))}));
    }

    void flush(Connection& c) {
        while (c.out_sent < c.out.size()) {
            ssize_t n = ::send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent,
                               MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR) continue;
                if (errno != EAGAIN && errno != EWOULDBLOCK) c.dead = true;
                return;
            }
            c.out_sent += static_cast<std::size_t>(n);
        }
        c.out.clear();
        c.out_sent = 0;
        if (c.out.capacity() > (1u << 20)) c.out.shrink_to_fit();
    }

    void reap() {
        bool changed = false;
        for (auto it = connections_.begin(); it != connections_.end();) {
            if ((*it)->dead) {
                if ((*it)->authenticated) store_.close_session((*it)->session);
                it = connections_.erase(it);
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
    std::list<std::unique_ptr<Connection>> connections_;
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
