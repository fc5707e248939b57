// The ipckit program's sem, shm and ls subcommands.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <utility>

#include "ipckit/ipckit.hpp"
#include "support.hpp"

namespace sysv = ipckit::sysv;
using ipckit::test::ipckit_program;
using ipckit::test::run;

TEST(SysvCli, HelpOnEverySubcommand) {
    for (auto kind : {"sem", "shm"}) {
        EXPECT_EQ(run({ipckit_program(), kind, "--help"}).exit_code, 0) << kind;
        for (auto sub : {"ls", "stat", "rm"}) {
            auto r = run({ipckit_program(), kind, sub, "--help"});
            EXPECT_EQ(r.exit_code, 0) << kind << " " << sub;
        }
    }
    auto r = run({ipckit_program(), "ls", "--help"});
    EXPECT_EQ(r.exit_code, 0);
    EXPECT_NE(r.out.find("--json"), std::string::npos);
}

TEST(SysvCli, BadUsageExitsTwo) {
    for (auto kind : {"sem", "shm"}) {
        EXPECT_EQ(run({ipckit_program(), kind}).exit_code, 2) << kind;
        EXPECT_EQ(run({ipckit_program(), kind, "stat"}).exit_code, 2) << kind;
        auto r = run({ipckit_program(), kind, "stat", "12zz"});
        EXPECT_EQ(r.exit_code, 2) << kind;
        EXPECT_NE(r.err.find("invalid key"), std::string::npos) << r.err;
        r = run({ipckit_program(), kind, "rm", "--id", "-3"});
        EXPECT_EQ(r.exit_code, 2) << kind;
        EXPECT_NE(r.err.find("invalid id"), std::string::npos) << r.err;
    }
}

TEST(SysvCli, MissingObjectsAreRuntimeErrorsNamingTheKey) {
    sysv::Key key = sysv::random_key();
    auto r = run({ipckit_program(), "sem", "stat", sysv::format_key(key)});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("semaphore " + sysv::format_key(key)), std::string::npos) << r.err;
    r = run({ipckit_program(), "shm", "rm", sysv::format_key(key)});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("shared memory segment " + sysv::format_key(key)), std::string::npos)
        << r.err;
    r = run({ipckit_program(), "sem", "rm", "--id", "2147483600"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no such semaphore"), std::string::npos) << r.err;
}

TEST(SysvCli, SemLsStatRm) {
    sysv::Semaphore sem(std::nullopt, sysv::IPC_CREX, 0640, 3);
    sem.set_auto_remove(true);
    std::string key = sysv::format_key(sem.key());

    auto ls = run({ipckit_program(), "sem", "ls"});
    EXPECT_EQ(ls.exit_code, 0);
    EXPECT_NE(ls.out.find(key), std::string::npos) << ls.out;

    auto json = run({ipckit_program(), "sem", "ls", "--json"});
    EXPECT_EQ(json.exit_code, 0);
    EXPECT_NE(json.out.find("{\"key\": \"" + key + "\", \"id\": " + std::to_string(sem.id())),
              std::string::npos)
        << json.out;
    EXPECT_NE(json.out.find("\"mode\": \"0640\""), std::string::npos) << json.out;
    EXPECT_NE(json.out.find("\"value\": 3"), std::string::npos) << json.out;

    auto stat = run({ipckit_program(), "sem", "stat", std::to_string(sem.key())});
    EXPECT_EQ(stat.exit_code, 0) << stat.err;
    EXPECT_NE(stat.out.find("value               3"), std::string::npos) << stat.out;
    EXPECT_NE(stat.out.find("mode                0640"), std::string::npos) << stat.out;
    auto by_id = run({ipckit_program(), "sem", "stat", "--id", std::to_string(sem.id())});
    EXPECT_EQ(by_id.out, stat.out);

    auto rm = run({ipckit_program(), "sem", "rm", key});
    EXPECT_EQ(rm.exit_code, 0) << rm.err;
    EXPECT_NE(rm.out.find("removed semaphore " + key), std::string::npos) << rm.out;
    EXPECT_THROW(sem.value(), ipckit::ExistentialError);
}

TEST(SysvCli, ShmLsStatRm) {
    sysv::SharedMemory shm(std::nullopt, sysv::IPC_CREX, 0600, 12345);
    shm.set_auto_remove(true);
    std::string key = sysv::format_key(shm.key());

    auto json = run({ipckit_program(), "shm", "ls", "--json"});
    EXPECT_EQ(json.exit_code, 0);
    EXPECT_NE(json.out.find("{\"key\": \"" + key + "\", \"id\": " + std::to_string(shm.id())),
              std::string::npos)
        << json.out;
    EXPECT_NE(json.out.find("\"size\": 12345, \"number_attached\": 1"), std::string::npos)
        << json.out;

    auto stat = run({ipckit_program(), "shm", "stat", key});
    EXPECT_EQ(stat.exit_code, 0) << stat.err;
    EXPECT_NE(stat.out.find("size              12345"), std::string::npos) << stat.out;
    EXPECT_NE(stat.out.find("creator_pid       " + std::to_string(::getpid())), std::string::npos)
        << stat.out;

    auto rm = run({ipckit_program(), "shm", "rm", "--id", std::to_string(shm.id())});
    EXPECT_EQ(rm.exit_code, 0) << rm.err;
    EXPECT_TRUE(shm.info().removed);  // gone once we detach
}

TEST(SysvCli, LsListsAllThreeKinds) {
    sysv::MessageQueue mq(std::nullopt);
    mq.set_auto_remove(true);
    sysv::Semaphore sem(std::nullopt);
    sem.set_auto_remove(true);
    sysv::SharedMemory shm(std::nullopt);
    shm.set_auto_remove(true);

    auto table = run({ipckit_program(), "ls"});
    EXPECT_EQ(table.exit_code, 0);
    for (auto [kind, key] :
         {std::pair{"queue", mq.key()}, std::pair{"sem", sem.key()}, std::pair{"shm", shm.key()}}) {
        auto at = table.out.find(sysv::format_key(key));
        ASSERT_NE(at, std::string::npos) << table.out;
        auto line_start = table.out.rfind('\n', at) + 1;
        EXPECT_EQ(table.out.compare(line_start, std::strlen(kind), kind), 0) << table.out;
    }

    auto json = run({ipckit_program(), "ls", "--json"});
    EXPECT_EQ(json.exit_code, 0);
    auto queues = json.out.find("\"message_queues\"");
    auto semaphores = json.out.find("\"semaphores\"");
    auto segments = json.out.find("\"shared_memory\"");
    ASSERT_NE(queues, std::string::npos) << json.out;
    ASSERT_NE(semaphores, std::string::npos) << json.out;
    ASSERT_NE(segments, std::string::npos) << json.out;
    auto where = [&](sysv::Key key) { return json.out.find("\"" + sysv::format_key(key) + "\""); };
    EXPECT_GT(where(mq.key()), queues);
    EXPECT_LT(where(mq.key()), semaphores);
    EXPECT_GT(where(sem.key()), semaphores);
    EXPECT_LT(where(sem.key()), segments);
    EXPECT_GT(where(shm.key()), segments);
    EXPECT_NE(where(shm.key()), std::string::npos);
}

// The demo's semaphore scenario is checked in test_cli.cpp's Cli.DemoRunsAndCleansUp:
// two concurrent demos would disturb that test's count of queues.
