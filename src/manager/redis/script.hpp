// The Lua script that makes every compound manager operation atomic on Redis.
#pragma once

namespace ipckit::detail::redis {

// KEYS[1]: the object's base key "ipckit:{NAME}" (every key of the object is BASE:suffix,
// one Cluster slot); ARGV[1]: the operation; ARGV[2]: the lease in ms; ARGV[3...]: its
// arguments. Errors are replies "IPCKIT_<KIND> message".
extern const char* const script_source;

}  // namespace ipckit::detail::redis
