// The lock with threads as well as processes (label threads: runs under TSan too).
#include <gtest/gtest.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "ipckit/ipckit.hpp"
#include "support.hpp"

using ipckit::Array;
using ipckit::Lock;
using ipckit::Process;
using ipckit::Value;

TEST(SharedThreads, ThreadsInTwoProcessesIncrementExactly) {
    Value<std::int64_t> counter(0);
    auto work = [counter] {
        std::vector<std::thread> threads;
        for (int t = 0; t < 2; ++t) {
            threads.emplace_back([counter] {
                for (int i = 0; i < 20'000; ++i)
                    counter.value() += 1;
            });
        }
        for (auto& t : threads)
            t.join();
    };
    Process other(work);
    other.start();
    work();
    other.join();
    ASSERT_EQ(other.exitcode(), 0);
    EXPECT_EQ(counter.get(), 80'000);
}

TEST(SharedThreads, ThreadThatEndsHoldingTheLockIsRecovered) {
    Lock lock;
    std::thread([lock]() mutable { lock.lock(); }).join();  // ends without unlocking
    auto g = lock.guard();
    EXPECT_TRUE(g.recovered());
    EXPECT_EQ(lock.recoveries(), 1u);
}

TEST(SharedThreads, RecursionIsPerThread) {
    Lock lock;
    auto g = lock.guard();
    auto again = lock.guard();  // same thread: recursive
    bool other_got_it = true;
    std::thread([&] { other_got_it = lock.try_lock(); }).join();
    EXPECT_FALSE(other_got_it);
}

TEST(SharedThreads, ConcurrentAllocationGivesDistinctObjects) {
    std::vector<std::vector<Value<int>>> made(4);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&made, t] {
            for (int i = 0; i < 2000; ++i)
                made[static_cast<std::size_t>(t)].emplace_back(t * 10000 + i);
        });
    }
    for (auto& t : threads)
        t.join();
    std::vector<int*> addresses;
    for (int t = 0; t < 4; ++t) {
        for (int i = 0; i < 2000; ++i) {
            const auto& v = made[static_cast<std::size_t>(t)][static_cast<std::size_t>(i)];
            EXPECT_EQ(v.get(), t * 10000 + i);
            addresses.push_back(v.get_obj());
        }
    }
    std::sort(addresses.begin(), addresses.end());
    EXPECT_EQ(std::adjacent_find(addresses.begin(), addresses.end()), addresses.end());
}
