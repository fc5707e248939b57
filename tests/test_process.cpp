// ipckit::Process: fork, join, exit codes, signals, output.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <stdexcept>

#include "ipckit/error.hpp"
#include "ipckit/process.hpp"
#include "support.hpp"

using ipckit::Process;
using namespace std::chrono_literals;

TEST(Process, ReturnGivesExitCodeZero) {
    Process p([] {});
    EXPECT_FALSE(p.exitcode().has_value());
    p.start();
    EXPECT_GT(p.pid(), 0);
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_FALSE(p.is_alive());
}

TEST(Process, PassesArguments) {
    int status_from_args = 0;
    Process p([](int a, const std::string& b) { ::_exit(a + static_cast<int>(b.size())); }, 4,
              std::string("abc"));
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 7);
    (void)status_from_args;
}

TEST(Process, UncaughtExceptionGivesExitCodeOneAndNamesTheProcess) {
    testing::internal::CaptureStderr();
    Process p([] { throw std::runtime_error("boom"); });
    p.set_name("worker");
    p.start();
    p.join();
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(p.exitcode(), 1);
    EXPECT_NE(err.find("Process worker"), std::string::npos) << err;
    EXPECT_NE(err.find("boom"), std::string::npos) << err;
}

TEST(Process, SignalGivesNegativeExitCode) {
    ipckit::test::Event never;
    Process p([&never] { never.wait(60s); });
    p.start();
    EXPECT_TRUE(p.is_alive());
    p.kill();
    p.join();
    EXPECT_EQ(p.exitcode(), -SIGKILL);

    Process q([&never] { never.wait(60s); });
    q.start();
    q.terminate();
    q.join();
    EXPECT_EQ(q.exitcode(), -SIGTERM);
}

TEST(Process, JoinWithTimeoutReturnsWhileChildRuns) {
    ipckit::test::Event release;
    Process p([&release] { release.wait(60s); });
    p.start();
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(p.join(50ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
    EXPECT_FALSE(p.exitcode().has_value());
    release.set();
    EXPECT_TRUE(p.join(20s));
    EXPECT_EQ(p.exitcode(), 0);
}

TEST(Process, OutputBeforeStartIsPrintedOnce) {
    // A child process whose stdout is a pipe (fully buffered) prints once, forks, and
    // the forked child prints; the text before start must not appear twice.
    auto result = ipckit::test::run({ipckit::test::ipckit_program(), "--help"});
    ASSERT_EQ(result.exit_code, 0);
    std::FILE* out = std::tmpfile();
    ASSERT_NE(out, nullptr);
    Process wrapper([out] {
        ::dup2(::fileno(out), 1);
        std::cout << "before start\n";
        std::printf("printf before start\n");
        Process inner([] { std::cout << "in child\n"; });
        inner.start();
        inner.join();
        std::cout << "after join\n";
    });
    wrapper.start();
    wrapper.join();
    ASSERT_EQ(wrapper.exitcode(), 0);
    std::rewind(out);
    std::string text;
    char buffer[256];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, out))
        text.append(buffer, n);
    std::fclose(out);
    EXPECT_EQ(text, "before start\nprintf before start\nin child\nafter join\n");
}

TEST(Process, ChildDoesNotRunParentAtexitHandlers) {
    std::FILE* out = std::tmpfile();
    ASSERT_NE(out, nullptr);
    Process wrapper([out] {
        ::dup2(::fileno(out), 1);
        static int fd_for_handler = 1;
        (void)fd_for_handler;
        std::atexit([] { std::fputs("atexit ran\n", stdout); });
        Process inner([] {});
        inner.start();
        inner.join();
        std::fflush(stdout);
        std::exit(0);  // the wrapper runs its handler once; the inner child never does
    });
    wrapper.start();
    wrapper.join();
    std::rewind(out);
    std::string text;
    char buffer[256];
    while (std::size_t n = std::fread(buffer, 1, sizeof buffer, out))
        text.append(buffer, n);
    std::fclose(out);
    EXPECT_EQ(text, "atexit ran\n");
}

TEST(Process, DestructorWaitsForTheChild) {
    pid_t pid = 0;
    {
        Process p([] {});
        p.start();
        pid = p.pid();
    }
    // Reaped: the pid is no longer our child.
    EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1);
    EXPECT_EQ(errno, ECHILD);
}

TEST(Process, StartTwiceIsAnError) {
    Process p([] {});
    p.start();
    EXPECT_THROW(p.start(), ipckit::Error);
    p.join();
}
