// Python literals on the command line (`ipckit manager dict --set K=V`).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

#include "ipckit/object.hpp"

namespace ipckit::cli {

// The text is not a literal the command line takes; what() says why, in a few words.
struct LiteralError : std::runtime_error {
    LiteralError(const std::string& why, bool text)
        : std::runtime_error(why), looks_like_text(text) {}
    // Probably meant as a string (a bare word, a quote gone missing): say how to quote.
    bool looks_like_text;
};

// Reads `text` as Python's ast.literal_eval reads a string, for the kinds an Object holds:
//   int      42, -7, 1_000, 0x10, 0o17, 0b101 (Python's literal syntax; 64-bit range only)
//   float    2.5, -1e3, .5, 1., 1_0.5, 1e999 (inf); Python spells no nan or inf literal
//   str      'text' or "text", with prefixes r/u and triple quotes; the escapes \n \t \\ \'
//            \" \xhh \ooo \uXXXX \UXXXXXXXX...; adjacent strings join ('a' 'b' is 'ab')
//   bytes    b'...' (ASCII and escapes)
//   None, True, False
// with a sign before a number, parentheses, spaces and a trailing # comment as Python
// allows them. Anything else throws LiteralError: a bare word (strings need quotes), an
// expression, a tuple, list, dict or set, a complex number, an int outside 64 bits, a
// \N{name} escape or a lone surrogate (neither fits UTF-8 text).
Object parse_python_literal(std::string_view text);

}  // namespace ipckit::cli
