// The Lua code that makes every compound manager operation atomic on Redis.
#pragma once

#include <string>

namespace ipckit::detail::redis {

// KEYS[1]: the object's base key "ipckit:{NAME}" (every key of the object is BASE:suffix,
// one Cluster slot); ARGV[1]: the operation; ARGV[2]: the lease in ms; ARGV[3...]: its
// arguments. Errors are replies "IPCKIT_<KIND> message".
// Loaded as a Redis Function library `name` (one function of that name, called with FCALL;
// Redis 7) or, on older servers, run as a script (EVALSHA, EVAL). The name carries a digest
// of the text, so that clients of two ipckit versions never replace each other's.
const std::string& function_library(const std::string& name);
const std::string& eval_script();

}  // namespace ipckit::detail::redis
