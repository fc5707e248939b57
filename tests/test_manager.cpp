// ipckit::Manager: the handout's listing, every proxy method, many processes, TCP between
// unrelated processes, authentication, and a server that survives bad clients.
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <thread>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/process.hpp"
#include "ipckit/programs/fib.hpp"
#include "ipckit/range.hpp"
#include "ipckit/signals.hpp"
#include "manager/spin.hpp"
#include "manager/wire.hpp"
#include "raw_manager_client.hpp"
#include "support.hpp"

using ipckit::DictProxy;
using ipckit::ListProxy;
using ipckit::Manager;
using ipckit::Object;
using ipckit::Process;
using List = Object::List;
using Dict = Object::Dict;
namespace wire = ipckit::detail::wire;
using namespace std::chrono_literals;

namespace {

std::int64_t stat_of(const Manager& m, const char* name) {
    return m.stats().at(name).as_int();
}

using ipckit::test::RawClient;

// A private directory removed at the end, for authkey files.
struct TempDir {
    TempDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "ipckit-test-XXXXXX").string();
        path = ::mkdtemp(pattern.data());
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string file(const std::string& name, const std::string& content) const {
        std::string p = path + "/" + name;
        std::ofstream(p) << content;
        ::chmod(p.c_str(), 0600);  // authkey files: the commands refuse others' access
        return p;
    }
    std::string path;
};

template <class E, class F>
std::string message_of(F&& f) {
    try {
        f();
    } catch (const E& e) {
        return e.what();
    }
    ADD_FAILURE() << "no exception thrown";
    return {};
}

}  // namespace

TEST(Manager, HandoutListingPrintsWhatPythonPrints) {
    auto result =
        ipckit::test::run({std::string(IPCKIT_BINARY_DIR) + "/examples/manager_dict_list"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, "{1: 'one', 'two': 2}\n[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]\n");
}

TEST(Manager, DictMethods) {
    Manager m;
    DictProxy d = m.dict();
    EXPECT_EQ(d.size(), 0u);
    d[1] = "one";
    d["two"] = 2;
    d.set("1", Object::list({1, 2}));
    EXPECT_EQ(d.repr(), "{1: 'one', 'two': 2, '1': [1, 2]}");
    EXPECT_EQ(d.get(1).as_string(), "one");
    EXPECT_EQ(Object(d["two"]).as_int(), 2);
    EXPECT_EQ(d.get("missing", 42).as_int(), 42);
    std::string message = message_of<ipckit::KeyError>([&] { d.get("missing"); });
    EXPECT_NE(message.find("'missing'"), std::string::npos) << message;
    EXPECT_THROW(d.get(Object::list({1})), ipckit::ValueError);  // unhashable key
    EXPECT_TRUE(d.contains(1));
    EXPECT_TRUE(d.contains("1"));
    EXPECT_FALSE(d.contains(2));
    EXPECT_EQ(d.size(), 3u);
    EXPECT_EQ(Object(d.keys()).repr(), "[1, 'two', '1']");
    EXPECT_EQ(Object(d.values()).repr(), "['one', 2, [1, 2]]");
    auto items = d.items();
    ASSERT_EQ(items.size(), 3u);
    EXPECT_EQ(items[1].first.as_string(), "two");
    EXPECT_EQ(items[1].second.as_int(), 2);

    d.erase("1");
    EXPECT_THROW(d.erase("1"), ipckit::KeyError);
    EXPECT_EQ(d.pop("two").as_int(), 2);
    EXPECT_THROW(d.pop("two"), ipckit::KeyError);
    EXPECT_EQ(d.pop("two", "gone").as_string(), "gone");
    EXPECT_EQ(d.setdefault("x", 5).as_int(), 5);
    EXPECT_EQ(d.setdefault("x", 6).as_int(), 5);
    EXPECT_TRUE(d.setdefault("n").is_none());
    d.update({{"a", 1}, {"x", 7}});
    EXPECT_EQ(d.repr(), "{1: 'one', 'x': 7, 'n': None, 'a': 1}");
    auto [key, value] = d.popitem();
    EXPECT_EQ(key.as_string(), "a");
    EXPECT_EQ(value.as_int(), 1);
    Dict copy = d.copy();
    EXPECT_EQ(Object(copy).repr(), "{1: 'one', 'x': 7, 'n': None}");
    copy.set("local", true);  // a copy, not the shared dict
    EXPECT_FALSE(d.contains("local"));
    std::ostringstream out;
    out << d << ' ' << d[1];
    EXPECT_EQ(out.str(), "{1: 'one', 'x': 7, 'n': None} 'one'");
    d.clear();
    EXPECT_EQ(d.size(), 0u);
    EXPECT_THROW(d.popitem(), ipckit::KeyError);
    DictProxy initial = m.dict(Dict{{"k", 1.5}});
    EXPECT_EQ(initial.repr(), "{'k': 1.5}");
}

TEST(Manager, ListMethods) {
    Manager m;
    ListProxy l = m.list(std::vector<int>{0, 1, 2, 3, 4});  // any range of values
    EXPECT_EQ(l.repr(), "[0, 1, 2, 3, 4]");
    EXPECT_EQ(l.size(), 5u);
    EXPECT_EQ(l.get(0).as_int(), 0);
    EXPECT_EQ(l.get(-1).as_int(), 4);
    EXPECT_EQ(Object(l[-2]).as_int(), 3);
    std::string message = message_of<ipckit::IndexError>([&] { l.get(5); });
    EXPECT_NE(message.find("out of range"), std::string::npos) << message;
    EXPECT_NE(message.find('5'), std::string::npos) << message;
    EXPECT_THROW(l.get(-6), ipckit::IndexError);
    l[0] = "zero";
    l.set(-1, 4.5);
    EXPECT_THROW(l.set(9, 1), ipckit::IndexError);
    EXPECT_EQ(l.repr(), "['zero', 1, 2, 3, 4.5]");
    l.append(Object());
    l.extend({7, 8});
    l.extend(std::vector<int>{9});
    l.insert(0, "first");
    l.insert(-1, "before last");
    l.insert(100, "end");
    l.insert(-100, "start");
    EXPECT_EQ(l.repr(),
              "['start', 'first', 'zero', 1, 2, 3, 4.5, None, 7, 8, 'before last', 9, 'end']");
    EXPECT_EQ(l.pop().as_string(), "end");
    EXPECT_EQ(l.pop(0).as_string(), "start");
    EXPECT_EQ(l.pop(-2).as_string(), "before last");
    EXPECT_THROW(l.pop(50), ipckit::IndexError);
    l.remove(Object());
    EXPECT_THROW(l.remove("absent"), ipckit::ValueError);
    l.erase(0);  // del l[0]
    EXPECT_EQ(l.repr(), "['zero', 1, 2, 3, 4.5, 7, 8, 9]");
    EXPECT_EQ(l.index(2), 2);
    EXPECT_EQ(l.index(2.0), 2);  // 2 == 2.0, as in Python
    EXPECT_THROW(l.index(2, 3), ipckit::ValueError);
    EXPECT_EQ(l.index(8, -3, -1), 6);
    l.append(1);
    EXPECT_EQ(l.count(1), 2u);
    EXPECT_EQ(l.count("x"), 0u);
    EXPECT_TRUE(l.contains(9));
    l.erase(0);
    l.reverse();
    EXPECT_EQ(l.repr(), "[1, 9, 8, 7, 4.5, 3, 2, 1]");
    l.sort();
    EXPECT_EQ(l.repr(), "[1, 1, 2, 3, 4.5, 7, 8, 9]");
    l.sort(true);
    EXPECT_EQ(l.repr(), "[9, 8, 7, 4.5, 3, 2, 1, 1]");
    l.append("text");
    EXPECT_THROW(l.sort(), ipckit::ValueError);                 // '<' between str and int
    EXPECT_EQ(l.repr(), "[9, 8, 7, 4.5, 3, 2, 1, 1, 'text']");  // unchanged
    l.pop();

    // Slices, as Python's l[a:b:c].
    EXPECT_EQ(Object(l.slice(1, 3)).repr(), "[8, 7]");
    EXPECT_EQ(Object(l.slice({}, {}, -1)).repr(), "[1, 1, 2, 3, 4.5, 7, 8, 9]");
    EXPECT_EQ(Object(l.slice(-3, {})).repr(), "[2, 1, 1]");
    EXPECT_EQ(Object(l.slice({}, {}, 3)).repr(), "[9, 4.5, 1]");
    EXPECT_EQ(Object(l.slice(10, 20)).repr(), "[]");
    EXPECT_THROW(l.slice({}, {}, 0), ipckit::ValueError);
    l.set_slice(0, 2, {"a", "b", "c"});
    EXPECT_EQ(l.repr(), "['a', 'b', 'c', 7, 4.5, 3, 2, 1, 1]");
    l.set_slice({}, {}, {0, 0, 0, 0, 0}, 2);
    EXPECT_EQ(l.repr(), "[0, 'b', 0, 7, 0, 3, 0, 1, 0]");
    EXPECT_THROW(l.set_slice({}, {}, {1}, 2), ipckit::ValueError);
    l.erase_slice({}, {}, 2);
    EXPECT_EQ(l.repr(), "['b', 7, 3, 1]");
    l.erase_slice(1, 3);
    EXPECT_EQ(l.repr(), "['b', 1]");
    EXPECT_EQ(Object(l.copy()).repr(), "['b', 1]");
    std::ostringstream out;
    out << l << ' ' << l[0];
    EXPECT_EQ(out.str(), "['b', 1] 'b'");
    l.clear();
    EXPECT_EQ(l.size(), 0u);
    EXPECT_THROW(l.pop(), ipckit::IndexError);
    EXPECT_EQ(m.list({1, "two", 3.0}).repr(), "[1, 'two', 3.0]");
    EXPECT_EQ(m.list(ipckit::range(10, 0, -3)).repr(), "[10, 7, 4, 1]");
}

TEST(Manager, ProxiesAreCopyableHandlesAndAnonymousObjectsAreFreed) {
    Manager m;
    auto base = stat_of(m, "objects");
    {
        ListProxy l = m.list();
        ListProxy copy = l;
        EXPECT_EQ(copy.id(), l.id());
        copy.append(1);
        EXPECT_EQ(l.size(), 1u);
        EXPECT_EQ(stat_of(m, "objects"), base + 1);
        {
            ListProxy moved = std::move(copy);
            moved.append(2);
        }
        EXPECT_EQ(stat_of(m, "objects"), base + 1);  // l still refers to it
    }
    EXPECT_EQ(stat_of(m, "objects"), base);  // no proxy left
    {
        auto named = m.dict("kept");
        named["x"] = 1;
    }
    EXPECT_EQ(stat_of(m, "objects"), base + 1);  // named objects live as long as the server
    EXPECT_EQ(m.dict("kept").repr(), "{'x': 1}");
    EXPECT_THROW(m.named_list("kept"), ipckit::ValueError);  // it is a dict
}

TEST(Manager, ChildTakesItsOwnReferenceAndTheParentsCopyOutlivesIt) {
    Manager m;
    auto base = stat_of(m, "objects");
    ListProxy l = m.list();
    Process child([](ListProxy list) { list.append("from the child"); }, l);
    child.start();
    child.join();
    EXPECT_EQ(child.exitcode(), 0);
    EXPECT_EQ(l.repr(), "['from the child']");
    EXPECT_EQ(stat_of(m, "objects"), base + 1);
}

TEST(Manager, FourProcessesAppendingLoseNothing) {
    Manager m;
    ListProxy l = m.list();
    constexpr int per_process = 10000;
    std::vector<Process> workers;
    workers.reserve(4);
    for (int w = 0; w < 4; ++w) {
        workers.emplace_back(
            [w](ListProxy list) {
                for (int i = 0; i < per_process; ++i)
                    list.append(w * per_process + i);
            },
            l);
    }
    for (auto& p : workers)
        p.start();
    for (auto& p : workers) {
        p.join();
        EXPECT_EQ(p.exitcode(), 0);
    }
    ASSERT_EQ(l.size(), 4u * per_process);
    List all = l.copy();
    std::vector<std::int64_t> values;
    for (const auto& v : all)
        values.push_back(v.as_int());
    std::sort(values.begin(), values.end());
    std::vector<std::int64_t> expected(std::size_t{4} * per_process);
    std::iota(expected.begin(), expected.end(), 0);
    EXPECT_EQ(values, expected);
}

TEST(Manager, UnrelatedProcessesShareANamedDictOverTcp) {
    TempDir dir;
    std::string keyfile = dir.file("authkey", "s3cret\n");
    ipckit::test::Child server({ipckit::test::ipckit_program(), "manager", "serve", "--address",
                                "tcp://127.0.0.1:0", "--authkey-file", keyfile});
    std::string banner = server.read_until("\n");
    auto at = banner.find("tcp://");
    ASSERT_NE(at, std::string::npos) << banner;
    std::string address = banner.substr(at, banner.find('\n', at) - at);

    Manager here = Manager::connect(address, "s3cret");
    auto scores = here.dict("scores");
    scores["alice"] = 3;
    // Another program, knowing only the address and the authkey.
    auto other =
        ipckit::test::run({ipckit::test::ipckit_program(), "manager", "dict", "scores", "--address",
                           address, "--authkey-file", keyfile, "--set", "'bob'=5"});
    EXPECT_EQ(other.exit_code, 0) << other.err;
    EXPECT_EQ(other.out, "{'alice': 3, 'bob': 5}\n");
    EXPECT_EQ(scores.get("bob").as_int(), 5);

    // A wrong authkey is refused; the server goes on serving.
    std::string wrong = dir.file("wrong", "guess");
    auto refused = ipckit::test::run({ipckit::test::ipckit_program(), "manager", "stats",
                                      "--address", address, "--authkey-file", wrong});
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.err.find("authentication failed"), std::string::npos) << refused.err;
    EXPECT_THROW(Manager::connect(address, "guess"), ipckit::AuthenticationError);
    EXPECT_EQ(scores.size(), 2u);

    server.signal(SIGTERM);
    auto end = server.wait();
    EXPECT_EQ(end.exit_code, 0) << end.err;
    EXPECT_NE(end.out.find("stopped"), std::string::npos);
}

TEST(Manager, TcpServerRefusesToStartWithoutAnAuthkey) {
    auto r = ipckit::test::run(
        {ipckit::test::ipckit_program(), "manager", "serve", "--address", "tcp://127.0.0.1:0"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("authkey"), std::string::npos) << r.err;
    EXPECT_THROW(ipckit::serve_manager("tcp://127.0.0.1:0", ""), ipckit::ValueError);
    auto bad = ipckit::test::run(
        {ipckit::test::ipckit_program(), "manager", "serve", "--address", "udp://x"});
    EXPECT_EQ(bad.exit_code, 2);  // a malformed address is bad usage
    EXPECT_NE(bad.err.find("udp://x"), std::string::npos) << bad.err;
}

TEST(Manager, WrongAuthkeyIsRefusedAndTheServerKeepsServing) {
    Manager m;
    auto d = m.dict();
    d["k"] = 1;
    std::string message = message_of<ipckit::AuthenticationError>(
        [&] { Manager::connect(m.address(), "not the key"); });
    EXPECT_NE(message.find(m.address()), std::string::npos) << message;
    EXPECT_EQ(d.get("k").as_int(), 1);
    auto again = Manager::connect(m.address(), m.authkey());
    EXPECT_EQ(again.stats().at("connections").as_int(), 2);
}

TEST(Manager, ClientKilledMidRequestLeavesTheServerHealthyAndItsObjectsFreed) {
    Manager m;
    auto base = stat_of(m, "objects");
    auto base_sessions = stat_of(m, "sessions");
    ipckit::test::Event ready;
    ipckit::test::Event never;
    Process child([&] {
        // The child's own objects, then half a request on a raw connection.
        auto a = m.list({1, 2, 3});
        auto b = m.dict(Dict{{"x", 1}});
        RawClient raw(m.address());
        EXPECT_TRUE(raw.authenticate(m.authkey()));
        std::string frame;
        wire::append_frame(frame, Object::list({int{wire::list_append}, a.id(), "never finished"}));
        raw.send(std::string_view(frame).substr(0, frame.size() - 5));
        ready.set();
        never.wait(60s);
    });
    child.start();
    ASSERT_TRUE(ready.wait());
    EXPECT_EQ(stat_of(m, "objects"), base + 2);
    child.kill();
    child.join();
    EXPECT_EQ(child.exitcode(), -SIGKILL);
    EXPECT_EQ(stat_of(m, "objects"), base);
    EXPECT_EQ(stat_of(m, "sessions"), base_sessions);
    EXPECT_EQ(m.list({7}).repr(), "[7]");  // still serving
}

// Many requests arriving in one read on one connection are all answered, in order, without
// the client sending anything more; one of them (a put) answers another connection's
// parked get, which gets its item at once too.
TEST(Manager, PipelinedRequestsInOneSendAreAllAnsweredInOrder) {
    Manager m;
    auto d = m.dict();
    auto q = m.queue();
    RawClient getter(m.address());
    ASSERT_TRUE(getter.authenticate(m.authkey()));
    getter.send_frame(Object::list({int{wire::queue_get}, q.id(), true, Object()}));
    while (stat_of(m, "waiting") < 1) {
        std::this_thread::yield();  // until the server has parked the get (its own state)
    }
    RawClient client(m.address());
    ASSERT_TRUE(client.authenticate(m.authkey()));
    constexpr int n = 100;
    std::string frames;
    for (int i = 0; i < n; ++i)
        wire::append_frame(frames, Object::list({int{wire::dict_set}, d.id(), i, i * 10}));
    wire::append_frame(frames,
                       Object::list({int{wire::queue_put}, q.id(), "item", true, Object()}));
    for (int i = 0; i < n; ++i)
        wire::append_frame(frames, Object::list({int{wire::dict_get}, d.id(), i}));
    client.send(frames);  // one send: the server reads them together
    for (int i = 0; i < n; ++i) {
        auto answer = client.read_frame();
        ASSERT_TRUE(answer) << "set " << i;
        EXPECT_EQ(answer->repr(), "[0, None]") << "set " << i;
    }
    auto put = client.read_frame();
    ASSERT_TRUE(put);
    EXPECT_EQ(put->repr(), "[0, None]");
    for (int i = 0; i < n; ++i) {
        auto answer = client.read_frame();
        ASSERT_TRUE(answer) << "get " << i;
        EXPECT_EQ(answer->as_list().at(0).as_int(), wire::ok) << "get " << i;
        EXPECT_EQ(answer->as_list().at(1).as_int(), i * 10) << "get " << i;
    }
    auto got = getter.read_frame();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->repr(), "[0, 'item']");
    EXPECT_EQ(stat_of(m, "waiting"), 0);
    EXPECT_EQ(d.size(), static_cast<std::size_t>(n));
}

TEST(Manager, GarbageTruncatedAndOversizedFramesCloseOnlyThatConnection) {
    ipckit::ManagerOptions options;
    options.max_frame = 4096;
    Manager m(options);
    auto d = m.dict();
    d["alive"] = true;
    {
        RawClient garbage(m.address());  // before authentication
        garbage.send("GET / HTTP/1.0\r\n\r\n");
        EXPECT_TRUE(garbage.closed_by_server());
    }
    {
        RawClient huge_hello(m.address());  // a handshake frame over the small pre-auth limit
        huge_hello.send(std::string("\x00\x10\x00\x00", 4));
        EXPECT_TRUE(huge_hello.closed_by_server());
    }
    {
        RawClient malformed(m.address());  // authenticated, then not MessagePack
        ASSERT_TRUE(malformed.authenticate(m.authkey()));
        EXPECT_TRUE(malformed.request(wire::ping, 0).as_list().at(1).as_bool());
        malformed.send(std::string("\x00\x00\x00\x03\xc1\xc1\xc1", 7));
        EXPECT_TRUE(malformed.closed_by_server());
    }
    {
        RawClient oversized(m.address());
        ASSERT_TRUE(oversized.authenticate(m.authkey()));
        std::string frame;
        wire::append_frame(frame,
                           Object::list({int{wire::list_append}, 0, std::string(5000, 'x')}));
        oversized.send(frame);
        EXPECT_TRUE(oversized.closed_by_server());
    }
    {
        RawClient deep(m.address());  // nesting deeper than the decoder allows
        ASSERT_TRUE(deep.authenticate(m.authkey()));
        std::string payload(200, static_cast<char>(0x91));
        payload += '\x01';
        std::string frame;
        std::size_t start = wire::begin_frame(frame);
        frame += payload;
        wire::end_frame(frame, start);
        deep.send(frame);
        EXPECT_TRUE(deep.closed_by_server());
    }
    {
        RawClient lying(m.address());  // an array claiming more items than its frame holds
        ASSERT_TRUE(lying.authenticate(m.authkey()));
        lying.send(std::string("\x00\x00\x00\x05\xdd\xff\xff\xff\xff", 9));
        EXPECT_TRUE(lying.closed_by_server());
    }
    {
        RawClient wrong_request(m.address());  // well-formed but meaningless: an error answer
        ASSERT_TRUE(wrong_request.authenticate(m.authkey()));
        auto answer = wrong_request.request(999, 0);
        EXPECT_EQ(answer.as_list().at(0).as_int(), wire::value_error);
        answer = wrong_request.request(wire::list_get, 123456);
        EXPECT_EQ(answer.as_list().at(0).as_int(), wire::value_error);
        {
            RawClient truncated(m.address());  // half a frame, then gone
            ASSERT_TRUE(truncated.authenticate(m.authkey()));
            truncated.send(std::string("\x00\x00\x01\x00\x92", 5));
        }
        EXPECT_TRUE(wrong_request.request(wire::ping, 0).as_list().at(1).as_bool());
    }
    // The client checks the limit too, before sending.
    auto l = m.list();
    EXPECT_THROW(l.append(std::string(5000, 'y')), ipckit::ValueError);
    EXPECT_EQ(d.repr(), "{'alive': True}");
    EXPECT_EQ(stat_of(m, "connections"), 1);
}

TEST(Manager, ShutdownReapsTheServerAndLaterCallsFailClearly) {
    pid_t server = 0;
    std::string address;
    {
        Manager m;
        server = m.server_pid();
        address = m.address();
        ASSERT_GT(server, 0);
        struct stat st {};
        std::string directory = address.substr(5, address.rfind('/') - 5);
        ASSERT_EQ(::stat(directory.c_str(), &st), 0);
        EXPECT_EQ(st.st_mode & 0777, 0700u);
        auto l = m.list({1});
        m.shutdown();
        EXPECT_EQ(m.server_pid(), 0);
        std::string message = message_of<ipckit::ConnectionError>([&] { l.append(2); });
        EXPECT_NE(message.find(address), std::string::npos) << message;
        EXPECT_FALSE(std::filesystem::exists(directory));
    }
    EXPECT_NE(::kill(server, 0), 0);  // reaped: no such process
    {
        Manager m;
        server = m.server_pid();
    }  // the destructor stops and reaps it
    EXPECT_NE(::kill(server, 0), 0);
    std::string message =
        message_of<ipckit::ConnectionError>([&] { Manager::connect(address, "key"); });
    EXPECT_NE(message.find(address), std::string::npos) << message;
}

TEST(Manager, ConnectTimesOutInsteadOfHanging) {
    // A socket that accepts connections (in its backlog) but never greets.
    TempDir dir;
    std::string path = dir.path + "/silent";
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::memcpy(sa.sun_path, path.c_str(), path.size());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    ASSERT_EQ(::listen(fd, 8), 0);
    ipckit::ManagerOptions options;
    options.connect_timeout = 200ms;
    auto start = std::chrono::steady_clock::now();
    std::string message = message_of<ipckit::ConnectionError>(
        [&] { Manager::connect("unix:" + path, "key", options); });
    auto elapsed = std::chrono::steady_clock::now() - start;
    ::close(fd);
    EXPECT_NE(message.find("unix:" + path), std::string::npos) << message;
    // It gave up because the 200 ms connect timeout expired (not earlier, and not for
    // another reason); the upper bound is only against a hang.
    EXPECT_NE(message.find("no greeting before the connect timeout"), std::string::npos) << message;
    EXPECT_GE(elapsed, 200ms);
    EXPECT_LT(elapsed, 30s);
    EXPECT_THROW(Manager::connect("nonsense", "key"), ipckit::ValueError);
}

TEST(Manager, FibonacciThroughAManagerList) {
    auto numbers = ipckit::programs::fibonacci_via_manager(10);
    EXPECT_EQ(numbers, (std::vector<std::uint64_t>{0, 1, 1, 2, 3, 5, 8, 13, 21, 34}));
    auto all = ipckit::programs::fibonacci_via_manager(94);
    EXPECT_EQ(all.back(), 12200160415121876738ULL);  // F(93): above INT64_MAX
    EXPECT_TRUE(ipckit::programs::fibonacci_via_manager(0).empty());
    EXPECT_THROW(ipckit::programs::fibonacci_via_manager(95), ipckit::ValueError);
}

TEST(Manager, ADeadServerGivesConnectionErrorNotAHang) {
    Manager m;
    auto d = m.dict();
    d["k"] = 1;
    ASSERT_EQ(::kill(m.server_pid(), SIGKILL), 0);
    std::string message = message_of<ipckit::ConnectionError>([&] { d.get("k"); });
    EXPECT_NE(message.find(m.address()), std::string::npos) << message;
    EXPECT_THROW(d.get("k"), ipckit::ConnectionError);  // reconnecting fails too
}  // the destructor reaps the killed server

TEST(Manager, CommandsHaveHelp) {
    for (auto sub : {"serve", "stats", "dict", "shutdown"}) {
        auto r = ipckit::test::run({ipckit::test::ipckit_program(), "manager", sub, "--help"});
        EXPECT_EQ(r.exit_code, 0) << sub;
    }
    auto r = ipckit::test::run({ipckit::test::ipckit_program(), "manager", "stats"});
    EXPECT_EQ(r.exit_code, 2);  // --address is required
}

TEST(Manager, ShutdownCommandStopsAStandaloneServer) {
    TempDir dir;
    std::string address = "unix:" + dir.path + "/socket";
    std::string keyfile = dir.file("key", "k");
    ipckit::test::Child server({ipckit::test::ipckit_program(), "manager", "serve", "--address",
                                address, "--authkey-file", keyfile});
    EXPECT_NE(server.read_until("\n").find(address), std::string::npos);
    auto stats = ipckit::test::run({ipckit::test::ipckit_program(), "manager", "stats", "--address",
                                    address, "--authkey-file", keyfile});
    EXPECT_EQ(stats.exit_code, 0) << stats.err;
    EXPECT_NE(stats.out.find("'connections': 1"), std::string::npos) << stats.out;
    auto stop = ipckit::test::run({ipckit::test::ipckit_program(), "manager", "shutdown",
                                   "--address", address, "--authkey-file", keyfile});
    EXPECT_EQ(stop.exit_code, 0) << stop.err;
    auto end = server.wait(20s);
    EXPECT_EQ(end.exit_code, 0) << end.err;
    EXPECT_FALSE(std::filesystem::exists(dir.path + "/socket"));  // removed at the end
}

TEST(Manager, DeepValuesWithinTheLimitRoundTripAndDeeperOnesAreRefusedBeforeSending) {
    Manager m;
    auto l = m.list();
    Object deep = 1;
    for (int i = 0; i < 99; ++i)
        deep = Object::list({deep});  // 99 levels: the most allowed
    l.append(deep);
    EXPECT_EQ(l.get(0), deep);
    EXPECT_EQ(Object(l.copy()).as_list().at(0), deep);
    Object deeper = Object::list({deep});
    EXPECT_THROW(l.append(deeper), ipckit::ValueError);
    EXPECT_EQ(l.size(), 1u);  // and the connection is still fine
}

// The adaptive wait (ManagerOptions::spin): calls between two processes give the same
// answers with it on, for client and server alike.
TEST(Manager, AdaptiveWaitCallsSucceedBetweenTwoProcesses) {
    ipckit::ManagerOptions options;
    options.spin = 200us;
    Manager m(options);
    auto to_child = m.queue();
    auto to_parent = m.queue();
    DictProxy d = m.dict();
    Process echo(
        [](ipckit::QueueProxy in, ipckit::QueueProxy out, DictProxy dict) {
            for (;;) {
                Object item = in.get();
                if (item.is_none()) return;
                dict.set(item, item.as_int() * 2);
                out.put(item.as_int() + 1);
            }
        },
        to_child, to_parent, d);
    echo.start();
    constexpr int calls = 300;
    for (int i = 0; i < calls; ++i) {
        to_child.put(i);
        ASSERT_EQ(to_parent.get(true, 60s).as_int(), i + 1);
        ASSERT_EQ(d.get(i).as_int(), 2 * i);
    }
    to_child.put(Object());
    echo.join();
    EXPECT_EQ(echo.exitcode(), 0);
    EXPECT_EQ(d.size(), static_cast<std::size_t>(calls));
}

// The adaptive wait is bounded: a call that the server parks (Queue.get on an empty queue)
// polls for at most its spin and then sleeps, and so does the server after serving it.
// With an unbounded spin both would stay runnable ('R') and the waits below time out.
TEST(Manager, AdaptiveWaitSleepsAfterItsSpin) {
    ipckit::ManagerOptions options;
    options.spin = 2ms;
    Manager m(options);
    auto q = m.queue();
    Process getter([](ipckit::QueueProxy queue) { (void)queue.get(); }, q);
    getter.start();
    ASSERT_TRUE(ipckit::test::wait_until([&] { return stat_of(m, "waiting") == 1; }));
    EXPECT_TRUE(ipckit::test::wait_until_state(getter.pid(), 'S'));
    EXPECT_TRUE(ipckit::test::wait_until_state(m.server_pid(), 'S'));
    q.put("wake");  // the parked call is answered and the getter ends
    getter.join();
    EXPECT_EQ(getter.exitcode(), 0);
    EXPECT_TRUE(q.empty());
}

// A stop request (ipckit/signals.hpp) ends a blocked call with the adaptive wait on, as
// without it.
TEST(Manager, AdaptiveWaitStillEndsOnAStopRequest) {
    ipckit::ManagerOptions options;
    options.spin = 2ms;
    Manager m(options);
    auto q = m.queue();
    Process getter(
        [](ipckit::QueueProxy queue) {
            ipckit::install_stop_handler({SIGUSR1});
            try {
                (void)queue.get();
            } catch (const ipckit::InterruptedError&) {
                std::_Exit(7);
            }
        },
        q);
    getter.start();
    ASSERT_TRUE(ipckit::test::wait_until([&] { return stat_of(m, "waiting") == 1; }));
    ASSERT_TRUE(ipckit::test::wait_until_state(getter.pid(), 'S'));
    ::kill(getter.pid(), SIGUSR1);
    getter.join();
    EXPECT_EQ(getter.exitcode(), 7);
    q.put("kept");  // nothing was taken by the interrupted call
    EXPECT_EQ(q.qsize(), 1u);
}

// The adaptive wait stops spinning on a core that another busy process holds: the spinner's
// yield lets that process run for its time slice (a tick, milliseconds: longer than the
// spin and than 0.5 ms), so the spin ends and the next ones sleep at once for a while (1 ms
// at first).
TEST(Manager, AdaptiveSpinBacksOffOnACoreABusyProcessHolds) {
    cpu_set_t saved;
    ASSERT_EQ(::sched_getaffinity(0, sizeof saved, &saved), 0);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    ASSERT_EQ(::sched_setaffinity(0, sizeof one, &one), 0);
    pid_t hog = ::fork();  // shares CPU 0 with this thread
    if (hog == 0) {
        for (;;) {
        }
    }
    struct Cleanup {
        pid_t hog;
        cpu_set_t affinity;
        ~Cleanup() {
            ::kill(hog, SIGKILL);
            ::waitpid(hog, nullptr, 0);
            ::sched_setaffinity(0, sizeof affinity, &affinity);
        }
    } cleanup{hog, saved};
    ASSERT_GT(hog, 0);
    using Clock = ipckit::detail::AdaptiveSpin::Clock;
    ipckit::detail::AdaptiveSpin spin;
    auto start = Clock::now();
    ASSERT_TRUE(spin.allowed(start));
    bool spinning = true;
    for (int k = 0; k < 100000 && spinning; ++k)
        spinning = spin.pause(50us, start + 60s);
    EXPECT_FALSE(spinning);  // ended long before its 60 s
    EXPECT_FALSE(spin.allowed(start));
    EXPECT_TRUE(spin.allowed(Clock::now() + 2ms));  // the first back-off is 1 ms
}
