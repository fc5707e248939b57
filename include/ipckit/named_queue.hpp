// Named queues as the system sees them: list, inspect and remove the ipckit queues in
// /dev/shm without knowing their element type (what `ipckit queue ls|stat|rm` does).
//
//   for (const auto& q : ipckit::named_queues()) std::cout << q.name << '\n';
//   ipckit::remove_named_queue("jobs");
//
// The queues themselves are made and opened with Queue<T>::create/open, ByteQueue::create/
// open and ObjectQueue::create/open (ipckit/queue.hpp); docs/queues.md, "Named queues".
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

namespace ipckit {

// The prefix of every named queue's file in /dev/shm: queue "jobs" is /dev/shm/ipckit.q.jobs.
inline constexpr std::string_view named_queue_prefix = "ipckit.q.";

struct NamedQueueInfo {
    std::string name;              // without the prefix
    std::string kind;              // Queue, ByteQueue, ObjectQueue
    std::string type;              // the element type (Queue<T>), "bytes" or "Object"
    std::size_t element_size = 0;  // Queue<T>: sizeof(T); 0 for variable-size messages
    std::size_t maxsize = 0;
    std::size_t ring_bytes = 0;
    std::size_t messages = 0;  // qsize() now
    bool closed = false;
    std::size_t users = 0;       // live processes that have it open
    std::size_t dead_users = 0;  // recorded users that have died without closing it
    pid_t creator_pid = 0;
    std::time_t created = 0;
    uid_t uid = 0;
    unsigned mode = 0;
    std::size_t file_bytes = 0;
};

// Every ipckit queue in /dev/shm (names with the prefix that are not ipckit queues are left
// out), sorted by name.
std::vector<NamedQueueInfo> named_queues();
// One queue: ExistentialError (ENOENT) if there is no such name, ValueError if the file
// with that name is not an ipckit queue (of this layout version).
NamedQueueInfo named_queue_info(std::string_view name);
// Removes the name (users that have it open keep working). ExistentialError if missing,
// ValueError (and nothing removed) if it is not an ipckit queue.
void remove_named_queue(std::string_view name);

}  // namespace ipckit
