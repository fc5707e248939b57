// Pipe and Connection with real processes: framing, objects, poll, EOF, one-way pipes,
// closed peers, stop requests.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <functional>
#include <iostream>
#include <string>

#include "forked.hpp"
#include "ipckit/ipckit.hpp"
#include "support.hpp"

using ipckit::Connection;
using ipckit::Object;
using ipckit::Pipe;
using ipckit::test::Forked;
using ipckit::test::wait_until_blocked_in;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

std::string pattern(std::size_t n, unsigned salt) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i)
        s[i] = static_cast<char>((i * 131 + salt) % 251);
    return s;
}

}  // namespace

TEST(Pipe, DuplexBytesBothWaysBetweenProcesses) {
    auto ends = Pipe();
    Connection& a = ends.first;
    Connection& b = ends.second;
    Forked child([&]() {
        a.close();
        for (int i = 0; i < 1000; ++i) {
            std::string m = b.recv_bytes();
            b.send_bytes(m + "!");
        }
        return 0;
    });
    b.close();
    for (int i = 0; i < 1000; ++i) {
        const std::string m = pattern(static_cast<std::size_t>(i % 300), static_cast<unsigned>(i));
        a.send_bytes(m);
        ASSERT_EQ(a.recv_bytes(), m + "!");
    }
    EXPECT_EQ(child.wait(), 0);
    EXPECT_THROW(a.recv_bytes(), ipckit::EOFError);  // the child exited: its end closed
}

TEST(Pipe, ObjectsAsPythonSendsThem) {
    auto ends = Pipe();
    Connection& parent_end = ends.first;
    Connection& child_end = ends.second;
    Forked child([&]() {
        child_end.send(Object::list({42, nullptr, "hello"}));
        Object::Dict d;
        d.set("x", 1.5);
        child_end.send(Object(std::move(d)));
        return 0;
    });
    EXPECT_EQ(parent_end.recv().repr(), "[42, None, 'hello']");
    EXPECT_EQ(parent_end.recv().repr(), "{'x': 1.5}");
    EXPECT_EQ(child.wait(), 0);
}

TEST(Pipe, LargeMessagesArriveWhole) {
    auto ends = Pipe();
    Connection& a = ends.first;
    Connection& b = ends.second;
    const std::string big = pattern(std::size_t{8} << 20, 7);
    Forked child([&]() {
        b.send_bytes(big);
        b.send_bytes("");
        b.send_bytes(big.substr(1));
        return 0;
    });
    EXPECT_TRUE(a.recv_bytes() == big);
    EXPECT_EQ(a.recv_bytes(), "");
    EXPECT_TRUE(a.recv_bytes() == big.substr(1));
    EXPECT_EQ(child.wait(), 0);
}

TEST(Pipe, OneWayPipeIsReaderThenWriter) {
    auto ends = Pipe(false);
    Connection& reader = ends.first;
    Connection& writer = ends.second;
    EXPECT_TRUE(reader.readable());
    EXPECT_FALSE(reader.writable());
    EXPECT_FALSE(writer.readable());
    EXPECT_THROW(reader.send_bytes("x"), ipckit::ValueError);
    EXPECT_THROW(writer.recv_bytes(), ipckit::ValueError);
    writer.send_bytes("one way");
    EXPECT_EQ(reader.recv_bytes(), "one way");
}

TEST(Pipe, PollWaitsAtMostItsTimeout) {
    auto ends = Pipe();
    Connection& a = ends.first;
    Connection& b = ends.second;
    EXPECT_FALSE(a.poll());  // returns at once
    auto start = Clock::now();
    EXPECT_FALSE(a.poll(200ms));
    auto elapsed = Clock::now() - start;
    EXPECT_GE(elapsed, 190ms);
    EXPECT_LT(elapsed, 10s);
    Forked child([&]() {
        b.send_bytes("late");
        return 0;
    });
    EXPECT_TRUE(a.poll(std::nullopt));  // waits without limit
    EXPECT_TRUE(a.poll());
    EXPECT_EQ(a.recv_bytes(), "late");
    EXPECT_EQ(child.wait(), 0);
}

TEST(Pipe, SendToAClosedPeerRaisesWithoutSigpipe) {
    auto ends = Pipe();
    Connection& a = ends.first;
    Connection& b = ends.second;
    b.close();
    EXPECT_THROW(a.send_bytes("nobody listens"), ipckit::ConnectionError);
    EXPECT_THROW(b.send_bytes("closed"), ipckit::ValueError);
    EXPECT_TRUE(a.poll());  // EOF is ready
    EXPECT_THROW(a.recv_bytes(), ipckit::EOFError);
}

TEST(Pipe, TooLongMessageClosesTheConnection) {
    auto ends = Pipe();
    Connection& a = ends.first;
    Connection& b = ends.second;
    b.send_bytes(std::string(1000, 'x'));
    EXPECT_THROW(a.recv_bytes(100), ipckit::ValueError);
    EXPECT_TRUE(a.closed());
}

TEST(Pipe, StopRequestWakesAWaitingRecvAndKeepsAPartialMessage) {
    auto ends = Pipe();
    Connection& a = ends.first;
    Connection& b = ends.second;
    Forked child([&]() {
        ipckit::install_stop_handler({SIGUSR1});
        try {
            a.recv_bytes();
            return 1;
        } catch (const ipckit::InterruptedError&) {
        }
        ipckit::clear_stop();
        a.send_bytes("woken");
        return a.recv_bytes() == "whole" ? 0 : 2;
    });
    ASSERT_TRUE(wait_until_blocked_in(child.pid(), "poll"));
    // Half a frame first: the length and two of the five bytes.
    const char half[] = {0, 0, 0, 5, 'w', 'h'};
    ASSERT_EQ(::write(b.fileno(), half, sizeof half), static_cast<ssize_t>(sizeof half));
    ::kill(child.pid(), SIGUSR1);
    // The child wakes, says so, then waits for the rest of the message.
    ASSERT_EQ(b.recv_bytes(), "woken");
    ASSERT_EQ(::write(b.fileno(), "ole", 3), 3);
    EXPECT_EQ(child.wait(), 0);
}
