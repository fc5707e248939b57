// The leak checker itself (leak_check.cpp), where its behaviour is not seen by every test.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

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
