// ipckit::Object: storage, Python's ==, <, hash and repr.
#include "ipckit/object.hpp"
#include "ipckit/repr.hpp"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <new>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "ipckit/error.hpp"

namespace ipckit {

namespace {
// The class of the proxy Python's SyncManager makes for a type: DictProxy, AcquirerProxy,
// AutoProxy[Queue] (an unknown type: AutoProxy).
const char* proxy_class(const std::string& type) noexcept {
    static constexpr std::pair<std::string_view, const char*> classes[] = {
        {"dict", "DictProxy"},           {"list", "ListProxy"},
        {"Queue", "AutoProxy[Queue]"},   {"JoinableQueue", "AutoProxy[JoinableQueue]"},
        {"Lock", "AcquirerProxy"},       {"RLock", "AcquirerProxy"},
        {"Semaphore", "AcquirerProxy"},  {"BoundedSemaphore", "AcquirerProxy"},
        {"Condition", "ConditionProxy"}, {"Event", "EventProxy"},
        {"Barrier", "BarrierProxy"},     {"Namespace", "NamespaceProxy"},
        {"Value", "ValueProxy"},         {"Array", "ArrayProxy"},
    };
    for (const auto& [name, cls] : classes) {
        if (type == name) return cls;
    }
    return "AutoProxy";
}
}  // namespace

// ---- storage --------------------------------------------------------------------------

// Strings are the most common values, and each holds a std::string on the heap. Their blocks
// are kept on a free list per thread and reused, rather than returned to malloc one by one:
// decoding a 10,000-item dict makes 10,000 of them and frees them together later, and glibc
// keeps only 7 blocks of a size per thread at hand; the rest take its slower paths, and a
// later large request merges them all (measured: a third of pickle.loads' time). Under
// AddressSanitizer blocks go straight back to malloc, so that a use after free is caught.
namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool keep_string_blocks = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool keep_string_blocks = false;
#else
constexpr bool keep_string_blocks = true;
#endif
#else
constexpr bool keep_string_blocks = true;
#endif

struct StringBlocks {
    static constexpr std::size_t max_kept = std::size_t{1} << 16;  // 2 MiB of blocks
    struct Block {
        Block* next;
    };
    Block* head = nullptr;
    std::size_t count = 0;
    bool closed = false;  // the thread is ending: blocks go back to malloc
};
static_assert(sizeof(std::string) >= sizeof(StringBlocks::Block));
// Trivially destructible, so usable by Objects destroyed after the closer ran.
thread_local StringBlocks string_blocks;

struct StringBlocksCloser {
    StringBlocksCloser() = default;
    StringBlocksCloser(const StringBlocksCloser&) = delete;
    StringBlocksCloser& operator=(const StringBlocksCloser&) = delete;
    ~StringBlocksCloser() {
        StringBlocks& blocks = string_blocks;
        while (blocks.head) {
            StringBlocks::Block* block = blocks.head;
            blocks.head = block->next;
            ::operator delete(block);
        }
        blocks.count = 0;
        blocks.closed = true;
    }
};
thread_local StringBlocksCloser string_blocks_closer;

void* string_block() {
    StringBlocks& blocks = string_blocks;
    if (StringBlocks::Block* block = blocks.head) {
        blocks.head = block->next;
        --blocks.count;
        return block;
    }
    return ::operator new(sizeof(std::string));
}

void release_string_block(void* p) noexcept {
    StringBlocks& blocks = string_blocks;
    if (!keep_string_blocks || blocks.closed || blocks.count >= StringBlocks::max_kept) {
        ::operator delete(p);
        return;
    }
    (void)&string_blocks_closer;  // constructed on first use, so that its destructor runs
    blocks.head = new (p) StringBlocks::Block{blocks.head};
    ++blocks.count;
}

template <class... Args>
std::string* new_string(Args&&... args) {
    void* p = string_block();
    try {
        return new (p) std::string(std::forward<Args>(args)...);
    } catch (...) {
        release_string_block(p);
        throw;
    }
}

void delete_string(std::string* s) noexcept {
    s->~basic_string();
    release_string_block(s);
}

}  // namespace

Object::Object(std::string_view s) : kind_(Kind::string) {
    v_.s = new_string(s);
}
Object::Object(std::string&& s) : kind_(Kind::string) {
    v_.s = new_string(std::move(s));
}
Object::Object(List list) : kind_(Kind::list) {
    v_.l = new List(std::move(list));
}
Object::Object(Dict dict) : kind_(Kind::dict) {
    v_.m = new Dict(std::move(dict));
}

Object Object::bytes(std::string_view data) {
    Object o;
    o.v_.s = new_string(data);
    o.kind_ = Kind::bytes;
    return o;
}

Object Object::ref(std::string type, std::uint64_t id, std::shared_ptr<void> handle) {
    Object o;
    o.v_.r = new Ref{std::move(type), id, std::move(handle)};
    o.kind_ = Kind::ref;
    return o;
}

Object::Object(const Object& other) : kind_(Kind::none) {
    switch (other.kind_) {
        case Kind::ref:
            v_.r = new Ref(*other.v_.r);
            break;
        case Kind::string:
        case Kind::bytes:
        case Kind::bytearray:
        case Kind::big_integer:
            v_.s = new_string(*other.v_.s);
            break;
        case Kind::list:
        case Kind::tuple:
            v_.l = new List(*other.v_.l);
            break;
        case Kind::dict:
        case Kind::set:
        case Kind::frozenset:
            v_.m = new Dict(*other.v_.m);
            break;
        case Kind::instance:
            v_.p = new Instance(*other.v_.p);
            break;
        case Kind::opaque:
            v_.o = new Opaque(*other.v_.o);
            break;
        default:
            v_ = other.v_;
    }
    kind_ = other.kind_;
}

Object& Object::operator=(const Object& other) {
    if (this != &other) {
        Object copy(other);
        *this = std::move(copy);
    }
    return *this;
}

Object& Object::operator=(Object&& other) noexcept {
    if (this != &other) {
        // The other object may live inside this one (x = x.as_list()[0]): detach first.
        Kind kind = other.kind_;
        auto value = other.v_;
        other.kind_ = Kind::none;
        reset();
        kind_ = kind;
        v_ = value;
    }
    return *this;
}

void Object::reset() noexcept {
    switch (kind_) {
        case Kind::string:
        case Kind::bytes:
        case Kind::bytearray:
        case Kind::big_integer:
            delete_string(v_.s);
            break;
        case Kind::list:
        case Kind::tuple:
            delete v_.l;
            break;
        case Kind::dict:
        case Kind::set:
        case Kind::frozenset:
            delete v_.m;
            break;
        case Kind::ref:
            delete v_.r;
            break;
        case Kind::instance:
            delete v_.p;
            break;
        case Kind::opaque:
            delete v_.o;
            break;
        default:
            break;
    }
    kind_ = Kind::none;
}

const char* Object::type_name() const noexcept {
    switch (kind_) {
        case Kind::none:
            return "NoneType";
        case Kind::boolean:
            return "bool";
        case Kind::integer:
            return "int";
        case Kind::real:
            return "float";
        case Kind::string:
            return "str";
        case Kind::bytes:
            return "bytes";
        case Kind::list:
            return "list";
        case Kind::dict:
            return "dict";
        case Kind::ref:
            return proxy_class(v_.r->type);
        case Kind::tuple:
            return "tuple";
        case Kind::set:
            return "set";
        case Kind::frozenset:
            return "frozenset";
        case Kind::bytearray:
            return "bytearray";
        case Kind::big_integer:
            return "int";
        case Kind::instance:
            return v_.p->name.c_str();
        case Kind::opaque:
            return v_.o->name.c_str();
    }
    return "?";
}

void Object::wrong_kind(const char* wanted) const {
    throw ValueError(std::string("expected ") + wanted + ", got " + type_name() + " " + repr());
}

bool Object::as_bool() const {
    if (kind_ != Kind::boolean) wrong_kind("bool");
    return v_.b;
}
std::int64_t Object::as_int() const {
    if (kind_ == Kind::boolean) return v_.b ? 1 : 0;
    if (kind_ != Kind::integer) wrong_kind("int");
    return v_.i;
}
double Object::as_double() const {
    if (kind_ == Kind::boolean) return v_.b ? 1.0 : 0.0;
    if (kind_ == Kind::integer) return static_cast<double>(v_.i);
    if (kind_ != Kind::real) wrong_kind("float");
    return v_.d;
}
const std::string& Object::as_string() const {
    if (kind_ != Kind::string) wrong_kind("str");
    return *v_.s;
}
const std::string& Object::as_bytes() const {
    if (kind_ != Kind::bytes && kind_ != Kind::bytearray) wrong_kind("bytes");
    return *v_.s;
}
const Object::List& Object::as_list() const {
    if (kind_ != Kind::list) wrong_kind("list");
    return *v_.l;
}
Object::List& Object::as_list() {
    if (kind_ != Kind::list) wrong_kind("list");
    return *v_.l;
}
const Object::Ref& Object::as_ref() const {
    if (kind_ != Kind::ref) wrong_kind("proxy");
    return *v_.r;
}
Object::Ref& Object::as_ref() {
    if (kind_ != Kind::ref) wrong_kind("proxy");
    return *v_.r;
}
const Object::Dict& Object::as_dict() const {
    if (kind_ != Kind::dict) wrong_kind("dict");
    return *v_.m;
}
Object::Dict& Object::as_dict() {
    if (kind_ != Kind::dict) wrong_kind("dict");
    return *v_.m;
}

// ---- comparison -----------------------------------------------------------------------

namespace {

bool is_number(Object::Kind k) {
    return k == Object::Kind::boolean || k == Object::Kind::integer || k == Object::Kind::real ||
           k == Object::Kind::big_integer;
}

int compare_big(const Object& a, const Object& b);  // with the big integers, below

// Exact comparison of numbers of any kind: -1, 0, 1, or 2 when unordered (nan).
int compare_numbers(const Object& a, const Object& b) {
    if (a.is_big_integer() || b.is_big_integer()) return compare_big(a, b);
    if (!a.is_double() && !b.is_double()) {
        auto x = a.as_int(), y = b.as_int();
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    // long double holds every int64 exactly on x86-64.
    long double x = a.is_double() ? a.as_double() : static_cast<long double>(a.as_int());
    long double y = b.is_double() ? b.as_double() : static_cast<long double>(b.as_int());
    if (std::isnan(x) || std::isnan(y)) return 2;
    return x < y ? -1 : (x > y ? 1 : 0);
}

}  // namespace

bool operator==(const Object& a, const Object& b) {
    using Kind = Object::Kind;
    if (is_number(a.kind_) && is_number(b.kind_)) return compare_numbers(a, b) == 0;
    auto family = [](Kind k) {  // bytes == bytearray, set == frozenset, as in Python
        return k == Kind::bytearray ? Kind::bytes : k == Kind::frozenset ? Kind::set : k;
    };
    if (family(a.kind_) != family(b.kind_)) return false;
    switch (a.kind_) {
        case Kind::none:
            return true;
        case Kind::string:
        case Kind::bytes:
        case Kind::bytearray:
            return *a.v_.s == *b.v_.s;
        case Kind::list:
        case Kind::tuple:
            return *a.v_.l == *b.v_.l;
        case Kind::dict:
        case Kind::set:
        case Kind::frozenset:
            return *a.v_.m == *b.v_.m;
        case Kind::ref:
            return a.v_.r->id == b.v_.r->id;
        case Kind::instance:
            return *a.v_.p == *b.v_.p;
        case Kind::opaque:
            return a.v_.o->pickle == b.v_.o->pickle;
        default:
            return false;
    }
}

bool Object::less(const Object& a, const Object& b) {
    if (is_number(a.kind_) && is_number(b.kind_)) return compare_numbers(a, b) == -1;
    if (a.kind_ == b.kind_) {
        switch (a.kind_) {
            case Kind::string:
            case Kind::bytes:
            case Kind::bytearray:
                // UTF-8 byte order is code point order; bytes compare unsigned.
                return std::string_view(*a.v_.s).compare(*b.v_.s) < 0;
            case Kind::list:
            case Kind::tuple: {
                const auto &x = *a.v_.l, &y = *b.v_.l;
                std::size_t n = std::min(x.size(), y.size());
                for (std::size_t i = 0; i < n; ++i) {
                    if (!(x[i] == y[i])) return less(x[i], y[i]);
                }
                return x.size() < y.size();
            }
            default:
                break;
        }
    }
    throw ValueError(std::string("'<' not supported between instances of '") + a.type_name() +
                     "' and '" + b.type_name() + "'");
}

bool Object::same_key(const Object& a, const Object& b) noexcept {
    if (a.kind_ != b.kind_) return false;
    switch (a.kind_) {
        case Kind::none:
            return true;
        case Kind::boolean:
            return a.v_.b == b.v_.b;
        case Kind::integer:
            return a.v_.i == b.v_.i;
        case Kind::real:
            return a.v_.d == b.v_.d || (std::isnan(a.v_.d) && std::isnan(b.v_.d));
        case Kind::string:
        case Kind::bytes:
        case Kind::big_integer:
            return *a.v_.s == *b.v_.s;
        case Kind::ref:
            return a.v_.r->id == b.v_.r->id;
        case Kind::tuple: {
            const auto &x = *a.v_.l, &y = *b.v_.l;
            if (x.size() != y.size()) return false;
            for (std::size_t i = 0; i < x.size(); ++i) {
                if (!same_key(x[i], y[i])) return false;
            }
            return true;
        }
        case Kind::frozenset:
            return *a.v_.m == *b.v_.m;
        case Kind::instance:
            return *a.v_.p == *b.v_.p;
        case Kind::opaque:
            return a.v_.o->pickle == b.v_.o->pickle;
        default:
            return false;  // mutable containers are never keys
    }
}

namespace {

// SipHash-1-3 (Aumasson and Bernstein's keyed hash, one compression round and three
// finalization rounds) with a key drawn at random once per process. A server's dict keys
// come from its clients: with a fixed hash a client can choose keys that all land in one
// slot and make every insertion walk all of them; with a secret key it cannot.
struct HashKey {
    std::uint64_t k0, k1;
};

HashKey draw_hash_key() {
    std::uint64_t k[2] = {0, 0};
    std::size_t done = 0;
    auto* bytes = reinterpret_cast<unsigned char*>(k);
    while (done < sizeof k) {
        ssize_t got = ::getrandom(bytes + done, sizeof k - done, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        done += static_cast<std::size_t>(got);
    }
    if (done < sizeof k) {  // no getrandom: still differ between processes and runs
        k[0] ^=
            static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        k[1] ^= reinterpret_cast<std::uintptr_t>(&k) ^ static_cast<std::uint64_t>(::getpid());
    }
    return {k[0], k[1]};
}

const HashKey& hash_key() {
    static const HashKey key = draw_hash_key();
    return key;
}

struct SipState {
    std::uint64_t v0, v1, v2, v3;
    void round() {
        v0 += v1;
        v1 = std::rotl(v1, 13);
        v1 ^= v0;
        v0 = std::rotl(v0, 32);
        v2 += v3;
        v3 = std::rotl(v3, 16);
        v3 ^= v2;
        v0 += v3;
        v3 = std::rotl(v3, 21);
        v3 ^= v0;
        v2 += v1;
        v1 = std::rotl(v1, 17);
        v1 ^= v2;
        v2 = std::rotl(v2, 32);
    }
    void absorb(std::uint64_t m) {
        v3 ^= m;
        round();
        v0 ^= m;
    }
};

SipState sip_start() {
    const HashKey& key = hash_key();
    return {key.k0 ^ 0x736f6d6570736575ULL, key.k1 ^ 0x646f72616e646f6dULL,
            key.k0 ^ 0x6c7967656e657261ULL, key.k1 ^ 0x7465646279746573ULL};
}

std::uint64_t sip_finish(SipState& s) {
    s.v2 ^= 0xff;
    s.round();
    s.round();
    s.round();
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

// SipHash-1-3 of the 8 bytes of `value` followed by `tag` (a byte naming the kind).
std::uint64_t siphash_word(std::uint64_t value, unsigned char tag) {
    SipState s = sip_start();
    s.absorb(value);
    s.absorb(static_cast<std::uint64_t>(tag) | (std::uint64_t{9} << 56));
    return sip_finish(s);
}

// SipHash-1-3 of `n` bytes at `data` followed by `tag`, read as 64-bit words.
std::uint64_t siphash(const void* data, std::size_t n, unsigned char tag) {
    SipState s = sip_start();
    const auto* p = static_cast<const unsigned char*>(data);
    std::size_t full = n / 8, rest = n % 8;
    for (std::size_t i = 0; i < full; ++i) {
        std::uint64_t m;
        std::memcpy(&m, p + 8 * i, 8);
        s.absorb(m);
    }
    std::uint64_t last = 0;
    if (rest > 0) std::memcpy(&last, p + 8 * full, rest);
    last |= static_cast<std::uint64_t>(tag) << (8 * rest);
    if (rest == 7) {  // the tag completes this word
        s.absorb(last);
        last = 0;
    }
    last |= static_cast<std::uint64_t>((n + 1) & 0xff) << 56;
    s.absorb(last);
    return sip_finish(s);
}

}  // namespace

std::size_t Object::hash() const {
    auto tag = static_cast<unsigned char>(kind_);
    switch (kind_) {
        case Kind::none:
            return siphash_word(0, tag);
        case Kind::boolean:
            return siphash_word(v_.b ? 1 : 0, tag);
        case Kind::integer:
            return siphash_word(static_cast<std::uint64_t>(v_.i), tag);
        case Kind::real: {
            double d = v_.d;
            if (d == 0) d = 0;  // -0.0 and 0.0 are one key
            if (std::isnan(d)) d = std::numeric_limits<double>::quiet_NaN();  // so are all NaNs
            std::uint64_t bits;
            std::memcpy(&bits, &d, sizeof bits);
            return siphash_word(bits, tag);
        }
        case Kind::string:
        case Kind::bytes:
        case Kind::big_integer:
            return siphash(v_.s->data(), v_.s->size(), tag);
        case Kind::ref:
            return siphash_word(v_.r->id, tag);
        case Kind::opaque:
            return siphash(v_.o->pickle.data(), v_.o->pickle.size(), tag);
        case Kind::tuple:
        case Kind::instance: {
            const List& items = kind_ == Kind::tuple ? *v_.l : v_.p->args;
            std::uint64_t h = kind_ == Kind::tuple
                                  ? siphash_word(items.size(), tag)
                                  : siphash(v_.p->name.data(), v_.p->name.size(), tag);
            for (const auto& item : items)
                h = siphash_word(h ^ item.hash(), tag);
            return h;
        }
        case Kind::frozenset: {
            std::uint64_t h = siphash_word(v_.m->size(), tag);
            for (const auto& item : *v_.m)
                h ^= item.first.hash() * 0x9e3779b97f4a7c15ULL;  // order does not matter
            return h;
        }
        default:
            throw ValueError(std::string("unhashable type: '") + type_name() + "'");
    }
}

// ---- Dict -----------------------------------------------------------------------------

Object::Dict::Dict(std::initializer_list<Item> items) {
    for (const auto& [key, value] : items)
        set(key, value);
}

namespace {
constexpr std::size_t npos = static_cast<std::size_t>(-1);
// Spreads a hash over the table's bits (Fibonacci hashing).
// The top bits of the product are the well-mixed ones.
std::size_t home(std::size_t hash, std::size_t mask) {
    if (mask == 0) return 0;
    return static_cast<std::size_t>((hash * 0x9e3779b97f4a7c15ULL) >> (64 - std::bit_width(mask)));
}
}  // namespace

std::size_t Object::Dict::find_slot(const Object& key, std::size_t hash) const {
    if (slots_.empty()) return npos;
    std::size_t mask = slots_.size() - 1;
    for (std::size_t i = home(hash, mask);; i = (i + 1) & mask) {
        std::uint32_t slot = slots_[i];
        if (slot == empty_slot) return npos;
        if (slot != deleted_slot) {
            const Entry& e = entries_[slot];
            if (e.hash == hash && Object::same_key(e.item.first, key)) return i;
        }
    }
}

void Object::Dict::rebuild(std::size_t capacity) {
    compact();
    slots_.assign(capacity, empty_slot);
    std::size_t mask = capacity - 1;
    for (std::size_t j = 0; j < entries_.size(); ++j) {
        std::size_t i = home(entries_[j].hash, mask);
        while (slots_[i] != empty_slot)
            i = (i + 1) & mask;
        slots_[i] = static_cast<std::uint32_t>(j);
    }
    used_ = live_;
}

const Object* Object::Dict::find(const Object& key) const {
    std::size_t i = find_slot(key, key.hash());
    return i == npos ? nullptr : &entries_[slots_[i]].item.second;
}

Object* Object::Dict::find(const Object& key) {
    std::size_t i = find_slot(key, key.hash());
    return i == npos ? nullptr : &entries_[slots_[i]].item.second;
}

const Object& Object::Dict::at(const Object& key) const {
    if (const Object* value = find(key)) return *value;
    throw KeyError("KeyError: " + key_repr(key));
}

Object& Object::Dict::at(const Object& key) {
    if (Object* value = find(key)) return *value;
    throw KeyError("KeyError: " + key_repr(key));
}

void Object::Dict::set(Object key, Object value) {
    std::size_t hash = key.hash();  // throws for an unhashable key, before any change
    if ((used_ + 1) * 4 > slots_.size() * 3) {
        std::size_t capacity = 8;
        while (capacity < (live_ + 1) * 2)
            capacity *= 2;
        rebuild(capacity);
    }
    std::size_t mask = slots_.size() - 1;
    std::size_t free = npos;
    for (std::size_t i = home(hash, mask);; i = (i + 1) & mask) {
        std::uint32_t slot = slots_[i];
        if (slot == empty_slot) {
            if (free == npos) {
                free = i;
                ++used_;
            }
            break;
        }
        if (slot == deleted_slot) {
            if (free == npos) free = i;
            continue;
        }
        Entry& e = entries_[slot];
        if (e.hash == hash && Object::same_key(e.item.first, key)) {
            e.item.second = std::move(value);
            return;
        }
    }
    if (entries_.size() >= deleted_slot) throw ValueError("dict: too many entries");
    slots_[free] = static_cast<std::uint32_t>(entries_.size());
    entries_.push_back(Entry{Item(std::move(key), std::move(value)), hash, true});
    ++live_;
}

bool Object::Dict::erase(const Object& key) {
    if (!key.hashable()) return false;
    std::size_t i = find_slot(key, key.hash());
    if (i == npos) return false;
    Entry& entry = entries_[slots_[i]];
    slots_[i] = deleted_slot;
    entry.live = false;
    entry.item = Item();
    --live_;
    while (!entries_.empty() && !entries_.back().live)
        entries_.pop_back();
    if (entries_.size() > 16 && live_ < entries_.size() / 2) rebuild(slots_.size());
    return true;
}

Object::Dict::Item Object::Dict::popitem() {
    if (live_ == 0) throw KeyError("KeyError: 'popitem(): dictionary is empty'");
    Entry& last = entries_.back();  // trailing dead entries are always popped
    std::size_t i = find_slot(last.item.first, last.hash);
    slots_[i] = deleted_slot;
    Item item = std::move(last.item);
    entries_.pop_back();
    --live_;
    while (!entries_.empty() && !entries_.back().live)
        entries_.pop_back();
    return item;
}

void Object::Dict::reserve(std::size_t n) {
    std::size_t capacity = 8;
    while (capacity * 3 < (n + 1) * 4)
        capacity *= 2;
    if (capacity > slots_.size()) rebuild(capacity);
    entries_.reserve(n);
}

void Object::Dict::clear() noexcept {
    entries_.clear();
    slots_.clear();
    live_ = used_ = 0;
}

void Object::Dict::compact() {
    if (live_ == entries_.size()) return;
    std::size_t out = 0;
    for (std::size_t in = 0; in < entries_.size(); ++in) {
        if (!entries_[in].live) continue;
        if (out != in) entries_[out] = std::move(entries_[in]);
        ++out;
    }
    entries_.resize(out);
}

bool operator==(const Object::Dict& a, const Object::Dict& b) {
    if (a.size() != b.size()) return false;
    for (const auto& [key, value] : a) {
        const Object* other = b.find(key);
        if (!other || !(*other == value)) return false;
    }
    return true;
}

// ---- repr -----------------------------------------------------------------------------

namespace {

const char hex_digits[] = "0123456789abcdef";

void hex_escape(std::string& out, char kind, std::uint32_t value, int width) {
    out += '\\';
    out += kind;
    for (int shift = (width - 1) * 4; shift >= 0; shift -= 4)
        out += hex_digits[(value >> shift) & 0xf];
}

// Python's str.isprintable for one code point, for the characters that matter in practice:
// controls, separators other than space, format characters, surrogates, private use and
// non-characters. Unassigned code points (which Python also escapes) are not known here.
bool printable(std::uint32_t c) {
    if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad) return false;
    if (c < 0x300) return true;
    if ((c >= 0x600 && c <= 0x605) || c == 0x61c || c == 0x6dd || c == 0x70f || c == 0x890 ||
        c == 0x891 || c == 0x8e2 || c == 0x180e || c == 0x1680)
        return false;
    if ((c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) ||
        (c >= 0x205f && c <= 0x2064) || (c >= 0x2066 && c <= 0x206f) || c == 0x3000)
        return false;
    if ((c >= 0xd800 && c <= 0xf8ff) || c == 0xfeff || (c >= 0xfff0 && c <= 0xfffb) ||
        c == 0xfffe || c == 0xffff)
        return false;
    if (c == 0x110bd || c == 0x110cd || (c >= 0x13430 && c <= 0x1343f) ||
        (c >= 0x1bca0 && c <= 0x1bca3) || (c >= 0x1d173 && c <= 0x1d17a) || c == 0xe0001 ||
        (c >= 0xe0020 && c <= 0xe007f) || c >= 0xf0000)
        return false;
    if ((c & 0xfffe) == 0xfffe) return false;  // U+1FFFE, U+1FFFF... non-characters
    return true;
}

// Decodes one UTF-8 sequence at s[i]; returns its length, or 0 when invalid.
std::size_t decode_utf8(std::string_view s, std::size_t i, std::uint32_t& c) {
    auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    unsigned char b0 = byte(i);
    std::size_t n;
    std::uint32_t min;
    if (b0 < 0x80) {
        c = b0;
        return 1;
    } else if ((b0 & 0xe0) == 0xc0) {
        n = 2, c = b0 & 0x1f, min = 0x80;
    } else if ((b0 & 0xf0) == 0xe0) {
        n = 3, c = b0 & 0x0f, min = 0x800;
    } else if ((b0 & 0xf8) == 0xf0) {
        n = 4, c = b0 & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (i + n > s.size()) return 0;
    for (std::size_t k = 1; k < n; ++k) {
        if ((byte(i + k) & 0xc0) != 0x80) return 0;
        c = (c << 6) | (byte(i + k) & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
    return n;
}

char choose_quote(std::string_view s) {
    bool single = s.find('\'') != std::string_view::npos;
    bool dbl = s.find('"') != std::string_view::npos;
    return single && !dbl ? '"' : '\'';
}

void repr_string(std::string& out, std::string_view s) {
    char quote = choose_quote(s);
    out += quote;
    for (std::size_t i = 0; i < s.size();) {
        std::uint32_t c;
        std::size_t n = decode_utf8(s, i, c);
        if (n == 0) {
            // Not UTF-8: shown as Python shows bytes decoded with surrogateescape.
            hex_escape(out, 'u', 0xdc00 | static_cast<unsigned char>(s[i]), 4);
            ++i;
            continue;
        }
        if (c == static_cast<unsigned char>(quote) || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c == '\t') {
            out += "\\t";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (printable(c)) {
            out.append(s.substr(i, n));
        } else if (c <= 0xff) {
            hex_escape(out, 'x', c, 2);
        } else if (c <= 0xffff) {
            hex_escape(out, 'u', c, 4);
        } else {
            hex_escape(out, 'U', c, 8);
        }
        i += n;
    }
    out += quote;
}

// The same text as ipckit::repr for shared values (src/shared/repr.cpp).
void repr_bytes(std::string& out, std::string_view s) {
    out += ipckit::repr_bytes(s);
}

void repr_double(std::string& out, double d) {
    out += ipckit::repr(d);
}

void repr_items(std::string& out, const Object::List& items, const char* open, const char* close) {
    out += open;
    bool first = true;
    for (const auto& item : items) {
        if (!first) out += ", ";
        first = false;
        item.repr_to(out);
    }
    out += close;
}

std::string big_decimal(const std::string& little_endian);  // below

// Python's repr of an exception (KeyError('x'), Empty()) and of a Token.
void repr_instance(std::string& out, const Object::Instance& p) {
    if (p.module == "multiprocessing.managers" && p.name == "Token" && p.state.is_tuple() &&
        p.state.as_tuple().size() == 3) {
        const auto& t = p.state.as_tuple();
        out += "Token(typeid=";
        t[0].repr_to(out);
        out += ", address=";
        t[1].repr_to(out);
        out += ", id=";
        t[2].repr_to(out);
        out += ')';
        return;
    }
    out += p.name;
    repr_items(out, p.args, "(", ")");
}

}  // namespace

void Object::repr_to(std::string& out) const {
    switch (kind_) {
        case Kind::none:
            out += "None";
            break;
        case Kind::boolean:
            out += v_.b ? "True" : "False";
            break;
        case Kind::integer: {
            char buffer[24];
            auto result = std::to_chars(buffer, buffer + sizeof buffer, v_.i);
            out.append(buffer, result.ptr);
            break;
        }
        case Kind::real:
            repr_double(out, v_.d);
            break;
        case Kind::string:
            repr_string(out, *v_.s);
            break;
        case Kind::bytes:
            repr_bytes(out, *v_.s);
            break;
        case Kind::list: {
            out += '[';
            bool first = true;
            for (const auto& item : *v_.l) {
                if (!first) out += ", ";
                first = false;
                item.repr_to(out);
            }
            out += ']';
            break;
        }
        case Kind::dict: {
            out += '{';
            bool first = true;
            for (const auto& [key, value] : *v_.m) {
                if (!first) out += ", ";
                first = false;
                key.repr_to(out);
                out += ": ";
                value.repr_to(out);
            }
            out += '}';
            break;
        }
        case Kind::ref: {  // BaseProxy.__repr__, with the object's id as the address
            char buffer[24];
            auto result = std::to_chars(buffer, buffer + sizeof buffer, v_.r->id, 16);
            out += '<';
            std::string_view cls = proxy_class(v_.r->type);
            out += cls;
            if (cls == "AutoProxy") out += '[' + v_.r->type + ']';  // a registered type's
            out += " object, typeid ";
            repr_string(out, v_.r->type);
            out += " at 0x";
            out.append(buffer, result.ptr);
            out += '>';
            break;
        }
        case Kind::tuple:
            repr_items(out, *v_.l, "(", v_.l->size() == 1 ? ",)" : ")");
            break;
        case Kind::set:
        case Kind::frozenset: {
            bool frozen = kind_ == Kind::frozenset;
            if (v_.m->empty()) {
                out += frozen ? "frozenset()" : "set()";
                break;
            }
            out += frozen ? "frozenset({" : "{";
            bool first = true;
            for (const auto& item : *v_.m) {
                if (!first) out += ", ";
                first = false;
                item.first.repr_to(out);
            }
            out += frozen ? "})" : "}";
            break;
        }
        case Kind::bytearray:
            out += "bytearray(";
            repr_bytes(out, *v_.s);
            out += ')';
            break;
        case Kind::big_integer:
            out += big_decimal(*v_.s);
            break;
        case Kind::instance:
            repr_instance(out, *v_.p);
            break;
        case Kind::opaque:
            out += "<pickled " + v_.o->module + "." + v_.o->name + ">";
            break;
    }
}

std::string Object::repr() const {
    std::string out;
    repr_to(out);
    return out;
}

std::string Object::str() const {
    if (kind_ == Kind::instance && v_.p->name != "Token" && v_.p->args.size() <= 1) {
        // str() of an exception: of its one argument (KeyError: its repr), or ''.
        if (v_.p->args.empty()) return "";
        return v_.p->name == "KeyError" ? v_.p->args[0].repr() : v_.p->args[0].str();
    }
    if (kind_ == Kind::instance && v_.p->name != "Token") return Object::tuple(v_.p->args).str();
    return kind_ == Kind::string ? *v_.s : repr();
}

std::ostream& operator<<(std::ostream& out, const Object& object) {
    return out << object.repr();
}

std::string key_repr(const Object& key) {
    return key.repr();
}

// ---- Python's other values ------------------------------------------------------------

Object Object::tuple(List items) {
    Object o(std::move(items));
    o.kind_ = Kind::tuple;
    return o;
}

Object Object::set(List items) {
    Dict d;
    d.reserve(items.size());
    for (auto& item : items)
        d.set(std::move(item), Object());
    Object o(std::move(d));
    o.kind_ = Kind::set;
    return o;
}

Object Object::frozenset(List items) {
    Object o = set(std::move(items));
    o.kind_ = Kind::frozenset;
    return o;
}

Object Object::bytearray(std::string_view data) {
    Object o = bytes(data);
    o.kind_ = Kind::bytearray;
    return o;
}

Object Object::instance(std::string module, std::string name, List args, Object state) {
    Object o;
    o.v_.p = new Instance{std::move(module), std::move(name), std::move(args), std::move(state)};
    o.kind_ = Kind::instance;
    return o;
}

Object Object::opaque(std::string module, std::string name, std::string pickle) {
    Object o;
    o.v_.o = new Opaque{std::move(module), std::move(name), std::move(pickle)};
    o.kind_ = Kind::opaque;
    return o;
}

bool Object::hashable() const noexcept {
    switch (kind_) {
        case Kind::list:
        case Kind::dict:
        case Kind::set:
        case Kind::bytearray:
            return false;
        case Kind::tuple:
            for (const auto& item : *v_.l) {
                if (!item.hashable()) return false;
            }
            return true;
        case Kind::instance:
            for (const auto& item : v_.p->args) {
                if (!item.hashable()) return false;
            }
            return true;
        default:
            return true;
    }
}

std::string& Object::as_bytearray() {
    if (kind_ != Kind::bytearray) wrong_kind("bytearray");
    return *v_.s;
}
const Object::List& Object::as_tuple() const {
    if (kind_ != Kind::tuple) wrong_kind("tuple");
    return *v_.l;
}
const Object::List& Object::as_sequence() const {
    if (kind_ != Kind::tuple && kind_ != Kind::list) wrong_kind("list or tuple");
    return *v_.l;
}
const Object::Dict& Object::as_set() const {
    if (!is_set()) wrong_kind("set");
    return *v_.m;
}
Object::Dict& Object::as_set() {
    if (kind_ != Kind::set) wrong_kind("set");
    return *v_.m;
}
const Object::Instance& Object::as_instance() const {
    if (kind_ != Kind::instance) wrong_kind("Python instance");
    return *v_.p;
}
const Object::Opaque& Object::as_opaque() const {
    if (kind_ != Kind::opaque) wrong_kind("opaque Python value");
    return *v_.o;
}

// Big integers: two's-complement little-endian bytes, shortest form (as pickle's LONG1), and
// never a value that fits 64 bits (that is an integer). Arithmetic on 32-bit limbs of the
// magnitude.
namespace {

constexpr std::size_t max_big_bytes = 8192;  // about 19,700 decimal digits
constexpr std::size_t max_big_digits = 10000;
using Limbs = std::vector<std::uint32_t>;  // magnitude, least significant first

void trim(Limbs& m) {
    while (!m.empty() && m.back() == 0)
        m.pop_back();
}

// Magnitude and sign of two's-complement little-endian bytes.
Limbs magnitude(std::string_view le, bool& negative) {
    negative = !le.empty() && (static_cast<unsigned char>(le.back()) & 0x80);
    std::string bytes(le);
    if (negative) {  // negate: invert and add one
        unsigned carry = 1;
        for (auto& c : bytes) {
            unsigned v = static_cast<unsigned char>(~static_cast<unsigned char>(c)) + carry;
            c = static_cast<char>(v & 0xff);
            carry = v >> 8;
        }
    }
    Limbs m((bytes.size() + 3) / 4, 0);
    for (std::size_t i = 0; i < bytes.size(); ++i)
        m[i / 4] |= std::uint32_t{static_cast<unsigned char>(bytes[i])} << (8 * (i % 4));
    trim(m);
    return m;
}

// Two's-complement little-endian bytes of (negative ? -m : m), shortest form.
std::string twos_complement(const Limbs& m, bool negative) {
    std::string bytes;
    for (auto limb : m)
        for (int k = 0; k < 4; ++k)
            bytes += static_cast<char>((limb >> (8 * k)) & 0xff);
    while (!bytes.empty() && bytes.back() == 0)
        bytes.pop_back();
    if (bytes.empty()) return bytes;  // zero
    if (negative) {
        unsigned carry = 1;
        for (auto& c : bytes) {
            unsigned v = static_cast<unsigned char>(~static_cast<unsigned char>(c)) + carry;
            c = static_cast<char>(v & 0xff);
            carry = v >> 8;
        }
        // Shortest: drop 0xff bytes while the next keeps the sign bit.
        if (!(static_cast<unsigned char>(bytes.back()) & 0x80)) bytes += '\xff';
        while (bytes.size() > 1 && static_cast<unsigned char>(bytes.back()) == 0xff &&
               (static_cast<unsigned char>(bytes[bytes.size() - 2]) & 0x80))
            bytes.pop_back();
    } else if (static_cast<unsigned char>(bytes.back()) & 0x80) {
        bytes += '\0';
    }
    return bytes;
}

}  // namespace

Object Object::integer_from_bytes(std::string_view le) {
    if (le.size() > max_big_bytes) {
        throw ValueError("int of " + std::to_string(le.size()) + " bytes is larger than " +
                         std::to_string(max_big_bytes) + " bytes, the most ipckit keeps");
    }
    if (le.size() <= 8) {  // sign-extend into 64 bits
        std::uint64_t v = 0;
        for (std::size_t i = le.size(); i-- > 0;)
            v = (v << 8) | static_cast<unsigned char>(le[i]);
        if (!le.empty() && le.size() < 8 && (static_cast<unsigned char>(le.back()) & 0x80))
            v |= ~std::uint64_t{0} << (8 * le.size());
        return Object(static_cast<std::int64_t>(v));
    }
    bool negative;
    Limbs m = magnitude(le, negative);
    std::string bytes = twos_complement(m, negative);  // the shortest form
    if (bytes.size() <= 8) return integer_from_bytes(bytes);
    Object o;
    o.v_.s = new_string(std::move(bytes));
    o.kind_ = Kind::big_integer;
    return o;
}

Object Object::integer(std::string_view decimal) {
    std::string_view digits = decimal;
    bool negative = !digits.empty() && digits[0] == '-';
    if (negative) digits.remove_prefix(1);
    if (digits.empty() || digits.size() > max_big_digits ||
        digits.find_first_not_of("0123456789") != std::string_view::npos) {
        throw ValueError("invalid int literal '" + std::string(decimal.substr(0, 40)) +
                         (decimal.size() > 40 ? "...'" : "'") +
                         ": expected an optional '-' and 1 to " + std::to_string(max_big_digits) +
                         " digits");
    }
    Limbs m;
    for (std::size_t i = 0; i < digits.size(); i += 9) {
        std::size_t n = std::min<std::size_t>(9, digits.size() - i);
        std::uint32_t chunk = 0, scale = 1;
        for (std::size_t k = 0; k < n; ++k) {
            chunk = chunk * 10 + static_cast<std::uint32_t>(digits[i + k] - '0');
            scale *= 10;
        }
        std::uint64_t carry = chunk;
        for (auto& limb : m) {
            std::uint64_t v = std::uint64_t{limb} * scale + carry;
            limb = static_cast<std::uint32_t>(v);
            carry = v >> 32;
        }
        if (carry) m.push_back(static_cast<std::uint32_t>(carry));
    }
    trim(m);
    return integer_from_bytes(twos_complement(m, negative));
}

std::string Object::integer_bytes() const {
    if (kind_ == Kind::big_integer) return *v_.s;
    std::int64_t v = as_int();
    std::string bytes;
    for (int k = 0; k < 8; ++k)
        bytes += static_cast<char>((static_cast<std::uint64_t>(v) >> (8 * k)) & 0xff);
    // Shortest form; zero is empty (as pickle's LONG1 writes it).
    while (!bytes.empty()) {
        auto last = static_cast<unsigned char>(bytes.back());
        if (bytes.size() == 1) {
            if (last == 0) bytes.pop_back();
            break;
        }
        bool next_sign = static_cast<unsigned char>(bytes[bytes.size() - 2]) & 0x80;
        if ((last == 0 && !next_sign) || (last == 0xff && next_sign))
            bytes.pop_back();
        else
            break;
    }
    return bytes;
}

namespace {

std::string big_decimal(const std::string& le) {
    bool negative;
    Limbs m = magnitude(le, negative);
    std::string out;
    while (!m.empty()) {
        std::uint64_t rest = 0;
        for (std::size_t i = m.size(); i-- > 0;) {
            std::uint64_t v = (rest << 32) | m[i];
            m[i] = static_cast<std::uint32_t>(v / 1000000000u);
            rest = v % 1000000000u;
        }
        trim(m);
        for (int k = 0; k < 9 && (!m.empty() || rest > 0); ++k) {
            out += static_cast<char>('0' + rest % 10);
            rest /= 10;
        }
    }
    if (out.empty()) out = "0";
    if (negative) out += '-';
    return std::string(out.rbegin(), out.rend());
}

// Compares where one side at least is a big integer (never in int64's range).
int compare_big(const Object& a, const Object& b) {
    auto sign_of = [](const Object& x) {
        return (static_cast<unsigned char>(x.integer_bytes().back()) & 0x80) ? -1 : 1;
    };
    if (a.is_double() || b.is_double()) {
        auto approx = [](const Object& x) -> long double {
            if (x.is_double()) return x.as_double();
            if (!x.is_big_integer()) return static_cast<long double>(x.as_int());
            try {
                return std::stold(big_decimal(x.integer_bytes()));
            } catch (const std::out_of_range&) {  // beyond long double: compares as infinite
                bool negative = static_cast<unsigned char>(x.integer_bytes().back()) & 0x80;
                return negative ? -HUGE_VALL : HUGE_VALL;
            }
        };
        long double x = approx(a), y = approx(b);
        if (std::isnan(x) || std::isnan(y)) return 2;
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (!a.is_big_integer()) return -sign_of(b);  // |b| is beyond every int64
    if (!b.is_big_integer()) return sign_of(a);
    int sa = sign_of(a), sb = sign_of(b);
    if (sa != sb) return sa < sb ? -1 : 1;
    std::string x = a.integer_bytes(), y = b.integer_bytes();
    // Same sign: the longer is further from zero; same length: compare from the top byte.
    if (x.size() != y.size()) return (x.size() < y.size() ? -1 : 1) * sa;
    for (std::size_t i = x.size(); i-- > 0;) {
        auto u = static_cast<unsigned char>(x[i]), v = static_cast<unsigned char>(y[i]);
        if (u != v) return u < v ? -1 : 1;  // two's complement of equal length orders bytewise
    }
    return 0;
}

}  // namespace

}  // namespace ipckit
