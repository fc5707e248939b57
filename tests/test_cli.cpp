// The ipckit program: usage, exit codes, and the mq subcommands.
#include <gtest/gtest.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>

#include <regex>
#include <utility>

#include "ipckit/ipckit.hpp"
#include "support.hpp"

namespace sysv = ipckit::sysv;
using ipckit::test::ipckit_program;
using ipckit::test::run;

TEST(Cli, HelpExitsZeroAndListsCommands) {
    auto result = run({ipckit_program(), "--help"});
    EXPECT_EQ(result.exit_code, 0);
    EXPECT_NE(result.out.find("demo"), std::string::npos);
    EXPECT_NE(result.out.find("mq"), std::string::npos);
    for (auto sub : {"ls", "stat", "send", "recv", "rm"}) {
        auto r = run({ipckit_program(), "mq", sub, "--help"});
        EXPECT_EQ(r.exit_code, 0) << sub;
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

TEST(Cli, DemoRunsAndCleansUp) {
    auto r = run({ipckit_program(), "demo"});
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
}
