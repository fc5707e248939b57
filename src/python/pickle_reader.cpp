// The pickle decoders' input: bounds-checked reads and the scalar opcodes.
#include "pickle_reader.hpp"

#include <charconv>
#include <cstring>

#include "ipckit/error.hpp"

namespace ipckit::pickle::detail {

void Reader::fail(const std::string& why) const {
    throw ValueError("pickle: " + why + " (at byte " + std::to_string(op_at_) + ")");
}

std::string_view Reader::take(std::uint64_t n) {
    if (n > remaining()) {
        fail("length " + std::to_string(n) + " runs past the end of the input (" +
             std::to_string(remaining()) + " bytes left)");
    }
    std::string_view s = data_.substr(p_, static_cast<std::size_t>(n));
    p_ += static_cast<std::size_t>(n);
    return s;
}

std::string_view Reader::line() {
    std::size_t end = data_.find('\n', p_);
    if (end == std::string_view::npos) fail("truncated: a text argument without its newline");
    std::string_view s = data_.substr(p_, end - p_);
    p_ = end + 1;
    return s;
}

Object Reader::parse_int_text(std::string_view text) {
    if (!text.empty() && text.back() == 'L') text.remove_suffix(1);
    if (!text.empty() && text[0] == '+') text.remove_prefix(1);
    try {
        return Object::integer(text);
    } catch (const ValueError&) {
        fail("malformed int literal");
    }
}

bool Reader::scalar(unsigned char code, Object& out) {
    switch (code) {
        case NONE:
            out = Object();
            return true;
        case NEWTRUE:
            out = Object(true);
            return true;
        case NEWFALSE:
            out = Object(false);
            return true;
        case INT: {
            std::string_view t = line();
            out = t == "01" ? Object(true) : t == "00" ? Object(false) : parse_int_text(t);
            return true;
        }
        case LONG:
            out = parse_int_text(line());
            return true;
        case BININT:
            out = Object(static_cast<std::int32_t>(static_cast<std::uint32_t>(uint_le(4))));
            return true;
        case BININT1:
            out = Object(static_cast<std::int64_t>(uint_le(1)));
            return true;
        case BININT2:
            out = Object(static_cast<std::int64_t>(uint_le(2)));
            return true;
        case LONG1:
        case LONG4: {
            std::uint64_t n = code == LONG1 ? uint_le(1) : uint_le(4);
            if (code == LONG4 && (n & 0x80000000u)) fail("LONG4 with a negative length");
            std::string_view bytes = take(n);
            try {
                out = Object::integer_from_bytes(bytes);
                return true;
            } catch (const ValueError& e) {
                fail(e.what());
            }
        }
        case FLOAT: {
            std::string_view t = line();
            double d = 0;
            auto r = std::from_chars(t.data(), t.data() + t.size(), d);
            if (r.ec != std::errc() || r.ptr != t.data() + t.size())
                fail("malformed float literal");
            out = Object(d);
            return true;
        }
        case BINFLOAT: {
            std::uint64_t bits = 0;
            if (remaining() < 8) fail("truncated argument");
            for (int i = 0; i < 8; ++i)
                bits = (bits << 8) | static_cast<unsigned char>(data_[p_ + i]);
            p_ += 8;
            double d;
            std::memcpy(&d, &bits, sizeof d);
            out = Object(d);
            return true;
        }
        case SHORT_BINUNICODE:
            out = Object(take(uint_le(1)));
            return true;
        case BINUNICODE:
            out = Object(take(uint_le(4)));
            return true;
        case BINUNICODE8:
            out = Object(take(uint_le(8)));
            return true;
        case SHORT_BINSTRING:
        case BINSTRING: {
            // Python 2's str: Python 3 reads it as ASCII text by default.
            std::uint64_t n = code == SHORT_BINSTRING ? uint_le(1) : uint_le(4);
            if (code == BINSTRING && (n & 0x80000000u)) fail("BINSTRING with a negative length");
            std::string_view s = take(n);
            for (char c : s) {
                if (static_cast<unsigned char>(c) > 0x7f) fail("a Python 2 str that is not ASCII");
            }
            out = Object(s);
            return true;
        }
        case SHORT_BINBYTES:
            out = Object::bytes(take(uint_le(1)));
            return true;
        case BINBYTES:
            out = Object::bytes(take(uint_le(4)));
            return true;
        case BINBYTES8:
            out = Object::bytes(take(uint_le(8)));
            return true;
        case BYTEARRAY8:
            out = Object::bytearray(take(uint_le(8)));
            return true;
        default:
            return false;
    }
}

}  // namespace ipckit::pickle::detail
