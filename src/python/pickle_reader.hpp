// The pickle decoders' common parts: the opcodes, and the input with its cursor and the
// decoding of scalar opcodes (both decoders in pickle.cpp and pickle_plain.cpp read through it).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "ipckit/object.hpp"
#include "ipckit/pickle.hpp"

namespace ipckit::pickle::detail {

enum Op : unsigned char {
    MARK = '(',
    STOP = '.',
    POP = '0',
    POP_MARK = '1',
    DUP = '2',
    FLOAT = 'F',
    INT = 'I',
    BININT = 'J',
    BININT1 = 'K',
    LONG = 'L',
    BININT2 = 'M',
    NONE = 'N',
    PERSID = 'P',
    BINPERSID = 'Q',
    REDUCE = 'R',
    STRING = 'S',
    BINSTRING = 'T',
    SHORT_BINSTRING = 'U',
    UNICODE = 'V',
    BINUNICODE = 'X',
    APPEND = 'a',
    BUILD = 'b',
    GLOBAL = 'c',
    DICT = 'd',
    EMPTY_DICT = '}',
    APPENDS = 'e',
    GET = 'g',
    BINGET = 'h',
    INST = 'i',
    LONG_BINGET = 'j',
    LIST = 'l',
    EMPTY_LIST = ']',
    OBJ = 'o',
    PUT = 'p',
    BINPUT = 'q',
    LONG_BINPUT = 'r',
    SETITEM = 's',
    TUPLE = 't',
    EMPTY_TUPLE = ')',
    SETITEMS = 'u',
    BINFLOAT = 'G',
    PROTO = 0x80,
    NEWOBJ = 0x81,
    EXT1 = 0x82,
    EXT2 = 0x83,
    EXT4 = 0x84,
    TUPLE1 = 0x85,
    TUPLE2 = 0x86,
    TUPLE3 = 0x87,
    NEWTRUE = 0x88,
    NEWFALSE = 0x89,
    LONG1 = 0x8a,
    LONG4 = 0x8b,
    BINBYTES = 'B',
    SHORT_BINBYTES = 'C',
    SHORT_BINUNICODE = 0x8c,
    BINUNICODE8 = 0x8d,
    BINBYTES8 = 0x8e,
    EMPTY_SET = 0x8f,
    ADDITEMS = 0x90,
    FROZENSET = 0x91,
    NEWOBJ_EX = 0x92,
    STACK_GLOBAL = 0x93,
    MEMOIZE = 0x94,
    FRAME = 0x95,
    BYTEARRAY8 = 0x96,
    NEXT_BUFFER = 0x97,
    READONLY_BUFFER = 0x98,
};

// The input and the cursor. Every malformed input throws ValueError naming the offset of the
// opcode being read.
class Reader {
  public:
    explicit Reader(std::string_view data) : data_(data) {}

  protected:
    [[noreturn]] void fail(const std::string& why) const;
    std::size_t remaining() const { return data_.size() - p_; }
    unsigned char byte() {
        if (p_ >= data_.size()) fail("truncated: no STOP at the end");
        return static_cast<unsigned char>(data_[p_++]);
    }
    std::uint64_t uint_le(std::size_t n) {
        if (remaining() < n) fail("truncated argument");
        std::uint64_t v = 0;
        for (std::size_t i = n; i-- > 0;)
            v = (v << 8) | static_cast<unsigned char>(data_[p_ + i]);
        p_ += n;
        return v;
    }
    std::string_view take(std::uint64_t n);
    std::string_view line();
    // The value of a scalar opcode (None, bool, int, float, str, bytes, bytearray), its
    // argument read from the input, into `out`; false when `code` is not one of them.
    bool scalar(unsigned char code, Object& out);

    std::string_view data_;
    std::size_t p_ = 0;
    std::size_t op_at_ = 0;  // where the current opcode starts

  private:
    Object parse_int_text(std::string_view text);
};

// The one-pass decoder of plain data (pickle_plain.cpp). nullopt when it declines the input:
// anything but plain data, a value shared by memo, a malformed input or a limit reached; the
// full decoder then decodes it from the start and decides.
std::optional<Object> loads_plain(std::string_view data, const Limits& limits);
// The full decoder (pickle.cpp), which takes everything loads takes.
Object loads_full(std::string_view data, const Limits& limits);

}  // namespace ipckit::pickle::detail
