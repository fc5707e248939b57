// The manager's wire format: MessagePack encoding (msgpack-cxx's packer), a bounded decoder,
// frames, and the HMAC helpers of the handshake.
#include "wire.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <msgpack.hpp>
#include <unordered_map>

#include "ipckit/error.hpp"

namespace ipckit::detail::wire {
namespace {

struct StringWriter {
    std::string* out;
    void write(const char* data, std::size_t n) { out->append(data, n); }
};

void pack(msgpack::packer<StringWriter>& packer, std::string& out, const Object& object);

// Python's values travel as MessagePack ext types whose payload is MessagePack (or raw bytes).
enum Ext : std::int8_t {
    ext_tuple = 0x10,        // array of the items
    ext_set = 0x11,          // array of the items
    ext_frozenset = 0x12,    // array of the items
    ext_bytearray = 0x13,    // the raw bytes
    ext_big_integer = 0x14,  // two's-complement little-endian bytes
    ext_instance = 0x15,     // [module, name, [args...], state]
    ext_opaque = 0x16,       // [module, name, pickle (bin)]
};

// An ext header for a payload of `n` bytes, then the payload written by `body`.
template <class Body>
void pack_ext(std::string& out, Ext type, Body body) {
    std::string payload;
    body(payload);
    StringWriter writer{&out};
    msgpack::packer<StringWriter> packer(writer);
    packer.pack_ext(payload.size(), type);
    packer.pack_ext_body(payload.data(), payload.size());
}

void pack_items(std::string& payload, const Object::List& items) {
    StringWriter writer{&payload};
    msgpack::packer<StringWriter> packer(writer);
    packer.pack_array(static_cast<std::uint32_t>(items.size()));
    for (const auto& item : items)
        pack(packer, payload, item);
}

void pack_python(std::string& out, const Object& object) {
    switch (object.kind()) {
        case Object::Kind::tuple:
            pack_ext(out, ext_tuple, [&](std::string& p) { pack_items(p, object.as_tuple()); });
            break;
        case Object::Kind::set:
        case Object::Kind::frozenset:
            pack_ext(out, object.kind() == Object::Kind::set ? ext_set : ext_frozenset,
                     [&](std::string& p) {
                         Object::List items;
                         for (const auto& item : object.as_set())
                             items.push_back(item.first);
                         pack_items(p, items);
                     });
            break;
        case Object::Kind::bytearray:
            pack_ext(out, ext_bytearray, [&](std::string& p) { p = object.as_bytes(); });
            break;
        case Object::Kind::big_integer:
            pack_ext(out, ext_big_integer, [&](std::string& p) { p = object.integer_bytes(); });
            break;
        case Object::Kind::instance:
            pack_ext(out, ext_instance, [&](std::string& p) {
                const auto& i = object.as_instance();
                pack_items(p, {i.module, i.name, Object(i.args), i.state});
            });
            break;
        case Object::Kind::opaque:
            pack_ext(out, ext_opaque, [&](std::string& p) {
                const auto& o = object.as_opaque();
                pack_items(p, {o.module, o.name, Object::bytes(o.pickle)});
            });
            break;
        default:
            break;
    }
}

void pack(msgpack::packer<StringWriter>& packer, std::string& out, const Object& object) {
    switch (object.kind()) {
        case Object::Kind::none:
            packer.pack_nil();
            break;
        case Object::Kind::boolean:
            object.as_bool() ? packer.pack_true() : packer.pack_false();
            break;
        case Object::Kind::integer:
            packer.pack_int64(object.as_int());
            break;
        case Object::Kind::real: {
            // float 64 always: msgpack-cxx's pack_double writes 3.0 as the integer 3.
            double d = object.as_double();
            std::uint64_t bits;
            std::memcpy(&bits, &d, sizeof bits);
            char buffer[9];
            buffer[0] = static_cast<char>(0xcb);
            for (int i = 0; i < 8; ++i)
                buffer[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
            out.append(buffer, 9);
            break;
        }
        case Object::Kind::string: {
            const auto& s = object.as_string();
            packer.pack_str(static_cast<std::uint32_t>(s.size()));
            packer.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
            break;
        }
        case Object::Kind::bytes: {
            const auto& s = object.as_bytes();
            packer.pack_bin(static_cast<std::uint32_t>(s.size()));
            packer.pack_bin_body(s.data(), static_cast<std::uint32_t>(s.size()));
            break;
        }
        case Object::Kind::list: {
            const auto& list = object.as_list();
            packer.pack_array(static_cast<std::uint32_t>(list.size()));
            for (const auto& item : list)
                pack(packer, out, item);
            break;
        }
        case Object::Kind::dict: {
            const auto& dict = object.as_dict();
            packer.pack_map(static_cast<std::uint32_t>(dict.size()));
            for (const auto& [key, value] : dict) {
                pack(packer, out, key);
                pack(packer, out, value);
            }
            break;
        }
        case Object::Kind::ref: {
            // ext type 'R': the id (8 bytes, big-endian) then the type name.
            const auto& ref = object.as_ref();
            std::size_t n = 8 + ref.type.size();
            if (n <= 0xff) {
                out += static_cast<char>(0xc7);
            } else {
                out += static_cast<char>(0xc8);
                out += static_cast<char>(n >> 8);
            }
            out += static_cast<char>(n & 0xff);
            out += static_cast<char>(ref_ext_type);
            for (int i = 0; i < 8; ++i)
                out += static_cast<char>(ref.id >> (56 - 8 * i));
            out += ref.type;
            break;
        }
        case Object::Kind::tuple:
        case Object::Kind::set:
        case Object::Kind::frozenset:
        case Object::Kind::bytearray:
        case Object::Kind::big_integer:
        case Object::Kind::instance:
        case Object::Kind::opaque:
            pack_python(out, object);
            break;
    }
}

thread_local std::uint64_t refs_decoded_here = 0;

class Decoder {
  public:
    Decoder(std::string_view data, int depth_limit, std::size_t max_decoded)
        : p_(reinterpret_cast<const unsigned char*>(data.data())),
          end_(p_ + data.size()),
          depth_limit_(depth_limit),
          budget_(max_decoded) {}

    Object value(int depth) {
        if (depth > depth_limit_) fail("nested deeper than " + std::to_string(depth_limit_));
        if (depth == 0) spend(sizeof(Object));  // an item's Object is counted by its container
        unsigned char b = byte();
        if (b <= 0x7f) return Object(static_cast<std::int64_t>(b));
        if (b >= 0xe0) return Object(static_cast<std::int64_t>(static_cast<std::int8_t>(b)));
        if (b >= 0x80 && b <= 0x8f) return map(b & 0x0f, depth);
        if (b >= 0x90 && b <= 0x9f) return array(b & 0x0f, depth);
        if (b >= 0xa0 && b <= 0xbf) return Object(std::string(bytes(b & 0x1f)));
        switch (b) {
            case 0xc0:
                return Object();
            case 0xc2:
                return Object(false);
            case 0xc3:
                return Object(true);
            case 0xc4:
                return Object::bytes(bytes(uint(1)));
            case 0xc5:
                return Object::bytes(bytes(uint(2)));
            case 0xc6:
                return Object::bytes(bytes(uint(4)));
            case 0xca: {
                std::uint32_t bits = static_cast<std::uint32_t>(uint(4));
                float f;
                std::memcpy(&f, &bits, sizeof f);
                return Object(static_cast<double>(f));
            }
            case 0xcb: {
                std::uint64_t bits = uint(8);
                double d;
                std::memcpy(&d, &bits, sizeof d);
                return Object(d);
            }
            case 0xcc:
                return Object(static_cast<std::int64_t>(uint(1)));
            case 0xcd:
                return Object(static_cast<std::int64_t>(uint(2)));
            case 0xce:
                return Object(static_cast<std::int64_t>(uint(4)));
            case 0xcf: {
                std::uint64_t u = uint(8);
                if (u > static_cast<std::uint64_t>(INT64_MAX)) fail("integer above INT64_MAX");
                return Object(static_cast<std::int64_t>(u));
            }
            case 0xd0:
                return Object(static_cast<std::int64_t>(static_cast<std::int8_t>(uint(1))));
            case 0xd1:
                return Object(static_cast<std::int64_t>(static_cast<std::int16_t>(uint(2))));
            case 0xd2:
                return Object(static_cast<std::int64_t>(static_cast<std::int32_t>(uint(4))));
            case 0xd3:
                return Object(static_cast<std::int64_t>(uint(8)));
            case 0xd9:
                return Object(std::string(bytes(uint(1))));
            case 0xda:
                return Object(std::string(bytes(uint(2))));
            case 0xdb:
                return Object(std::string(bytes(uint(4))));
            case 0xdc:
                return array(uint(2), depth);
            case 0xdd:
                return array(uint(4), depth);
            case 0xde:
                return map(uint(2), depth);
            case 0xdf:
                return map(uint(4), depth);
            case 0xc7:
                return ext(uint(1), depth);
            case 0xc8:
                return ext(uint(2), depth);
            case 0xc9:
                return ext(uint(4), depth);
            case 0xd4:
            case 0xd5:
            case 0xd6:
            case 0xd7:
            case 0xd8:
                return ext(std::uint64_t{1} << (b - 0xd4), depth);
            default:
                fail("unsupported MessagePack type 0x" + hex(b));
        }
    }

    bool at_end() const { return p_ == end_; }

  private:
    [[noreturn]] static void fail(const std::string& why) {
        throw ValueError("malformed manager frame: " + why);
    }
    static std::string hex(unsigned char b) {
        const char* digits = "0123456789abcdef";
        return {digits[b >> 4], digits[b & 15]};
    }
    std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
    unsigned char byte() {
        if (p_ == end_) fail("truncated value");
        return *p_++;
    }
    std::uint64_t uint(std::size_t n) {
        if (remaining() < n) fail("truncated value");
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i)
            v = (v << 8) | p_[i];
        p_ += n;
        return v;
    }
    // Counts `n` more bytes of decoded memory; fails before the allocation that would
    // exceed the budget.
    void spend(std::uint64_t n) {
        if (n > budget_) {
            fail("decoded value larger than the limit of " + std::to_string(limit_) +
                 " bytes of memory");
        }
        budget_ -= static_cast<std::size_t>(n);
    }
    std::string_view bytes(std::uint64_t n) {
        if (remaining() < n) fail("truncated string");
        // A str or bytes is a heap std::string, plus its characters beyond the inline ones.
        spend(heap_overhead + sizeof(std::string) + (n > 15 ? n + 1 : 0));
        std::string_view s(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n));
        p_ += n;
        return s;
    }
    // A container at `depth` nests depth + 1 levels deep (nesting() of the whole value).
    void container_at(int depth) const {
        if (depth >= depth_limit_) fail("nested deeper than " + std::to_string(depth_limit_));
    }
    Object array(std::uint64_t n, int depth) {
        container_at(depth);
        if (n > remaining()) fail("array longer than its frame");  // each item takes a byte
        spend(heap_overhead + sizeof(Object::List) + heap_overhead + n * sizeof(Object));
        Object::List list;
        list.reserve(static_cast<std::size_t>(n));
        for (std::uint64_t i = 0; i < n; ++i)
            list.push_back(value(depth + 1));
        return Object(std::move(list));
    }
    // A proxy reference (ext type ref_ext_type): the id, then the type name.
    Object ref(std::uint64_t n) {
        if (n < 8 || n > 8 + max_type_name) fail("malformed proxy reference");
        std::uint64_t id = uint(8);
        spend(heap_overhead + sizeof(Object::Ref));
        std::string_view type = bytes(n - 8);
        ++refs_decoded_here;
        return Object::ref(std::string(type), id);
    }
    Object map(std::uint64_t n, int depth) {
        container_at(depth);
        if (n > remaining() / 2) fail("map longer than its frame");
        // The dict, its entries (key, value, hash, flag) and its table of slots.
        spend(heap_overhead + sizeof(Object::Dict) + 2 * heap_overhead +
              n * (2 * sizeof(Object) + 2 * sizeof(std::size_t) + 4 * sizeof(std::uint32_t)));
        Object::Dict dict;
        for (std::uint64_t i = 0; i < n; ++i) {
            Object key = value(depth + 1);
            if (!key.hashable())
                fail(std::string("unhashable dict key of type ") + key.type_name());
            Object item = value(depth + 1);
            dict.set(std::move(key), std::move(item));
        }
        return Object(std::move(dict));
    }

    // An ext type of `n` payload bytes (Python's values; see Ext).
    Object ext(std::uint64_t n, int depth) {
        auto type = static_cast<std::int8_t>(byte());
        if (remaining() < n) fail("truncated ext value");
        const unsigned char* stop = p_ + n;
        auto raw = [&] {
            spend(heap_overhead + sizeof(std::string) + n + 1);
            std::string_view s(reinterpret_cast<const char*>(p_), static_cast<std::size_t>(n));
            p_ = stop;
            return s;
        };
        auto items = [&]() -> Object::List {
            container_at(depth);
            Object list = value(depth);  // an array: its items nest as this value's
            if (p_ != stop || !list.is_list()) fail("malformed ext value");
            return std::move(list.as_list());
        };
        switch (type) {
            case ext_tuple:
                return Object::tuple(items());
            case ext_set:
            case ext_frozenset: {
                Object::List list = items();
                for (const auto& item : list) {
                    if (!item.hashable())
                        fail(std::string("unhashable set item of type ") + item.type_name());
                }
                spend(n * (2 * sizeof(std::size_t) + 4 * sizeof(std::uint32_t)));
                return type == ext_set ? Object::set(std::move(list))
                                       : Object::frozenset(std::move(list));
            }
            case ext_bytearray:
                return Object::bytearray(raw());
            case ext_big_integer: {
                try {
                    return Object::integer_from_bytes(raw());
                } catch (const ValueError& e) {
                    fail(e.what());
                }
            }
            case ext_instance: {
                Object::List f = items();
                if (f.size() != 4 || !f[0].is_string() || !f[1].is_string() || !f[2].is_list())
                    fail("malformed Python instance");
                return Object::instance(f[0].as_string(), f[1].as_string(),
                                        std::move(f[2].as_list()), std::move(f[3]));
            }
            case ext_opaque: {
                Object::List f = items();
                if (f.size() != 3 || !f[0].is_string() || !f[1].is_string() || !f[2].is_bytes())
                    fail("malformed opaque Python value");
                return Object::opaque(f[0].as_string(), f[1].as_string(), f[2].as_bytes());
            }
            case ref_ext_type:
                return ref(n);
            default:
                fail("unsupported MessagePack ext type " + std::to_string(type));
        }
    }

    static constexpr std::size_t heap_overhead = 16;  // malloc's bookkeeping per block

    const unsigned char* p_;
    const unsigned char* end_;
    int depth_limit_;
    std::size_t budget_;
    std::size_t limit_ = budget_;
};

}  // namespace

std::uint64_t refs_decoded() noexcept {
    return refs_decoded_here;
}

int nesting(const Object& object) {
    int deepest = 0;
    if (object.is_instance()) {  // [module, name, [args...], state]
        const auto& instance = object.as_instance();
        for (const auto& item : instance.args)
            deepest = std::max(deepest, nesting(item) + 1);
        return std::max({deepest, 1, nesting(instance.state)}) + 1;
    }
    if (object.is_list() || object.is_tuple()) {
        for (const auto& item : object.as_sequence())
            deepest = std::max(deepest, nesting(item));
        return deepest + 1;
    }
    if (object.is_set()) {
        for (const auto& item : object.as_set())
            deepest = std::max(deepest, nesting(item.first));
        return deepest + 1;
    }
    if (object.is_list()) {
        for (const auto& item : object.as_list())
            deepest = std::max(deepest, nesting(item));
        return deepest + 1;
    }
    if (object.is_dict()) {
        for (const auto& [key, value] : object.as_dict()) {
            deepest = std::max(deepest, nesting(value));
        }
        return deepest + 1;
    }
    return 0;
}

void encode(std::string& out, const Object& object, int depth, int depth_limit) {
    if (depth_limit < INT_MAX && !object.is_scalar() && depth + nesting(object) > depth_limit) {
        throw ValueError("value nested deeper than the manager allows (" +
                         std::to_string(depth_limit) + " levels)");
    }
    StringWriter writer{&out};
    msgpack::packer<StringWriter> packer(writer);
    pack(packer, out, object);
}

Object decode(std::string_view data, int depth_limit, std::size_t max_decoded) {
    Decoder decoder(data, depth_limit, max_decoded);
    Object result = decoder.value(0);
    if (!decoder.at_end()) throw ValueError("malformed manager frame: trailing bytes");
    return result;
}

std::size_t begin_frame(std::string& out) {
    std::size_t start = out.size();
    out.append(4, '\0');
    return start;
}

void end_frame(std::string& out, std::size_t start) {
    std::size_t n = out.size() - start - 4;
    if (n > 0xffffffffu)
        throw ValueError("manager frame too large: " + std::to_string(n) + " bytes");
    out[start] = static_cast<char>(n >> 24);
    out[start + 1] = static_cast<char>(n >> 16);
    out[start + 2] = static_cast<char>(n >> 8);
    out[start + 3] = static_cast<char>(n);
}

void append_frame(std::string& out, const Object& object) {
    std::size_t start = begin_frame(out);
    encode(out, object);
    end_frame(out, start);
}

namespace {
thread_local std::unordered_map<const std::string*, AnswerSink*> sinks;
AnswerSink* sink_of(const std::string& out) {
    if (sinks.empty()) return nullptr;
    auto it = sinks.find(&out);
    return it == sinks.end() ? nullptr : it->second;
}
}  // namespace

void register_sink(const std::string* out, AnswerSink* sink) {
    sinks[out] = sink;
}
void unregister_sink(const std::string* out) {
    sinks.erase(out);
}

void append_ok(std::string& out, const Object& value) {
    if (AnswerSink* sink = sink_of(out)) return sink->ok(value);
    std::size_t start = begin_frame(out);
    // [0, value] without copying value into a list first.
    out += static_cast<char>(0x92);
    out += static_cast<char>(0x00);
    // Stored values came in requests, so they nest no deeper than the clients accept.
    encode(out, value, 1, INT_MAX);
    end_frame(out, start);
}

void append_error(std::string& out, Status status, const std::string& message) {
    if (AnswerSink* sink = sink_of(out)) return sink->error(status, message);
    append_frame(out, Object::list({static_cast<int>(status), message}));
}

char* FrameReader::prepare(std::size_t n) {
    if (begin_ == end_) begin_ = end_ = 0;
    if (buffer_.size() - end_ < n) {
        if (begin_ > 0) {  // move the unread bytes to the front
            std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
            end_ -= begin_;
            begin_ = 0;
        }
        if (buffer_.size() - end_ < n) buffer_.resize(std::max(end_ + n, buffer_.size() * 2));
    }
    return buffer_.data() + end_;
}

bool FrameReader::next(std::string_view& payload) {
    std::size_t available = end_ - begin_;
    if (available < 4) return false;
    const auto* h = reinterpret_cast<const unsigned char*>(buffer_.data() + begin_);
    std::size_t n = (std::size_t{h[0]} << 24) | (std::size_t{h[1]} << 16) |
                    (std::size_t{h[2]} << 8) | std::size_t{h[3]};
    if (n > max_frame_) {
        throw ValueError("manager frame of " + std::to_string(n) + " bytes exceeds the limit of " +
                         std::to_string(max_frame_) + " bytes");
    }
    if (available - 4 < n) return false;
    payload = std::string_view(buffer_.data() + begin_ + 4, n);
    begin_ += 4 + n;
    return true;
}

std::string hmac(std::string_view key, std::string_view label, std::string_view a,
                 std::string_view b) {
    std::string message;
    message.reserve(label.size() + a.size() + b.size());
    message.append(label).append(a).append(b);
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
              reinterpret_cast<const unsigned char*>(message.data()), message.size(), digest,
              &length)) {
        throw Error("manager: HMAC-SHA256 failed (OpenSSL)");
    }
    return std::string(reinterpret_cast<const char*>(digest), length);
}

bool equal_digests(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string greeting(std::string_view challenge) {
    std::string out;
    out.reserve(python_challenge_tag.size() + greeting_digest.size() + greeting_marker.size() +
                challenge.size());
    out.append(python_challenge_tag).append(greeting_digest).append(greeting_marker);
    out.append(challenge);
    return out;
}

std::string client_answer(const Object& fields) {
    std::string out(answer_marker);
    encode(out, fields);
    return out;
}

Object parse_client_answer(std::string_view payload, std::size_t max_decoded) {
    if (payload.substr(0, answer_marker.size()) != answer_marker) {
        throw ValueError("not an ipckit client's answer");
    }
    return decode(payload.substr(answer_marker.size()), max_depth, max_decoded);
}

bool parse_greeting(std::string_view payload, std::string& challenge) {
    std::size_t head = python_challenge_tag.size() + greeting_digest.size();
    if (payload.size() != head + greeting_marker.size() + challenge_size) return false;
    if (payload.substr(0, python_challenge_tag.size()) != python_challenge_tag) return false;
    if (payload.substr(python_challenge_tag.size(), greeting_digest.size()) != greeting_digest) {
        return false;
    }
    if (payload.substr(head, greeting_marker.size()) != greeting_marker) return false;
    challenge.assign(payload.substr(head + greeting_marker.size()));
    return true;
}

std::string to_hex(std::string_view bytes) {
    static const char digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char c : bytes) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::string random_bytes(std::size_t n) {
    std::string out(n, '\0');
    std::size_t done = 0;
    while (done < n) {
        ssize_t got = ::getrandom(out.data() + done, n - done, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            throw Error(errno, "manager: getrandom failed");
        }
        done += static_cast<std::size_t>(got);
    }
    return out;
}

}  // namespace ipckit::detail::wire
