// ipckit::sysv::SharedMemory: a System V shared memory segment, as sysv_ipc.SharedMemory.
//
//   sysv::SharedMemory shm(42, IPC_CREAT, 0600, 4096);   // attached on construction
//   shm.write("hello");                                  // at offset 0
//   std::string text = shm.read(5);                      // "hello"
//   std::span<std::byte> bytes = shm.bytes();            // zero-copy view
//   shm.detach();
//   shm.remove();
//
// The object is a handle: destroying it detaches (the view dies with it) but leaves the
// kernel segment in place (segments outlive processes), unless set_auto_remove(true)
// asked for removal. A removed segment lives on until its last process detaches.
#pragma once

#include <sys/shm.h>  // SHM_RDONLY, SHM_RND: the system's macros, as sysv_ipc's
#include <sys/types.h>
#include <cstddef>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/sysv/ipc.hpp"
#include "ipckit/sysv/object.hpp"

namespace ipckit::sysv {

// Everything IPC_STAT tells about a segment.
struct SharedMemoryInfo : ObjectInfo {
    std::size_t size = 0;
    std::size_t number_attached = 0;
    pid_t creator_pid = 0;
    pid_t last_pid = 0;  // last shmat or shmdt
    std::time_t last_attach_time = 0;
    std::time_t last_detach_time = 0;
    std::time_t last_change_time = 0;
    bool removed = false;  // marked for removal; goes when the last process detaches
};

// key(), id(), info(), uid/gid/mode, remove() and describe(): see ipckit/sysv/object.hpp.
class SharedMemory : public detail::Object<SharedMemoryInfo> {
  public:
    // Opens (flags 0) or creates (IPC_CREAT, IPC_CREX) the segment with this key, and
    // attaches it. A new segment of size 0 gets one page (as sysv_ipc) and every byte is
    // init_character. With IPC_CREAT the creation is tried with IPC_EXCL first, so only
    // the process that really creates the segment fills it (sysv_ipc fills it again on
    // every IPC_CREAT open, overwriting what others wrote).
    explicit SharedMemory(Key key, int flags = 0, int mode = default_mode, std::size_t size = 0,
                          char init_character = ' ');
    // key = std::nullopt: a random free key, created exclusively (sysv_ipc's key=None).
    explicit SharedMemory(std::nullopt_t, int flags = IPC_CREX, int mode = default_mode,
                          std::size_t size = 0, char init_character = ' ');
    // Opens an existing segment by its id and attaches it (sysv_ipc.attach).
    static SharedMemory from_id(int id, const void* address = nullptr, int flags = 0);

    SharedMemory(SharedMemory&& other) noexcept;
    SharedMemory& operator=(SharedMemory&& other) noexcept;
    ~SharedMemory();  // detaches; removes only when set_auto_remove(true)

    // Attaches at `address` (nullptr: wherever the kernel chooses) with shmat flags
    // (SHM_RDONLY for a read-only view, SHM_RND). Already attached: detaches first.
    void attach(const void* address = nullptr, int flags = 0);
    // NotAttachedError when not attached.
    void detach();
    // True when this handle created the segment (and so filled it).
    bool created() const noexcept { return created_; }

    // --- data (NotAttachedError when detached) ---
    // byte_count bytes from offset; 0, or more than there is, reads to the end (as
    // sysv_ipc). ValueError when offset is not inside the segment.
    std::string read(std::size_t byte_count = 0, std::size_t offset = 0) const;
    // Copies into `out` (size() - offset bytes at most); returns how many were copied.
    std::size_t read_into(std::span<std::byte> out, std::size_t offset = 0) const;
    // ValueError when the bytes do not fit between offset and the end;
    // PermissionsError when attached read-only.
    void write(std::string_view bytes, std::size_t offset = 0);
    void write(std::span<const std::byte> bytes, std::size_t offset = 0);
    // The whole segment, for zero-copy use; valid until detach or destruction.
    // bytes() throws PermissionsError when attached read-only; cbytes() does not.
    std::span<std::byte> bytes();
    std::span<const std::byte> cbytes() const;

    // --- attributes ---
    std::size_t size() const noexcept { return size_; }  // fixed at creation
    void* address() const noexcept { return address_; }  // nullptr when detached
    bool attached() const noexcept { return address_ != nullptr; }
    bool read_only() const noexcept { return read_only_; }
    // These read the kernel's current state.
    std::size_t number_attached() const { return info().number_attached; }
    pid_t creator_pid() const { return info().creator_pid; }
    pid_t last_pid() const { return info().last_pid; }
    std::time_t last_attach_time() const { return info().last_attach_time; }
    std::time_t last_detach_time() const { return info().last_detach_time; }
    std::time_t last_change_time() const { return info().last_change_time; }

  private:
    SharedMemory() = default;
    void check_attached(const char* operation) const;
    void check_range(std::size_t offset, std::size_t count, const char* operation) const;

    std::size_t size_ = 0;
    void* address_ = nullptr;
    bool read_only_ = false;
    bool created_ = false;
};

// Attaches the segment with this id (sysv_ipc.attach(id, address, flags)).
SharedMemory attach(int id, const void* address = nullptr, int flags = 0);

// Information about every segment on the system (as `ipcs -m`), from /proc/sysvipc/shm.
inline constexpr auto list_shared_memory = &detail::Object<SharedMemoryInfo>::list;

// Removes the segment with this id (sysv_ipc.remove_shared_memory).
inline constexpr auto remove_shared_memory = &detail::Object<SharedMemoryInfo>::remove_id;

}  // namespace ipckit::sysv
