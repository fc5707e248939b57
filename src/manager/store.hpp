// The manager server's objects, independent of sockets: requests in, responses out.
//
// Objects are named (live as long as the server) or anonymous (reference counted; the
// references are held by sessions, one per client process, and a session's references
// are dropped when its last connection closes, so a client that dies frees its objects).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "ipckit/object.hpp"

namespace ipckit::detail {

class Store {
  public:
    // A connection of `session` opened / closed.
    void open_session(const std::string& session);
    void close_session(const std::string& session);

    // Handles one request frame's payload from `session` and appends the response frame to
    // `out`. Throws ValueError when the payload is not MessagePack (the caller closes the
    // connection); a well-formed but wrong request gets an error response.
    void handle(const std::string& session, std::string_view payload, std::string& out);

    bool shutdown_requested() const { return shutdown_; }
    std::size_t object_count() const { return objects_.size(); }
    std::size_t named_count() const { return names_.size(); }
    std::size_t session_count() const { return sessions_.size(); }
    void set_connection_count(std::size_t n) { connections_ = n; }
    // The most memory a request's decoded value may take (see wire::decode); a request
    // over it is refused like a malformed one (the caller closes that connection).
    void set_max_decoded(std::size_t n) { max_decoded_ = n; }

  private:
    struct Entry {
        Object value;      // a list or a dict
        std::string name;  // empty when anonymous
        std::uint64_t refs = 0;
    };
    struct Session {
        std::unordered_map<std::uint64_t, std::uint64_t> refs;
        std::size_t connections = 0;
    };

    Object dispatch(const std::string& session, int op, std::uint64_t id, Object::List& args,
                    std::string& out, bool& responded);
    Entry& entry(std::uint64_t id);
    std::uint64_t add(Object value, const std::string& name, const std::string& session);
    void acquire(const std::string& session, std::uint64_t id);
    void release(const std::string& session, std::uint64_t id);
    void drop_refs(Session& session);

    std::unordered_map<std::uint64_t, Entry> objects_;
    std::unordered_map<std::string, std::uint64_t> names_;
    std::unordered_map<std::string, Session> sessions_;
    std::uint64_t next_id_ = 1;
    std::size_t connections_ = 0;
    std::size_t max_decoded_ = static_cast<std::size_t>(-1);
    bool shutdown_ = false;
};

}  // namespace ipckit::detail
