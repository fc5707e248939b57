// ipckit::Object: the dynamic value that manager containers hold, printed as Python does.
//
//   Object::Dict d;
//   d.set(1, "one");
//   d.set("two", 2);
//   std::cout << Object(d);          // {1: 'one', 'two': 2}
//   std::cout << Object(3.0);        // 3.0
//   std::cout << Object("it's");     // "it's"
//
// Kinds: None, bool, 64-bit int, double, string (UTF-8 text), bytes, list, and a dict that
// keeps insertion order; for Python's values (ipckit/pickle.hpp) also tuple, set, frozenset,
// bytearray, ints beyond 64 bits, Python instances (exceptions, tokens) and opaque pickles. repr()
// is Python's repr byte for byte (quote choice, escapes, shortest round-trip floats: 1.0, 1e+16,
// inf, nan).
//
// Dict keys are scalars (None, bool, int, double, string, bytes); a list or dict as a key
// throws ValueError ("unhashable type"). Keys compare by kind and value: 1 and "1" are
// different keys, as in Python; unlike Python, True and 1 (and 1 and 1.0) are also
// different keys. Elsewhere (list.index, count, remove, ==) numbers compare as Python
// does: True == 1 == 1.0.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iosfwd>
#include <iterator>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ipckit/error.hpp"  // ValueError, thrown as documented above

namespace ipckit {

class Object {
  public:
    enum class Kind : std::uint8_t {
        none,
        boolean,
        integer,
        real,
        string,
        bytes,
        list,
        dict,
        // Python's values (see the factories below). New kinds go at the end.
        tuple,
        set,
        frozenset,
        bytearray,
        big_integer,
        instance,
        opaque
    };
    using List = std::vector<Object>;
    class Dict;
    struct Instance;
    struct Opaque;

    Object() noexcept {}  // None
    Object(std::nullptr_t) noexcept {}
    Object(bool b) noexcept : kind_(Kind::boolean) { v_.b = b; }
    template <class T>
        requires(std::is_integral_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char>)
    Object(T i) noexcept : kind_(Kind::integer) {
        v_.i = static_cast<std::int64_t>(i);
    }
    Object(double d) noexcept : kind_(Kind::real) { v_.d = d; }
    Object(float f) noexcept : Object(static_cast<double>(f)) {}
    Object(const char* s) : Object(std::string_view(s)) {}
    Object(std::string_view s);
    Object(const std::string& s) : Object(std::string_view(s)) {}
    Object(std::string&& s);
    Object(List list);
    Object(Dict dict);

    static Object bytes(std::string_view data);
    // A string literal keeps every byte, NULs included (not its terminating NUL), as
    // Python's b'...' does: bytes("\0") is b'\x00', bytes("a\0b") is b'a\x00b'.
    // (A const char* stops at its first NUL: pass a std::string_view to give the size.)
    template <std::size_t N>
    static Object bytes(const char (&literal)[N]) {
        return bytes(std::string_view(literal, N > 0 && literal[N - 1] == '\0' ? N - 1 : N));
    }
    // A writable char array is taken as a C string buffer: its bytes up to the first NUL.
    template <std::size_t N>
    static Object bytes(char (&buffer)[N]) {
        std::string_view all(buffer, N);
        return bytes(all.substr(0, all.find('\0')));
    }
    static Object list(std::initializer_list<Object> items) { return Object(List(items)); }

    // Python's other values. tuple: repr (1,), (), (1, 2); hashable when its items are.
    static Object tuple(List items);
    static Object tuple(std::initializer_list<Object> items) { return tuple(List(items)); }
    // set and frozenset: the items, duplicates dropped (keys as in a Dict), insertion order
    // kept; as_set() is a Dict whose keys are the items (values None). A frozenset hashes.
    static Object set(List items);
    static Object frozenset(List items);
    // bytearray: as bytes (equal to bytes of the same content), repr bytearray(b'..').
    static Object bytearray(std::string_view data);
    // An int of any size from its decimal digits ("-123..."): an integer when it fits 64 bits,
    // else a big_integer (printed in decimal, compared and hashed by value). ValueError when
    // `decimal` is not an optional '-' and 1 to 10000 digits.
    static Object integer(std::string_view decimal);
    // The same from two's-complement little-endian bytes (pickle's LONG1/LONG4 payload).
    static Object integer_from_bytes(std::string_view little_endian);
    // An instance of Python class module.name that ipckit interprets (exceptions such as
    // builtins.KeyError, _queue.Empty; multiprocessing.managers.Token): `args` as given to
    // the class, `state` as set by pickle's BUILD (None when none). repr KeyError('x').
    static Object instance(std::string module, std::string name, List args, Object state = {});
    // Any other Python value, kept as its pickle: a complete protocol 4 pickle of it alone,
    // without FRAME opcodes (as ipckit::pickle::loads makes them), that dumps embeds as is.
    // Stored, returned and compared byte for byte, printed as <pickled module.name>, never
    // executed.
    static Object opaque(std::string module, std::string name, std::string pickle);

    Object(const Object& other);
    Object(Object&& other) noexcept : kind_(other.kind_), v_(other.v_) { other.kind_ = Kind::none; }
    Object& operator=(const Object& other);
    Object& operator=(Object&& other) noexcept;
    ~Object() {
        if (kind_ >= Kind::string) reset();  // none, bool, int and float own nothing
    }

    Kind kind() const noexcept { return kind_; }
    // Python's type name: NoneType, bool, int, float, str, bytes, list, dict.
    const char* type_name() const noexcept;
    bool is_none() const noexcept { return kind_ == Kind::none; }
    bool is_bool() const noexcept { return kind_ == Kind::boolean; }
    bool is_int() const noexcept { return kind_ == Kind::integer; }
    bool is_double() const noexcept { return kind_ == Kind::real; }
    bool is_string() const noexcept { return kind_ == Kind::string; }
    bool is_bytes() const noexcept { return kind_ == Kind::bytes; }
    bool is_list() const noexcept { return kind_ == Kind::list; }
    bool is_dict() const noexcept { return kind_ == Kind::dict; }
    // Not a container: neither list, dict, tuple, set, frozenset nor instance.
    bool is_scalar() const noexcept {
        return kind_ != Kind::list && kind_ != Kind::dict && kind_ != Kind::tuple &&
               kind_ != Kind::set && kind_ != Kind::frozenset && kind_ != Kind::instance;
    }
    bool is_tuple() const noexcept { return kind_ == Kind::tuple; }
    bool is_set() const noexcept { return kind_ == Kind::set || kind_ == Kind::frozenset; }
    bool is_bytearray() const noexcept { return kind_ == Kind::bytearray; }
    bool is_big_integer() const noexcept { return kind_ == Kind::big_integer; }
    bool is_instance() const noexcept { return kind_ == Kind::instance; }
    bool is_opaque() const noexcept { return kind_ == Kind::opaque; }
    // True when Python could hash it: not a list, dict, set, bytearray, or a tuple holding one.
    bool hashable() const noexcept;

    // Accessors throw ValueError naming both kinds when the kind differs. as_int accepts a
    // bool; as_double accepts a bool or an int.
    bool as_bool() const;
    std::int64_t as_int() const;
    double as_double() const;
    const std::string& as_string() const;
    const std::string& as_bytes() const;  // the raw bytes (of bytes or bytearray)
    std::string& as_bytearray();          // a bytearray's bytes, mutable
    const List& as_tuple() const;
    // The items of a list or a tuple.
    const List& as_sequence() const;
    const Dict& as_set() const;  // set or frozenset: the keys are the items
    Dict& as_set();              // a set (not a frozenset)
    // A big_integer's two's-complement little-endian bytes (shortest form); for an integer
    // or bool, the same form of its value.
    std::string integer_bytes() const;
    const Instance& as_instance() const;
    const Opaque& as_opaque() const;
    const List& as_list() const;
    List& as_list();
    const Dict& as_dict() const;
    Dict& as_dict();

    // Python's repr(x) and str(x) (str differs for strings: no quotes).
    std::string repr() const;
    std::string str() const;
    void repr_to(std::string& out) const;

    // Python's ==: numbers of any kind compare by value, containers element-wise.
    friend bool operator==(const Object& a, const Object& b);
    // Python's <, used by sort: numbers with numbers, str with str, bytes with bytes,
    // lists element-wise; anything else throws ValueError ("'<' not supported ...").
    static bool less(const Object& a, const Object& b);
    // Dict-key identity: same kind and equal value.
    static bool same_key(const Object& a, const Object& b) noexcept;
    // Hash of a scalar (consistent with same_key); throws ValueError for list and dict.
    std::size_t hash() const;

    friend std::ostream& operator<<(std::ostream& out, const Object& object);

  private:
    void reset() noexcept;
    [[noreturn]] void wrong_kind(const char* wanted) const;

    Kind kind_ = Kind::none;
    union {
        bool b;
        std::int64_t i;
        double d;
        std::string* s;  // string, bytes, bytearray, big_integer (integer_bytes())
        List* l;         // list, tuple
        Dict* m;         // dict, set, frozenset
        Instance* p;
        Opaque* o;
    } v_{};
};

// An insertion-ordered dict, as Python's.
class Object::Dict {
  public:
    using Item = std::pair<Object, Object>;

  private:
    struct Entry {
        Item item;
        std::size_t hash = 0;
        bool live = true;
    };

  public:
    Dict() = default;
    Dict(std::initializer_list<Item> items);

    std::size_t size() const noexcept { return live_; }
    bool empty() const noexcept { return live_ == 0; }
    bool contains(const Object& key) const { return find(key) != nullptr; }
    // nullptr when absent.
    const Object* find(const Object& key) const;
    Object* find(const Object& key);
    // KeyError carrying the key's repr when absent.
    const Object& at(const Object& key) const;
    Object& at(const Object& key);
    // Inserts or assigns; a new key goes last, an existing key keeps its place.
    void set(Object key, Object value);
    // False when absent.
    bool erase(const Object& key);
    // Removes and returns the last item; KeyError when empty ("popitem(): dictionary is empty").
    Item popitem();
    void clear() noexcept;
    // Makes room for `n` items without growing again.
    void reserve(std::size_t n);

    // Iterates over the items in insertion order.
    class const_iterator {
      public:
        using value_type = Item;
        using difference_type = std::ptrdiff_t;
        using reference = const Item&;
        using pointer = const Item*;
        using iterator_category = std::forward_iterator_tag;
        const_iterator() = default;
        reference operator*() const { return (*entries_)[pos_].item; }
        pointer operator->() const { return &(*entries_)[pos_].item; }
        const_iterator& operator++() {
            ++pos_;
            skip();
            return *this;
        }
        const_iterator operator++(int) {
            auto old = *this;
            ++*this;
            return old;
        }
        friend bool operator==(const const_iterator& a, const const_iterator& b) {
            return a.pos_ == b.pos_;
        }

      private:
        friend class Dict;
        const_iterator(const std::vector<Entry>* entries, std::size_t pos)
            : entries_(entries), pos_(pos) {
            skip();
        }
        void skip() {
            while (pos_ < entries_->size() && !(*entries_)[pos_].live)
                ++pos_;
        }
        const std::vector<Entry>* entries_ = nullptr;
        std::size_t pos_ = 0;
    };
    const_iterator begin() const { return const_iterator(&entries_, 0); }
    const_iterator end() const { return const_iterator(&entries_, entries_.size()); }

    // Python's == (order does not matter).
    friend bool operator==(const Dict& a, const Dict& b);

  private:
    // As CPython's dict: entries in insertion order, and an open-addressing table of
    // indexes into them (linear probing).
    static constexpr std::uint32_t empty_slot = 0xffffffffu;
    static constexpr std::uint32_t deleted_slot = 0xfffffffeu;
    std::size_t find_slot(const Object& key, std::size_t hash) const;  // npos when absent
    void rebuild(std::size_t capacity);
    void compact();

    std::vector<Entry> entries_;
    std::vector<std::uint32_t> slots_;  // a power of two in size, or empty
    std::size_t live_ = 0;              // live entries
    std::size_t used_ = 0;              // slots not empty (live or deleted)
};

// A Python instance ipckit interprets (Object::instance).
struct Object::Instance {
    std::string module, name;  // "builtins", "KeyError"
    List args;                 // KeyError('x'): {"x"}
    Object state;              // None, or what pickle's BUILD gave it
    friend bool operator==(const Instance&, const Instance&) = default;
};

// Any other Python value, as its pickle (Object::opaque).
struct Object::Opaque {
    std::string module, name;  // the class: "__main__", "Point"
    std::string pickle;        // an unframed protocol 4 pickle of the value alone
};

// The repr of a key, for error messages: KeyError: 'missing'.
std::string key_repr(const Object& key);

}  // namespace ipckit
