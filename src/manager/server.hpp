// The manager server's event loop: one thread, poll(2), many connections.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "python_server.hpp"

namespace ipckit {
class Registry;
}

namespace ipckit::detail {

struct ServerConfig {
    std::string authkey;
    std::size_t max_frame;
    int lifeline_fd = -1;      // stop when this pipe reports EOF (the owner died)
    bool honour_stop = false;  // stop when ipckit::stop_requested()
    // A connection that has not authenticated within this time is closed.
    std::chrono::milliseconds handshake_timeout{5000};
    // At most this many connections may be waiting to authenticate: a new one closes the
    // oldest of them.
    std::size_t max_pending = 256;
    // A connection with more unsent output than this is not read from (its requests wait in
    // the kernel) until the client has read enough of its answers.
    std::size_t max_unsent = std::size_t{1} << 20;
    // Custom types served besides the built-in ones (ipckit/manager_registry.hpp).
    const ipckit::Registry* registry = nullptr;
    // Python clients: the named objects their create(TYPEID) returns, and the server's
    // address as their tokens carry it ("tcp://H:P" or "unix:PATH"; python_server.hpp).
    std::vector<python::Expose> expose{};
    std::string address{};
    // After a round that served something, wait for events without sleeping (epoll_wait
    // with timeout 0) for up to this long before blocking (ServeOptions::spin).
    std::chrono::microseconds spin{0};
};

// Serves on `listen_fd` until a shutdown request, a stop, or the lifeline closing.
void run_server(int listen_fd, const ServerConfig& config);

// For fuzzing and tests (tests/fuzz/fuzz_server.cpp): the server's read path -- frames,
// handshake, requests, answers -- on one connected socket `fd` (taken over and closed), as
// if it had just been accepted and greeted with `challenge`. Reads and answers what `fd`
// holds now (the peer writes first, then calls this), until all of it is read, the server
// stops reading (it closes the connection, shuts down, or waits for the peer to read).
struct ReadPathOutcome {
    bool authenticated = false;
    std::size_t objects = 0, named = 0, sessions = 0;  // the store's, once `fd` is closed
};
ReadPathOutcome serve_connection(int fd, const ServerConfig& config, const std::string& challenge);

}  // namespace ipckit::detail
