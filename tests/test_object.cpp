// ipckit::Object: repr matches Python's own for a table of values; equality, order, dicts.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "ipckit/error.hpp"
#include "ipckit/object.hpp"
#include "support.hpp"

using ipckit::Object;
using Dict = Object::Dict;
using List = Object::List;

namespace {

struct Case {
    Object value;
    const char* python;  // a Python expression for the same value
};

std::vector<Case> table() {
    const double inf = std::numeric_limits<double>::infinity();
    return {
        {Object(), "None"},
        {Object(true), "True"},
        {Object(false), "False"},
        {Object(0), "0"},
        {Object(-1), "-1"},
        {Object(123456789012345LL), "123456789012345"},
        {Object(std::numeric_limits<std::int64_t>::min()), "-9223372036854775808"},
        {Object(std::numeric_limits<std::int64_t>::max()), "9223372036854775807"},
        {Object(0.0), "0.0"},
        {Object(-0.0), "-0.0"},
        {Object(1.0), "1.0"},
        {Object(1.5), "1.5"},
        {Object(0.1), "0.1"},
        {Object(1.0 / 3), "1/3"},
        {Object(2.0 / 3), "2/3"},
        {Object(3.1415927), "3.1415927"},
        {Object(100.0), "100.0"},
        {Object(1e15), "1e15"},
        {Object(1e16), "1e16"},
        {Object(2.5e16), "2.5e16"},
        {Object(1234567890123456.0), "1234567890123456.0"},
        {Object(123456789.123), "123456789.123"},
        {Object(1e-4), "1e-4"},
        {Object(1e-5), "1e-5"},
        {Object(1.5e-7), "1.5e-7"},
        {Object(-2.5e-300), "-2.5e-300"},
        {Object(1e300), "1e300"},
        {Object(5e-324), "5e-324"},
        {Object(1.7976931348623157e308), "1.7976931348623157e308"},
        {Object(inf), "float('inf')"},
        {Object(-inf), "float('-inf')"},
        {Object(std::nan("")), "float('nan')"},
        {Object(""), "''"},
        {Object("hello"), "'hello'"},
        {Object("it's"), "\"it's\""},
        {Object("say \"hi\""), "'say \"hi\"'"},
        {Object("it's \"both\""), "'it\\'s \"both\"'"},
        {Object("back\\slash"), "'back\\\\slash'"},
        {Object("tab\tnl\nret\r"), "'tab\\tnl\\nret\\r'"},
        {Object(std::string("\x00\x01\x1f\x7f", 4)), "'\\x00\\x01\\x1f\\x7f'"},
        {Object("caf\xc3\xa9 \xc3\xbc"), "'caf\\u00e9 \\u00fc'"},
        {Object("\xe4\xb8\xad\xe6\x96\x87"), "'\\u4e2d\\u6587'"},
        {Object("\xf0\x9f\x98\x80"), "'\\U0001F600'"},
        {Object("\xc2\x80\xc2\x9f"), "'\\x80\\x9f'"},
        {Object("nb\xc2\xa0sp soft\xc2\xadhyphen"), "'nb\\xa0sp soft\\xadhyphen'"},
        {Object("\xe2\x80\xa8\xe2\x80\x8b\xef\xbb\xbf"), "'\\u2028\\u200b\\ufeff'"},
        {Object("\xee\x80\x80"), "'\\ue000'"},
        {Object("bad \xff utf8"), "b'bad \\xff utf8'.decode('utf-8', 'surrogateescape')"},
        {Object::bytes(""), "b''"},
        {Object::bytes(std::string(1, '\0')), "b'\\x00'"},
        {Object::bytes("it's"), "b\"it's\""},
        {Object::bytes("it's \"x\""), "b'it\\'s \"x\"'"},
        {Object::bytes("abc\n\t\r\\"), "b'abc\\n\\t\\r\\\\'"},
        {Object::bytes("\x7f\x80\xff"), "b'\\x7f\\x80\\xff'"},
        {Object(List{}), "[]"},
        {Object::list({9, 8, 7}), "[9, 8, 7]"},
        {Object::list({1, "a", Object(), 2.0, true}), "[1, 'a', None, 2.0, True]"},
        {Object::list({Object::list({1, 2}), Object::list({})}), "[[1, 2], []]"},
        {Object(Dict{}), "{}"},
        {Object(Dict{{1, "one"}, {"two", 2}}), "{1: 'one', 'two': 2}"},
        {Object(Dict{{"1", 1}, {1, "1"}}), "{'1': 1, 1: '1'}"},
        {Object(Dict{{Object(), Object::list({1, Object(Dict{{2, Object::bytes("x")}})})}}),
         "{None: [1, {2: b'x'}]}"},
        {Object(Dict{{1.5, -2}, {Object::bytes("k"), "v"}}), "{1.5: -2, b'k': 'v'}"},
    };
}

}  // namespace

TEST(Object, ReprMatchesPython) {
    auto cases = table();
    std::string expressions;
    for (const auto& c : cases)
        expressions += std::string(c.python) + '\n';
    auto result = ipckit::test::run(
        {ipckit::test::python, "-c",
         "import sys\nfor line in sys.stdin.read().splitlines():\n    print(repr(eval(line)))\n"},
        expressions);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::istringstream lines(result.out);
    for (const auto& c : cases) {
        std::string expected;
        ASSERT_TRUE(std::getline(lines, expected)) << "python printed too few lines";
        EXPECT_EQ(c.value.repr(), expected) << "python: " << c.python;
    }
}

TEST(Object, StreamPrintsRepr) {
    std::ostringstream out;
    out << Object("x") << ' ' << Object(Dict{{1, "one"}, {"two", 2}});
    EXPECT_EQ(out.str(), "'x' {1: 'one', 'two': 2}");
    EXPECT_EQ(Object("x").str(), "x");
    EXPECT_EQ(Object(1.0).str(), "1.0");
}

TEST(Object, DictKeepsInsertionOrderAndSeparatesKinds) {
    Dict d;
    d.set("b", 1);
    d.set("a", 2);
    d.set(1, "int");
    d.set("1", "str");
    d.set(true, "bool");  // unlike Python, True is not the key 1
    d.set("b", 3);        // assignment keeps the place
    EXPECT_EQ(Object(d).repr(), "{'b': 3, 'a': 2, 1: 'int', '1': 'str', True: 'bool'}");
    EXPECT_EQ(d.size(), 5u);
    EXPECT_TRUE(d.erase("a"));
    EXPECT_FALSE(d.erase("a"));
    d.set("a", 4);  // a new key goes last
    EXPECT_EQ(Object(d).repr(), "{'b': 3, 1: 'int', '1': 'str', True: 'bool', 'a': 4}");
    auto [k, v] = d.popitem();
    EXPECT_EQ(k.repr(), "'a'");
    EXPECT_EQ(v.repr(), "4");
    try {
        d.at("missing");
        FAIL() << "no KeyError";
    } catch (const ipckit::KeyError& e) {
        EXPECT_NE(std::string(e.what()).find("'missing'"), std::string::npos) << e.what();
    }
    EXPECT_THROW(d.set(Object::list({1}), 1), ipckit::ValueError);  // unhashable
    // Many erasures compact the entries and keep every lookup right.
    Dict big;
    for (int i = 0; i < 1000; ++i)
        big.set(i, i * i);
    for (int i = 0; i < 1000; i += 3)
        big.erase(i);
    for (int i = 0; i < 1000; ++i) {
        if (i % 3 == 0) {
            EXPECT_FALSE(big.contains(i));
        } else {
            ASSERT_NE(big.find(i), nullptr);
            EXPECT_EQ(big.find(i)->as_int(), i * i);
        }
    }
    int previous = -1;
    for (const auto& [key, value] : big) {
        EXPECT_GT(key.as_int(), previous);
        previous = static_cast<int>(key.as_int());
    }
    Dict empty;
    EXPECT_THROW(empty.popitem(), ipckit::KeyError);
}

TEST(Object, EqualityAndOrderFollowPython) {
    EXPECT_EQ(Object(1), Object(1.0));
    EXPECT_EQ(Object(true), Object(1));
    EXPECT_FALSE(Object(1) == Object("1"));
    EXPECT_FALSE(Object(std::nan("")) == Object(std::nan("")));
    EXPECT_EQ(Object::list({1, "a"}), Object::list({1.0, "a"}));
    EXPECT_EQ(Object(Dict{{1, 2}, {3, 4}}), Object(Dict{{3, 4}, {1, 2}}));
    EXPECT_TRUE(Object::less(Object(1), Object(1.5)));
    EXPECT_TRUE(Object::less(Object("a"), Object("b")));
    EXPECT_TRUE(Object::less(Object::list({1, 2}), Object::list({1, 3})));
    EXPECT_TRUE(Object::less(Object::list({1}), Object::list({1, 0})));
    EXPECT_TRUE(Object::less(Object(std::numeric_limits<std::int64_t>::max() - 1),
                             Object(std::numeric_limits<std::int64_t>::max())));
    EXPECT_THROW(Object::less(Object(1), Object("1")), ipckit::ValueError);
    EXPECT_THROW(Object::less(Object(), Object()), ipckit::ValueError);
}

TEST(Object, AccessorsCheckTheKind) {
    EXPECT_EQ(Object(7).as_int(), 7);
    EXPECT_EQ(Object(true).as_int(), 1);
    EXPECT_DOUBLE_EQ(Object(2).as_double(), 2.0);
    EXPECT_THROW(Object("x").as_int(), ipckit::ValueError);
    EXPECT_THROW(Object(1).as_string(), ipckit::ValueError);
    EXPECT_THROW(Object("x").as_bytes(), ipckit::ValueError);
    Object a = Object::list({1, Object::list({2, 3})});
    Object b = a;  // deep copy
    b.as_list()[1].as_list().push_back(4);
    EXPECT_EQ(a.repr(), "[1, [2, 3]]");
    EXPECT_EQ(b.repr(), "[1, [2, 3, 4]]");
    a = a.as_list()[1];  // assigning a part of itself
    EXPECT_EQ(a.repr(), "[2, 3]");
}

TEST(Object, DictAgreesWithAReferenceModelUnderRandomOperations) {
    // The reference: a vector of pairs in insertion order, searched linearly.
    std::vector<std::pair<std::int64_t, std::int64_t>> model;
    Dict d;
    std::uint64_t state = 12345;
    auto next = [&] {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        return state >> 33;
    };
    for (int step = 0; step < 50000; ++step) {
        auto op = next() % 10;
        auto key = static_cast<std::int64_t>(next() % 500);
        auto it =
            std::find_if(model.begin(), model.end(), [&](auto& kv) { return kv.first == key; });
        if (op < 6) {
            d.set(key, step);
            if (it != model.end()) {
                it->second = step;
            } else {
                model.emplace_back(key, step);
            }
        } else if (op < 9) {
            EXPECT_EQ(d.erase(key), it != model.end());
            if (it != model.end()) model.erase(it);
        } else if (!model.empty()) {
            auto [k, v] = d.popitem();
            EXPECT_EQ(k.as_int(), model.back().first);
            EXPECT_EQ(v.as_int(), model.back().second);
            model.pop_back();
        }
        ASSERT_EQ(d.size(), model.size());
    }
    std::size_t i = 0;
    for (const auto& [key, value] : d) {
        ASSERT_LT(i, model.size());
        EXPECT_EQ(key.as_int(), model[i].first);
        EXPECT_EQ(value.as_int(), model[i].second);
        ++i;
    }
    EXPECT_EQ(i, model.size());
    for (std::int64_t key = 0; key < 500; ++key) {
        bool present =
            std::any_of(model.begin(), model.end(), [&](auto& kv) { return kv.first == key; });
        EXPECT_EQ(d.contains(key), present);
    }
}
