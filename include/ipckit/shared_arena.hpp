// The shared arena: where Value, Array and Lock keep their bytes.
//
// Small objects are carved out of 1 MiB chunks mapped with mmap(MAP_SHARED|MAP_ANONYMOUS),
// in size classes (multiples of 16 bytes up to 256, then powers of two), so 100,000
// Value<int> cost about 3 MiB rather than 100,000 mappings. Objects of 256 KiB or more get a
// mapping of their own, unmapped when freed.
//
// A child forked after an object was made sees it at the same address. Allocation state
// is per process: after fork the child starts from fresh chunks (an atfork handler resets
// it), so parent and child never hand out the same bytes, and the child never recycles
// the parent's blocks. Freed blocks are recycled by the process that allocated them, so
// keep a handle alive while children use the object (as in Python; an ipckit::Process
// keeps its arguments alive until it is destroyed).
#pragma once

#include <cstddef>
#include <memory>

namespace ipckit {

// What this process has mapped for the arena (a forked child starts from zero).
struct SharedArenaStats {
    std::size_t mapped_bytes = 0;    // chunks + own mappings currently mapped by this process
    std::size_t chunks = 0;          // 1 MiB chunks for small objects
    std::size_t large_mappings = 0;  // objects with a mapping of their own
    std::size_t in_use_bytes = 0;    // bytes handed out and not yet freed
};
SharedArenaStats shared_arena_stats();

namespace detail {
// `size` zeroed bytes aligned to `align` (a power of two, at most 4096). Freed when the
// last copy of the returned pointer in this process goes away. Throws ipckit::Error.
std::shared_ptr<std::byte> shared_allocate(std::size_t size, std::size_t align);
}  // namespace detail

}  // namespace ipckit
