// ipckit::Pipe: multiprocessing.Pipe, two connected ends over a Unix socket pair.
//
//   auto [parent_end, child_end] = ipckit::Pipe();
//   ipckit::Process p([&end = child_end] { end.send(ipckit::Object::list({42, "hello"})); });
//   p.start();
//   std::cout << parent_end.recv() << '\n';     // [42, 'hello']
//   p.join();
//
// Pipe(duplex = true) returns two Connections that both send and receive; Pipe(false)
// returns (reader, writer), as Python's. Messages are length-prefixed frames (a 4-byte
// big-endian length, or 0xffffffff and an 8-byte length for 2 GiB or more): send_bytes and
// recv_bytes carry bytes, send and recv carry ipckit::Object values (the manager's
// MessagePack encoding). A child forked after Pipe() holds both ends, as in Python; each
// process closes the ends it does not use (close(), or the destructor).
//
// Errors: recv on a connection whose other end is closed (and nothing is left to read)
// throws EOFError; send to a closed peer throws ConnectionError (EPIPE, no SIGPIPE);
// using a closed Connection, or the wrong end of a one-way pipe, throws ValueError.
// recv, recv_bytes and a blocking poll are woken by request_stop() (InterruptedError); a
// message partly read when that happens is kept for the next recv.
#pragma once

#include <chrono>
#include <cstddef>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "ipckit/error.hpp"
#include "ipckit/object.hpp"

namespace ipckit {

// Python's EOFError: the other end closed and no message is left.
class EOFError : public Error {
  public:
    using Error::Error;
};

class Connection {
  public:
    Connection() = default;
    // Takes ownership of `fd`, a connected stream socket.
    Connection(int fd, bool readable, bool writable) noexcept
        : fd_(fd), readable_(readable), writable_(writable) {}
    Connection(Connection&& other) noexcept
        : fd_(std::exchange(other.fd_, -1)),
          readable_(other.readable_),
          writable_(other.writable_),
          in_(std::move(other.in_)),
          start_(std::exchange(other.start_, 0)),
          eof_(other.eof_) {}
    Connection& operator=(Connection&& other) noexcept;
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;
    ~Connection() { close(); }

    void send_bytes(std::span<const std::byte> data);
    void send_bytes(std::string_view data);
    // The next message, whole. A message longer than `maxlength` closes the connection and
    // throws ValueError (as Python's OSError "bad message length").
    std::string recv_bytes(std::size_t maxlength = std::numeric_limits<std::size_t>::max());

    void send(const Object& object);
    Object recv();

    // Whether a message (or EOF) is ready to read, waiting at most `timeout`; nullopt waits
    // without limit. Python's poll(): poll() returns at once.
    bool poll(std::optional<std::chrono::nanoseconds> timeout = std::chrono::nanoseconds(0));
    template <class Rep, class Period>
    bool poll(std::chrono::duration<Rep, Period> timeout) {
        return poll(std::optional<std::chrono::nanoseconds>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(timeout)));
    }

    void close() noexcept;
    bool closed() const noexcept { return fd_ < 0; }
    bool readable() const noexcept { return readable_; }
    bool writable() const noexcept { return writable_; }
    int fileno() const noexcept { return fd_; }

  private:
    void check_open(bool for_reading) const;
    bool frame_ready(std::size_t& header, std::size_t& length) const;
    bool fill(std::optional<std::chrono::nanoseconds> timeout);  // false: timed out

    int fd_ = -1;
    bool readable_ = false;
    bool writable_ = false;
    std::string in_;  // bytes read and not yet returned, from start_
    std::size_t start_ = 0;
    bool eof_ = false;
};

// multiprocessing.Pipe(duplex=True).
std::pair<Connection, Connection> Pipe(bool duplex = true);

}  // namespace ipckit
