// The crash matrix of ByteQueue (SIGKILL of a producer or a consumer at random points), shared
// by test_queue (the child uses the parent's mapping, inherited by fork) and test_named_queue
// (the child opens its own mapping by name), with the checksummed messages it sends and the
// choice of the kill moment.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "forked.hpp"
#include "ipckit/ipckit.hpp"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define IPCKIT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define IPCKIT_SANITIZED 1
#endif
#endif
#ifndef IPCKIT_SANITIZED
#define IPCKIT_SANITIZED 0
#endif

namespace ipckit::test {

// True in an ASan or TSan build: loops that would take too long there run fewer times.
inline constexpr bool sanitized = IPCKIT_SANITIZED != 0;

// A variable-size message of the crash matrix: seq, size and a checksum, then a pattern.
// One in four is large (up to 64 KiB), so that copying it under the lock takes a while.
inline std::string make_message(std::uint32_t seq) {
    const std::size_t size = seq % 4 == 3 ? 16 + (seq * 7919u) % 65536 : 16 + (seq * 7919u) % 1500;
    std::string m(size, '\0');
    for (std::size_t i = 16; i < size; ++i)
        m[i] = static_cast<char>((std::size_t{seq} * 31 + i * 7) & 0xff);
    std::uint64_t sum = 1469598103934665603ull;
    for (std::size_t i = 16; i < size; ++i)
        sum = (sum ^ static_cast<unsigned char>(m[i])) * 1099511628211ull;
    sum ^= seq;
    const auto n = static_cast<std::uint32_t>(size);
    std::memcpy(m.data(), &seq, 4);
    std::memcpy(m.data() + 4, &n, 4);
    std::memcpy(m.data() + 8, &sum, 8);
    return m;
}

// Message `seq` (0..1023), made once: call it before forking so that children share them.
inline const std::string& message_for(std::uint32_t seq) {
    static const std::vector<std::string> made = [] {
        std::vector<std::string> all;
        for (std::uint32_t i = 0; i < 1024; ++i)
            all.push_back(make_message(i));
        return all;
    }();
    if (seq >= made.size()) throw std::out_of_range("message_for: seq too large");
    return made[seq];
}

// The seq of a well-formed message; fails the test on a torn or corrupt one.
inline std::uint32_t check_message(const void* data, std::size_t size) {
    std::uint32_t seq = 0;
    EXPECT_GE(size, 16u);
    if (size < 16) return UINT32_MAX;
    std::memcpy(&seq, data, 4);
    if (seq >= 1024) {
        ADD_FAILURE() << "message with seq " << seq << " is corrupt";
        return UINT32_MAX;
    }
    const std::string& expected = message_for(seq);
    EXPECT_EQ(expected.size(), size) << "message " << seq << " has the wrong size";
    EXPECT_TRUE(expected.size() == size && std::memcmp(expected.data(), data, size) == 0)
        << "message " << seq << " is corrupt";
    return seq;
}

// Spins for a random number of iterations, up to `max_iterations`.
inline void spin_randomly(std::mt19937& rng, unsigned max_iterations) {
    const unsigned n = std::uniform_int_distribution<unsigned>(0, max_iterations)(rng);
    std::atomic<unsigned> i{0};
    while (i.load(std::memory_order_relaxed) < n)
        i.fetch_add(1, std::memory_order_relaxed);
}

// Every other time, kill the moment the queue's lock is seen taken (by the child, which is
// the only other user): those kills often land inside the lock.
inline void wait_for_the_kill(std::mt19937& rng, int iteration, const ipckit::QueueBase& q) {
    if (iteration % 2 == 1) {
        for (int i = 0; i < 100000 && !q.lock_held(); ++i) {
        }
        return;
    }
    spin_randomly(rng, 5000);
}

// One crash matrix: how many kills, how the child gets its queue, and what else to check
// after each kill.
struct CrashMatrix {
    int iterations = 0;
    // Empty: the child uses the parent's queue, its mapping inherited by fork. Otherwise the
    // child opens its own mapping of the queue with ByteQueue::open(open_name).
    std::string open_name;
    // Prefixes the summary line ("named ").
    std::string label;
    // Called after each iteration's checks, with the iteration (may fail with ASSERT_*).
    std::function<void(int iteration)> check;

    // Runs `body` with the queue the child uses (in the child).
    template <class F>
    int in_child(ipckit::ByteQueue& parents, F&& body) const {
        if (open_name.empty()) return body(parents);
        auto own = ipckit::ByteQueue::open(open_name);
        return body(own);
    }
};

// A producer killed at a random point while the test consumes from `q`: the queue stays
// consistent, every put that returned (acknowledged in shared memory after it returned) is
// delivered exactly once and in order, the put in flight is wholly there or not at all, and
// the survivor's next call is not held up.
inline void producer_crash_matrix(ipckit::ByteQueue& q, const CrashMatrix& run) {
    std::random_device seed_source;
    const unsigned seed = seed_source();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    message_for(0);  // made before the children fork
    ipckit::RawArray<std::uint32_t> acked(1);
    std::chrono::nanoseconds worst{0};
    std::string m;
    for (int it = 0; it < run.iterations; ++it) {
        acked[0] = 0;
        const unsigned target = std::uniform_int_distribution<unsigned>(1, 60)(rng);
        Forked producer([&]() {
            return run.in_child(q, [&](ipckit::ByteQueue& queue) {
                for (std::uint32_t seq = 0;; ++seq) {
                    queue.put(message_for(seq));
                    std::atomic_ref<std::uint32_t>(acked[0]).store(seq + 1,
                                                                   std::memory_order_release);
                }
                return 0;
            });
        });
        // Consume while the producer produces; kill it at a random moment after `target`
        // messages arrived.
        std::uint32_t expected = 0;
        auto check_next = [&] {
            const std::uint32_t seq = check_message(m.data(), m.size());
            EXPECT_EQ(seq, expected) << "lost, duplicated or reordered (iteration " << it << ")";
            expected = seq + 1;
        };
        while (expected < target) {
            q.get(m, true, std::chrono::seconds(20));
            check_next();
        }
        wait_for_the_kill(rng, it, q);
        ASSERT_EQ(producer.kill_and_wait(), -SIGKILL);
        auto start = std::chrono::steady_clock::now();
        bool first = true;
        for (;;) {
            try {
                q.get(m, false);
            } catch (const ipckit::Empty&) {
                break;
            }
            if (first) worst = std::max(worst, std::chrono::steady_clock::now() - start);
            first = false;
            check_next();
        }
        if (first) worst = std::max(worst, std::chrono::steady_clock::now() - start);
        ASSERT_FALSE(::testing::Test::HasFailure()) << "iteration " << it;
        // Everything acknowledged arrived; at most the one put in flight besides.
        const std::uint32_t acknowledged = acked[0];  // (the producer is dead: final)
        ASSERT_GE(expected, acknowledged) << "iteration " << it;
        ASSERT_LE(expected, acknowledged + 1) << "iteration " << it;
        ASSERT_EQ(q.qsize(), 0u);
        if (run.check) run.check(it);
        if (::testing::Test::HasFatalFailure()) return;
    }
    std::printf(
        "%sproducer crash matrix: %d iterations, lock taken over from a dead producer %u "
        "times, longest first get after a kill %.1f ms\n",
        run.label.c_str(), run.iterations, q.recoveries(),
        std::chrono::duration<double, std::milli>(worst).count());
    EXPECT_LT(worst, std::chrono::seconds(2));  // 100 ms expected; generous for a loaded machine
}

// A consumer killed at a random point while the test produces into `q`: it receives into
// shared memory (get_into), so a message it took just before dying is found there; nothing
// is lost, duplicated or reordered, and the survivor's next call is not held up.
inline void consumer_crash_matrix(ipckit::ByteQueue& q, const CrashMatrix& run) {
    std::random_device seed_source;
    const unsigned seed = seed_source();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    constexpr std::uint32_t max_records = 1000;
    message_for(0);
    ipckit::RawArray<std::byte> slot(70000);                 // where the consumer receives
    ipckit::RawArray<std::uint32_t> taken(max_records + 1);  // [0]: count; then the seqs
    std::chrono::nanoseconds worst{0};
    std::string m;
    for (int it = 0; it < run.iterations; ++it) {
        taken[0] = 0;
        const unsigned target = std::uniform_int_distribution<unsigned>(1, 60)(rng);
        Forked consumer([&]() {
            return run.in_child(q, [&](ipckit::ByteQueue& queue) {
                for (std::uint32_t count = 0; count < max_records; ++count) {
                    const std::size_t n = queue.get_into(slot.span());
                    if (n < 16) return 7;
                    std::memcpy(&taken[count + 1], slot.begin(), 4);
                    std::atomic_ref<std::uint32_t>(taken[0]).store(count + 1,
                                                                   std::memory_order_release);
                }
                return 0;
            });
        });
        // Produce while the consumer consumes; kill it at a random moment after it recorded
        // `target` messages.
        std::uint32_t sent = 0;
        auto recorded = [&] {
            return std::atomic_ref<std::uint32_t>(taken[0]).load(std::memory_order_acquire);
        };
        while (recorded() < target) {
            try {
                q.put_nowait(message_for(sent));
                ++sent;
            } catch (const ipckit::Full&) {
                std::this_thread::yield();
            }
        }
        const unsigned extra = std::uniform_int_distribution<unsigned>(0, 8)(rng);
        try {
            for (unsigned i = 0; i < extra; ++i, ++sent)
                q.put_nowait(message_for(sent));
        } catch (const ipckit::Full&) {  // (a large message may not fit)
        }
        wait_for_the_kill(rng, it, q);
        ASSERT_EQ(consumer.kill_and_wait(), -SIGKILL);
        const std::uint32_t count = taken[0];
        for (std::uint32_t i = 0; i < count; ++i)
            ASSERT_EQ(taken[i + 1], i) << "iteration " << it;
        auto start = std::chrono::steady_clock::now();
        std::vector<std::uint32_t> left;
        for (;;) {
            try {
                q.get(m, false);
            } catch (const ipckit::Empty&) {
                break;
            }
            if (left.empty()) worst = std::max(worst, std::chrono::steady_clock::now() - start);
            left.push_back(check_message(m.data(), m.size()));
        }
        if (left.empty()) worst = std::max(worst, std::chrono::steady_clock::now() - start);
        // What is left follows what was recorded, or follows the one message the consumer
        // took and did not record, which is then whole in its buffer.
        std::uint32_t next = count;
        if (next < sent && (left.empty() || left.front() != next)) {
            ASSERT_EQ(check_message(slot.begin(), message_for(next).size()), next)
                << "message " << next << " lost (iteration " << it << ")";
            ++next;
        }
        for (std::uint32_t seq : left)
            ASSERT_EQ(seq, next++) << "lost, duplicated or reordered (iteration " << it << ")";
        ASSERT_EQ(next, sent) << "iteration " << it;
        ASSERT_EQ(q.qsize(), 0u);
        if (run.check) run.check(it);
        if (::testing::Test::HasFatalFailure()) return;
    }
    std::printf(
        "%sconsumer crash matrix: %d iterations, lock taken over from a dead consumer %u "
        "times, longest first get after a kill %.1f ms\n",
        run.label.c_str(), run.iterations, q.recoveries(),
        std::chrono::duration<double, std::milli>(worst).count());
    EXPECT_LT(worst, std::chrono::seconds(2));
}

}  // namespace ipckit::test
