// Exercise 2, "Is it time yet?": a time server and its clients over one message queue.
//
// Protocol (compatible with the handout's): the server receives with type -2, so it
// only ever takes requests. Type 1 asks for the time: with an empty payload the reply is
// the asctime text with type 3, as the handout says; with a payload holding a reply type
// in decimal (the client's PID), the reply has that type, so concurrent clients never
// take each other's answers. Type 2 stops the server, which removes the queue.
// A malformed or over-long request is dropped (counted, logged with `verbose`); the
// server never blocks on a reply (a full queue keeps it in memory until there is room).
#pragma once

#include <chrono>
#include <iosfwd>
#include <optional>
#include <string>

#include "ipckit/sysv/ipc.hpp"

namespace ipckit::programs {

inline constexpr sysv::Key time_default_key = 129;
inline constexpr long time_request_type = 1;
inline constexpr long stop_request_type = 2;
inline constexpr long plain_reply_type = 3;

// time.asctime(): "Thu Nov 26 04:19:38 2026", no newline.
std::string asctime_now();

struct TimeServerOptions {
    sysv::Key key = time_default_key;
    bool replace = false;              // remove a stale queue with this key instead of refusing
    bool force = false;                // with replace: even when the queue's last receiver is alive
    bool verbose = false;              // log each request to `log`
    std::chrono::nanoseconds spin{0};  // adaptive wait before sleeping in receive
};
int time_server(const TimeServerOptions& options, std::ostream& log);

struct TimeClientOptions {
    sysv::Key key = time_default_key;
    std::optional<std::string> request;  // "time" or "stop"; none: interactive
    long count = 1;
    long window = 1;  // with count > 1: requests in flight at once (pipelining)
    std::optional<std::chrono::nanoseconds> timeout;
    bool plain = false;  // the handout's exact protocol: empty payload, reply type 3
    std::chrono::nanoseconds spin{0};
    int input_fd = 0;
};
int time_client(const TimeClientOptions& options, std::ostream& out, std::ostream& err);

}  // namespace ipckit::programs
