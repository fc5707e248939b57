// What a type's checks throw for a wrong request (RequestError: the status and message the
// server answers with), and the array module's typecode checks (array.cpp), shared by the
// ipckit server's types and the Redis back end (src/manager/redis/), which apply the same
// checks with the same messages. No server state here.
#pragma once

#include <string>

#include "../wire.hpp"
#include "ipckit/object.hpp"

namespace ipckit::detail {

// A wrong request: answered with `status` and `message`, the connection stays open.
struct RequestError {
    wire::Status status;
    std::string message;
};

[[noreturn]] inline void fail(wire::Status status, std::string message) {
    throw RequestError{status, std::move(message)};
}

// Python's array typecodes (array.cpp): ValueError unless `typecode` is a 1-char str among
// b B u h H i I l L q Q f d; `item` as the array stores it (TypeError / OverflowError as
// Python's, sent as ValueError).
char array_typecode(const Object& typecode);
Object array_item(char typecode, const Object& item);

}  // namespace ipckit::detail
