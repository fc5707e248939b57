// MessageQueue used from several threads at once (also run under TSan in CI).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "ipckit/ipckit.hpp"

namespace sysv = ipckit::sysv;
using namespace std::chrono_literals;

TEST(MessageQueue, ThreadsReceiveWithTimeoutsConcurrently) {
    sysv::MessageQueue mq(std::nullopt);
    mq.set_auto_remove(true);
    constexpr int per_thread = 200;
    std::atomic<int> received{0};
    std::atomic<int> timeouts{0};
    auto worker = [&] {
        for (;;) {
            try {
                auto message = mq.receive(sysv::timeout(300ms));
                if (message.data == "stop") return;
                received.fetch_add(1);
            } catch (const ipckit::BusyError&) {
                timeouts.fetch_add(1);
            }
        }
    };
    std::thread a(worker), b(worker);
    for (int i = 0; i < 2 * per_thread; ++i)
        mq.send("m" + std::to_string(i));
    mq.send("stop");
    mq.send("stop");
    a.join();
    b.join();
    EXPECT_EQ(received.load(), 2 * per_thread);
}

TEST(MessageQueue, TimeoutsInSeveralThreadsEachExpireOnTheirOwn) {
    sysv::MessageQueue mq(std::nullopt);
    mq.set_auto_remove(true);
    std::atomic<int> timed_out{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&, i] {
            try {
                mq.receive(sysv::type(100 + i),
                           sysv::timeout(std::chrono::milliseconds(20 * (i + 1))));
            } catch (const ipckit::BusyError& e) {
                if (e.timed_out()) timed_out.fetch_add(1);
            }
        });
    }
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(timed_out.load(), 4);
}
