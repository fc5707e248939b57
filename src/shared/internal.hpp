// Internals shared by the arena and the lock.
#pragma once

namespace ipckit::detail {
// Registers (once) the atfork handlers that reset per-process state in a forked child:
// the arena's allocation state and the calling thread's cached thread id.
void ensure_fork_handlers();
}  // namespace ipckit::detail
