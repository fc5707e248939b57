// ipckit::sysv::MessageQueue against real kernel queues and real processes.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/msg.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <random>

#include "ipckit/ipckit.hpp"
#include "support.hpp"

namespace sysv = ipckit::sysv;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using ipckit::Process;
using ipckit::test::Event;
using ipckit::test::wait_until_blocked_in;

namespace {

// A fresh queue with a random key, removed when the test ends, even when it fails.
sysv::MessageQueue fresh_queue(std::size_t max_message_size = sysv::default_max_message_size) {
    sysv::MessageQueue mq(std::nullopt, sysv::IPC_CREX, sysv::default_mode, max_message_size);
    mq.set_auto_remove(true);
    return mq;
}

std::string random_bytes(std::mt19937& rng, std::size_t size) {
    std::string s(size, '\0');
    for (std::size_t i = 0; i < size; i += 4) {
        std::uint32_t word = rng();
        std::memcpy(s.data() + i, &word, std::min<std::size_t>(4, size - i));
    }
    return s;
}

// The stray signal's handler (in the receiver process): counts, and says it ran.
volatile sig_atomic_t stray_signals = 0;
int stray_fd = -1;
void on_stray_signal(int) {
    stray_signals = stray_signals + 1;
    ssize_t written = ::write(stray_fd, "s", 1);
    (void)written;
}

template <class F>
auto elapsed(F&& f) {
    auto start = Clock::now();
    f();
    return Clock::now() - start;
}

}  // namespace

TEST(MessageQueue, SendsAndReceivesWithSysvIpcDefaults) {
    auto mq = fresh_queue();
    EXPECT_EQ(mq.mode(), 0600);
    EXPECT_EQ(mq.max_message_size(), 2048u);
    EXPECT_NE(mq.key(), IPC_PRIVATE);
    mq.send("42");
    auto [data, type] = mq.receive();
    EXPECT_EQ(data, "42");
    EXPECT_EQ(type, 1);
}

TEST(MessageQueue, SendsFromAndReceivesIntoMessageBuffers) {
    auto mq = fresh_queue();
    sysv::MessageBuffer out(8);
    out.assign(std::string_view("ping"), 4);
    mq.send(out);
    mq.send(out);
    sysv::MessageBuffer in(8);
    auto got = mq.receive_into(in);
    EXPECT_EQ(got.size, 4u);
    EXPECT_EQ(got.type, 4);
    EXPECT_EQ(in.text(), "ping");
    in.set_type(9);  // echo it back with another type
    mq.send(in);
    mq.receive(sysv::type(4));
    EXPECT_EQ(mq.receive().type, 9);
    EXPECT_THROW(out.assign(std::string_view("too long for 8"), 1), ipckit::ValueError);
    out.set_type(0);
    EXPECT_THROW(mq.send(out), ipckit::ValueError);
}

TEST(MessageQueue, PrivateQueueAndOpenById) {
    sysv::MessageQueue mq(IPC_PRIVATE, IPC_CREAT, 0640);
    mq.set_auto_remove(true);
    EXPECT_EQ(mq.key(), IPC_PRIVATE);
    EXPECT_EQ(mq.mode(), 0640);
    auto same = sysv::MessageQueue::from_id(mq.id());
    same.send("by id", sysv::type(7));
    auto message = mq.receive();
    EXPECT_EQ(message.data, "by id");
    EXPECT_EQ(message.type, 7);
    EXPECT_NE(mq.describe().find("id " + std::to_string(mq.id())), std::string::npos);
}

TEST(MessageQueue, OpensByKeyAndFtok) {
    auto mq = fresh_queue();
    sysv::MessageQueue other(mq.key());
    EXPECT_EQ(other.id(), mq.id());
    sysv::Key k1 = sysv::ftok("/", 1);
    EXPECT_EQ(k1, ::ftok("/", 1));
    EXPECT_THROW(sysv::ftok("/no/such/path/for/ipckit", 1), ipckit::ExistentialError);
}

TEST(MessageQueue, MovesOwnership) {
    auto mq = fresh_queue();
    int id = mq.id();
    sysv::MessageQueue moved = std::move(mq);
    EXPECT_EQ(moved.id(), id);
    EXPECT_EQ(mq.id(), -1);  // NOLINT(bugprone-use-after-move): moved-from state is specified
    moved.send("x");
    EXPECT_EQ(moved.current_messages(), 1u);
}

TEST(MessageQueue, TwoProcessesPass100000MixedMessagesInOrder) {
    const std::size_t limit = sysv::message_queue_limits().msgmax;
    auto mq = fresh_queue(limit);
    constexpr int count = 100'000;
    constexpr unsigned seed = 20261126;

    Process sender([key = mq.key(), limit] {
        sysv::MessageQueue queue(key, 0, sysv::default_mode, limit);
        std::mt19937 rng(seed);
        for (int i = 0; i < count; ++i) {
            std::size_t size = (i % 1000 == 0) ? limit : (i % 7 == 0 ? 0 : rng() % (limit + 1));
            long type = 1 + static_cast<long>(rng() % 1000);
            queue.send(random_bytes(rng, size), sysv::type(type));
        }
    });
    sender.start();

    std::mt19937 rng(seed);
    int mismatches = 0;
    sysv::MessageBuffer buffer(limit);
    for (int i = 0; i < count; ++i) {
        std::size_t size = (i % 1000 == 0) ? limit : (i % 7 == 0 ? 0 : rng() % (limit + 1));
        long type = 1 + static_cast<long>(rng() % 1000);
        std::string expected = random_bytes(rng, size);
        auto got = i % 2 ? mq.receive_into(buffer, sysv::timeout(30s)) : sysv::Received{0, 0};
        std::string data;
        if (i % 2) {
            data.assign(buffer.text());
        } else {
            auto message = mq.receive(sysv::timeout(30s));
            data = std::move(message.data);
            got = {data.size(), message.type};
        }
        if (data != expected || got.type != type || got.size != size) ++mismatches;
    }
    sender.join();
    EXPECT_EQ(sender.exitcode(), 0);
    EXPECT_EQ(mismatches, 0);
    EXPECT_EQ(mq.current_messages(), 0u);
}

TEST(MessageQueue, MissingQueueNamesKeyAndFix) {
    sysv::Key key = sysv::random_key();
    try {
        sysv::MessageQueue mq(key);
        mq.remove();
        FAIL() << "opened a queue that should not exist";
    } catch (const ipckit::ExistentialError& e) {
        EXPECT_EQ(e.errno_value(), ENOENT);
        EXPECT_NE(std::string(e.what()).find(sysv::format_key(key)), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("no such queue"), std::string::npos);
        // ...and the fix: create it (or start the server that does).
        EXPECT_NE(std::string(e.what()).find("create it with IPC_CREAT"), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find("is the server running?"), std::string::npos)
            << e.what();
    }
}

TEST(MessageQueue, ExclusiveCreateOfExistingQueueFails) {
    auto mq = fresh_queue();
    try {
        sysv::MessageQueue again(mq.key(), sysv::IPC_CREX);
        FAIL() << "IPC_CREX opened an existing queue";
    } catch (const ipckit::ExistentialError& e) {
        EXPECT_EQ(e.errno_value(), EEXIST);
        EXPECT_NE(std::string(e.what()).find("already exists"), std::string::npos);
    }
    // IPC_CREAT alone opens it.
    sysv::MessageQueue same(mq.key(), IPC_CREAT);
    EXPECT_EQ(same.id(), mq.id());
}

TEST(MessageQueue, AnotherUserIsDeniedByMode0600) {
    IPCKIT_SKIP_UNLESS_ROOT();  // to drop to nobody
    auto mq = fresh_queue();
    Process nobody([key = mq.key()] {
        if (::setgroups(0, nullptr) != 0 || ::setgid(65534) != 0 || ::setuid(65534) != 0) {
            ::_exit(3);
        }
        try {
            sysv::MessageQueue queue(key);
        } catch (const ipckit::PermissionsError&) {
            ::_exit(0);
        } catch (...) {
            ::_exit(4);
        }
        ::_exit(5);
    });
    nobody.start();
    nobody.join();
    EXPECT_EQ(nobody.exitcode(), 0);
}

// A receiver blocked in msgrcv wakes when the queue is removed, and says why (EIDRM).
// Speed is the benchmarks' business: the bound here is only against a hang.
TEST(MessageQueue, RemovalWakesBlockedReceiver) {
    auto mq = fresh_queue();
    Event receiving;
    Process receiver([&receiving, key = mq.key()] {
        sysv::MessageQueue queue(key);
        receiving.set();  // nothing but the receive follows
        try {
            queue.receive();
        } catch (const ipckit::ExistentialError& e) {
            bool removed = std::string(e.what()).find("removed") != std::string::npos;
            ::_exit(removed && e.errno_value() == EIDRM ? 0 : 4);
        } catch (...) {
            ::_exit(3);
        }
        ::_exit(2);
    });
    receiver.start();
    ASSERT_TRUE(receiving.wait());
    ASSERT_TRUE(wait_until_blocked_in(receiver.pid(), "msgrcv"));
    mq.remove();
    ASSERT_TRUE(receiver.join(60s));
    EXPECT_EQ(receiver.exitcode(), 0);
}

TEST(MessageQueue, FullQueueWithoutBlockingIsBusy) {
    auto mq = fresh_queue();
    mq.set_max_size(64);
    EXPECT_EQ(mq.max_size(), 64u);
    mq.send(std::string(40, 'a'), false);
    try {
        mq.send(std::string(40, 'b'), false);
        FAIL() << "send on a full queue did not fail";
    } catch (const ipckit::BusyError& e) {
        EXPECT_EQ(e.reason(), ipckit::BusyError::Reason::would_block);
        EXPECT_EQ(e.errno_value(), EAGAIN);
    }
    EXPECT_EQ(mq.current_messages(), 1u);
    // A blocking send with a timeout gives up too.
    // It waits the whole timeout, not less; the upper bound is only against a hang.
    auto took = elapsed([&] {
        try {
            mq.send(std::string(40, 'c'), sysv::timeout(100ms));
            ADD_FAILURE() << "a timed send on a full queue did not fail";
        } catch (const ipckit::BusyError& e) {
            EXPECT_TRUE(e.timed_out());
        }
    });
    EXPECT_GE(took, 100ms);
    EXPECT_LT(took, 30s);
    EXPECT_EQ(mq.current_messages(), 1u);
}

TEST(MessageQueue, EmptyQueueWithoutBlockingIsBusy) {
    auto mq = fresh_queue();
    try {
        mq.receive(false);
        FAIL();
    } catch (const ipckit::BusyError& e) {
        EXPECT_FALSE(e.timed_out());
    }
}

TEST(MessageQueue, ReceiveTimeoutIsHonoured) {
    auto mq = fresh_queue();
    for (auto wait : {20ms, 200ms}) {
        auto took = elapsed([&] {
            try {
                mq.receive(sysv::timeout(wait));
                ADD_FAILURE() << "received from an empty queue";
            } catch (const ipckit::BusyError& e) {
                EXPECT_TRUE(e.timed_out());
            }
        });
        EXPECT_GE(took, wait);        // not earlier
        EXPECT_LT(took, wait + 30s);  // only against a hang: speed is for the benchmarks
    }
    // A zero timeout tries once.
    EXPECT_THROW(mq.receive(sysv::timeout(0ms)), ipckit::BusyError);
}

TEST(MessageQueue, TimedReceiveGetsAMessageSentMeanwhile) {
    auto mq = fresh_queue();
    Process sender([key = mq.key()] {
        sysv::MessageQueue queue(key);
        queue.send("late", sysv::type(2));
    });
    sender.start();
    auto message = mq.receive(sysv::timeout(20s));
    EXPECT_EQ(message.data, "late");
    sender.join();
}

TEST(MessageQueue, NegativeTypeTakesLowestTypeFirst) {
    auto mq = fresh_queue();
    for (long t : {5, 3, 7, 1, 3})
        mq.send("t" + std::to_string(t), sysv::type(t));
    EXPECT_EQ(mq.receive(sysv::type(-4)).type, 1);
    auto three = mq.receive(sysv::type(-4));
    EXPECT_EQ(three.type, 3);
    EXPECT_EQ(mq.receive(sysv::type(3)).type, 3);
    EXPECT_THROW(mq.receive(sysv::type(-4), sysv::nonblocking), ipckit::BusyError);
    EXPECT_EQ(mq.receive(sysv::type(-10)).type, 5);
    EXPECT_EQ(mq.receive().type, 7);
}

TEST(MessageQueue, PositiveTypeSkipsOthers) {
    auto mq = fresh_queue();
    mq.send("a", sysv::type(1));
    mq.send("b", sysv::type(2));
    mq.send("c", sysv::type(1));
    EXPECT_EQ(mq.receive(sysv::type(2)).data, "b");
    EXPECT_EQ(mq.receive().data, "a");
}

TEST(MessageQueue, ExceptTypeTakesAnyOtherType) {
    auto mq = fresh_queue();
    mq.send("one", sysv::type(1));
    mq.send("one again", sysv::type(1));
    mq.send("two", sysv::type(2));
    mq.send("three", sysv::type(3));
    auto message = mq.receive(sysv::except_type(1));
    EXPECT_EQ(message.data, "two");
    EXPECT_EQ(mq.receive(sysv::except_type(1)).data, "three");
    EXPECT_THROW(mq.receive(sysv::except_type(1), sysv::nonblocking), ipckit::BusyError);
    EXPECT_THROW(mq.receive(sysv::except_type(0)), ipckit::ValueError);
}

TEST(MessageQueue, OversizedMessageDoesNotPoisonTheQueue) {
    auto mq = fresh_queue(4096);
    sysv::MessageQueue small(mq.key(), 0, sysv::default_mode, 16);
    mq.send(std::string(100, 'x'), sysv::type(9));
    mq.send("after");
    try {
        small.receive();
        FAIL() << "a 100-byte message fit a 16-byte buffer";
    } catch (const sysv::MessageTooLargeError& e) {
        EXPECT_EQ(e.message_size(), 100u);
        EXPECT_EQ(e.message_type(), 9);
        EXPECT_NE(std::string(e.what()).find("still on the queue"), std::string::npos);
    }
    EXPECT_EQ(mq.current_messages(), 2u);
    // Retry with a big enough buffer...
    sysv::MessageBuffer buffer(100);
    auto got = small.receive_into(buffer);
    EXPECT_EQ(got.size, 100u);
    EXPECT_EQ(buffer.text(), std::string(100, 'x'));
    EXPECT_EQ(small.receive().data, "after");
    // ...or ask for truncation.
    mq.send(std::string(50, 'y'));
    EXPECT_EQ(small.receive(sysv::truncate).data, std::string(16, 'y'));
    EXPECT_EQ(mq.current_messages(), 0u);
}

TEST(MessageQueue, SendRefusesBadTypeAndTooLongMessagesBeforeTheSyscall) {
    auto mq = fresh_queue();
    EXPECT_THROW(mq.send("x", sysv::type(0)), ipckit::ValueError);
    EXPECT_THROW(mq.send("x", sysv::type(-3)), ipckit::ValueError);
    try {
        mq.send(std::string(2049, 'x'));
        FAIL();
    } catch (const ipckit::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("max_message_size (2048)"), std::string::npos);
    }
    const std::size_t msgmax = sysv::message_queue_limits().msgmax;
    sysv::MessageQueue big(mq.key(), 0, sysv::default_mode, msgmax * 4);
    try {
        big.send(std::string(msgmax + 1, 'x'));
        FAIL();
    } catch (const ipckit::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("/proc/sys/kernel/msgmax"), std::string::npos);
    }
    EXPECT_EQ(mq.current_messages(), 0u);
    EXPECT_EQ(mq.last_send_pid(), 0);  // nothing reached the kernel
}

TEST(MessageQueue, AttributesChangeAsTheManPageSays) {
    auto mq = fresh_queue();
    auto before = mq.info();
    EXPECT_EQ(before.key, mq.key());
    EXPECT_EQ(before.current_messages, 0u);
    EXPECT_EQ(before.last_send_time, 0);
    EXPECT_EQ(before.last_receive_time, 0);
    EXPECT_EQ(before.last_send_pid, 0);
    EXPECT_EQ(before.last_receive_pid, 0);
    EXPECT_GT(before.last_change_time, 0);
    EXPECT_EQ(before.uid, ::geteuid());
    EXPECT_EQ(before.cuid, ::geteuid());
    EXPECT_EQ(before.gid, ::getegid());
    EXPECT_EQ(before.cgid, ::getegid());
    EXPECT_EQ(before.max_size, sysv::message_queue_limits().msgmnb);

    mq.send("hello");
    EXPECT_EQ(mq.current_messages(), 1u);
    EXPECT_EQ(mq.info().current_bytes, 5u);
    EXPECT_EQ(mq.last_send_pid(), ::getpid());
    EXPECT_GE(mq.last_send_time(), before.last_change_time);

    Process receiver([key = mq.key()] { sysv::MessageQueue(key).receive(); });
    receiver.start();
    receiver.join();
    ASSERT_EQ(receiver.exitcode(), 0);
    EXPECT_EQ(mq.last_receive_pid(), receiver.pid());
    EXPECT_GT(mq.last_receive_time(), 0);
    EXPECT_EQ(mq.current_messages(), 0u);

    mq.set_mode(0644);
    EXPECT_EQ(mq.mode(), 0644);
    mq.set_max_size(1000);
    EXPECT_EQ(mq.max_size(), 1000u);
    // The owner may give the queue to another user and group (nobody's, 65534) and,
    // being its creator, take it back.
    mq.set_uid(65534);
    mq.set_gid(65534);
    EXPECT_EQ(mq.uid(), 65534u);
    EXPECT_EQ(mq.gid(), 65534u);
    EXPECT_EQ(mq.info().cuid, ::geteuid());  // the creator stays
    mq.set_uid(::geteuid());
    mq.set_gid(::getegid());
    EXPECT_EQ(mq.uid(), ::geteuid());
    EXPECT_EQ(mq.gid(), ::getegid());
}

TEST(MessageQueue, OperationsOnARemovedQueueSayItWasRemoved) {
    auto mq = fresh_queue();
    sysv::MessageQueue other(mq.key());
    mq.remove();
    EXPECT_THROW(other.send("x"), ipckit::ExistentialError);
    EXPECT_THROW(other.receive(false), ipckit::ExistentialError);
    EXPECT_THROW(other.info(), ipckit::ExistentialError);
    EXPECT_THROW(other.remove(), ipckit::ExistentialError);
}

// A stray signal (a handler that asks for nothing, without SA_RESTART) interrupts a
// receiver blocked in msgrcv: ipckit retries, and the receive then returns the message.
// The signal certainly arrives mid-call: the receiver says (a pipe) that it is about to
// receive, the kernel shows it asleep in msgrcv, and nothing else wakes it; the handler
// reports that it ran (another pipe), and the receiver checks that it ran exactly once
// before the receive returned. Then a stop request (SIGUSR1) ends the next receive.
TEST(MessageQueue, StraySignalIsRetriedAndStopRequestWakesReceiver) {
    auto mq = fresh_queue();
    Event receiving, receiving_again;
    int handled[2];
    ASSERT_EQ(::pipe2(handled, O_CLOEXEC), 0);
    stray_fd = handled[1];
    Process receiver([&, key = mq.key()] {
        struct sigaction stray {};
        stray.sa_handler = on_stray_signal;  // no SA_RESTART: msgrcv returns EINTR
        ::sigaction(SIGUSR2, &stray, nullptr);
        ipckit::install_stop_handler({SIGUSR1});
        sysv::MessageQueue queue(key);
        receiving.set();
        if (queue.receive().data != "first") ::_exit(3);
        if (stray_signals != 1) ::_exit(6);  // the handler ran, once, during the receive
        receiving_again.set();
        try {
            queue.receive();
        } catch (const ipckit::InterruptedError&) {
            ::_exit(ipckit::stop_signal() == SIGUSR1 ? 0 : 5);
        }
        ::_exit(4);
    });
    receiver.start();
    ::close(handled[1]);
    ASSERT_TRUE(receiving.wait());
    ASSERT_TRUE(wait_until_blocked_in(receiver.pid(), "msgrcv"));
    ::kill(receiver.pid(), SIGUSR2);
    pollfd ran{handled[0], POLLIN, 0};
    char byte = 0;
    bool handler_ran = ::poll(&ran, 1, 30'000) == 1 && ::read(handled[0], &byte, 1) == 1;
    ::close(handled[0]);
    ASSERT_TRUE(handler_ran) << "the handler did not run";
    // The handler ran after msgrcv returned EINTR: asleep in msgrcv again is the retry.
    ASSERT_TRUE(wait_until_blocked_in(receiver.pid(), "msgrcv"));
    mq.send("first");
    ASSERT_TRUE(receiving_again.wait());
    ASSERT_TRUE(wait_until_blocked_in(receiver.pid(), "msgrcv"));
    ::kill(receiver.pid(), SIGUSR1);
    ASSERT_TRUE(receiver.join(60s));
    EXPECT_EQ(receiver.exitcode(), 0);
}

TEST(MessageQueue, AdaptiveWaitReceivesLikeBlockingReceive) {
    auto mq = fresh_queue();
    Process echo([key = mq.key()] {
        sysv::MessageQueue queue(key);
        for (int i = 0; i < 100; ++i) {
            auto m = queue.receive(sysv::type(1), sysv::adaptive_wait(50us));
            queue.send(m.data, sysv::type(2));
        }
    });
    echo.start();
    for (int i = 0; i < 100; ++i) {
        mq.send(std::to_string(i), sysv::type(1));
        EXPECT_EQ(mq.receive(sysv::type(2), sysv::adaptive_wait(50us), sysv::timeout(20s)).data,
                  std::to_string(i));
    }
    echo.join();
    EXPECT_EQ(echo.exitcode(), 0);
}

TEST(MessageQueue, ListsQueuesAndRemovesById) {
    auto mq = fresh_queue();
    mq.send("abc");
    bool found = false;
    for (const auto& q : sysv::list_message_queues()) {
        if (q.id == mq.id()) {
            found = true;
            EXPECT_EQ(q.key, mq.key());
            EXPECT_EQ(q.current_messages, 1u);
        }
    }
    EXPECT_TRUE(found);
    sysv::remove_message_queue(mq.id());
    EXPECT_THROW(sysv::remove_message_queue(mq.id()), ipckit::ExistentialError);
    mq.set_auto_remove(false);
}

TEST(Keys, ParseAndFormat) {
    EXPECT_EQ(sysv::parse_key("128"), 128);
    EXPECT_EQ(sysv::parse_key("0x80"), 128);
    EXPECT_EQ(sysv::parse_key("0XfF"), 255);
    EXPECT_EQ(sysv::format_key(128), "0x00000080");
    EXPECT_EQ(sysv::parse_key("0xffffffff"), -1);
    EXPECT_THROW(sysv::parse_key("12a"), ipckit::ValueError);
    EXPECT_THROW(sysv::parse_key(""), ipckit::ValueError);
    EXPECT_THROW(sysv::parse_key("0x1ffffffff"), ipckit::ValueError);
}
