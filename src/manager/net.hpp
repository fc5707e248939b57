// Addresses and sockets of the manager: "unix:PATH" and "tcp://HOST:PORT".
#pragma once

#include <chrono>
#include <string>

namespace ipckit::detail {

struct Address {
    enum class Kind { unix_socket, tcp } kind;
    std::string path;  // unix
    std::string host;  // tcp
    std::string port;  // tcp
};

// Throws ValueError naming the address and the accepted forms.
Address parse_address(const std::string& text);

// A listening socket (non-blocking, close-on-exec). For tcp, `bound` gets the real address
// (the chosen port when the port was 0).
int listen_on(const Address& address, std::string& bound);

// A connected blocking socket, or ConnectionError naming `text` after `timeout`.
int connect_to(const Address& address, const std::string& text,
               std::chrono::steady_clock::time_point deadline);

// RAII for a file descriptor.
class Fd {
  public:
    Fd() = default;
    explicit Fd(int fd) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(other.release()) {}
    Fd& operator=(Fd&& other) noexcept;
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd();
    int get() const { return fd_; }
    int release() {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }
    explicit operator bool() const { return fd_ >= 0; }

  private:
    int fd_ = -1;
};

}  // namespace ipckit::detail
