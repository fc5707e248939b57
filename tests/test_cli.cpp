// The ipckit program: usage, exit codes, and the mq subcommands.
#include <gtest/gtest.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include <cerrno>
#include <csignal>
#include <filesystem>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "ipckit/ipckit.hpp"
#include "support.hpp"

namespace sysv = ipckit::sysv;
using ipckit::test::ipckit_program;
using ipckit::test::run;

// Every command, and every subcommand of each, is listed in the help (as "  NAME  text"
// under "Subcommands:"), and each one's own --help exits 0.
TEST(Cli, HelpExitsZeroAndListsCommands) {
    const std::vector<std::pair<std::string, std::vector<std::string>>> commands = {
        {"demo", {}},
        {"mq", {"ls", "stat", "send", "recv", "rm"}},
        {"numbers", {"server", "client"}},
        {"time", {"server", "client"}},
        {"sem", {"ls", "stat", "rm"}},
        {"shm", {"ls", "stat", "rm"}},
        {"ls", {}},
        {"fib", {}},
        {"manager", {"serve", "stats", "dict", "shutdown", "queue", "lock", "ls"}},
    };
    auto lists = [](const std::string& help, const std::string& name) {
        auto section = help.find("Subcommands:");
        if (section == std::string::npos) return false;
        const std::regex line("\n  " + name + " +\\S");
        return std::regex_search(help.substr(section), line);
    };
    auto top = run({ipckit_program(), "--help"});
    EXPECT_EQ(top.exit_code, 0) << top.err;
    for (const auto& [command, subcommands] : commands) {
        EXPECT_TRUE(lists(top.out, command)) << command << " is not listed:\n" << top.out;
        auto help = run({ipckit_program(), command, "--help"});
        EXPECT_EQ(help.exit_code, 0) << command << ": " << help.err;
        EXPECT_NE(help.out.find("Usage:"), std::string::npos) << command << ":\n" << help.out;
        for (const auto& sub : subcommands) {
            EXPECT_TRUE(lists(help.out, sub)) << command << " " << sub << " is not listed:\n"
                                              << help.out;
            auto r = run({ipckit_program(), command, sub, "--help"});
            EXPECT_EQ(r.exit_code, 0) << command << " " << sub << ": " << r.err;
            EXPECT_NE(r.out.find("Usage:"), std::string::npos) << command << " " << sub;
        }
    }
}

TEST(Cli, BadUsageExitsTwo) {
    EXPECT_EQ(run({ipckit_program()}).exit_code, 2);
    EXPECT_EQ(run({ipckit_program(), "no-such-command"}).exit_code, 2);
    auto r = run({ipckit_program(), "mq", "stat", "12zz"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("invalid key"), std::string::npos) << r.err;
}

TEST(Cli, MissingQueueIsARuntimeErrorNamingTheKey) {
    sysv::Key key = sysv::random_key();
    auto r = run({ipckit_program(), "mq", "stat", sysv::format_key(key)});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find(sysv::format_key(key)), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("no such queue"), std::string::npos) << r.err;
}

TEST(Cli, MqSendRecvStatLsRm) {
    sysv::MessageQueue mq(std::nullopt);
    mq.set_auto_remove(true);
    std::string key = sysv::format_key(mq.key());
    EXPECT_EQ(run({ipckit_program(), "mq", "send", key, "--type", "5", "hello"}).exit_code, 0);
    EXPECT_EQ(run({ipckit_program(), "mq", "send", key, "-"}, "from stdin").exit_code, 0);
    EXPECT_EQ(mq.current_messages(), 2u);

    auto stat = run({ipckit_program(), "mq", "stat", std::to_string(mq.key())});
    EXPECT_EQ(stat.exit_code, 0);
    EXPECT_NE(stat.out.find("current_messages  2"), std::string::npos) << stat.out;

    auto ls = run({ipckit_program(), "mq", "ls", "--json"});
    EXPECT_EQ(ls.exit_code, 0);
    EXPECT_NE(ls.out.find("\"key\": \"" + key + "\""), std::string::npos) << ls.out;
    auto table = run({ipckit_program(), "mq", "ls"});
    EXPECT_NE(table.out.find(key), std::string::npos);

    auto recv = run({ipckit_program(), "mq", "recv", key, "--type", "5"});
    EXPECT_EQ(recv.exit_code, 0);
    EXPECT_EQ(recv.out, "hello");
    recv = run({ipckit_program(), "mq", "recv", key});
    EXPECT_EQ(recv.out, "from stdin");

    auto timed = run({ipckit_program(), "mq", "recv", key, "--timeout", "0.05"});
    EXPECT_EQ(timed.exit_code, 1);
    EXPECT_NE(timed.err.find("timeout"), std::string::npos) << timed.err;

    auto rm = run({ipckit_program(), "mq", "rm", key});
    EXPECT_EQ(rm.exit_code, 0) << rm.err;
    EXPECT_THROW(mq.info(), ipckit::ExistentialError);
    mq.set_auto_remove(false);
}

// The demo says "every queue, segment and process it made is gone": every object key,
// every process and the manager's socket directory it printed are gone when it exits,
// and no System V object is left that one of its processes used last (for objects it
// did not print). The leak checker (leak_check.cpp) checks the test too.
TEST(Cli, DemoRunsAndCleansUp) {
    ipckit::test::Child demo({ipckit_program(), "demo"});
    const pid_t demo_pid = demo.pid();
    auto r = demo.wait();
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("parent received \"hello through the queue\""), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("parent reads 20000 from the segment (expected 20000)"), std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("client: received: 3\nclient: exiting."), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("(handout protocol, reply type 3)"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("(ipckit fib 10 --via manager):\n[0, 1, 1, 2, 3, 5, 8, 13, 21, 34]"),
              std::string::npos)
        << r.out;
    // Every key the demo printed names nothing any more. (Counting the system's queues
    // before and after was flaky: tests running in parallel create queues too.)
    const std::regex key_pattern("0x[0-9a-f]{8}");
    int keys = 0;
    for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), key_pattern);
         it != std::sregex_iterator(); ++it, ++keys) {
        sysv::Key key = sysv::parse_key(it->str());
        EXPECT_LT(msgget(key, 0), 0) << "message queue " << it->str() << " is still there";
        EXPECT_LT(semget(key, 0, 0), 0) << "semaphore " << it->str() << " is still there";
        EXPECT_LT(shmget(key, 0, 0), 0) << "segment " << it->str() << " is still there";
    }
    EXPECT_GE(keys, 4) << r.out;

    // Every process it printed is gone (reaped, not a zombie).
    const std::regex pid_pattern(R"(\b(?:parent|child|client|server|pid) (\d+))");
    std::set<pid_t> pids{demo_pid};
    for (auto it = std::sregex_iterator(r.out.begin(), r.out.end(), pid_pattern);
         it != std::sregex_iterator(); ++it) {
        pids.insert(static_cast<pid_t>(std::stol((*it)[1].str())));
    }
    EXPECT_GE(pids.size(), 8u) << r.out;  // the demo, its children, servers and clients
    for (pid_t pid : pids) {
        errno = 0;
        EXPECT_TRUE(::kill(pid, 0) != 0 && errno == ESRCH)
            << "process " << pid << " is still there";
    }
    // The manager's private directory (its socket's) is gone.
    std::smatch socket;
    ASSERT_TRUE(std::regex_search(r.out, socket, std::regex(R"(unix:(\S+)/socket)"))) << r.out;
    EXPECT_FALSE(std::filesystem::exists(socket[1].str())) << socket[1].str();
    // No System V object is left that one of those processes used last.
    for (const auto& object : ipckit::test::system_v_objects_used_by(pids))
        ADD_FAILURE() << object << " is still there, used last by a process of the demo";
}
