// libFuzzer target: the client's side of the handshake (Manager::connect) against a server
// that sends arbitrary bytes: a listener on 127.0.0.1 (port 0) accepts the client's
// connection, sends the input, and closes. The client must refuse with AuthenticationError
// or ConnectionError -- never crash, hang, throw anything else, or accept: the input cannot
// hold a valid proof, since that answers the client's fresh random challenge.
//
// Corpus: corpus/handshake (greetings and answers, written by make_seeds.cpp).
// Build and run: tests/fuzz/run.sh [SECONDS]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

#include "fuzz_support.hpp"
#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"

namespace fuzz = ipckit::fuzz;

namespace {

// The listening socket, made once per process (the kernel chooses the port).
int listener(std::string& address) {
    static std::string bound;
    static int fd = [] {
        int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof a;
        if (s < 0 || ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
            ::listen(s, 8) != 0 ||
            ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &length) != 0) {
            fuzz::fail("cannot listen on 127.0.0.1");
        }
        bound = "tcp://127.0.0.1:" + std::to_string(ntohs(a.sin_port));
        return s;
    }();
    address = bound;
    return fd;
}

bool readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return ::poll(&p, 1, 10000) == 1;  // the client gives up well before this
}

// The fake server's one connection: send `input`, stop sending, read until the client has
// gone, and reset the connection (no TIME_WAIT left per input).
void serve(int listen_fd, std::string_view input) {
    if (!readable(listen_fd)) fuzz::fail("the client never connected");
    int c = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) fuzz::fail("accept");
    while (!input.empty()) {
        ssize_t n = ::send(c, input.data(), input.size(), MSG_NOSIGNAL);
        if (n <= 0) break;  // the client already gave up
        input.remove_prefix(static_cast<std::size_t>(n));
    }
    ::shutdown(c, SHUT_WR);
    char buffer[4096];
    while (readable(c) && ::recv(c, buffer, sizeof buffer, 0) > 0) {
    }
    linger reset{1, 0};
    ::setsockopt(c, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string address;
    int fd = listener(address);
    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::thread server([&] { serve(fd, input); });
    ipckit::ManagerOptions options;
    options.connect_timeout = std::chrono::seconds(5);
    bool accepted = false;
    try {
        ipckit::Manager::connect(address, fuzz::authkey, options);
        accepted = true;
    } catch (const ipckit::AuthenticationError&) {
    } catch (const ipckit::ConnectionError&) {
    } catch (const std::exception& e) {
        server.join();
        fuzz::fail(std::string("the client threw neither AuthenticationError nor "
                               "ConnectionError: ") +
                   e.what());
    }
    server.join();
    if (accepted) fuzz::fail("the client accepted a server that cannot know its challenge");
    return 0;
}
