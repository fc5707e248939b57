// The manager's wire: length-prefixed MessagePack frames, the request codes, the handshake.
//
// A frame is a 4-byte big-endian payload length followed by one MessagePack value. A request
// is an array [op, object id, args...]; a response is [status, value] (status 0: ok, value
// is the result; otherwise value is the error message and status says its kind). Decoding
// builds plain data (ipckit::Object) and never executes anything.
//
// Handshake, before any request (both sides prove they know the authkey). The server speaks
// first with the challenge frame of Python's multiprocessing.connection (3.12+ form), whose
// random payload starts with a marker, so that Python clients and ipckit clients can both
// answer it; the first answer says which kind of client it is:
//   server -> "#CHALLENGE#{sha256}ipckit1:" challenge_s     (raw bytes; challenge_s: 32 random)
//   client -> "{ipckit1}" [hmac(key, "client" + challenge_s + challenge_c), challenge_c, session]
//   server -> [true, hmac(key, "server" + challenge_c + challenge_s)]  or  [false, message]
// (a Python client answers with the HMAC of the whole challenge payload instead and the
// handshake goes on as Python's: python_server.hpp).
// The session is 16 random bytes per client process: references held by a process are
// counted per session and dropped when the session's last connection closes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ipckit/object.hpp"

namespace ipckit::detail::wire {

inline constexpr std::size_t handshake_max_frame = 1024;  // before authentication
inline constexpr int max_depth = 100;                     // nesting of decoded values
inline constexpr std::size_t challenge_size = 32;
inline constexpr std::size_t read_chunk = std::size_t{64} * 1024;  // bytes per recv
inline constexpr std::size_t session_size = 16;
inline constexpr const char* magic = "ipckit-manager";
inline constexpr int protocol_version = 1;
// The greeting: Python's challenge frame, "#CHALLENGE#" + "{sha256}" + greeting_marker +
// challenge_s. An ipckit client's answer starts with answer_marker.
inline constexpr std::string_view python_challenge_tag = "#CHALLENGE#";
inline constexpr std::string_view greeting_digest = "{sha256}";
inline constexpr std::string_view greeting_marker = "ipckit1:";
inline constexpr std::string_view answer_marker = "{ipckit1}";
// The payload of the greeting frame for `challenge`.
std::string greeting(std::string_view challenge);
// The ipckit challenge of a greeting payload; false when it is not an ipckit server's
// (a Python server's challenge, or garbage).
bool parse_greeting(std::string_view payload, std::string& challenge);
// An ipckit client's answer to the greeting: answer_marker + the MessagePack of `fields`
// ([proof, challenge_c, session]); and back (ValueError without the marker or malformed).
std::string client_answer(const Object& fields);
Object parse_client_answer(std::string_view payload, std::size_t max_decoded = 1 << 16);
// The challenge message Python peers HMAC: the greeting payload after "#CHALLENGE#".
inline std::string_view python_message(std::string_view greeting_payload) {
    return greeting_payload.substr(python_challenge_tag.size());
}

enum Op : int {
    create_dict = 1,
    create_list = 2,
    named_dict = 3,
    named_list = 4,
    incref = 5,
    decref = 6,
    stats = 7,
    shutdown = 8,
    ping = 9,
    repr = 10,
    len = 11,
    copy = 12,
    clear = 13,
    // [create, 0, type, name or nil, params...]: a new object of a type below (anonymous),
    // or the object named `name` (created on first use); answers its id.
    create = 14,
    // Ends this connection's parked request now: it is answered at once (status
    // interrupted) unless it was answered before. A cancel itself is never answered.
    cancel = 15,
    dict_get = 20,
    dict_get_default = 21,
    dict_set = 22,
    dict_del = 23,
    dict_contains = 24,
    dict_keys = 25,
    dict_values = 26,
    dict_items = 27,
    dict_pop = 28,
    dict_pop_default = 29,
    dict_popitem = 30,
    dict_setdefault = 31,
    dict_update_flat = 33,  // arg: [key1, value1, key2, value2, ...] (32 is retired)
    list_get = 40,
    list_set = 41,
    list_append = 42,
    list_extend = 43,
    list_insert = 44,
    list_pop = 45,
    list_remove = 46,
    list_index = 47,
    list_count = 48,
    list_reverse = 49,
    list_sort = 50,
    list_get_slice = 51,
    list_set_slice = 52,
    list_del_slice = 53,
    list_del = 54,
    list_contains = 55,
    // Queue / JoinableQueue. A blocking request carries [block, timeout]: timeout is nil
    // (wait as long as it takes) or a number of nanoseconds >= 0; such a request is parked
    // on the server until it can proceed, times out, is cancelled or its connection closes.
    queue_put = 60,        // [item, block, timeout] -> None, or status full
    queue_get = 61,        // [block, timeout] -> item, or status empty
    queue_qsize = 62,      // -> int
    queue_empty = 63,      // -> bool
    queue_full = 64,       // -> bool
    queue_maxsize = 65,    // -> int
    queue_task_done = 66,  // -> None (ValueError when called more times than put)
    queue_join = 67,       // [timeout] -> bool (false: timed out)
    // Lock, RLock, Semaphore, BoundedSemaphore.
    acquire = 70,  // [block, timeout] -> 0 not acquired, 1 acquired, 2 acquired and recovered
                   // (a holder died holding it and the server released it)
    release = 71,  // -> None (runtime_error when not held; ValueError: bounded over-release)
    // Event.
    event_set = 80,
    event_clear = 81,
    event_is_set = 82,  // -> bool
    event_wait = 83,    // [timeout] -> bool
    // Barrier.
    barrier_wait = 90,  // [timeout] -> the arrival index (status broken_barrier when broken)
    barrier_reset = 91,
    barrier_abort = 92,
    barrier_parties = 93,    // -> int
    barrier_n_waiting = 94,  // -> int
    barrier_broken = 95,     // -> bool
    // Condition (over a Lock or RLock, whose acquire/release the client sends to the lock).
    condition_wait = 100,        // [timeout] -> bool (false: timed out); the lock is released
                                 // while it waits and held again before the answer
    condition_notify = 101,      // [n] -> None
    condition_notify_all = 102,  // -> None
    condition_lock = 103,        // -> a ref to its lock
    // Namespace: attributes by name.
    namespace_get = 105,          // [name] -> value (key_error when absent)
    namespace_get_default = 106,  // [name, default] -> value
    namespace_set = 107,          // [name, value]
    namespace_del = 108,          // [name] (key_error when absent)
    namespace_contains = 109,     // [name] -> bool
    // Value and Array (typed as Python's array module).
    value_get = 110,  // -> value
    value_set = 111,  // [value]
    array_get = 112,  // [index] -> item (index_error)
    array_set = 113,  // [index, item] (index_error)
    // The server's named objects: -> [[name, type, len or nil], ...] sorted by name.
    named_objects = 126,
    // A custom registered type's method (ipckit/manager_registry.hpp): [method, args...]
    // -> its result (status value_error naming the exposed methods when it has none such).
    call_method = 127,
};

// The types `create` makes (its first argument).
inline constexpr const char* type_dict = "dict";
inline constexpr const char* type_list = "list";
inline constexpr const char* type_queue = "Queue";                   // params: [maxsize]
inline constexpr const char* type_joinable_queue = "JoinableQueue";  // params: [maxsize]
inline constexpr const char* type_lock = "Lock";
inline constexpr const char* type_rlock = "RLock";
inline constexpr const char* type_semaphore = "Semaphore";                 // params: [value]
inline constexpr const char* type_bounded_semaphore = "BoundedSemaphore";  // params: [value]
inline constexpr const char* type_event = "Event";
inline constexpr const char* type_barrier = "Barrier";      // params: [parties]
inline constexpr const char* type_condition = "Condition";  // params: [ref to a Lock or RLock]
inline constexpr const char* type_namespace = "Namespace";
inline constexpr const char* type_value = "Value";  // params: [typecode (a 1-char str), value]
inline constexpr const char* type_array = "Array";  // params: [typecode, [items...]]

enum Status : int {
    ok = 0,
    key_error = 1,
    index_error = 2,
    value_error = 3,
    other_error = 4,
    empty = 5,           // queue.Empty: get found no item (non-blocking, or timed out)
    full = 6,            // queue.Full: put found no room (non-blocking, or timed out)
    interrupted = 7,     // the parked request was cancelled
    runtime_error = 8,   // Python's RuntimeError (releasing a lock one does not hold)
    broken_barrier = 9,  // threading.BrokenBarrierError
    last_status = broken_barrier,
};

// Answers: [status, value] frames appended to `out`.
void append_ok(std::string& out, const Object& value);
void append_error(std::string& out, Status status, const std::string& message);

// An output that takes answers as values instead of frames: append_ok and append_error on
// an output registered with a sink (in this thread) hand the answer to the sink and append
// nothing. The server's Python connections use it (python_server.cpp): the Store and the
// types answer them as they answer ipckit clients, and the sink pickles the answers.
class AnswerSink {
  public:
    virtual ~AnswerSink() = default;
    virtual void ok(const Object& value) = 0;
    virtual void error(Status status, const std::string& message) = 0;
};
void register_sink(const std::string* out, AnswerSink* sink);
void unregister_sink(const std::string* out);

// Appends the MessagePack encoding of `object`, found at nesting level `depth` of its
// frame. Throws ValueError (before appending anything) when it nests deeper than the limit.
void encode(std::string& out, const Object& object, int depth = 0, int depth_limit = max_depth);
int nesting(const Object& object);  // 0 for a scalar, 1 for a flat list, ...
// Decodes exactly one value filling `data`. Throws ValueError when malformed, truncated,
// followed by trailing bytes, nested deeper than max_depth, or holding an unsupported type
// (ext, integers above INT64_MAX) or an unhashable dict key.
// Clients accept answers a few levels deeper than requests (a stored value sits one level
// deeper in an answer than it did in its request).
// `max_decoded` bounds the memory the decoded value may take (an estimate counted as it is
// built, before each allocation): a small frame can describe a large value (an empty array
// is one byte on the wire and about 50 bytes decoded), so the server refuses a frame whose
// value would exceed a multiple of its frame limit (ValueError, nothing kept).
Object decode(std::string_view data, int depth_limit = max_depth,
              std::size_t max_decoded = static_cast<std::size_t>(-1));
// The server's bound on a request's decoded size, for a frame limit of `max_frame`.
inline constexpr std::size_t decoded_size_factor = 2;
inline std::size_t max_decoded_for(std::size_t max_frame) {
    return max_frame > static_cast<std::size_t>(-1) / decoded_size_factor
               ? static_cast<std::size_t>(-1)
               : max_frame * decoded_size_factor;
}

// References to manager objects (Object::ref, a proxy stored in a dict or list) travel as
// MessagePack ext type 'R': 8 bytes of id (big-endian), then the type name.
inline constexpr int ref_ext_type = 'R';
inline constexpr std::size_t max_type_name = 200;
// How many refs decode() has produced on this thread so far (a caller compares the count
// before and after to learn whether a value holds any without walking it).
std::uint64_t refs_decoded() noexcept;

// Frames: `begin_frame` reserves the header, `end_frame` fills it in.
std::size_t begin_frame(std::string& out);
void end_frame(std::string& out, std::size_t start);
void append_frame(std::string& out, const Object& object);

// Accumulates bytes from a stream and cuts them into frames.
class FrameReader {
  public:
    explicit FrameReader(std::size_t max_frame) : max_frame_(max_frame) {}
    void set_max_frame(std::size_t max_frame) { max_frame_ = max_frame; }
    // Room to read into: at least `n` bytes at the returned pointer; then call commit.
    char* prepare(std::size_t n);
    void commit(std::size_t n) { end_ += n; }
    void append(const char* data, std::size_t n) {
        std::char_traits<char>::copy(prepare(n), data, n);
        commit(n);
    }
    // The next whole frame's payload (valid until the next call), or false when more bytes
    // are needed. Throws ValueError when a header announces more than the limit.
    bool next(std::string_view& payload);
    std::size_t buffered() const { return end_ - begin_; }

  private:
    std::string buffer_;
    std::size_t begin_ = 0, end_ = 0;
    std::size_t max_frame_;
};

// HMAC-SHA256(key, label + a + b).
std::string hmac(std::string_view key, std::string_view label, std::string_view a,
                 std::string_view b);
bool equal_digests(std::string_view a, std::string_view b);
std::string random_bytes(std::size_t n);
// Lower-case hexadecimal of `bytes` (authkeys, session and object names).
std::string to_hex(std::string_view bytes);

}  // namespace ipckit::detail::wire
