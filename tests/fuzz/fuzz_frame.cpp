// libFuzzer target: bytes from an authenticated client, cut into frames, decoded and
// served by the manager's store. Nothing may crash, leak, hang or read out of bounds;
// a malformed or oversized frame may only end the stream (ValueError).
//
// Build and run: tests/fuzz/run.sh [SECONDS]
#include <cstddef>
#include <cstdint>
#include <string>

#include "ipckit/error.hpp"
#include "manager/store.hpp"
#include "manager/wire.hpp"

namespace wire = ipckit::detail::wire;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    wire::FrameReader reader(1u << 16);
    reader.append(reinterpret_cast<const char*>(data), size);
    ipckit::detail::Store store;
    store.open_session("fuzz");
    std::string out;
    try {
        std::string_view payload;
        while (reader.next(payload)) {
            // Whatever decodes must encode and decode back to the same value.
            try {
                ipckit::Object value = wire::decode(payload);
                std::string again;
                wire::encode(again, value);
                if (wire::decode(again).repr() != value.repr()) __builtin_trap();
            } catch (const ipckit::ValueError&) {
            }
            store.handle("fuzz", payload, out);
            if (out.size() > (1u << 20)) out.clear();
        }
    } catch (const ipckit::ValueError&) {
        // The server closes the connection: fine.
    }
    store.close_session("fuzz");
    // Every anonymous object was released with the session; named ones stay.
    if (store.object_count() != store.named_count()) __builtin_trap();
    return 0;
}
