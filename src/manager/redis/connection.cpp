// The RAII layer over hiredis (connection.hpp).
#include "connection.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "ipckit/error.hpp"

namespace ipckit::detail::redis {

namespace {
constexpr std::string_view scheme = "redis://";

int parse_int(std::string_view text, const std::string& address, const char* what) {
    int value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || value < 0) {
        throw ValueError("redis address " + address + ": bad " + what + " '" + std::string(text) +
                         "' (expected redis://HOST:PORT[/DB][?lease_ms=N])");
    }
    return value;
}

timeval to_timeval(std::chrono::milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}
}  // namespace

bool is_redis_address(std::string_view address) {
    return address.substr(0, scheme.size()) == scheme;
}

Endpoint parse_endpoint(const std::string& address) {
    if (!is_redis_address(address)) {
        throw ValueError("not a redis address: " + address + " (expected redis://HOST:PORT[/DB])");
    }
    Endpoint e;
    std::string_view rest = std::string_view(address).substr(scheme.size());
    std::string_view query;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
        query = rest.substr(q + 1);
        rest = rest.substr(0, q);
    }
    if (auto slash = rest.find('/'); slash != std::string_view::npos) {
        std::string_view db = rest.substr(slash + 1);
        if (!db.empty()) e.db = parse_int(db, address, "database number");
        rest = rest.substr(0, slash);
    }
    if (rest.find('@') != std::string_view::npos) {
        throw ValueError("redis address " + address +
                         ": no password in the address; set REDISCLI_AUTH instead");
    }
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) {
        e.host = std::string(rest);
    } else {
        e.host = std::string(rest.substr(0, colon));
        e.port = parse_int(rest.substr(colon + 1), address, "port");
    }
    if (e.host.empty() || e.port == 0 || e.port > 65535) {
        throw ValueError("redis address " + address + ": expected redis://HOST:PORT[/DB]");
    }
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (item.substr(0, 9) == "lease_ms=") {
            int ms = parse_int(item.substr(9), address, "lease_ms");
            if (ms < 30) throw ValueError("redis address " + address + ": lease_ms must be >= 30");
            e.lease = std::chrono::milliseconds(ms);
        } else {
            throw ValueError("redis address " + address + ": unknown option '" + std::string(item) +
                             "' (known: lease_ms)");
        }
    }
    if (const char* password = std::getenv("REDISCLI_AUTH")) e.password = password;
    e.text = "redis://" + e.host + ":" + std::to_string(e.port) + "/" + std::to_string(e.db);
    return e;
}

void ReplyDeleter::operator()(redisReply* r) const noexcept {
    freeReplyObject(r);
}

bool ReplyView::is_nil() const {
    return r_->type == REDIS_REPLY_NIL;
}
bool ReplyView::is_error() const {
    return r_->type == REDIS_REPLY_ERROR;
}
bool ReplyView::is_string() const {
    return r_->type == REDIS_REPLY_STRING || r_->type == REDIS_REPLY_STATUS;
}
bool ReplyView::is_int() const {
    return r_->type == REDIS_REPLY_INTEGER;
}
bool ReplyView::is_array() const {
    return r_->type == REDIS_REPLY_ARRAY;
}
std::string_view ReplyView::str() const {
    if (r_->type == REDIS_REPLY_STRING || r_->type == REDIS_REPLY_STATUS ||
        r_->type == REDIS_REPLY_ERROR) {
        return {r_->str, r_->len};
    }
    throw RemoteError("redis: expected a string reply (type " + std::to_string(r_->type) + ")");
}
std::int64_t ReplyView::integer() const {
    if (r_->type != REDIS_REPLY_INTEGER) {
        throw RemoteError("redis: expected an integer reply (type " + std::to_string(r_->type) +
                          ")");
    }
    return r_->integer;
}
std::size_t ReplyView::size() const {
    return r_->type == REDIS_REPLY_ARRAY ? r_->elements : 0;
}
ReplyView ReplyView::operator[](std::size_t i) const {
    if (r_->type != REDIS_REPLY_ARRAY || i >= r_->elements) {
        throw RemoteError("redis: reply has no element " + std::to_string(i));
    }
    return ReplyView(r_->element[i]);
}

Connection::Connection(const Endpoint& endpoint, std::chrono::milliseconds connect_timeout)
    : address_(endpoint.text) {
    timeval tv = to_timeval(connect_timeout);
    context_ = redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, tv);
    if (!context_) throw ConnectionError(ENOMEM, "redis at " + address_ + ": out of memory");
    if (context_->err) {
        std::string what = context_->errstr;
        int error = errno;
        redisFree(context_);
        context_ = nullptr;
        throw ConnectionError(error, "redis at " + address_ + ": cannot connect: " + what +
                                         " (is redis-server running there?)");
    }
    try {
        // Every reply comes within a minute: blocking commands wait in short slices.
        redisSetTimeout(context_, to_timeval(std::chrono::milliseconds(60000)));
        redisEnableKeepAlive(context_);
        if (!endpoint.password.empty()) {
            ReplyPtr r = command({"AUTH", endpoint.password});
            if (ReplyView(r.get()).is_error()) {
                throw AuthenticationError("redis at " + address_ + ": AUTH refused: " +
                                          std::string(ReplyView(r.get()).str()) +
                                          " (check REDISCLI_AUTH)");
            }
        }
        if (endpoint.db != 0) {
            std::string db = std::to_string(endpoint.db);
            ReplyPtr r = command({"SELECT", db});
            if (ReplyView(r.get()).is_error()) {
                throw ValueError("redis at " + address_ + ": SELECT " + db + ": " +
                                 std::string(ReplyView(r.get()).str()));
            }
        }
    } catch (...) {
        redisFree(context_);  // the destructor does not run for a throwing constructor
        context_ = nullptr;
        throw;
    }
}

Connection::~Connection() {
    if (context_) redisFree(context_);
}

void Connection::lost(const std::string& what) {
    broken_ = true;
    int error = context_ && context_->err == REDIS_ERR_IO ? errno : 0;
    std::string detail = context_ && context_->err ? std::string(": ") + context_->errstr : "";
    if (context_ && context_->err == REDIS_ERR_EOF) detail = ": the server closed the connection";
    throw ConnectionError(
        error, "redis at " + address_ + ": " + what + detail + " (the next call reconnects)");
}

void Connection::append(const std::vector<std::string_view>& argv) {
    if (broken_) lost("connection broken");
    // The command in RESP, formatted here (hiredis's own formatter goes through a printf-like
    // routine per argument: the larger part of a call's client time, and of a batch's).
    std::size_t size = 16;
    for (auto a : argv)
        size += a.size() + 16;
    std::string& out = request_;
    out.clear();
    out.reserve(size);
    char digits[24];
    auto number = [&](char tag, std::size_t n) {
        out.push_back(tag);
        auto [end, ec] = std::to_chars(digits, digits + sizeof digits, n);
        out.append(digits, end);
        out.append("\r\n", 2);
    };
    number('*', argv.size());
    for (auto a : argv) {
        number('$', a.size());
        out.append(a.data(), a.size());
        out.append("\r\n", 2);
    }
    if (redisAppendFormattedCommand(context_, out.data(), out.size()) != REDIS_OK) {
        lost("cannot queue a command");
    }
    if (out.capacity() > (std::size_t{1} << 20)) std::string().swap(out);  // not kept when large
}

ReplyPtr Connection::reply() {
    if (broken_) lost("connection broken");
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || !raw) lost("connection lost");
    return ReplyPtr(static_cast<redisReply*>(raw));
}

ReplyPtr Connection::command(const std::vector<std::string_view>& argv) {
    append(argv);
    return reply();
}

std::uint16_t key_slot(std::string_view key) {
    if (auto open = key.find('{'); open != std::string_view::npos) {
        auto close = key.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1) {
            key = key.substr(open + 1, close - open - 1);
        }
    }
    std::uint16_t crc = 0;
    for (unsigned char c : key) {
        crc ^= static_cast<std::uint16_t>(c << 8);
        for (int bit = 0; bit < 8; ++bit) {
            crc = (crc & 0x8000) ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                                 : static_cast<std::uint16_t>(crc << 1);
        }
    }
    return static_cast<std::uint16_t>(crc % cluster_slots);
}

namespace {
std::string node_name(const std::string& host, int port) {
    return host + ":" + std::to_string(port);
}
// "MOVED 3999 127.0.0.1:6381" -> "127.0.0.1:6381"
std::string redirect_target(std::string_view error) {
    auto space = error.rfind(' ');
    return std::string(error.substr(space + 1));
}
}  // namespace

Connection& Router::seed() {
    return to(node_name(seed_.host, seed_.port));
}

Connection& Router::to(const std::string& node) {
    std::size_t i = 0;
    while (i < nodes_.size() && nodes_[i] != node)
        ++i;
    if (i == nodes_.size()) {
        nodes_.push_back(node);
        connections_.emplace_back();
    }
    if (!connections_[i] || connections_[i]->broken()) {
        connections_[i].reset();
        Endpoint e = seed_;
        auto colon = node.rfind(':');
        e.host = node.substr(0, colon);
        e.port = std::stoi(node.substr(colon + 1));
        if (node != node_name(seed_.host, seed_.port)) {
            e.text =
                "redis://" + node + "/" + std::to_string(e.db) + " (a node of " + seed_.text + ")";
        }
        connections_[i] = std::make_unique<Connection>(e, timeout_);
    }
    return *connections_[i];
}

void Router::load_slots(Connection& via) {
    ReplyPtr r = via.command({"CLUSTER", "SLOTS"});
    ReplyView v(r.get());
    if (!v.is_array()) return;  // not a cluster after all: keep going to the seed
    std::vector<std::uint16_t> slots(cluster_slots, 0);
    std::string seed_name = node_name(seed_.host, seed_.port);
    auto index = [&](const std::string& node) {
        std::size_t i = 0;
        while (i < nodes_.size() && nodes_[i] != node)
            ++i;
        if (i == nodes_.size()) {
            nodes_.push_back(node);
            connections_.emplace_back();
        }
        return static_cast<std::uint16_t>(i);
    };
    for (std::size_t i = 0; i < v.size(); ++i) {
        ReplyView range = v[i];
        if (range.size() < 3) continue;
        auto first = range[0].integer(), last = range[1].integer();
        ReplyView master = range[2];
        std::string host(master[0].str());
        if (host.empty()) host = seed_.host;  // "" means the address we reached it by
        std::uint16_t node = index(node_name(host, static_cast<int>(master[1].integer())));
        for (auto s = first; s <= last && s < cluster_slots; ++s)
            slots[static_cast<std::size_t>(s)] = node;
    }
    slots_ = std::move(slots);
}

std::string Router::node_of(std::uint16_t slot) const {
    if (slots_.empty()) return node_name(seed_.host, seed_.port);
    return nodes_[slots_[slot]];
}

ReplyPtr Router::command(std::string_view key, const std::vector<std::string_view>& argv) {
    // The slot only matters in a Cluster (its CRC16 is not free: one per call).
    std::string node = slots_.empty() ? seed_name_ : node_of(key_slot(key));
    bool asking = false;
    for (int attempt = 0; attempt < 16; ++attempt) {
        Connection& c = to(node);
        ReplyPtr r;
        if (asking) {
            c.append({"ASKING"});
            c.append(argv);
            c.reply();
            r = c.reply();
        } else {
            r = c.command(argv);
        }
        ReplyView v(r.get());
        if (!v.is_error()) return r;
        std::string_view error = v.str();
        if (error.substr(0, 6) == "MOVED ") {
            node = redirect_target(error);
            load_slots(c);  // the map changed: load it whole
            asking = false;
            continue;
        }
        if (error.substr(0, 4) == "ASK ") {
            node = redirect_target(error);
            asking = true;
            continue;
        }
        if (error.substr(0, 8) == "TRYAGAIN") {  // keys of one slot on two nodes, briefly
            std::this_thread::sleep_for(std::chrono::milliseconds(5 * (attempt + 1)));
            asking = false;
            node = node_of(key_slot(key));
            continue;
        }
        return r;
    }
    throw RemoteError("redis at " + seed_.text + ": too many Cluster redirections for key " +
                      std::string(key));
}

}  // namespace ipckit::detail::redis
