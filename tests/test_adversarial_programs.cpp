// The handout's programs under hostile or demanding use (issue 9): no single request stops
// a server, no window deadlocks the time server, every wait of a client is bounded by its
// --timeout, plain clients never print a stale answer, and --replace never takes a live
// server's queue. Real processes on real queues; every queue is removed, even on failure.
#include <gtest/gtest.h>
#include <sys/msg.h>
#include <unistd.h>

#include <csignal>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "ipckit/ipckit.hpp"
#include "support.hpp"

namespace sysv = ipckit::sysv;
using namespace std::chrono_literals;
using ipckit::test::Child;
using ipckit::test::ipckit_program;
using ipckit::test::python;
using ipckit::test::python_script;
using ipckit::test::queue_exists;
using ipckit::test::QueueGuard;
using ipckit::test::RunResult;
using ipckit::test::wait_for_queue;
using ipckit::test::wait_until_blocked_in;

namespace {

std::string key_text(sysv::Key key) {
    return sysv::format_key(key);
}

RunResult run_ipckit(std::vector<std::string> args, const std::string& input = "",
                     std::chrono::milliseconds timeout = 30s) {
    args.insert(args.begin(), ipckit_program());
    return ipckit::test::run(args, input, timeout);
}

Child start_time_server(sysv::Key key, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {ipckit_program(), "time", "server", "--key", key_text(key)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return Child(argv);
}

std::vector<std::string> time_client(sysv::Key key, std::vector<std::string> extra) {
    std::vector<std::string> argv = {ipckit_program(), "time",      "client", "--key",
                                     key_text(key),    "--timeout", "20"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

const std::regex asctime_line(R"([A-Z][a-z]{2} [A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d \d{4})");

// The lines of `text`, and how many of them are asctime answers.
std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}
int count_answers(const std::string& text) {
    int count = 0;
    for (const auto& line : lines_of(text))
        count += std::regex_match(line, asctime_line) ? 1 : 0;
    return count;
}

sysv::QueueInfo info_of(sysv::Key key) {
    return sysv::MessageQueue(key).info();
}

// Polls the kernel's record of the queue (bounded): the server acts asynchronously.
template <class Condition>
bool wait_until(Condition condition, std::chrono::milliseconds timeout = 20s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(2ms);
    }
    return true;
}

// One round trip with a PID-addressed client: once it is answered, the server has taken
// every request sent before it (it serves requests in order).
void round_trip(sysv::Key key) {
    auto result = ipckit::test::run(time_client(key, {"--request", "time"}));
    ASSERT_EQ(result.exit_code, 0) << result.err;
    ASSERT_EQ(count_answers(result.out), 1) << result.out;
}

void stop_time_server(sysv::Key key, Child& server) {
    auto stop = ipckit::test::run(time_client(key, {"--request", "stop"}));
    EXPECT_EQ(stop.exit_code, 0) << stop.err;
    auto result = server.wait(30s);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_FALSE(queue_exists(key));
}

// A time server on a fresh key for each test; its queue is removed even if the test fails.
class TimeServer : public testing::Test {
  protected:
    void start(std::vector<std::string> extra = {}) {
        server_.emplace(start_time_server(key, std::move(extra)));
        ASSERT_TRUE(wait_for_queue(key));
    }
    Child& server() { return *server_; }

    const sysv::Key key = sysv::random_key();
    QueueGuard guard{key};

  private:
    std::optional<Child> server_;
};

// Makes the queue full for any message, even an empty one: the kernel admits a message
// while both the bytes and the count stay within the capacity, so a capacity of 16 bytes
// holding 16 one-byte messages (type 5, which nobody takes) admits nothing.
void fill(sysv::MessageQueue& mq) {
    mq.set_max_size(16);
    for (int i = 0; i < 16; ++i)
        mq.send("x", sysv::type(5), sysv::nonblocking);
    ASSERT_THROW(mq.send(std::string_view{}, sysv::type(5), sysv::nonblocking), ipckit::BusyError);
}

// What every full-queue error must say: the queue, its size, and where to look.
void expect_full_queue_error(const std::string& err, sysv::Key key, std::size_t capacity) {
    EXPECT_NE(err.find("message queue " + key_text(key)), std::string::npos) << err;
    EXPECT_NE(err.find("the queue is full"), std::string::npos) << err;
    EXPECT_NE(err.find("of " + std::to_string(capacity) + " bytes"), std::string::npos) << err;
    EXPECT_NE(err.find("ipckit mq stat " + key_text(key)), std::string::npos) << err;
}

}  // namespace

// --- servers stopped by one input ---

TEST_F(TimeServer, DropsOverLongAndMalformedRequestsAndGoesOnServing) {
    ASSERT_NO_FATAL_FAILURE(start({"--verbose"}));
    ASSERT_TRUE(wait_until_blocked_in(server().pid(), "do_msgrcv"));
    // Longer than the old 2048-byte receive buffer, as long as a message may be, and
    // requests whose payload is not a reply type: any writer may send them.
    const std::string too_long(2049, '7');
    const std::string longest(sysv::message_queue_limits().msgmax, '7');
    for (const std::string& request : {too_long, longest, std::string("abc"), std::string("2"),
                                       std::string("-5"), std::string(1, '\0')}) {
        auto sent = run_ipckit({"mq", "send", key_text(key), "--type", "1", "-"}, request);
        ASSERT_EQ(sent.exit_code, 0) << sent.err;
    }
    round_trip(key);  // still serving
    auto result = ipckit::test::run(time_client(key, {"--request", "time", "--count", "3"}));
    EXPECT_EQ(count_answers(result.out), 3) << result.err;
    EXPECT_EQ(info_of(key).current_messages, 0u);

    auto stop = ipckit::test::run(time_client(key, {"--request", "stop"}));
    EXPECT_EQ(stop.exit_code, 0) << stop.err;
    auto server_result = server().wait(30s);
    EXPECT_EQ(server_result.exit_code, 0) << server_result.err;
    EXPECT_FALSE(queue_exists(key));
    // Each drop is logged with --verbose, and counted.
    EXPECT_NE(server_result.err.find("dropped an over-long request"), std::string::npos)
        << server_result.err;
    EXPECT_NE(server_result.err.find("bad reply type \"abc\""), std::string::npos)
        << server_result.err;
    EXPECT_NE(server_result.err.find("dropped 6 malformed or over-long request(s)"),
              std::string::npos)
        << server_result.err;
}

TEST(NumbersServer, SendsIntegersLongerThan2048DigitsAndRefusesLongerThanAMessage) {
    const sysv::Key key = sysv::random_key();
    QueueGuard guard{key};
    const std::size_t msgmax = sysv::message_queue_limits().msgmax;
    const std::string long_number(3000, '9');
    Child server({ipckit_program(), "numbers", "server", "--key", key_text(key)});
    ASSERT_TRUE(wait_for_queue(key));
    server.write(long_number + "\n" + std::string(msgmax + 1, '8') + "\n42\n0\n");
    server.close_stdin();
    auto client = run_ipckit({"numbers", "client", "--key", key_text(key), "--timeout", "20"});
    auto served = server.wait(30s);
    EXPECT_EQ(client.exit_code, 0) << client.err;
    EXPECT_EQ(client.out, "received: " + long_number + "\nreceived: 42\nexiting.\n");
    EXPECT_EQ(served.exit_code, 0) << served.err;
    // The line too long for one message is refused as any bad line is.
    EXPECT_EQ(served.out, "Input error, try again!\n");
    EXPECT_NE(served.err.find("msgmax"), std::string::npos) << served.err;
    EXPECT_FALSE(queue_exists(key));
}

TEST(NumbersServer, NeverLeavesItsQueueBehindWhenASendFails) {
    // The client never comes and the queue fills: with --timeout the server gives up,
    // and removes the queue.
    const sysv::Key key = sysv::random_key();
    QueueGuard guard{key};
    std::string input;
    const std::string number(4000, '1');
    for (int i = 0; i < 8; ++i)
        input += number + "\n";
    auto served =
        run_ipckit({"numbers", "server", "--key", key_text(key), "--timeout", "0.2"}, input);
    EXPECT_EQ(served.exit_code, 1) << served.err;
    expect_full_queue_error(served.err, key, sysv::message_queue_limits().msgmnb);
    EXPECT_FALSE(queue_exists(key));
}

// --- clients that hang past their timeout ---

TEST_F(TimeServer, WindowsNeverDeadlockTheServer) {
    ASSERT_NO_FATAL_FAILURE(start());
    // Together these clients have far more requests and answers in flight than the
    // queue's 16 KiB hold.
    std::vector<Child> clients;
    for (int i = 0; i < 4; ++i) {
        clients.emplace_back(
            time_client(key, {"--request", "time", "--count", "3000", "--window", "1000"}));
    }
    for (auto& client : clients) {
        auto result = client.wait(30s);
        EXPECT_EQ(result.exit_code, 0) << result.err;
        EXPECT_EQ(count_answers(result.out), 3000);
    }
    EXPECT_EQ(info_of(key).current_messages, 0u);
    stop_time_server(key, server());
}

TEST_F(TimeServer, KeepsTakingRequestsWhileItsRepliesWaitForRoom) {
    // Four clients that each send 1000 requests before reading any answer: together,
    // requests and answers are several times what the queue holds. The server must keep
    // taking requests (its replies wait in its memory until there is room) instead of
    // blocking on a reply while the clients block on their requests.
    ASSERT_NO_FATAL_FAILURE(start());
    std::vector<ipckit::Process> clients;
    for (int i = 0; i < 4; ++i) {
        clients.emplace_back([this] {
            sysv::MessageQueue mq(key);
            const long me = ::getpid();
            try {
                for (int n = 0; n < 1000; ++n)
                    mq.send(std::to_string(me), sysv::type(1), sysv::timeout(20s));
            } catch (const ipckit::BusyError&) {
                ::_exit(2);  // the queue stayed full: the server no longer took requests
            }
            for (int n = 0; n < 1000; ++n) {
                auto answer = mq.receive(sysv::type(me), sysv::timeout(20s));
                if (!std::regex_match(answer.data, asctime_line)) ::_exit(3);
            }
            ::_exit(0);
        });
    }
    for (auto& client : clients)
        client.start();
    for (auto& client : clients) {
        ASSERT_TRUE(client.join(60s));
        EXPECT_EQ(client.exitcode(), 0);
    }
    round_trip(key);
    EXPECT_EQ(info_of(key).current_messages, 0u);
    stop_time_server(key, server());
}

TEST(FullQueue, EveryWaitingCommandHonoursItsTimeout) {
    sysv::MessageQueue mq(std::nullopt);  // nobody serves it
    mq.set_auto_remove(true);
    ASSERT_NO_FATAL_FAILURE(fill(mq));
    const std::size_t capacity = mq.max_size();
    const std::string key = key_text(mq.key());

    auto start = std::chrono::steady_clock::now();
    auto time_client = run_ipckit(
        {"time", "client", "--key", key, "--request", "time", "--timeout", "0.3"}, "", 20s);
    EXPECT_EQ(time_client.exit_code, 1) << time_client.err;
    expect_full_queue_error(time_client.err, mq.key(), capacity);

    auto stop = run_ipckit(
        {"time", "client", "--key", key, "--request", "stop", "--timeout", "0.3"}, "", 20s);
    EXPECT_EQ(stop.exit_code, 1) << stop.err;
    expect_full_queue_error(stop.err, mq.key(), capacity);

    auto send = run_ipckit({"mq", "send", key, "--timeout", "0.3", "hello"}, "", 20s);
    EXPECT_EQ(send.exit_code, 1) << send.err;
    expect_full_queue_error(send.err, mq.key(), capacity);

    auto now = run_ipckit({"mq", "send", key, "--timeout", "0", "hello"}, "", 20s);
    EXPECT_EQ(now.exit_code, 1) << now.err;
    expect_full_queue_error(now.err, mq.key(), capacity);

    // Generous bound (a loaded machine): each command gave up instead of hanging.
    EXPECT_LT(std::chrono::steady_clock::now() - start, 15s);
    EXPECT_GT(mq.current_messages(), 0u);
}

TEST(EmptyQueue, NumbersClientHonoursItsTimeout) {
    sysv::MessageQueue mq(std::nullopt);  // no server sends on it
    mq.set_auto_remove(true);
    auto client =
        run_ipckit({"numbers", "client", "--key", key_text(mq.key()), "--timeout", "0.2"}, "", 20s);
    EXPECT_EQ(client.exit_code, 1) << client.err;
    EXPECT_NE(client.err.find("within the timeout"), std::string::npos) << client.err;
}

// --- plain (handout protocol) clients ---

TEST_F(TimeServer, PlainClientNeverPrintsAnAnswerLeftOnTheQueue) {
    ASSERT_NO_FATAL_FAILURE(start());
    ASSERT_TRUE(wait_until_blocked_in(server().pid(), "do_msgrcv"));
    // An answer of type 3 nobody took (its plain client died before reading it).
    sysv::MessageQueue mq(key);
    mq.send("Stale Answer Of A Dead Client", sysv::type(3));
    auto plain = ipckit::test::run(time_client(key, {"--request", "time", "--plain"}));
    EXPECT_EQ(plain.exit_code, 0) << plain.err;
    EXPECT_EQ(plain.out.find("Stale"), std::string::npos) << plain.out;
    EXPECT_EQ(count_answers(plain.out), 1) << plain.out;
    round_trip(key);  // the server has answered every request before it
    EXPECT_EQ(mq.current_messages(), 0u) << "an answer is left for a later client";
    stop_time_server(key, server());
}

TEST_F(TimeServer, PlainClientKilledBeforeItsAnswerLeavesNothingForTheNext) {
    ASSERT_NO_FATAL_FAILURE(start());
    ASSERT_TRUE(wait_until_blocked_in(server().pid(), "do_msgrcv"));
    // Hold the server while a plain client asks, kill the client, then let the server
    // answer: the answer stays on the queue, addressed to nobody in particular.
    server().signal(SIGSTOP);
    ASSERT_TRUE(ipckit::test::wait_until_state(server().pid(), 'T'));
    {
        Child plain(time_client(key, {"--request", "time", "--plain"}));
        ASSERT_TRUE(wait_until_blocked_in(plain.pid(), "do_msgrcv"));
        EXPECT_EQ(info_of(key).current_messages, 1u);  // its request
        plain.signal(SIGKILL);
        EXPECT_EQ(plain.wait(30s).exit_code, -SIGKILL);
    }
    server().signal(SIGCONT);
    const pid_t server_pid = server().pid();
    ASSERT_TRUE(wait_until([&] {
        auto info = info_of(key);
        return info.last_send_pid == server_pid && info.current_messages == 1;
    }));  // the orphan answer is on the queue

    auto next = ipckit::test::run(time_client(key, {"--request", "time", "--plain"}));
    EXPECT_EQ(next.exit_code, 0) << next.err;
    EXPECT_EQ(count_answers(next.out), 1) << next.out;
    round_trip(key);
    EXPECT_EQ(info_of(key).current_messages, 0u) << "an answer is left for a later client";

    // The handout's own plain client still works with the server.
    auto py =
        ipckit::test::run({python, python_script("time_client_plain.py"), key_text(key), "2"});
    EXPECT_EQ(py.exit_code, 0) << py.err;
    EXPECT_EQ(count_answers(py.out), 2) << py.out;
    EXPECT_EQ(info_of(key).current_messages, 0u);
    stop_time_server(key, server());
}

// --- --replace ---

TEST_F(TimeServer, ReplaceRefusesALiveServersQueueUnlessForced) {
    ASSERT_NO_FATAL_FAILURE(start());
    ASSERT_TRUE(wait_until_blocked_in(server().pid(), "do_msgrcv"));
    auto refused = start_time_server(key, {"--replace"}).wait(20s);
    EXPECT_EQ(refused.exit_code, 1) << refused.err;
    EXPECT_NE(refused.err.find("is in use"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("--force"), std::string::npos) << refused.err;

    // Right after a client took an answer (the client, now gone, received last).
    round_trip(key);
    refused = start_time_server(key, {"--replace"}).wait(20s);
    EXPECT_EQ(refused.exit_code, 1) << refused.err;
    EXPECT_NE(refused.err.find("is in use"), std::string::npos) << refused.err;

    round_trip(key);  // the first server still serves
    EXPECT_EQ(info_of(key).current_messages, 0u);

    // --force takes the queue over: the old server sees its queue removed and exits.
    auto replacement = start_time_server(key, {"--replace", "--force"});
    auto old = server().wait(30s);
    EXPECT_EQ(old.exit_code, 1);
    ASSERT_TRUE(wait_until_blocked_in(replacement.pid(), "do_msgrcv"));
    round_trip(key);
    stop_time_server(key, replacement);

    auto usage = run_ipckit({"time", "server", "--key", key_text(key), "--force"});
    EXPECT_EQ(usage.exit_code, 2) << usage.err;  // --force needs --replace
    EXPECT_FALSE(queue_exists(key));
}
