// `ipckit manager queue`, `lock` and `ls` against a real `ipckit manager serve` (issue 11).
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "ipckit/manager.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using ipckit::test::Child;
using ipckit::test::ipckit_program;
using ipckit::test::RunResult;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> program(std::vector<std::string> args) {
    args.insert(args.begin(), ipckit_program());
    return args;
}

// `ipckit manager serve` (tests/support.hpp), with the commands that use it.
class Server : public ipckit::test::ManagerProgram {
  public:
    // `ipckit manager ARGS... --address ADDRESS [-- COMMAND...]`.
    RunResult run(std::vector<std::string> args) const {
        args.insert(args.begin(), "manager");
        auto end = std::find(args.begin(), args.end(), "--");  // options before a command
        args.insert(args.insert(end, address()), "--address");
        return ipckit::test::run(program(args));
    }
    ipckit::Manager connect() const { return ipckit::Manager::connect(address(), ""); }
    // Waits until `n` calls are parked on the server (its own count, no sleep).
    bool waiting(std::int64_t n) const {
        auto m = connect();
        return ipckit::test::wait_until([&] { return m.stats().at("waiting").as_int() == n; });
    }
};

}  // namespace

TEST(ManagerCli, EveryNewCommandHasHelp) {
    for (const auto& args :
         std::vector<std::vector<std::string>>{{"manager", "queue", "--help"},
                                               {"manager", "queue", "q", "put", "--help"},
                                               {"manager", "queue", "q", "get", "--help"},
                                               {"manager", "lock", "--help"},
                                               {"manager", "ls", "--help"}}) {
        auto r = ipckit::test::run(program(args));
        EXPECT_EQ(r.exit_code, 0) << args[1] << ": " << r.err;
        EXPECT_NE(r.out.find("Usage:"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("--address"), std::string::npos)
            << args[1] << " " << args.back() << ":\n"
            << r.out;
    }
}

TEST(ManagerCli, QueuePutThenGetInOrder) {
    Server server;
    EXPECT_EQ(server.run({"queue", "tasks", "put", "'job 1'"}).exit_code, 0);
    EXPECT_EQ(server.run({"queue", "tasks", "put", "42"}).exit_code, 0);
    EXPECT_EQ(server.run({"queue", "tasks", "put", "[1, 'two']"}).exit_code, 2);  // no lists
    auto first = server.run({"queue", "tasks", "get"});
    EXPECT_EQ(first.exit_code, 0) << first.err;
    EXPECT_EQ(first.out, "'job 1'\n");
    auto second = server.run({"queue", "tasks", "get", "--str"});
    EXPECT_EQ(second.out, "42\n");
    // The queue is the library's named queue.
    auto m = server.connect();
    m.named_queue("tasks").put("from C++");
    EXPECT_EQ(server.run({"queue", "tasks", "get", "--str"}).out, "from C++\n");
}

TEST(ManagerCli, QueueGetOnAnEmptyQueueExitsThreeAfterItsTimeout) {
    Server server;
    auto start = Clock::now();
    auto r = server.run({"queue", "tasks", "get", "--timeout", "0.3"});
    EXPECT_EQ(r.exit_code, 3);
    EXPECT_EQ(r.out, "");
    EXPECT_NE(r.err.find("queue 'tasks' is empty (waited 0.3 s)"), std::string::npos) << r.err;
    EXPECT_GE(Clock::now() - start, 300ms);
    // A name held by another type is an error naming both.
    server.connect().dict("scores");
    auto wrong = server.run({"queue", "scores", "get", "--timeout", "0"});
    EXPECT_EQ(wrong.exit_code, 1);
    EXPECT_NE(wrong.err.find("'scores' is a dict, not a Queue"), std::string::npos) << wrong.err;
    // Bad DATA is bad usage.
    auto bad = server.run({"queue", "tasks", "put", "hello"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("quote strings"), std::string::npos) << bad.err;
}

TEST(ManagerCli, QueueGetWaitsForAPut) {
    Server server;
    Child getter(program({"manager", "queue", "tasks", "get", "--address", server.address()}));
    ASSERT_TRUE(server.waiting(1));  // parked on the server
    EXPECT_EQ(server.run({"queue", "tasks", "put", "7"}).exit_code, 0);
    auto r = getter.wait(30s);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "7\n");
}

TEST(ManagerCli, LockRunsTheCommandAndExitsWithItsStatus) {
    Server server;
    auto r = server.run({"lock", "door", "--", "sh", "-c", "echo inside; exit 7"});
    EXPECT_EQ(r.exit_code, 7);
    EXPECT_EQ(r.out, "inside\n");
    auto killed = server.run({"lock", "door", "--", "sh", "-c", "kill -9 $$"});
    EXPECT_EQ(killed.exit_code, 128 + 9);
    auto missing = server.run({"lock", "door", "--", "/nonexistent/command"});
    EXPECT_EQ(missing.exit_code, 127);
    EXPECT_NE(missing.err.find("cannot run /nonexistent/command"), std::string::npos);
    // Released each time, however the command ended.
    auto m = server.connect();
    auto lock = m.named_lock("door");
    EXPECT_TRUE(lock.acquire(false));
    lock.release();
    EXPECT_EQ(server.run({"lock", "door"}).exit_code, 2);  // no command
}

TEST(ManagerCli, LockIsExclusiveAndReleasedWhenIpckitItselfIsKilled) {
    Server server;
    Child holder(program({"manager", "lock", "door", "--address", server.address(), "--", "sh",
                          "-c", "echo held; read x"}));
    ASSERT_NE(holder.read_until("held").find("held"), std::string::npos);
    // Another holder waits, and gives up after its timeout without running its command.
    auto start = Clock::now();
    auto busy = server.run({"lock", "door", "--timeout", "0.3", "--", "echo", "ran"});
    EXPECT_EQ(busy.exit_code, 3);
    EXPECT_EQ(busy.out, "");
    EXPECT_NE(busy.err.find("lock 'door' not acquired"), std::string::npos) << busy.err;
    EXPECT_GE(Clock::now() - start, 300ms);
    // ipckit killed while its command runs: the server releases the lock, the next holder
    // is told.
    holder.signal(SIGKILL);
    auto after = server.run({"lock", "door", "--timeout", "20", "--", "echo", "ran"});
    EXPECT_EQ(after.exit_code, 0) << after.err;
    EXPECT_EQ(after.out, "ran\n");
    EXPECT_NE(after.err.find("was held by a client that ended without releasing it"),
              std::string::npos)
        << after.err;
    holder.wait(30s);  // closes the orphaned sh's stdin: it ends
}

TEST(ManagerCli, LsPrintsNamedObjectsWithTypeAndSize) {
    Server server;
    auto empty = server.run({"ls"});
    EXPECT_EQ(empty.exit_code, 0) << empty.err;
    EXPECT_EQ(empty.out, "NAME  TYPE  SIZE\n");
    auto m = server.connect();
    m.dict("scores").update({{"a", 1}, {"b", 2}});
    m.named_queue("tasks").put(1);
    m.named_lock("door");
    auto anonymous = m.list({1, 2, 3});  // not listed
    auto r = server.run({"ls"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out,
              "NAME    TYPE   SIZE\n"
              "door    Lock   -\n"
              "scores  dict   2\n"
              "tasks   Queue  1\n");
}

// `manager serve --spin-us N` (the adaptive wait): the server answers with it, sleeps
// again after its spin, and refuses a value out of range (usage, exit 2).
TEST(ManagerCli, ServeWithSpinAnswersAndSleepsAfterItsSpin) {
    ipckit::test::TempDir dir;
    std::string address = "unix:" + dir.path + "/spin.sock";
    ipckit::test::Child server(
        program({"manager", "serve", "--address", address, "--spin-us", "1000"}));
    ASSERT_NE(server.read_until("serving at").find("serving at"), std::string::npos);
    {
        auto m = ipckit::Manager::connect(address, "");
        auto d = m.named_dict("spun");
        for (int i = 0; i < 200; ++i)
            d.set(i, i + 1);
        EXPECT_EQ(d.size(), 200u);
        EXPECT_EQ(d.get(199).as_int(), 200);
    }
    EXPECT_TRUE(ipckit::test::wait_until_state(server.pid(), 'S'));
    server.signal(SIGTERM);
    EXPECT_EQ(server.wait().exit_code, 0);
    auto bad =
        ipckit::test::run(program({"manager", "serve", "--address", address, "--spin-us", "-5"}));
    EXPECT_EQ(bad.exit_code, 2) << bad.err;
}
