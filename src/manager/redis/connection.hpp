// A thin RAII layer over hiredis: one Connection owns one redisContext (a synchronous
// connection to one Redis server); replies are owned by Reply. Errors are ipckit exceptions
// naming the address: ConnectionError when the server cannot be reached or the connection
// breaks (the Connection is then unusable: drop it and open a new one).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;
struct redisReply;

namespace ipckit::detail::redis {

// redis://HOST:PORT[/DB][?lease_ms=N]
struct Endpoint {
    std::string host;
    int port = 6379;
    int db = 0;
    std::string password;  // from REDISCLI_AUTH (never from a command line)
    std::chrono::milliseconds lease{10000};
    std::string text;  // "redis://host:port/db", for messages
};
// Throws ValueError when `address` is not a redis:// address.
Endpoint parse_endpoint(const std::string& address);
bool is_redis_address(std::string_view address);

struct ReplyDeleter {
    void operator()(redisReply* r) const noexcept;
};
using ReplyPtr = std::unique_ptr<redisReply, ReplyDeleter>;

// A read-only view of one reply (or of an element of an array reply).
class ReplyView {
  public:
    explicit ReplyView(const redisReply* r) : r_(r) {}
    bool is_nil() const;
    bool is_error() const;
    bool is_string() const;  // bulk or status
    bool is_int() const;
    bool is_array() const;
    std::string_view str() const;  // string, status or error text
    std::int64_t integer() const;
    std::size_t size() const;  // elements of an array
    ReplyView operator[](std::size_t i) const;

  private:
    const redisReply* r_;
};

class Connection {
  public:
    // Connects (within `connect_timeout`), authenticates and selects the database.
    Connection(const Endpoint& endpoint, std::chrono::milliseconds connect_timeout);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    // Sends one command and returns its reply (an error reply is returned, not thrown).
    // Throws ConnectionError when the connection breaks (broken() is then true).
    ReplyPtr command(const std::vector<std::string_view>& argv);
    // Pipelining: queue commands, then read their replies in order.
    void append(const std::vector<std::string_view>& argv);
    ReplyPtr reply();
    bool broken() const noexcept { return broken_; }
    const std::string& address() const noexcept { return address_; }

  private:
    [[noreturn]] void lost(const std::string& what);
    redisContext* context_ = nullptr;
    std::string address_;
    std::string request_;  // the command being formatted (its buffer reused)
    bool broken_ = false;
};

// The Cluster slot of a key: CRC16 (XMODEM) of its hash tag (the part between the first
// '{' and the next '}', when not empty) or of the whole key, modulo 16384.
std::uint16_t key_slot(std::string_view key);
inline constexpr int cluster_slots = 16384;

// Sends each command to the server that holds its key. Against a single server every
// command goes there. Against a Redis Cluster (the seed is any node) a MOVED answer loads
// the slot map (CLUSTER SLOTS) and the command goes to the node named; an ASK answer sends
// it once to the node named, after ASKING; TRYAGAIN (a slot half migrated) is retried.
// One connection per node, opened on first use; one Router per thread.
class Router {
  public:
    Router(Endpoint seed, std::chrono::milliseconds connect_timeout)
        : seed_(std::move(seed)),
          seed_name_(seed_.host + ":" + std::to_string(seed_.port)),
          timeout_(connect_timeout) {}
    // `key` decides the node; the reply may be an error reply (not MOVED/ASK).
    ReplyPtr command(std::string_view key, const std::vector<std::string_view>& argv);
    // The connection to the seed (for commands without a key, such as PING).
    Connection& seed();
    bool cluster() const noexcept { return !slots_.empty(); }

  private:
    Connection& to(const std::string& node);
    void load_slots(Connection& via);
    std::string node_of(std::uint16_t slot) const;

    Endpoint seed_;
    std::string seed_name_;  // "host:port"
    std::chrono::milliseconds timeout_;
    std::vector<std::string> nodes_;    // "host:port"
    std::vector<std::uint16_t> slots_;  // slot -> index in nodes_ (empty: no cluster)
    std::vector<std::unique_ptr<Connection>> connections_;  // by index in nodes_
};

}  // namespace ipckit::detail::redis
