// A thin RAII layer over hiredis: one Connection owns one redisContext (a synchronous
// connection to one Redis server); replies are owned by Reply. Errors are ipckit exceptions
// naming the address: ConnectionError when the server cannot be reached or the connection
// breaks (the Connection is then unusable: drop it and open a new one).
#pragma once

#include <chrono>
#include <cstdint>
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
    bool broken_ = false;
};

}  // namespace ipckit::detail::redis
