// The manager's decoder rules, one deterministic test each: trailing bytes, integers above
// INT64_MAX, nesting deeper than the limit, and lengths beyond the frame are refused with
// ValueError (the server then closes that connection); the limits themselves are accepted.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/object.hpp"
#include "manager/wire.hpp"

namespace {

namespace wire = ipckit::detail::wire;
using ipckit::Object;

std::string bytes(std::initializer_list<unsigned> values) {
    std::string out;
    for (unsigned v : values)
        out += static_cast<char>(v);
    return out;
}

// The first bytes in hex, for failure messages.
std::string hex(std::string_view data) {
    std::string out;
    const char* digits = "0123456789abcdef";
    if (data.size() > 24) out = "(" + std::to_string(data.size()) + " bytes) ";
    for (unsigned char c : data.substr(0, 24)) {
        out += digits[c >> 4];
        out += digits[c & 15];
        out += ' ';
    }
    return out;
}

// The ValueError's message when decoding `data` throws one; a test failure otherwise.
std::string refusal(std::string_view data, int depth_limit = wire::max_depth) {
    try {
        Object value = wire::decode(data, depth_limit);
        ADD_FAILURE() << "decoded " << hex(data) << "as " << value.repr().substr(0, 80);
    } catch (const ipckit::ValueError& e) {
        return e.what();
    }
    return {};
}

std::string encoded(const Object& value) {
    std::string out;
    wire::encode(out, value);
    return out;
}

TEST(WireDecoder, RejectsTrailingBytes) {
    EXPECT_EQ(wire::decode(bytes({0x01})).as_int(), 1);
    EXPECT_NE(refusal(bytes({0x01, 0x02})).find("trailing bytes"), std::string::npos);
    EXPECT_NE(refusal(bytes({0xc0, 0x00})).find("trailing bytes"), std::string::npos);
    // After every kind of complete value, one more byte (even a valid value) is refused.
    Object::Dict dict;
    dict.set("k", Object::list({1, 2}));
    const std::vector<Object> values = {
        Object(),
        Object(true),
        Object(-5),
        Object(INT64_MAX),
        Object(2.5),
        Object("text"),
        Object::bytes(std::string("\0\1", 2)),
        Object::list({1, "two", Object::list({3.0})}),
        Object(dict),
        Object(Object::List(20, Object(7))),
    };
    for (const auto& value : values) {
        std::string data = encoded(value);
        EXPECT_EQ(wire::decode(data).repr(), value.repr());
        for (unsigned extra : {0x00u, 0xc0u, 0x90u, 0xffu}) {
            std::string message = refusal(data + static_cast<char>(extra));
            EXPECT_NE(message.find("trailing bytes"), std::string::npos)
                << value.repr() << " + " << extra << ": " << message;
        }
    }
    // A request with a second request glued to it in the same frame.
    std::string two = encoded(Object::list({int{wire::ping}, 0}));
    EXPECT_NE(refusal(two + two).find("trailing bytes"), std::string::npos);
}

TEST(WireDecoder, RejectsIntegersAboveInt64Max) {
    // uint 64 up to INT64_MAX is an int; above it there is no Object to hold it.
    EXPECT_EQ(wire::decode(bytes({0xcf, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})).as_int(),
              INT64_MAX);
    EXPECT_EQ(wire::decode(bytes({0xce, 0xff, 0xff, 0xff, 0xff})).as_int(), 4294967295);
    EXPECT_EQ(wire::decode(bytes({0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0})).as_int(), INT64_MIN);
    const std::string above = bytes({0xcf, 0x80, 0, 0, 0, 0, 0, 0, 0});  // INT64_MAX + 1
    const std::string max = bytes({0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
    for (const auto& data : {above, max, bytes({0x92, 0x01}) + above,  // in a list
                             bytes({0x81}) + above + bytes({0x01}),    // as a dict key
                             bytes({0x81, 0x01}) + max}) {             // as a dict value
        std::string message = refusal(data);
        EXPECT_NE(message.find("above INT64_MAX"), std::string::npos) << hex(data) << message;
    }
}

// `levels` arrays of one item each around `innermost`: [[[...innermost...]]].
std::string nested_lists(int levels, std::string_view innermost) {
    return std::string(static_cast<std::size_t>(levels), static_cast<char>(0x91)) +
           std::string(innermost);
}

// `levels` maps {0: {0: ... innermost}}.
std::string nested_maps(int levels, std::string_view innermost) {
    std::string out;
    for (int i = 0; i < levels; ++i)
        out += bytes({0x81, 0x00});
    return out + std::string(innermost);
}

TEST(WireDecoder, RejectsNestingDeeperThanTheLimit) {
    const int limit = wire::max_depth;
    const std::string scalar = bytes({0x2a});
    const std::string empty_list = bytes({0x90});
    const std::string empty_map = bytes({0x80});
    // Exactly at the limit: nesting() (a flat list is 1) equals max_depth.
    for (const auto& data : {nested_lists(limit, scalar), nested_lists(limit - 1, empty_list),
                             nested_maps(limit, scalar), nested_maps(limit - 1, empty_map),
                             nested_lists(limit - 1, empty_map)}) {
        Object value = wire::decode(data);
        EXPECT_EQ(wire::nesting(value), limit);
        EXPECT_EQ(encoded(value), data);  // and the encoder agrees to send it
    }
    // One level more, whatever the innermost value: refused, with the limit named.
    for (const auto& data : {nested_lists(limit + 1, scalar), nested_lists(limit, empty_list),
                             nested_maps(limit + 1, scalar), nested_maps(limit, empty_map),
                             nested_lists(limit, empty_map), nested_maps(limit, empty_list),
                             nested_lists(limit, bytes({0xdc, 0x00, 0x00})),     // array 16
                             nested_lists(limit, bytes({0xdf, 0, 0, 0, 0}))}) {  // map 32
        std::string message = refusal(data);
        EXPECT_NE(message.find("nested deeper than " + std::to_string(limit)), std::string::npos)
            << message;
    }
    // The encoder refuses the same values: nesting max_depth + 1 is never sent either.
    Object deep = Object::List();
    for (int i = 0; i < limit; ++i)
        deep = Object::list({deep});
    EXPECT_EQ(wire::nesting(deep), limit + 1);
    std::string out;
    EXPECT_THROW(wire::encode(out, deep), ipckit::ValueError);
    EXPECT_TRUE(out.empty());
    // A nesting bomb far deeper than the limit is refused without deep recursion.
    EXPECT_FALSE(refusal(nested_lists(1'000'000, scalar)).empty());
    // The limit given to decode is the one applied (clients accept deeper answers).
    EXPECT_FALSE(refusal(nested_lists(3, scalar), 2).empty());
    EXPECT_EQ(wire::nesting(wire::decode(nested_lists(3, scalar), 3)), 3);
    EXPECT_EQ(wire::nesting(wire::decode(nested_lists(limit + 8, scalar), limit + 8)), limit + 8);
}

TEST(WireDecoder, RejectsLengthsBeyondTheFrame) {
    // Every proper prefix of a valid encoding claims more than the frame holds.
    Object::Dict dict;
    dict.set(1, "one");
    dict.set("two", Object::list({2, 2.0}));
    const std::vector<std::string> complete = {
        encoded(Object("abc")),                             // fixstr
        encoded(Object(std::string(40, 's'))),              // str 8
        encoded(Object(std::string(300, 's'))),             // str 16
        encoded(Object(std::string(70000, 's'))),           // str 32
        encoded(Object::bytes("abc")),                      // bin 8
        encoded(Object::bytes(std::string(300, 'b'))),      // bin 16
        encoded(Object::bytes(std::string(70000, 'b'))),    // bin 32
        encoded(Object::list({1, 2, 3})),                   // fixarray
        encoded(Object(Object::List(20, Object(1)))),       // array 16
        encoded(Object(Object::List(70000, Object(1)))),    // array 32
        encoded(Object(dict)),                              // fixmap
        bytes({0xde, 0x00, 0x01, 0x01, 0x02}),              // map 16
        bytes({0xdf, 0x00, 0x00, 0x00, 0x01, 0x01, 0x02}),  // map 32
        bytes({0xcc, 0xff}),                                // uint 8
        bytes({0xcd, 0xff, 0xff}),                          // uint 16
        encoded(Object(INT64_MAX)),                         // int 64
        bytes({0xd0, 0x80}),                                // int 8
        bytes({0xd1, 0x80, 0x00}),                          // int 16
        bytes({0xd2, 0x80, 0x00, 0x00, 0x00}),              // int 32
        bytes({0xca, 0x3f, 0x80, 0x00, 0x00}),              // float 32
        encoded(Object(0.1)),                               // float 64
        encoded(Object::list({1, Object::list({"deep", Object::bytes("x")})})),
    };
    for (const auto& data : complete) {
        ASSERT_NO_THROW(wire::decode(data)) << hex(data);
        for (std::size_t cut = 0; cut < data.size(); ++cut) {
            // Large values: every prefix near the start and the end, a sample between.
            if (cut > 64 && cut + 64 < data.size() && cut % 997 != 0) continue;
            std::string message = refusal(std::string_view(data).substr(0, cut));
            ASSERT_NE(message.find("malformed manager frame"), std::string::npos)
                << hex(data) << "cut at " << cut << ": " << message;
        }
    }
    // Lengths far beyond the frame are refused before anything that size is allocated.
    const std::vector<std::pair<std::string, std::string>> huge = {
        {bytes({0xdb, 0xff, 0xff, 0xff, 0xff, 'a'}), "truncated string"},
        {bytes({0xc6, 0xff, 0xff, 0xff, 0xff, 'a'}), "truncated string"},
        {bytes({0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}), "array longer than its frame"},
        {bytes({0xdf, 0xff, 0xff, 0xff, 0xff, 0x01, 0x01}), "map longer than its frame"},
        {bytes({0xdc, 0xff, 0xff}) + std::string(100, '\x01'), "array longer than its frame"},
        {bytes({0xde, 0xff, 0xff}) + std::string(200, '\x01'), "map longer than its frame"},
    };
    for (const auto& [data, why] : huge) {
        std::string message = refusal(data);
        EXPECT_NE(message.find(why), std::string::npos) << hex(data) << message;
    }
    // A map of n pairs needs 2n bytes: n items that would fit as an array do not as a map.
    EXPECT_NE(refusal(bytes({0x83, 0x01, 0x02, 0x03})).find("malformed"), std::string::npos);
    // The bytes after the frame are not the frame's, even when they would complete it: two
    // frames back to back in one buffer, the first claiming 5 bytes of text and holding 2.
    std::string stream = bytes({0, 0, 0, 3, 0xa5, 'h', 'e'}) + bytes({0, 0, 0, 3, 0xa2, 'l', 'o'});
    wire::FrameReader reader(1024);
    reader.append(stream.data(), stream.size());
    std::string_view first, second;
    ASSERT_TRUE(reader.next(first));
    EXPECT_NE(refusal(first).find("truncated"), std::string::npos);
    ASSERT_TRUE(reader.next(second));
    EXPECT_EQ(wire::decode(second).as_string(), "lo");
}

TEST(WireFrameReader, RefusesAHeaderAboveItsLimitAndWaitsForTheRest) {
    wire::FrameReader reader(8);
    std::string_view payload;
    std::string at_limit = bytes({0, 0, 0, 8}) + std::string(8, '\x01');
    reader.append(at_limit.data(), 3);
    EXPECT_FALSE(reader.next(payload));  // a partial header: wait
    reader.append(at_limit.data() + 3, at_limit.size() - 4);
    EXPECT_FALSE(reader.next(payload));  // a partial payload: wait
    reader.append(at_limit.data() + at_limit.size() - 1, 1);
    ASSERT_TRUE(reader.next(payload));
    EXPECT_EQ(payload.size(), 8u);
    std::string over = bytes({0, 0, 0, 9});  // refused from the header alone
    reader.append(over.data(), over.size());
    try {
        reader.next(payload);
        ADD_FAILURE() << "a 9-byte frame passed an 8-byte limit";
    } catch (const ipckit::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("exceeds the limit of 8 bytes"), std::string::npos)
            << e.what();
    }
}

}  // namespace
