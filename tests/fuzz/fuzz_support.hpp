// Shared by the fuzz targets and the seed generator: the fixed handshake values of the
// server target, and the check that an answer of the store is well-formed.
#pragma once

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/object.hpp"
#include "manager/wire.hpp"

namespace ipckit::fuzz {

namespace wire = ipckit::detail::wire;

// The server target greets with this challenge and knows this key, so that a seed can hold a
// valid client proof and reach the requests (tests/fuzz/make_seeds.cpp computes it).
inline const std::string authkey = "fuzz-authkey";
inline const std::string server_challenge(wire::challenge_size, 's');
inline const std::string client_challenge(wire::challenge_size, 'c');
inline const std::string session(wire::session_size, 'p');

// The custom type the targets' servers serve, so that call_method reaches a method.
struct Counter {
    std::int64_t calls = 0;
    std::int64_t bump() { return ++calls; }
    Object echo(Object o) { return o; }
    void raise() { throw std::runtime_error("raised on purpose"); }
};
inline const Registry& registry() {
    static const Registry r = [] {
        Registry made;
        made.add<Counter>(
            "Counter",
            {{"bump", &Counter::bump}, {"echo", &Counter::echo}, {"raise", &Counter::raise}});
        return made;
    }();
    return r;
}

// A broken invariant: say which (libFuzzer keeps the input) and abort.
[[noreturn]] inline void fail(const std::string& what) {
    std::fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
    std::abort();
}

// The payloads of the whole frames in `stream` (a trailing partial frame is left out).
inline std::vector<std::string> payloads(std::string_view stream, std::size_t max_frame) {
    wire::FrameReader reader(max_frame);
    reader.append(stream.data(), stream.size());
    std::vector<std::string> out;
    std::string_view payload;
    try {
        while (reader.next(payload))
            out.emplace_back(payload);
    } catch (const ValueError&) {
        // A header over the limit: the stream ends there.
    }
    return out;
}

// Checks `answer` (a frame's payload, as the server sent it) against `request` (the payload
// it answers): it decodes as a client decodes it, is [status, value], an error carries a
// message, and a success has the shape of the request's op. Returns the status.
inline int check_answer(std::string_view request, std::string_view answer_payload) {
    Object answer;
    try {
        answer = wire::decode(answer_payload, wire::max_depth + 8);  // the client's limit
    } catch (const ValueError& e) {
        fail(std::string("an answer does not decode: ") + e.what());
    }
    if (!answer.is_list() || answer.as_list().size() != 2 || !answer.as_list()[0].is_int()) {
        fail("an answer is not [status, value]: " + answer.repr());
    }
    const Object& value = answer.as_list()[1];
    std::int64_t status = answer.as_list()[0].as_int();
    if (status < wire::ok || status > wire::last_status) fail("unknown status " + answer.repr());
    if (status != wire::ok) {
        if (!value.is_string()) fail("an error answer without a message: " + answer.repr());
        return static_cast<int>(status);
    }
    Object r = wire::decode(request);  // it was answered, so it decoded
    if (!r.is_list() || r.as_list().size() < 2 || !r.as_list()[0].is_int() ||
        !r.as_list()[1].is_int()) {
        fail("a malformed request was answered with success: " + answer.repr());
    }
    std::int64_t op = r.as_list()[0].as_int();
    auto expect = [&](bool shape_ok, const char* what) {
        if (!shape_ok) {
            fail("op " + std::to_string(op) + " answered " + answer.repr() + ", expected " + what);
        }
    };
    auto pairs = [](const Object& o) {
        if (!o.is_list()) return false;
        for (const auto& item : o.as_list()) {
            if (!item.is_list() || item.as_list().size() != 2 || !item.as_list()[0].is_scalar())
                return false;
        }
        return true;
    };
    switch (op) {
        case wire::create_dict:
        case wire::create_list:
        case wire::named_dict:
        case wire::named_list:
        case wire::create:
            expect(value.is_int() && value.as_int() >= 1, "an object id");
            break;
        case wire::incref:
        case wire::decref:
        case wire::shutdown:
        case wire::clear:
        case wire::dict_set:
        case wire::dict_del:
        case wire::dict_update_flat:
        case wire::queue_put:
        case wire::queue_task_done:
        case wire::release:
        case wire::event_set:
        case wire::event_clear:
        case wire::list_set:
        case wire::list_append:
        case wire::list_extend:
        case wire::list_insert:
        case wire::list_remove:
        case wire::list_reverse:
        case wire::list_sort:
        case wire::list_set_slice:
        case wire::list_del_slice:
        case wire::list_del:
            expect(value.is_none(), "None");
            break;
        case wire::stats:
            expect(value.is_dict() && value.as_dict().size() == 6, "the six counters");
            for (const auto& [key, count] : value.as_dict())
                expect(key.is_string() && count.is_int() && count.as_int() >= 0, "counters");
            break;
        case wire::ping:
            expect(value.is_bool() && value.as_bool(), "True");
            break;
        case wire::repr:
            expect(value.is_string(), "a str");
            break;
        case wire::len:
        case wire::queue_qsize:
        case wire::list_count:
        case wire::list_index:
            expect(value.is_int() && value.as_int() >= 0, "a count or an index");
            break;
        case wire::copy:
            // The referent's value: a dict's or a list's contents, an Array's items, a
            // Namespace's attributes, a Value's scalar (Python's #GETVALUE of each).
            expect(value.is_list() || value.is_dict() || value.is_scalar(), "the referent's value");
            break;
        case wire::dict_contains:
        case wire::list_contains:
        case wire::queue_empty:
        case wire::queue_full:
        case wire::queue_join:
        case wire::event_is_set:
        case wire::event_wait:
            expect(value.is_bool(), "a bool");
            break;
        case wire::dict_keys:
            expect(value.is_list() && std::all_of(value.as_list().begin(), value.as_list().end(),
                                                  [](const Object& k) { return k.is_scalar(); }),
                   "a list of keys");
            break;
        case wire::dict_values:
        case wire::list_get_slice:
            expect(value.is_list(), "a list");
            break;
        case wire::dict_items:
            expect(pairs(value), "a list of [key, value] pairs");
            break;
        case wire::queue_maxsize:
            expect(value.is_int(), "an int");
            break;
        case wire::barrier_wait:
        case wire::barrier_parties:
        case wire::barrier_n_waiting:
            expect(value.is_int() && value.as_int() >= 0, "an index or a count");
            break;
        case wire::barrier_broken:
            expect(value.is_bool(), "a bool");
            break;
        case wire::barrier_reset:
        case wire::barrier_abort:
            expect(value.is_none(), "None");
            break;
        case wire::acquire:
            expect(value.is_int() && value.as_int() >= 0 && value.as_int() <= 2, "0, 1 or 2");
            break;
        case wire::dict_popitem:
            expect(pairs(Object::list({value})), "a [key, value] pair");
            break;
        case wire::dict_get:
        case wire::dict_get_default:
        case wire::dict_pop:
        case wire::dict_pop_default:
        case wire::dict_setdefault:
        case wire::list_get:
        case wire::list_pop:
        case wire::queue_get:
        case wire::namespace_get:
        case wire::namespace_get_default:
        case wire::value_get:
        case wire::array_get:
            break;  // any value
        case wire::condition_wait:
        case wire::namespace_contains:
            expect(value.is_bool(), "a bool");
            break;
        case wire::condition_notify:
        case wire::condition_notify_all:
        case wire::namespace_set:
        case wire::namespace_del:
        case wire::value_set:
        case wire::array_set:
            expect(value.is_none(), "None");
            break;
        case wire::condition_lock:
            expect(value.is_ref(), "a ref to a lock");
            break;
        case wire::call_method:
            break;  // any value
        case wire::named_objects:
            expect(value.is_list() && std::all_of(value.as_list().begin(), value.as_list().end(),
                                                  [](const Object& row) {
                                                      return row.is_list() &&
                                                             row.as_list().size() == 3 &&
                                                             row.as_list()[0].is_string() &&
                                                             row.as_list()[1].is_string() &&
                                                             (row.as_list()[2].is_none() ||
                                                              row.as_list()[2].is_int());
                                                  }),
                   "[name, type, len or None] rows");
            break;
        default:
            fail("unknown op " + std::to_string(op) + " answered with success: " + answer.repr());
    }
    return wire::ok;
}

}  // namespace ipckit::fuzz
