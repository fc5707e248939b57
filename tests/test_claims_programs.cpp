// The programs' documented options: the handout's default keys (128 for numbers, 129 for
// time), `time server --verbose`, and `manager serve --max-frame`.
#include <gtest/gtest.h>
#include <sys/msg.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/sysv/ipc.hpp"
#include "support.hpp"

using ipckit::Manager;
using ipckit::test::ipckit_program;
using namespace std::chrono_literals;

namespace {

// The default keys are fixed, so they are not unique per run: this is the only test of
// the suite that uses them (both, one after the other, in one test so that they never run
// at the same time), and it refuses to touch a queue that it did not create.
std::string occupied(int key) {
    int id = ::msgget(key, 0);
    if (id < 0) return {};
    return "a message queue with key " + std::to_string(key) + " (id " + std::to_string(id) +
           ") exists already; it is not this test's, so the test refuses to run. Remove it with "
           "`ipcrm -Q " +
           std::to_string(key) + "` if it is stale.";
}

struct TempDir {
    TempDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "ipckit-claims-XXXXXX").string();
        if (::mkdtemp(pattern.data())) path = pattern;
    }
    ~TempDir() {
        std::error_code ec;
        if (!path.empty()) std::filesystem::remove_all(path, ec);
    }
    std::string path;
};

}  // namespace

// One test for both keys, so that the two never run at the same time.
TEST(ClaimsPrograms, NumbersMeetOnKey128AndTimeOnKey129ByDefault) {
    for (int key : {128, 129}) {
        std::string why = occupied(key);
        ASSERT_TRUE(why.empty()) << why;
    }
    {
        // numbers: the server (no --key) creates queue 128; the client (no --key) reads it.
        ipckit::test::QueueGuard guard(128);
        ipckit::test::Child server({ipckit_program(), "numbers", "server"});
        ASSERT_TRUE(ipckit::test::wait_for_queue(128)) << "the server made no queue with key 128";
        ipckit::test::Child client({ipckit_program(), "numbers", "client"});
        server.write("3\n1\n0\n");
        auto received = client.wait(60s);
        auto served = server.wait(60s);
        EXPECT_EQ(received.exit_code, 0) << received.err;
        EXPECT_EQ(received.out, "received: 3\nreceived: 1\nexiting.\n");
        EXPECT_EQ(served.exit_code, 0) << served.err;
        EXPECT_FALSE(ipckit::test::queue_exists(128)) << "the server left queue 128";
    }
    {
        // time: the server (no --key, --verbose) listens on 129; clients (no --key) ask it.
        std::string why = occupied(129);  // again: never remove a queue that is not ours
        ASSERT_TRUE(why.empty()) << why;
        ipckit::test::QueueGuard guard(129);
        ipckit::test::Child server({ipckit_program(), "time", "server", "--verbose"}, true);
        ASSERT_TRUE(ipckit::test::wait_for_queue(129)) << "the server made no queue with key 129";
        EXPECT_NE(server.read_until("listening on message queue 0x00000081\n")
                      .find("listening on message queue 0x00000081\n"),
                  std::string::npos);
        auto asked = ipckit::test::run({ipckit_program(), "time", "client", "--request", "time"});
        EXPECT_EQ(asked.exit_code, 0) << asked.err;
        ASSERT_FALSE(asked.out.empty());
        std::string now = asked.out.substr(0, asked.out.find('\n'));
        // --verbose: the server logged this very request and its answer.
        std::string logged = "time server: time request, replied \"" + now + "\" with type ";
        EXPECT_NE(server.read_until(logged).find(logged), std::string::npos);
        auto stop = ipckit::test::run({ipckit_program(), "time", "client", "--request", "stop"});
        EXPECT_EQ(stop.exit_code, 0) << stop.err;
        auto end = server.wait(60s);
        EXPECT_EQ(end.exit_code, 0) << end.out;
        EXPECT_NE(end.out.find("time server: stop request; removing the queue"), std::string::npos)
            << end.out;
        EXPECT_FALSE(ipckit::test::queue_exists(129)) << "the server left queue 129";
    }
}

// Without --verbose the same exchange logs nothing (on a private key).
TEST(ClaimsPrograms, TimeServerLogsNothingWithoutVerbose) {
    ipckit::sysv::Key key = ipckit::sysv::random_key();
    while (::msgget(key, 0) >= 0)  // free: the server creates the queue itself
        key = ipckit::sysv::random_key();
    std::string k = std::to_string(key);
    ipckit::test::QueueGuard guard(key);
    ipckit::test::Child server({ipckit_program(), "time", "server", "--key", k}, true);
    ASSERT_TRUE(ipckit::test::wait_for_queue(key));
    auto asked =
        ipckit::test::run({ipckit_program(), "time", "client", "--key", k, "--request", "time"});
    EXPECT_EQ(asked.exit_code, 0) << asked.err;
    auto stop =
        ipckit::test::run({ipckit_program(), "time", "client", "--key", k, "--request", "stop"});
    EXPECT_EQ(stop.exit_code, 0) << stop.err;
    auto end = server.wait(60s);
    EXPECT_EQ(end.exit_code, 0);
    EXPECT_EQ(end.out, "") << "logged without --verbose";
}

// --max-frame: a request frame over the limit closes that connection; smaller ones are
// served, and the server goes on serving everybody.
TEST(ClaimsPrograms, ManagerServeMaxFrameClosesOnlyTheOversizedConnection) {
    TempDir dir;
    ASSERT_FALSE(dir.path.empty());
    std::string address = "unix:" + dir.path + "/socket";
    std::string keyfile = dir.path + "/key";
    std::ofstream(keyfile) << "k\n";
    ASSERT_EQ(::chmod(keyfile.c_str(), 0600), 0);  // serve refuses a key others may read
    ipckit::test::Child server({ipckit_program(), "manager", "serve", "--address", address,
                                "--authkey-file", keyfile, "--max-frame", "2048"});
    ASSERT_NE(server.read_until("\n").find(address), std::string::npos);

    auto m = Manager::connect(address, "k");  // the client's own limit stays 64 MiB
    auto d = m.dict("d");
    d["small"] = std::string(1900, 's');  // a frame of about 1.9 KiB: served
    EXPECT_EQ(d.get("small").as_string().size(), 1900u);
    EXPECT_THROW(d["big"] = std::string(2100, 'b'), ipckit::ConnectionError);

    auto other = Manager::connect(address, "k");
    auto seen = other.dict("d");
    EXPECT_EQ(seen.size(), 1u);  // the oversized request was not served
    EXPECT_FALSE(seen.contains("big"));
    EXPECT_EQ(d.get("small").as_string().size(), 1900u);  // a new connection for `m`
    EXPECT_EQ(other.stats().at("connections").as_int(), 2);

    server.signal(SIGTERM);
    auto end = server.wait(30s);
    EXPECT_EQ(end.exit_code, 0) << end.err;
}
