// Addresses and sockets of the manager.
#include "net.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "ipckit/error.hpp"

namespace ipckit::detail {

Fd& Fd::operator=(Fd&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = other.release();
    }
    return *this;
}

Fd::~Fd() {
    if (fd_ >= 0) ::close(fd_);
}

Address parse_address(const std::string& text) {
    auto bad = [&](const std::string& why) -> ValueError {
        return ValueError("manager address '" + text + "': " + why +
                          " (expected unix:PATH or tcp://HOST:PORT)");
    };
    if (text.rfind("unix:", 0) == 0) {
        Address a{Address::Kind::unix_socket, text.substr(5), {}, {}};
        if (a.path.empty()) throw bad("empty path");
        if (a.path.size() >= sizeof(sockaddr_un{}.sun_path)) throw bad("path too long");
        return a;
    }
    if (text.rfind("tcp://", 0) == 0) {
        std::string rest = text.substr(6);
        std::string host, port;
        if (!rest.empty() && rest[0] == '[') {  // [::1]:port
            auto close = rest.find(']');
            if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
                throw bad("malformed IPv6 host");
            }
            host = rest.substr(1, close - 1);
            port = rest.substr(close + 2);
        } else {
            auto colon = rest.rfind(':');
            if (colon == std::string::npos) throw bad("missing port");
            host = rest.substr(0, colon);
            port = rest.substr(colon + 1);
        }
        if (host.empty()) throw bad("missing host");
        if (port.empty() || port.find_first_not_of("0123456789") != std::string::npos ||
            port.size() > 5 || std::stoi(port) > 65535) {
            throw bad("port must be a number from 0 to 65535");
        }
        return Address{Address::Kind::tcp, {}, host, port};
    }
    throw bad("unknown scheme");
}

namespace {

addrinfo* resolve(const Address& address, const std::string& text, bool passive) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    addrinfo* result = nullptr;
    int rc = ::getaddrinfo(address.host.c_str(), address.port.c_str(), &hints, &result);
    if (rc != 0) {
        throw ConnectionError("manager at " + text + ": cannot resolve host '" + address.host +
                              "': " + ::gai_strerror(rc));
    }
    return result;
}

sockaddr_un unix_address(const std::string& path) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.data(), path.size());
    return sa;
}

std::string numeric(const sockaddr* sa, socklen_t len) {
    char host[NI_MAXHOST], port[NI_MAXSERV];
    if (::getnameinfo(sa, len, host, sizeof host, port, sizeof port,
                      NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        return "?";
    }
    std::string h = host;
    if (h.find(':') != std::string::npos) h = "[" + h + "]";
    return "tcp://" + h + ":" + port;
}

// The path of a unix: address is taken. A socket file that nobody accepts connections on
// is left over by a server that died: remove it (true). Refuse (throw) when a server
// still listens there, or when the path is not a socket.
bool remove_stale_socket(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return false;  // gone meanwhile: bind again
    if (!S_ISSOCK(st.st_mode)) {
        throw Error(EEXIST, "manager: cannot bind unix:" + path +
                                ": the path exists and is not a socket (choose another path)");
    }
    Fd probe(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!probe) throw Error(errno, std::string("manager: socket: ") + std::strerror(errno));
    sockaddr_un sa = unix_address(path);
    int rc = ::connect(probe.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
    int error = rc == 0 ? 0 : errno;
    if (error == ECONNREFUSED) {  // nobody listens: a stale file
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
            throw Error(errno, "manager: cannot remove the stale socket file " + path + ": " +
                                   std::strerror(errno));
        }
        return true;
    }
    if (error == 0 || error == EAGAIN || error == EINPROGRESS) {  // EAGAIN: backlog full
        throw Error(EADDRINUSE, "manager: cannot bind unix:" + path +
                                    ": a running server listens there (stop it first, or "
                                    "choose another path)");
    }
    throw Error(error, "manager: cannot bind unix:" + path +
                           ": the path is in use and probing it failed: " + std::strerror(error));
}

}  // namespace

int listen_on(const Address& address, std::string& bound) {
    if (address.kind == Address::Kind::unix_socket) {
        Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd) throw Error(errno, std::string("manager: socket: ") + std::strerror(errno));
        sockaddr_un sa = unix_address(address.path);
        auto bind_now = [&] {
            mode_t old = ::umask(0077);  // the socket file: owner only
            int rc = ::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa);
            int saved = errno;
            ::umask(old);
            return rc == 0 ? 0 : saved;
        };
        int error = bind_now();
        if (error == EADDRINUSE && remove_stale_socket(address.path)) error = bind_now();
        if (error != 0) {
            throw Error(error,
                        "manager: cannot bind unix:" + address.path + ": " + std::strerror(error));
        }
        if (::listen(fd.get(), 128) != 0) {
            throw Error(errno,
                        "manager: listen on unix:" + address.path + ": " + std::strerror(errno));
        }
        bound = "unix:" + address.path;
        return fd.release();
    }
    std::string text = "tcp://" + address.host + ":" + address.port;
    addrinfo* list = resolve(address, text, true);
    int last = 0;
    for (addrinfo* ai = list; ai; ai = ai->ai_next) {
        Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       ai->ai_protocol));
        if (!fd) {
            last = errno;
            continue;
        }
        int one = 1;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), 128) != 0) {
            last = errno;
            continue;
        }
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
        bound = numeric(reinterpret_cast<sockaddr*>(&ss), len);
        ::freeaddrinfo(list);
        return fd.release();
    }
    ::freeaddrinfo(list);
    throw Error(last, "manager: cannot listen on " + text + ": " + std::strerror(last));
}

namespace {

// Connects fd to sa before the deadline; returns 0 or an errno.
int connect_before(int fd, const sockaddr* sa, socklen_t len,
                   std::chrono::steady_clock::time_point deadline) {
    if (::connect(fd, sa, len) == 0) return 0;
    if (errno != EINPROGRESS && errno != EAGAIN && errno != EINTR) return errno;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) return ETIMEDOUT;
        pollfd p{fd, POLLOUT, 0};
        int rc = ::poll(&p, 1, static_cast<int>(left.count()) + 1);
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) return errno;
        if (rc == 0) continue;
        int error = 0;
        socklen_t size = sizeof error;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
        return error;
    }
}

}  // namespace

int connect_to(const Address& address, const std::string& text,
               std::chrono::steady_clock::time_point deadline) {
    auto failure = [&](int error) {
        return ConnectionError(
            error, "manager at " + text + ": cannot connect: " + std::strerror(error) +
                       (error == ETIMEDOUT ? " (connect timeout)" : " (is the server running?)"));
    };
    if (address.kind == Address::Kind::unix_socket) {
        Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (!fd) throw failure(errno);
        sockaddr_un sa = unix_address(address.path);
        int error = connect_before(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa, deadline);
        if (error != 0) throw failure(error);
        return fd.release();
    }
    addrinfo* list = resolve(address, text, false);
    int last = ECONNREFUSED;
    for (addrinfo* ai = list; ai; ai = ai->ai_next) {
        Fd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       ai->ai_protocol));
        if (!fd) {
            last = errno;
            continue;
        }
        last = connect_before(fd.get(), ai->ai_addr, ai->ai_addrlen, deadline);
        if (last == 0) {
            int one = 1;
            ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            ::freeaddrinfo(list);
            return fd.release();
        }
    }
    ::freeaddrinfo(list);
    throw failure(last);
}

}  // namespace ipckit::detail
