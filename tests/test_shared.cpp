// Value, Array, RawValue, RawArray and Lock with real processes.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "ipckit/ipckit.hpp"
#include "support.hpp"

using ipckit::Array;
using ipckit::Lock;
using ipckit::Process;
using ipckit::RawArray;
using ipckit::RawValue;
using ipckit::Value;
using ipckit::test::Event;
using ipckit::test::python;
using ipckit::test::run;
using namespace std::chrono_literals;

namespace {
std::string example(const std::string& name) {
    return std::string(IPCKIT_BINARY_DIR) + "/examples/" + name;
}
template <class T>
std::string printed(const T& x) {
    std::ostringstream os;
    os << x;
    return os.str();
}
}  // namespace

TEST(Shared, ListingPrintsWhatPythonPrints) {
    auto cpp = run({example("value_array")});
    ASSERT_EQ(cpp.exit_code, 0) << cpp.err;
    EXPECT_EQ(cpp.out, "3.1415927\n[0, -1, -2, -3, -4, -5, -6, -7, -8, -9]\n");
    auto py = run({python, ipckit::test::python_script("value_array.py")});
    ASSERT_EQ(py.exit_code, 0) << py.err;
    EXPECT_EQ(cpp.out, py.out);
}

TEST(Shared, FloatsPrintAsPythonFloats) {
    const std::vector<double> values = {0.0,
                                        -0.0,
                                        1.0,
                                        -2.5,
                                        3.1415927,
                                        0.1,
                                        1.0 / 3,
                                        1e15,
                                        1e16,
                                        123456789012345678.0,
                                        9999999999999998.0,
                                        0.0001,
                                        0.00001,
                                        1.5e-7,
                                        -1.5e-7,
                                        1e22,
                                        1e-310,
                                        5e-324,
                                        std::numeric_limits<double>::max(),
                                        static_cast<double>(0.1f),
                                        std::numeric_limits<double>::infinity(),
                                        -std::numeric_limits<double>::infinity(),
                                        std::numeric_limits<double>::quiet_NaN()};
    std::string script = "import sys\nfor h in sys.argv[1:]: print(repr(float.fromhex(h)))\n";
    std::vector<std::string> argv = {python, "-c", script};
    std::string expected_cpp;
    for (double v : values) {
        char hex[64];
        std::snprintf(hex, sizeof hex, "%a", v);
        argv.emplace_back(hex);
        expected_cpp += ipckit::repr(v) + "\n";
    }
    auto py = run(argv);
    ASSERT_EQ(py.exit_code, 0) << py.err;
    EXPECT_EQ(expected_cpp, py.out);
    EXPECT_EQ(ipckit::repr(0.1f), "0.10000000149011612");  // Python widens 'f' to double
}

TEST(Shared, PrintingFollowsPython) {
    EXPECT_EQ(printed(Value<double>(3.1415927)), "3.1415927");
    EXPECT_EQ(printed(Value<double>(2.0).value()), "2.0");
    EXPECT_EQ(printed(Value<int>(-7)), "-7");
    EXPECT_EQ(printed(Value<bool>(true)), "True");
    EXPECT_EQ(printed(Value<char>('a')), "b'a'");
    EXPECT_EQ(printed(Value<signed char>(-3)), "-3");
    EXPECT_EQ(printed(Value<unsigned char>(200)), "200");
    EXPECT_EQ(printed(Value<std::uint64_t>(18446744073709551615u)), "18446744073709551615");
    EXPECT_EQ(printed(Array<int>(ipckit::range(0, -3, -1))), "[0, -1, -2]");
    EXPECT_EQ(printed(Array<double>{0.0, 1e16, 0.5}), "[0.0, 1e+16, 0.5]");
    EXPECT_EQ(printed(Array<int>(0)), "[]");
    EXPECT_EQ(printed(Array<char>(std::string("it's\n\x01"))), "b\"it's\\n\\x01\"");
    EXPECT_EQ(printed(RawArray<short>{1, 2}), "[1, 2]");
    EXPECT_EQ(printed(RawValue<float>(0.5f)), "0.5");
    EXPECT_EQ(ipckit::repr(std::vector<int>{4, 5}), "[4, 5]");
}

TEST(Shared, ChildWritesParentReadsAfterJoin) {
    Value<std::int64_t> n(5);
    Array<int> a(ipckit::range(10));
    RawValue<double> raw(1.5);
    RawArray<int> raw_array(3);
    Process p([=] {
        n.value() = 42;
        for (std::size_t i = 0; i < a.size(); ++i)
            a[i] = -a[i];
        raw.value() *= 2;
        raw_array[2] = 9;
    });
    p.start();
    p.join();
    ASSERT_EQ(p.exitcode(), 0);
    EXPECT_EQ(n.get(), 42);
    EXPECT_EQ(a.snapshot(), (std::vector<int>{0, -1, -2, -3, -4, -5, -6, -7, -8, -9}));
    EXPECT_EQ(raw.get(), 3.0);
    EXPECT_EQ(raw_array.snapshot(), (std::vector<int>{0, 0, 9}));

    // Copies are handles to the same memory, never copies of the elements.
    RawArray<int> raw_copy = raw_array;
    raw_copy[0] = 1;
    Array<int> copy(a);
    copy[0] = 100;
    EXPECT_EQ(raw_array[0], 1);
    EXPECT_EQ(a[0], 100);
}

TEST(Shared, TwoProcessesMillionLockedIncrementsEach) {
    Value<std::int64_t> counter(0);
    Array<std::int64_t> guarded(1);
    auto work = [counter, guarded] {
        for (int i = 0; i < 1'000'000; ++i) {
            counter.value() += 1;
            auto g = guarded.lock();  // the guard: several operations as one
            g[0] = g[0] + 1;
        }
    };
    Process a(work), b(work);
    a.start();
    b.start();
    a.join();
    b.join();
    ASSERT_EQ(a.exitcode(), 0);
    ASSERT_EQ(b.exitcode(), 0);
    EXPECT_EQ(counter.get(), 2'000'000);
    EXPECT_EQ(guarded[0], 2'000'000);
}

TEST(Shared, ChildKilledHoldingTheLockDoesNotHangTheParent) {
    Value<int> v(0);
    Event locked, never;
    Process holder([&] {
        auto g = v.lock();
        *g = 1;  // half-way through an update
        locked.set();
        never.wait(60s);
    });
    holder.start();
    ASSERT_TRUE(locked.wait(20s));
    holder.kill();  // not joined yet: the dead owner is a zombie
    // The lock is recovered from its dead owner (not waited for forever); how fast is the
    // benchmarks' business, the bound here is only against a hang.
    auto start = std::chrono::steady_clock::now();
    auto g = v.lock();
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_TRUE(g.recovered());
    EXPECT_LT(took, 30s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
    EXPECT_EQ(*g, 1);
    EXPECT_EQ(v.get_lock().recoveries(), 1u);
    g.unlock();
    holder.join();
    EXPECT_EQ(holder.exitcode(), -SIGKILL);

    // The lock works as before, in this process and in the next child.
    auto again = v.lock();
    EXPECT_FALSE(again.recovered());
    again.unlock();
    Process next([v] { v.value() += 10; });
    next.start();
    next.join();
    EXPECT_EQ(next.exitcode(), 0);
    EXPECT_EQ(v.get(), 11);
}

TEST(Shared, DeadOwnerReapedBeforeTheNextLockIsRecoveredToo) {
    Lock lock;
    Event locked, never;
    Process holder([&] {
        lock.lock();
        locked.set();
        never.wait(60s);
    });
    holder.start();
    ASSERT_TRUE(locked.wait(20s));
    holder.kill();
    holder.join();
    EXPECT_TRUE(lock.lock());  // true: taken over
    EXPECT_EQ(lock.recoveries(), 1u);
    lock.unlock();
}

TEST(Shared, TryLockForTimesOutWhileAnotherProcessHoldsTheLock) {
    Value<int> v(0);
    Event locked, release;
    Process holder([&] {
        auto g = v.lock();
        locked.set();
        release.wait(60s);
    });
    holder.start();
    ASSERT_TRUE(locked.wait(20s));
    Lock lock = v.get_lock();
    EXPECT_FALSE(lock.try_lock());
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(lock.try_lock_for(30ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
    release.set();
    holder.join();
    EXPECT_TRUE(lock.try_lock_for(20s));
    lock.unlock();
    EXPECT_EQ(lock.recoveries(), 0u);
}

TEST(Shared, EachElementAccessTakesTheLock) {
    Array<int> a(3);
    Process writer([a] { a[1] = 5; });
    auto g = a.lock();  // the parent holds the array's lock (released before writer joins)
    writer.start();
    // The child's plain `a[1] = 5` waits for the lock in the kernel, in the futex call.
    ASSERT_TRUE(ipckit::test::wait_until_blocked_in(writer.pid(), "futex"));
    EXPECT_EQ(g[1], 0);
    EXPECT_TRUE(writer.is_alive());
    g.unlock();
    writer.join();
    EXPECT_EQ(writer.exitcode(), 0);
    EXPECT_EQ(a[1], 5);
}

TEST(Shared, LockIsRecursiveAndCanBeShared) {
    Lock lock;
    Value<int> a(1, lock);
    Array<int> b(3, lock);
    EXPECT_TRUE(a.get_lock() == b.get_lock());
    EXPECT_TRUE(a.get_lock() == lock);
    {
        auto g = lock.guard();
        EXPECT_TRUE(lock.held_by_caller());
        a.value() += 1;  // takes the same lock again: recursive
        b[0] = a.get();
        auto inner = b.lock();
        inner[1] = 5;
    }
    EXPECT_FALSE(lock.held_by_caller());
    EXPECT_EQ(b.snapshot(), (std::vector<int>{2, 5, 0}));

    // While one process holds the shared lock, another cannot update either object.
    Event locked, release;
    Process holder([&] {
        auto g = lock.guard();
        locked.set();
        release.wait(60s);
    });
    holder.start();
    ASSERT_TRUE(locked.wait(20s));
    EXPECT_FALSE(lock.try_lock());
    EXPECT_FALSE(b.get_lock().try_lock());
    release.set();
    holder.join();
    EXPECT_TRUE(lock.try_lock());
    lock.unlock();
}

TEST(Shared, UnlockByAThreadThatDoesNotHoldItThrows) {
    Lock lock;
    try {
        lock.unlock();
        FAIL() << "no exception";
    } catch (const ipckit::Error& e) {
        EXPECT_EQ(e.errno_value(), EPERM);
    }
    // std::scoped_lock works with it (Lockable).
    { std::scoped_lock guard(lock); }
    EXPECT_FALSE(lock.held_by_caller());
}

TEST(Shared, LockFalseHasNoLock) {
    Value<int> v(3, false);
    Array<int> a(4, false);
    EXPECT_FALSE(v.has_lock());
    EXPECT_FALSE(a.has_lock());
    EXPECT_THROW((void)v.get_lock(), ipckit::ValueError);
    EXPECT_THROW((void)a.get_lock(), ipckit::ValueError);
    v.value() += 1;
    auto g = a.lock();
    EXPECT_FALSE(g.owns_lock());
    g[3] = 7;
    EXPECT_EQ(v.get(), 4);
    EXPECT_EQ(a[3], 7);
}

TEST(Shared, ArrayConstructionAccessAndSlices) {
    Array<int> zeros(5);
    EXPECT_EQ(zeros.snapshot(), std::vector<int>(5, 0));
    Array<int> listed{3, 1, 4, 1, 5};
    EXPECT_EQ(listed.size(), 5u);
    Array<long> ranged(ipckit::range(2, 12, 3));
    EXPECT_EQ(ranged.snapshot(), (std::vector<long>{2, 5, 8, 11}));
    Array<double> from_vector(std::vector<double>{0.5, 1.5});
    EXPECT_EQ(from_vector.get(1), 1.5);

    EXPECT_EQ(listed.slice(1, 3), (std::vector<int>{1, 4}));
    EXPECT_EQ(listed.slice(-2, 100), (std::vector<int>{1, 5}));
    EXPECT_EQ(listed.slice(4, 2), std::vector<int>{});
    EXPECT_THROW((void)listed[5], ipckit::IndexError);
    EXPECT_THROW(listed.set(99, 0), ipckit::IndexError);

    listed[0] = -listed[0];
    listed[1] += 10;
    ++listed[2];
    EXPECT_EQ(listed[3]--, 1);
    EXPECT_EQ(listed.snapshot(), (std::vector<int>{-3, 11, 5, 0, 5}));
    listed.assign(3, std::vector<int>{7, 8});
    EXPECT_EQ(listed.slice(3, 5), (std::vector<int>{7, 8}));
    EXPECT_THROW(listed.assign(4, std::vector<int>{1, 2}), ipckit::IndexError);

    // Bulk work on a span under one lock, seen by a child.
    {
        auto g = listed.lock();
        for (int& x : g.span())
            x *= 2;
    }
    Process p([listed] {
        if (listed.snapshot() != std::vector<int>{-6, 22, 10, 14, 16}) ::_exit(3);
    });
    p.start();
    p.join();
    EXPECT_EQ(p.exitcode(), 0);
}

namespace {
struct Point {
    double x;
    double y;
    std::int32_t id;
};
}  // namespace

TEST(Shared, UserStructsAndEveryTypecode) {
    Value<Point> p(Point{1.0, 2.0, 3});
    Process child([p] {
        auto g = p.lock();
        g->x = 10.0;
        g->id = 30;
    });
    child.start();
    child.join();
    Point got = p.get();
    EXPECT_EQ(got.x, 10.0);
    EXPECT_EQ(got.y, 2.0);
    EXPECT_EQ(got.id, 30);
    EXPECT_EQ(printed(p), "<object of " + std::to_string(sizeof(Point)) + " bytes>");

    // c b B h H i I l L q Q f d
    Value<char> c('x');
    Value<signed char> b(-1);
    Value<unsigned char> B(255);
    Value<short> h(-2);
    Value<unsigned short> H(2);
    Value<int> i(-3);
    Value<unsigned> I(3);
    Value<long> l(-4);
    Value<unsigned long> L(4);
    Value<long long> q(-5);
    Value<unsigned long long> Q(5);
    Value<float> f(0.25f);
    Value<double> d(0.125);
    EXPECT_EQ(printed(c) + printed(b) + printed(B) + printed(h) + printed(H) + printed(i) +
                  printed(I) + printed(l) + printed(L) + printed(q) + printed(Q) + printed(f) +
                  printed(d),
              "b'x'-1255-22-33-44-550.250.125");
}

TEST(Shared, HundredThousandValuesCostUnderSixteenMiB) {
    auto before = ipckit::shared_arena_stats();
    std::vector<Value<int>> values;
    values.reserve(100'000);
    for (int i = 0; i < 100'000; ++i)
        values.emplace_back(i);
    auto after = ipckit::shared_arena_stats();
    std::size_t mapped = after.mapped_bytes - before.mapped_bytes;
    EXPECT_LT(mapped, std::size_t{16} << 20) << mapped;
    EXPECT_EQ(after.large_mappings, before.large_mappings);
    RecordProperty("arena_bytes_for_100000_values", static_cast<int>(mapped));

    // Every one is its own shared object, visible in a child.
    Process p([&values] {
        for (int i = 0; i < 100'000; ++i) {
            if (values[static_cast<std::size_t>(i)].get() != i) ::_exit(3);
            values[static_cast<std::size_t>(i)].value() += 1;
        }
    });
    p.start();
    p.join();
    ASSERT_EQ(p.exitcode(), 0);
    for (int i = 0; i < 100'000; i += 9973)
        EXPECT_EQ(values[static_cast<std::size_t>(i)].get(), i + 1);
    values.clear();
    EXPECT_EQ(ipckit::shared_arena_stats().in_use_bytes, before.in_use_bytes);
}

TEST(Shared, ChildAllocatesFromItsOwnChunksAfterFork) {
    Value<int> kept(1);
    void* freed_address = nullptr;
    {
        Value<int> temporary(0);
        freed_address = temporary.get_obj();
    }
    RawValue<std::uintptr_t> child_address(0);
    RawValue<std::size_t> child_chunks_at_start(99);
    Event allocated, parent_done;
    Process child([&] {
        child_chunks_at_start.value() = ipckit::shared_arena_stats().chunks;
        Value<int> mine(42);  // must not reuse the parent's freed block
        child_address.value() = reinterpret_cast<std::uintptr_t>(mine.get_obj());
        allocated.set();
        parent_done.wait(60s);
        if (mine.get() != 42) ::_exit(4);  // the parent's new object did not land on it
        if (kept.get() != 2) ::_exit(5);
    });
    child.start();
    ASSERT_TRUE(allocated.wait(20s));
    Value<int> reused(7);  // the parent recycles its own freed block
    EXPECT_EQ(static_cast<void*>(reused.get_obj()), freed_address);
    kept.set(2);
    parent_done.set();
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
    EXPECT_EQ(child_chunks_at_start.get(), 0u);
    EXPECT_NE(child_address.get(), reinterpret_cast<std::uintptr_t>(freed_address));
    EXPECT_EQ(reused.get(), 7);
}

TEST(Shared, ExitCodesForReturnExceptionAndSignal) {
    Value<int> progress(0);
    Process returns([progress] { progress.value() += 1; });
    Process throws([progress] {
        progress.value() += 10;
        throw ipckit::ValueError("bad value");
    });
    Process killed([progress] {
        progress.value() += 100;
        std::raise(SIGKILL);
    });
    testing::internal::CaptureStderr();
    for (Process* p : {&returns, &throws, &killed}) {
        p->start();
        p->join();
    }
    std::string err = testing::internal::GetCapturedStderr();
    EXPECT_EQ(returns.exitcode(), 0);
    EXPECT_EQ(throws.exitcode(), 1);
    EXPECT_EQ(killed.exitcode(), -SIGKILL);
    EXPECT_NE(err.find("bad value"), std::string::npos) << err;
    EXPECT_NE(err.find(throws.name()), std::string::npos) << err;
    EXPECT_EQ(progress.get(), 111);
}

TEST(Shared, NothingPrintedTwice) {
    // Through a pipe stdout is fully buffered: without a flush before fork, the text
    // printed before start would be printed by the child too.
    auto result = run({example("fib_shared"), "10"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out,
              "parent: a child computes 10 Fibonacci numbers into shared memory\n"
              "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34]\n");
}

TEST(FibCommand, PrintsTheNumbersAsAPythonList) {
    auto ten = run({ipckit::test::ipckit_program(), "fib", "10"});
    EXPECT_EQ(ten.exit_code, 0) << ten.err;
    EXPECT_EQ(ten.out, "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34]\n");
    auto none = run({ipckit::test::ipckit_program(), "fib", "0", "--via", "shared"});
    EXPECT_EQ(none.exit_code, 0) << none.err;
    EXPECT_EQ(none.out, "[]\n");
    // N = 94 is the largest: its last term, F(93), is the last that fits 64 bits.
    auto most = run({ipckit::test::ipckit_program(), "fib", "94"});
    EXPECT_EQ(most.exit_code, 0) << most.err;
    const std::string tail = ", 7540113804746346429, 12200160415121876738]\n";
    ASSERT_GE(most.out.size(), tail.size());
    EXPECT_EQ(most.out.substr(most.out.size() - tail.size()), tail);
    // The same numbers as Python computes.
    auto py =
        run({python, "-c", "a,b,r=0,1,[]\nfor _ in range(94): r.append(a); a,b=b,a+b\nprint(r)"});
    EXPECT_EQ(most.out, py.out);
}

TEST(FibCommand, BadNIsAUsageError) {
    struct Case {
        const char* n;
        const char* message;
    };
    for (auto [n, message] :
         {Case{"abc", "whole number"}, Case{"-5", "negative"}, Case{"95", "overflow 64 bits"},
          Case{"3.5", "whole number"}, Case{"", "whole number"},
          Case{"99999999999999999999", "too large"}}) {
        auto r = run({ipckit::test::ipckit_program(), "fib", n});
        EXPECT_EQ(r.exit_code, 2) << n;
        EXPECT_NE(r.err.find(message), std::string::npos) << n << ": " << r.err;
        EXPECT_EQ(r.out, "") << n;
    }
    EXPECT_EQ(run({ipckit::test::ipckit_program(), "fib"}).exit_code, 2);
    EXPECT_EQ(run({ipckit::test::ipckit_program(), "fib", "5", "--via", "pipes"}).exit_code, 2);
    EXPECT_EQ(run({ipckit::test::ipckit_program(), "fib", "--help"}).exit_code, 0);
}

TEST(FibCommand, ManagerGivesTheSameOutputAndChecks) {
    // Both ways print the numbers the test computes on its own.
    auto expected_list = [](int n) {
        std::string text = "[";
        std::uint64_t a = 0, b = 1;
        for (int i = 0; i < n; ++i) {
            text += (i ? ", " : "") + std::to_string(a);
            b = std::exchange(a, b) + b;  // F(94) overflows, but is never printed
        }
        return text + "]\n";
    };
    for (int n : {0, 1, 2, 10, 94}) {
        auto shared =
            run({ipckit::test::ipckit_program(), "fib", std::to_string(n), "--via", "shared"});
        auto manager =
            run({ipckit::test::ipckit_program(), "fib", std::to_string(n), "--via", "manager"});
        EXPECT_EQ(shared.exit_code, 0) << n << ": " << shared.err;
        EXPECT_EQ(manager.exit_code, 0) << n << ": " << manager.err;
        EXPECT_EQ(shared.out, expected_list(n)) << n;
        EXPECT_EQ(manager.out, expected_list(n)) << n;
    }
    for (const char* n : {"abc", "-5", "95"}) {
        auto r = run({ipckit::test::ipckit_program(), "fib", n, "--via", "manager"});
        EXPECT_EQ(r.exit_code, 2) << n;
        EXPECT_EQ(r.out, "") << n;
    }
}

TEST(Demo, RunsTheSharedStateScenario) {
    auto r = run({ipckit::test::ipckit_program(), "demo"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("parent after join: number = 3.1415927, vector = [0, -1, -2, -3, -4, "
                         "-5, -6, -7, -8, -9]"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("[0, 1, 1, 2, 3, 5, 8, 13, 21, 34]"), std::string::npos) << r.out;
}
