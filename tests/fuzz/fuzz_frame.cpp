// libFuzzer target: bytes from an authenticated client, cut into frames, decoded and
// served by the manager's store. Nothing may crash, leak, hang or read out of bounds; a
// malformed or oversized frame may only end the stream (ValueError, the server closes the
// connection); every request gets exactly one answer, which decodes as the client decodes it
// and has the shape its op promises (fuzz_support.hpp).
//
// Input: frames as a client sends them after the handshake (corpus: corpus/frame, written by
// make_seeds.cpp). Build and run: tests/fuzz/run.sh [SECONDS]
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "ipckit/error.hpp"
#include "manager/store.hpp"
#include "manager/wire.hpp"

namespace wire = ipckit::detail::wire;
namespace fuzz = ipckit::fuzz;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    wire::FrameReader reader(1u << 16);
    reader.append(reinterpret_cast<const char*>(data), size);
    ipckit::detail::Store store;
    store.open_session(fuzz::session);
    std::string out;
    try {
        std::string_view payload;
        while (reader.next(payload)) {
            // Whatever decodes must encode and decode back to the same value.
            try {
                ipckit::Object value = wire::decode(payload);
                std::string again;
                wire::encode(again, value);
                if (wire::decode(again).repr() != value.repr()) fuzz::fail("re-encoding differs");
            } catch (const ipckit::ValueError&) {
            }
            out.clear();
            store.handle(fuzz::session, payload, out);
            auto answers = fuzz::payloads(out, SIZE_MAX);
            if (answers.size() != 1) fuzz::fail("a request got other than one answer");
            if (out.size() != answers[0].size() + 4) fuzz::fail("bytes after the answer");
            fuzz::check_answer(payload, answers[0]);
            if (store.shutdown_requested()) break;  // the server stops serving here
        }
    } catch (const ipckit::ValueError&) {
        // The server closes the connection: fine.
    }
    store.close_session(fuzz::session);
    // Every anonymous object was released with the session; named ones stay.
    if (store.object_count() != store.named_count()) fuzz::fail("anonymous objects outlive");
    if (store.session_count() != 0) fuzz::fail("a session outlives its connection");
    return 0;
}
