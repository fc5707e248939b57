// ipckit::pickle against the real Python: values pickled by Python 3.11, 3.12 and 3.13 decode
// to what Python prints; ipckit's pickles load back in Python as the same values (and, for
// values without shared objects, are the bytes ForkingPickler writes); objects of unknown
// classes stay opaque and round-trip; hostile pickles are refused with ValueError, without
// executing anything, within bounded memory.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/object.hpp"
#include "ipckit/pickle.hpp"
#include "manager/wire.hpp"
#include "python/pickle_reader.hpp"  // the two decoders, compared
#include "support.hpp"

using ipckit::Object;
using ipckit::ValueError;
namespace pickle = ipckit::pickle;
using ipckit::test::run;
using namespace std::string_literals;

namespace {

std::string interpreter(const std::string& version) {
    std::string path = "/root/.pyenv/versions/" + version + "/bin/python3";
    if (::access(path.c_str(), X_OK) == 0) return path;
    return "";
}

std::string python311() {
    std::string p = interpreter("3.11.7");
    return p.empty() ? "python3" : p;
}

std::string unhex(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
        out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    return out;
}

std::string tohex(std::string_view data) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (unsigned char c : data) {
        out += digits[c >> 4];
        out += digits[c & 15];
    }
    return out;
}

std::vector<std::string> split(const std::string& text, char sep) {
    std::vector<std::string> parts;
    std::string part;
    std::istringstream in(text);
    while (std::getline(in, part, sep))
        parts.push_back(part);
    return parts;
}

std::string script() {
    return ipckit::test::python_script("pickle_values.py");
}

// Python's pickles of every value decode to what Python's repr prints, in every protocol;
// ipckit's own pickle of each loads back in the same Python as the same value.
void round_trip_with(const std::string& python) {
    auto produced = run({python, script(), "produce"});
    ASSERT_EQ(produced.exit_code, 0) << produced.err;
    auto lines = split(produced.out, '\n');
    ASSERT_GT(lines.size(), 70u);
    std::string ours;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        auto fields = split(lines[i], '\t');
        ASSERT_EQ(fields.size(), 5u);
        std::string expected = unhex(fields[4]);
        for (std::size_t p = 0; p < 4; ++p) {
            Object value;
            ASSERT_NO_THROW(value = pickle::loads(unhex(fields[p])))
                << "value " << i << " protocol column " << p;
            if (expected.size() < 2000) {
                EXPECT_EQ(value.repr(), expected) << "value " << i << " protocol column " << p;
            } else {
                EXPECT_EQ(value.repr().size(), expected.size()) << "value " << i;
                EXPECT_EQ(value.repr(), expected) << "value " << i;
            }
        }
        ours +=
            std::to_string(i) + " " + tohex(pickle::dumps(pickle::loads(unhex(fields[0])))) + "\n";
    }
    auto verified = run({python, script(), "verify"}, ours);
    ASSERT_EQ(verified.exit_code, 0) << verified.err;
    auto results = split(verified.out, '\n');
    ASSERT_EQ(results.size(), lines.size());
    std::size_t same = 0;
    for (const auto& r : results) {
        EXPECT_NE(r.find(" ok "), std::string::npos) << r << "\n" << verified.err;
        if (r.find(" same") != std::string::npos) ++same;
        // Values with no object shared inside are written byte for byte as Python does.
        EXPECT_EQ(r.find(" diff"), std::string::npos) << r;
    }
    EXPECT_GT(same, results.size() - 3);
}

}  // namespace

TEST(Pickle, RoundTripsWithPython311) {
    round_trip_with(python311());
}

// loads takes plain data in one pass (detail::loads_plain) and gives the rest to the full
// decoder. Every pickle Python writes of plain data is taken in one pass, and whatever the
// one-pass decoder takes, it decodes as the full decoder does.
TEST(Pickle, PlainDataTakesTheOnePassDecoderWhichAgreesWithTheFullOne) {
    auto produced = run({python311(), script(), "produce"});
    auto kinds = run({python311(), script(), "plain"});
    ASSERT_EQ(produced.exit_code, 0) << produced.err;
    ASSERT_EQ(kinds.exit_code, 0) << kinds.err;
    auto lines = split(produced.out, '\n');
    auto plain_words = split(kinds.out, '\n');
    ASSERT_EQ(plain_words.size(), lines.size());
    std::size_t plain = 0, taken = 0;
    for (std::size_t i = 0; i < lines.size(); ++i) {
        auto fields = split(lines[i], '\t');
        auto words = split(plain_words[i], ' ');
        ASSERT_EQ(words.size(), 4u);
        for (std::size_t p = 0; p < 4; ++p) {
            std::string data = unhex(fields[p]);
            auto one_pass = pickle::detail::loads_plain(data, {});
            Object full = pickle::detail::loads_full(data, {});
            if (words[p] == "plain") {
                ++plain;
                EXPECT_TRUE(one_pass) << "value " << i << " protocol column " << p;
            }
            if (!one_pass) continue;
            ++taken;
            EXPECT_EQ(one_pass->repr(), full.repr()) << "value " << i << " protocol column " << p;
        }
    }
    EXPECT_GT(plain, 120u);  // most values, in protocols 3 to 5
    EXPECT_GE(taken, plain);
}

// What the one-pass decoder declines, the full decoder decides: shared and recursive
// containers (a memo reference to a container), globals, and malformed or over-limit input.
TEST(Pickle, TheOnePassDecoderDeclinesWhatItCannotTakeExactly) {
    auto declined = [](const std::string& data, const pickle::Limits& limits = {}) {
        return !pickle::detail::loads_plain(data, limits).has_value();
    };
    std::string proto = "\x80\x04";
    // [x, x] with x = [] shared: a memo reference to a container.
    EXPECT_TRUE(declined(proto + "]\x94(]\x94h\x01"
                                 "e."s));
    EXPECT_EQ(pickle::loads(proto + "]\x94(]\x94h\x01"
                                    "e."s)
                  .repr(),
              "[[], []]");
    // A list that contains itself.
    EXPECT_TRUE(declined(proto + "]\x94h\x00"
                                 "a."s));
    // A memo reference to a str is taken: the str is made again.
    auto shared = pickle::detail::loads_plain(proto +
                                                  "(\x8c\x01"
                                                  "a\x94h\x00"
                                                  "l."s,
                                              {});
    ASSERT_TRUE(shared);
    EXPECT_EQ(shared->repr(), "['a', 'a']");
    // A global.
    EXPECT_TRUE(declined(proto + "\x8c\x08builtins\x8c\x03set\x93."s));
    // Malformed: the full decoder names the problem.
    EXPECT_TRUE(declined(proto + "a."));
    EXPECT_TRUE(declined(proto + "}(]Nu."));
    // A set or dict as a key, while it is still being filled (found by fuzz_pickle).
    EXPECT_TRUE(declined(proto + "}(\x8fNu."));
    EXPECT_TRUE(declined(proto + "}(}Nu."));
    EXPECT_TRUE(declined(proto + "(\x8f\x91."));
    EXPECT_THROW(pickle::loads(proto + "}(\x8fNu."), ValueError);
    EXPECT_TRUE(declined(proto + "NN."));
    // Limits: depth, values, memo and the bytes made by memo references.
    pickle::Limits limits;
    limits.max_depth = 3;
    EXPECT_FALSE(declined(proto + "]]]aa.", limits));
    EXPECT_TRUE(declined(proto + "]]]]aaa.", limits));
    limits = {};
    limits.max_items = 3;
    EXPECT_FALSE(declined(proto + "NN\x86.", limits));
    EXPECT_TRUE(declined(proto + "NNN\x87.", limits));
    limits = {};
    limits.max_memo = 1;
    EXPECT_FALSE(declined(proto + "N\x94N\x86.", limits));
    EXPECT_TRUE(declined(proto + "N\x94N\x94\x86.", limits));
    // A 16-byte str and `refs` memo references to it, in a list: the result may hold four
    // times the limit on input (here 500 bytes) in str.
    auto references = [&](int refs) {
        std::string data = proto + "(\x8c\x10" + std::string(16, 'x') + "\x94";
        for (int i = 0; i < refs; ++i)
            data += "h\x00"s;
        return data + "l.";
    };
    limits = {};
    limits.max_input = 500;
    EXPECT_FALSE(declined(references(100), limits));  // 1,616 bytes of str
    EXPECT_TRUE(declined(references(200), limits));   // 3,216: the full decoder refuses it
    EXPECT_THROW(pickle::loads(references(200), limits), ValueError);
}

TEST(Pickle, RoundTripsWithPython312) {
    std::string p = interpreter("3.12.1");
    if (p.empty()) GTEST_SKIP() << "no Python 3.12 under /root/.pyenv";
    round_trip_with(p);
}

TEST(Pickle, RoundTripsWithPython313) {
    std::string p = interpreter("3.13.0");
    if (p.empty()) GTEST_SKIP() << "no Python 3.13 under /root/.pyenv";
    round_trip_with(p);
}

TEST(Pickle, SimpleValuesAreForkingPicklersBytes) {
    // Literal bytes as Python 3.11's ForkingPickler.dumps writes them.
    EXPECT_EQ(pickle::dumps(Object::tuple({1})),
              std::string("\x80\x04\x95\x05\0\0\0\0\0\0\0K\x01\x85\x94.", 16));
    EXPECT_EQ(pickle::dumps(Object::list({1, "a"})),
              std::string("\x80\x04\x95\x0b\0\0\0\0\0\0\0]\x94(K\x01\x8c\x01\x61\x94\x65.", 22));
    EXPECT_EQ(pickle::dumps(Object()), "\x80\x04N.");
    EXPECT_EQ(pickle::dumps(Object::tuple({})), "\x80\x04).");
}

TEST(Pickle, UnknownClassesStayOpaqueAndRoundTrip) {
    auto produced = run({python311(), script(), "opaque"});
    ASSERT_EQ(produced.exit_code, 0) << produced.err;
    auto lines = split(produced.out, '\n');
    ASSERT_EQ(lines.size(), 6u);
    std::vector<Object> values;
    values.reserve(lines.size());
    for (const auto& line : lines)
        values.push_back(pickle::loads(unhex(line)));
    // [Point(1, 2), Point(1, 2)]: two opaque values, equal byte for byte.
    ASSERT_TRUE(values[0].is_list());
    const auto& points = values[0].as_list();
    ASSERT_EQ(points.size(), 2u);
    EXPECT_TRUE(points[0].is_opaque());
    EXPECT_EQ(points[0].repr(), "<pickled __main__.Point>");
    EXPECT_EQ(points[0], points[1]);
    EXPECT_EQ(points[0].as_opaque().module, "__main__");
    EXPECT_EQ(points[0].as_opaque().name, "Point");
    // {'p': p, 'q': p}: the shared object is copied into both places.
    EXPECT_EQ(values[1].repr(), "{'p': <pickled __main__.Point>, 'q': <pickled __main__.Point>}");
    EXPECT_EQ(values[2].repr(), "<pickled __main__.Pair>");
    EXPECT_EQ(values[3].repr(), "<pickled collections.OrderedDict>");
    EXPECT_EQ(values[4].repr(), "<pickled __main__.Point>");  // the class itself
    EXPECT_EQ(values[5].repr(), "<pickled collections.Counter>");
    // Opaque values are hashable (by their bytes) and usable as dict keys and set items.
    Object::Dict d;
    d.set(points[0], 1);
    EXPECT_EQ(d.at(points[1]), Object(1));

    std::string ours;
    for (std::size_t i = 0; i < values.size(); ++i)
        ours += std::to_string(i) + " " + tohex(pickle::dumps(values[i])) + "\n";
    auto verified = run({python311(), script(), "opaque-verify"}, ours);
    ASSERT_EQ(verified.exit_code, 0) << verified.err;
    for (const auto& r : split(verified.out, '\n'))
        EXPECT_NE(r.find(" ok"), std::string::npos) << r;
    EXPECT_EQ(split(verified.out, '\n').size(), values.size());
}

TEST(Pickle, TokensAndExceptions) {
    Object token = pickle::make_token({"dict", Object::tuple({"127.0.0.1", 5000}), "7f00"});
    EXPECT_EQ(token.repr(), "Token(typeid='dict', address=('127.0.0.1', 5000), id='7f00')");
    EXPECT_TRUE(pickle::is_token(token));
    auto back = pickle::as_token(pickle::loads(pickle::dumps(token)));
    EXPECT_EQ(back.type_id, "dict");
    EXPECT_EQ(back.address, Object::tuple({"127.0.0.1", 5000}));
    EXPECT_EQ(back.id, "7f00");
    EXPECT_THROW(pickle::as_token(Object(1)), ValueError);

    Object e = pickle::make_exception("KeyError", {"x"});
    EXPECT_EQ(e.repr(), "KeyError('x')");
    EXPECT_EQ(e.str(), "'x'");
    EXPECT_EQ(pickle::exception_name(e), "KeyError");
    EXPECT_EQ(pickle::make_exception("Empty", {}).as_instance().module, "_queue");
    EXPECT_EQ(pickle::make_exception("Full", {}).as_instance().module, "queue");
    EXPECT_EQ(pickle::make_exception("ValueError", {"bad", 2}).str(), "('bad', 2)");
    EXPECT_EQ(pickle::make_exception("ValueError", {"bad"}).str(), "bad");
    EXPECT_THROW(pickle::make_exception("SystemExitNow", {}), ValueError);
    EXPECT_EQ(pickle::loads(pickle::dumps(e)), e);
}

TEST(Object, PythonKinds) {
    EXPECT_EQ(Object::tuple({1}).repr(), "(1,)");
    EXPECT_EQ(Object::tuple({}).repr(), "()");
    EXPECT_EQ(Object::tuple({1, 2}).repr(), "(1, 2)");
    EXPECT_EQ(Object::set({}).repr(), "set()");
    EXPECT_EQ(Object::set({1, 1, 2}).repr(), "{1, 2}");
    EXPECT_EQ(Object::frozenset({"a"}).repr(), "frozenset({'a'})");
    EXPECT_EQ(Object::frozenset({}).repr(), "frozenset()");
    EXPECT_EQ(Object::bytearray("a\0b").repr(), "bytearray(b'a')");
    EXPECT_EQ(Object::bytearray(std::string_view("a\0b", 3)).repr(), "bytearray(b'a\\x00b')");
    EXPECT_EQ(Object::bytearray("ab"), Object::bytes("ab"));  // as in Python
    EXPECT_EQ(Object::set({1, 2}), Object::frozenset({2, 1}));
    EXPECT_NE(Object::tuple({1, 2}), Object::list({1, 2}));
    EXPECT_TRUE(Object::tuple({1, "a"}).hashable());
    EXPECT_FALSE(Object::tuple({1, Object::list({})}).hashable());
    EXPECT_FALSE(Object::tuple({}).is_scalar());
    Object::Dict d;
    d.set(Object::tuple({1, 2}), "pair");
    d.set(Object::frozenset({1}), "set");
    EXPECT_EQ(d.at(Object::tuple({1, 2})), Object("pair"));
    EXPECT_EQ(d.at(Object::frozenset({1})), Object("set"));
    EXPECT_THROW(d.set(Object::set({1}), 0), ValueError);
    EXPECT_THROW(d.set(Object::tuple({Object::list({})}), 0), ValueError);
    EXPECT_TRUE(Object::less(Object::tuple({1}), Object::tuple({2})));
    EXPECT_TRUE(Object::less(Object::tuple({1}), Object::tuple({1, 0})));
}

TEST(Object, BigIntegers) {
    Object big = Object::integer("123456789012345678901234567890");
    EXPECT_TRUE(big.is_big_integer());
    EXPECT_EQ(big.repr(), "123456789012345678901234567890");
    EXPECT_EQ(big.type_name(), std::string("int"));
    EXPECT_EQ(Object::integer("-123456789012345678901234567890").repr(),
              "-123456789012345678901234567890");
    EXPECT_TRUE(Object::integer("9223372036854775807").is_int());
    EXPECT_TRUE(Object::integer("-9223372036854775808").is_int());
    EXPECT_TRUE(Object::integer("9223372036854775808").is_big_integer());
    EXPECT_TRUE(Object::integer("-9223372036854775809").is_big_integer());
    EXPECT_EQ(Object::integer("-9223372036854775809").repr(), "-9223372036854775809");
    EXPECT_EQ(Object::integer("18446744073709551616").repr(), "18446744073709551616");
    EXPECT_EQ(Object::integer("0"), Object(0));
    EXPECT_EQ(Object::integer("-0"), Object(0));
    EXPECT_EQ(Object::integer("000123"), Object(123));
    EXPECT_THROW(Object::integer(""), ValueError);
    EXPECT_THROW(Object::integer("12a"), ValueError);
    EXPECT_THROW(Object::integer(std::string(10001, '9')), ValueError);
    // Ordering and equality across kinds.
    EXPECT_TRUE(Object::less(Object(INT64_MAX), Object::integer("9223372036854775808")));
    EXPECT_TRUE(Object::less(Object::integer("-9223372036854775809"), Object(INT64_MIN)));
    EXPECT_TRUE(Object::less(Object::integer("-100000000000000000000"),
                             Object::integer("-99999999999999999999")));
    EXPECT_TRUE(Object::less(Object::integer("99999999999999999999"),
                             Object::integer("100000000000000000000")));
    EXPECT_TRUE(Object::less(Object::integer("-99999999999999999999"),
                             Object::integer("99999999999999999999")));
    EXPECT_EQ(Object::integer("100000000000000000000"), Object::integer("100000000000000000000"));
    EXPECT_EQ(Object::integer("100000000000000000000"), Object(1e20));
    EXPECT_NE(Object::integer("100000000000000000000"), Object(INT64_MAX));
    // Beyond a long double's range, against a float: compares as infinite, never throws.
    Object huge = Object::integer(std::string(6000, '9'));
    EXPECT_TRUE(Object::less(Object(1e308), huge));
    EXPECT_TRUE(Object::less(Object::integer("-" + std::string(6000, '9')), Object(-1e308)));
    EXPECT_NE(huge, Object(1e308));
    // Two's complement bytes, as pickle carries them.
    EXPECT_EQ(Object(0).integer_bytes(), "");
    EXPECT_EQ(Object(-1).integer_bytes(), "\xff");
    EXPECT_EQ(Object(255).integer_bytes(), std::string("\xff\x00", 2));
    EXPECT_EQ(Object(-256).integer_bytes(), std::string("\x00\xff", 2));
    EXPECT_EQ(Object::integer_from_bytes(std::string("\x00\xff", 2)), Object(-256));
    for (const char* text :
         {"170141183460469231731687303715884105727", "-170141183460469231731687303715884105728",
          "340282366920938463463374607431768211456", "-1267650600228229401496703205376"}) {
        Object v = Object::integer(text);
        EXPECT_EQ(v.repr(), text);
        EXPECT_EQ(Object::integer_from_bytes(v.integer_bytes()), v);
        EXPECT_EQ(pickle::loads(pickle::dumps(v)), v) << text;
    }
    Object::Dict d;
    d.set(big, 1);
    EXPECT_EQ(d.at(Object::integer("123456789012345678901234567890")), Object(1));
}

TEST(Object, PythonKindsCrossTheManagerWire) {
    namespace wire = ipckit::detail::wire;
    Object value = Object::list(
        {Object::tuple({1, Object::tuple({})}), Object::set({1, "a"}), Object::frozenset({2}),
         Object::bytearray("ba"), Object::integer("-123456789012345678901234567890"),
         pickle::make_exception("KeyError", {"x"}),
         pickle::make_token({"dict", Object::tuple({"127.0.0.1", 5000}), "7f00"}),
         Object::opaque("__main__", "Point", "\x80\x04N."),
         Object(Object::Dict{{Object::tuple({1, 2}), "tuple key"}})});
    std::string frame;
    wire::encode(frame, value);
    Object back = wire::decode(frame);
    EXPECT_EQ(back, value);
    EXPECT_EQ(back.repr(), value.repr());
    EXPECT_TRUE(back.as_list()[0].is_tuple());
    EXPECT_EQ(back.as_list()[2].kind(), Object::Kind::frozenset);
    EXPECT_TRUE(back.as_list()[3].is_bytearray());
    EXPECT_EQ(back.as_list()[7].as_opaque().pickle, "\x80\x04N.");
    // Nesting counts tuples as it counts lists.
    Object deep = Object::tuple({});
    for (int i = 0; i < wire::max_depth + 5; ++i)
        deep = Object::tuple({deep});
    std::string out;
    EXPECT_THROW(wire::encode(out, deep), ValueError);
    // A malformed ext payload is refused.
    EXPECT_THROW(wire::decode("\xc7\x01\x15\x00"s), ValueError);  // instance of 1 byte
    EXPECT_THROW(wire::decode("\xd4\x7f\x00"s), ValueError);      // unknown ext type
    EXPECT_THROW(wire::decode("\xd5\x11\x91\x90"s), ValueError);  // a set holding a list
}

// ---- hostile input ----

namespace {

std::string proto4(const std::string& body) {
    return std::string("\x80\x04", 2) + body;
}

void expect_refused(const std::string& data, const std::string& words,
                    const pickle::Limits& limits = {}) {
    try {
        Object o = pickle::loads(data, limits);
        ADD_FAILURE() << "accepted: " << o.repr().substr(0, 200);
    } catch (const ValueError& e) {
        EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
}

}  // namespace

TEST(PickleAdversarial, EveryTruncationIsRefused) {
    Object value = Object::list({1, "two", Object::tuple({3.0, Object::bytes("four")}),
                                 Object::Dict{{"k", Object::set({5})}},
                                 Object::integer("123456789012345678901234567890"),
                                 pickle::make_exception("KeyError", {"x"})});
    std::string data = pickle::dumps(value);
    ASSERT_EQ(pickle::loads(data), value);
    for (std::size_t n = 0; n < data.size(); ++n)
        EXPECT_THROW(pickle::loads(std::string_view(data).substr(0, n)), ValueError) << n;
    EXPECT_THROW(pickle::loads(data + "N"), ValueError);  // bytes after STOP
}

TEST(PickleAdversarial, DeepNestingIsRefused) {
    const int n = 100000;
    expect_refused(proto4(std::string(n, ']') + std::string(n - 1, 'a') + "."), "nested deeper");
    expect_refused(proto4(")" + std::string(n, '\x85') + "."), "nested deeper");
    // Within the limit, it decodes.
    pickle::Limits limits;
    limits.max_depth = 50;
    EXPECT_NO_THROW(
        pickle::loads(proto4(std::string(50, ']') + std::string(49, 'a') + "."), limits));
    expect_refused(proto4(std::string(51, ']') + std::string(50, 'a') + "."), "nested deeper",
                   limits);
    // A million MARKs and no end.
    expect_refused(proto4(std::string(1000000, '(')), "truncated");
}

TEST(PickleAdversarial, HugeLengthsAreRefusedBeforeAllocating) {
    expect_refused(proto4("\x8d\xff\xff\xff\xff\xff\xff\xff\x7f"
                          "abc."),
                   "runs past the end");
    expect_refused(proto4("X\xff\xff\xff\xff"
                          "abc."),
                   "runs past the end");
    expect_refused(proto4("B\xff\xff\xff\x7f"
                          "abc."),
                   "runs past the end");
    expect_refused(proto4("\x8e\x00\x00\x00\x00\x00\x00\x00\x80."s), "runs past the end");
    expect_refused(proto4("\x96\x00\x00\x00\x00\x00\x00\x01\x00."s), "runs past the end");
    expect_refused(proto4("\x8b\xff\xff\xff\x7f."), "runs past the end");
    expect_refused(proto4("\x8b\xff\xff\xff\xff."), "negative length");
    expect_refused(proto4("\x95\xff\xff\xff\xff\xff\xff\xff\xffN."), "frame longer");
    // A big int beyond what ipckit keeps.
    expect_refused(proto4("\x8b\x00\x00\x01\x00"s + std::string(65536, '\x01') + "."), "int of");
    pickle::Limits small;
    small.max_input = 10;
    expect_refused(proto4("\x8c\x0a" + std::string(10, 'a') + "."), "exceeds the limit", small);
}

TEST(PickleAdversarial, MemoAbuseIsRefused) {
    expect_refused(proto4("h\x05."), "never stored");
    expect_refused(proto4("j\xff\xff\xff\xff."), "never stored");
    pickle::Limits limits;
    limits.max_memo = 100;
    std::string puts;
    for (int i = 0; i < 200; ++i)
        puts += std::string("Nr") + static_cast<char>(i) + "\x01\x00\x00"s + "0";
    expect_refused(proto4(puts + "N."), "memo larger", limits);
    // Billion laughs: each level a list of ten references to the level below.
    std::string laughs = "]\x94";  // memo 0: []
    for (int level = 1; level <= 30; ++level) {
        laughs += "](";
        for (int k = 0; k < 10; ++k)
            laughs += std::string("j") + static_cast<char>(level - 1) + std::string("\0\0\0", 3);
        laughs += "e\x94";  // memo level
    }
    expect_refused(proto4(laughs + "."), "values");
    // A list that contains itself.
    expect_refused(proto4("]\x94h\x00"s + "a."), "contains itself");
}

TEST(PickleAdversarial, CodeIsNeverRun) {
    char dir_template[] = "/tmp/ipckit_pickle_XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    std::string marker = std::string(dir_template) + "/ran";
    std::string command = "touch " + marker;
    auto sbu = [](const std::string& s) {
        return std::string("\x8c") + static_cast<char>(s.size()) + s;
    };
    std::vector<std::string> attacks = {
        // GLOBAL os.system, called by REDUCE (what pickle.dumps of os.system(...) makes).
        std::string("\x80\x02") + "cos\nsystem\n(X" +
            std::string(1, static_cast<char>(command.size())) + std::string("\0\0\0", 3) + command +
            "tR.",
        proto4(sbu("posix") + sbu("system") + "\x93" + sbu(command) + "\x85R."),
        proto4(sbu("subprocess") + sbu("Popen") + "\x93" + sbu(command) + "\x85R."),
        proto4(sbu("builtins") + sbu("eval") + "\x93" +
               sbu("__import__('os').system('" + command + "')") + "\x85R."),
        std::string("\x80\x02") + "c__builtin__\nexec\n" + sbu("print(1)") + "\x85R.",
        proto4(sbu("builtins") + sbu("getattr") + "\x93" + sbu("os") + sbu("system") + "\x86R."),
        proto4(sbu("importlib") + sbu("import_module") + "\x93" + sbu("os") + "\x85R."),
        proto4(sbu("os.path") + sbu("exists") + "\x93."),
    };
    for (const auto& attack : attacks)
        expect_refused(attack, "refusing the global");
    EXPECT_NE(::access(marker.c_str(), F_OK), 0) << "a pickle ran a command";
    ::rmdir(dir_template);
    // An unknown global is kept, not called: its REDUCE becomes an opaque value.
    Object kept =
        pickle::loads(proto4(sbu("mymodule") + sbu("make") + "\x93" + sbu("x") + "\x85R."));
    EXPECT_EQ(kept.repr(), "<pickled mymodule.make>");
}

TEST(PickleAdversarial, MalformedStructuresAreRefused) {
    expect_refused("", "empty");
    expect_refused(proto4("a."), "stack underflow");
    expect_refused(proto4("NN."), "2 values on the stack");
    expect_refused(proto4("."), "0 values");
    expect_refused(proto4("N\xff."), "unknown opcode 0xff");
    expect_refused(std::string("\x80\x06N.", 4), "protocol 6");
    expect_refused(proto4("Ne."), "no MARK");
    expect_refused(proto4("N(N."), "MARK without");
    expect_refused(proto4("}](NNu."), "not a dict");
    expect_refused(proto4("}(]Nu."), "unhashable dict key");
    expect_refused(proto4("\x8f(]\x90."), "unhashable set item");
    expect_refused(proto4("(N."), "MARK without its end");
    expect_refused(proto4("NNR."), "not a global");
    expect_refused(proto4("}Nb."), "not an object");
    expect_refused(proto4("P1\n."), "persistent");
    expect_refused(proto4("\x82\x01."), "extension registry");
    expect_refused(proto4("\x97."), "out-of-band");
    expect_refused(proto4("(ii\n."), "INST");
    expect_refused(std::string("\x80\x02U\x02\xff\xfe.", 7), "not ASCII");
}

TEST(PickleAdversarial, RandomMutationsNeverCrash) {
    Object value =
        Object::list({1, "two", Object::tuple({3.0, Object::bytes("four")}),
                      Object::Dict{{"k", Object::set({5})},
                                   {"big", Object::integer("-123456789012345678901234567890")}},
                      pickle::make_token({"dict", Object::tuple({"127.0.0.1", 1}), "1"}),
                      pickle::make_exception("KeyError", {"x"})});
    std::string data = pickle::dumps(value);
    std::mt19937 random(12345);
    std::size_t refused = 0, accepted = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string m = data;
        int edits = 1 + static_cast<int>(random() % 4);
        for (int k = 0; k < edits; ++k) {
            std::size_t at = random() % m.size();
            switch (random() % 3) {
                case 0:
                    m[at] = static_cast<char>(random());
                    break;
                case 1:
                    m.erase(at, 1 + random() % 4);
                    break;
                default:
                    m.insert(at, 1, static_cast<char>(random()));
            }
            if (m.empty()) m = "x";
        }
        try {
            Object o = pickle::loads(m);
            (void)o.repr();
            (void)pickle::dumps(o);
            ++accepted;
        } catch (const ValueError&) {
            ++refused;
        }
    }
    EXPECT_GT(refused, 1000u);
    EXPECT_EQ(refused + accepted, 20000u);
}
