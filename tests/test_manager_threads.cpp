// Manager proxies used from several threads at once: each thread has its own connection.
#include <gtest/gtest.h>

#include <csignal>
#include <thread>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/signals.hpp"
#include "support.hpp"

using ipckit::Manager;

TEST(ManagerThreads, ThreadsShareAProxyWithoutLosingUpdates) {
    Manager m;
    auto l = m.list();
    auto d = m.dict();
    constexpr int threads = 4, per_thread = 500;
    std::vector<std::thread> workers;
    workers.reserve(threads);
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([=]() mutable {
            for (int i = 0; i < per_thread; ++i) {
                l.append(t * per_thread + i);
                d[t * per_thread + i] = t;
            }
        });
    }
    for (auto& w : workers)
        w.join();
    EXPECT_EQ(l.size(), static_cast<std::size_t>(threads * per_thread));
    EXPECT_EQ(d.size(), static_cast<std::size_t>(threads * per_thread));
    for (int t = 0; t < threads; ++t)
        EXPECT_EQ(d.get(t * per_thread).as_int(), t);
    // One connection per thread that used the manager, plus this one.
    EXPECT_EQ(m.stats().at("connections").as_int(), threads + 1);
}

TEST(ManagerThreads, ProxyCopiesReleasedInOtherThreadsFreeTheObject) {
    Manager m;
    auto base = m.stats().at("objects").as_int();
    {
        auto l = m.list({1, 2, 3});
        std::thread t([copy = l]() mutable { copy.append(4); });
        t.join();
        EXPECT_EQ(l.repr(), "[1, 2, 3, 4]");
    }
    EXPECT_EQ(m.stats().at("objects").as_int(), base);
}

TEST(ManagerThreads, AStopRequestInterruptsACallToAWedgedServer) {
    Manager m;
    auto d = m.dict();
    d["k"] = 1;
    ASSERT_EQ(::kill(m.server_pid(), SIGSTOP), 0);  // the server stops answering
    struct Restore {
        pid_t server;
        ~Restore() {
            ::signal(SIGUSR1, SIG_DFL);
            ipckit::clear_stop();
            ::kill(server, SIGCONT);
        }
    } restore{m.server_pid()};
    ipckit::install_stop_handler({SIGUSR1});
    pid_t self = ::getpid();
    pid_t server = m.server_pid();
    std::thread interrupter([self, server] {
        sigset_t block;
        sigemptyset(&block);
        sigaddset(&block, SIGUSR1);
        ::pthread_sigmask(SIG_BLOCK, &block, nullptr);  // the signal must reach the caller
        if (ipckit::test::wait_until_blocked_in(self, "recv")) {
            ::kill(self, SIGUSR1);
        } else {
            ::kill(server, SIGCONT);  // never blocked: let the call finish (and the test fail)
        }
    });
    EXPECT_THROW(d.get("k"), ipckit::InterruptedError);
    interrupter.join();
}
