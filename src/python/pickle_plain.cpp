// The one-pass pickle decoder for plain data: None, bool, int, float, str, bytes, bytearray,
// tuple, list, dict, set and frozenset, built as the pickle fills them.
//
// Pickle memoizes a container before it fills it, so a memo reference to a container may see
// it half built, or inside itself. This decoder therefore takes a memo reference to a scalar
// only, and makes the scalar again from the opcode that made it (a scalar is written once and
// referred to by memo; decoding it again costs what a copy would). Everything else is
// declined: a global or a call, a memo reference to a container, a malformed input, a limit
// reached. loads() then runs the full decoder (pickle.cpp) from the start, which builds the
// same value or throws. Declining is always safe; accepting must give exactly what the full
// decoder gives, which tests/test_pickle.cpp and the fuzz_pickle target check.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "ipckit/error.hpp"
#include "pickle_reader.hpp"

namespace ipckit::pickle::detail {
namespace {

constexpr std::uint32_t no_origin = 0xffffffffu;

struct Slot {
    Object value;
    // A scalar: where the opcode that made it starts (a memo reference makes it again from
    // there). A dict or set being filled: its items in Scratch::items. Else no_origin.
    std::uint32_t origin = no_origin;
    std::uint16_t height = 0;  // containers nested in it, itself included (a scalar: 0)
    // dict or set: being filled, its items (keys and values) kept aside until it leaves the
    // stack, when it is made at its final size at once (growing a dict item by item costs
    // more than the rest of the decoding). Else none.
    Object::Kind filling = Object::Kind::none;
};

// The decoder's working memory, kept per thread between calls (emptied, capacity kept), so
// that decoding many pickles does not ask malloc for (and page in) the same memory each time.
struct Scratch {
    std::vector<Slot> stack;
    std::vector<std::size_t> marks;
    std::vector<std::uint32_t> memo;  // origins, by memo index
    std::vector<Object::List> items;  // of the dicts and sets being filled
    std::vector<std::uint32_t> free_items;
};
thread_local Scratch scratch_cache;
constexpr std::size_t max_kept = std::size_t{1} << 18;  // slots, memo entries, items

// Hashable, as Object::hashable() says, without a call for the usual keys. A dict or set
// being filled is not (its value is None until it is made).
bool hashable(const Slot& slot) {
    if (slot.filling != Object::Kind::none) return false;
    return slot.value.kind() <= Object::Kind::bytes || slot.value.hashable();
}

class PlainDecoder : Reader {
  public:
    PlainDecoder(std::string_view data, const Limits& limits)
        : Reader(data),
          limits_(limits),
          max_bytes_(std::max(limits.max_input, data.size()) * 4),
          max_depth_(static_cast<std::size_t>(std::max(limits.max_depth, 0))) {
        std::swap(work_, scratch_cache);
    }
    ~PlainDecoder() {
        stack_.clear();
        marks_.clear();
        memo_.clear();
        free_.clear();
        std::size_t kept = 0;
        for (auto& list : items_) {
            list.clear();
            kept += list.capacity();
        }
        if (kept > max_kept || items_.size() > 1024) std::vector<Object::List>().swap(items_);
        for (std::size_t i = items_.size(); i-- > 0;)
            free_.push_back(static_cast<std::uint32_t>(i));  // all free, the first on top
        if (stack_.capacity() <= max_kept && memo_.capacity() <= max_kept)
            std::swap(work_, scratch_cache);
    }
    PlainDecoder(const PlainDecoder&) = delete;
    PlainDecoder& operator=(const PlainDecoder&) = delete;

    std::optional<Object> run() {
        // Origins are 32-bit, and heights 16-bit: a larger input is the full decoder's.
        if (data_.empty() || data_.size() > limits_.max_input || data_.size() >= no_origin ||
            max_depth_ >= 0xffff)
            return std::nullopt;
        try {
            for (;;) {
                op_at_ = p_;
                unsigned char code = byte();
                if (code == STOP) break;
                if (!step(code)) return std::nullopt;
            }
            if (p_ != data_.size() || !marks_.empty() || stack_.size() != 1) return std::nullopt;
            return finish(stack_.back());
        } catch (const ValueError&) {
            return std::nullopt;  // the full decoder says what is wrong
        }
    }

  private:
    std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }

    // A value made: within max_items, and its bytes (bounded above by the input it was read
    // from) within four times the input, as the full decoder counts them.
    bool count(std::size_t from) {
        bytes_ += p_ - from;
        return ++values_ <= limits_.max_items && bytes_ <= max_bytes_;
    }
    bool push_scalar(unsigned char code) {
        Slot& slot = stack_.emplace_back();
        if (!scalar(code, slot.value)) return false;
        slot.origin = static_cast<std::uint32_t>(op_at_);
        return count(op_at_);
    }
    bool push_container(Object value, std::size_t height,
                        Object::Kind filling = Object::Kind::none) {
        if (!count(p_) || height > max_depth_) return false;
        Slot& slot = stack_.emplace_back();
        slot.value = std::move(value);
        slot.height = static_cast<std::uint16_t>(height);
        slot.filling = filling;
        if (filling != Object::Kind::none) slot.origin = acquire();
        return true;
    }

    // The value of a slot that leaves the stack.
    Object finish(Slot& slot) {
        if (slot.filling == Object::Kind::none) return std::move(slot.value);
        Object::List& items = items_[slot.origin];
        Object value;
        if (slot.filling == Object::Kind::set) {
            value = Object::set(std::move(items));
        } else {
            Object::Dict dict;
            dict.reserve(items.size() / 2);
            for (std::size_t i = 0; i < items.size(); i += 2)
                dict.set(std::move(items[i]), std::move(items[i + 1]));
            value = Object(std::move(dict));
        }
        release(slot);
        return value;
    }
    std::uint32_t acquire() {
        if (!free_.empty()) {
            std::uint32_t i = free_.back();
            free_.pop_back();
            return i;
        }
        items_.emplace_back();
        return static_cast<std::uint32_t>(items_.size() - 1);
    }
    void release(Slot& slot) {
        if (slot.filling == Object::Kind::none || slot.origin == no_origin) return;
        items_[slot.origin].clear();
        free_.push_back(slot.origin);
        slot.origin = no_origin;
    }

    // The tallest of the slots from `start` to the top.
    std::size_t height_from(std::size_t start) const {
        std::size_t height = 0;
        for (std::size_t i = start; i < stack_.size(); ++i)
            height = std::max<std::size_t>(height, stack_[i].height);
        return height;
    }
    // APPEND(S) (kind list), SETITEM(S) (dict), ADDITEMS (set): the slots from `start` to the
    // top go into the container below `start`.
    bool fill(std::size_t start, Object::Kind kind) {
        if (start == 0 || start - 1 < floor()) return false;
        Slot& target = stack_[start - 1];
        bool list = kind == Object::Kind::list;
        if (list ? !target.value.is_list() : target.filling != kind) return false;
        std::size_t n = stack_.size() - start;
        if (kind == Object::Kind::dict && n % 2) return false;
        // A key (every item of a set, every other of a dict) must hash, as the full decoder checks.
        std::size_t step = kind == Object::Kind::dict ? 2 : 1;
        for (std::size_t i = start; !list && i < stack_.size(); i += step) {
            if (!hashable(stack_[i])) return false;
        }
        std::size_t height = height_from(start) + 1;
        if (height > max_depth_) return false;
        target.height = static_cast<std::uint16_t>(std::max<std::size_t>(target.height, height));
        auto& items = list ? target.value.as_list() : items_[target.origin];
        for (std::size_t i = start; i < stack_.size(); ++i)
            items.push_back(finish(stack_[i]));
        stack_.resize(start);
        return true;
    }
    // TUPLE(1-3), LIST, DICT and FROZENSET: a container of the slots from `start` to the top.
    bool build(std::size_t start, unsigned char code) {
        std::size_t n = stack_.size() - start;
        if (code == DICT && n % 2) return false;
        // Keys (every other item of a dict, every item of a frozenset) must hash.
        std::size_t step = code == DICT ? 2 : 1;
        for (std::size_t i = start; (code == DICT || code == FROZENSET) && i < stack_.size();
             i += step) {
            if (!hashable(stack_[i])) return false;
        }
        std::size_t height = height_from(start) + 1;
        Object::List items;
        items.reserve(n);
        for (std::size_t i = start; i < stack_.size(); ++i)
            items.push_back(finish(stack_[i]));
        stack_.resize(start);
        switch (code) {
            case LIST:
                return push_container(Object(std::move(items)), height);
            case DICT: {
                Object::Dict dict;
                dict.reserve(n / 2);
                for (std::size_t i = 0; i < n; i += 2)
                    dict.set(std::move(items[i]), std::move(items[i + 1]));
                return push_container(Object(std::move(dict)), height);
            }
            case FROZENSET:
                return push_container(Object::frozenset(std::move(items)), height);
            default:
                return push_container(Object::tuple(std::move(items)), height);
        }
    }
    std::optional<std::size_t> pop_mark() {
        if (marks_.empty()) return std::nullopt;
        std::size_t start = marks_.back();
        marks_.pop_back();
        return start;
    }

    bool memo_put(std::uint64_t index) {
        if (stack_.size() <= floor()) return false;
        const Slot& top = stack_.back();
        std::uint32_t origin = top.height == 0 ? top.origin : no_origin;
        if (index < memo_.size()) {
            memo_[index] = origin;
            return true;
        }
        if (index != memo_.size() || memo_.size() >= limits_.max_memo) return false;
        memo_.push_back(origin);
        return true;
    }
    bool memo_get(std::uint64_t index) {
        if (index >= memo_.size() || memo_[index] == no_origin) return false;
        std::size_t resume = p_;
        op_at_ = p_ = memo_[index];
        bool made = push_scalar(byte());  // made again from its opcode
        p_ = resume;
        return made;
    }

    bool step(unsigned char code) {
        switch (code) {
            case PROTO:
                return byte() <= 5;
            case FRAME:
                return uint_le(8) <= remaining();
            case MARK:
                if (marks_.size() >= limits_.max_items) return false;
                marks_.push_back(stack_.size());
                return true;
            case POP:
                if (stack_.size() <= floor()) return false;
                release(stack_.back());
                stack_.pop_back();
                return true;
            case EMPTY_LIST:
                return push_container(Object(Object::List()), 1);
            case EMPTY_DICT:
                return push_container(Object(), 1, Object::Kind::dict);
            case EMPTY_SET:
                return push_container(Object(), 1, Object::Kind::set);
            case EMPTY_TUPLE:
                return push_container(Object::tuple(Object::List()), 1);
            case TUPLE1:
            case TUPLE2:
            case TUPLE3: {
                std::size_t n = code - TUPLE1 + 1u;
                return stack_.size() >= floor() + n && build(stack_.size() - n, TUPLE);
            }
            case TUPLE:
            case LIST:
            case DICT:
            case FROZENSET: {
                auto start = pop_mark();
                return start && build(*start, code);
            }
            case APPEND:
                return stack_.size() >= floor() + 2 && fill(stack_.size() - 1, Object::Kind::list);
            case SETITEM:
                return stack_.size() >= floor() + 3 && fill(stack_.size() - 2, Object::Kind::dict);
            case APPENDS:
            case SETITEMS:
            case ADDITEMS: {
                auto start = pop_mark();
                return start && fill(*start, code == APPENDS    ? Object::Kind::list
                                             : code == SETITEMS ? Object::Kind::dict
                                                                : Object::Kind::set);
            }
            case MEMOIZE:
                return memo_put(memo_.size());
            case BINPUT:
                return memo_put(uint_le(1));
            case LONG_BINPUT:
                return memo_put(uint_le(4));
            case BINGET:
                return memo_get(uint_le(1));
            case LONG_BINGET:
                return memo_get(uint_le(4));
            default:
                return push_scalar(code);  // false for anything else: globals, calls, ...
        }
    }

    const Limits& limits_;
    std::size_t max_bytes_;
    std::size_t max_depth_;
    Scratch work_;
    std::vector<Slot>& stack_ = work_.stack;
    std::vector<std::size_t>& marks_ = work_.marks;
    std::vector<std::uint32_t>& memo_ = work_.memo;
    std::vector<Object::List>& items_ = work_.items;
    std::vector<std::uint32_t>& free_ = work_.free_items;
    std::size_t values_ = 0;  // values made, memo references included
    std::size_t bytes_ = 0;   // input bytes they were read from
};

}  // namespace

std::optional<Object> loads_plain(std::string_view data, const Limits& limits) {
    return PlainDecoder(data, limits).run();
}

}  // namespace ipckit::pickle::detail
