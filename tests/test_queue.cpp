// Queue<T>, ByteQueue and ObjectQueue with real processes: order, exactly-once delivery,
// timeouts, close, join, stop requests, and the crash matrix (SIGKILL at random points).
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "forked.hpp"
#include "ipckit/ipckit.hpp"
#include "queue_crash.hpp"
#include "support.hpp"

using ipckit::ByteQueue;
using ipckit::Empty;
using ipckit::Full;
using ipckit::ObjectQueue;
using ipckit::Queue;
using ipckit::QueueBase;
using ipckit::QueueClosed;
using ipckit::RawArray;
using ipckit::test::check_message;
using ipckit::test::consumer_crash_matrix;
using ipckit::test::Forked;
using ipckit::test::message_for;
using ipckit::test::producer_crash_matrix;
using ipckit::test::sanitized;
using ipckit::test::wait_until_blocked_in;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

struct Item {
    std::uint32_t producer;
    std::uint32_t seq;
    std::uint64_t check;
};
std::uint64_t check_of(std::uint32_t producer, std::uint32_t seq) {
    std::uint64_t x = (std::uint64_t{producer} << 32 | seq) * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

}  // namespace

TEST(Queue, FifoAndSizesInOneProcess) {
    Queue<int> q(3);
    EXPECT_TRUE(q.empty());
    EXPECT_EQ(q.maxsize(), 3u);
    q.put(1);
    q.put(2);
    q.put_nowait(3);
    EXPECT_EQ(q.qsize(), 3u);
    EXPECT_TRUE(q.full());
    try {
        q.put_nowait(4);
        FAIL() << "put_nowait on a full queue returned";
    } catch (const Full& e) {
        EXPECT_FALSE(e.timed_out());
        EXPECT_NE(std::string(e.what()).find("full"), std::string::npos) << e.what();
    }
    EXPECT_EQ(q.get(), 1);
    EXPECT_EQ(q.get_nowait(), 2);
    EXPECT_EQ(q.get(false), 3);
    EXPECT_THROW(q.get_nowait(), Empty);
    EXPECT_TRUE(q.empty());
    EXPECT_THROW(Queue<int>(0), ipckit::ValueError);
}

TEST(Queue, CarriesStructsAndWrapsAround) {
    Queue<Item> q(5);
    for (std::uint32_t i = 0; i < 1000; ++i) {
        q.put(Item{7, i, check_of(7, i)});
        if (i % 3 == 2) {
            for (int k = 0; k < 3; ++k) {
                Item it = q.get();
                EXPECT_EQ(it.check, check_of(it.producer, it.seq));
            }
        }
    }
    EXPECT_EQ(q.qsize(), 1u);
}

TEST(Queue, ChildProcessesShareIt) {
    Queue<int> q(10);
    Forked child([q]() mutable {
        for (int i = 0; i < 100; ++i)
            q.put(i * i);
        return 0;
    });
    for (int i = 0; i < 100; ++i)
        ASSERT_EQ(q.get(20s), i * i);
    EXPECT_EQ(child.wait(), 0);
}

TEST(Queue, GetTimesOutWithEmptyOnTime) {
    Queue<int> q(4);
    auto start = Clock::now();
    bool timed_out = false;
    try {
        q.get(true, 200ms);
    } catch (const Empty& e) {
        timed_out = e.timed_out();
    }
    auto elapsed = Clock::now() - start;
    EXPECT_TRUE(timed_out) << "get on an empty queue did not time out with Empty";
    EXPECT_GE(elapsed, 200ms);
    EXPECT_LT(elapsed, 10s);  // generous: the machine is loaded
    // The duration overload, too.
    EXPECT_THROW(q.get(50ms), Empty);
}

TEST(Queue, PutOnFullQueueBlocksThenTimesOutWithFull) {
    Queue<int> q(2);
    q.put(1);
    q.put(2);
    auto start = Clock::now();
    bool timed_out = false;
    try {
        q.put(3, 200ms);
    } catch (const Full& e) {
        timed_out = e.timed_out();
    }
    auto elapsed = Clock::now() - start;
    EXPECT_TRUE(timed_out) << "put on a full queue did not time out with Full";
    EXPECT_GE(elapsed, 200ms);
    EXPECT_LT(elapsed, 10s);
    EXPECT_EQ(q.qsize(), 2u);
}

TEST(Queue, BlockedPutProceedsWhenAConsumerTakesOne) {
    Queue<int> q(1);
    q.put(1);
    ipckit::test::Event done;
    Forked producer([&]() {
        q.put(2);  // blocks: the queue is full
        done.set();
        return 0;
    });
    ASSERT_TRUE(wait_until_blocked_in(producer.pid(), "futex"));
    EXPECT_FALSE(done.wait(0ms));
    EXPECT_EQ(q.get(), 1);
    ASSERT_TRUE(done.wait());
    EXPECT_EQ(q.get(), 2);
    EXPECT_EQ(producer.wait(), 0);
}

TEST(Queue, CloseWakesEveryWaiterAndDrainsFirst) {
    Queue<int> empty_q(4);
    Queue<int> full_q(1);
    full_q.put(0);
    std::vector<std::unique_ptr<Forked>> waiters;
    for (int i = 0; i < 2; ++i) {
        waiters.push_back(std::make_unique<Forked>([&]() {
            try {
                empty_q.get();
            } catch (const QueueClosed&) {
                return 0;
            }
            return 1;
        }));
        waiters.push_back(std::make_unique<Forked>([&]() {
            try {
                full_q.put(1);
            } catch (const QueueClosed&) {
                return 0;
            }
            return 1;
        }));
    }
    for (auto& w : waiters)
        ASSERT_TRUE(wait_until_blocked_in(w->pid(), "futex"));
    empty_q.close();
    full_q.close();
    for (auto& w : waiters)
        EXPECT_EQ(w->wait(), 0);
    EXPECT_TRUE(full_q.closed());
    EXPECT_THROW(full_q.put(5), QueueClosed);
    EXPECT_EQ(full_q.get(), 0);  // what was put before close is still delivered
    EXPECT_THROW(full_q.get(), QueueClosed);
    EXPECT_THROW(full_q.get_nowait(), QueueClosed);
}

TEST(Queue, StopRequestWakesAWaitingGet) {
    Queue<int> q(4);
    Forked child([&]() {
        ipckit::install_stop_handler({SIGUSR1});
        try {
            q.get();
        } catch (const ipckit::InterruptedError&) {
            return 0;
        }
        return 1;
    });
    ASSERT_TRUE(wait_until_blocked_in(child.pid(), "futex"));
    ::kill(child.pid(), SIGUSR1);
    EXPECT_EQ(child.wait(), 0);
}

TEST(Queue, JoinWaitsForEveryTaskDone) {
    ipckit::JoinableQueue<int> q(64);
    for (int i = 0; i < 50; ++i)
        q.put(i);
    EXPECT_EQ(q.unfinished_tasks(), 50u);
    Forked worker([&]() {
        for (int i = 0; i < 50; ++i) {
            q.get();
            if (i < 49) q.task_done();
        }
        return 0;
    });
    EXPECT_EQ(worker.wait(), 0);
    EXPECT_EQ(q.unfinished_tasks(), 1u);
    EXPECT_THROW(q.join(100ms), ipckit::BusyError);
    const pid_t parent = ::getpid();
    Forked finisher([&]() {
        // The last task_done comes while the parent sleeps in join.
        if (!wait_until_blocked_in(parent, "futex")) return 2;
        q.task_done();
        return 0;
    });
    q.join(20s);
    EXPECT_EQ(finisher.wait(), 0);
    EXPECT_EQ(q.unfinished_tasks(), 0u);
    EXPECT_THROW(q.task_done(), ipckit::ValueError);
}

// The default wait: a short poll where records fit in a cache line (measured faster),
// none where they do not (measured slower); and with the default, a waiter still ends up
// asleep in the kernel, not polling.
TEST(Queue, DefaultSpinIsShortForSmallItemsAndZeroOtherwise) {
    EXPECT_EQ(Queue<int>(4).spin(), 2us);
    EXPECT_EQ((Queue<std::array<char, 60>>(4).spin()), 2us);
    EXPECT_EQ((Queue<std::array<char, 61>>(4).spin()), 0ns);
    EXPECT_EQ((Queue<std::array<char, 1024>>(4).spin()), 0ns);
    EXPECT_EQ(ByteQueue(4).spin(), 0ns);
    EXPECT_EQ(ObjectQueue(4).spin(), 0ns);
    Queue<int> q(4);
    Forked child([&]() { return q.get() == 9 ? 0 : 1; });
    ASSERT_TRUE(wait_until_blocked_in(child.pid(), "futex"));
    q.put(9);
    EXPECT_EQ(child.wait(), 0);
}

TEST(Queue, SpinningWaitStillSleepsAfterItsSpin) {
    Queue<int> q(4);
    q.set_spin(50us);
    Forked child([&]() { return q.get() == 9 ? 0 : 1; });
    ASSERT_TRUE(wait_until_blocked_in(child.pid(), "futex"));  // the spin is over
    q.put(9);
    EXPECT_EQ(child.wait(), 0);
}

TEST(Queue, FourProducersFourConsumersExactlyOnceAndFifoPerProducer) {
    constexpr std::uint32_t producers = 4, consumers = 4;
    const std::uint32_t per_producer = sanitized ? 5000 : 250000;
    const std::size_t total = std::size_t{producers} * per_producer;
    Queue<Item> q(1024);
    RawArray<std::uint32_t> hits(total);
    RawArray<std::uint64_t> received(consumers);
    std::vector<std::unique_ptr<Forked>> procs;
    for (std::uint32_t p = 0; p < producers; ++p) {
        procs.push_back(std::make_unique<Forked>([&, p]() {
            for (std::uint32_t i = 0; i < per_producer; ++i)
                q.put(Item{p, i, check_of(p, i)});
            return 0;
        }));
    }
    for (std::uint32_t c = 0; c < consumers; ++c) {
        procs.push_back(std::make_unique<Forked>([&, c]() {
            std::vector<std::int64_t> last(producers, -1);
            std::uint64_t n = 0;
            for (;;) {
                Item it;
                try {
                    it = q.get();
                } catch (const QueueClosed&) {
                    break;
                }
                if (it.producer >= producers || it.seq >= per_producer) return 4;
                if (it.check != check_of(it.producer, it.seq)) return 5;
                if (static_cast<std::int64_t>(it.seq) <= last[it.producer]) return 6;  // FIFO
                last[it.producer] = it.seq;
                std::atomic_ref<std::uint32_t>(
                    hits[std::size_t{it.producer} * per_producer + it.seq])
                    .fetch_add(1, std::memory_order_relaxed);
                ++n;
            }
            received[c] = n;
            return 0;
        }));
    }
    for (std::uint32_t p = 0; p < producers; ++p)
        EXPECT_EQ(procs[p]->wait(), 0) << "producer " << p;
    q.close();  // the consumers drain the queue, then stop
    for (std::uint32_t c = 0; c < consumers; ++c)
        EXPECT_EQ(procs[producers + c]->wait(), 0) << "consumer " << c;
    std::uint64_t sum = 0;
    for (std::uint32_t c = 0; c < consumers; ++c)
        sum += received[c];
    EXPECT_EQ(sum, total);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < total; ++i)
        wrong += hits[i] != 1;
    EXPECT_EQ(wrong, 0u) << "messages not delivered exactly once";
    EXPECT_TRUE(q.empty());
}

TEST(Queue, ThreadsShareAQueue) {
    Queue<Item> q(64);
    constexpr std::uint32_t per_thread = 20000;
    std::atomic<std::uint64_t> sum{0};
    std::vector<std::thread> threads;
    for (std::uint32_t p = 0; p < 2; ++p) {
        threads.emplace_back([&, p] {
            for (std::uint32_t i = 0; i < per_thread; ++i)
                q.put(Item{p, i, check_of(p, i)});
        });
    }
    for (int c = 0; c < 2; ++c) {
        threads.emplace_back([&] {
            for (std::uint32_t i = 0; i < per_thread; ++i) {
                Item it = q.get();
                if (it.check == check_of(it.producer, it.seq)) sum += it.seq + 1;
            }
        });
    }
    for (auto& t : threads)
        t.join();
    EXPECT_EQ(sum.load(), 2ull * per_thread * (per_thread + 1) / 2);
    EXPECT_TRUE(q.empty());
}

TEST(ByteQueue, VariableSizesWrapAroundIntact) {
    ByteQueue q(64, 100000);
    message_for(0);
    Forked producer([&]() {
        for (std::uint32_t i = 0; i < 1000; ++i)
            q.put(message_for(i));
        q.put("");
        return 0;
    });
    std::string m;
    for (std::uint32_t i = 0; i < 1000; ++i) {
        q.get(m, true, 20s);
        ASSERT_EQ(check_message(m.data(), m.size()), i);
    }
    EXPECT_EQ(q.get(), "");
    EXPECT_EQ(producer.wait(), 0);
    EXPECT_THROW(q.put(std::string(100001, 'x')), ipckit::ValueError);
    std::array<std::byte, 8> small{};
    q.put(std::string(100, 'y'));
    EXPECT_THROW(q.get_into(small), ipckit::ValueError);
    EXPECT_EQ(q.qsize(), 1u);  // a message too large for the buffer stays
    EXPECT_EQ(q.get(), std::string(100, 'y'));
    const std::byte raw[] = {std::byte{0}, std::byte{255}, std::byte{7}};
    q.put(std::span<const std::byte>(raw));
    EXPECT_EQ(q.get(), std::string("\0\xff\x07", 3));
}

TEST(ByteQueue, FullByBytesTimesOut) {
    ByteQueue q(100, 64);
    q.put(std::string(50, 'a'));  // 4 + 50 -> 56 of 64 bytes
    EXPECT_FALSE(q.full());
    EXPECT_THROW(q.put(std::string(8, 'b'), 100ms), Full);
    q.put("");  // 8 bytes: fits exactly
    EXPECT_TRUE(q.full());
}

TEST(ObjectQueue, CarriesObjectsBetweenProcesses) {
    ObjectQueue q(16);
    Forked child([&]() {
        ipckit::Object::Dict d;
        d.set("fib", ipckit::Object::list({0, 1, 1, 2, 3, 5}));
        d.set(1, 2.5);
        q.put(ipckit::Object(std::move(d)));
        q.put(ipckit::Object("done"));
        return 0;
    });
    EXPECT_EQ(q.get(20s).repr(), "{'fib': [0, 1, 1, 2, 3, 5], 1: 2.5}");
    EXPECT_EQ(q.get(20s).repr(), "'done'");
    EXPECT_EQ(child.wait(), 0);
}

// The crash matrix (queue_crash.hpp), the child using the parent's queue (its mapping
// inherited by fork); after each kill the queue still carries a message.
TEST(CrashMatrix, ProducerKilledAtRandomPoints) {
    ByteQueue q(32, std::size_t{256} * 1024);
    producer_crash_matrix(
        q, {.iterations = sanitized ? 100 : 1000, .open_name = "", .label = "", .check = [&](int) {
                q.put("check");
                ASSERT_EQ(q.get_nowait(), "check");
            }});
}

TEST(CrashMatrix, ConsumerKilledAtRandomPoints) {
    ByteQueue q(64, std::size_t{512} * 1024);
    consumer_crash_matrix(
        q, {.iterations = sanitized ? 100 : 1000, .open_name = "", .label = "", .check = nullptr});
}

// The one moment at which a dying producer leaves work behind: its record is published (a
// consumer may take it) but the producers' count and offset are not yet moved. The next put
// takes the lock over, finds the published header at the tail and completes the dead put
// before its own; the queue then works on, around the ring and back.
TEST(CrashMatrix, AProducerKilledBetweenItsCommitAndItsCountIsCompletedByTheNextPut) {
    for (const bool get_first : {true, false}) {
        SCOPED_TRACE(get_first ? "get, then put" : "put, then get");
        ByteQueue q(8, 256);
        Forked child([&] {
            ipckit::detail::queue_fault_after_commit = [] { ::raise(SIGKILL); };
            q.put("committed");
            return 0;
        });
        ASSERT_EQ(child.wait(), -SIGKILL);
        EXPECT_TRUE(q.lock_held());  // it died inside put, holding the producers' lock
        std::string out;
        if (get_first) {
            q.get(out, true, 5s);
            EXPECT_EQ(out, "committed");
            q.put("next", true, 5s);
        } else {
            q.put("next", true, 5s);
            q.get(out, true, 5s);
            EXPECT_EQ(out, "committed");
        }
        q.get(out, true, 5s);
        EXPECT_EQ(out, "next");
        EXPECT_EQ(q.qsize(), 0u);
        EXPECT_EQ(q.recoveries(), 1u);
        for (int i = 0; i < 100; ++i) {  // 100 records of 8 bytes: three laps of the ring
            q.put(std::to_string(i % 10));
            q.get(out, true, 5s);
            ASSERT_EQ(out, std::to_string(i % 10));
        }
        EXPECT_EQ(q.qsize(), 0u);
    }
}

// The same for Queue<T>, whose records are the item and its header, 8 bytes here.
TEST(CrashMatrix, AProducerOfItemsKilledBetweenItsCommitAndItsCountIsCompletedByTheNextPut) {
    Queue<int> q(4);
    Forked child([&] {
        ipckit::detail::queue_fault_after_commit = [] { ::raise(SIGKILL); };
        q.put(1);
        return 0;
    });
    ASSERT_EQ(child.wait(), -SIGKILL);
    EXPECT_EQ(q.get(5s), 1);
    q.put(2, 5s);
    EXPECT_EQ(q.get(5s), 2);
    EXPECT_EQ(q.qsize(), 0u);
    EXPECT_EQ(q.recoveries(), 1u);
    for (int i = 0; i < 20; ++i) {  // five laps of the ring, full at each
        for (int j = 0; j < 4; ++j)
            q.put_nowait(10 * i + j);
        EXPECT_TRUE(q.full());
        for (int j = 0; j < 4; ++j)
            ASSERT_EQ(q.get_nowait(), 10 * i + j);
    }
}

// Killed for certain while it holds the lock: a producer or consumer copying a 16 MiB
// message. The next caller takes the lock over and finds the queue as it was before the
// interrupted operation.
TEST(CrashMatrix, KilledWhileHoldingTheLock) {
    constexpr std::size_t big = std::size_t{16} << 20;
    ByteQueue q(4, 2 * big + 64);
    std::string message(big, '\0');
    for (std::size_t i = 0; i < big; ++i)
        message[i] = static_cast<char>(i * 131 % 251);
    for (int round = 0; round < 4; ++round) {
        const bool producer_dies = round % 2 == 0;
        if (!producer_dies) q.put(message);  // one for the consumer to take
        const std::size_t before = q.qsize();
        Forked child([&]() {
            std::string out;
            for (;;) {
                if (producer_dies) {
                    q.put(message);
                    q.get(out);  // keep the queue from filling
                } else {
                    q.get(out);
                    q.put(out);
                }
            }
            return 0;
        });
        while (!q.lock_held())
            std::this_thread::yield();
        const std::uint32_t recoveries = q.recoveries();
        ASSERT_EQ(child.kill_and_wait(), -SIGKILL);
        auto start = Clock::now();
        const std::size_t after = q.qsize();  // no lock needed
        std::string out;
        if (after > 0) {
            q.get(out, true, 5s);
        } else {
            q.put("probe");
            q.get(out, true, 5s);
        }
        const auto took = Clock::now() - start;
        EXPECT_TRUE(q.recoveries() == recoveries + 1 || !q.lock_held()) << "round " << round;
        if (after > 0) {
            EXPECT_TRUE(out == message) << "round " << round << ": torn message";
        }
        EXPECT_LE(after, before + 1);
        EXPECT_LT(took, 2s) << "the survivor waited too long for a dead owner's lock";
        std::printf("round %d (%s killed): lock taken over in %.1f ms, recoveries %u\n", round,
                    producer_dies ? "producer" : "consumer",
                    std::chrono::duration<double, std::milli>(took).count(), q.recoveries());
        while (!q.empty())
            q.get(out, false);
    }
    EXPECT_GE(q.recoveries(), 1u);
}

namespace {

// Stops `child` at a moment it holds one of the queue's locks (it is the only process
// using the queue then, so the lock is its own). False if it never caught it. The child
// puts or gets in a loop; `feed` gives it work again (room to put, items to get) whenever
// an attempt fails or it has not been seen holding a lock for 10 ms: on a loaded machine
// this process may get no CPU until the child has filled or emptied the queue, and then
// the child only takes a lock for a moment every 50 ms (its waits' slice).
bool stop_holding_lock(const QueueBase& q, Forked& child, const std::function<void()>& feed) {
    using Clock = std::chrono::steady_clock;
    for (int attempt = 0; attempt < 1000; ++attempt) {
        for (auto since = Clock::now(); !q.lock_held(); std::this_thread::yield()) {
            if (Clock::now() - since > 10ms) {
                feed();
                since = Clock::now();
            }
        }
        ::kill(child.pid(), SIGSTOP);
        if (!ipckit::test::wait_until_state(child.pid(), 'T')) return false;
        if (q.lock_held()) return true;
        ::kill(child.pid(), SIGCONT);
        feed();
    }
    return false;
}

// Runs `body` in a child and waits at most 20 s for it to report success through a pipe: a
// call that blocks forever fails the test instead of hanging it.
bool finishes_in_child(const std::function<void()>& body) {
    int fds[2];
    if (::pipe(fds) != 0) return false;
    Forked child([&] {
        ::close(fds[0]);
        body();
        const char done = 'k';
        return ::write(fds[1], &done, 1) == 1 ? 0 : 1;
    });
    ::close(fds[1]);
    pollfd p{fds[0], POLLIN, 0};
    const bool answered = ::poll(&p, 1, 20000) == 1;
    ::close(fds[0]);
    if (!answered) return false;
    return child.wait() == 0;
}

}  // namespace

// Producers and consumers have a lock each: a producer stopped inside put (holding the
// producers' lock) does not keep consumers from what is already in the queue. (With one
// lock for both, as before, the get below waited for as long as the producer was stopped.)
TEST(Queue, AProducerStoppedHoldingItsLockDoesNotStopConsumers) {
    Queue<std::uint64_t> q(1u << 20);
    for (std::uint64_t i = 0; i < 100; ++i)
        q.put(i);
    Forked producer([&] {
        for (std::uint64_t i = 100;; ++i)
            q.put(i);
        return 0;
    });
    auto make_room = [&] {  // from the head: the queue keeps its 100 or more newest items
        for (int k = 0; k < 1000 && q.qsize() > 1000; ++k)
            q.get_nowait();
    };
    ASSERT_TRUE(stop_holding_lock(q, producer, make_room)) << "never caught the producer in put";
    EXPECT_TRUE(finishes_in_child([&] {
        std::uint64_t first = q.get_nowait();
        for (std::uint64_t i = 1; i < 100; ++i) {
            if (q.get_nowait() != first + i) std::_Exit(2);  // in order, none lost
        }
    })) << "a consumer could not get while a producer was stopped inside put";
    EXPECT_EQ(producer.kill_and_wait(), -SIGKILL);
}

// And a consumer stopped inside get does not keep producers from putting.
TEST(Queue, AConsumerStoppedHoldingItsLockDoesNotStopProducers) {
    Queue<std::uint64_t> q(1u << 20);
    for (std::uint64_t i = 0; i < (1u << 19); ++i)
        q.put(i);
    Forked consumer([&] {
        for (;;)
            q.get();
        return 0;
    });
    std::uint64_t next = 1u << 19;
    auto add_items = [&] {
        for (int k = 0; k < 1000 && q.qsize() < 1000; ++k)
            q.put_nowait(next++);
    };
    ASSERT_TRUE(stop_holding_lock(q, consumer, add_items)) << "never caught the consumer in get";
    EXPECT_TRUE(finishes_in_child([&] {
        for (std::uint64_t i = 0; i < 100; ++i)
            q.put_nowait(i);
    })) << "a producer could not put while a consumer was stopped inside get";
    EXPECT_EQ(consumer.kill_and_wait(), -SIGKILL);
}
