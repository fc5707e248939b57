#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "internal.hpp"
#include "ipckit/error.hpp"
#include "ipckit/lock.hpp"
#include "ipckit/shared_arena.hpp"

namespace ipckit {
namespace detail {
namespace {

constexpr std::size_t chunk_size = std::size_t{1} << 20;
constexpr std::size_t large_threshold = chunk_size / 4;
// Classes 0..15: 16, 32, ..., 256 bytes; classes 16..25: 512, 1024, ..., 256 KiB.
constexpr std::size_t small_classes = 16;
constexpr std::size_t class_count = small_classes + 10;

std::size_t class_of(std::size_t size) {
    if (size <= 256) return (size + 15) / 16 - 1;
    std::size_t index = small_classes;
    for (std::size_t c = 512; c < size; c <<= 1)
        ++index;
    return index;
}
std::size_t class_size(std::size_t index) {
    if (index < small_classes) return (index + 1) * 16;
    return std::size_t{512} << (index - small_classes);
}

void* map_shared(std::size_t bytes) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        throw Error(errno, "shared memory: cannot map " + std::to_string(bytes) +
                               " bytes (out of memory, or the memory limit `ulimit -v` "
                               "is too low)");
    }
    return p;
}

// The per-process allocation state. After fork the child drops it (without unmapping:
// the parent's objects still live there) and starts from fresh chunks.
class Arena {
  public:
    std::mutex mutex;
    pid_t pid = ::getpid();
    std::byte* bump = nullptr;
    std::byte* bump_end = nullptr;
    std::array<std::vector<std::byte*>, class_count> free_lists;
    SharedArenaStats stats;

    std::byte* allocate_small(std::size_t index, std::size_t align) {
        const std::size_t bytes = class_size(index);
        auto& list = free_lists[index];
        for (std::size_t i = list.size(); i-- > 0;) {
            std::byte* p = list[i];
            if (reinterpret_cast<std::uintptr_t>(p) % align == 0) {
                list[i] = list.back();
                list.pop_back();
                std::memset(p, 0, bytes);  // recycled: zero it again
                return p;
            }
        }
        auto aligned = [&] {
            auto address = reinterpret_cast<std::uintptr_t>(bump);
            return bump + ((align - address % align) % align);
        };
        if (bump == nullptr || aligned() + bytes > bump_end) {
            bump = static_cast<std::byte*>(map_shared(chunk_size));  // zeroed by the kernel
            bump_end = bump + chunk_size;
            ++stats.chunks;
            stats.mapped_bytes += chunk_size;
        }
        std::byte* p = aligned();
        bump = p + bytes;
        return p;
    }

    void reset_after_fork() {
        pid = ::getpid();
        bump = bump_end = nullptr;
        for (auto& list : free_lists)
            list.clear();  // those blocks are the parent's
        stats = SharedArenaStats{};
    }
};

std::atomic<Arena*> arena_if_made{nullptr};

Arena& arena() {
    static Arena* instance = [] {
        ensure_fork_handlers();
        auto* made = new Arena();  // never destroyed: blocks may be freed at static destruction
        arena_if_made.store(made);
        return made;
    }();
    return *instance;
}

// fork() while another thread allocates must not copy a locked mutex into the child.
void prepare_fork() {
    if (Arena* a = arena_if_made.load()) a->mutex.lock();
}
void parent_after_fork() {
    if (Arena* a = arena_if_made.load()) a->mutex.unlock();
}
void child_after_fork() {
    cached_tid = 0;
    if (Arena* a = arena_if_made.load()) {
        a->reset_after_fork();
        a->mutex.unlock();
    }
}

}  // namespace

void ensure_fork_handlers() {
    static std::once_flag once;
    std::call_once(once,
                   [] { ::pthread_atfork(prepare_fork, parent_after_fork, child_after_fork); });
}

std::shared_ptr<std::byte> shared_allocate(std::size_t size, std::size_t align) {
    if (align == 0 || (align & (align - 1)) != 0 || align > 4096) {
        throw ValueError("shared memory: alignment " + std::to_string(align) +
                         " is not a power of two up to 4096");
    }
    Arena& a = arena();
    if (align > 16) size = (size + align - 1) / align * align;
    if (size >= large_threshold) {
        const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        const std::size_t bytes = (size + page - 1) / page * page;
        auto* p = static_cast<std::byte*>(map_shared(bytes));
        pid_t owner;
        {
            std::lock_guard lock(a.mutex);
            owner = a.pid;
            ++a.stats.large_mappings;
            a.stats.mapped_bytes += bytes;
            a.stats.in_use_bytes += bytes;
        }
        return std::shared_ptr<std::byte>(p, [bytes, owner](std::byte* q) {
            Arena& ar = arena();
            {
                std::lock_guard lock(ar.mutex);
                if (ar.pid == owner) {
                    --ar.stats.large_mappings;
                    ar.stats.mapped_bytes -= bytes;
                    ar.stats.in_use_bytes -= bytes;
                }
            }
            ::munmap(q, bytes);  // in a child, this only unmaps the child's view
        });
    }
    const std::size_t index = class_of(size);
    std::byte* p;
    pid_t owner;
    {
        std::lock_guard lock(a.mutex);
        p = a.allocate_small(index, align);
        owner = a.pid;
        a.stats.in_use_bytes += class_size(index);
    }
    return std::shared_ptr<std::byte>(p, [index, owner](std::byte* q) {
        Arena& ar = arena();
        std::lock_guard lock(ar.mutex);
        // Only the process that allocated a block recycles it; a child that inherited it
        // must never hand out its parent's bytes.
        if (ar.pid != owner) return;
        ar.free_lists[index].push_back(q);
        ar.stats.in_use_bytes -= class_size(index);
    });
}

}  // namespace detail

SharedArenaStats shared_arena_stats() {
    detail::Arena& a = detail::arena();
    std::lock_guard lock(a.mutex);
    return a.stats;
}

}  // namespace ipckit
