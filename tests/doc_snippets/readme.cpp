// README.md's C++ snippets, compiled and run as a new user would (see snippets.hpp).
#include <sys/msg.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "ipckit/programs/time_service.hpp"
#include "snippets.hpp"
#include "support.hpp"

// doc-snippet-substitute: mq(128, IPC_CREAT) => mq(key, IPC_CREAT)

namespace {
using ipckit::doc_test::captured_stdout;
}  // namespace

// README.md:24 (Quick start), with a fresh key for 128.
TEST(ReadmeSnippets, QuickStartMessageQueue) {
    auto reserved = ipckit::doc_test::reserve_queue();
    const ipckit::sysv::Key key = reserved.key();
    std::string printed = captured_stdout([&] {
#include <ipckit/ipckit.hpp>
        namespace sysv = ipckit::sysv;
        using namespace std::chrono_literals;

        sysv::MessageQueue mq(key, IPC_CREAT);  // mode 0600, like sysv_ipc
        mq.set_auto_remove(true);               // removed with mq, even if a call throws
        mq.send("42");                          // type 1
        auto [data, type] = mq.receive();       // first message, any type: "42", 1
        try {
            auto reply = mq.receive(sysv::type(3), sysv::timeout(2s));
        } catch (const ipckit::BusyError& e) {  // no message of type 3 within 2 s
            std::cout << e.what() << '\n';      // e.timed_out() is true
        }
        mq.remove();  // now, rather than at the end of scope

        EXPECT_EQ(data, "42");
        EXPECT_EQ(type, 1);
    });
    EXPECT_NE(printed.find("timeout"), std::string::npos) << printed;
    EXPECT_FALSE(ipckit::test::queue_exists(key));
}

// README.md:41
TEST(ReadmeSnippets, Process) {
    std::string printed = captured_stdout([] {
        ipckit::Process child([] { /* runs in a forked child */ });
        child.start();
        child.join();
        std::cout << *child.exitcode();  // 0; 1 after an exception; -9 when SIGKILLed
    });
    EXPECT_EQ(printed, "0");
}

// README.md:48
TEST(ReadmeSnippets, ValueAndArray) {
    std::string printed = captured_stdout([] {
        ipckit::Value<double> number(0.0);  // shared with children forked later
        ipckit::Array<int> vector(ipckit::range(10));
        ipckit::Process p([=] {
            number.value() = 3.1415927;  // each access takes the robust lock
            for (std::size_t i = 0; i < vector.size(); ++i)
                vector[i] = -vector[i];
        });
        p.start();
        p.join();
        std::cout << number.value() << '\n' << vector << '\n';  // 3.1415927  [0, -1, ..., -9]
        auto g = vector.lock();                                 // one lock for bulk work: g.span()

        EXPECT_EQ(g.span().size(), 10u);
    });
    EXPECT_EQ(printed, "3.1415927\n[0, -1, -2, -3, -4, -5, -6, -7, -8, -9]\n");
}

// README.md:61
TEST(ReadmeSnippets, Manager) {
    std::string printed = captured_stdout([] {
        ipckit::Manager manager;  // a server process, stopped at scope end
        auto dct = manager.dict();
        auto lst = manager.list(ipckit::range(10));
        ipckit::Process p(
            [](ipckit::DictProxy d, ipckit::ListProxy l) {
                d[1] = "one";
                l.reverse();
            },
            dct, lst);
        p.start();
        p.join();
        std::cout << dct << ' ' << lst;  // {1: 'one'} [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]
    });
    EXPECT_EQ(printed, "{1: 'one'} [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
}

// README.md (Quick start): a Queue between a parent and its child, and a Pool.
TEST(ReadmeSnippets, QueueAndPool) {
    using namespace std::chrono_literals;
    std::int64_t seven_squared = 0;
    std::string printed = captured_stdout([&] {
        ipckit::Queue<std::uint64_t> queue;  // in shared memory: for children forked later
        ipckit::Process child([queue]() mutable {
            for (std::uint64_t x : {0, 1, 1, 2, 3})
                queue.put(x);
        });
        child.start();
        for (int i = 0; i < 5; ++i)
            std::cout << queue.get() << ' ';  // 0 1 1 2 3
        child.join();

        auto square = [](std::int64_t x) {
            return x * x;
        };                     // a function, or a lambda without captures
        ipckit::Pool pool(4);  // 4 forked workers, fed by a shared-memory queue
        auto squares = pool.map(square, ipckit::range(100000));  // a std::vector: 0, 1, 4, 9, ...
        auto seven = pool.apply_async(square, 7);                // seven.get(1s) is 49

        ASSERT_EQ(squares.size(), 100000u);
        EXPECT_EQ(squares[99999], std::int64_t{99999} * 99999);
        seven_squared = seven.get(30s);  // (a generous timeout: the machine may be loaded)
    });
    EXPECT_EQ(printed, "0 1 1 2 3 ");
    EXPECT_EQ(seven_squared, 49);
}

// README.md, "From the handout's Python to ipckit": the Pool rows.
TEST(ReadmeSnippets, PythonTablePoolRows) {
    using namespace std::chrono_literals;
    auto square = [](std::int64_t x) { return x * x; };
    auto f = square;
    std::vector<int> xs{1, 2, 3};
    std::int64_t x = 5;
    std::string printed = captured_stdout([&] {
        ipckit::Pool pool(4);
        std::cout << ipckit::repr(pool.map(square, ipckit::range(10)));
        EXPECT_EQ(pool.apply_async(f, x).get(30s), 25);  // the row's get(1s), made generous
        std::vector<std::int64_t> ordered;
        for (auto y : pool.imap(f, xs))
            ordered.push_back(y);
        EXPECT_EQ(ordered, (std::vector<std::int64_t>{1, 4, 9}));
        std::multiset<std::int64_t> unordered;
        for (auto y : pool.imap_unordered(f, xs, 8))
            unordered.insert(y);
        EXPECT_EQ(unordered, (std::multiset<std::int64_t>{1, 4, 9}));
    });
    EXPECT_EQ(printed, "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]");
}

// README.md, "From the handout's Python to ipckit": the message queue rows.
TEST(ReadmeSnippets, PythonTableMessageQueueRows) {
    namespace sysv = ipckit::sysv;
    using namespace std::chrono_literals;
    auto mq = ipckit::doc_test::reserve_queue();
    std::string message = "hello", m = "m";
    mq.send(message);
    mq.send(m, sysv::type(3));
    mq.send(m, sysv::nonblocking);
    mq.send(m, false);
    auto [first, t] = mq.receive();
    EXPECT_EQ(first, "hello");
    EXPECT_EQ(t, 1);
    EXPECT_EQ(mq.receive(sysv::type(-2)).type, 1);  // lowest type <= 2
    EXPECT_EQ(mq.current_messages(), 2u);
    EXPECT_EQ(mq.receive(sysv::except_type(1)).type, 3);
    EXPECT_THROW(mq.receive(sysv::timeout(10ms), sysv::type(9)), ipckit::BusyError);
    mq.set_max_size(4096);
    EXPECT_EQ(mq.max_size(), 4096u);
}

// README.md, "From the handout's Python to ipckit": time.asctime() is
// std::asctime(std::localtime(&t)) without its final '\n', the text Python prints.
TEST(ReadmeSnippets, AsctimeIsPythonsTimeAsctime) {
    std::time_t t = 1'700'000'000;  // a fixed instant: no race with the clock
    std::string ours = std::asctime(std::localtime(&t));
    ASSERT_FALSE(ours.empty());
    ASSERT_EQ(ours.back(), '\n');
    ours.pop_back();
    auto python =
        ipckit::test::run({ipckit::test::python, "-c",
                           "import time; print(time.asctime(time.localtime(1700000000)))"});
    ASSERT_EQ(python.exit_code, 0) << python.err;
    EXPECT_EQ(ours + "\n", python.out);
}

// README.md, the same row: ipckit::programs::asctime_now() is that text for the current time.
TEST(ReadmeSnippets, AsctimeNowIsTheTimeServersText) {
    for (int attempt = 0; attempt < 100; ++attempt) {
        const std::time_t before = std::time(nullptr);
        const std::string now = ipckit::programs::asctime_now();
        if (std::time(nullptr) != before) continue;  // the second changed meanwhile
        std::string expected = std::asctime(std::localtime(&before));
        expected.pop_back();
        EXPECT_EQ(now, expected);
        return;
    }
    FAIL() << "the clock's second changed during each of 100 attempts";
}

// README.md, the ipckit program's table: `mq send` needs the queue, or --create.
TEST(ReadmeSnippets, MqSendNeedsCreateForAMissingQueue) {
    auto reserved = ipckit::doc_test::reserve_queue();
    const ipckit::sysv::Key key_value = reserved.key();
    reserved.remove();  // a key that is certainly free now
    ipckit::test::QueueGuard guard(key_value);
    char key[16];
    std::snprintf(key, sizeof key, "0x%08x", static_cast<unsigned>(key_value));
    const std::string program = ipckit::test::ipckit_program();
    auto missing = ipckit::test::run({program, "mq", "send", key, "hi"});
    EXPECT_EQ(missing.exit_code, 1);
    EXPECT_NE(missing.err.find("no such"), std::string::npos) << missing.err;
    EXPECT_FALSE(ipckit::test::queue_exists(key_value));
    auto created = ipckit::test::run({program, "mq", "send", key, "--create", "hi"});
    EXPECT_EQ(created.exit_code, 0) << created.err;
    auto received = ipckit::test::run({program, "mq", "recv", key});
    EXPECT_EQ(received.exit_code, 0) << received.err;
    EXPECT_NE(received.out.find("hi"), std::string::npos);
    EXPECT_EQ(ipckit::test::run({program, "mq", "rm", key}).exit_code, 0);
}
