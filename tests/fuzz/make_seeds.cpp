// Writes the fuzz targets' seed corpora and libFuzzer dictionary under tests/fuzz, with the
// wire's own encoder:
//   corpus/frame/OP      requests after the handshake: the object the op needs, then the op
//   corpus/server/OP     the same, preceded by a valid client proof (fuzz_support.hpp's key
//                        and challenges), as the server target reads them from its socket
//   corpus/handshake/*   what a server may send a connecting client
//   corpus/pickle/*      pickles of Python's values (ipckit::pickle::dumps, and protocol 2)
//   corpus/python_handshake/*  what a multiprocessing.connection peer sends while authenticating
//   manager.dict         MessagePack type bytes, edge values, frame headers, request heads
// One seed per request op of src/manager/wire.hpp, each checked here: every request of it
// is answered with success by a real Store and through the server's read path, so the
// fuzzer starts from inputs that reach every op.
//
// Regenerate after a change of the wire format or of the ops:
//   build/tests/make_seeds tests/fuzz
// Check that the committed files are what this program writes (a test of the suite):
//   build/tests/make_seeds --check tests/fuzz
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "ipckit/pickle.hpp"
#include "ipckit/python_connection.hpp"
#include "manager/server.hpp"
#include "manager/store.hpp"

namespace {

namespace fs = std::filesystem;
namespace wire = ipckit::detail::wire;
namespace fuzz = ipckit::fuzz;
using ipckit::Object;
using Dict = Object::Dict;
using List = Object::List;

Object request(int op, std::int64_t id, List args = {}) {
    List fields{Object(op), Object(id)};
    for (auto& a : args)
        fields.push_back(std::move(a));
    return Object(std::move(fields));
}

// The object each op works on: it gets id 1 in a fresh server.
Object new_list() {
    return request(wire::create_list, 0, {Object::list({3, 1, 2, 1})});
}
Object new_dict() {
    return request(wire::create_dict, 0,
                   {Object(Dict{{"a", 1}, {"b", Object::list({1, 2})}, {3, "three"}})});
}

Object new_queue() {
    return request(wire::create, 0, {wire::type_joinable_queue, Object(), 2});
}
Object new_lock(const char* type = wire::type_lock) {
    return request(wire::create, 0, {type, Object()});
}
Object new_event() {
    return request(wire::create, 0, {wire::type_event, Object()});
}
Object new_barrier() {
    return request(wire::create, 0, {wire::type_barrier, Object(), 1});
}
// An RLock (id 1), then a Condition over it (id 2).
std::vector<Object> new_condition(std::vector<Object> then) {
    std::vector<Object> r{
        new_lock(wire::type_rlock),
        request(wire::create, 0, {wire::type_condition, Object(), Object::ref("RLock", 1)})};
    r.insert(r.end(), then.begin(), then.end());
    return r;
}
Object new_namespace() {
    return request(wire::create, 0, {wire::type_namespace, Object()});
}
Object new_value() {
    return request(wire::create, 0, {wire::type_value, Object(), "i", 5});
}
Object new_array() {
    return request(wire::create, 0, {wire::type_array, Object(), "d", Object::list({1, 2.5})});
}
constexpr std::int64_t one_second = 1'000'000'000;

struct Seed {
    const char* name;
    std::vector<Object> requests;
};

std::vector<Seed> seeds() {
    using namespace wire;
    return {
        {"create_dict", {new_dict()}},
        {"create_list", {new_list()}},
        {"named_dict", {request(named_dict, 0, {"scores"}), request(named_dict, 0, {"scores"})}},
        {"named_list", {request(named_list, 0, {"names"}), request(named_list, 0, {"names"})}},
        {"incref", {new_list(), request(incref, 1)}},
        {"decref", {new_list(), request(decref, 1)}},
        {"stats", {request(stats, 0)}},
        {"shutdown", {new_list(), request(wire::shutdown, 0)}},
        {"ping", {request(ping, 0)}},
        {"repr", {new_dict(), request(repr, 1)}},
        {"len", {new_list(), request(len, 1)}},
        {"copy", {new_dict(), request(copy, 1)}},
        {"clear", {new_list(), request(clear, 1)}},
        {"dict_get", {new_dict(), request(dict_get, 1, {"a"})}},
        {"dict_get_default", {new_dict(), request(dict_get_default, 1, {"zz", 0})}},
        {"dict_set", {new_dict(), request(dict_set, 1, {"c", 2.5})}},
        {"dict_del", {new_dict(), request(dict_del, 1, {"a"})}},
        {"dict_contains", {new_dict(), request(dict_contains, 1, {"b"})}},
        {"dict_keys", {new_dict(), request(dict_keys, 1)}},
        {"dict_values", {new_dict(), request(dict_values, 1)}},
        {"dict_items", {new_dict(), request(dict_items, 1)}},
        {"dict_pop", {new_dict(), request(dict_pop, 1, {"a"})}},
        {"dict_pop_default", {new_dict(), request(dict_pop_default, 1, {"zz", Object()})}},
        {"dict_popitem", {new_dict(), request(dict_popitem, 1)}},
        {"dict_setdefault", {new_dict(), request(dict_setdefault, 1, {"d", 4})}},
        {"dict_update_flat",
         {new_dict(),
          request(dict_update_flat, 1, {Object::list({"x", 1, "y", Object::bytes("\x01")})})}},
        {"list_get", {new_list(), request(list_get, 1, {-1})}},
        {"list_set", {new_list(), request(list_set, 1, {0, "zero"})}},
        {"list_append", {new_list(), request(list_append, 1, {Object::list({"nested", 1.5})})}},
        {"list_extend", {new_list(), request(list_extend, 1, {Object::list({4, 5})})}},
        {"list_insert", {new_list(), request(list_insert, 1, {1, 9})}},
        {"list_pop", {new_list(), request(list_pop, 1, {0})}},
        {"list_remove", {new_list(), request(list_remove, 1, {1})}},
        {"list_index", {new_list(), request(list_index, 1, {2})}},
        {"list_count", {new_list(), request(list_count, 1, {1})}},
        {"list_reverse", {new_list(), request(list_reverse, 1)}},
        {"list_sort", {new_list(), request(list_sort, 1, {true})}},
        {"list_get_slice", {new_list(), request(list_get_slice, 1, {Object(), Object(), -1})}},
        {"list_set_slice",
         {new_list(), request(list_set_slice, 1, {0, 2, Object(), Object::list({7, 8, 9})})}},
        {"list_del_slice", {new_list(), request(list_del_slice, 1, {Object(), Object(), 2})}},
        {"list_del", {new_list(), request(list_del, 1, {0})}},
        {"list_contains", {new_list(), request(list_contains, 1, {3})}},
        {"create", {new_queue()}},
        {"create_named",
         {request(create, 0, {type_rlock, "door"}), request(create, 0, {type_rlock, "door"})}},
        {"create_semaphore", {request(create, 0, {type_semaphore, Object(), 3})}},
        {"create_bounded_semaphore", {request(create, 0, {type_bounded_semaphore, Object(), 2})}},
        {"create_queue", {request(create, 0, {type_queue, Object()})}},
        {"cancel", {new_queue(), request(cancel, 0)}},
        {"queue_put", {new_queue(), request(queue_put, 1, {"task", true, Object()})}},
        {"queue_get",
         {new_queue(), request(queue_put, 1, {Object::list({1, 2}), false, Object()}),
          request(queue_get, 1, {true, one_second})}},
        {"queue_qsize", {new_queue(), request(queue_qsize, 1)}},
        {"queue_empty", {new_queue(), request(queue_empty, 1)}},
        {"queue_full", {new_queue(), request(queue_full, 1)}},
        {"queue_maxsize", {new_queue(), request(queue_maxsize, 1)}},
        {"queue_task_done",
         {new_queue(), request(queue_put, 1, {7, true, Object()}),
          request(queue_get, 1, {false, Object()}), request(queue_task_done, 1)}},
        {"queue_join", {new_queue(), request(queue_join, 1, {Object()})}},
        {"acquire", {new_lock(), request(acquire, 1, {true, Object()})}},
        {"release",
         {new_lock(type_bounded_semaphore), request(acquire, 1, {false, Object()}),
          request(release, 1)}},
        {"event_set", {new_event(), request(event_set, 1)}},
        {"event_clear", {new_event(), request(event_clear, 1)}},
        {"event_is_set", {new_event(), request(event_is_set, 1)}},
        {"event_wait", {new_event(), request(event_set, 1), request(event_wait, 1, {one_second})}},
        {"barrier_wait", {new_barrier(), request(barrier_wait, 1, {one_second})}},
        {"barrier_reset", {new_barrier(), request(barrier_reset, 1)}},
        {"barrier_abort", {new_barrier(), request(barrier_abort, 1)}},
        {"barrier_parties", {new_barrier(), request(barrier_parties, 1)}},
        {"barrier_n_waiting", {new_barrier(), request(barrier_n_waiting, 1)}},
        {"barrier_broken", {new_barrier(), request(barrier_broken, 1)}},
        {"create_condition", new_condition({})},
        {"condition_wait",
         new_condition({request(acquire, 1, {true, Object()}), request(condition_wait, 2, {0})})},
        {"condition_notify",
         new_condition({request(acquire, 1, {true, Object()}), request(condition_notify, 2, {1})})},
        {"condition_notify_all",
         new_condition({request(acquire, 1, {true, Object()}), request(condition_notify_all, 2)})},
        {"condition_lock", new_condition({request(condition_lock, 2)})},
        {"namespace_set", {new_namespace(), request(namespace_set, 1, {"x", 1})}},
        {"namespace_get",
         {new_namespace(), request(namespace_set, 1, {"x", 1}), request(namespace_get, 1, {"x"})}},
        {"namespace_get_default",
         {new_namespace(), request(namespace_get_default, 1, {"y", Object()})}},
        {"namespace_del",
         {new_namespace(), request(namespace_set, 1, {"x", 1}), request(namespace_del, 1, {"x"})}},
        {"namespace_contains", {new_namespace(), request(namespace_contains, 1, {"x"})}},
        {"value_get", {new_value(), request(value_get, 1)}},
        {"value_set", {new_value(), request(value_set, 1, {-3})}},
        {"array_get", {new_array(), request(array_get, 1, {-1})}},
        {"array_set", {new_array(), request(array_set, 1, {0, 0.5})}},
        // A queue stored in a dict (a ref), read back, its creator's reference let go.
        {"ref_in_dict",
         {new_queue(), new_dict(), request(dict_set, 2, {"q", Object::ref("JoinableQueue", 1)}),
          request(dict_get, 2, {"q"}), request(decref, 1), request(dict_del, 2, {"q"}),
          request(stats, 0)}},
        {"named_objects",
         {request(create, 0, {type_queue, "tasks"}), request(queue_put, 1, {1, false, Object()}),
          request(named_objects, 0)}},
        {"call_method",
         {request(create, 0, {"Counter", Object()}),
          request(call_method, 1, {"echo", Object::list({1, "x", Object::bytes("\x02")})})}},
        // A longer conversation: two objects, a list inside the dict, references let go.
        {"session",
         {new_list(), new_dict(), request(dict_set, 2, {"l", Object::list({1, "x", 2.0})}),
          request(list_extend, 1, {Object::list({-7, 1u << 20})}), request(list_sort, 1),
          request(dict_items, 2), request(incref, 1), request(decref, 1), request(decref, 2),
          request(stats, 0)}},
    };
}

std::string frames(const std::vector<Object>& values) {
    std::string out;
    for (const auto& v : values)
        wire::append_frame(out, v);
    return out;
}

std::string raw_frame(std::string_view payload) {
    std::string out;
    std::size_t start = wire::begin_frame(out);
    out.append(payload);
    wire::end_frame(out, start);
    return out;
}

// The client's answer to the greeting, as a frame.
std::string client_reply(const std::string& proof) {
    return raw_frame(wire::client_answer(
        Object::list({Object::bytes(proof), Object::bytes(fuzz::client_challenge),
                      Object::bytes(fuzz::session)})));
}

std::string valid_proof() {
    return wire::hmac(fuzz::authkey, "client", fuzz::server_challenge, fuzz::client_challenge);
}

[[noreturn]] void invalid(const std::string& seed, const std::string& why) {
    std::fprintf(stderr, "make_seeds: seed %s: %s\n", seed.c_str(), why.c_str());
    std::exit(1);
}

bool is_cancel(const Object& r) {
    return r.as_list()[0].as_int() == wire::cancel;
}

// Each request of the seed succeeds on a fresh store (a cancel, never answered, parks none).
void check_with_store(const Seed& seed) {
    ipckit::detail::Store store;
    store.set_registry(&fuzz::registry());
    std::string out;
    store.open_connection(1, fuzz::session, &out);
    for (const auto& r : seed.requests) {
        std::string payload;
        wire::encode(payload, r);
        out.clear();
        store.handle(1, payload);
        auto answers = fuzz::payloads(out, SIZE_MAX);
        if (is_cancel(r)
                ? !answers.empty()
                : answers.size() != 1 || fuzz::check_answer(payload, answers[0]) != wire::ok) {
            invalid(seed.name, "request " + r.repr() + " was not answered with success");
        }
    }
    store.close_connection(1);
}

// Through the server's read path: authenticated, then every request answered with success.
void check_with_server(const std::string& name, const std::string& stream, std::size_t requests) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) invalid(name, "socketpair");
    if (::send(sv[0], stream.data(), stream.size(), 0) != static_cast<ssize_t>(stream.size()))
        invalid(name, "send");
    ipckit::detail::ServerConfig config;
    config.authkey = fuzz::authkey;
    config.max_frame = 1u << 16;
    config.registry = &fuzz::registry();
    auto outcome = ipckit::detail::serve_connection(sv[1], config, fuzz::server_challenge);
    std::string sent;
    char buffer[65536];
    for (ssize_t n; (n = ::recv(sv[0], buffer, sizeof buffer, MSG_DONTWAIT)) > 0;)
        sent.append(buffer, static_cast<std::size_t>(n));
    ::close(sv[0]);
    if (!outcome.authenticated) invalid(name, "the server refused the handshake");
    auto answers = fuzz::payloads(sent, SIZE_MAX);
    if (answers.size() != requests + 2) invalid(name, "not every request was answered");
    for (std::size_t i = 2; i < answers.size(); ++i) {
        if (wire::decode(answers[i]).as_list().at(0).as_int() != wire::ok)
            invalid(name, "answer " + wire::decode(answers[i]).repr());
    }
}

std::string dictionary();

// A Python client's handshake with the server target (python_server.hpp), then `requests`
// pickled as Python's (ident, method, args, kwds); checked through the server's read path:
// authenticated, every request answered.
void python_seeds(std::map<std::string, std::string>& files) {
    namespace py = ipckit::python;
    std::string greeting = wire::greeting(fuzz::server_challenge);
    std::string handshake =
        raw_frame(py::create_response(fuzz::authkey, wire::python_message(greeting))) +
        raw_frame(std::string(py::challenge_prefix) + "{sha256}" + std::string(40, 'q')) +
        raw_frame(py::welcome);
    auto call = [](Object ident, const char* method, List args) {
        return raw_frame(ipckit::pickle::dumps(Object::tuple(
            {std::move(ident), Object(method), Object::tuple(std::move(args)), Object(Dict())})));
    };
    const std::pair<const char*, std::vector<std::string>> seeds[] = {
        {"python_dummy", {call(Object(), "dummy", {})}},
        {"python_create_dict", {call(Object(), "create", {"dict"})}},
        {"python_create_queue", {call(Object(), "create", {"Queue", 3})}},
        {"python_number_of_objects", {call(Object(), "number_of_objects", {})}},
        {"python_accept_connection",
         {call(Object(), "accept_connection", {"MainProcess"}), call(Object("1"), "__str__", {})}},
    };
    for (const auto& [name, requests] : seeds) {
        std::string stream = handshake;
        for (const auto& r : requests)
            stream += r;
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            invalid(name, "socketpair");
        if (::send(sv[0], stream.data(), stream.size(), 0) != static_cast<ssize_t>(stream.size()))
            invalid(name, "send");
        ipckit::detail::ServerConfig config;
        config.authkey = fuzz::authkey;
        config.max_frame = 1u << 16;
        auto outcome = ipckit::detail::serve_connection(sv[1], config, fuzz::server_challenge);
        std::string sent;
        char buffer[65536];
        for (ssize_t n; (n = ::recv(sv[0], buffer, sizeof buffer, MSG_DONTWAIT)) > 0;)
            sent.append(buffer, static_cast<std::size_t>(n));
        ::close(sv[0]);
        if (!outcome.authenticated) invalid(name, "the server refused the Python handshake");
        auto answers = fuzz::payloads(sent, SIZE_MAX);
        if (answers.size() != 3 + requests.size()) invalid(name, "not every request was answered");
        files[std::string("corpus/server/") + name] = stream;
    }
    files["corpus/server/python_wrong_key"] =
        raw_frame(py::create_response("not the key", wire::python_message(greeting)));
}

std::map<std::string, std::string> corpus() {
    std::map<std::string, std::string> files;
    for (const auto& seed : seeds()) {
        check_with_store(seed);
        files[std::string("corpus/frame/") + seed.name] = frames(seed.requests);
        std::string stream = client_reply(valid_proof()) + frames(seed.requests);
        check_with_server(
            seed.name, stream,
            static_cast<std::size_t>(std::count_if(seed.requests.begin(), seed.requests.end(),
                                                   [](const Object& r) { return !is_cancel(r); })));
        files[std::string("corpus/server/") + seed.name] = stream;
    }
    // The server's refusal path: a proof made with another key.
    files["corpus/server/wrong_proof"] =
        client_reply(
            wire::hmac("not the key", "client", fuzz::server_challenge, fuzz::client_challenge)) +
        frames({request(wire::ping, 0)});
    python_seeds(files);
    // What a server may send a connecting client (fuzz_handshake.cpp).
    std::string hello = raw_frame(wire::greeting(fuzz::server_challenge));
    files["corpus/handshake/forged_proof"] =
        hello + frames({Object::list({true, Object::bytes(std::string(32, '\0'))})});
    files["corpus/handshake/refusal"] =
        hello + frames({Object::list({false, "authentication failed: wrong authkey"})});
    files["corpus/handshake/greeting_only"] = hello;
    std::string other = wire::greeting(fuzz::server_challenge);
    other[other.find("ipckit1")] = 'I';
    files["corpus/handshake/other_version"] = raw_frame(other);
    files["corpus/handshake/python_server"] =
        raw_frame(std::string(ipckit::python::challenge_prefix) + "{sha256}" +
                  std::string(40, 'p')) +
        raw_frame(ipckit::python::welcome);
    files["corpus/handshake/not_a_manager"] =
        frames({Object::list({"http", 1, Object::bytes(fuzz::server_challenge)})});
    // Python's values (fuzz_pickle.cpp), as ipckit and Python 3.11's pickle.dumps(v, 2) write them.
    namespace pickle = ipckit::pickle;
    files["corpus/pickle/scalars"] = pickle::dumps(Object::list(
        {Object(), true, false, 1, -70000, 1.5, "text", Object::bytes("b"), Object::bytearray("ba"),
         Object::integer("-123456789012345678901234567890")}));
    files["corpus/pickle/containers"] = pickle::dumps(
        Object(Dict{{"t", Object::tuple({1, Object::tuple({}), Object::tuple({1, 2, 3, 4})})},
                    {Object::tuple({1, 2}), Object::set({1, "a"})},
                    {"f", Object::frozenset({3})},
                    {"l", Object::list({Object::list({}), Object(Dict{})})}}));
    files["corpus/pickle/exception"] = pickle::dumps(pickle::make_exception("KeyError", {"x"}));
    files["corpus/pickle/token"] =
        pickle::dumps(pickle::make_token({"dict", Object::tuple({"127.0.0.1", 5000}), "7f00"}));
    // Python 3.11's pickle.dumps([Point(1, 2)], 4) of a class ipckit does not know, and
    // pickle.dumps([{1, 2}, b, b], 2) with b = b'ab' (set and bytes as protocol 2 writes them).
    auto unhex = [](std::string_view hex) {
        std::string out;
        for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
            out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
        return out;
    };
    files["corpus/pickle/opaque"] = unhex(
        "8004952d000000000000005d948c085f5f6d61696e5f5f948c05506f696e749493942981947d94288c0178"
        "944b018c0179944b027562612e");
    files["corpus/pickle/protocol2"] = unhex(
        "80025d710028635f5f6275696c74696e5f5f0a7365740a71015d7102284b014b0265857103527104635f63"
        "6f646563730a656e636f64650a710558020000006162710658060000006c6174696e317107867108527109"
        "6809652e");
    for (const auto& [name, bytes] : files) {
        if (name.rfind("corpus/pickle/", 0) == 0) {
            try {
                (void)pickle::loads(bytes);
            } catch (const ipckit::ValueError& e) {
                invalid(name, e.what());
            }
        }
    }
    // What a multiprocessing.connection peer sends (fuzz_python_handshake.cpp).
    auto message = [](std::string_view payload) {
        std::string out;
        ipckit::python::append_message(out, payload);
        return out;
    };
    files["corpus/python_handshake/modern"] =
        message("#CHALLENGE#{sha256}" + std::string(40, 'r')) + message(ipckit::python::welcome);
    files["corpus/python_handshake/legacy"] =
        message("#CHALLENGE#" + std::string(20, 'r')) + message(ipckit::python::welcome);
    files["corpus/python_handshake/answer"] =
        message("{sha256}" + std::string(32, 'h')) + message(ipckit::python::failure);
    files["corpus/python_handshake/md5_answer"] = message(std::string(16, 'h'));
    files["manager.dict"] = dictionary();
    return files;
}

// libFuzzer's dictionary format: name="bytes", non-printable bytes as \xNN.
std::string dictionary_entry(const std::string& name, std::string_view bytes) {
    std::string line = name + "=\"";
    const char* digits = "0123456789abcdef";
    for (unsigned char c : bytes) {
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            line += static_cast<char>(c);
        } else {
            line += "\\x";
            line += digits[c >> 4];
            line += digits[c & 15];
        }
    }
    return line + "\"\n";
}

std::string dictionary() {
    std::string out =
        "# libFuzzer dictionary of the manager's wire, written by make_seeds.cpp: do not edit.\n";
    const std::pair<const char*, const char*> types[] = {
        {"nil", "\xc0"},     {"false", "\xc2"},   {"true", "\xc3"},    {"bin8", "\xc4"},
        {"bin16", "\xc5"},   {"bin32", "\xc6"},   {"float32", "\xca"}, {"float64", "\xcb"},
        {"uint8", "\xcc"},   {"uint16", "\xcd"},  {"uint32", "\xce"},  {"uint64", "\xcf"},
        {"int8", "\xd0"},    {"int16", "\xd1"},   {"int32", "\xd2"},   {"int64", "\xd3"},
        {"str8", "\xd9"},    {"str16", "\xda"},   {"str32", "\xdb"},   {"array16", "\xdc"},
        {"array32", "\xdd"}, {"map16", "\xde"},   {"map32", "\xdf"},   {"never_used", "\xc1"},
        {"ext8", "\xc7"},    {"fixext1", "\xd4"},
    };
    for (const auto& [name, byte] : types)
        out += dictionary_entry(name, byte);
    const std::pair<const char*, std::string> values[] = {
        {"int64_max", std::string("\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 9)},
        {"above_int64_max", std::string("\xcf\x80\x00\x00\x00\x00\x00\x00\x00", 9)},
        {"int64_min", std::string("\xd3\x80\x00\x00\x00\x00\x00\x00\x00", 9)},
        {"int32_max_plus_one", std::string("\xcf\x00\x00\x00\x00\x80\x00\x00\x00", 9)},
        {"nan", std::string("\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", 9)},
        {"array32_huge", std::string("\xdd\xff\xff\xff\xff", 5)},
        {"map32_huge", std::string("\xdf\xff\xff\xff\xff", 5)},
        {"str32_huge", std::string("\xdb\xff\xff\xff\xff", 5)},
        {"bin_challenge", std::string("\xc4\x20", 2)},
        {"bin_session", std::string("\xc4\x10", 2)},
        {"frame_header", std::string("\x00\x00\x00\x03", 4)},
        {"frame_header_handshake_limit", std::string("\x00\x00\x04\x00", 4)},
        {"frame_header_limit", std::string("\x00\x01\x00\x00", 4)},
        {"frame_header_over", std::string("\x00\x01\x00\x01", 4)},
        {"magic", std::string(wire::magic)},
        {"ref_to_object_1", std::string("\xc7\x0dR\x00\x00\x00\x00\x00\x00\x00\x01Queue", 16)},
        {"answer_marker", std::string(wire::answer_marker)},
        {"greeting_marker", std::string(wire::greeting_marker)},
        {"python_challenge", std::string(ipckit::python::challenge_prefix)},
        {"python_welcome", std::string(ipckit::python::welcome)},
        {"python_sha256", std::string("{sha256}")},
    };
    for (const auto& [name, bytes] : values)
        out += dictionary_entry(name, bytes);
    // [op, 1, ...]: the head of each request of the seeds, on the object the seeds create.
    for (const auto& seed : seeds()) {
        const auto& last = seed.requests.back().as_list();
        std::string head;
        head += static_cast<char>(0x90 | last.size());
        wire::encode(head, last[0]);
        wire::encode(head, last[1]);
        out += dictionary_entry(std::string("request_") + seed.name, head);
    }
    return out;
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

int main(int argc, char** argv) {
    bool check = argc == 3 && std::string(argv[1]) == "--check";
    if (argc != 2 && !check) {
        std::fprintf(stderr, "usage: make_seeds [--check] tests/fuzz\n");
        return 2;
    }
    fs::path dir(argv[argc - 1]);
    auto files = corpus();
    if (!check) {
        for (const auto& [name, bytes] : files) {
            fs::create_directories((dir / name).parent_path());
            std::ofstream(dir / name, std::ios::binary) << bytes;
        }
        std::printf("wrote %zu files under %s\n", files.size(), dir.c_str());
        return 0;
    }
    int problems = 0;
    for (const auto& [name, bytes] : files) {
        if (!fs::exists(dir / name)) {
            std::fprintf(stderr, "missing seed %s\n", name.c_str());
            ++problems;
        } else if (read_file(dir / name) != bytes) {
            std::fprintf(stderr, "seed %s differs from what make_seeds writes\n", name.c_str());
            ++problems;
        }
    }
    for (const auto& entry : fs::recursive_directory_iterator(dir / "corpus")) {
        if (!entry.is_regular_file()) continue;
        auto name = fs::relative(entry.path(), dir).string();
        if (!files.count(name)) {
            std::fprintf(stderr, "unexpected file %s (crash inputs go to tests/fuzz/crashes)\n",
                         name.c_str());
            ++problems;
        }
    }
    if (problems) {
        std::fprintf(stderr, "regenerate: make_seeds %s\n", dir.c_str());
        return 1;
    }
    std::printf("%zu files (seeds each answered with success), as make_seeds writes them\n",
                files.size());
    return 0;
}
