// The manager server's objects, independent of sockets: requests in, answers out.
//
// Objects are named (live as long as the server) or anonymous (reference counted; the
// references are held by sessions, one per client process, and a session's references
// are dropped when its last connection closes, so a client that dies frees its objects).
//
// Each type is a Referent (types/types.hpp) with its own file of handlers, registered by
// op code in one dispatch table. A blocking request that cannot proceed is parked: it is
// answered later, when another request (or a connection closing) lets it proceed, when its
// deadline passes (expire(), driven by the server loop's poll timeout), or when its
// connection sends `cancel`; a connection that closes takes its parked request with it
// (nothing is answered, nothing handed over) and gives back the locks it holds.
//
// A dict, list or Namespace may hold refs to other objects (Object::ref: a proxy stored in
// it), and a Condition refers to its lock: each such reference counts like a session's, so
// a referent lives while anything refers to it. A request holding refs is checked (each
// names a live object) and refused by types that cannot hold them; after a request to an
// object that holds refs, the object's references are counted again (resync), and every
// ref in the answer is one more reference for the caller's session (its proxy drops it).
// Objects that refer only to each other (a dict holding itself) are freed once nothing
// else refers to them (collect_cycles).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "ipckit/object.hpp"

namespace ipckit {
class Registry;
}

namespace ipckit::detail {

using Clock = std::chrono::steady_clock;
using ConnId = std::uint64_t;
class Referent;

// A parked request.
struct Waiter {
    std::uint64_t seq;  // arrival order: each channel answers its waiters in this order
    ConnId conn;
    std::uint64_t object;
    int op;
    int channel;
    Object::List args;
    Clock::time_point deadline;  // Clock::time_point::max(): none
};

class Store {
  public:
    Store();
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    // An authenticated connection of `session` opened: its answers are appended to `*out`
    // (which must outlive the connection's registration).
    void open_connection(ConnId conn, const std::string& session, std::string* out);
    // It closed: its parked request is dropped unanswered, what it holds is released (the
    // next holder is told), and its session's references go with the session's last one.
    void close_connection(ConnId conn);

    // Handles one request frame's payload from `conn`, appending the answer to its output
    // now, or later when the request was parked. Throws ValueError when the payload is not
    // MessagePack (the caller closes the connection); a well-formed but wrong request gets an
    // error answer.
    void handle(ConnId conn, std::string_view payload);

    // The same for a decoded request (the server's Python connections translate theirs).
    void request(ConnId conn, int op, std::uint64_t id, Object::List args, bool has_refs = false);
    // The type name of object `id` (wire::type_dict, ...), or nullptr when there is none.
    const char* type_of(std::uint64_t id) const;
    // Keeps `session` (and the references it holds) alive without a connection, until as
    // many release_session calls: a Python client process opens a connection per request
    // besides its long-lived ones, so its references must outlive its connections.
    void hold_session(const std::string& session);
    void release_session(const std::string& session);

    // The earliest deadline of a parked request, if any.
    std::optional<Clock::time_point> next_deadline() const;
    // Answers the parked requests whose deadline is at or before `now`.
    void expire(Clock::time_point now);
    // Whether `conn` has a parked request.
    bool parked(ConnId conn) const;
    std::size_t waiting_count() const { return waiters_.size(); }

    bool shutdown_requested() const { return shutdown_; }
    std::size_t object_count() const { return objects_.size(); }
    std::size_t named_count() const { return names_.size(); }
    std::size_t session_count() const { return sessions_.size(); }
    void set_connection_count(std::size_t n) { connections_ = n; }
    // The most memory a request's decoded value may take (see wire::decode); a request
    // over it is refused like a malformed one (the caller closes that connection).
    void set_max_decoded(std::size_t n) { max_decoded_ = n; }
    // The custom types served besides the built-in ones (must outlive the store).
    void set_registry(const ipckit::Registry* registry) { registry_ = registry; }

    // For the type handlers (types/*.cpp).
    // `conn` now holds (part of) object `id`: told when `conn` closes
    // (Referent::connection_closed).
    void note_hold(ConnId conn, std::uint64_t id);
    // The output of `conn` (which is then counted as touched).
    std::string& output(ConnId conn);
    // The connections whose output was appended to since the last call (the server
    // watches them for room to send).
    // Swapped into `into` (cleared first), so that both buffers keep their capacity.
    void take_touched(std::vector<ConnId>& into) {
        into.clear();
        into.swap(touched_);
    }
    // `item`, taken from object `id`, is in an answer to `conn` that is not yet written to
    // its socket: if the connection closes before it is (the client died), the item goes
    // back to the object (Referent::give_back), so that it reaches a live caller.
    void hand_over(ConnId conn, std::uint64_t id, Object item);
    // The server wrote all of `conn`'s output to its socket: what was handed over is
    // delivered.
    void delivered(ConnId conn);
    // The object `id`, or nullptr.
    Referent* find(std::uint64_t id);
    // Parked request `seq` now waits on `object`'s `channel`, without a deadline (a
    // Condition's waiter, notified or timed out, re-acquires its lock).
    void move_waiter(std::uint64_t seq, std::uint64_t object, int channel);
    // Object `id` changed: its parked requests that can proceed now are answered.
    void changed(std::uint64_t id) { wake(id); }

  private:
    struct Entry {
        std::unique_ptr<Referent> referent;
        std::string name;  // empty when anonymous
        std::uint64_t refs = 0;
        std::unordered_map<std::uint64_t, std::uint64_t> held;  // objects it refers to
    };
    struct Session {
        std::unordered_map<std::uint64_t, std::uint64_t> refs;
        std::size_t connections = 0;
    };
    struct Conn {
        std::string session;
        std::string* out;
        std::optional<std::uint64_t> parked;  // the seq of its parked request
        std::unordered_set<std::uint64_t> holds;
        std::vector<std::pair<std::uint64_t, Object>> in_flight;  // see hand_over
    };
    friend struct Call;

    // request() and handle(): runs the request, its answer appended to `out`.
    void serve(ConnId conn, int op, std::uint64_t id, Object::List& args, bool has_refs,
               std::string& out);
    void dispatch(ConnId conn, int op, std::uint64_t id, Object::List& args);
    void apply(Conn& c, ConnId conn, Referent& target, int op, std::uint64_t id,
               Object::List& args);
    void check_refs(Object::List& args);
    void grant_refs(const std::string& session, const std::string& out, std::size_t from);
    void resync(std::uint64_t id);
    // An object that lost a reference but still has some, and refers to others, may be left
    // in a group that only refers to itself: checked by collect_cycles (at the end of each
    // request and connection close), which frees such groups.
    void suspect(const Entry& e, std::uint64_t id);
    void collect_cycles();
    Object create(Conn& c, Object::List& args);
    Object named_objects() const;  // [[name, type, len or nil], ...] by name
    std::string custom_type_list() const;
    Entry& entry(std::uint64_t id);
    std::uint64_t add(std::unique_ptr<Referent> referent, const std::string& name,
                      const std::string& session);
    void acquire(const std::string& session, std::uint64_t id);
    void release(const std::string& session, std::uint64_t id);
    void drop_refs(Session& session);
    void erase_object(std::unordered_map<std::uint64_t, Entry>::iterator it);
    void park(ConnId conn, std::uint64_t id, int op, int channel, Object::List args,
              Clock::time_point deadline);
    void unpark(std::uint64_t seq);
    // Answers the parked requests of object `id` that can proceed now.
    void wake(std::uint64_t id);

    std::unordered_map<std::uint64_t, Entry> objects_;
    std::unordered_map<std::string, std::uint64_t> names_;
    std::unordered_map<std::string, Session> sessions_;
    std::unordered_map<ConnId, Conn> conns_;
    std::map<std::uint64_t, Waiter> waiters_;
    std::set<std::pair<Clock::time_point, std::uint64_t>> timers_;
    std::uint64_t next_id_ = 1;
    std::uint64_t next_seq_ = 1;
    std::size_t connections_ = 0;
    std::size_t max_decoded_ = static_cast<std::size_t>(-1);
    bool shutdown_ = false;
    bool request_refs_ = false;  // the request being handled holds refs
    std::vector<std::uint64_t> suspects_;
    const ipckit::Registry* registry_ = nullptr;
    std::vector<ConnId> touched_;
};

}  // namespace ipckit::detail
