// libFuzzer target: multiprocessing.connection's authentication (ipckit::python) against a
// hostile peer that sends arbitrary bytes and then stops sending (a socketpair). The serving
// side (deliver_challenge) must refuse -- the input cannot answer its fresh random challenge
// -- with AuthenticationError or ConnectionError; the connecting side (answer_challenge) may
// succeed (a peer can always welcome us) or throw those. Nothing may crash, hang or throw
// anything else. The input is also cut into frames by parse_message, which may only throw
// ValueError.
//
// Corpus: corpus/python_handshake (written by make_seeds.cpp).
// Build and run: tests/fuzz/run.sh [SECONDS]
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.hpp"
#include "ipckit/error.hpp"
#include "ipckit/python_connection.hpp"

namespace fuzz = ipckit::fuzz;
namespace python = ipckit::python;

namespace {

// Runs `side` on one end of a socketpair whose other end has sent `input` and shut down its
// writing half; false when `side` threw one of the expected errors.
template <class Side>
bool against(std::string_view input, Side side) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) fuzz::fail("socketpair");
    int buffer = 1 << 20;
    ::setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    std::string_view rest = input.substr(0, 100000);  // fits the socket's buffer
    while (!rest.empty()) {
        ssize_t n = ::write(sv[1], rest.data(), rest.size());
        if (n <= 0) fuzz::fail("write to the socketpair");
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    ::shutdown(sv[1], SHUT_WR);
    bool ok = true;
    try {
        side(sv[0], std::chrono::steady_clock::now() + std::chrono::seconds(5));
    } catch (const ipckit::AuthenticationError&) {
        ok = false;
    } catch (const ipckit::ConnectionError&) {
        ok = false;
    } catch (const ipckit::BusyError& e) {
        fuzz::fail(std::string("a peer that stopped sending made it wait: ") + e.what());
    }
    ::close(sv[0]);
    ::close(sv[1]);
    return ok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    if (against(input, [](int fd, python::Deadline d) {
            python::deliver_challenge(fd, "fuzz-authkey", d);
        })) {
        fuzz::fail("deliver_challenge accepted a peer that cannot know its challenge");
    }
    against(input,
            [](int fd, python::Deadline d) { python::answer_challenge(fd, "fuzz-authkey", d); });
    std::string_view payload;
    std::size_t consumed = 0;
    try {
        while (python::parse_message(input, 1u << 16, payload, consumed))
            input.remove_prefix(consumed);
    } catch (const ipckit::ValueError&) {
    }
    return 0;
}
