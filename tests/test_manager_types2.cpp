// The manager's Condition, Namespace, Value and Array, and proxies stored in dicts and lists
// (issue 11), against Python's semantics, with real processes; printed forms are compared
// with what Debian's python3 prints for the same objects.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/process.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using ipckit::Manager;
using ipckit::Object;
using ipckit::Process;
using ipckit::test::wait_until;

namespace {

void check(bool ok) {
    if (!ok) throw std::runtime_error("check failed in the child");
}

std::int64_t stat(Manager& m, const char* what) {
    return m.stats().at(what).as_int();
}
bool parked(Manager& m, std::int64_t n) {
    return wait_until([&] { return stat(m, "waiting") == n; });
}

// What Python 3 prints for each line of `statements` (run in a SyncManager `m`), one
// printed line per entry.
std::vector<std::string> python_prints(const std::string& statements) {
    std::string script =
        "import multiprocessing as mp, sys\n"
        "if __name__ == '__main__':\n"
        "    with mp.Manager() as m:\n";
    std::istringstream in(statements);
    for (std::string line; std::getline(in, line);)
        script += "        " + line + "\n";
    auto r = ipckit::test::run({ipckit::test::python, "-c", script});
    if (r.exit_code != 0) throw std::runtime_error("python3 failed: " + r.err);
    std::vector<std::string> lines;
    std::istringstream out(r.out);
    for (std::string line; std::getline(out, line);)
        lines.push_back(line);
    return lines;
}

// A proxy's address differs (Python prints id(proxy), ipckit the object's id).
std::string without_addresses(const std::string& s) {
    return std::regex_replace(s, std::regex(" at 0x[0-9a-f]+>"), " at 0x?>");
}

}  // namespace

// ---- Condition ---------------------------------------------------------------------------

TEST(ManagerCondition, NotifyWakesAWaiterInAnotherProcess) {
    Manager m;
    auto cond = m.condition();
    auto items = m.list();
    Process waiter(
        [](const ipckit::ConditionProxy& c, ipckit::ListProxy l) {
            auto held = c.guard();
            while (l.size() == 0)
                check(c.wait(60s));
            l.append("seen");
        },
        cond, items);
    waiter.start();
    ASSERT_TRUE(parked(m, 1));
    {
        // The waiter released the lock while it waits: we can take it.
        auto a = cond.acquire(false);
        ASSERT_TRUE(a);
        items.append("item");
        cond.notify();
        EXPECT_EQ(stat(m, "waiting"), 1);  // notified, but waiting for the lock we hold
        cond.release();
    }
    ASSERT_TRUE(waiter.join(30s));
    EXPECT_EQ(waiter.exitcode(), 0);
    EXPECT_EQ(items.repr(), "['item', 'seen']");
    EXPECT_EQ(stat(m, "waiting"), 0);
}

TEST(ManagerCondition, WaitTimesOutHoldingTheLockAgainAndRefusesANonOwner) {
    Manager m;
    auto rlock = m.rlock();
    auto cond = m.condition(rlock);
    EXPECT_THROW(cond.wait(0ms), ipckit::RuntimeError);
    EXPECT_THROW(cond.notify(), ipckit::RuntimeError);
    EXPECT_THROW(cond.notify_all(), ipckit::RuntimeError);
    try {
        cond.wait(0ms);
    } catch (const ipckit::RuntimeError& e) {
        EXPECT_NE(std::string(e.what()).find("cannot wait on un-acquired lock"), std::string::npos);
    }
    ASSERT_TRUE(cond.acquire());
    ASSERT_TRUE(cond.acquire());  // an RLock: two levels
    EXPECT_EQ(cond.repr(), "<Condition(<locked RLock object count=2>, 0)>");
    EXPECT_FALSE(cond.wait(20ms));
    EXPECT_EQ(rlock.repr(), "<locked RLock object count=2>");  // both levels back
    cond.notify();                                             // nobody waits: nothing
    cond.release();
    cond.release();
    EXPECT_THROW(cond.release(), ipckit::RuntimeError);

    // Over a plain Lock.
    auto lock = m.lock();
    auto c2 = m.condition(lock);
    EXPECT_THROW(c2.wait(0ms), ipckit::RuntimeError);
    {
        auto held = c2.guard();
        EXPECT_FALSE(c2.wait(0ms));
        EXPECT_FALSE(lock.try_lock());  // held again
    }
    EXPECT_TRUE(lock.try_lock());
    lock.release();
    // Anything else as the lock is refused.
    EXPECT_THROW((void)m.condition(m.semaphore()), ipckit::ValueError);
}

TEST(ManagerCondition, NotifyNWakesNWaitersInOrderAndNotifyAllTheRest) {
    Manager m;
    auto cond = m.named_condition("cv");
    auto woken = m.list();
    std::vector<Process> waiters;
    for (int i = 0; i < 3; ++i) {
        waiters.emplace_back(
            [i](ipckit::ListProxy l, const ipckit::ConditionProxy& c) {
                auto held = c.guard();
                check(c.wait(60s));
                l.append(i);
            },
            woken, cond);
        waiters.back().start();
        ASSERT_TRUE(parked(m, i + 1));  // arrival order 0, 1, 2
    }
    {
        auto held = cond.guard();
        cond.notify(2);
    }
    ASSERT_TRUE(wait_until([&] { return woken.size() == 2; }));
    EXPECT_EQ(woken.repr(), "[0, 1]");
    EXPECT_EQ(stat(m, "waiting"), 1);
    {
        auto held = cond.guard();
        cond.notify_all();
    }
    for (auto& w : waiters) {
        ASSERT_TRUE(w.join(30s));
        EXPECT_EQ(w.exitcode(), 0);
    }
    EXPECT_EQ(woken.repr(), "[0, 1, 2]");
}

TEST(ManagerCondition, WaitForChecksThePredicateAndTimesOut) {
    Manager m;
    auto cond = m.condition();
    auto ns = m.namespace_();
    ns.set("ready", false);
    auto held = cond.guard();
    int calls = 0;
    auto start = std::chrono::steady_clock::now();
    EXPECT_FALSE(cond.wait_for(
        [&] {
            ++calls;
            return ns.get("ready").as_bool();
        },
        30ms));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 30ms);
    EXPECT_GE(calls, 2);  // before waiting, and after the wait timed out
    ns.set("ready", true);
    EXPECT_TRUE(cond.wait_for([&] { return ns.get("ready").as_bool(); }, 0ms));

    // Set and notified by another process.
    ns.set("ready", false);
    Process setter(
        [](const ipckit::ConditionProxy& c, ipckit::NamespaceProxy n) {
            auto g = c.guard();
            n.set("ready", true);
            c.notify_all();
        },
        cond, ns);
    setter.start();
    EXPECT_TRUE(cond.wait_for([&] { return ns.get("ready").as_bool(); }, 60s));
    ASSERT_TRUE(setter.join(30s));
    EXPECT_EQ(setter.exitcode(), 0);
}

TEST(ManagerCondition, AWaiterKilledInWaitLeavesNoTrace) {
    Manager m;
    auto cond = m.condition();
    auto log = m.list();
    Process doomed(
        [](const ipckit::ConditionProxy& c) {
            c.acquire();
            c.wait();
        },
        cond);
    doomed.start();
    ASSERT_TRUE(parked(m, 1));
    doomed.kill();
    ASSERT_TRUE(doomed.join(20s));
    ASSERT_TRUE(parked(m, 0));
    // The lock is free, and a notify reaches the next (live) waiter, not the dead one.
    Process live(
        [](const ipckit::ConditionProxy& c, ipckit::ListProxy l) {
            auto g = c.guard();
            check(c.wait(60s));
            l.append("woken");
        },
        cond, log);
    live.start();
    ASSERT_TRUE(parked(m, 1));
    {
        auto g = cond.guard();
        EXPECT_FALSE(g.recovered());  // the dead waiter held nothing
        cond.notify();
    }
    ASSERT_TRUE(live.join(30s));
    EXPECT_EQ(live.exitcode(), 0);
    EXPECT_EQ(log.repr(), "['woken']");
}

TEST(ManagerCondition, AHolderKilledWithTheLockHasItReleased) {
    Manager m;
    auto cond = m.condition();
    ipckit::test::Event ready;
    Process holder(
        [&ready](const ipckit::ConditionProxy& c) {
            c.acquire();
            ready.set();
            for (;;)
                ::pause();
        },
        cond);
    holder.start();
    ASSERT_TRUE(ready.wait());
    EXPECT_FALSE(cond.acquire(false));
    holder.kill();
    ASSERT_TRUE(holder.join(20s));
    auto a = cond.acquire(true, 30s);
    EXPECT_TRUE(a.acquired());
    EXPECT_TRUE(a.recovered());
    EXPECT_FALSE(cond.wait(0ms));  // usable as before
    cond.release();
}

// ---- Namespace ------------------------------------------------------------------------

TEST(ManagerNamespace, WrittenByAChildPrintedAsPythonPrintsIt) {
    Manager m;
    auto ns = m.namespace_();
    EXPECT_EQ(ns.repr(), "Namespace()");
    Process child(
        [](ipckit::NamespaceProxy n) {
            n.set("y", "a");
            n.set("x", 1);
            n.set("b", Object::list({1, 2.5}));
            n.set("a10", 2);
            n.set("a9", 3);
        },
        ns);
    child.start();
    ASSERT_TRUE(child.join(30s));
    ASSERT_EQ(child.exitcode(), 0);
    auto python = python_prints(
        "ns = m.Namespace(); ns.y = 'a'; ns.x = 1; ns.b = [1, 2.5]; ns.a10 = 2; ns.a9 = 3\n"
        "print(ns)\n");
    ASSERT_EQ(python.size(), 1u);
    EXPECT_EQ(ns.repr(), python[0]);
    EXPECT_EQ(ns.repr(), "Namespace(a10=2, a9=3, b=[1, 2.5], x=1, y='a')");
    EXPECT_EQ(ns.get("x").as_int(), 1);
    EXPECT_TRUE(ns.contains("y"));
    ns.erase("y");
    EXPECT_FALSE(ns.contains("y"));
    EXPECT_EQ(ns.get("y", "none").as_string(), "none");
    try {
        ns.get("y");
        FAIL() << "a missing attribute was found";
    } catch (const ipckit::KeyError& e) {
        EXPECT_NE(std::string(e.what()).find("'Namespace' object has no attribute 'y'"),
                  std::string::npos);
    }
    EXPECT_THROW(ns.erase("y"), ipckit::KeyError);
    EXPECT_THROW(ns.set("_private", 1), ipckit::ValueError);
    EXPECT_THROW(ns.set("", 1), ipckit::ValueError);
    EXPECT_EQ(ns.copy().size(), 4u);
    // Named: the same namespace for every client.
    m.named_namespace("cfg").set("n", 7);
    EXPECT_EQ(m.named_namespace("cfg").get("n").as_int(), 7);
}

// ---- Value and Array --------------------------------------------------------------------

TEST(ManagerValue, FourProcessesIncrementUnderALockToAnExactTotal) {
    Manager m;
    auto counter = m.value('i', 0);
    auto lock = m.lock();
    constexpr int per_process = 250;
    std::vector<Process> workers;
    for (int i = 0; i < 4; ++i) {
        workers.emplace_back(
            [](ipckit::ValueProxy v, const ipckit::LockProxy& l) {
                for (int k = 0; k < per_process; ++k) {
                    auto held = l.guard();
                    v.set(v.get().as_int() + 1);
                }
            },
            counter, lock);
        workers.back().start();
    }
    for (auto& w : workers) {
        ASSERT_TRUE(w.join(120s));
        EXPECT_EQ(w.exitcode(), 0);
    }
    EXPECT_EQ(counter.get().as_int(), 4 * per_process);
    EXPECT_EQ(counter.repr(), "Value('i', 1000)");
}

TEST(ManagerValue, PrintedAsPythonAndTypecodesChecked) {
    Manager m;
    auto python = python_prints(
        "print(m.Value('i', 0))\nprint(m.Value('d', 1))\nprint(m.Value('f', 0.1))\n"
        "print(m.Value('u', 'a'))\nprint(m.Value('i', True))\nprint(m.Value('Q', 7))\n");
    ASSERT_EQ(python.size(), 6u);
    EXPECT_EQ(m.value('i', 0).repr(), python[0]);
    EXPECT_EQ(m.value('d', 1).repr(), python[1]);
    EXPECT_EQ(m.value('f', 0.1).repr(), python[2]);
    EXPECT_EQ(m.value('u', "a").repr(), python[3]);
    EXPECT_EQ(m.value('i', true).repr(), python[4]);
    EXPECT_EQ(m.value('Q', 7).repr(), python[5]);
    auto v = m.value('d', 0.5);
    v.set(2.25);
    EXPECT_EQ(v.get().as_double(), 2.25);
    EXPECT_THROW(v.set("x"), ipckit::ValueError);
    EXPECT_EQ(v.get().as_double(), 2.25);  // unchanged
    try {
        (void)m.value('z', 1);
        FAIL() << "a bad typecode was accepted";
    } catch (const ipckit::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find(
                      "bad typecode (must be b, B, u, h, H, i, I, l, L, q, Q, f or d)"),
                  std::string::npos);
    }
    EXPECT_THROW((void)m.value('i', 1.5), ipckit::ValueError);
    EXPECT_THROW((void)m.value('b', 300), ipckit::ValueError);
    EXPECT_THROW((void)m.value('u', "ab"), ipckit::ValueError);
    EXPECT_EQ(m.named_value("v", 'q', 5).get().as_int(), 5);
    EXPECT_EQ(m.named_value("v", 'q', 9).get().as_int(), 5);  // found, not made again
}

TEST(ManagerArray, IndexesSizeAndPythonsRepr) {
    Manager m;
    auto python = python_prints(
        "print(m.Array('i', [1, 2]))\nprint(m.Array('f', [0.1]))\nprint(m.Array('d', [1]))\n"
        "print(m.Array('u', 'ab'))\nprint(m.Array('i', []))\nprint(m.Array('B', [True]))\n");
    ASSERT_EQ(python.size(), 6u);
    auto a = m.array('i', {1, 2});
    EXPECT_EQ(a.repr(), python[0]);
    EXPECT_EQ(m.array('f', {0.1}).repr(), python[1]);
    EXPECT_EQ(m.array('d', {1}).repr(), python[2]);
    EXPECT_EQ(m.array('u', {"a", "b"}).repr(), python[3]);
    EXPECT_EQ(m.array('i', {}).repr(), python[4]);
    EXPECT_EQ(m.array('B', {true}).repr(), python[5]);

    EXPECT_EQ(a.size(), 2u);
    EXPECT_EQ(a.get(-1).as_int(), 2);
    a.set(0, 10);
    EXPECT_EQ(a.copy(), (Object::List{10, 2}));
    try {
        a.get(2);
        FAIL() << "index 2 of 2 items was found";
    } catch (const ipckit::IndexError& e) {
        EXPECT_NE(std::string(e.what()).find("array index out of range"), std::string::npos);
    }
    EXPECT_THROW(a.set(-3, 1), ipckit::IndexError);
    try {
        a.set(0, std::int64_t{1} << 40);
        FAIL() << "an int beyond the C int was stored";
    } catch (const ipckit::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("signed integer is greater than maximum"),
                  std::string::npos);
    }
    EXPECT_THROW(a.set(0, "x"), ipckit::ValueError);
    EXPECT_THROW((void)m.array('x', {1}), ipckit::ValueError);
    EXPECT_THROW((void)m.array('B', {-1}), ipckit::ValueError);
    EXPECT_EQ(a.repr(), "array('i', [10, 2])");

    // Shared with a child.
    Process child([](ipckit::ArrayProxy arr) { arr.set(1, arr.get(1).as_int() * 21); }, a);
    child.start();
    ASSERT_TRUE(child.join(30s));
    EXPECT_EQ(child.exitcode(), 0);
    EXPECT_EQ(a.get(1).as_int(), 42);
}

// ---- proxies in containers ------------------------------------------------------------

TEST(ManagerNested, ADictOfQueuesIsUsedByAChildAndPrintedAsPythonPrintsIt) {
    Manager m;
    auto d = m.dict();
    d.set("q", m.queue());  // the temporary proxy goes: the dict keeps the queue
    EXPECT_EQ(stat(m, "objects"), 2);
    Process child(
        [](ipckit::DictProxy dict) {
            auto q = Manager::proxy<ipckit::QueueProxy>(dict.get("q"));
            q.put(42);
            dict.set("results", Object::list({"done"}));
        },
        d);
    child.start();
    ASSERT_TRUE(child.join(30s));
    ASSERT_EQ(child.exitcode(), 0);
    auto q = Manager::proxy<ipckit::QueueProxy>(d.get("q"));
    EXPECT_EQ(q.get(true, 10s).as_int(), 42);
    EXPECT_THROW((void)Manager::proxy<ipckit::DictProxy>(d.get("q")), ipckit::ValueError);
    EXPECT_THROW((void)Manager::proxy<ipckit::QueueProxy>(d.get("results")), ipckit::ValueError);

    auto python = python_prints(
        "d = m.dict({'q': m.Queue()}); print(d)\n"
        "l = m.list([m.dict(), m.list(), m.Lock(), m.Event(), m.JoinableQueue(), m.Namespace(),"
        " m.Value('i', 1), m.Array('i', [1]), m.Condition(), m.Barrier(2)]); print(l)\n");
    ASSERT_EQ(python.size(), 2u);
    d.erase("results");
    std::string ours = d.repr();
    EXPECT_EQ(without_addresses(ours), without_addresses(python[0])) << ours;
    EXPECT_NE(ours.find("at 0x" +
                        [&] {
                            std::ostringstream hex;
                            hex << std::hex << q.id();
                            return hex.str();
                        }() +
                        ">"),
              std::string::npos)
        << ours;
    auto l = m.list({m.dict(), m.list(), m.lock(), m.event(), m.joinable_queue(), m.namespace_(),
                     m.value('i', 1), m.array('i', {1}), m.condition(), m.barrier(2)});
    EXPECT_EQ(without_addresses(l.repr()), without_addresses(python[1]));
}

TEST(ManagerNested, AReferentLivesWhileAContainerRefersToIt) {
    Manager m;
    auto d = m.dict();
    auto base = stat(m, "objects");  // the dict
    d.set("q", m.queue());
    d.set("also", d.get("q"));  // the same queue twice
    EXPECT_EQ(stat(m, "objects"), base + 1);
    d.erase("q");
    EXPECT_EQ(stat(m, "objects"), base + 1);  // still in "also"
    {
        auto q = Manager::proxy<ipckit::QueueProxy>(d.get("also"));
        d.set("also", 0);  // overwritten: only our proxy holds it
        EXPECT_EQ(stat(m, "objects"), base + 1);
        q.put("still here");
        EXPECT_EQ(q.get().as_string(), "still here");
    }
    EXPECT_EQ(stat(m, "objects"), base);  // the last reference went

    // A list of dicts of lists, freed all at once when the outer list goes.
    {
        auto outer = m.list();
        for (int i = 0; i < 3; ++i) {
            auto inner = m.dict();
            inner.set("l", m.list({i}));
            outer.append(inner);
        }
        EXPECT_EQ(stat(m, "objects"), base + 7);
        auto second = Manager::proxy<ipckit::DictProxy>(outer.get(1));
        EXPECT_EQ(Manager::proxy<ipckit::ListProxy>(second.get("l")).get(0).as_int(), 1);
        outer.pop(0);  // the popped dict's only holder is the answer's proxy, then none
        EXPECT_EQ(stat(m, "objects"), base + 5);
    }
    EXPECT_EQ(stat(m, "objects"), base);

    // A child's process holds what it read, even after the container lets go.
    auto store = m.list({m.event()});
    ipckit::test::Event got;
    Process child(
        [&got](ipckit::ListProxy l) {
            auto e = Manager::proxy<ipckit::EventProxy>(l.get(0));
            l.clear();
            got.set();
            check(e.wait(60s));
        },
        store);
    child.start();
    ASSERT_TRUE(got.wait());
    ASSERT_TRUE(parked(m, 1));
    EXPECT_EQ(stat(m, "objects"), base + 2);  // the list, and the event the child holds
    child.kill();                             // its references go with it
    ASSERT_TRUE(child.join(20s));
    ASSERT_TRUE(wait_until([&] { return stat(m, "objects") == base + 1; }));
}

TEST(ManagerNested, ProxiesOnlyWhereTheyCanBeKept) {
    Manager m;
    auto q = m.queue();
    auto d = m.dict();
    // A queue, a Value and a lock do not keep references (Python would pickle the proxy).
    EXPECT_THROW(q.put(d), ipckit::ValueError);
    EXPECT_THROW((void)m.value('i', d), ipckit::ValueError);
    EXPECT_EQ(q.qsize(), 0u);
    // A Namespace does; a stored proxy compares equal to another proxy of the same object.
    auto ns = m.namespace_();
    ns.set("q", q);
    EXPECT_EQ(ns.get("q"), Object(q));
    EXPECT_TRUE(d.get("missing", Object()).is_none());
    // A ref must name a live object of this server.
    try {
        d.set("x", Object::ref("Queue", 999'999));
        FAIL() << "a ref to no object was stored";
    } catch (const ipckit::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("refers to no object"), std::string::npos);
    }
    EXPECT_FALSE(d.contains("x"));
    // A ref made by hand reaches no server: no proxy from it.
    EXPECT_THROW((void)Manager::proxy<ipckit::QueueProxy>(Object::ref("Queue", q.id())),
                 ipckit::ValueError);
    EXPECT_THROW((void)Manager::proxy<ipckit::QueueProxy>(Object(1)), ipckit::ValueError);
    // A Condition read back comes with its lock.
    auto l = m.list({m.condition(m.lock())});
    auto c = Manager::proxy<ipckit::ConditionProxy>(l.get(0));
    auto held = c.guard();
    EXPECT_FALSE(c.wait(0ms));
    EXPECT_EQ(c.repr(), "<Condition(<locked Lock object>, 0)>");
}

TEST(ManagerNested, ObjectsThatOnlyReferToEachOtherAreFreed) {
    Manager m;
    auto keep = m.dict();  // outside the cycles
    auto base = stat(m, "objects");
    {
        auto d = m.dict();
        d.set("d", d);  // a dict holding itself
        EXPECT_EQ(without_addresses(d.repr()), "{'d': <DictProxy object, typeid 'dict' at 0x?>}");
        auto a = m.list();
        auto b = m.list();
        a.append(b);
        b.append(Object::list({a, a}));  // a cycle of two, one side twice, nested
        b.append(keep);                  // and a way out to a live object
        EXPECT_EQ(stat(m, "objects"), base + 3);
    }
    EXPECT_EQ(stat(m, "objects"), base);  // freed once no proxy refers to them
    EXPECT_EQ(keep.size(), 0u);           // what the cycle referred to lives on

    // A cycle that something outside still refers to lives.
    auto a = m.list();
    {
        auto b = m.list({a});
        a.append(b);
    }
    EXPECT_EQ(stat(m, "objects"), base + 2);
    auto b = Manager::proxy<ipckit::ListProxy>(a.get(0));
    EXPECT_EQ(Manager::proxy<ipckit::ListProxy>(b.get(0)).id(), a.id());
}
