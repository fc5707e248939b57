// The handout's numbers example: a server sends the integers typed on its standard
// input, as decimal text (type 1), until 0; a client prints them.
#pragma once

#include <chrono>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>

#include "ipckit/sysv/ipc.hpp"

namespace ipckit::programs {

inline constexpr sysv::Key numbers_default_key = 128;

// Python's int(text) for decimal text: surrounding whitespace, a sign, underscores
// between digits, leading zeros, any size. Returns the canonical decimal form (what
// Python's str(int(text)) gives), or nullopt when Python would raise ValueError.
std::optional<std::string> python_int(std::string_view text);

struct NumbersServerOptions {
    sysv::Key key = numbers_default_key;
    // After sending 0, how long to wait for the client to take every message before
    // removing the queue.
    std::chrono::milliseconds linger = std::chrono::seconds(5);
    // How long a send may wait for room in a full queue; none: as long as it takes.
    std::optional<std::chrono::nanoseconds> timeout;
    int input_fd = 0;
};
// Returns the exit status. Prints "Input error, try again!" for lines that are not
// integers, or too long for one message (and sends nothing); end of input counts as 0.
// The queue is removed however the server ends (short of SIGKILL).
int numbers_server(const NumbersServerOptions& options, std::ostream& out, std::ostream& err);

struct NumbersClientOptions {
    sysv::Key key = numbers_default_key;
    // How long to wait for each number; none: as long as it takes.
    std::optional<std::chrono::nanoseconds> timeout;
};
int numbers_client(const NumbersClientOptions& options, std::ostream& out, std::ostream& err);

}  // namespace ipckit::programs
