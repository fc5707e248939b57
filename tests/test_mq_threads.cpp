// MessageQueue used from several threads at once (also run under TSan in CI).
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "ipckit/ipckit.hpp"

namespace sysv = ipckit::sysv;
using namespace std::chrono_literals;

// Two threads receive with timeouts at the same time: every message reaches exactly one
// of them, and once the queue is empty both time out (each on its own timer) and go on
// receiving: the stop messages sent after that reach both.
TEST(MessageQueue, ThreadsReceiveWithTimeoutsConcurrently) {
    sysv::MessageQueue mq(std::nullopt);
    mq.set_auto_remove(true);
    constexpr std::size_t per_thread = 200;
    struct Worker {
        std::vector<std::string> received;
        int timeouts = 0;
        int other_errors = 0;
    };
    Worker workers[2];
    std::mutex mutex;
    std::condition_variable changed;
    auto work = [&](Worker& me) {
        for (;;) {
            try {
                auto message = mq.receive(sysv::timeout(300ms));
                std::lock_guard lock(mutex);
                if (message.data == "stop") return;
                me.received.push_back(message.data);
            } catch (const ipckit::BusyError& e) {
                std::lock_guard lock(mutex);
                ++(e.timed_out() ? me.timeouts : me.other_errors);
            }
            changed.notify_all();
        }
    };
    std::thread a(work, std::ref(workers[0])), b(work, std::ref(workers[1]));
    for (std::size_t i = 0; i < 2 * per_thread; ++i)
        mq.send("m" + std::to_string(i));
    {
        // Every message taken, then a timeout in each thread after that.
        std::unique_lock lock(mutex);
        EXPECT_TRUE(changed.wait_for(lock, 60s, [&] {
            return workers[0].received.size() + workers[1].received.size() == 2 * per_thread;
        }));
        int before[2] = {workers[0].timeouts, workers[1].timeouts};
        EXPECT_TRUE(changed.wait_for(lock, 60s, [&] {
            return workers[0].timeouts > before[0] && workers[1].timeouts > before[1];
        }));
    }
    mq.send("stop");
    mq.send("stop");
    a.join();
    b.join();
    std::vector<std::string> all = workers[0].received;
    all.insert(all.end(), workers[1].received.begin(), workers[1].received.end());
    std::sort(all.begin(), all.end());
    std::vector<std::string> expected;
    expected.reserve(2 * per_thread);
    for (std::size_t i = 0; i < 2 * per_thread; ++i)
        expected.push_back("m" + std::to_string(i));
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(all, expected);  // each message exactly once
    EXPECT_GE(workers[0].timeouts, 1);
    EXPECT_GE(workers[1].timeouts, 1);
    EXPECT_EQ(workers[0].other_errors + workers[1].other_errors, 0);
    EXPECT_EQ(mq.current_messages(), 0u);
}

// Four threads wait with timeouts of 100 to 400 ms: each expires after its own timeout,
// not before (generous upper bound: the machine may be loaded), while a fifth thread,
// with a long timeout, goes on waiting through all four expiries and then gets the
// message sent to it.
TEST(MessageQueue, TimeoutsInSeveralThreadsEachExpireOnTheirOwn) {
    sysv::MessageQueue mq(std::nullopt);
    mq.set_auto_remove(true);
    using Clock = std::chrono::steady_clock;
    struct Outcome {
        bool timed_out = false;
        Clock::duration took{};
    };
    Outcome outcomes[4];
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&, i] {
            auto start = Clock::now();
            try {
                mq.receive(sysv::type(100 + i),
                           sysv::timeout(std::chrono::milliseconds(100 * (i + 1))));
            } catch (const ipckit::BusyError& e) {
                outcomes[i].timed_out = e.timed_out();
            }
            outcomes[i].took = Clock::now() - start;
        });
    }
    std::atomic<bool> patient_done{false};
    std::string patient_got;
    std::thread patient([&] {
        try {
            patient_got = mq.receive(sysv::type(200), sysv::timeout(120s)).data;
        } catch (const ipckit::Error& e) {
            patient_got = std::string("error: ") + e.what();
        }
        patient_done = true;
    });
    for (auto& t : threads)
        t.join();
    for (int i = 0; i < 4; ++i) {
        auto timeout = std::chrono::milliseconds(100 * (i + 1));
        EXPECT_TRUE(outcomes[i].timed_out) << "thread " << i;
        EXPECT_GE(outcomes[i].took, timeout) << "thread " << i << " expired early";
        EXPECT_LT(outcomes[i].took, timeout + 30s) << "thread " << i;
    }
    EXPECT_FALSE(patient_done.load());  // the other timeouts did not end its wait
    mq.send("for the patient one", sysv::type(200));
    patient.join();
    EXPECT_EQ(patient_got, "for the patient one");
}
