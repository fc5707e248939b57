// The leak checker itself (leak_check.cpp), where its behaviour is not seen by every test.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "forked.hpp"
#include "support.hpp"

namespace fs = std::filesystem;

// A test binary that dies before its exit handlers run (killed by ctest's timeout,
// aborted by a sanitizer) leaves its private TMPDIR, /tmp/ipckit-test.PID.XXXXXX, behind:
// the next test binary that starts removes it once PID is gone, and never a live one's.
TEST(LeakCheck, AStartingBinaryRemovesTheTmpdirOfADeadOneAndKeepsALiveOnes) {
    pid_t dead = ::fork();
    if (dead == 0) ::_exit(0);
    ASSERT_GT(dead, 0);
    ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
    fs::path left = fs::path("/tmp") / ("ipckit-test." + std::to_string(dead) + ".sweep");
    fs::path live = fs::path("/tmp") / ("ipckit-test." + std::to_string(::getpid()) + ".sweep");
    struct Cleanup {
        fs::path a, b;
        ~Cleanup() {
            std::error_code ec;
            fs::remove_all(a, ec);
            fs::remove_all(b, ec);
        }
    } cleanup{left, live};
    fs::create_directory(left);
    std::ofstream(left / "socket-dir-of-a-crashed-test") << "x";
    fs::create_directory(live);
    auto result = ipckit::test::run({"/proc/self/exe", "--gtest_list_tests"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_FALSE(fs::exists(left)) << left << " (its pid " << dead << " is gone) was kept";
    EXPECT_TRUE(fs::exists(live)) << live << " (this test's pid) was removed";
}

// A program a test starts (ipckit::test::Child: a server, Python, the ipckit program) dies
// with the test binary, even when the binary is killed before its destructors run: no
// server is left running after a crashed test.
TEST(LeakCheck, AProgramATestStartedDiesWithTheKilledTestBinary) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    ipckit::test::Forked binary([&] {  // stands for a test binary that gets killed
        ::close(fds[0]);
        ipckit::test::Child program({"/bin/sleep", "600"});
        pid_t pid = program.pid();
        if (::write(fds[1], &pid, sizeof pid) != sizeof pid) return 1;
        ::kill(::getpid(), SIGKILL);
        return 0;
    });
    ::close(fds[1]);
    pid_t program = 0;
    ssize_t got = ::read(fds[0], &program, sizeof program);
    ::close(fds[0]);
    ASSERT_EQ(got, static_cast<ssize_t>(sizeof program));
    EXPECT_EQ(binary.wait(), -SIGKILL);
    auto gone = [&] {  // no such process, or dead and not yet reaped
        std::ifstream stat("/proc/" + std::to_string(program) + "/stat");
        std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
        auto paren = text.rfind(')');
        return paren == std::string::npos || text.compare(paren, 3, ") Z") == 0;
    };
    bool died = ipckit::test::wait_until(gone, std::chrono::seconds(10));
    if (!died) ::kill(program, SIGKILL);  // not a process this test may leave running
    EXPECT_TRUE(died) << "the program " << program << " outlived the killed test binary";
}
