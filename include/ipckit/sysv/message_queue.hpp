// ipckit::sysv::MessageQueue: a System V message queue, as sysv_ipc.MessageQueue.
//
//   sysv::MessageQueue mq(128, IPC_CREAT);     // mode 0600, like sysv_ipc
//   mq.set_auto_remove(true);                  // removed with mq, even if a call throws
//   mq.send("42");                             // type 1
//   auto msg = mq.receive();                   // first message, any type: {"42", 1}
//   mq.send("ok", sysv::type(3));
//   auto reply = mq.receive(sysv::type(3), sysv::timeout(2s));  // BusyError if none in 2 s
//   mq.remove();                               // now, rather than at the end of scope
//
// The object is a handle: destroying it leaves the kernel queue in place (queues
// outlive processes), unless set_auto_remove(true) asked for removal.
#pragma once

#include <sys/types.h>
#include <chrono>
#include <cstddef>
#include <ctime>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/sysv/ipc.hpp"
#include "ipckit/sysv/object.hpp"

namespace ipckit::sysv {

// sysv_ipc's default receive buffer size.
inline constexpr std::size_t default_max_message_size = 2048;

struct Message {
    std::string data;  // the bytes, exactly as sent (not necessarily text)
    long type = 0;
};

struct SendOptions {
    long type = 1;
    bool block = true;
    std::optional<std::chrono::nanoseconds> timeout;  // only when blocking
};

struct ReceiveOptions {
    long type = 0;  // 0: first message; >0: first of that type; <0: lowest type <= |type|
    bool block = true;
    bool except = false;    // MSG_EXCEPT: first message whose type is not `type` (> 0)
    bool truncate = false;  // MSG_NOERROR: cut a too-long message instead of failing
    std::optional<std::chrono::nanoseconds> timeout;
    // Adaptive wait: before sleeping in the kernel, poll without blocking for up to
    // this long. Cuts round-trip latency when the peer answers fast, at the price of
    // up to `spin` of CPU per receive.
    std::chrono::nanoseconds spin{0};
};

// Option tags, so that calls read like sysv_ipc's keyword arguments:
//   mq.receive(sysv::type(3), sysv::timeout(2s));
//   mq.send(data, sysv::type(5), sysv::nonblocking);
struct TypeOption {
    long value;
};
struct ExceptTypeOption {
    long value;
};
struct TimeoutOption {
    std::chrono::nanoseconds value;
};
struct SpinOption {
    std::chrono::nanoseconds value;
};
struct NonBlockingOption {};
struct TruncateOption {};

inline TypeOption type(long value) {
    return {value};
}
// Any message whose type is not `value` (MSG_EXCEPT).
inline ExceptTypeOption except_type(long value) {
    return {value};
}
template <class Rep, class Period>
TimeoutOption timeout(std::chrono::duration<Rep, Period> value) {
    return {std::chrono::duration_cast<std::chrono::nanoseconds>(value)};
}
template <class Rep, class Period>
SpinOption adaptive_wait(std::chrono::duration<Rep, Period> value) {
    return {std::chrono::duration_cast<std::chrono::nanoseconds>(value)};
}
inline constexpr NonBlockingOption nonblocking{};
inline constexpr TruncateOption truncate{};

inline void apply(SendOptions& o, TypeOption t) {
    o.type = t.value;
}
inline void apply(SendOptions& o, TimeoutOption t) {
    o.timeout = t.value;
}
inline void apply(SendOptions& o, NonBlockingOption) {
    o.block = false;
}
inline void apply(ReceiveOptions& o, TypeOption t) {
    o.type = t.value;
}
inline void apply(ReceiveOptions& o, ExceptTypeOption t) {
    o.type = t.value;
    o.except = true;
}
inline void apply(ReceiveOptions& o, TimeoutOption t) {
    o.timeout = t.value;
}
inline void apply(ReceiveOptions& o, SpinOption t) {
    o.spin = t.value;
}
inline void apply(ReceiveOptions& o, NonBlockingOption) {
    o.block = false;
}
inline void apply(ReceiveOptions& o, TruncateOption) {
    o.truncate = true;
}

// The option tags that send() and receive() accept. The variadic overloads take only
// these, so the positional forms send(data, block, type) and receive(block, type) work
// with any integer type (an int type would otherwise pick the variadic template).
template <class T>
concept SendOption = requires(SendOptions& o, T t) { apply(o, t); };
template <class T>
concept ReceiveOption = requires(ReceiveOptions& o, T t) { apply(o, t); };

// A receive buffer laid out as the kernel wants it (type, then bytes), so that
// receive_into fills it without copying or allocating.
class MessageBuffer {
  public:
    explicit MessageBuffer(std::size_t capacity);
    std::size_t capacity() const noexcept { return capacity_; }
    std::size_t size() const noexcept { return size_; }
    long type() const noexcept;
    std::span<const std::byte> bytes() const noexcept;
    std::string_view text() const noexcept;
    // Fills the buffer for MessageQueue::send(buffer): copy once, send many times.
    void assign(std::span<const std::byte> data, long type);
    void assign(std::string_view data, long type);
    // Changes the type only, e.g. to echo a received message back as a reply.
    void set_type(long type) noexcept { storage_[0] = type; }

  private:
    friend class MessageQueue;
    void* raw() noexcept { return storage_.get(); }
    std::unique_ptr<long[]> storage_;
    std::size_t capacity_;
    std::size_t size_ = 0;
};

// What receive_into returns.
struct Received {
    std::size_t size;
    long type;
};

// A message was longer than the receive buffer. It is still on the queue: retry
// with a buffer of message_size() bytes, or receive with sysv::truncate.
class MessageTooLargeError : public Error {
  public:
    MessageTooLargeError(const std::string& what, std::size_t message_size, long message_type)
        : Error(E2BIG, what), message_size_(message_size), message_type_(message_type) {}
    // 0 when the kernel could not tell (no MSG_COPY support).
    std::size_t message_size() const noexcept { return message_size_; }
    long message_type() const noexcept { return message_type_; }

  private:
    std::size_t message_size_;
    long message_type_;
};

// Everything IPC_STAT tells about a queue.
struct QueueInfo : ObjectInfo {
    std::size_t current_messages = 0;
    std::size_t current_bytes = 0;
    std::size_t max_size = 0;  // capacity in bytes (msg_qbytes)
    std::time_t last_send_time = 0;
    std::time_t last_receive_time = 0;
    std::time_t last_change_time = 0;
    pid_t last_send_pid = 0;
    pid_t last_receive_pid = 0;
};

// key(), id(), info(), uid/gid/mode, remove() and describe(): see ipckit/sysv/object.hpp.
class MessageQueue : public detail::Object<QueueInfo> {
  public:
    // Opens (flags 0) or creates (IPC_CREAT, IPC_CREX) the queue with this key.
    // max_message_size is the receive buffer size and the largest message send accepts.
    explicit MessageQueue(Key key, int flags = 0, int mode = default_mode,
                          std::size_t max_message_size = default_max_message_size);
    // key = std::nullopt: a random free key, created exclusively (sysv_ipc's key=None).
    explicit MessageQueue(std::nullopt_t, int flags = IPC_CREX, int mode = default_mode,
                          std::size_t max_message_size = default_max_message_size);
    // Opens an existing queue by its id (as ipcs shows it).
    static MessageQueue from_id(int id, std::size_t max_message_size = default_max_message_size);

    MessageQueue(MessageQueue&& other) noexcept = default;
    MessageQueue& operator=(MessageQueue&& other) noexcept = default;
    ~MessageQueue() = default;

    // --- sending ---
    void send(std::string_view data, const SendOptions& options);
    void send(std::span<const std::byte> data, const SendOptions& options);
    // Sends the buffer's bytes with the buffer's type, straight from it (no copy).
    void send(const MessageBuffer& buffer, bool block = true);
    // sysv_ipc's positional form: send(message, block=True, type=1).
    void send(std::string_view data, bool block = true, long type = 1) {
        send(data, SendOptions{type, block, std::nullopt});
    }
    template <SendOption... Options>
        requires(sizeof...(Options) > 0)
    void send(std::string_view data, Options... options) {
        SendOptions o;
        (apply(o, options), ...);
        send(data, o);
    }

    // --- receiving ---
    Message receive(const ReceiveOptions& options);
    // sysv_ipc's positional form: receive(block=True, type=0).
    Message receive(bool block = true, long type = 0) {
        ReceiveOptions o;
        o.block = block;
        o.type = type;
        return receive(o);
    }
    template <ReceiveOption... Options>
        requires(sizeof...(Options) > 0)
    Message receive(Options... options) {
        ReceiveOptions o;
        (apply(o, options), ...);
        return receive(o);
    }
    // Receives straight into the buffer: no allocation, no copy.
    Received receive_into(MessageBuffer& buffer, const ReceiveOptions& options = {});
    template <ReceiveOption... Options>
    Received receive_into(MessageBuffer& buffer, Options... options) {
        ReceiveOptions o;
        (apply(o, options), ...);
        return receive_into(buffer, o);
    }

    // --- attributes (each reads the kernel's current state) ---
    std::size_t max_message_size() const noexcept { return max_message_size_; }
    std::size_t current_messages() const { return info().current_messages; }
    std::size_t max_size() const { return info().max_size; }
    void set_max_size(std::size_t bytes);
    std::time_t last_send_time() const { return info().last_send_time; }
    std::time_t last_receive_time() const { return info().last_receive_time; }
    std::time_t last_change_time() const { return info().last_change_time; }
    pid_t last_send_pid() const { return info().last_send_pid; }
    pid_t last_receive_pid() const { return info().last_receive_pid; }

  private:
    MessageQueue() = default;
    void send_raw(const void* data, std::size_t size, const SendOptions& options);
    void send_prepared(const void* message, std::size_t size, const SendOptions& options);
    std::size_t receive_raw(void* buffer, std::size_t capacity, const ReceiveOptions& options,
                            long& type);

    std::size_t max_message_size_ = default_max_message_size;
};

// Information about every queue on the system (as `ipcs -q`), from /proc/sysvipc/msg.
inline constexpr auto list_message_queues = &detail::Object<QueueInfo>::list;

// Removes the queue with this id (sysv_ipc.remove_message_queue).
inline constexpr auto remove_message_queue = &detail::Object<QueueInfo>::remove_id;

}  // namespace ipckit::sysv
