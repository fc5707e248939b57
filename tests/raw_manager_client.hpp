// A manager client speaking the wire protocol by hand, so that tests can misbehave on
// purpose: half frames, garbage, requests it never reads the answers of. Tests that use it
// need the library's internal headers (target_include_directories ... src).
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "ipckit/object.hpp"
#include "manager/net.hpp"
#include "manager/wire.hpp"

namespace ipckit::test {

class RawClient {
  public:
    // Connects to "unix:PATH" or "tcp://HOST:PORT"; the socket blocks (sends are whole).
    explicit RawClient(const std::string& address)
        : fd_(detail::connect_to(detail::parse_address(address), address,
                                 std::chrono::steady_clock::now() + std::chrono::seconds(20))) {
        ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) & ~O_NONBLOCK);
    }
    ~RawClient() { ::close(fd_); }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;
    int fd() const { return fd_; }

    void send(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) throw std::runtime_error("raw send failed");
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
    }
    void send_frame(const Object& o) {
        std::string out;
        detail::wire::append_frame(out, o);
        send(out);
    }
    void send_payload(std::string_view payload) {
        std::string out;
        std::size_t start = detail::wire::begin_frame(out);
        out.append(payload);
        detail::wire::end_frame(out, start);
        send(out);
    }
    // The next frame's payload, or nullopt when the server closed the connection.
    std::optional<std::string> read_payload() {
        std::string_view payload;
        while (!reader_.next(payload)) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 20000) != 1) throw std::runtime_error("raw read timed out");
            char* room = reader_.prepare(std::size_t{1} << 16);
            ssize_t n = ::recv(fd_, room, std::size_t{1} << 16, 0);
            if (n <= 0) return std::nullopt;
            reader_.commit(static_cast<std::size_t>(n));
        }
        return std::string(payload);
    }
    std::optional<Object> read_frame() {
        auto payload = read_payload();
        if (!payload) return std::nullopt;
        return detail::wire::decode(*payload, detail::wire::max_depth + 8);
    }
    // True when the server closes the connection (after answering nothing more) within 20 s.
    bool closed_by_server() {
        for (;;) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 20000) != 1) return false;
            char buffer[4096];
            ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n <= 0) return true;
        }
    }
    // The handshake with `authkey`: true when the server accepted the proof.
    bool authenticate(const std::string& authkey) {
        namespace wire = detail::wire;
        auto hello = read_payload();
        if (!hello) return false;
        std::string server_challenge;
        if (!wire::parse_greeting(*hello, server_challenge)) return false;
        std::string mine = wire::random_bytes(wire::challenge_size);
        send_payload(wire::client_answer(Object::list(
            {Object::bytes(wire::hmac(authkey, "client", server_challenge, mine)),
             Object::bytes(mine), Object::bytes(wire::random_bytes(wire::session_size))})));
        auto answer = read_frame();
        return answer && answer->as_list().at(0).as_bool();
    }
    Object request(std::int64_t op, std::int64_t id, Object::List args = {}) {
        Object::List fields{op, id};
        for (auto& a : args)
            fields.push_back(std::move(a));
        send_frame(Object(std::move(fields)));
        auto response = read_frame();
        if (!response) throw std::runtime_error("server closed the connection");
        return *response;
    }

  private:
    int fd_;
    detail::wire::FrameReader reader_{std::size_t{256} << 20};
};

}  // namespace ipckit::test
