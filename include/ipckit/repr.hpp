// Python's repr for the values ipckit shares, so that C++ programs print what the
// handout's Python programs print.
//
//   ipckit::repr(3.1415927)   // "3.1415927"  (shortest form that reads back the same)
//   ipckit::repr(1e16)        // "1e+16"
//   ipckit::repr(2.0)         // "2.0"
//   ipckit::repr(true)        // "True"
//   ipckit::repr('a')         // "b'a'"        (a char is typecode 'c': a byte)
//   ipckit::repr(std::vector<int>{0, -1})   // "[0, -1]"
#pragma once

#include <concepts>
#include <cstdint>
#include <ostream>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ipckit {

// Python's repr(float(x)): shortest round-trip digits, "1e+16" / "1e-05" outside
// [1e-4, 1e16), "inf", "-inf", "nan", and always a "." or an exponent.
std::string repr(double x);
inline std::string repr(float x) {
    return repr(static_cast<double>(x));
}
inline std::string repr(long double x) {
    return repr(static_cast<double>(x));
}
// Python's repr(bytes): b'abc', b"it's", b'\x00\n'.
std::string repr_bytes(std::string_view bytes);

namespace detail {
template <class T>
concept Streamable = requires(std::ostream& os, const T& x) { os << x; };
}  // namespace detail

// Writes Python's repr of one value: bool as True/False, char as a byte string,
// integers in decimal, floating point as Python floats; other types through their own
// operator<<, or as <object of N bytes> if they have none.
template <class T>
void write_repr(std::ostream& os, const T& x) {
    if constexpr (std::is_same_v<T, bool>) {
        os << (x ? "True" : "False");
    } else if constexpr (std::is_same_v<T, char>) {
        os << repr_bytes(std::string_view(&x, 1));
    } else if constexpr (std::is_floating_point_v<T>) {
        os << repr(x);
    } else if constexpr (std::is_integral_v<T>) {
        if constexpr (std::is_signed_v<T>) {
            os << static_cast<long long>(x);
        } else {
            os << static_cast<unsigned long long>(x);
        }
    } else if constexpr (std::is_enum_v<T>) {
        write_repr(os, static_cast<std::underlying_type_t<T>>(x));
    } else if constexpr (detail::Streamable<T>) {
        os << x;
    } else {
        os << "<object of " << sizeof(T) << " bytes>";
    }
}

// Python's repr of a list (or of bytes, for char): [1, 2, 3], [0.5, 1e+16], b'abc'.
template <class T>
void write_repr(std::ostream& os, std::span<const T> values) {
    if constexpr (std::is_same_v<T, char>) {
        os << repr_bytes(std::string_view(values.data(), values.size()));
    } else {
        os << '[';
        const char* separator = "";
        for (const T& x : values) {
            os << separator;
            write_repr(os, x);
            separator = ", ";
        }
        os << ']';
    }
}

template <class T>
std::string repr(const T& x) {
    std::ostringstream os;
    write_repr(os, x);
    return os.str();
}
template <class T>
std::string repr(const std::vector<T>& values) {
    std::ostringstream os;
    write_repr(os, std::span<const T>(values));
    return os.str();
}

}  // namespace ipckit
