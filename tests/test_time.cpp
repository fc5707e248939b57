// Exercise 2: the time server with many clients, ipckit's and the handout's (Python).
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <optional>
#include <regex>
#include <thread>

#include "ipckit/ipckit.hpp"
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

std::string key_text(sysv::Key key) {
    return sysv::format_key(key);
}

// With merge_log, the server's standard error (its --verbose log) comes with its output.
Child start_server(sysv::Key key, std::vector<std::string> extra = {}, bool merge_log = false) {
    std::vector<std::string> argv = {ipckit_program(), "time", "server", "--key", key_text(key)};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return Child(argv, merge_log);
}

std::vector<std::string> client_argv(sysv::Key key, std::vector<std::string> extra) {
    std::vector<std::string> argv = {ipckit_program(), "time",      "client", "--key",
                                     key_text(key),    "--timeout", "60"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return argv;
}

// Python's time.asctime() shape: "Thu Nov 26 04:19:38 2026" (day padded with a space).
const std::regex asctime_line(R"([A-Z][a-z]{2} [A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d \d{4})");

int count_asctime_lines(const std::string& text) {
    int count = 0;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        if (std::regex_match(text.substr(start, end - start), asctime_line)) ++count;
        start = end + 1;
    }
    return count;
}

std::size_t messages_on(sysv::Key key) {
    msqid_ds ds{};
    int id = ::msgget(key, 0);
    if (id < 0 || ::msgctl(id, IPC_STAT, &ds) != 0) return 0;
    return ds.msg_qnum;
}

// Waits (bounded) until the queue holds no message: the server answers or cleans up
// asynchronously, so the test watches the kernel's count.
bool wait_until_empty(sysv::Key key, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (messages_on(key) == 0) return true;
        std::this_thread::sleep_for(5ms);
    }
    return false;
}

void stop_server(sysv::Key key, Child& server) {
    auto stop = ipckit::test::run(client_argv(key, {"--request", "stop"}));
    EXPECT_EQ(stop.exit_code, 0) << stop.err;
    auto result = server.wait(30s);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_FALSE(ipckit::test::queue_exists(key));
}

// A time server on a fresh key, started before each test; the queue is removed even
// when the test fails.
class TimeServerRunning : public testing::Test {
  protected:
    void SetUp() override {
        server_.emplace(logging() ? start_server(key, {"--verbose"}, true) : start_server(key));
        ASSERT_TRUE(wait_for_queue(key));
    }
    // A logging server's --verbose lines can be read with server().read_until (only for
    // tests with few requests: nothing reads the log while the test runs).
    virtual bool logging() const { return false; }
    Child& server() { return *server_; }

    const sysv::Key key = sysv::random_key();
    QueueGuard guard{key};

  private:
    std::optional<Child> server_;
};

class TimeServerLogging : public TimeServerRunning {
    bool logging() const override { return true; }
};

// The server's log line for a reply it sent (after the send) to this reply type.
std::string replied_line(long reply_type) {
    return "with type " + std::to_string(reply_type) + "\n";
}

pid_t last_receiver(sysv::Key key) {
    msqid_ds ds{};
    int id = ::msgget(key, 0);
    if (id < 0 || ::msgctl(id, IPC_STAT, &ds) != 0) return 0;
    return ds.msg_lrpid;
}

// Waits for every client and checks that client i printed expected[i] answers.
void expect_answers(std::vector<Child>& clients, const std::vector<int>& expected) {
    for (std::size_t i = 0; i < clients.size(); ++i) {
        auto result = clients[i].wait(300s);
        EXPECT_EQ(result.exit_code, 0) << "client " << i << ": " << result.err;
        EXPECT_EQ(count_asctime_lines(result.out), expected[i]) << "client " << i;
    }
}

}  // namespace

TEST_F(TimeServerRunning, AnswersWithAsctimeTextLikePython) {
    auto result = ipckit::test::run(client_argv(key, {"--request", "time", "--count", "3"}));
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(count_asctime_lines(result.out), 3) << result.out;
    auto python_now = ipckit::test::run({python, "-c", "import time; print(time.asctime())"});
    EXPECT_EQ(count_asctime_lines(python_now.out), 1) << python_now.out;
    EXPECT_EQ(result.out.size(), 3 * python_now.out.size());
    stop_server(key, server());
}

TEST_F(TimeServerRunning, AnswersTheHandoutsPlainProtocol) {
    auto py =
        ipckit::test::run({python, python_script("time_client_plain.py"), key_text(key), "2"});
    EXPECT_EQ(py.exit_code, 0) << py.err;
    EXPECT_EQ(count_asctime_lines(py.out), 2) << py.out;
    auto plain = ipckit::test::run(client_argv(key, {"--request", "time", "--plain"}));
    EXPECT_EQ(plain.exit_code, 0) << plain.err;
    EXPECT_EQ(count_asctime_lines(plain.out), 1);
    EXPECT_EQ(messages_on(key), 0u);
    stop_server(key, server());
}

TEST_F(TimeServerRunning, ManyClientsEachGetTheirOwnAnswers) {
    constexpr int cpp_clients = 16, cpp_requests = 1000;
    constexpr int py_clients = 2, py_requests = 300;
    std::vector<Child> clients;
    for (int i = 0; i < cpp_clients; ++i) {
        clients.emplace_back(
            client_argv(key, {"--request", "time", "--count", std::to_string(cpp_requests)}));
    }
    for (int i = 0; i < py_clients; ++i) {
        clients.emplace_back(std::vector<std::string>{python, python_script("time_client_plain.py"),
                                                      key_text(key), std::to_string(py_requests)});
    }
    std::vector<int> expected(cpp_clients, cpp_requests);
    expected.insert(expected.end(), py_clients, py_requests);
    expect_answers(clients, expected);
    // Every request got exactly one answer, and every answer was taken.
    EXPECT_EQ(messages_on(key), 0u);
    stop_server(key, server());
}

TEST_F(TimeServerRunning, PipelinedClientsGetEveryAnswer) {
    std::vector<Child> clients;
    for (int i = 0; i < 4; ++i) {
        clients.emplace_back(
            client_argv(key, {"--request", "time", "--count", "500", "--window", "16"}));
    }
    clients.emplace_back(std::vector<std::string>{python, python_script("time_client_plain.py"),
                                                  key_text(key), "100"});
    expect_answers(clients, {500, 500, 500, 500, 100});
    EXPECT_EQ(messages_on(key), 0u);
    stop_server(key, server());
}

// The server answers a client that died before reading, and then takes its answer back
// (its sweeper): the queue is empty once the answer was sent, not merely before.
TEST_F(TimeServerLogging, ClientKilledBeforeTheAnswerLeavesNothingBehind) {
    ASSERT_TRUE(wait_until_blocked_in(server().pid(), "msgrcv"));
    // Hold the server while a client asks, then kill the waiting client.
    server().signal(SIGSTOP);
    // Only once it is stopped is it off the kernel's list of waiting receivers, which
    // would otherwise be handed the request directly.
    ASSERT_TRUE(ipckit::test::wait_until_state(server().pid(), 'T'));
    pid_t client_pid = 0;
    {
        Child client(client_argv(key, {"--request", "time"}));
        client_pid = client.pid();
        ASSERT_TRUE(wait_until_blocked_in(client.pid(), "msgrcv"));
        EXPECT_EQ(messages_on(key), 1u);  // its request
        client.signal(SIGKILL);
        EXPECT_EQ(client.wait(30s).exit_code, -SIGKILL);
    }
    server().signal(SIGCONT);
    // The server has sent the answer to the dead client...
    auto log = server().read_until(replied_line(client_pid), 60s);
    ASSERT_NE(log.find(replied_line(client_pid)), std::string::npos) << log;
    // ...and takes it back: nobody else receives on this queue.
    EXPECT_TRUE(wait_until_empty(key, 60s));
    EXPECT_EQ(last_receiver(key), server().pid());
    stop_server(key, server());
}

TEST_F(TimeServerLogging, AnswerToAClientThatDiedIsTakenBack) {
    // A client that asks and dies without reading, possibly after the server answered.
    sysv::MessageQueue mq(key);
    std::vector<pid_t> askers;
    for (int i = 0; i < 5; ++i) {
        ipckit::Process asker([&mq] { mq.send(std::to_string(::getpid()), sysv::type(1)); });
        asker.start();
        asker.join();
        EXPECT_EQ(asker.exitcode(), 0);
        askers.push_back(asker.pid());
    }
    // Every answer was sent (the log line follows the send)...
    for (pid_t asker : askers) {
        auto log = server().read_until(replied_line(asker), 60s);
        ASSERT_NE(log.find(replied_line(asker)), std::string::npos) << log;
    }
    // ...and then taken back by the server.
    EXPECT_TRUE(wait_until_empty(key, 60s));
    EXPECT_EQ(last_receiver(key), server().pid());
    stop_server(key, server());
}

TEST(TimeServer, TerminationSignalsRemoveTheQueue) {
    for (int signo : {SIGTERM, SIGINT, SIGHUP}) {
        sysv::Key key = sysv::random_key();
        QueueGuard guard{key};
        auto server = start_server(key);
        ASSERT_TRUE(wait_for_queue(key));
        ASSERT_TRUE(wait_until_blocked_in(server.pid(), "msgrcv"));
        server.signal(signo);
        auto result = server.wait(30s);
        EXPECT_EQ(result.exit_code, 0) << strsignal(signo) << result.err;
        EXPECT_FALSE(ipckit::test::queue_exists(key)) << strsignal(signo);
    }
}

TEST(TimeServer, RefusesAStaleQueueUnlessReplacing) {
    sysv::MessageQueue stale(std::nullopt);
    stale.set_auto_remove(true);
    stale.send("left over");
    auto refused = start_server(stale.key()).wait(30s);
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.err.find("ipckit mq rm " + key_text(stale.key())), std::string::npos)
        << refused.err;
    EXPECT_NE(refused.err.find("--replace"), std::string::npos) << refused.err;
    EXPECT_EQ(stale.current_messages(), 1u);  // untouched

    auto server = start_server(stale.key(), {"--replace"});
    ASSERT_TRUE(wait_until_blocked_in(server.pid(), "msgrcv"));
    EXPECT_THROW(stale.info(), ipckit::ExistentialError);  // the old queue is gone
    auto result = ipckit::test::run(client_argv(stale.key(), {"--request", "time"}));
    EXPECT_EQ(count_asctime_lines(result.out), 1);
    stale.set_auto_remove(false);
    stop_server(stale.key(), server);
}

TEST(TimeClient, FailsClearlyWithoutServer) {
    sysv::Key key = sysv::random_key();
    auto result = ipckit::test::run(client_argv(key, {"--request", "time"}));
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.err.find("no such queue"), std::string::npos) << result.err;

    sysv::MessageQueue silent(std::nullopt);  // a queue nobody serves
    silent.set_auto_remove(true);
    auto timed =
        ipckit::test::run({ipckit_program(), "time", "client", "--key", key_text(silent.key()),
                           "--request", "time", "--timeout", "0.2"});
    EXPECT_EQ(timed.exit_code, 1);
    EXPECT_NE(timed.err.find("no reply from the time server"), std::string::npos) << timed.err;
}

TEST(TimeClient, BadUsageExitsTwo) {
    auto result = ipckit::test::run({ipckit_program(), "time", "client", "--request", "dance"});
    EXPECT_EQ(result.exit_code, 2);
    result = ipckit::test::run({ipckit_program(), "time", "client", "--count", "-3"});
    EXPECT_EQ(result.exit_code, 2);
}

TEST_F(TimeServerRunning, InteractiveClientThroughAPseudoTerminal) {
    int master = -1;
    pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        std::string program = ipckit_program(), k = key_text(key);
        ::execl(program.c_str(), program.c_str(), "time", "client", "--key", k.c_str(), nullptr);
        ::_exit(127);
    }
    // The client is killed and reaped, and the terminal closed, however the test ends.
    struct Client {
        pid_t pid;
        int master;
        ~Client() {
            if (pid > 0) {
                ::kill(pid, SIGKILL);
                ::waitpid(pid, nullptr, 0);
            }
            ::close(master);
        }
    } client{pid, master};
    std::string screen;
    auto read_until = [&](const std::string& text) {
        auto deadline = std::chrono::steady_clock::now() + 30s;
        while (screen.find(text) == std::string::npos &&
               std::chrono::steady_clock::now() < deadline) {
            pollfd fd{master, POLLIN, 0};
            if (::poll(&fd, 1, 1000) <= 0) continue;
            char buffer[1024];
            ssize_t n = ::read(master, buffer, sizeof buffer);
            if (n <= 0) break;
            screen.append(buffer, static_cast<std::size_t>(n));
        }
        return screen.find(text) != std::string::npos;
    };
    auto type = [&](const std::string& text) {
        return ::write(master, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    };
    const std::string prompt = "Message type (1: time request, 2: stop the server): ";
    ASSERT_TRUE(read_until(prompt)) << screen;
    ASSERT_TRUE(type("1\n"));
    ASSERT_TRUE(read_until(" 20")) << screen;  // the year of the answer
    ASSERT_TRUE(type("hello\n"));
    ASSERT_TRUE(read_until("Input error, try again!")) << screen;
    ASSERT_TRUE(type("2\n"));
    ASSERT_TRUE(read_until("stop request sent")) << screen;
    // It exits by itself (bounded: a hang is killed by the guard above, and fails here).
    int status = 0;
    bool exited = ipckit::test::wait_until(
        [&] {
            pid_t r = ::waitpid(pid, &status, WNOHANG);
            return r == pid || (r < 0 && errno != EINTR);
        },
        30s);
    ASSERT_TRUE(exited) << "the interactive client did not exit after the stop request";
    client.pid = -1;  // reaped
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_EQ(count_asctime_lines(std::regex_replace(screen, std::regex("\r"), "")), 1) << screen;
    auto result = server().wait(30s);
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_FALSE(ipckit::test::queue_exists(key));
}
