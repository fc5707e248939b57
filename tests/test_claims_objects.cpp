// Claims about objects: a semaphore opener's bounded wait for an initialisation that never
// comes (ipckit/sysv/semaphore.hpp), and the manager's dict keys, copies and stable sort
// (docs/python-to-cpp.md, ipckit/object.hpp), checked against Python itself where Python
// is the reference.
#include <gtest/gtest.h>
#include <sys/ipc.h>
#include <sys/sem.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/sysv/ipc.hpp"
#include "ipckit/sysv/semaphore.hpp"
#include "support.hpp"

using ipckit::Manager;
using ipckit::Object;
using namespace std::chrono_literals;

namespace {

union semun {
    int val;
    semid_ds* buf;
    unsigned short* array;
};

// A semaphore set made raw, exactly as a creator that dies (or stalls) before initialising
// leaves it: semget only, so the kernel's sem_otime is 0. Removed even when the test fails.
struct RawSemaphore {
    RawSemaphore() {
        for (;;) {
            key = ipckit::sysv::random_key();
            id = ::semget(key, 1, IPC_CREAT | IPC_EXCL | 0600);
            if (id >= 0 || errno != EEXIST) break;
        }
    }
    ~RawSemaphore() {
        if (id >= 0) ::semctl(id, 0, IPC_RMID);
    }
    RawSemaphore(const RawSemaphore&) = delete;
    RawSemaphore& operator=(const RawSemaphore&) = delete;
    time_t otime() const {
        semid_ds ds{};
        semun arg{};
        arg.buf = &ds;
        return ::semctl(id, 0, IPC_STAT, arg) == 0 ? ds.sem_otime : -1;
    }
    key_t key = 0;
    int id = -1;
};

std::string python_output(const std::string& code) {
    auto r = ipckit::test::run({ipckit::test::python, "-c", code});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return r.out;
}

}  // namespace

// The documented wait is semaphore_initialisation_wait: the opener waits that long for the
// creator's first semop (sem_otime), then takes the semaphore as it is.
TEST(ClaimsObjects, SemaphoreOpenerGivesUpAfterTheDocumentedWaitForAnUninitialisedOne) {
    RawSemaphore raw;
    ASSERT_GE(raw.id, 0) << std::strerror(errno);
    ASSERT_EQ(raw.otime(), 0) << "the set must look uninitialised";
    const auto documented = ipckit::sysv::semaphore_initialisation_wait;
    for (int flags : {0, IPC_CREAT}) {
        auto start = std::chrono::steady_clock::now();
        ipckit::sysv::Semaphore opened(raw.key, flags, 0600, 5);
        auto took = std::chrono::steady_clock::now() - start;
        SCOPED_TRACE(flags == 0 ? "open" : "IPC_CREAT on an existing key");
        EXPECT_FALSE(opened.created());
        EXPECT_EQ(opened.id(), raw.id);
        // It did wait (for an initialisation that might still come)...
        EXPECT_GE(took, documented - 50ms);
        // ...and gave up: at most the documented wait (generous bound: a loaded machine).
        EXPECT_LT(took, documented + 10s);
        // Taken as it is: the opener initialised nothing (initial_value 5 is the creator's).
        EXPECT_EQ(opened.value(), 0);
        EXPECT_EQ(raw.otime(), 0);
    }
}

TEST(ClaimsObjects, OneAndOnePointZeroAreDifferentDictKeysUnlikePython) {
    // What the docs say Python does ("Python merges them"), checked against Python.
    EXPECT_EQ(python_output("d = {}\nd[1] = 'int'\nd[1.0] = 'float'\nd[True] = 'bool'\nprint(d)"),
              "{1: 'bool'}\n");
    Manager m;
    auto d = m.dict();
    d[1] = "int";
    d[1.0] = "float";
    d[true] = "bool";
    d["1"] = "str";
    EXPECT_EQ(d.size(), 4u);
    EXPECT_EQ(d.get(1).as_string(), "int");
    EXPECT_EQ(d.get(1.0).as_string(), "float");
    EXPECT_EQ(d.get(true).as_string(), "bool");
    EXPECT_EQ(d.repr(), "{1: 'int', 1.0: 'float', True: 'bool', '1': 'str'}");
    d.erase(1.0);
    EXPECT_FALSE(d.contains(1.0));
    EXPECT_TRUE(d.contains(1));
    EXPECT_THROW(d.get(2.0), ipckit::KeyError);
    // Elsewhere numbers compare as Python does: True == 1 == 1.0.
    auto l = m.list({1, 2});
    EXPECT_EQ(l.count(1.0), 1u);
    EXPECT_EQ(l.index(true), 0);
    EXPECT_EQ(python_output("l = [1, 2]\nprint(l.count(1.0), l.index(True))"), "1 0\n");
}

TEST(ClaimsObjects, AListStoredInADictIsACopy) {
    Manager m;
    auto d = m.dict();
    Object::List local{1, 2};
    d["l"] = Object(local);
    local.push_back(3);  // after storing: the stored list does not change
    EXPECT_EQ(d.get("l").repr(), "[1, 2]");
    Object got = d.get("l");
    got.as_list().push_back(4);  // the list read back is a copy too
    EXPECT_EQ(d.get("l").repr(), "[1, 2]");
    // A list proxy's contents stored in a dict: a copy, not a reference to the shared list.
    auto shared = m.list({7});
    d["snapshot"] = Object(shared.copy());
    shared.append(8);
    EXPECT_EQ(d.get("snapshot").repr(), "[7]");
    EXPECT_EQ(shared.repr(), "[7, 8]");
    // The same as a Python manager's dict: d['l'].append(...) changes a copy only.
    EXPECT_EQ(python_output("from multiprocessing import Manager\n"
                            "if __name__ == '__main__':\n"
                            "    with Manager() as m:\n"
                            "        d = m.dict()\n"
                            "        local = [1, 2]\n"
                            "        d['l'] = local\n"
                            "        local.append(3)\n"
                            "        d['l'].append(4)\n"
                            "        print(d['l'])\n"),
              "[1, 2]\n");
}

// Items that compare equal but print differently (True == 1 == 1.0, False == 0 == 0.0) show
// the order that a stable sort keeps; Python's sorted() is the reference, both ways.
TEST(ClaimsObjects, SortIsStableAsPythons) {
    Manager m;
    const Object::List items{1, true, 2, 1.0, 0, false, 0.0, 1, -1, true};
    auto l = m.list(items);
    l.sort();
    EXPECT_EQ(l.repr(), "[-1, 0, False, 0.0, 1, True, 1.0, 1, True, 2]");
    auto r = m.list(items);
    r.sort(true);
    EXPECT_EQ(r.repr(), "[2, 1, True, 1.0, 1, True, 0, False, 0.0, -1]");
    EXPECT_EQ(python_output("items = [1, True, 2, 1.0, 0, False, 0.0, 1, -1, True]\n"
                            "print(sorted(items))\nprint(sorted(items, reverse=True))"),
              l.repr() + "\n" + r.repr() + "\n");
    // Lists compare item by item: [1, 'b'] and [1.0, 'b'] are equal and keep their order.
    auto nested = m.list({Object::list({1.0, "b"}), Object::list({0, "z"}), Object::list({1, "b"}),
                          Object::list({true, "b"})});
    nested.sort();
    EXPECT_EQ(nested.repr(), "[[0, 'z'], [1.0, 'b'], [1, 'b'], [True, 'b']]");
}
