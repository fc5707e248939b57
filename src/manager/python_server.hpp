// The manager server's Python clients: Python's multiprocessing.managers protocol (pickled
// request tuples and replies) translated to the Store's requests, on the server's epoll loop.
//
// A connection is greeted as every connection is (wire::greeting: Python's challenge frame);
// a Python client answers with an HMAC of it (raw HMAC-MD5 from Python 3.11, "{sha256}..."
// from 3.12+), and the handshake goes on as Python's Server does it: #WELCOME#, then the
// client's challenge, our answer, its #WELCOME#. Then requests (ident, method, args, kwds):
//   - the first request of a connection is a public method of Python's Server (create,
//     incref, decref, dummy, accept_connection, number_of_objects, debug_info, get_methods,
//     shutdown); its reply ends the connection, except accept_connection, after which
//   - requests call methods of shared objects (ident = the object's id in hex), answered with
//     ('#RETURN', value), ('#ERROR', exception), ('#TRACEBACK', text) or ('#PROXY',
//     (exposed, token)). A blocking method (Queue.get, Lock.acquire, Event.wait) is parked in
//     the Store like an ipckit client's, and answered when it can proceed.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/object.hpp"
#include "store.hpp"
#include "wire.hpp"

namespace ipckit::detail::python {

// `--expose TYPEID=TYPE:NAME`: Python's create(TYPEID) returns the named object NAME of TYPE
// (a store type: "dict", "Queue", ...), created on first use.
struct Expose {
    std::string typeid_;
    std::string type;
    std::string name;
};
// Parses "TYPEID=TYPE:NAME" (TYPE as the CLI spells it: dict, list, queue, joinable_queue,
// lock, rlock, semaphore, bounded_semaphore, event, barrier, or the store's names); throws
// ValueError naming the text and the accepted form.
Expose parse_expose(const std::string& text);

// What the Python clients of one server share.
struct Shared {
    std::vector<Expose> exposes;
    Object address;  // the token address: (host, port) or a unix socket path
    std::map<std::uint64_t, bool> iterators;  // ids of Iterator objects made by __iter__
    // The lock of each Condition Python clients made (acquire/release go to it).
    std::map<std::uint64_t, std::uint64_t> condition_locks;
};
// The token address for a bound address ("tcp://H:P" or "unix:PATH").
Object token_address(const std::string& bound);

// One Python client connection after authentication.
class Peer final : public wire::AnswerSink {
  public:
    // Answers are appended to `out` as frames (the connection's output).
    Peer(Store& store, Shared& shared, ConnId conn, std::string& out, std::string session);
    ~Peer() override;
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;

    // Registers with the store (call once authenticated).
    void open();
    // One request frame's payload. Throws ValueError when it is not a pickled request (the
    // caller closes the connection).
    void request(std::string_view payload);
    // Turns what the store answered since into replies (call when the store touched it).
    void pump();
    // A request is waiting for its answer (parked): read no further requests.
    bool busy() const { return pending_.has_value(); }
    // The public call was answered: close once the output is sent.
    bool finished() const { return finished_; }

  private:
    enum class Then {
        value,       // #RETURN the value
        nothing,     // #RETURN None
        acquired,    // #RETURN bool(value)
        tuples,      // #RETURN [tuple(x) for x in value]
        tuple,       // #RETURN tuple(value)
        created,     // #RETURN (ident, exposed)
        objects,     // #RETURN stats['objects']
        debug_info,  // #RETURN a text
        str,         // #RETURN the Python str of the object
        iter_keys,   // the keys of a dict: make an Iterator of them
        iter_made,   // #PROXY (exposed, Token('Iterator', address, ident))
        concat,      // #RETURN value + operand
        repeat,      // #RETURN value * operand
        // m.Condition() without a lock: its RLock was made (id in the answer); make the
        // Condition over it, then drop the creator's reference to the RLock.
        cond_lock_made,
        cond_made,   // operand: [the lock's id, decref it], then answer created
        cond_done,   // operand: the Condition's id
        ns_made,     // Namespace(**kwds) made: set the attributes of operand (a dict)
        ns_set,      // one attribute set: set the next or answer created (operand: [id, dict])
        lock_found,  // a Condition's lock (a ref) for [method, args, kwds] to call on it
    };
    struct Pending {
        Then then;
        Object operand;        // key of a KeyError; operand of concat/repeat; typeid
        std::uint64_t id = 0;  // the object
        bool public_call = false;
    };
    struct Answer {
        wire::Status status;
        Object value;
        std::string message;
    };

    void ok(const Object& value) override;
    void error(wire::Status status, const std::string& message) override;

    void submit(int op, std::uint64_t id, Object::List args, Pending pending);
    bool request_refs_ = false;  // the request being handled holds proxies (refs)
    void public_request(const std::string& method, const Object::List& args, const Object& kwds);
    void method_request(const std::string& ident, const std::string& method,
                        const Object::List& args, const Object& kwds);
    void finish(const Pending& p, Answer& a);
    void reply(const Object& kind, const Object& value);
    void reply_return(const Object& value) { reply("#RETURN", value); }
    void reply_error(const Object& exception) { reply("#ERROR", exception); }
    void reply_traceback(const std::string& text);
    std::string python_str(std::uint64_t id, const std::string& ipckit_repr) const;
    Object proxy_ref(const Object& value) const;
    // Python proxies of this server's objects in a request -> the store's refs (sets `any`).
    Object refs_in(const Object& value, bool& any) const;
    // The store's refs in an answer -> Python proxies (RebuildProxy of a token).
    Object proxies_in(const Object& value) const;

    Store& store_;
    Shared& shared_;
    ConnId conn_;
    std::string& out_;
    std::string inner_;  // the store's output for this connection: a sink, stays empty
    std::string session_;
    bool opened_ = false;
    bool serving_ = false;  // accept_connection was called
    bool finished_ = false;
    std::optional<Pending> pending_;
    std::deque<Answer> answers_;
};

}  // namespace ipckit::detail::python

namespace ipckit::detail::python {

// The client process at the other end of connected socket `fd`, when it runs on this
// machine and we may see it: SO_PEERCRED for a unix socket; for TCP, the socket's inode in
// /proc/net/tcp{,6} and the process holding it (the processes in `likely` are looked at
// first, then all of /proc). The start time tells a reused pid apart.
struct Process {
    int pid = 0;
    std::uint64_t start_time = 0;
};
std::optional<Process> peer_process(int fd, const std::vector<int>& likely);
// Whether `process` still runs (not gone, not a zombie, not exiting).
bool running(const Process& process);

}  // namespace ipckit::detail::python
