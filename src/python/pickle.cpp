// ipckit::pickle: a pickle decoder that builds plain data and an encoder of protocol 4.
//
// The decoder runs the pickle machine over an arena of nodes (a node per value, containers
// holding node numbers), because pickle mutates containers after memoizing them (a list is
// memoized empty, then APPENDS fills it). Nothing is imported or called: a "call" (REDUCE,
// NEWOBJ, BUILD) only records its parts, and the conversion to ipckit::Object at the end
// interprets the few it knows and re-encodes the rest as opaque pickles.
#include "ipckit/pickle.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ipckit/error.hpp"
#include "pickle_reader.hpp"

namespace ipckit::pickle {
using namespace detail;  // the opcodes and the Reader
namespace {

constexpr std::size_t frame_size_target = std::size_t{64} * 1024;  // as CPython's pickler
constexpr std::size_t batch_size = 1000;  // items per APPENDS/SETITEMS/ADDITEMS
constexpr int max_encode_depth = 1000;

// ---- classes ----------------------------------------------------------------------------

// Python 2's names of modules, as protocol 2 pickles written with fix_imports carry them.
std::string_view python3_module(std::string_view module) {
    if (module == "__builtin__" || module == "exceptions") return "builtins";
    if (module == "Queue") return "queue";
    if (module == "copy_reg") return "copyreg";
    return module;
}

// Globals that can run code or reach the system: never accepted, not even to pass them on.
bool refused_global(std::string_view module, std::string_view name) {
    static constexpr std::array<std::string_view, 24> modules = {
        "os",        "posix",      "nt",        "subprocess", "sys",      "shutil",
        "importlib", "pickle",     "_pickle",   "marshal",    "socket",   "ctypes",
        "code",      "codeop",     "runpy",     "pty",        "operator", "types",
        "commands",  "webbrowser", "posixpath", "io",         "_io",      "shelve"};
    std::string_view top = module.substr(0, module.find('.'));
    for (auto m : modules) {
        if (top == m) return true;
    }
    if (module == "builtins") {
        static constexpr std::array<std::string_view, 17> names = {
            "eval",       "exec",  "compile", "getattr",    "setattr", "delattr",
            "open",       "input", "globals", "locals",     "vars",    "breakpoint",
            "__import__", "exit",  "quit",    "memoryview", "help"};
        for (auto n : names) {
            if (name == n) return true;
        }
    }
    return false;
}

// The exception classes carried as Object::instance.
bool known_exception(std::string_view module, std::string_view name) {
    if (module == "_queue" || module == "queue") return name == "Empty" || name == "Full";
    if (module == "threading") return name == "BrokenBarrierError";
    if (module == "multiprocessing.context" || module == "multiprocessing")
        return name == "AuthenticationError" || name == "ProcessError" || name == "TimeoutError" ||
               name == "BufferTooShort";
    if (module == "multiprocessing.managers") return name == "RemoteError";
    if (module != "builtins") return false;
    static constexpr std::array<std::string_view, 50> names = {"BaseException",
                                                               "Exception",
                                                               "ArithmeticError",
                                                               "AssertionError",
                                                               "AttributeError",
                                                               "BufferError",
                                                               "EOFError",
                                                               "FloatingPointError",
                                                               "GeneratorExit",
                                                               "IndexError",
                                                               "KeyError",
                                                               "KeyboardInterrupt",
                                                               "LookupError",
                                                               "MemoryError",
                                                               "NameError",
                                                               "NotImplementedError",
                                                               "OSError",
                                                               "OverflowError",
                                                               "RecursionError",
                                                               "ReferenceError",
                                                               "RuntimeError",
                                                               "StopIteration",
                                                               "StopAsyncIteration",
                                                               "SystemError",
                                                               "TimeoutError",
                                                               "TypeError",
                                                               "UnboundLocalError",
                                                               "ValueError",
                                                               "ZeroDivisionError",
                                                               "ConnectionError",
                                                               "BrokenPipeError",
                                                               "ConnectionResetError",
                                                               "ConnectionRefusedError",
                                                               "ConnectionAbortedError",
                                                               "FileNotFoundError",
                                                               "FileExistsError",
                                                               "PermissionError",
                                                               "ProcessLookupError",
                                                               "ChildProcessError",
                                                               "InterruptedError",
                                                               "BlockingIOError",
                                                               "IsADirectoryError",
                                                               "NotADirectoryError",
                                                               "UnicodeError",
                                                               "EnvironmentError",
                                                               "IOError",
                                                               "SystemExit",
                                                               "LookupError",
                                                               "Warning",
                                                               "UserWarning"};
    for (auto n : names) {
        if (name == n) return true;
    }
    return false;
}

bool is_token_class(std::string_view module, std::string_view name) {
    return module == "multiprocessing.managers" && name == "Token";
}

// ---- encoder ----------------------------------------------------------------------------

// `n` as `bytes` little-endian bytes at `at`; returns the end.
char* little_endian(char* at, std::uint64_t n, int bytes) {
    for (int i = 0; i < bytes; ++i)
        *at++ = static_cast<char>((n >> (8 * i)) & 0xff);
    return at;
}

// Writes into a string through a cursor: the string is grown in large steps (and its new
// bytes zeroed once), and cut to what was written by finish(). Appending byte by byte to a
// std::string costs a capacity check and a terminator each time.
class Encoder {
  public:
    Encoder(std::string& out, bool framing) : out_(out), len_(out.size()), framing_(framing) {}

    void dump(const Object& value) {
        char* w = room(2);
        w[0] = static_cast<char>(PROTO);
        w[1] = '\x04';
        start_frame();
        save(value, 0);
        op(STOP);
        commit();
        finish();
    }
    // Cuts the string to what was written. Call it before reading the string.
    void finish() { out_.resize(len_); }

    void save(const Object& value, int depth) {
        if (depth > max_encode_depth) {
            throw ValueError("pickle: value nested deeper than " +
                             std::to_string(max_encode_depth) + " levels");
        }
        boundary();
        switch (value.kind()) {
            case Object::Kind::none:
                op(NONE);
                break;
            case Object::Kind::boolean:
                op(value.as_bool() ? NEWTRUE : NEWFALSE);
                break;
            case Object::Kind::integer:
            case Object::Kind::big_integer:
                save_int(value);
                break;
            case Object::Kind::real: {
                double d = value.as_double();
                std::uint64_t bits;
                std::memcpy(&bits, &d, sizeof bits);
                char* w = room(9);
                *w++ = static_cast<char>(BINFLOAT);
                for (int i = 7; i >= 0; --i)
                    *w++ = static_cast<char>((bits >> (8 * i)) & 0xff);  // big-endian
                break;
            }
            case Object::Kind::string:
                save_text(value.as_string());
                break;
            case Object::Kind::bytes:
                save_bytes(value.as_bytes());
                break;
            case Object::Kind::bytearray:
                save_global("builtins", "bytearray");
                if (value.as_bytes().empty()) {
                    op(EMPTY_TUPLE);
                } else {
                    save_bytes(value.as_bytes());
                    op(TUPLE1);
                    memoize();
                }
                op(REDUCE);
                memoize();
                break;
            case Object::Kind::tuple:
                save_tuple(value.as_tuple(), depth);
                break;
            case Object::Kind::list: {
                op(EMPTY_LIST);
                memoize();
                const auto& items = value.as_list();
                if (items.size() == 1) {
                    save(items[0], depth + 1);
                    op(APPEND);
                    break;
                }
                for (std::size_t i = 0; i < items.size();) {
                    op(MARK);
                    for (std::size_t n = 0; n < batch_size && i < items.size(); ++n, ++i)
                        save(items[i], depth + 1);
                    op(APPENDS);
                }
                break;
            }
            case Object::Kind::dict: {
                op(EMPTY_DICT);
                memoize();
                const auto& dict = value.as_dict();
                if (dict.size() == 1) {
                    save(dict.begin()->first, depth + 1);
                    save(dict.begin()->second, depth + 1);
                    op(SETITEM);
                    break;
                }
                if (dict.empty()) break;
                // As CPython: batches until one is not full (an empty one after a full one).
                auto it = dict.begin();
                std::size_t n;
                do {
                    op(MARK);
                    for (n = 0; n < batch_size && it != dict.end(); ++it) {
                        save(it->first, depth + 1);
                        save(it->second, depth + 1);
                        ++n;
                    }
                    op(SETITEMS);
                } while (n == batch_size);
                break;
            }
            case Object::Kind::set: {
                op(EMPTY_SET);
                memoize();
                const auto& set = value.as_set();
                if (set.empty()) break;
                auto it = set.begin();
                std::size_t n;
                do {
                    op(MARK);
                    for (n = 0; n < batch_size && it != set.end(); ++it) {
                        save(it->first, depth + 1);
                        ++n;
                    }
                    op(ADDITEMS);
                } while (n == batch_size);
                break;
            }
            case Object::Kind::frozenset:
                op(MARK);
                for (const auto& item : value.as_set())
                    save(item.first, depth + 1);
                op(FROZENSET);
                memoize();
                break;
            case Object::Kind::instance: {
                const auto& instance = value.as_instance();
                save_global(instance.module, instance.name);
                save_tuple(instance.args, depth);
                // Token is made as Python makes it: cls.__new__(cls) then BUILD with the state.
                op(is_token_class(instance.module, instance.name) ? NEWOBJ : REDUCE);
                memoize();
                if (!instance.state.is_none()) {
                    save(instance.state, depth + 1);
                    op(BUILD);
                }
                break;
            }
            case Object::Kind::opaque: {
                std::string_view p = value.as_opaque().pickle;
                if (p.size() < 3 || static_cast<unsigned char>(p[0]) != PROTO || p.back() != STOP ||
                    static_cast<unsigned char>(p[2]) == FRAME) {
                    throw ValueError("pickle: the opaque value of " + value.as_opaque().module +
                                     "." + value.as_opaque().name +
                                     " is not an unframed pickle (as ipckit::pickle makes them)");
                }
                append(p.substr(2, p.size() - 3));
                break;
            }
            case Object::Kind::ref:  // a proxy in a container: no plain-data pickle for it
                throw ValueError("pickle: a manager proxy (" + value.repr() +
                                 ") has no pickled form for Python clients");
        }
    }

    // A call of a class by its parts (opaque values), as pickle's save_reduce writes it.
    void save_call(std::string_view module, std::string_view name, Op how, const Object& args,
                   const Object* kwargs, const Object::List& listitems,
                   const std::vector<std::pair<Object, Object>>& dictitems, const Object& state,
                   bool has_state) {
        save_global(module, name);
        save(args, 1);
        if (kwargs) save(*kwargs, 1);
        op(how);
        memoize();
        for (std::size_t i = 0; i < listitems.size();) {
            op(MARK);
            for (std::size_t n = 0; n < batch_size && i < listitems.size(); ++n, ++i)
                save(listitems[i], 1);
            op(APPENDS);
        }
        for (std::size_t i = 0; i < dictitems.size();) {
            op(MARK);
            for (std::size_t n = 0; n < batch_size && i < dictitems.size(); ++n, ++i) {
                save(dictitems[i].first, 1);
                save(dictitems[i].second, 1);
            }
            op(SETITEMS);
        }
        if (has_state) {
            save(state, 1);
            op(BUILD);
        }
    }

    void save_global(std::string_view module, std::string_view name) {
        save_text(module);
        save_text(name);
        op(STACK_GLOBAL);
        memoize();
    }

    void finish_unframed() {
        op(STOP);
        finish();
    }
    void start_unframed() {
        char* w = room(2);
        w[0] = static_cast<char>(PROTO);
        w[1] = '\x04';
    }

  private:
    // Room for `n` more bytes: where to write them.
    char* room(std::size_t n) {
        if (out_.size() - len_ < n) out_.resize(std::max(out_.size() * 2, len_ + n + 256));
        char* at = out_.data() + len_;
        len_ += n;
        return at;
    }
    void append(std::string_view data) {
        if (!data.empty()) std::memcpy(room(data.size()), data.data(), data.size());
    }
    void op(unsigned char code) { *room(1) = static_cast<char>(code); }
    void memoize() { op(MEMOIZE); }

    // Frames are written in place: a 9-byte header is reserved where a frame starts and
    // filled in (or removed, for a frame under 4 bytes) when the frame ends.
    static constexpr std::size_t no_frame = static_cast<std::size_t>(-1);
    static constexpr std::size_t frame_header = 9;
    void start_frame() {
        if (!framing_) return;
        frame_start_ = len_;
        room(frame_header);
    }
    std::size_t frame_length() const { return len_ - frame_start_ - frame_header; }
    void boundary() {
        if (frame_start_ != no_frame && frame_length() >= frame_size_target) {
            commit();
            start_frame();
        }
    }
    void commit() {
        if (frame_start_ == no_frame) return;
        std::size_t n = frame_length();
        char* header = out_.data() + frame_start_;
        if (n >= 4) {
            header[0] = static_cast<char>(FRAME);
            little_endian(header + 1, n, 8);
        } else {
            std::memmove(header, header + frame_header, n);
            len_ -= frame_header;
        }
        frame_start_ = no_frame;
    }
    // A header and a payload; a payload of a frame's size or more goes outside the frames.
    void write_bytes(std::string_view header, std::string_view data) {
        if (frame_start_ != no_frame && data.size() >= frame_size_target) {
            commit();
            append(header);
            append(data);
            start_frame();
            return;
        }
        append(header);
        append(data);
    }

    // str and bytes: the shortest of three headers (1-, 4- or 8-byte length), then MEMOIZE.
    void save_sized(std::string_view s, Op short_op, Op op4, Op op8) {
        if (s.size() <= 0xff) {  // the usual case, in one write
            char* w = room(s.size() + 3);
            w[0] = static_cast<char>(short_op);
            w[1] = static_cast<char>(s.size());
            if (!s.empty()) std::memcpy(w + 2, s.data(), s.size());
            w[s.size() + 2] = static_cast<char>(MEMOIZE);
            return;
        }
        char header[9];
        bool small = s.size() <= 0xffffffffu;
        header[0] = static_cast<char>(small ? op4 : op8);
        char* end = little_endian(header + 1, s.size(), small ? 4 : 8);
        write_bytes(std::string_view(header, static_cast<std::size_t>(end - header)), s);
        memoize();
    }
    void save_text(std::string_view s) { save_sized(s, SHORT_BINUNICODE, BINUNICODE, BINUNICODE8); }
    void save_bytes(std::string_view s) { save_sized(s, SHORT_BINBYTES, BINBYTES, BINBYTES8); }

    void save_int(const Object& value) {
        if (value.is_int()) {
            std::int64_t v = value.as_int();
            auto u = static_cast<std::uint64_t>(v);
            if (v >= 0 && v <= 0xff) {
                char* w = room(2);
                w[0] = static_cast<char>(BININT1);
                little_endian(w + 1, u, 1);
                return;
            }
            if (v >= 0 && v <= 0xffff) {
                char* w = room(3);
                w[0] = static_cast<char>(BININT2);
                little_endian(w + 1, u, 2);
                return;
            }
            if (v >= INT32_MIN && v <= INT32_MAX) {
                char* w = room(5);
                w[0] = static_cast<char>(BININT);
                little_endian(w + 1, u, 4);
                return;
            }
        }
        std::string bytes = value.integer_bytes();
        if (bytes.size() < 256) {
            char* w = room(2);
            w[0] = static_cast<char>(LONG1);
            w[1] = static_cast<char>(bytes.size());
        } else {
            char* w = room(5);
            w[0] = static_cast<char>(LONG4);
            little_endian(w + 1, bytes.size(), 4);
        }
        append(bytes);
    }

    void save_tuple(const Object::List& items, int depth) {
        if (items.empty()) {
            op(EMPTY_TUPLE);
            return;
        }
        if (items.size() <= 3) {
            for (const auto& item : items)
                save(item, depth + 1);
            op(static_cast<unsigned char>(TUPLE1 + items.size() - 1));
        } else {
            op(MARK);
            for (const auto& item : items)
                save(item, depth + 1);
            op(TUPLE);
        }
        memoize();
    }

    std::string& out_;
    std::size_t len_;  // bytes written; out_ may be longer (room not yet used)
    std::size_t frame_start_ = no_frame;
    bool framing_;
};

// ---- decoder ----------------------------------------------------------------------------

using Id = std::uint32_t;
constexpr Id no_node = 0xffffffffu;

struct Node {
    enum class Type : std::uint8_t {
        value,      // a scalar in `value`
        list,       // items
        tuple,      // items
        dict,       // items: key, value, key, value...
        set,        // items
        frozenset,  // items
        global,     // module, name
        call,       // a REDUCE/NEWOBJ/NEWOBJ_EX of `callable` with `args` (and `kwargs`)
    };
    Object value;
    // Container: its items' index in lists_ (no_node while it has none); global: its index
    // in globals_; call: in calls_.
    Id extra = no_node;
    std::uint32_t uses = 0;  // how many containers (or calls) hold it
    Type type = Type::value;
    bool busy = false;  // being converted (a cycle comes back to it)
};

struct Global {
    std::string module, name;
};

struct Call {
    Op how = REDUCE;  // REDUCE, NEWOBJ or NEWOBJ_EX
    bool has_state = false;
    Id callable = no_node, args = no_node, kwargs = no_node, state = no_node;
    std::vector<Id> listitems;  // APPENDS items
    std::vector<Id> dictitems;  // SETITEMS key, value...
};

// The decoder's working memory, kept per thread between calls (cleared, capacity kept), so
// that decoding many pickles does not ask malloc for (and page in) the same arena each time.
struct Scratch {
    std::vector<Node> nodes;
    std::vector<Global> globals;
    std::vector<Call> calls;
    std::vector<std::vector<Id>> lists;
    std::vector<Id> dense_memo, stack;
    std::vector<std::size_t> marks;
    void swap(Scratch& other) noexcept {
        nodes.swap(other.nodes);
        globals.swap(other.globals);
        calls.swap(other.calls);
        lists.swap(other.lists);
        dense_memo.swap(other.dense_memo);
        stack.swap(other.stack);
        marks.swap(other.marks);
    }
};
thread_local Scratch scratch_cache;
constexpr std::size_t max_kept_nodes = std::size_t{1} << 18;  // 8 MiB of nodes at most

class Decoder : Reader {
  public:
    Decoder(std::string_view data, const Limits& limits) : Reader(data), limits_(limits) {
        work_.swap(scratch_cache);
    }
    ~Decoder() {
        work_.nodes.clear();
        work_.globals.clear();
        work_.calls.clear();
        work_.dense_memo.clear();
        work_.stack.clear();
        work_.marks.clear();
        std::size_t kept_items = 0;
        for (const auto& list : work_.lists)
            kept_items += list.capacity();
        if (kept_items > max_kept_nodes || work_.lists.size() > max_kept_nodes)
            std::vector<std::vector<Id>>().swap(work_.lists);
        if (work_.nodes.capacity() <= max_kept_nodes) work_.swap(scratch_cache);
    }
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    Object run() {
        if (data_.size() > limits_.max_input) {
            throw ValueError("pickle: input of " + std::to_string(data_.size()) +
                             " bytes exceeds the limit of " + std::to_string(limits_.max_input) +
                             " bytes");
        }
        if (data_.empty()) fail("empty input");
        // A value takes 4 bytes or more (opcode, argument, MEMOIZE); more nodes grow the vector.
        nodes_.reserve(std::min<std::size_t>(data_.size() / 4 + 1, std::size_t{1} << 20));
        for (;;) {
            std::size_t at = p_;
            unsigned char code = byte();
            op_at_ = at;
            if (code == STOP) break;
            step(code);
        }
        if (p_ != data_.size()) fail("bytes after STOP");
        if (!marks_.empty()) fail("MARK without its end");
        if (stack_.size() != 1)
            fail("STOP with " + std::to_string(stack_.size()) + " values on the stack");
        Id root = stack_.back();
        nodes_[root].uses++;
        return convert(root, 0);
    }

  private:
    [[noreturn]] void too_many() const {
        fail("more than " + std::to_string(limits_.max_items) + " values (Limits::max_items)");
    }
    // ---- nodes and stack ----
    Id add(Node node) {
        if (nodes_.size() >= limits_.max_items) too_many();
        nodes_.push_back(std::move(node));
        return static_cast<Id>(nodes_.size() - 1);
    }
    void count_items(std::size_t n) {
        items_ += n;
        if (items_ > limits_.max_items) too_many();
    }
    // The items of a container or the APPENDS items of a call, made on first use.
    std::vector<Id>& items_of(Id id) {
        Node& n = nodes_[id];
        if (n.type == Node::Type::call) return calls_[n.extra].listitems;
        if (n.extra == no_node) {
            if (lists_used_ == lists_.size()) {
                lists_.emplace_back();
            } else {
                lists_[lists_used_].clear();  // left by an earlier call
            }
            n.extra = static_cast<Id>(lists_used_++);
        }
        return lists_[n.extra];
    }
    const std::vector<Id>& items_view(const Node& n) const {
        static const std::vector<Id> none;
        if (n.type == Node::Type::call) return calls_[n.extra].listitems;
        return n.extra == no_node ? none : lists_[n.extra];
    }

    // A new node on the stack, made in place.
    Node& push_new() {
        if (nodes_.size() >= limits_.max_items) too_many();
        Node& n = nodes_.emplace_back();
        stack_.push_back(static_cast<Id>(nodes_.size() - 1));
        return n;
    }
    Id push_value(Object value) {
        push_new().value = std::move(value);
        return stack_.back();
    }
    Id push_node(Node::Type type) {
        push_new().type = type;
        return stack_.back();
    }
    Id pop() {
        if (stack_.size() <= floor()) fail("stack underflow");
        Id id = stack_.back();
        stack_.pop_back();
        return id;
    }
    Id& top() {
        if (stack_.size() <= floor()) fail("stack underflow");
        return stack_.back();
    }
    std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }
    // The items above the last MARK, removed with the mark.
    std::vector<Id> pop_mark() {
        if (marks_.empty()) fail("no MARK before this opcode");
        std::size_t start = marks_.back();
        marks_.pop_back();
        std::vector<Id> items(stack_.begin() + static_cast<std::ptrdiff_t>(start), stack_.end());
        stack_.resize(start);
        return items;
    }
    void use(const std::vector<Id>& ids) {
        for (Id id : ids)
            nodes_[id].uses++;
    }

    Node& container(Id id, Node::Type type, const char* opname) {
        Node& n = nodes_[id];
        if (n.type == type) return n;
        if (n.type == Node::Type::call && (type == Node::Type::list || type == Node::Type::dict))
            return n;  // a subclass of list or dict: its items are kept with the call
        fail(std::string(opname) + " on a value that is not a " +
             (type == Node::Type::list   ? "list"
              : type == Node::Type::dict ? "dict"
                                         : "set"));
    }

    void memo_put(std::uint64_t index) {
        if (stack_.size() <= floor()) fail("memoizing an empty stack");
        if (index < dense_memo_.size()) {
            dense_memo_[index] = stack_.back();
            return;
        }
        if (index == dense_memo_.size() && memo_.empty()) {
            if (dense_memo_.size() >= limits_.max_memo) {
                fail("memo larger than " + std::to_string(limits_.max_memo) +
                     " entries (Limits::max_memo)");
            }
            dense_memo_.push_back(stack_.back());
            return;
        }
        if (dense_memo_.size() + memo_.size() >= limits_.max_memo && !memo_.count(index)) {
            fail("memo larger than " + std::to_string(limits_.max_memo) +
                 " entries (Limits::max_memo)");
        }
        auto it = memo_.find(index);
        if (it == memo_.end() && memo_.size() >= limits_.max_memo)
            fail("memo larger than " + std::to_string(limits_.max_memo) +
                 " entries (Limits::max_memo)");
        memo_[index] = stack_.back();
    }
    void memo_get(std::uint64_t index) {
        if (index < dense_memo_.size()) {
            stack_.push_back(dense_memo_[index]);
            count_items(1);
            return;
        }
        auto it = memo_.find(index);
        if (it == memo_.end()) fail("memo entry " + std::to_string(index) + " was never stored");
        stack_.push_back(it->second);
        count_items(1);  // a shared value is built once per use
    }

    void make_global(std::string_view module, std::string_view name) {
        std::string_view m = python3_module(module);
        if (refused_global(m, name)) {
            fail("refusing the global " + std::string(m) + "." + std::string(name) +
                 " (it can run code; ipckit executes nothing)");
        }
        if (m.empty() || name.empty() || m.size() > 256 || name.size() > 256)
            fail("malformed global name");
        Node n;
        n.type = Node::Type::global;
        n.extra = static_cast<Id>(globals_.size());
        globals_.push_back(Global{std::string(m), std::string(name)});
        stack_.push_back(add(std::move(n)));
    }

    const std::string& text_of(Id id, const char* what) {
        const Node& n = nodes_[id];
        if (n.type != Node::Type::value || !n.value.is_string())
            fail(std::string(what) + " is not a str");
        return n.value.as_string();
    }

    void step(unsigned char code) {
        switch (code) {
            case PROTO: {
                unsigned v = byte();
                if (v > 5) fail("unsupported pickle protocol " + std::to_string(v));
                break;
            }
            case FRAME: {
                std::uint64_t n = uint_le(8);
                if (n > remaining()) fail("frame longer than the input");
                break;
            }
            case MARK:
                if (marks_.size() >= limits_.max_items) too_many();
                marks_.push_back(stack_.size());
                break;
            case POP:
                if (stack_.size() > floor()) {
                    stack_.pop_back();
                } else {
                    pop_mark();  // Python pops a MARK here
                }
                break;
            case POP_MARK:
                pop_mark();
                break;
            case DUP:
                stack_.push_back(top());
                count_items(1);
                break;
            case EMPTY_TUPLE:
                push_node(Node::Type::tuple);
                break;
            case TUPLE1:
            case TUPLE2:
            case TUPLE3: {
                std::size_t n = code - TUPLE1 + 1u;
                if (stack_.size() < floor() + n) fail("stack underflow");
                std::vector<Id> items(stack_.end() - static_cast<std::ptrdiff_t>(n), stack_.end());
                stack_.resize(stack_.size() - n);
                use(items);
                Id id = push_node(Node::Type::tuple);
                items_of(id) = std::move(items);
                break;
            }
            case TUPLE:
            case LIST:
            case FROZENSET: {
                std::vector<Id> items = pop_mark();
                use(items);
                Id id = push_node(code == TUPLE  ? Node::Type::tuple
                                  : code == LIST ? Node::Type::list
                                                 : Node::Type::frozenset);
                items_of(id) = std::move(items);
                break;
            }
            case DICT: {
                std::vector<Id> items = pop_mark();
                if (items.size() % 2) fail("DICT with an odd number of items");
                use(items);
                Id id = push_node(Node::Type::dict);
                items_of(id) = std::move(items);
                break;
            }
            case EMPTY_LIST:
                push_node(Node::Type::list);
                break;
            case EMPTY_DICT:
                push_node(Node::Type::dict);
                break;
            case EMPTY_SET:
                push_node(Node::Type::set);
                break;
            case APPEND: {
                Id item = pop();
                container(top(), Node::Type::list, "APPEND");
                nodes_[item].uses++;
                items_of(top()).push_back(item);
                break;
            }
            case APPENDS: {
                std::vector<Id> items = pop_mark();
                container(top(), Node::Type::list, "APPENDS");
                use(items);
                auto& into = items_of(top());
                into.insert(into.end(), items.begin(), items.end());
                break;
            }
            case SETITEM: {
                Id value = pop();
                Id key = pop();
                Node& dict = container(top(), Node::Type::dict, "SETITEM");
                nodes_[key].uses++;
                nodes_[value].uses++;
                auto& into =
                    dict.type == Node::Type::call ? calls_[dict.extra].dictitems : items_of(top());
                into.push_back(key);
                into.push_back(value);
                break;
            }
            case SETITEMS: {
                std::vector<Id> items = pop_mark();
                if (items.size() % 2) fail("SETITEMS with an odd number of items");
                Node& dict = container(top(), Node::Type::dict, "SETITEMS");
                use(items);
                auto& into =
                    dict.type == Node::Type::call ? calls_[dict.extra].dictitems : items_of(top());
                into.insert(into.end(), items.begin(), items.end());
                break;
            }
            case ADDITEMS: {
                std::vector<Id> items = pop_mark();
                container(top(), Node::Type::set, "ADDITEMS");
                use(items);
                auto& into = items_of(top());
                into.insert(into.end(), items.begin(), items.end());
                break;
            }
            case GLOBAL: {
                std::string_view module = line();
                std::string_view name = line();
                make_global(module, name);
                break;
            }
            case STACK_GLOBAL: {
                Id name = pop();
                Id module = pop();
                std::string m = text_of(module, "STACK_GLOBAL's module");
                std::string n = text_of(name, "STACK_GLOBAL's name");
                make_global(m, n);
                break;
            }
            case REDUCE:
            case NEWOBJ: {
                Id args = pop();
                Id callable = pop();
                call(code == REDUCE ? REDUCE : NEWOBJ, callable, args, no_node);
                break;
            }
            case NEWOBJ_EX: {
                Id kwargs = pop();
                Id args = pop();
                Id cls = pop();
                if (nodes_[kwargs].type != Node::Type::dict)
                    fail("NEWOBJ_EX's keyword arguments are not a dict");
                call(NEWOBJ_EX, cls, args, kwargs);
                break;
            }
            case BUILD: {
                Id state = pop();
                Node& target = nodes_[top()];
                if (target.type != Node::Type::call) fail("BUILD on a value that is not an object");
                Call& c = calls_[target.extra];
                if (c.has_state) fail("a second BUILD on one object");
                c.has_state = true;
                c.state = state;
                nodes_[state].uses++;
                break;
            }
            case PUT:
                memo_put(parse_index(line()));
                break;
            case BINPUT:
                memo_put(uint_le(1));
                break;
            case LONG_BINPUT:
                memo_put(uint_le(4));
                break;
            case MEMOIZE:
                memo_put(dense_memo_.size() + memo_.size());
                break;
            case GET:
                memo_get(parse_index(line()));
                break;
            case BINGET:
                memo_get(uint_le(1));
                break;
            case LONG_BINGET:
                memo_get(uint_le(4));
                break;
            case PERSID:
            case BINPERSID:
                fail("persistent ids are not supported");
            case EXT1:
            case EXT2:
            case EXT4:
                fail("the extension registry (EXT opcodes) is not supported");
            case NEXT_BUFFER:
            case READONLY_BUFFER:
                fail("out-of-band buffers are not supported");
            case INST:
            case OBJ:
                fail("protocol 0/1 instance opcodes (INST, OBJ) are not supported");
            case STRING:
            case UNICODE:
                fail("protocol 0 text strings are not supported");
            default: {
                if (Object value; scalar(code, value)) {
                    push_value(std::move(value));
                    break;
                }
                const char* digits = "0123456789abcdef";
                fail(std::string("unknown opcode 0x") + digits[code >> 4] + digits[code & 15]);
            }
        }
    }

    std::uint64_t parse_index(std::string_view t) {
        std::uint64_t v = 0;
        auto r = std::from_chars(t.data(), t.data() + t.size(), v);
        if (r.ec != std::errc() || r.ptr != t.data() + t.size()) fail("malformed memo index");
        return v;
    }

    void call(Op how, Id callable, Id args, Id kwargs) {
        const Node& c = nodes_[callable];
        if (c.type != Node::Type::global) fail("a call of something that is not a global");
        if (nodes_[args].type != Node::Type::tuple) fail("a call whose arguments are not a tuple");
        Node n;
        n.type = Node::Type::call;
        n.extra = static_cast<Id>(calls_.size());
        Call made;
        made.how = how;
        made.callable = callable;
        made.args = args;
        made.kwargs = kwargs;
        calls_.push_back(std::move(made));
        nodes_[callable].uses++;
        nodes_[args].uses++;
        if (kwargs != no_node) nodes_[kwargs].uses++;
        stack_.push_back(add(std::move(n)));
    }

    // ---- conversion ----
    // `exclusive`: no value on the way from the root is used twice, so this node's value can
    // be moved out (else it is copied: it is built again for its other uses).
    Object convert(Id id, int depth, bool exclusive = true) {
        Node& n = nodes_[id];
        if (++built_ > limits_.max_items) too_many();
        switch (n.type) {
            case Node::Type::value: {
                if (n.value.is_string() || n.value.is_bytes()) {
                    bytes_ += n.value.is_string() ? n.value.as_string().size()
                                                  : n.value.as_bytes().size();
                    if (bytes_ > std::max(limits_.max_input, data_.size()) * 4) {
                        fail(
                            "result larger than four times the input (a shared value used too "
                            "often)");
                    }
                }
                if (exclusive && n.uses <= 1) return std::move(n.value);
                return n.value;
            }
            case Node::Type::global: {
                scratch_.clear();
                Encoder e(scratch_, false);
                e.start_unframed();
                const Global& g = globals_[n.extra];
                e.save_global(g.module, g.name);
                e.finish_unframed();
                return Object::opaque(g.module, g.name, scratch_);
            }
            default:
                break;
        }
        if (depth >= limits_.max_depth) {
            fail("nested deeper than " + std::to_string(limits_.max_depth) +
                 " levels (Limits::max_depth)");
        }
        if (n.busy) fail("a value that contains itself (recursive structures are not supported)");
        n.busy = true;
        Object result = convert_container(id, depth, exclusive && n.uses <= 1);
        nodes_[id].busy = false;
        return result;
    }

    Object::List convert_items(const std::vector<Id>& ids, int depth, bool exclusive) {
        Object::List list;
        list.reserve(ids.size());
        for (Id item : ids)
            list.push_back(convert(item, depth + 1, exclusive));
        return list;
    }

    Object convert_container(Id id, int depth, bool exclusive) {
        // Copy what is needed: converting children may grow nodes_ (never: no add()).
        Node& n = nodes_[id];
        switch (n.type) {
            case Node::Type::list:
                return Object(convert_items(items_view(n), depth, exclusive));
            case Node::Type::tuple:
                return Object::tuple(convert_items(items_view(n), depth, exclusive));
            case Node::Type::set:
            case Node::Type::frozenset: {
                Object::List items = convert_items(items_view(n), depth, exclusive);
                for (const auto& item : items) {
                    if (!item.hashable())
                        fail(std::string("unhashable set item of type ") + item.type_name());
                }
                return n.type == Node::Type::set ? Object::set(std::move(items))
                                                 : Object::frozenset(std::move(items));
            }
            case Node::Type::dict: {
                Object::Dict dict;
                const auto& items = items_view(n);
                dict.reserve(items.size() / 2);
                for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
                    Object key = convert(items[i], depth + 1, exclusive);
                    if (!key.hashable())
                        fail(std::string("unhashable dict key of type ") + key.type_name());
                    dict.set(std::move(key), convert(items[i + 1], depth + 1, exclusive));
                }
                return Object(std::move(dict));
            }
            case Node::Type::call:
                return convert_call(id, depth, exclusive);
            default:
                fail("internal: unexpected node");
        }
    }

    // Latin-1 text (UTF-8 in the Object) to its bytes, as str.encode('latin-1').
    std::string latin1(const std::string& text) {
        std::string out;
        for (std::size_t i = 0; i < text.size(); ++i) {
            auto c = static_cast<unsigned char>(text[i]);
            if (c < 0x80) {
                out += static_cast<char>(c);
            } else if ((c == 0xc2 || c == 0xc3) && i + 1 < text.size()) {
                out += static_cast<char>(((c & 0x03) << 6) |
                                         (static_cast<unsigned char>(text[++i]) & 0x3f));
            } else {
                fail("text that is not Latin-1 given as bytes");
            }
        }
        return out;
    }

    Object convert_call(Id id, int depth, bool exclusive) {
        const Node& n = nodes_[id];
        const Call& m = calls_[n.extra];
        const Global& g = globals_[nodes_[m.callable].extra];
        std::string module = g.module, name = g.name;
        Op how = m.how;
        bool plain = m.listitems.empty() && m.dictitems.empty() && m.kwargs == no_node;
        Object::List args =
            convert_items(items_view(nodes_[m.args]), depth, exclusive && nodes_[m.args].uses <= 1);
        Object state;
        if (m.has_state) state = convert(m.state, depth + 1, exclusive);
        bool has_state = m.has_state;

        if (plain && how == REDUCE && module == "builtins") {
            // slice(start, stop, step), as a manager's list proxy sends l[1:3] (py-manager).
            if (name == "slice" && !has_state && args.size() == 3) {
                return Object::instance(module, name, std::move(args));
            }
            if ((name == "set" || name == "frozenset") && !has_state && args.size() <= 1) {
                Object::List items;
                if (args.size() == 1) {
                    if (args[0].is_list() || args[0].is_tuple()) {
                        items = args[0].as_sequence();
                    } else if (args[0].is_set()) {
                        for (const auto& item : args[0].as_set())
                            items.push_back(item.first);
                    } else {
                        fail(name + "() of a " + args[0].type_name());
                    }
                }
                for (const auto& item : items) {
                    if (!item.hashable())
                        fail(std::string("unhashable set item of type ") + item.type_name());
                }
                return name == "set" ? Object::set(std::move(items))
                                     : Object::frozenset(std::move(items));
            }
            if ((name == "bytearray" || name == "bytes") && !has_state) {
                std::string data;
                if (args.size() == 1 && args[0].is_bytes()) {
                    data = args[0].as_bytes();
                } else if (args.size() == 2 && args[0].is_string() && args[1].is_string() &&
                           (args[1].as_string() == "latin-1" || args[1].as_string() == "latin1")) {
                    data = latin1(args[0].as_string());
                } else if (!args.empty()) {
                    fail(name + "() with unexpected arguments");
                }
                return name == "bytes" ? Object::bytes(data) : Object::bytearray(data);
            }
        }
        if (plain && how == REDUCE && module == "_codecs" && name == "encode" && !has_state &&
            args.size() == 2 && args[0].is_string() && args[1].is_string() &&
            (args[1].as_string() == "latin1" || args[1].as_string() == "latin-1")) {
            return Object::bytes(latin1(args[0].as_string()));  // protocol 2's bytes
        }
        if (plain && how == REDUCE && known_exception(module, name) &&
            (!has_state || state.is_dict() || state.is_none())) {
            return Object::instance(module, name, std::move(args), std::move(state));
        }
        if (plain && how == NEWOBJ && is_token_class(module, name) && args.empty() && has_state &&
            state.is_tuple() && state.as_tuple().size() == 3 && state.as_tuple()[0].is_string() &&
            state.as_tuple()[2].is_string() &&
            (state.as_tuple()[1].is_string() || state.as_tuple()[1].is_tuple())) {
            return Object::instance(module, name, {}, std::move(state));
        }
        // A manager proxy passed as an argument (m.Condition(lock)): RebuildProxy(cls, token,
        // serializer, kwds), kept as an instance so that a manager server finds its token.
        if (plain && how == REDUCE && module == "multiprocessing.managers" &&
            name == "RebuildProxy" && !has_state && args.size() == 4 && is_token(args[1])) {
            return Object::instance(module, name, std::move(args));
        }
        // Anything else: kept as its pickle, re-encoded alone.
        Object kwargs;
        if (m.kwargs != no_node) kwargs = convert(m.kwargs, depth + 1, exclusive);
        Object::List listitems = convert_items(m.listitems, depth, exclusive);
        std::vector<std::pair<Object, Object>> dictitems;
        for (std::size_t i = 0; i + 1 < m.dictitems.size(); i += 2) {
            Object key = convert(m.dictitems[i], depth + 1, exclusive);
            dictitems.emplace_back(std::move(key),
                                   convert(m.dictitems[i + 1], depth + 1, exclusive));
        }
        std::string pickle;
        Encoder e(pickle, false);
        e.start_unframed();
        e.save_call(module, name, how, Object::tuple(std::move(args)),
                    m.kwargs != no_node ? &kwargs : nullptr, listitems, dictitems, state,
                    has_state);
        e.finish_unframed();
        return Object::opaque(module, name, std::move(pickle));
    }

    const Limits& limits_;
    Scratch work_;
    std::vector<Node>& nodes_ = work_.nodes;
    std::vector<Global>& globals_ = work_.globals;
    std::vector<Call>& calls_ = work_.calls;
    std::vector<std::vector<Id>>& lists_ = work_.lists;  // items of containers
    std::size_t lists_used_ = 0;                         // the first ones are this call's
    std::vector<Id>& dense_memo_ = work_.dense_memo;     // memo indices 0, 1, 2... (as Python)
    std::vector<Id>& stack_ = work_.stack;
    std::vector<std::size_t>& marks_ = work_.marks;
    std::unordered_map<std::uint64_t, Id> memo_;
    std::size_t items_ = 0;  // references made by DUP and memo gets
    std::size_t built_ = 0;  // Objects made by the conversion
    std::size_t bytes_ = 0;  // bytes of str/bytes in the result
    std::string scratch_;
};

}  // namespace

Object detail::loads_full(std::string_view data, const Limits& limits) {
    Decoder decoder(data, limits);
    return decoder.run();
}

Object loads(std::string_view data, const Limits& limits) {
    // Plain data (what a manager's calls and replies mostly carry) in one pass; anything else
    // by the full decoder.
    if (auto value = detail::loads_plain(data, limits)) return std::move(*value);
    return detail::loads_full(data, limits);
}

void dump_to(std::string& out, const Object& value) {
    std::size_t had = out.size();
    try {
        Encoder encoder(out, true);
        encoder.dump(value);
    } catch (...) {
        out.resize(had);  // nothing of a value that does not encode
        throw;
    }
}

std::string dumps(const Object& value) {
    std::string out;
    dump_to(out, value);
    return out;
}

Object make_token(const Token& token) {
    if (!token.address.is_string() && !token.address.is_tuple())
        throw ValueError("Token: the address must be a str path or a (host, port) tuple");
    return Object::instance("multiprocessing.managers", "Token", {},
                            Object::tuple({token.type_id, token.address, token.id}));
}

bool is_token(const Object& value) {
    if (!value.is_instance()) return false;
    const auto& i = value.as_instance();
    return is_token_class(i.module, i.name) && i.state.is_tuple() &&
           i.state.as_tuple().size() == 3 && i.state.as_tuple()[0].is_string() &&
           i.state.as_tuple()[2].is_string();
}

Token as_token(const Object& value) {
    if (!is_token(value))
        throw ValueError("expected a multiprocessing.managers.Token, got " + value.repr());
    const auto& t = value.as_instance().state.as_tuple();
    return Token{t[0].as_string(), t[1], t[2].as_string()};
}

Object make_exception(std::string_view name, Object::List args) {
    std::string module = name == "Empty" ? "_queue" : name == "Full" ? "queue" : "builtins";
    if (!known_exception(module, name))
        throw ValueError("pickle: " + std::string(name) + " is not an exception ipckit knows");
    return Object::instance(module, std::string(name), std::move(args));
}

std::string exception_name(const Object& value) {
    if (!value.is_instance()) return "";
    const auto& i = value.as_instance();
    return known_exception(i.module, i.name) ? i.name : "";
}

}  // namespace ipckit::pickle
