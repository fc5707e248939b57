// The numbers server and client, in every pairing of ipckit and the handout's Python.
#include <gtest/gtest.h>
#include <sys/msg.h>

#include <algorithm>
#include <csignal>

#include "ipckit/ipckit.hpp"
#include "ipckit/programs/numbers.hpp"
#include "support.hpp"

namespace sysv = ipckit::sysv;
using namespace std::chrono_literals;
using ipckit::test::Child;
using ipckit::test::ipckit_program;
using ipckit::test::python;
using ipckit::test::python_script;
using ipckit::test::QueueGuard;
using ipckit::test::wait_for_queue;
using ipckit::test::wait_until_blocked_in;

namespace {

enum class Impl { cpp, python };

std::string key_text(sysv::Key key) {
    return sysv::format_key(key);
}

Child start_server(Impl impl, sysv::Key key, std::vector<std::string> extra = {}) {
    // -u: unbuffered output, so the test can follow it line by line (the program is the same)
    if (impl == Impl::python) {
        return Child({python, "-u", python_script("numbers_server.py"), key_text(key)});
    }
    std::vector<std::string> argv = {ipckit_program(), "numbers", "server", "--key", key_text(key)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return Child(argv);
}

Child start_client(Impl impl, sysv::Key key) {
    if (impl == Impl::python) {
        return Child({python, "-u", python_script("numbers_client.py"), key_text(key)});
    }
    return Child({ipckit_program(), "numbers", "client", "--key", key_text(key)});
}

struct Pairing {
    Impl server;
    Impl client;
};

class NumbersPairing : public testing::TestWithParam<Pairing> {};

}  // namespace

TEST_P(NumbersPairing, ClientPrintsWhatTheServerSends) {
    auto [server_impl, client_impl] = GetParam();
    sysv::Key key = sysv::random_key();
    QueueGuard guard{key};
    auto server = start_server(server_impl, key);
    ASSERT_TRUE(wait_for_queue(key));
    auto client = start_client(client_impl, key);
    // Each input line, and what the client has printed once the server handled it. The
    // handout's Python server re-sends the previous value after a bad line.
    const bool py = server_impl == Impl::python;
    struct Step {
        std::string line;
        std::string printed;
    };
    const std::vector<Step> steps = {{"5", "received: 5\n"},
                                     {"abc", py ? "received: 5\n" : ""},
                                     {"-7", "received: -7\n"},
                                     {" 1_000 ", "received: 1000\n"},
                                     {"", py ? "received: 1000\n" : ""},
                                     {"12345678901234567890", "received: 12345678901234567890\n"},
                                     {"0", "exiting.\n"}};
    std::string expected;
    int input_errors = 0;
    for (const auto& step : steps) {
        // One line at a time, once the client waits: the handout's Python server removes
        // the queue right after sending 0, and only a waiting receiver is sure to get it.
        ASSERT_TRUE(wait_until_blocked_in(client.pid(), "msgrcv")) << step.line;
        server.write(step.line + "\n");
        if (step.line == "0") break;
        if (!ipckit::programs::python_int(step.line)) {
            ++input_errors;
            std::string errors;
            for (int i = 0; i < input_errors; ++i)
                errors += "Input error, try again!\n";
            ASSERT_EQ(server.read_until(errors), errors);
        }
        expected += step.printed;
        ASSERT_EQ(client.read_until(expected), expected) << step.line;
    }
    auto client_result = client.wait(30s);
    auto server_result = server.wait(30s);
    EXPECT_EQ(server_result.exit_code, 0) << server_result.err;
    EXPECT_EQ(client_result.exit_code, 0) << client_result.err;
    EXPECT_EQ(server_result.out, "Input error, try again!\nInput error, try again!\n");
    expected += "exiting.\n";
    EXPECT_EQ(client_result.out, expected);
    EXPECT_FALSE(ipckit::test::queue_exists(key));
}

INSTANTIATE_TEST_SUITE_P(AllPairings, NumbersPairing,
                         testing::Values(Pairing{Impl::cpp, Impl::cpp},
                                         Pairing{Impl::cpp, Impl::python},
                                         Pairing{Impl::python, Impl::cpp},
                                         Pairing{Impl::python, Impl::python}),
                         [](const auto& param_info) {
                             auto name = [](Impl i) { return i == Impl::cpp ? "Cpp" : "Python"; };
                             return std::string(name(param_info.param.server)) + "Server" +
                                    name(param_info.param.client) + "Client";
                         });

class NumbersFinalZero : public testing::TestWithParam<Impl> {};

TEST_P(NumbersFinalZero, ArrivesEvenWhenTheClientStartsAfterTheServerFinished) {
    sysv::Key key = sysv::random_key();
    QueueGuard guard{key};
    auto server = start_server(Impl::cpp, key, {"--linger", "30"});
    server.write("1\n2\n3\n0\n");
    server.close_stdin();
    // The server has sent everything and now waits, in the kernel, for the queue to drain.
    ASSERT_TRUE(wait_until_blocked_in(server.pid(), "msgsnd"));
    auto client = start_client(GetParam(), key);
    auto client_result = client.wait(30s);
    auto server_result = server.wait(30s);
    EXPECT_EQ(client_result.out, "received: 1\nreceived: 2\nreceived: 3\nexiting.\n");
    EXPECT_EQ(client_result.exit_code, 0) << client_result.err;
    EXPECT_EQ(server_result.exit_code, 0) << server_result.err;
    EXPECT_EQ(server_result.err, "");
    EXPECT_FALSE(ipckit::test::queue_exists(key));
}

INSTANTIATE_TEST_SUITE_P(BothClients, NumbersFinalZero, testing::Values(Impl::cpp, Impl::python),
                         [](const auto& param_info) {
                             return param_info.param == Impl::cpp ? "CppClient" : "PythonClient";
                         });

TEST(Numbers, EndOfInputCountsAsZero) {
    sysv::Key key = sysv::random_key();
    QueueGuard guard{key};
    auto server = start_server(Impl::cpp, key);
    ASSERT_TRUE(wait_for_queue(key));
    auto client = start_client(Impl::cpp, key);
    server.write("4\n");
    server.close_stdin();
    EXPECT_EQ(client.wait(30s).out, "received: 4\nexiting.\n");
    EXPECT_EQ(server.wait(30s).exit_code, 0);
}

TEST(Numbers, ServerGivesUpLingeringWithoutAClient) {
    sysv::Key key = sysv::random_key();
    QueueGuard guard{key};
    auto server = start_server(Impl::cpp, key, {"--linger", "0.1"});
    server.write("1\n0\n");
    auto result = server.wait(30s);
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_NE(result.err.find("did not take the last 2 message(s)"), std::string::npos)
        << result.err;
    EXPECT_FALSE(ipckit::test::queue_exists(key));
}

TEST(Numbers, ClientWithoutServerFailsClearly) {
    sysv::Key key = sysv::random_key();
    auto client = start_client(Impl::cpp, key);
    auto result = client.wait(30s);
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.err.find("no such queue (is the server running?"), std::string::npos)
        << result.err;
    EXPECT_NE(result.err.find(sysv::format_key(key)), std::string::npos) << result.err;
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

TEST(Numbers, ClientReportsQueueRemovedUnderIt) {
    sysv::MessageQueue mq(std::nullopt);
    mq.set_auto_remove(true);
    auto client = start_client(Impl::cpp, mq.key());
    ASSERT_TRUE(wait_until_blocked_in(client.pid(), "msgrcv"));
    mq.send("3");
    ASSERT_TRUE(wait_until_blocked_in(client.pid(), "msgrcv"));
    mq.remove();
    auto result = client.wait(30s);
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_EQ(result.out, "received: 3\n");
    EXPECT_NE(result.err.find("was removed before the server sent 0"), std::string::npos)
        << result.err;
}

TEST(Numbers, SignalStopsTheServerAndRemovesTheQueue) {
    sysv::Key key = sysv::random_key();
    QueueGuard guard{key};
    auto server = start_server(Impl::cpp, key);
    ASSERT_TRUE(wait_for_queue(key));
    ASSERT_TRUE(wait_until_blocked_in(server.pid(), "read"));
    server.signal(SIGTERM);
    auto result = server.wait(30s);
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.err.find("stopped by signal"), std::string::npos) << result.err;
    EXPECT_FALSE(ipckit::test::queue_exists(key));
}

TEST(Numbers, ParsesIntegersExactlyAsPythonsInt) {
    const std::vector<std::string> inputs = {
        "0",   "-0",  "+5",  "007", " 42 ", "\t-3\n", "1_000", "1__0",
        "_1",  "1_",  "1.5", "",    "  ",   "abc",    "0x10",  "12345678901234567890123",
        "- 1", "+-1", "1e3", "--1", "0_0",  "9_999"};
    std::string script =
        "import sys\nfor s in sys.stdin.read().split('\\0'):\n"
        "    try: print(str(int(s)))\n"
        "    except ValueError: print('error')\n";
    std::string input;
    std::string expected;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        input += inputs[i] + (i + 1 < inputs.size() ? std::string(1, '\0') : "");
        expected += ipckit::programs::python_int(inputs[i]).value_or("error") + "\n";
    }
    auto result = ipckit::test::run({python, "-c", script}, input);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(expected, result.out);
}
