// docs/python-to-cpp.md's forms, compiled and run (see snippets.hpp).
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>

#include "snippets.hpp"

namespace sysv = ipckit::sysv;
using namespace std::chrono_literals;
using ipckit::Object;

// docs/python-to-cpp.md:16-17: mq.send(message, block, type) and mq.receive(block, type),
// sysv_ipc's positional forms, with integer literals and variables of any integer type
// (an int used to pick the variadic option template and fail to compile).
TEST(PythonToCppSnippets, PositionalSendAndReceiveTakeAnyIntegerType) {
    auto mq = ipckit::doc_test::reserve_queue();
    mq.send("m", true, 3);
    auto [data, type] = mq.receive(true, 3);
    EXPECT_EQ(data, "m");
    EXPECT_EQ(type, 3);
    try {
        mq.receive(false, 0);
        ADD_FAILURE() << "receive(false, 0) on an empty queue returned";
    } catch (const ipckit::BusyError& e) {
        EXPECT_FALSE(e.timed_out());  // would block
    }
    short s = 2;
    unsigned u = 4;
    std::int64_t big = 5;
    mq.send("s", false, s);
    mq.send("u", true, u);
    mq.send("b", true, big);
    EXPECT_EQ(mq.receive(true, s).data, "s");
    EXPECT_EQ(mq.receive(false, big).data, "b");
    EXPECT_EQ(mq.receive(true, 4L).data, "u");
    mq.send("m");
    mq.send("m", true);
    EXPECT_EQ(mq.receive(true).type, 1);
    EXPECT_EQ(mq.receive().type, 1);
}

// docs/python-to-cpp.md:16-18: the option-tag forms.
TEST(PythonToCppSnippets, OptionTagForms) {
    auto mq = ipckit::doc_test::reserve_queue();
    long t = 7;
    mq.send("x", sysv::type(t), sysv::nonblocking);
    EXPECT_EQ(mq.receive(sysv::type(t)).data, "x");
    EXPECT_THROW(mq.receive(sysv::timeout(2ms)), ipckit::BusyError);
}

// docs/python-to-cpp.md:145: b'\x00' is Object::bytes("\0").
TEST(PythonToCppSnippets, BytesWithANul) {
    EXPECT_EQ(Object::bytes("\0").repr(), "b'\\x00'");
    EXPECT_EQ(Object::bytes("a\0b").repr(), "b'a\\x00b'");
    EXPECT_EQ(Object::bytes("abc").repr(), "b'abc'");
    EXPECT_EQ(Object::bytes(std::string("\0", 1)).repr(), "b'\\x00'");
    const char* pointer = "p\0q";
    EXPECT_EQ(Object::bytes(pointer).repr(), "b'p'");  // a C string stops at its NUL
    char buffer[16] = "buf";
    EXPECT_EQ(Object::bytes(buffer).repr(), "b'buf'");  // a buffer is a C string too
    EXPECT_EQ(Object().repr(), "None");
    EXPECT_EQ(Object(1.5).repr(), "1.5");
}

// docs/python-to-cpp.md, semaphores: sem.acquire(2s), sem.acquire(std::nullopt, 3), 0s.
TEST(PythonToCppSnippets, SemaphoreForms) {
    sysv::Semaphore sem(std::nullopt, sysv::IPC_CREX, sysv::default_mode, 3);
    sem.set_auto_remove(true);
    sem.acquire(2s);
    sem.release();
    sem.acquire(std::nullopt, 3);
    EXPECT_EQ(sem.value(), 0);
    try {
        sem.acquire(0s);  // tries once
        ADD_FAILURE() << "acquire(0s) on a zero semaphore returned";
    } catch (const ipckit::BusyError& e) {
        EXPECT_TRUE(e.timed_out());
    }
    EXPECT_FALSE(sem.try_acquire(1));
    sem.release(3);
    {
        std::lock_guard lock(sem);
        EXPECT_EQ(sem.value(), 2);
    }
    EXPECT_EQ(sem.value(), 3);
}

// docs/manager.md, "Proxies inside dicts, lists and namespaces": a dict of queues.
TEST(ManagerDocSnippets, ADictOfQueues) {
    ipckit::Manager m;
    auto printed = ipckit::doc_test::captured_stdout([&] {
        auto d = m.dict();
        d.set("q", m.queue());  // the dict keeps the queue alive
        auto q = ipckit::Manager::proxy<ipckit::QueueProxy>(d.get("q"));
        q.put(42);
        std::cout << d << '\n';  // {'q': <AutoProxy[Queue] object, typeid 'Queue' at 0x2>}
    });
    EXPECT_EQ(printed, "{'q': <AutoProxy[Queue] object, typeid 'Queue' at 0x2>}\n");
    EXPECT_EQ(m.stats().at("objects").as_int(), 0);  // the dict and its queue are gone
}
