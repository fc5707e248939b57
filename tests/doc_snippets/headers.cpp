// The examples at the top of the public headers, compiled and run (see snippets.hpp).
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>

#include <iostream>
#include <span>
#include <string>

#include "snippets.hpp"
#include "support.hpp"

// doc-snippet-substitute: mq(128, IPC_CREAT) => mq(key, IPC_CREAT)
// doc-snippet-substitute: sem(42, IPC_CREAT, 0600, 1) => sem(key, IPC_CREAT, 0600, 1)
// doc-snippet-substitute: shm(42, IPC_CREAT, 0600, 4096) => shm(key, IPC_CREAT, 0600, 4096)

using namespace std::chrono_literals;
using ipckit::doc_test::captured_stdout;

// include/ipckit/sysv/message_queue.hpp:3, with a fresh key for 128.
TEST(HeaderSnippets, MessageQueue) {
    namespace sysv = ipckit::sysv;
    auto reserved = ipckit::doc_test::reserve_queue();
    const sysv::Key key = reserved.key();

    sysv::MessageQueue mq(key, IPC_CREAT);  // mode 0600, like sysv_ipc
    mq.set_auto_remove(true);               // removed with mq, even if a call throws
    mq.send("42");                          // type 1
    auto msg = mq.receive();                // first message, any type: {"42", 1}
    mq.send("ok", sysv::type(3));
    auto reply = mq.receive(sysv::type(3), sysv::timeout(2s));  // BusyError if none in 2 s
    mq.remove();  // now, rather than at the end of scope

    EXPECT_EQ(msg.data, "42");
    EXPECT_EQ(msg.type, 1);
    EXPECT_EQ(reply.data, "ok");
    EXPECT_FALSE(ipckit::test::queue_exists(key));
}

// include/ipckit/sysv/semaphore.hpp:3, with a fresh key for 42.
TEST(HeaderSnippets, Semaphore) {
    namespace sysv = ipckit::sysv;
    sysv::Semaphore reserved(std::nullopt, sysv::IPC_CREX, 0600, 1);  // as the snippet's
    reserved.set_auto_remove(true);
    const sysv::Key key = reserved.key();

    sysv::Semaphore sem(key, IPC_CREAT, 0600, 1);  // a lock shared by unrelated processes
    {
        auto held = sem.guard();  // acquire; released at the end of scope
        // ...
    }
    sem.acquire(2s);                 // value 1 -> 0; BusyError (timed_out) if still held after 2 s
    bool again = sem.try_acquire();  // false: the value is 0
    sem.release();                   // value 0 -> 1
    sem.remove();

    EXPECT_FALSE(again);
    EXPECT_LT(semget(key, 0, 0), 0);
}

// include/ipckit/sysv/shared_memory.hpp:3, with a fresh key for 42.
TEST(HeaderSnippets, SharedMemory) {
    namespace sysv = ipckit::sysv;
    sysv::SharedMemory reserved(std::nullopt, sysv::IPC_CREX, 0600, 4096);
    reserved.set_auto_remove(true);
    const sysv::Key key = reserved.key();

    sysv::SharedMemory shm(key, IPC_CREAT, 0600, 4096);  // attached on construction
    shm.write("hello");                                  // at offset 0
    std::string text = shm.read(5);                      // "hello"
    std::span<std::byte> bytes = shm.bytes();            // zero-copy view
    shm.detach();
    shm.remove();

    EXPECT_EQ(text, "hello");
    EXPECT_GE(bytes.size(), 4096u);  // (the size only: the view died with the detach)
    EXPECT_FALSE(shm.attached());
}

// include/ipckit/object.hpp:3
TEST(HeaderSnippets, Object) {
    using ipckit::Object;
    std::string printed = captured_stdout([] {
        Object::Dict d;
        d.set(1, "one");
        d.set("two", 2);
        std::cout << Object(d);       // {1: 'one', 'two': 2}
        std::cout << Object(3.0);     // 3.0
        std::cout << Object("it's");  // "it's"
    });
    EXPECT_EQ(printed, "{1: 'one', 'two': 2}3.0\"it's\"");
    // object.hpp documents ValueError: it compiles with object.hpp's own includes (this
    // file includes more, but object.hpp now includes error.hpp itself).
    ipckit::Object::Dict d;
    EXPECT_THROW(d.set(Object::list({1}), 2), ipckit::ValueError);
}

// include/ipckit/manager.hpp (the example at the top).
TEST(HeaderSnippets, Manager) {
    std::string printed = captured_stdout([] {
        ipckit::Manager manager;  // forks a server on a private Unix socket
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
        std::cout << dct << '\n' << lst << '\n';  // {1: 'one'}  [9, 8, ..., 0]
    });
    EXPECT_EQ(printed, "{1: 'one'}\n[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]\n");
}

// include/ipckit/shared.hpp (the example at the top).
TEST(HeaderSnippets, Shared) {
    std::string printed = captured_stdout([] {
        ipckit::Value<double> number(0.0);
        ipckit::Array<int> vector(ipckit::range(10));
        ipckit::Process p(
            [](auto n, auto a) {
                n.value() = 3.1415927;
                for (std::size_t i = 0; i < a.size(); ++i)
                    a[i] = -a[i];
            },
            number, vector);
        p.start();
        p.join();
        std::cout << number << '\n';  // 3.1415927
        std::cout << vector << '\n';  // [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]
    });
    EXPECT_EQ(printed, "3.1415927\n[0, -1, -2, -3, -4, -5, -6, -7, -8, -9]\n");
}

// include/ipckit/lock.hpp (the example at the top).
TEST(HeaderSnippets, Lock) {
    int repaired = 0;
    auto repair = [&] { ++repaired; };

    ipckit::Lock lock;                          // lives in the shared arena
    ipckit::Value<int> a(0, lock), b(0, lock);  // one lock for both, as Python's lock=
    {
        auto g = lock.guard();        // scoped: unlocks at the end of the block
        if (g.recovered()) repair();  // the previous owner died holding the lock
    }

    EXPECT_EQ(repaired, 0);  // nobody died holding it
    EXPECT_TRUE(lock.try_lock());
    lock.unlock();
    EXPECT_EQ(a.get() + b.get(), 0);
}

// include/ipckit/process.hpp:3
TEST(HeaderSnippets, Process) {
    ipckit::Value<int> number(1);
    ipckit::Array<int> vector(ipckit::range(3));
    auto f = [](const ipckit::Value<int>& n, const ipckit::Array<int>& v) { n.value() += v[2]; };

    ipckit::Process p(f, number, vector);
    p.start();
    p.join();

    EXPECT_EQ(p.exitcode(), 0);
    EXPECT_EQ(number.get(), 3);
}

// include/ipckit/queue.hpp (the example at the top).
TEST(HeaderSnippets, Queue) {
    std::string printed = captured_stdout([] {
        ipckit::Queue<int> q(100);  // at most 100 items
        ipckit::Process p([](auto queue) { queue.put(42); }, q);
        p.start();
        std::cout << q.get() << '\n';  // 42
        p.join();
    });
    EXPECT_EQ(printed, "42\n");
}

// include/ipckit/pool.hpp (the example at the top).
TEST(HeaderSnippets, Pool) {
    auto square = [](std::int64_t x) { return x * x; };      // or a function
    ipckit::Pool pool(4);                                    // 4 worker processes
    auto squares = pool.map(square, ipckit::range(100000));  // std::vector<std::int64_t>
    auto r = pool.apply_async(square, 7);                    // r.get() == 49

    ASSERT_EQ(squares.size(), 100000u);
    EXPECT_EQ(squares[300], 90000);
    EXPECT_EQ(r.get(), 49);
}

// include/ipckit/pipe.hpp (the example at the top).
TEST(HeaderSnippets, Pipe) {
    std::string printed = captured_stdout([] {
        auto [parent_end, child_end] = ipckit::Pipe();
        ipckit::Process p([&end = child_end] { end.send(ipckit::Object::list({42, "hello"})); });
        p.start();
        std::cout << parent_end.recv() << '\n';  // [42, 'hello']
        p.join();
    });
    EXPECT_EQ(printed, "[42, 'hello']\n");
}

// include/ipckit/manager.hpp, serve_manager: "A unix: socket file is created owner-only
// (mode 0700, srwx------)". Checked on the socket that `ipckit manager serve` makes.
TEST(HeaderSnippets, ServeManagerSocketIsOwnerOnly) {
    char dir_template[] = "/tmp/ipckit-doc-socket-XXXXXX";
    ASSERT_NE(::mkdtemp(dir_template), nullptr);
    const std::string dir = dir_template;
    const std::string path = dir + "/manager.sock";
    {
        ipckit::test::Child server(
            {ipckit::test::ipckit_program(), "manager", "serve", "--address", "unix:" + path});
        std::string out = server.read_until("serving at");
        struct stat st {};
        int rc = ::stat(path.c_str(), &st);
        server.signal(SIGTERM);
        auto result = server.wait();
        ASSERT_NE(out.find("serving at"), std::string::npos) << out;
        ASSERT_EQ(rc, 0);
        EXPECT_TRUE(S_ISSOCK(st.st_mode));
        EXPECT_EQ(st.st_mode & 07777, 0700u);
        EXPECT_EQ(result.exit_code, 0) << result.err;
    }
    ::unlink(path.c_str());
    ::rmdir(dir.c_str());
}

// include/ipckit/manager_registry.hpp (the example at the top), also docs/manager.md.
TEST(HeaderSnippets, ManagerRegistry) {
    struct Counter {
        std::int64_t n = 0;
        void increment(std::int64_t by) { n += by; }
        std::int64_t value() const { return n; }
    };
    ipckit::Registry registry;
    registry.add<Counter>("Counter",
                          {{"increment", &Counter::increment}, {"value", &Counter::value}});
    ipckit::Manager m(registry);   // or serve_manager(address, authkey, registry)
    auto c = m.object("Counter");  // named: m.named_object("hits", "Counter")
    c.call("increment", 5);
    std::int64_t v = c.call("value").as_int();
    EXPECT_EQ(v, 5);
}
