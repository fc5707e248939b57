// What all System V IPC objects share: keys, flags, ftok, and kernel limits.
#pragma once

#include <sys/ipc.h>  // IPC_CREAT, IPC_EXCL, IPC_PRIVATE: use them as sysv_ipc does
#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace ipckit::sysv {

using Key = key_t;

// sysv_ipc's IPC_CREX: create, and fail if the object already exists.
// (IPC_CREAT, IPC_EXCL and IPC_PRIVATE are the system's macros from <sys/ipc.h>,
// which is why they cannot live in this namespace.)
inline constexpr int IPC_CREX = IPC_CREAT | IPC_EXCL;

// Default permissions, as sysv_ipc: read and write for the owner only.
inline constexpr int default_mode = 0600;

// ftok(3), throwing ExistentialError when the path does not exist.
Key ftok(const std::string& path, int project_id);

// A random key in [1, INT32_MAX] (never IPC_PRIVATE); callers create with IPC_EXCL
// and retry on EEXIST, as sysv_ipc does for key=None.
Key random_key();

// "0x00000080": keys are shown in hex everywhere, as ipcs does.
std::string format_key(Key key);

// Parses a key written in decimal ("128") or hex ("0x80"); throws ValueError.
Key parse_key(std::string_view text);

// The kernel's limits for message queues (read from /proc/sys/kernel).
struct MessageQueueLimits {
    std::size_t msgmax;  // largest message, bytes
    std::size_t msgmnb;  // default capacity of a new queue, bytes
    std::size_t msgmni;  // most queues on the system
};
MessageQueueLimits message_queue_limits();

}  // namespace ipckit::sysv
