// libFuzzer target: the manager server's read path -- FrameReader, the handshake's
// authenticate step, then requests -- fed arbitrary bytes over a real socket, as a client
// would send them right after connecting (detail::serve_connection, server.hpp).
//
// The server greets with fuzz::server_challenge and knows fuzz::authkey, so that a seed can
// carry a valid proof (corpus/server, written by make_seeds.cpp) and reach the store.
// Invariants: the greeting comes first; without a valid proof nothing is answered but
// [false, message]; with one, the server proves the key and then answers requests in order,
// each once and well-formed (fuzz_support.hpp); when the connection ends, its session and
// anonymous objects are gone. Build and run: tests/fuzz/run.sh [SECONDS]
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "ipckit/pickle.hpp"
#include "ipckit/python_connection.hpp"
#include "manager/server.hpp"
#include "manager/wire.hpp"

namespace wire = ipckit::detail::wire;
namespace fuzz = ipckit::fuzz;
using ipckit::Object;

namespace {

constexpr std::size_t max_frame = 1u << 16;
constexpr std::size_t max_input = 1u << 16;  // fits in the socket's buffer: no writer thread

// A client that answered the greeting as a Python client does (python_server.hpp): the
// server welcomes or refuses it, answers its challenge, and then answers each request with
// a pickled (kind, value) pair of Python's Server.
int check_python(bool authenticated, const std::vector<std::string>& requests,
                 const std::vector<std::string>& answers) {
    namespace py = ipckit::python;
    if (answers.size() >= 2 && answers[1] != py::welcome && answers[1] != py::failure) {
        fuzz::fail("a Python client was answered neither #WELCOME# nor #FAILURE#");
    }
    if (answers.size() >= 2 && answers[1] == py::failure && answers.size() > 2) {
        fuzz::fail("answers after #FAILURE#");
    }
    if (!authenticated) {
        if (answers.size() > 3) fuzz::fail("answers to an unauthenticated Python client");
        return 0;
    }
    // Unless a later frame of the same read broke the protocol: then the connection is dropped
    // with its answers unsent (as for an ipckit client, below).
    if (answers.size() < 2) return 0;
    if (answers[1] != py::welcome) fuzz::fail("authenticated unwelcomed");
    if (requests.size() < 2) fuzz::fail("authenticated without the client's challenge");
    if (answers.size() >= 3) {
        std::string_view challenge =
            std::string_view(requests[1]).substr(py::challenge_prefix.size());
        if (!py::verify_response(fuzz::authkey, challenge, answers[2])) {
            fuzz::fail("the server's answer to the client's challenge is wrong");
        }
    }
    for (std::size_t i = 3; i < answers.size(); ++i) {
        Object reply = ipckit::pickle::loads(answers[i]);
        if (!reply.is_tuple() || reply.as_tuple().size() != 2 || !reply.as_tuple()[0].is_string()) {
            fuzz::fail("a reply is not (kind, value): " + reply.repr());
        }
        const std::string& kind = reply.as_tuple()[0].as_string();
        if (kind != "#RETURN" && kind != "#ERROR" && kind != "#TRACEBACK" && kind != "#PROXY" &&
            kind != "#UNSERIALIZABLE") {
            fuzz::fail("unknown reply kind " + kind);
        }
    }
    return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > max_input) return 0;
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) fuzz::fail("socketpair");
    std::string_view input(reinterpret_cast<const char*>(data), size);
    for (std::string_view rest = input; !rest.empty();) {
        ssize_t n = ::send(sv[0], rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n <= 0) fuzz::fail("cannot write the input to the server's socket");
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    ipckit::detail::ServerConfig config;
    config.authkey = fuzz::authkey;
    config.max_frame = max_frame;
    config.registry = &fuzz::registry();
    auto outcome = ipckit::detail::serve_connection(sv[1], config, fuzz::server_challenge);
    std::string sent;  // everything the server sent (it has closed its end)
    char buffer[65536];
    for (;;) {
        ssize_t n = ::recv(sv[0], buffer, sizeof buffer, MSG_DONTWAIT);
        if (n <= 0) break;
        sent.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(sv[0]);

    if (outcome.objects != outcome.named) fuzz::fail("anonymous objects outlive the connection");
    if (outcome.sessions != 0) fuzz::fail("a session outlives its connection");
    auto answers = fuzz::payloads(sent, SIZE_MAX);
    if (answers.empty()) fuzz::fail("no greeting");
    if (answers[0] != wire::greeting(fuzz::server_challenge)) {
        fuzz::fail("unexpected greeting " + Object::bytes(answers[0]).repr());
    }
    auto requests = fuzz::payloads(input, wire::handshake_max_frame);
    if (!requests.empty() &&
        requests[0].substr(0, wire::answer_marker.size()) != wire::answer_marker) {
        return check_python(outcome.authenticated, requests, answers);
    }
    if (!outcome.authenticated) {
        // At most a refusal, and only to a well-formed handshake reply.
        if (answers.size() > 2) fuzz::fail("answers to an unauthenticated client");
        if (answers.size() == 2) {
            Object refusal = wire::decode(answers[1]);
            if (!refusal.is_list() || refusal.as_list().size() != 2 ||
                !refusal.as_list()[0].is_bool() || refusal.as_list()[0].as_bool() ||
                !refusal.as_list()[1].is_string()) {
                fuzz::fail("unexpected refusal " + refusal.repr());
            }
        }
        return 0;
    }
    // Authenticated: the client's reply was the first frame. The server proves the key --
    // unless a later frame of the same read broke the protocol: then the connection is
    // dropped with its answers unsent.
    if (requests.empty()) fuzz::fail("authenticated without a handshake reply");
    if (answers.size() < 2) return 0;
    Object reply = wire::parse_client_answer(requests[0]);
    const std::string& client_challenge = reply.as_list().at(1).as_bytes();
    Object proof = wire::decode(answers[1]);
    std::string expected =
        wire::hmac(fuzz::authkey, "server", client_challenge, fuzz::server_challenge);
    if (proof.repr() != Object::list({true, Object::bytes(expected)}).repr()) {
        fuzz::fail("unexpected server proof " + proof.repr());
    }
    // The requests after the handshake (cut with the limit that applies after it), each
    // paired with its answer; the server may have stopped early (a malformed frame, a
    // shutdown, or answers beyond what the socket could hold).
    auto after = fuzz::payloads(input.substr(4 + requests[0].size()), max_frame);
    if (answers.size() - 2 > after.size()) fuzz::fail("more answers than requests");
    // Answers pair with requests one to one until the first request that may be parked (an
    // op of the queue, lock, event and barrier types) or is a cancel (never answered): from
    // there on, which request an answer belongs to depends on the store's parking state,
    // which fuzz_frame models; here the later answers are only checked for their shape.
    std::size_t paired = after.size();
    for (std::size_t i = 0; i < after.size() && paired == after.size(); ++i) {
        try {
            Object r = wire::decode(after[i]);
            if (r.is_list() && r.as_list().size() >= 2 && r.as_list()[0].is_int() &&
                r.as_list()[1].is_int()) {
                std::int64_t op = r.as_list()[0].as_int();
                if (op == wire::cancel || op >= wire::queue_put) paired = i;
            }
        } catch (const ipckit::ValueError&) {
            // malformed: answered with an error, in turn
        }
    }
    for (std::size_t i = 2; i < answers.size(); ++i) {
        if (i - 2 < paired) {
            fuzz::check_answer(after[i - 2], answers[i]);
        } else {
            Object answer = wire::decode(answers[i], wire::max_depth + 8);
            if (!answer.is_list() || answer.as_list().size() != 2 ||
                !answer.as_list()[0].is_int()) {
                fuzz::fail("an answer is not [status, value]: " + answer.repr());
            }
        }
    }
    return 0;
}
