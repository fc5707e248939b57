// Python literals as ast.literal_eval reads them (see python_literal.hpp).
#include "python_literal.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>

namespace ipckit::cli {
namespace {

bool is_digit(char c, int base) {
    if (c >= '0' && c <= '9') return c - '0' < base;
    if (base != 16) return false;
    return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
int digit_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
}
bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           static_cast<unsigned char>(c) >= 0x80;
}

void append_utf8(std::string& out, std::uint32_t c) {
    if (c < 0x80) {
        out += static_cast<char>(c);
    } else if (c < 0x800) {
        out += static_cast<char>(0xc0 | (c >> 6));
        out += static_cast<char>(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
        out += static_cast<char>(0xe0 | (c >> 12));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (c & 0x3f));
    } else {
        out += static_cast<char>(0xf0 | (c >> 18));
        out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
        out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
        out += static_cast<char>(0x80 | (c & 0x3f));
    }
}

bool valid_utf8(std::string_view s) {
    for (std::size_t i = 0; i < s.size();) {
        auto b0 = static_cast<unsigned char>(s[i]);
        std::size_t n;
        std::uint32_t c, min;
        if (b0 < 0x80) {
            ++i;
            continue;
        } else if ((b0 & 0xe0) == 0xc0) {
            n = 2, c = b0 & 0x1fu, min = 0x80;
        } else if ((b0 & 0xf0) == 0xe0) {
            n = 3, c = b0 & 0x0fu, min = 0x800;
        } else if ((b0 & 0xf8) == 0xf0) {
            n = 4, c = b0 & 0x07u, min = 0x10000;
        } else {
            return false;
        }
        if (i + n > s.size()) return false;
        for (std::size_t k = 1; k < n; ++k) {
            auto b = static_cast<unsigned char>(s[i + k]);
            if ((b & 0xc0) != 0x80) return false;
            c = (c << 6) | (b & 0x3fu);
        }
        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return false;
        i += n;
    }
    return true;
}

// A number as the tokenizer reads it, before a sign applies.
struct Number {
    bool is_int = true;
    std::uint64_t magnitude = 0;  // is_int
    bool too_large = false;       // is_int, above 2**64 - 1
    double real = 0;              // !is_int
};

class Parser {
  public:
    explicit Parser(std::string_view text) : s_(text) {}

    Object parse() {
        check_indent();    // after the leading spaces and tabs that literal_eval strips
        skip(Where::top);  // eval mode takes leading blank lines and comments
        if (at_end()) fail_text("nothing to read (an empty string is '')");
        Object value = expression(false);
        skip(Where::top);
        if (!at_end()) unexpected("after the value");
        return value;
    }

  private:
    std::string_view s_;
    std::size_t i_ = 0;

    bool at_end() const { return i_ >= s_.size(); }
    char peek(std::size_t ahead = 0) const {
        return i_ + ahead < s_.size() ? s_[i_ + ahead] : '\0';
    }
    [[noreturn]] static void fail(const std::string& why) { throw LiteralError(why, false); }
    [[noreturn]] static void fail_text(const std::string& why) { throw LiteralError(why, true); }
    [[noreturn]] void unexpected(const std::string& where) const {
        char c = peek();
        std::string shown = c == '\n'   ? "a newline"
                            : c == '\r' ? "a carriage return"
                                        : "'" + std::string(1, c) + "'";
        if (c == ',' || c == '[' || c == '{') {
            fail(
                "tuples, lists, dicts and sets are not taken, only int, float, str, bytes, "
                "None, True and False");
        }
        if (c == '+' || c == '-' || c == '*' || c == '/' || c == '%' || c == '|' || c == '&') {
            fail("an expression is not a literal (" + shown + " " + where + ")");
        }
        fail_text("unexpected " + shown + " " + where);
    }

    // Where blanks are: within a line (between a sign and its number, between adjacent
    // strings), inside parentheses (newlines and comments too), or around the whole value
    // (newlines and comments, but a new line must not be indented, as in Python's eval).
    enum class Where { line, parens, top };

    void skip(Where where) {
        while (!at_end()) {
            char c = peek();
            if (c == ' ' || c == '\t' || c == '\f') {
                ++i_;
            } else if (where != Where::line && c == '#') {
                while (!at_end() && peek() != '\n' && peek() != '\r')
                    ++i_;
            } else if (where != Where::line && (c == '\n' || c == '\r')) {
                ++i_;
                if (where == Where::top) check_indent();
            } else {
                break;
            }
        }
    }

    // At the start of a line outside parentheses: Python reads its indentation, and an
    // indented line that holds anything but a comment is an IndentationError. A form feed
    // sets the column back to 0.
    void check_indent() const {
        bool indented = false;
        std::size_t j = i_;
        for (; j < s_.size() && (s_[j] == ' ' || s_[j] == '\t' || s_[j] == '\f'); ++j)
            indented = s_[j] != '\f';
        if (!indented) return;
        if (j < s_.size() && (s_[j] == '\n' || s_[j] == '\r' || s_[j] == '#')) return;
        fail("unexpected indent (a line that starts with a blank)");
    }

    Object expression(bool in_parens) {
        char c = peek();
        if (c == '(') {
            ++i_;
            skip(Where::parens);
            if (peek() == ')') fail("() is an empty tuple; tuples are not taken");
            Object value = expression(true);
            skip(Where::parens);
            if (peek() != ')') {
                if (at_end()) fail("'(' was never closed");
                unexpected("inside parentheses");
            }
            ++i_;
            return value;
        }
        if (c == '+' || c == '-') {
            ++i_;
            skip(in_parens ? Where::parens : Where::line);
            return signed_number(c == '-', operand());
        }
        if (is_digit(c, 10) || (c == '.' && is_digit(peek(1), 10))) {
            return signed_number(false, number());
        }
        if (c == '\'' || c == '"') return strings(in_parens, "");
        if (is_name_char(c)) {
            std::size_t start = i_;
            while (!at_end() && is_name_char(peek()))
                ++i_;
            std::string_view word = s_.substr(start, i_ - start);
            if (peek() == '\'' || peek() == '"') return strings(in_parens, word);
            if (word == "None") return Object();
            if (word == "True") return Object(true);
            if (word == "False") return Object(false);
            fail_text("'" + std::string(word) + "' is a name, not a literal");
        }
        if (at_end()) fail_text("a value is missing");
        unexpected("where a value should be");
    }

    // What a sign applies to: a number, perhaps in parentheses (not another sign).
    Number operand() {
        if (peek() == '(') {
            ++i_;
            skip(Where::parens);
            Number n = operand();
            skip(Where::parens);
            if (peek() != ')') {
                if (at_end()) fail("'(' was never closed");
                unexpected("inside parentheses");
            }
            ++i_;
            return n;
        }
        if (is_digit(peek(), 10) || (peek() == '.' && is_digit(peek(1), 10))) return number();
        fail("a sign applies to a number only");
    }

    static Object signed_number(bool negative, const Number& n) {
        if (!n.is_int) return Object(negative ? -n.real : n.real);
        constexpr auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        if (n.too_large || n.magnitude > max + (negative ? 1 : 0)) {
            fail(
                "the integer is outside the 64-bit range (-9223372036854775808 to "
                "9223372036854775807) that ipckit stores");
        }
        if (negative) return Object(static_cast<std::int64_t>(0 - n.magnitude));
        return Object(static_cast<std::int64_t>(n.magnitude));
    }

    // digit (['_'] digit)*, appended to `digits` without the underscores.
    bool digit_part(std::string& digits, int base) {
        if (!is_digit(peek(), base)) return false;
        while (true) {
            digits += peek();
            ++i_;
            if (is_digit(peek(), base)) continue;
            if (peek() == '_' && is_digit(peek(1), base)) {
                ++i_;
                continue;
            }
            return true;
        }
    }

    void end_of_number(const char* what) {
        if (is_name_char(peek()) || peek() == '.')
            fail(std::string("invalid ") + what + " literal");
    }

    Number number() {
        Number n;
        std::string digits;
        char p = static_cast<char>(peek(1) | 0x20);
        if (peek() == '0' && (p == 'x' || p == 'o' || p == 'b')) {
            int base = p == 'x' ? 16 : p == 'o' ? 8 : 2;
            const char* what = p == 'x' ? "hexadecimal" : p == 'o' ? "octal" : "binary";
            i_ += 2;
            if (peek() == '_') ++i_;
            if (!digit_part(digits, base)) fail(std::string("invalid ") + what + " literal");
            end_of_number(what);
            for (char d : digits) {
                auto v = static_cast<std::uint64_t>(digit_value(d));
                if (n.magnitude > (std::numeric_limits<std::uint64_t>::max() - v) /
                                      static_cast<std::uint64_t>(base)) {
                    n.too_large = true;
                    break;
                }
                n.magnitude = n.magnitude * static_cast<std::uint64_t>(base) + v;
            }
            return n;
        }
        std::string text;
        bool has_int = digit_part(text, 10);
        bool is_float = false;
        if (peek() == '.') {
            ++i_;
            text += '.';
            is_float = true;
            if (!digit_part(text, 10) && !has_int) fail("invalid decimal literal");
        }
        if (peek() == 'e' || peek() == 'E') {
            ++i_;
            text += 'e';
            if (peek() == '+' || peek() == '-') {
                text += peek();
                ++i_;
            }
            if (!digit_part(text, 10)) fail("invalid decimal literal");
            is_float = true;
        }
        if (peek() == 'j' || peek() == 'J') fail("complex numbers are not taken");
        end_of_number("decimal");
        if (is_float) {
            n.is_int = false;
            errno = 0;  // out of range: strtod gives inf or 0, as Python does
            n.real = std::strtod(text.c_str(), nullptr);
            return n;
        }
        if (text.size() > 1 && text[0] == '0' && text.find_first_not_of('0') != std::string::npos) {
            fail("leading zeros in a decimal integer are not permitted (0o17 is octal)");
        }
        for (char d : text) {
            auto v = static_cast<std::uint64_t>(d - '0');
            if (n.magnitude > (std::numeric_limits<std::uint64_t>::max() - v) / 10) {
                n.too_large = true;
                break;
            }
            n.magnitude = n.magnitude * 10 + v;
        }
        return n;
    }

    // One or more adjacent string literals, the first prefixed by `prefix`.
    Object strings(bool in_parens, std::string_view prefix) {
        std::string value;
        bool bytes = read_string(prefix, value);
        while (true) {
            std::size_t before = i_;
            skip(in_parens ? Where::parens : Where::line);
            std::size_t start = i_;
            while (!at_end() && is_name_char(peek()) && i_ - start < 2)
                ++i_;
            std::string_view next_prefix = s_.substr(start, i_ - start);
            if (peek() != '\'' && peek() != '"') {
                i_ = before;
                break;
            }
            std::string more;
            if (read_string(next_prefix, more) != bytes) fail("cannot mix bytes and str literals");
            value += more;
        }
        if (bytes) return Object::bytes(value);
        if (!valid_utf8(value)) fail("the string is not valid UTF-8");
        return Object(std::move(value));
    }

    // One literal at the quote; returns true for bytes.
    bool read_string(std::string_view prefix, std::string& out) {
        // Valid prefixes, in either case: r, u, b, br, rb, and f, fr, rf (refused below).
        bool raw = false, bytes = false, unicode = false, format = false;
        for (char c : prefix) {
            bool* flag = nullptr;
            switch (c | 0x20) {
                case 'r':
                    flag = &raw;
                    break;
                case 'b':
                    flag = &bytes;
                    break;
                case 'u':
                    flag = &unicode;
                    break;
                case 'f':
                    flag = &format;
                    break;
                default:
                    break;
            }
            if (flag == nullptr || *flag) fail_prefix(prefix);
            *flag = true;
        }
        if ((unicode && prefix.size() > 1) || (bytes && format)) fail_prefix(prefix);
        if (format) fail("f-strings are not literals");

        char quote = peek();
        bool triple = peek(1) == quote && peek(2) == quote;
        i_ += triple ? 3 : 1;
        while (true) {
            if (at_end()) {
                fail_text(triple ? "unterminated triple-quoted string" : "unterminated string");
            }
            char c = peek();
            if (c == quote && (!triple || (peek(1) == quote && peek(2) == quote))) {
                i_ += triple ? 3 : 1;
                return bytes;
            }
            if (!triple && (c == '\n' || c == '\r')) fail_text("unterminated string (a newline)");
            if (bytes && static_cast<unsigned char>(c) >= 0x80) {
                fail("bytes can only contain ASCII literal characters");
            }
            ++i_;
            if (c != '\\') {
                out += c;
            } else if (raw) {
                // The backslash stays; it still keeps a quote from ending the string.
                out += c;
                if (at_end()) fail("unterminated string");
                if (bytes && static_cast<unsigned char>(peek()) >= 0x80) {
                    fail("bytes can only contain ASCII literal characters");
                }
                out += peek();
                ++i_;
            } else {
                escape(out, bytes);
            }
        }
    }

    [[noreturn]] static void fail_prefix(std::string_view prefix) {
        fail("'" + std::string(prefix) + "' is not a string prefix (r, u, b, br or rb)");
    }

    std::uint32_t hex_digits(int count, const char* name) {
        std::uint32_t value = 0;
        for (int k = 0; k < count; ++k) {
            if (!is_digit(peek(), 16)) fail(std::string("truncated ") + name + " escape");
            value = value * 16 + static_cast<std::uint32_t>(digit_value(peek()));
            ++i_;
        }
        return value;
    }

    // After a backslash (not raw).
    void escape(std::string& out, bool bytes) {
        if (at_end()) fail("unterminated string");
        char c = peek();
        ++i_;
        auto code_point = [&](std::uint32_t v) {
            if (bytes) {
                out += static_cast<char>(v & 0xff);
            } else {
                append_utf8(out, v);
            }
        };
        switch (c) {
            case '\n':
                return;  // a continued line
            case '\r':
                if (peek() == '\n') ++i_;
                return;
            case '\\':
            case '\'':
            case '"':
                out += c;
                return;
            case 'a':
                out += '\a';
                return;
            case 'b':
                out += '\b';
                return;
            case 'f':
                out += '\f';
                return;
            case 'n':
                out += '\n';
                return;
            case 'r':
                out += '\r';
                return;
            case 't':
                out += '\t';
                return;
            case 'v':
                out += '\v';
                return;
            case 'x':
                code_point(hex_digits(2, "\\xXX"));
                return;
            default:
                break;
        }
        if (c >= '0' && c <= '7') {
            std::uint32_t value = static_cast<std::uint32_t>(c - '0');
            for (int k = 0; k < 2 && peek() >= '0' && peek() <= '7'; ++k, ++i_)
                value = value * 8 + static_cast<std::uint32_t>(peek() - '0');
            code_point(value);  // bytes keep the low 8 bits, as Python 3.11 does
            return;
        }
        if (!bytes && (c == 'u' || c == 'U')) {
            std::uint32_t value =
                c == 'u' ? hex_digits(4, "\\uXXXX") : hex_digits(8, "\\UXXXXXXXX");
            if (value > 0x10ffff) fail("illegal Unicode character in a \\U escape");
            if (value >= 0xd800 && value <= 0xdfff) {
                fail("a lone surrogate (\\ud800-\\udfff) cannot be stored as UTF-8 text");
            }
            append_utf8(out, value);
            return;
        }
        if (!bytes && c == 'N') {
            fail("\\N{name} escapes are not taken: write the character itself, or \\uXXXX");
        }
        // Any other escape keeps its backslash (Python warns, and does the same).
        out += '\\';
        --i_;
    }
};

}  // namespace

Object parse_python_literal(std::string_view text) {
    // ast.literal_eval strips leading spaces and tabs first.
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    return Parser(text).parse();
}

}  // namespace ipckit::cli
