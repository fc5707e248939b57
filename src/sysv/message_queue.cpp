#include "ipckit/sysv/message_queue.hpp"

#include <sys/ipc.h>
#include <sys/msg.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "interrupt_timer.hpp"
#include "ipckit/signals.hpp"
#include "object_impl.hpp"

namespace ipckit::sysv {
namespace detail {

template <>
struct Traits<QueueInfo> : TraitsBase<msqid_ds, Kind::message_queue, &msqid_ds::msg_perm> {
    static int ctl(int id, int command, msqid_ds* ds) { return msgctl(id, command, ds); }
    static QueueInfo make(const ObjectInfo& common, const msqid_ds& ds) {
        return {common,       ds.msg_qnum,  ds.__msg_cbytes, ds.msg_qbytes, ds.msg_stime,
                ds.msg_rtime, ds.msg_ctime, ds.msg_lspid,    ds.msg_lrpid};
    }
    // Raising the capacity above msgmnb takes privilege: say so rather than "denied".
    static void explain_set_failure(int err, const msqid_ds& ds, const std::string& who) {
        const std::size_t msgmnb = message_queue_limits().msgmnb;
        if (err == EPERM && ds.msg_qbytes > msgmnb) {
            throw PermissionsError(err, who +
                                            ": only a privileged process may raise the "
                                            "capacity above msgmnb (" +
                                            std::to_string(msgmnb) +
                                            "); raise /proc/sys/kernel/msgmnb");
        }
    }
};

template class Object<QueueInfo>;

}  // namespace detail

namespace {

using ipckit::detail::Clock;

std::size_t cached_msgmax() {
    // Read once: /proc is too slow for every send. A raised limit needs a restart.
    static const std::size_t value = message_queue_limits().msgmax;
    return value;
}

constexpr auto throw_for = detail::fail<QueueInfo>;

// Every receive uses the same scratch space per thread, so receive() allocates only
// the returned string and receive_into nothing at all.
std::vector<long>& scratch(std::size_t bytes) {
    thread_local std::vector<long> buffer;
    std::size_t longs = 1 + (bytes + sizeof(long) - 1) / sizeof(long);
    if (buffer.size() < longs) buffer.resize(longs);
    return buffer;
}

bool selects(long wanted, bool except, long type) {
    if (except) return type != wanted;
    if (wanted == 0) return true;
    if (wanted > 0) return type == wanted;
    return type <= -wanted;
}

// Finds the size of the message a receive with these options would take, without
// taking it (MSG_COPY peeks by position). Returns {0, 0} when the kernel can't tell.
std::pair<std::size_t, long> peek_size(int id, const ReceiveOptions& options) {
    msqid_ds ds{};
    if (msgctl(id, IPC_STAT, &ds) != 0) return {0, 0};
    std::size_t limit = std::max(cached_msgmax(), message_queue_limits().msgmax);
    std::vector<long> buffer(1 + limit / sizeof(long) + 1);
    std::size_t best_size = 0;
    long best_type = 0;
    bool found = false;
    for (msgqnum_t index = 0; index < ds.msg_qnum; ++index) {
        ssize_t n =
            msgrcv(id, buffer.data(), limit, static_cast<long>(index), MSG_COPY | IPC_NOWAIT);
        if (n < 0) break;  // ENOSYS without CONFIG_CHECKPOINT_RESTORE, or the queue changed
        long type = buffer[0];
        if (!selects(options.type, options.except, type)) continue;
        // A negative type takes the lowest type first; otherwise the first that matches.
        if (!found || (options.type < 0 && !options.except && type < best_type)) {
            best_size = static_cast<std::size_t>(n);
            best_type = type;
            found = true;
            if (options.type >= 0 || options.except) break;
        }
    }
    return {best_size, best_type};
}

// Why a send would wait: "the queue is full (16381 of 16384 bytes, 1000 messages; see
// `ipcs -q -i 5`)", so that the user can tell who fills it.
std::string full_queue_text(int id) {
    std::string text = "the queue is full (";
    msqid_ds ds{};
    if (msgctl(id, IPC_STAT, &ds) == 0) {
        text += std::to_string(ds.__msg_cbytes) + " of " + std::to_string(ds.msg_qbytes) +
                " bytes, " + std::to_string(ds.msg_qnum) + " messages; ";
    }
    text += "see `ipcs -q -i " + std::to_string(id) + "`)";
    return text;
}

}  // namespace

// --- MessageBuffer ---

MessageBuffer::MessageBuffer(std::size_t capacity)
    : storage_(new long[1 + (capacity + sizeof(long) - 1) / sizeof(long)]()), capacity_(capacity) {}

long MessageBuffer::type() const noexcept {
    return storage_[0];
}

std::span<const std::byte> MessageBuffer::bytes() const noexcept {
    return {reinterpret_cast<const std::byte*>(storage_.get() + 1), size_};
}

std::string_view MessageBuffer::text() const noexcept {
    return {reinterpret_cast<const char*>(storage_.get() + 1), size_};
}

void MessageBuffer::assign(std::span<const std::byte> data, long type) {
    if (data.size() > capacity_) {
        throw ValueError(EINVAL, "message of " + std::to_string(data.size()) +
                                     " bytes does not fit a MessageBuffer of " +
                                     std::to_string(capacity_));
    }
    storage_[0] = type;
    if (!data.empty()) std::memcpy(storage_.get() + 1, data.data(), data.size());
    size_ = data.size();
}

void MessageBuffer::assign(std::string_view data, long type) {
    assign(std::as_bytes(std::span(data.data(), data.size())), type);
}

// --- construction ---

MessageQueue::MessageQueue(Key key, int flags, int mode, std::size_t max_message_size)
    : Object(key), max_message_size_(max_message_size) {
    id_ = msgget(key, flags | (mode & 0777));
    if (id_ < 0) throw_for(errno, describe(), "msgget");
}

MessageQueue::MessageQueue(std::nullopt_t, int flags, int mode, std::size_t max_message_size)
    : max_message_size_(max_message_size) {
    // Try random keys until one is free, as sysv_ipc does for key=None.
    for (;;) {
        key_ = random_key();
        id_ = msgget(key_, flags | IPC_CREX | (mode & 0777));
        if (id_ >= 0) return;
        if (errno != EEXIST) throw_for(errno, describe(), "msgget");
    }
}

MessageQueue MessageQueue::from_id(int id, std::size_t max_message_size) {
    MessageQueue queue;
    queue.open_id(id);
    queue.max_message_size_ = max_message_size;
    return queue;
}

// --- send ---

void MessageQueue::send(std::string_view data, const SendOptions& options) {
    send_raw(data.data(), data.size(), options);
}

void MessageQueue::send(std::span<const std::byte> data, const SendOptions& options) {
    send_raw(data.data(), data.size(), options);
}

void MessageQueue::send_raw(const void* data, std::size_t size, const SendOptions& options) {
    if (options.type <= 0) {
        throw ValueError(
            EINVAL, describe() + ": message type must be > 0, not " + std::to_string(options.type));
    }
    if (size > max_message_size_) {
        throw ValueError(EINVAL, describe() + ": message of " + std::to_string(size) +
                                     " bytes is longer than max_message_size (" +
                                     std::to_string(max_message_size_) +
                                     "); open the queue with a larger max_message_size");
    }
    if (size > cached_msgmax()) {
        throw ValueError(EINVAL, describe() + ": message of " + std::to_string(size) +
                                     " bytes is longer than the kernel's limit msgmax (" +
                                     std::to_string(cached_msgmax()) +
                                     "); raise /proc/sys/kernel/msgmax");
    }
    auto& buffer = scratch(size);
    buffer[0] = options.type;
    if (size > 0) std::memcpy(buffer.data() + 1, data, size);
    send_prepared(buffer.data(), size, options);
}

void MessageQueue::send(const MessageBuffer& buffer, bool block) {
    SendOptions options;
    options.type = buffer.type();
    options.block = block;
    if (options.type <= 0) {
        throw ValueError(
            EINVAL, describe() + ": message type must be > 0, not " + std::to_string(options.type));
    }
    if (buffer.size() > cached_msgmax()) {
        throw ValueError(EINVAL, describe() + ": message of " + std::to_string(buffer.size()) +
                                     " bytes is longer than the kernel's limit msgmax (" +
                                     std::to_string(cached_msgmax()) +
                                     "); raise /proc/sys/kernel/msgmax");
    }
    send_prepared(buffer.storage_.get(), buffer.size(), options);
}

void MessageQueue::send_prepared(const void* message, std::size_t size,
                                 const SendOptions& options) {
    int flags = options.block ? 0 : IPC_NOWAIT;
    std::optional<Clock::time_point> deadline;
    std::optional<ipckit::detail::InterruptTimer> timer;
    if (options.block && options.timeout) {
        deadline = Clock::now() + *options.timeout;
        if (options.timeout->count() <= 0) {
            flags |= IPC_NOWAIT;
        } else {
            timer.emplace(*deadline);
        }
    }
    for (;;) {
        if (stop_requested()) throw InterruptedError(EINTR, describe() + ": send stopped");
        // A send rarely waits: try without blocking first (detail::after_failure).
        const bool first_try = !(flags & IPC_NOWAIT) && !timer;
        if (msgsnd(id_, message, size, first_try ? flags | IPC_NOWAIT : flags) == 0) return;
        int err = errno;
        auto next = detail::after_failure(err, first_try, timer, deadline);
        if (next == detail::Next::retry) continue;
        if (next == detail::Next::busy) {
            if (deadline) {
                throw BusyError(BusyError::Reason::timed_out, ETIMEDOUT,
                                describe() + ": send timed out: " + full_queue_text(id_));
            }
            throw BusyError(BusyError::Reason::would_block, err,
                            describe() + ": msgsnd would block: " + full_queue_text(id_));
        }
        if (err == EINVAL) {
            // Either the queue is gone or the message exceeds the queue's capacity.
            msqid_ds ds{};
            if (msgctl(id_, IPC_STAT, &ds) != 0) throw_for(EIDRM, describe(), "msgsnd");
            if (size > ds.msg_qbytes) {
                throw ValueError(err, describe() + ": message of " + std::to_string(size) +
                                          " bytes exceeds the queue's capacity (" +
                                          std::to_string(ds.msg_qbytes) +
                                          " bytes); raise it with set_max_size");
            }
        }
        throw_for(err, describe(), "msgsnd");
    }
}

// --- receive ---

std::size_t MessageQueue::receive_raw(void* buffer, std::size_t capacity,
                                      const ReceiveOptions& options, long& type) {
    if (options.except && options.type <= 0) {
        throw ValueError(EINVAL, describe() + ": except_type needs a type > 0");
    }
    int flags = 0;
    if (options.except) flags |= MSG_EXCEPT;
    if (options.truncate) flags |= MSG_NOERROR;

    // Adaptive wait: poll without sleeping for a short while before blocking.
    if (options.block && options.spin.count() > 0) {
        auto until = Clock::now() + options.spin;
        do {
            ssize_t n = msgrcv(id_, buffer, capacity, options.type, flags | IPC_NOWAIT);
            if (n >= 0) {
                type = static_cast<long*>(buffer)[0];
                return static_cast<std::size_t>(n);
            }
            if (errno != ENOMSG && errno != EINTR) break;  // report it below
        } while (Clock::now() < until);
    }

    std::optional<Clock::time_point> deadline;
    std::optional<ipckit::detail::InterruptTimer> timer;
    if (!options.block) {
        flags |= IPC_NOWAIT;
    } else if (options.timeout) {
        deadline = Clock::now() + *options.timeout;
        if (options.timeout->count() <= 0) {
            flags |= IPC_NOWAIT;
        } else {
            // Arming the timer costs system calls: skip it when a message is already there.
            ssize_t n = msgrcv(id_, buffer, capacity, options.type, flags | IPC_NOWAIT);
            if (n >= 0) {
                type = static_cast<long*>(buffer)[0];
                return static_cast<std::size_t>(n);
            }
            if (errno == ENOMSG || errno == EINTR) timer.emplace(*deadline);
        }
    }
    if (!(flags & IPC_NOWAIT) && !timer) timer.emplace();  // a stop request wakes it
    for (;;) {
        if (stop_requested()) throw InterruptedError(EINTR, describe() + ": receive stopped");
        ssize_t n = msgrcv(id_, buffer, capacity, options.type, flags);
        if (n >= 0) {
            type = static_cast<long*>(buffer)[0];
            return static_cast<std::size_t>(n);
        }
        int err = errno;
        auto next = detail::after_failure(err, false, timer, deadline);
        if (next == detail::Next::retry) continue;
        if ((next == detail::Next::busy || err == ENOMSG) && deadline) {
            throw BusyError(BusyError::Reason::timed_out, ETIMEDOUT,
                            describe() + ": no message within the timeout");
        }
        if (err == E2BIG) {
            auto [size, big_type] = peek_size(id_, options);
            std::string what = describe() + ": the next message";
            if (size > 0)
                what +=
                    " (" + std::to_string(size) + " bytes, type " + std::to_string(big_type) + ")";
            what += " is longer than the receive buffer of " + std::to_string(capacity) +
                    " bytes; it is still on the queue: receive it with a larger buffer "
                    "(max_message_size) or with sysv::truncate";
            throw MessageTooLargeError(what, size, big_type);
        }
        if (err == EINVAL) {
            // Linux reports a removed queue as EINVAL or EIDRM.
            msqid_ds ds{};
            if (msgctl(id_, IPC_STAT, &ds) != 0) err = EIDRM;
        }
        throw_for(err, describe(), "msgrcv");
    }
}

Message MessageQueue::receive(const ReceiveOptions& options) {
    auto& buffer = scratch(max_message_size_);
    long type = 0;
    std::size_t size = receive_raw(buffer.data(), max_message_size_, options, type);
    return {std::string(reinterpret_cast<const char*>(buffer.data() + 1), size), type};
}

Received MessageQueue::receive_into(MessageBuffer& buffer, const ReceiveOptions& options) {
    long type = 0;
    buffer.size_ = 0;
    buffer.size_ = receive_raw(buffer.raw(), buffer.capacity(), options, type);
    return {buffer.size_, type};
}

// --- attributes ---

void MessageQueue::set_max_size(std::size_t bytes) {
    detail::change<QueueInfo>(id_, describe(), [&](msqid_ds& ds) { ds.msg_qbytes = bytes; });
}
}  // namespace ipckit::sysv
