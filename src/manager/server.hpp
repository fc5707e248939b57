// The manager server's event loop: one thread, poll(2), many connections.
#pragma once

#include <cstddef>
#include <string>

namespace ipckit::detail {

struct ServerConfig {
    std::string authkey;
    std::size_t max_frame;
    int lifeline_fd = -1;      // stop when this pipe reports EOF (the owner died)
    bool honour_stop = false;  // stop when ipckit::stop_requested()
};

// Serves on `listen_fd` until a shutdown request, a stop, or the lifeline closing.
void run_server(int listen_fd, const ServerConfig& config);

}  // namespace ipckit::detail
