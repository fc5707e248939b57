// libFuzzer target: the pickle decoder (ipckit::pickle::loads) on arbitrary bytes. Nothing
// may crash, leak, hang or read out of bounds; malformed input may only throw ValueError.
// Both decoders behind loads run on every input: what the one-pass decoder of plain data
// takes, the full decoder must take too, with the same result.
// Whatever decodes must encode (pickle::dumps) to a pickle that decodes to a value with the
// same repr, and cross the manager's MessagePack wire (ext types) unchanged.
//
// Corpus: corpus/pickle (written by make_seeds.cpp). Build and run: tests/fuzz/run.sh [SECONDS]
#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "ipckit/error.hpp"
#include "ipckit/pickle.hpp"
#include "python/pickle_reader.hpp"

namespace fuzz = ipckit::fuzz;
namespace pickle = ipckit::pickle;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    pickle::Limits limits;
    limits.max_items = 1u << 16;  // keeps each run short; the limit itself is what is tested
    auto one_pass = pickle::detail::loads_plain(input, limits);
    ipckit::Object value;
    try {
        value = pickle::detail::loads_full(input, limits);
    } catch (const ipckit::ValueError& e) {
        if (one_pass)
            fuzz::fail(std::string("the one-pass decoder took what is refused: ") + e.what());
        return 0;
    }
    std::string text = value.repr();
    if (one_pass && one_pass->repr() != text) fuzz::fail("the two decoders differ");
    if (pickle::loads(input, limits).repr() != text) fuzz::fail("loads differs from its decoders");
    std::string again;
    try {
        again = pickle::dumps(value);
    } catch (const ipckit::ValueError& e) {
        fuzz::fail(std::string("a decoded value does not encode: ") + e.what());
    }
    pickle::Limits wide = limits;
    wide.max_items = limits.max_items * 4;
    try {
        if (pickle::loads(again, wide).repr() != text) fuzz::fail("re-encoding differs");
    } catch (const ipckit::ValueError& e) {
        fuzz::fail(std::string("ipckit's own pickle does not decode: ") + e.what());
    }
    std::string frame;
    try {
        fuzz::wire::encode(frame, value, 0, INT_MAX);
        if (fuzz::wire::decode(frame, INT_MAX).repr() != text) fuzz::fail("the wire changed it");
    } catch (const ipckit::ValueError& e) {
        fuzz::fail(std::string("a decoded value does not cross the wire: ") + e.what());
    }
    return 0;
}
