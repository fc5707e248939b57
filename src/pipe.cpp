// ipckit::Pipe and Connection (include/ipckit/pipe.hpp).
#include "ipckit/pipe.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "ipckit/signals.hpp"
#include "manager/wire.hpp"
#include "sysv/interrupt_timer.hpp"

namespace ipckit {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::size_t read_chunk = std::size_t{64} * 1024;
constexpr std::uint32_t long_marker = 0xffffffffu;

void put_be(unsigned char* out, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) {
        out[i] = static_cast<unsigned char>(v & 0xff);
        v >>= 8;
    }
}
std::uint64_t get_be(const unsigned char* in, int bytes) {
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i)
        v = (v << 8) | in[i];
    return v;
}

}  // namespace

Connection& Connection::operator=(Connection&& other) noexcept {
    if (this != &other) {
        close();
        fd_ = std::exchange(other.fd_, -1);
        readable_ = other.readable_;
        writable_ = other.writable_;
        in_ = std::move(other.in_);
        start_ = std::exchange(other.start_, 0);
        eof_ = other.eof_;
    }
    return *this;
}

void Connection::close() noexcept {
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
    in_.clear();
    start_ = 0;
}

void Connection::check_open(bool for_reading) const {
    if (fd_ < 0) throw ValueError(EBADF, "connection: used after close()");
    if (for_reading && !readable_) {
        throw ValueError(EBADF, "connection is write-only (the writer of Pipe(false))");
    }
    if (!for_reading && !writable_) {
        throw ValueError(EBADF, "connection is read-only (the reader of Pipe(false))");
    }
}

void Connection::send_bytes(std::string_view data) {
    send_bytes(std::as_bytes(std::span(data.data(), data.size())));
}

void Connection::send_bytes(std::span<const std::byte> data) {
    check_open(false);
    unsigned char header[12];
    std::size_t header_size = 4;
    if (data.size() >= long_marker) {
        put_be(header, long_marker, 4);
        put_be(header + 4, data.size(), 8);
        header_size = 12;
    } else {
        put_be(header, data.size(), 4);
    }
    iovec parts[2] = {{header, header_size}, {const_cast<std::byte*>(data.data()), data.size()}};
    std::size_t total = header_size + data.size(), sent = 0;
    std::optional<detail::InterruptTimer> timer;
    while (sent < total) {
        if (timer && stop_requested()) {
            if (sent > 0) close();  // the stream is cut mid-message: unusable
            throw InterruptedError(EINTR, "connection: send stopped (a stop was requested)");
        }
        // Skip what was sent already.
        iovec left[2];
        int count = 0;
        std::size_t skip = sent;
        for (auto& part : parts) {
            if (skip >= part.iov_len) {
                skip -= part.iov_len;
                continue;
            }
            left[count++] = {static_cast<char*>(part.iov_base) + skip, part.iov_len - skip};
            skip = 0;
        }
        msghdr message{};
        message.msg_iov = left;
        message.msg_iovlen = static_cast<decltype(message.msg_iovlen)>(count);
        // Without blocking first: the timer that lets a stop request in costs system calls.
        ssize_t n = ::sendmsg(fd_, &message, MSG_NOSIGNAL | (timer ? 0 : MSG_DONTWAIT));
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && !timer) {
            timer.emplace();
            continue;
        }
        if (n >= 0) {
            sent += static_cast<std::size_t>(n);
            continue;
        }
        if (errno == EINTR) continue;
        const int err = errno;
        if (err == EPIPE || err == ECONNRESET) {
            throw ConnectionError(err, "connection: send failed: the other end is closed");
        }
        throw Error(err, std::string("connection: send failed: ") + std::strerror(err));
    }
}

bool Connection::frame_ready(std::size_t& header, std::size_t& length) const {
    const std::size_t have = in_.size() - start_;
    if (have < 4) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(in_.data() + start_);
    std::uint64_t n = get_be(p, 4);
    header = 4;
    if (n == long_marker) {
        if (have < 12) return false;
        n = get_be(p + 4, 8);
        header = 12;
    }
    length = static_cast<std::size_t>(n);
    return have - header >= length;
}

// Reads what is available (waiting at most `timeout`, or without limit) into in_.
bool Connection::fill(std::optional<std::chrono::nanoseconds> timeout) {
    std::optional<Clock::time_point> deadline;
    if (timeout) deadline = Clock::now() + *timeout;
    std::optional<detail::InterruptTimer> timer;
    for (;;) {
        int wait_ms = -1;
        if (deadline) {
            auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - Clock::now());
            wait_ms = static_cast<int>(std::max<std::int64_t>(0, left.count()));
        }
        if (wait_ms != 0) {
            if (!timer) timer.emplace();
            if (stop_requested()) {
                throw InterruptedError(EINTR, "connection: receive stopped (a stop was requested)");
            }
        }
        pollfd pfd{fd_, POLLIN, 0};
        int r = ::poll(&pfd, 1, wait_ms);
        if (r < 0) {
            if (errno == EINTR) continue;
            throw Error(errno, std::string("connection: poll failed: ") + std::strerror(errno));
        }
        if (r == 0) return false;
        if (start_ > 0 && start_ * 2 >= in_.size()) {
            in_.erase(0, start_);
            start_ = 0;
        }
        const std::size_t old = in_.size();
        in_.resize(old + read_chunk);
        ssize_t n = ::recv(fd_, in_.data() + old, read_chunk, MSG_DONTWAIT);
        in_.resize(old + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
        if (n > 0) return true;
        if (n == 0) {
            eof_ = true;
            return true;
        }
        if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
        if (errno == ECONNRESET) {
            eof_ = true;
            return true;
        }
        throw Error(errno, std::string("connection: receive failed: ") + std::strerror(errno));
    }
}

std::string Connection::recv_bytes(std::size_t maxlength) {
    check_open(true);
    std::size_t header = 0, length = 0;
    for (;;) {
        header = length = 0;
        const bool ready = frame_ready(header, length);
        if (header != 0 && length > maxlength) {
            close();
            throw ValueError(EMSGSIZE, "connection: a message of " + std::to_string(length) +
                                           " bytes is longer than maxlength " +
                                           std::to_string(maxlength) +
                                           " (the connection is closed)");
        }
        if (ready) break;
        if (eof_) {
            const bool partial = in_.size() > start_;
            throw EOFError(0, partial ? "connection: the other end closed in the middle of a "
                                        "message"
                                      : "connection: the other end is closed (EOF)");
        }
        fill(std::nullopt);
    }
    std::string out = in_.substr(start_ + header, length);
    start_ += header + length;
    if (start_ == in_.size()) {
        in_.clear();
        start_ = 0;
    }
    return out;
}

void Connection::send(const Object& object) {
    std::string encoded;
    detail::wire::encode(encoded, object);
    send_bytes(encoded);
}

Object Connection::recv() {
    return detail::wire::decode(recv_bytes());
}

bool Connection::poll(std::optional<std::chrono::nanoseconds> timeout) {
    check_open(true);
    std::size_t header = 0, length = 0;
    if (frame_ready(header, length) || eof_) return true;
    std::optional<Clock::time_point> deadline;
    if (timeout) deadline = Clock::now() + *timeout;
    for (;;) {
        std::optional<std::chrono::nanoseconds> left;
        if (deadline)
            left = std::max(std::chrono::nanoseconds(0),
                            std::chrono::nanoseconds(*deadline - Clock::now()));
        if (!fill(left)) return false;
        if (frame_ready(header, length) || eof_) return true;
        if (deadline && Clock::now() >= *deadline) return false;
    }
}

std::pair<Connection, Connection> Pipe(bool duplex) {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
        throw Error(errno, std::string("Pipe: socketpair failed: ") + std::strerror(errno) +
                               " (too many open files? raise ulimit -n)");
    }
    if (duplex) return {Connection(fds[0], true, true), Connection(fds[1], true, true)};
    ::shutdown(fds[0], SHUT_WR);
    ::shutdown(fds[1], SHUT_RD);
    return {Connection(fds[0], true, false), Connection(fds[1], false, true)};
}

}  // namespace ipckit
