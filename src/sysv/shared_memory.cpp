#include "ipckit/sysv/shared_memory.hpp"

#include <sys/ipc.h>
#include <sys/shm.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <utility>

#include "object_impl.hpp"

namespace ipckit::sysv {
namespace detail {

template <>
struct Traits<SharedMemoryInfo> : TraitsBase<shmid_ds, Kind::shared_memory, &shmid_ds::shm_perm> {
    static int ctl(int id, int command, shmid_ds* ds) { return shmctl(id, command, ds); }
    static SharedMemoryInfo make(const ObjectInfo& common, const shmid_ds& ds) {
        const bool removed = (ds.shm_perm.mode & SHM_DEST) != 0;
        return {common,       ds.shm_segsz, ds.shm_nattch, ds.shm_cpid, ds.shm_lpid,
                ds.shm_atime, ds.shm_dtime, ds.shm_ctime,  removed};
    }
};

template class Object<SharedMemoryInfo>;

}  // namespace detail

namespace {

constexpr auto throw_for = detail::fail<SharedMemoryInfo>;

std::size_t page_size() {
    static const std::size_t value = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    return value;
}

bool stat(int id, shmid_ds& ds) {
    return detail::stat<SharedMemoryInfo>(id, ds) == 0;
}

// shmget's EINVAL: the size is outside the kernel's limits, or smaller than asked.
[[noreturn]] void throw_size_error(Key key, std::size_t size, const std::string& who) {
    std::string what = who + ": cannot get a segment of " + std::to_string(size) + " bytes: ";
    int id = key == IPC_PRIVATE ? -1 : shmget(key, 0, 0);
    shmid_ds ds{};
    if (id >= 0 && stat(id, ds)) {
        throw ValueError(EINVAL, what + "the existing segment has only " +
                                     std::to_string(ds.shm_segsz) +
                                     " bytes (open it with size 0 or at most that)");
    }
    throw ValueError(EINVAL, what +
                                 "the size is outside the kernel's limits "
                                 "(/proc/sys/kernel/shmmax)");
}

}  // namespace

// --- construction ---

SharedMemory::SharedMemory(Key key, int flags, int mode, std::size_t size, char init_character)
    : Object(key) {
    const int permissions = mode & 0777;
    const std::size_t create_size = size == 0 ? page_size() : size;
    auto create = [&](int create_flags) {
        id_ = shmget(key_, create_size, create_flags | permissions);
        return id_ >= 0;
    };
    if (key_ == IPC_PRIVATE) {
        if (!create(IPC_CREAT)) {
            int err = errno;
            if (err == EINVAL) throw_size_error(key_, create_size, describe());
            throw_for(err, describe(), "shmget");
        }
        created_ = true;
    } else if (flags & IPC_CREAT) {
        for (;;) {
            if (create(flags | IPC_EXCL)) {
                created_ = true;
                break;
            }
            int err = errno;
            if (err == EINVAL) throw_size_error(key_, create_size, describe());
            if (err != EEXIST || (flags & IPC_EXCL)) throw_for(err, describe(), "shmget");
            id_ = shmget(key_, size, permissions);
            if (id_ >= 0) break;
            err = errno;
            if (err == EINVAL) throw_size_error(key_, size, describe());
            if (err != ENOENT) throw_for(err, describe(), "shmget");
            // Removed between the two calls: try to create it again.
        }
    } else {
        id_ = shmget(key_, size, flags | permissions);
        if (id_ < 0) {
            int err = errno;
            if (err == EINVAL) throw_size_error(key_, size, describe());
            throw_for(err, describe(), "shmget");
        }
    }
    try {
        size_ = detail::stat_or_throw<SharedMemoryInfo>(id_, describe()).shm_segsz;
        attach();
        // The kernel hands out zeroed pages: only another character needs writing.
        if (created_ && init_character != '\0') {
            std::memset(address_, static_cast<unsigned char>(init_character), size_);
        }
    } catch (...) {
        if (address_ != nullptr) shmdt(address_);
        if (created_) shmctl(id_, IPC_RMID, nullptr);  // never leave a half-made segment
        throw;
    }
}

SharedMemory::SharedMemory(std::nullopt_t, int flags, int mode, std::size_t size,
                           char init_character) {
    const std::size_t create_size = size == 0 ? page_size() : size;
    // Try random keys until one is free, as sysv_ipc does for key=None.
    for (;;) {
        key_ = random_key();
        id_ = shmget(key_, create_size, flags | IPC_CREX | (mode & 0777));
        if (id_ >= 0) break;
        int err = errno;
        if (err == EINVAL) throw_size_error(IPC_PRIVATE, create_size, describe());
        if (err != EEXIST) throw_for(err, describe(), "shmget");
    }
    created_ = true;
    try {
        size_ = detail::stat_or_throw<SharedMemoryInfo>(id_, describe()).shm_segsz;
        attach();
        if (init_character != '\0') {
            std::memset(address_, static_cast<unsigned char>(init_character), size_);
        }
    } catch (...) {
        shmctl(id_, IPC_RMID, nullptr);
        throw;
    }
}

SharedMemory SharedMemory::from_id(int id, const void* address, int flags) {
    SharedMemory segment;
    segment.open_id(id);
    segment.size_ = segment.info().size;
    segment.attach(address, flags);
    return segment;
}

SharedMemory attach(int id, const void* address, int flags) {
    return SharedMemory::from_id(id, address, flags);
}

SharedMemory::SharedMemory(SharedMemory&& other) noexcept
    : Object(std::move(other)),
      size_(other.size_),
      address_(std::exchange(other.address_, nullptr)),
      read_only_(other.read_only_),
      created_(other.created_) {}

SharedMemory& SharedMemory::operator=(SharedMemory&& other) noexcept {
    if (this != &other) {
        if (address_ != nullptr) shmdt(address_);
        Object::operator=(std::move(other));
        size_ = other.size_;
        address_ = std::exchange(other.address_, nullptr);
        read_only_ = other.read_only_;
        created_ = other.created_;
    }
    return *this;
}

// The base then removes the segment if asked: detached first, it goes at once.
SharedMemory::~SharedMemory() {
    if (address_ != nullptr) shmdt(address_);
}

// --- attach and detach ---

void SharedMemory::attach(const void* address, int flags) {
    if (address_ != nullptr) detach();
    void* where = shmat(id_, address, flags);
    if (where == reinterpret_cast<void*>(-1)) {
        int err = errno;
        if (err == EINVAL) {
            shmid_ds ds{};
            if (!stat(id_, ds)) throw_for(EIDRM, describe(), "shmat");
            throw ValueError(err, describe() + ": cannot attach at address " +
                                      std::to_string(reinterpret_cast<std::uintptr_t>(address)) +
                                      " (it must be page-aligned, or pass SHM_RND, and free)");
        }
        throw_for(err, describe(), "shmat");
    }
    address_ = where;
    read_only_ = (flags & SHM_RDONLY) != 0;
}

void SharedMemory::detach() {
    check_attached("detach");
    if (shmdt(address_) != 0) throw_for(errno, describe(), "shmdt");
    address_ = nullptr;
    read_only_ = false;
}

// --- data ---

void SharedMemory::check_attached(const char* operation) const {
    if (address_ == nullptr) {
        throw NotAttachedError(
            EINVAL, describe() + ": " + operation + " while not attached (call attach() first)");
    }
}

void SharedMemory::check_range(std::size_t offset, std::size_t count, const char* operation) const {
    if (offset >= size_ && !(offset == size_ && count == 0)) {
        throw ValueError(
            EINVAL, describe() + ": " + operation + " at offset " + std::to_string(offset) +
                        ", which is not inside the segment (" + std::to_string(size_) + " bytes)");
    }
}

std::string SharedMemory::read(std::size_t byte_count, std::size_t offset) const {
    check_attached("read");
    if (offset >= size_) {
        throw ValueError(EINVAL, describe() + ": read at offset " + std::to_string(offset) +
                                     ", which is not inside the segment (" + std::to_string(size_) +
                                     " bytes)");
    }
    std::size_t available = size_ - offset;
    if (byte_count == 0 || byte_count > available) byte_count = available;
    return std::string(static_cast<const char*>(address_) + offset, byte_count);
}

std::size_t SharedMemory::read_into(std::span<std::byte> out, std::size_t offset) const {
    check_attached("read");
    check_range(offset, out.size(), "read");
    std::size_t count = std::min(out.size(), size_ - offset);
    std::memcpy(out.data(), static_cast<const std::byte*>(address_) + offset, count);
    return count;
}

void SharedMemory::write(std::string_view bytes, std::size_t offset) {
    write(std::as_bytes(std::span<const char>(bytes.data(), bytes.size())), offset);
}

void SharedMemory::write(std::span<const std::byte> bytes, std::size_t offset) {
    check_attached("write");
    if (read_only_) {
        throw PermissionsError(EACCES, describe() +
                                           ": write to a segment attached read-only "
                                           "(attach it without SHM_RDONLY)");
    }
    if (offset > size_ || bytes.size() > size_ - offset) {
        throw ValueError(EINVAL, describe() + ": writing " + std::to_string(bytes.size()) +
                                     " bytes at offset " + std::to_string(offset) +
                                     " would pass the end of the segment (" +
                                     std::to_string(size_) + " bytes)");
    }
    if (!bytes.empty())
        std::memcpy(static_cast<std::byte*>(address_) + offset, bytes.data(), bytes.size());
}

std::span<std::byte> SharedMemory::bytes() {
    check_attached("bytes()");
    if (read_only_) {
        throw PermissionsError(EACCES, describe() +
                                           ": bytes() gives a writable view but the "
                                           "segment is attached read-only (use "
                                           "cbytes())");
    }
    return {static_cast<std::byte*>(address_), size_};
}

std::span<const std::byte> SharedMemory::cbytes() const {
    check_attached("cbytes()");
    return {static_cast<const std::byte*>(address_), size_};
}

}  // namespace ipckit::sysv
