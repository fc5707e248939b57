// The manager's Array, as Python's m.Array(typecode, sequence), an array.array: a fixed
// number of items of one C type, by index. Typecodes and the checks of items (TypeError,
// OverflowError, with Python's messages) are the array module's; 'f' items are rounded to
// float, as the array stores them.
#include <cstdint>
#include <limits>
#include <string>

#include "types.hpp"

namespace ipckit::detail {
namespace {

constexpr std::string_view typecodes = "bBuhHiIlLqQfd";

[[noreturn]] void type_error(const std::string& message) {
    fail(wire::value_error, "TypeError: " + message);
}
[[noreturn]] void overflow(const std::string& message) {
    fail(wire::value_error, "OverflowError: " + message);
}

// The range of the C type of an integer typecode, and the names Python's errors use.
void check_range(char typecode, std::int64_t v) {
    auto bounded = [&](std::int64_t low, std::int64_t high, const char* name) {
        if (v < low) overflow(std::string(name) + " is less than minimum");
        if (v > high) overflow(std::string(name) + " is greater than maximum");
    };
    constexpr std::int64_t int_min = std::numeric_limits<std::int32_t>::min();
    constexpr std::int64_t int_max = std::numeric_limits<std::int32_t>::max();
    switch (typecode) {
        case 'b':  // converted through a short first, as CPython does
            bounded(-32768, 32767, "signed short integer");
            bounded(-128, 127, "signed char");
            break;
        case 'B':
            bounded(0, 255, "unsigned byte integer");
            break;
        case 'h':
            bounded(-32768, 32767, "signed short integer");
            break;
        case 'H':
            bounded(int_min, int_max, "signed integer");
            bounded(0, 65535, "unsigned short");
            break;
        case 'i':
            bounded(int_min, int_max, "signed integer");
            break;
        case 'I':
            if (v < 0) overflow("can't convert negative value to unsigned int");
            bounded(0, std::numeric_limits<std::uint32_t>::max(), "unsigned int");
            break;
        case 'L':
            if (v < 0) overflow("can't convert negative value to unsigned int");
            break;
        case 'Q':
            if (v < 0) overflow("can't convert negative int to unsigned");
            break;
        default:  // l, q: every int64
            break;
    }
}

std::size_t code_points(const std::string& s) {
    std::size_t n = 0;
    for (unsigned char c : s)
        n += (c & 0xc0) != 0x80;
    return n;
}

class ArrayReferent : public Referent {
  public:
    ArrayReferent(char typecode, Object items) : typecode_(typecode), items_(std::move(items)) {}
    const char* type_name() const override { return wire::type_array; }
    std::string repr() const override {
        std::string out = "array('";
        out += typecode_;
        out += '\'';
        const auto& items = items_.as_list();
        if (!items.empty()) {
            out += ", ";
            if (typecode_ == 'u') {
                std::string text;
                for (const auto& item : items)
                    text += item.as_string();
                out += Object(text).repr();
            } else {
                out += items_.repr();
            }
        }
        return out + ")";
    }
    std::size_t size() const override { return items_.as_list().size(); }
    const Object& value() const override { return items_; }

    Object& at(const Object& index, const char* message) {
        if (!index.is_int() && !index.is_bool()) {
            type_error(std::string("array indices must be integers, not ") + index.type_name());
        }
        auto& items = items_.as_list();
        std::int64_t i = index.as_int();
        auto n = static_cast<std::int64_t>(items.size());
        if (i < 0) i += n;
        if (i < 0 || i >= n) fail(wire::index_error, message);
        return items[static_cast<std::size_t>(i)];
    }

    char typecode_;
    Object items_;
};

ArrayReferent& array_of(Referent& target) {
    return expect<ArrayReferent>(target, "Array");
}

Object get(Call& call, Referent& target) {
    return array_of(target).at(arg(call.args, 0), "array index out of range");
}

Object set(Call& call, Referent& target) {
    ArrayReferent& a = array_of(target);
    Object& slot = a.at(arg(call.args, 0), "array assignment index out of range");
    slot = array_item(a.typecode_, arg(call.args, 1));
    return Object();
}

std::unique_ptr<Referent> make(Object::List& params) {
    if (params.size() < 2) fail(wire::value_error, "Array(typecode, sequence): two arguments");
    char typecode = array_typecode(params[0]);
    Object items = std::move(params[1]);
    if (typecode == 'u' && items.is_string()) {  // array('u', 'ab'): one item per character
        Object::List chars;
        const std::string& s = items.as_string();
        for (std::size_t i = 0; i < s.size();) {
            std::size_t j = i + 1;
            while (j < s.size() && (static_cast<unsigned char>(s[j]) & 0xc0) == 0x80)
                ++j;
            chars.emplace_back(s.substr(i, j - i));
            i = j;
        }
        items = Object(std::move(chars));
    }
    if (!items.is_list()) {
        type_error(std::string("cannot use a ") + items.type_name() +
                   " to initialize an array with typecode '" + typecode + "'");
    }
    for (auto& item : items.as_list())
        item = array_item(typecode, item);
    return std::make_unique<ArrayReferent>(typecode, std::move(items));
}

}  // namespace

char array_typecode(const Object& typecode) {
    if (!typecode.is_string() || typecode.as_string().size() != 1 ||
        typecodes.find(typecode.as_string()[0]) == std::string_view::npos) {
        if (!typecode.is_string() || code_points(typecode.as_string()) != 1) {
            type_error("array() argument 1 must be a unicode character, not " +
                       std::string(typecode.is_string() ? "a str of another length"
                                                        : typecode.type_name()));
        }
        fail(wire::value_error, "bad typecode (must be b, B, u, h, H, i, I, l, L, q, Q, f or d)");
    }
    return typecode.as_string()[0];
}

Object array_item(char typecode, const Object& item) {
    switch (typecode) {
        case 'u':
            if (!item.is_string() || code_points(item.as_string()) != 1) {
                type_error("array item must be unicode character");
            }
            return item;
        case 'f':
        case 'd': {
            if (!item.is_int() && !item.is_bool() && !item.is_double()) {
                type_error(std::string("must be real number, not ") + item.type_name());
            }
            double d = item.as_double();
            return typecode == 'f' ? Object(static_cast<double>(static_cast<float>(d))) : Object(d);
        }
        default:
            if (!item.is_int() && !item.is_bool()) {
                type_error(std::string("'") + item.type_name() +
                           "' object cannot be interpreted as an integer");
            }
            check_range(typecode, item.as_int());
            return Object(item.as_int());
    }
}

void register_array() {
    register_type(wire::type_array, make);
    register_op(wire::array_get, get);
    register_op(wire::array_set, set);
}

}  // namespace ipckit::detail
