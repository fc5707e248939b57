// libFuzzer target: bytes from an authenticated client, cut into frames, decoded and
// served by the manager's store. Nothing may crash, leak, hang or read out of bounds; a
// malformed or oversized frame may only end the stream (ValueError, the server closes the
// connection); every request gets exactly one answer, which decodes as the client decodes it
// and has the shape its op promises (fuzz_support.hpp) -- a request parked by the store (a
// blocking call that cannot proceed) gets it when its timeout passes or a cancel comes, and
// none when the connection closes first; a cancel itself is never answered.
//
// Input: frames as a client sends them after the handshake (corpus: corpus/frame, written by
// make_seeds.cpp). Build and run: tests/fuzz/run.sh [SECONDS]
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

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
    store.set_registry(&fuzz::registry());
    std::string out;
    const ipckit::detail::ConnId conn = 1;
    store.open_connection(conn, fuzz::session, &out);
    std::string parked;  // the parked request's payload
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
            bool was_parked = store.parked(conn);
            store.handle(conn, payload);
            store.expire(ipckit::detail::Clock::now());  // a timeout of 0 or 1 ns has passed
            bool now_parked = store.parked(conn);
            bool is_cancel = false;
            try {
                ipckit::Object r = wire::decode(payload);
                // A cancel as the store reads it: a well-formed request, [cancel, id, ...]
                // (one with another id is malformed, and answered as such).
                is_cancel = r.is_list() && r.as_list().size() >= 2 && r.as_list()[0].is_int() &&
                            r.as_list()[1].is_int() && r.as_list()[0].as_int() == wire::cancel;
            } catch (const ipckit::ValueError&) {
            }
            // The requests answered now, in the order of their answers.
            std::vector<std::string> answered;
            if (was_parked) {
                if (!is_cancel) answered.emplace_back(payload);  // refused: a call waits
                if (!now_parked) answered.push_back(parked);
            } else if (!now_parked && !is_cancel) {
                answered.emplace_back(payload);
            }
            if (now_parked && !was_parked) parked = std::string(payload);
            auto answers = fuzz::payloads(out, SIZE_MAX);
            if (answers.size() != answered.size())
                fuzz::fail("a request got other than one answer");
            std::size_t bytes = 0;
            for (std::size_t i = 0; i < answers.size(); ++i) {
                bytes += answers[i].size() + 4;
                fuzz::check_answer(answered[i], answers[i]);
            }
            if (out.size() != bytes) fuzz::fail("bytes after the answers");
            if (store.shutdown_requested()) break;  // the server stops serving here
        }
    } catch (const ipckit::ValueError&) {
        // The server closes the connection: fine.
    }
    store.close_connection(conn);
    // Every anonymous object was released with the session; named ones stay.
    if (store.object_count() != store.named_count()) fuzz::fail("anonymous objects outlive");
    if (store.session_count() != 0) fuzz::fail("a session outlives its connection");
    return 0;
}
