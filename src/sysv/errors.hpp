// Internal: errno -> ipckit exception for System V semaphores and shared memory.
//
// The same conventions as the message queue's: each message names the object
// ("semaphore 0x00000080") and, where there is one, the fix.
#pragma once

#include <string>

namespace ipckit::sysv::detail {

enum class Kind { semaphore, shared_memory };

// "semaphore" or "shared memory segment".
const char* noun(Kind kind) noexcept;

// Throws the exception that errno `err` from `operation` calls for.
[[noreturn]] void throw_for(Kind kind, int err, const std::string& who, const char* operation);

}  // namespace ipckit::sysv::detail
