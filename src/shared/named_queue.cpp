// Named queues: a queue (src/shared/queue.cpp) in a POSIX shared memory object,
// /dev/shm/ipckit.q.NAME, behind a header that says what it holds and who uses it.
//
// Creation is race-free and never shows a half-made queue: the file is made without a name
// (open(O_TMPFILE) in /dev/shm), sized, mapped and initialised, and only then given its
// name with linkat(), which fails with EEXIST if the name exists: of many processes that
// create the same name at once, exactly one links, and an opener finds either no name or a
// complete queue. A creator killed before the link leaves nothing behind.
//
// Users: each process that opens the queue holds a slot in the header (its pid and start
// time, so a reused pid is not mistaken for it), claimed and released under a robust lock.
// On every open and close, slots of processes that are gone (no /proc/PID, a zombie, or
// another start time) are cleared. The process that closes and finds no live user left
// removes the name (if the name still refers to this queue). docs/queues.md.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <new>
#include <optional>
#include <sstream>

#include "ipckit/error.hpp"
#include "ipckit/lock.hpp"
#include "ipckit/named_queue.hpp"
#include "ipckit/queue.hpp"

namespace ipckit {
namespace detail {
namespace {

constexpr char magic[8] = {'i', 'p', 'c', 'k', 'i', 't', 'Q', '\0'};
constexpr std::uint32_t layout_version = 3;  // 2: a lock per side; 3: headers publish (queue.cpp)
constexpr std::size_t max_users = 128;
constexpr std::size_t max_name = 200;
constexpr const char* shm_dir = "/dev/shm";

// At the start of the shared memory object; the queue (QueueShared and ring) follows at
// header_bytes.
struct NamedHeader {
    char magic[8];
    std::uint32_t version;
    std::uint32_t header_bytes;
    std::uint64_t file_bytes;
    std::uint64_t queue_bytes;  // QueueCore::layout_bytes
    std::uint32_t element_size;
    std::uint32_t element_align;
    std::int32_t creator_pid;
    std::uint32_t reserved;
    std::int64_t created;
    char kind[16];
    char type[128];
    LockState users_lock;
    std::atomic<std::uint32_t> removed;  // the name no longer refers to this queue
    std::uint32_t reserved2;
    // (pid << 42) | (start time & (2^42 - 1)); 0: free.
    std::array<std::atomic<std::uint64_t>, max_users> users;
};
constexpr std::size_t header_bytes = (sizeof(NamedHeader) + 63) & ~std::size_t{63};

std::string file_name(std::string_view name) {
    return std::string(named_queue_prefix) + std::string(name);
}
std::string shm_name(std::string_view name) {
    return "/" + file_name(name);
}
std::string file_path(std::string_view name) {
    return std::string(shm_dir) + "/" + file_name(name);
}

// "Queue<int> 'jobs'", for errors before the queue is mapped.
std::string label(const char* kind, std::string_view type, std::string_view name) {
    std::string k = kind;
    if (k == "Queue") k += "<" + std::string(type) + ">";
    return k + " '" + std::string(name) + "'";
}

void check_name(const std::string& who, std::string_view name) {
    bool ok = !name.empty() && name.size() <= max_name && name.front() != '.';
    for (char c : name) {
        ok =
            ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
    }
    if (!ok) {
        throw ValueError(EINVAL, who + ": invalid queue name (1 to " + std::to_string(max_name) +
                                     " letters, digits, '_', '-' or '.', not starting with '.')");
    }
}

// --- who is alive ---

constexpr std::uint64_t start_mask = (std::uint64_t{1} << 42) - 1;

// The start time of `pid` (clock ticks since boot, /proc/PID/stat field 22); nullopt when
// the process is gone or a zombie.
std::optional<std::uint64_t> start_time(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');
    if (text.empty() || close == std::string::npos) return std::nullopt;
    std::istringstream fields(text.substr(close + 1));
    std::string field;
    std::uint64_t start = 0;
    for (int i = 3; i <= 22 && fields >> field; ++i) {
        if (i == 3 && (field == "Z" || field == "X" || field == "x")) return std::nullopt;
        if (i == 22) start = std::strtoull(field.c_str(), nullptr, 10);
    }
    return start;
}

std::uint64_t token_of(pid_t pid, std::uint64_t start) {
    return (static_cast<std::uint64_t>(pid) << 42) | (start & start_mask);
}

std::uint64_t own_token() {
    thread_local pid_t cached_pid = 0;  // (per thread: no lock; a forked child recomputes)
    thread_local std::uint64_t cached = 0;
    const pid_t pid = ::getpid();
    if (pid != cached_pid) {
        cached = token_of(pid, start_time(pid).value_or(0));
        cached_pid = pid;
    }
    return cached;
}

bool alive(std::uint64_t token) {
    const auto pid = static_cast<pid_t>(token >> 42);
    if (auto start = start_time(pid)) return (*start & start_mask) == (token & start_mask);
    // No /proc/PID: gone, unless /proc hides it (hidepid) and the process exists.
    return ::access("/proc/self/stat", R_OK) != 0 && ::kill(pid, 0) == 0;
}

struct UserCount {
    std::size_t live = 0, dead = 0;
};
UserCount count_users(const NamedHeader& h) {
    UserCount c;
    for (const auto& slot : h.users) {
        const std::uint64_t t = slot.load(std::memory_order_acquire);
        if (t == 0) continue;
        (alive(t) ? c.live : c.dead) += 1;
    }
    return c;
}

// Under users_lock: clears the slots of dead users.
void sweep(NamedHeader& h) {
    for (auto& slot : h.users) {
        std::uint64_t t = slot.load(std::memory_order_acquire);
        if (t != 0 && !alive(t)) slot.compare_exchange_strong(t, 0);
    }
}

class UsersLocked {
  public:
    explicit UsersLocked(NamedHeader& h) : h_(h) { h_.users_lock.lock(); }
    UsersLocked(const UsersLocked&) = delete;
    UsersLocked& operator=(const UsersLocked&) = delete;
    ~UsersLocked() { h_.users_lock.unlock(); }

  private:
    NamedHeader& h_;
};

// --- the mapping ---

// A mapped named queue. For an attached user (slot >= 0), destroying it releases the slot
// and, when no live user is left, removes the name.
struct Attachment {
    void* base = MAP_FAILED;
    std::size_t bytes = 0;
    std::string name;
    dev_t dev = 0;
    ino_t ino = 0;
    pid_t pid = 0;
    int slot = -1;

    Attachment() = default;
    Attachment(const Attachment&) = delete;
    Attachment& operator=(const Attachment&) = delete;
    NamedHeader& header() const { return *static_cast<NamedHeader*>(base); }

    // Under users_lock: marks the queue removed and unlinks its name if the name still
    // refers to it. True if this call removed it.
    bool unlink_locked() {
        NamedHeader& h = header();
        if (h.removed.exchange(1) != 0) return false;
        struct stat st {};
        if (::stat(file_path(name).c_str(), &st) != 0 || st.st_dev != dev || st.st_ino != ino) {
            return false;  // removed by hand, perhaps made again: not ours any more
        }
        return ::shm_unlink(shm_name(name).c_str()) == 0;
    }

    void claim(const std::string& who) {
        NamedHeader& h = header();
        const std::uint64_t me = own_token();
        for (int round = 0; round < 2; ++round) {
            for (std::size_t i = 0; i < max_users; ++i) {
                std::uint64_t expected = 0;
                if (h.users[i].compare_exchange_strong(expected, me)) {
                    slot = static_cast<int>(i);
                    pid = ::getpid();
                    return;
                }
            }
            sweep(h);
        }
        throw BusyError(BusyError::Reason::would_block, EUSERS,
                        who + ": " + std::to_string(max_users) +
                            " live processes have it open already (the most a named queue "
                            "counts); close some handles");
    }

    ~Attachment() {
        if (base == MAP_FAILED) return;
        if (slot >= 0 && ::getpid() == pid) {  // not in a forked child that inherited it
            try {
                NamedHeader& h = header();
                UsersLocked held(h);
                std::uint64_t mine = h.users[static_cast<std::size_t>(slot)].load();
                if (mine == own_token())
                    h.users[static_cast<std::size_t>(slot)].compare_exchange_strong(mine, 0);
                sweep(h);
                if (count_users(h).live == 0) unlink_locked();
            } catch (...) {  // (a stop request while waiting for the lock: keep the name)
            }
        }
        ::munmap(base, bytes);
    }
};

class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }

  private:
    int fd_;
};

[[noreturn]] void throw_errno(int e, const std::string& what) {
    if (e == ENOENT || e == EEXIST) throw ExistentialError(e, what);
    if (e == EACCES || e == EPERM) throw PermissionsError(e, what);
    throw Error(e, what);
}

std::string text_of(const char* field, std::size_t size) {
    return std::string(field, strnlen(field, size));
}

// Maps the named queue's file `fd` and checks that it is an ipckit queue of this layout.
// ValueError for a foreign or other-version file.
std::shared_ptr<Attachment> map_checked(int fd, std::string_view name, const std::string& who,
                                        bool writable) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) throw_errno(errno, who + ": fstat failed");
    const auto size = static_cast<std::size_t>(st.st_size);
    const std::string foreign = who + ": " + file_path(name) + " is not an ipckit queue";
    if (size < header_bytes) {
        throw ValueError(EINVAL, foreign + " (" + std::to_string(size) + " bytes, too short)");
    }
    auto a = std::make_shared<Attachment>();
    a->base =
        ::mmap(nullptr, size, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    if (a->base == MAP_FAILED) throw_errno(errno, who + ": mmap of " + file_path(name) + " failed");
    a->bytes = size;
    a->name = std::string(name);
    a->dev = st.st_dev;
    a->ino = st.st_ino;
    const NamedHeader& h = a->header();
    if (std::memcmp(h.magic, magic, sizeof magic) != 0) {
        throw ValueError(EINVAL, foreign + " (no ipckit header)");
    }
    if (h.version != layout_version) {
        throw ValueError(EPROTO, who + ": its layout version is " + std::to_string(h.version) +
                                     ", this ipckit reads version " +
                                     std::to_string(layout_version) +
                                     " (made by another ipckit version: remove it with `ipckit "
                                     "queue rm " +
                                     std::string(name) + "` and create it again)");
    }
    if (h.header_bytes != header_bytes || h.file_bytes != size ||
        h.queue_bytes > size - header_bytes) {
        throw ValueError(EINVAL, who + ": its header is inconsistent (" +
                                     std::to_string(h.file_bytes) + " bytes recorded, " +
                                     std::to_string(size) + " in the file): damaged");
    }
    return a;
}

NamedQueueInfo info_of(const Attachment& a, const struct stat& st) {
    const NamedHeader& h = a.header();
    NamedQueueInfo info;
    info.name = a.name;
    info.kind = text_of(h.kind, sizeof h.kind);
    info.type = text_of(h.type, sizeof h.type);
    info.element_size = h.element_size;
    info.creator_pid = h.creator_pid;
    info.created = static_cast<std::time_t>(h.created);
    info.uid = st.st_uid;
    info.mode = st.st_mode & 07777;
    info.file_bytes = static_cast<std::size_t>(st.st_size);
    auto users = count_users(h);
    info.users = users.live;
    info.dead_users = users.dead;
    // The queue's own state, read through a QueueCore that does not own the mapping.
    std::shared_ptr<std::byte> memory(std::shared_ptr<std::byte>(),
                                      static_cast<std::byte*>(a.base) + header_bytes);
    QueueCore core("Queue", memory, a.bytes - header_bytes, a.name, false, 1, 8, h.element_size);
    info.maxsize = core.maxsize();
    info.ring_bytes = core.max_bytes();
    info.messages = core.qsize();
    info.closed = core.closed();
    return info;
}

}  // namespace

std::shared_ptr<QueueCore> QueueCore::named(NamedMode mode, std::string_view name, const char* kind,
                                            std::string_view type, std::size_t fixed_size,
                                            std::size_t align, std::size_t maxsize,
                                            std::size_t max_bytes) {
    const std::string who = label(kind, type, name);
    check_name(who, name);
    auto finish = [&](const std::shared_ptr<Attachment>& a, std::shared_ptr<QueueCore> core) {
        core->remove_ = [a = a.get()] {
            UsersLocked held(a->header());
            return a->unlink_locked();
        };
        core->users_ = [a = a.get()] { return count_users(a->header()).live; };
        return core;
    };
    enum class Outcome { done, missing, removed, exists };
    std::shared_ptr<QueueCore> result;
    // Opens the queue if the name exists.
    auto try_open = [&]() -> Outcome {
        int raw = ::shm_open(shm_name(name).c_str(), O_RDWR | O_CLOEXEC, 0);
        if (raw < 0) {
            if (errno == ENOENT) return Outcome::missing;
            throw_errno(errno, who + ": cannot open " + file_path(name));
        }
        Fd fd(raw);
        auto a = map_checked(fd.get(), name, who, true);
        const NamedHeader& h = a->header();
        const std::string has_kind = text_of(h.kind, sizeof h.kind);
        const std::string has_type = text_of(h.type, sizeof h.type);
        if (has_kind != kind || has_type != type || h.element_size != fixed_size ||
            h.element_align != align) {
            throw ValueError(EINVAL, who + ": the queue holds another type: it is a " +
                                         label(has_kind.c_str(), has_type, name) +
                                         " (element size " + std::to_string(h.element_size) +
                                         "); open it with that type");
        }
        {
            UsersLocked held(a->header());
            if (a->header().removed.load() != 0) return Outcome::removed;
            a->claim(who);
        }
        auto memory =
            std::shared_ptr<std::byte>(a, static_cast<std::byte*>(a->base) + header_bytes);
        result = finish(a, std::make_shared<QueueCore>(kind, memory, a->bytes - header_bytes,
                                                       std::string(name), false, 1, 8, fixed_size));
        return Outcome::done;
    };
    // Creates it unless the name exists.
    auto try_create = [&]() -> Outcome {
        const std::size_t queue_bytes = layout_bytes(kind, maxsize, max_bytes, fixed_size);
        const std::size_t total = header_bytes + queue_bytes;
        int raw = ::open(shm_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (raw < 0) {
            throw_errno(errno, who + ": cannot make a file in " + std::string(shm_dir) +
                                   " (open with O_TMPFILE; is /dev/shm a tmpfs?)");
        }
        Fd fd(raw);
        if (::ftruncate(fd.get(), static_cast<off_t>(total)) != 0) {
            throw_errno(errno, who + ": cannot size it to " + std::to_string(total) + " bytes in " +
                                   shm_dir + " (out of shared memory?)");
        }
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0) throw_errno(errno, who + ": fstat failed");
        auto a = std::make_shared<Attachment>();
        a->base = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
        if (a->base == MAP_FAILED) throw_errno(errno, who + ": mmap failed");
        a->bytes = total;
        a->name = std::string(name);
        a->dev = st.st_dev;
        a->ino = st.st_ino;
        auto* h = new (a->base) NamedHeader{};
        std::memcpy(h->magic, magic, sizeof magic);
        h->version = layout_version;
        h->header_bytes = header_bytes;
        h->file_bytes = total;
        h->queue_bytes = queue_bytes;
        h->element_size = static_cast<std::uint32_t>(fixed_size);
        h->element_align = static_cast<std::uint32_t>(align);
        h->creator_pid = ::getpid();
        h->created = std::time(nullptr);
        std::snprintf(h->kind, sizeof h->kind, "%s", kind);
        std::snprintf(h->type, sizeof h->type, "%.*s", static_cast<int>(type.size()), type.data());
        auto memory =
            std::shared_ptr<std::byte>(a, static_cast<std::byte*>(a->base) + header_bytes);
        auto core = std::make_shared<QueueCore>(kind, memory, queue_bytes, std::string(name), true,
                                                maxsize, max_bytes, fixed_size);
        a->claim(who);  // nobody else sees it yet
        // Publish: the name appears with the queue complete, or not at all.
        const std::string proc_fd = "/proc/self/fd/" + std::to_string(fd.get());
        int linked = ::linkat(AT_FDCWD, proc_fd.c_str(), AT_FDCWD, file_path(name).c_str(),
                              AT_SYMLINK_FOLLOW);
        if (linked != 0 && errno == ENOENT && ::access("/proc/self/fd", F_OK) != 0) {
            linked = ::linkat(fd.get(), "", AT_FDCWD, file_path(name).c_str(), AT_EMPTY_PATH);
        }
        if (linked != 0) {
            const int e = errno;
            a->slot = -1;  // never published: nothing to release
            if (e == EEXIST) return Outcome::exists;
            throw_errno(e, who + ": cannot name it " + file_path(name));
        }
        core->created_ = true;
        result = finish(a, std::move(core));
        return Outcome::done;
    };
    for (int attempt = 0; attempt < 100; ++attempt) {
        if (mode != NamedMode::create) {
            const Outcome o = try_open();
            if (o == Outcome::done) return result;
            if (o == Outcome::removed) continue;
            if (mode == NamedMode::open) {
                throw ExistentialError(ENOENT, who + ": no such queue (" + file_path(name) +
                                                   "); create it with create(), or see "
                                                   "`ipckit queue ls`");
            }
        }
        const Outcome o = try_create();
        if (o == Outcome::done) return result;
        if (mode == NamedMode::create) {
            throw ExistentialError(EEXIST, who + ": a queue of that name exists already (" +
                                               file_path(name) +
                                               "); open it with open(), or remove it with "
                                               "`ipckit queue rm " +
                                               std::string(name) + "`");
        }
    }
    throw BusyError(BusyError::Reason::timed_out, EAGAIN,
                    who + ": created and removed by others 100 times while opening it");
}

// The existing queue file of `name`, opened with `flags`: ExistentialError when there is none.
Fd open_existing(std::string_view name, const std::string& who, int flags) {
    int raw = ::shm_open(shm_name(name).c_str(), flags | O_CLOEXEC, 0);
    if (raw < 0) {
        const int e = errno;
        if (e == ENOENT) {
            throw ExistentialError(ENOENT, who + ": no such queue (" + file_path(name) +
                                               "; `ipckit queue ls` lists them)");
        }
        throw_errno(e, who + ": cannot open " + file_path(name));
    }
    return Fd(raw);
}

}  // namespace detail

NamedQueueInfo named_queue_info(std::string_view name) {
    const std::string who = "queue '" + std::string(name) + "'";
    detail::check_name(who, name);
    detail::Fd fd = detail::open_existing(name, who, O_RDONLY);
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) detail::throw_errno(errno, who + ": fstat failed");
    auto a = detail::map_checked(fd.get(), name, who, false);
    return detail::info_of(*a, st);
}

std::vector<NamedQueueInfo> named_queues() {
    std::vector<NamedQueueInfo> found;
    DIR* dir = ::opendir(detail::shm_dir);
    if (!dir) return found;
    std::vector<std::string> names;
    while (dirent* e = ::readdir(dir)) {
        std::string_view n = e->d_name;
        if (n.substr(0, named_queue_prefix.size()) == named_queue_prefix) {
            names.emplace_back(n.substr(named_queue_prefix.size()));
        }
    }
    ::closedir(dir);
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
        try {
            found.push_back(named_queue_info(n));
        } catch (const ExistentialError&) {  // removed meanwhile
        } catch (const ValueError&) {        // not an ipckit queue (or another version)
        } catch (const PermissionsError&) {  // another user's: what the directory says
            struct stat st {};
            if (::stat(detail::file_path(n).c_str(), &st) != 0) continue;
            NamedQueueInfo info;
            info.name = n;
            info.kind = "?";
            info.type = "?";
            info.uid = st.st_uid;
            info.mode = st.st_mode & 07777;
            info.file_bytes = static_cast<std::size_t>(st.st_size);
            found.push_back(info);
        }
    }
    return found;
}

void remove_named_queue(std::string_view name) {
    const std::string who = "queue '" + std::string(name) + "'";
    detail::check_name(who, name);
    detail::Fd fd = detail::open_existing(name, who, O_RDWR);
    std::shared_ptr<detail::Attachment> a;
    try {
        a = detail::map_checked(fd.get(), name, who, true);
    } catch (const ValueError& e) {
        // Another version of ours (the magic matches) may go; anything else stays.
        if (e.code().value() != EPROTO) {
            throw ValueError(EINVAL, std::string(e.what()) + "; not removed");
        }
        if (::shm_unlink(detail::shm_name(name).c_str()) != 0) {
            detail::throw_errno(errno, who + ": cannot remove it");
        }
        return;
    }
    detail::UsersLocked held(a->header());
    if (!a->unlink_locked()) {
        throw ExistentialError(ENOENT, who + ": removed by another process meanwhile");
    }
}

}  // namespace ipckit
