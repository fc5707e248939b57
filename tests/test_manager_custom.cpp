// Custom registered manager types (ipckit::Registry, ObjectProxy), the server's list of
// named objects, and the call timeout against a server that is alive but never answers
// (issue 11).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/process.hpp"
#include "manager/net.hpp"
#include "manager/wire.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using ipckit::Manager;
using ipckit::Object;
using ipckit::Process;
using Clock = std::chrono::steady_clock;

namespace {

struct Counter {
    Counter() = default;
    explicit Counter(std::int64_t start) : n(start) {}
    std::int64_t n = 0;
    std::int64_t increment(std::int64_t by) { return n += by; }
    std::int64_t value() const { return n; }
    void fail(const std::string& how) {
        if (how == "value") throw ipckit::ValueError("bad value");
        if (how == "key") throw ipckit::KeyError("KeyError: 'k'");
        throw std::runtime_error("boom");
    }
    std::vector<std::int64_t> history(std::int64_t k) const { return {n, n + k}; }
    double scaled(double f, bool neg) const { return (neg ? -f : f) * static_cast<double>(n); }
    std::string label(const std::string& prefix) const { return prefix + std::to_string(n); }
    std::int64_t len() const { return n; }
};

ipckit::Registry counters() {
    ipckit::Registry registry;
    registry.add<Counter>("Counter", {{"increment", &Counter::increment},
                                      {"value", &Counter::value},
                                      {"fail", &Counter::fail},
                                      {"history", &Counter::history},
                                      {"scaled", &Counter::scaled},
                                      {"label", &Counter::label},
                                      {"__len__", &Counter::len}});
    registry.add<Counter, std::int64_t>("StartedCounter", {{"value", &Counter::value}});
    return registry;
}

// A typed wrapper, as the header shows.
struct CounterProxy : ipckit::ObjectProxy {
    std::int64_t increment(std::int64_t by) { return call("increment", by).as_int(); }
    std::int64_t value() const { return call("value").as_int(); }
};

}  // namespace

TEST(ManagerCustom, RegisteredTypeSharedByFourProcesses) {
    ipckit::Registry registry = counters();
    Manager m(registry);
    CounterProxy c{m.object("Counter")};
    std::vector<Process> workers;
    workers.reserve(4);
    for (int i = 0; i < 4; ++i) {
        workers.emplace_back(
            [](CounterProxy counter) {
                for (int k = 0; k < 250; ++k)
                    counter.increment(1);
            },
            c);
    }
    for (auto& w : workers)
        w.start();
    for (auto& w : workers) {
        w.join();
        EXPECT_EQ(w.exitcode(), 0);
    }
    // Each call ran to completion on the server: no increment lost.
    EXPECT_EQ(c.value(), 1000);
    EXPECT_EQ(c.size(), 1000u);  // __len__
}

// examples/manager_custom.cpp: a parent and four workers share a registered Counter.
TEST(ManagerCustom, ExamplePrintsTheWorkersTotal) {
    auto r = ipckit::test::run({std::string(IPCKIT_BINARY_DIR) + "/examples/manager_custom"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "400\n");
}

TEST(ManagerCustom, NamedObjectIsFoundByEveryClientAndConstructorArgumentsAreUsed) {
    ipckit::Registry registry = counters();
    Manager m(registry);
    auto a = m.named_object("hits", "StartedCounter", 41);
    auto other = Manager::connect(m.address(), m.authkey());
    auto b = other.named_object("hits", "StartedCounter", 0);  // exists: arguments ignored
    EXPECT_EQ(b.call("value").as_int(), 41);
    EXPECT_EQ(a.id(), b.id());
    // A name held by another type is refused, naming both.
    try {
        other.named_object("hits", "Counter");
        ADD_FAILURE() << "no error";
    } catch (const ipckit::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("is a StartedCounter, not a Counter"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_THROW(m.object("StartedCounter"), ipckit::ValueError);  // needs its argument
    EXPECT_THROW(m.object("StartedCounter", "x"), ipckit::ValueError);
}

TEST(ManagerCustom, ArgumentsAndResultsConvertToAndFromObjects) {
    ipckit::Registry registry = counters();
    Manager m(registry);
    auto c = m.object("Counter");
    EXPECT_EQ(c.call("increment", 3).as_int(), 3);
    EXPECT_EQ(c.call("history", 2), Object::list({3, 5}));
    EXPECT_DOUBLE_EQ(c.call("scaled", 0.5, true).as_double(), -1.5);
    EXPECT_DOUBLE_EQ(c.call("scaled", 2, false).as_double(), 6.0);  // an int for a double
    EXPECT_EQ(c.call("label", "n=").as_string(), "n=3");
}

TEST(ManagerCustom, ErrorsNameTheTypeAndItsMethodsAndTheServerSurvives) {
    ipckit::Registry registry = counters();
    Manager m(registry);
    auto c = m.object("Counter");
    try {
        c.call("decrement", 1);
        ADD_FAILURE() << "no error";
    } catch (const ipckit::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("'Counter' object has no method 'decrement' (it "
                                             "exposes: __len__, fail, history, increment, "
                                             "label, scaled, value)"),
                  std::string::npos)
            << e.what();
    }
    try {
        c.call("increment");
        ADD_FAILURE() << "no error";
    } catch (const ipckit::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("Counter.increment() takes 1 argument (0 given)"),
                  std::string::npos)
            << e.what();
    }
    try {
        c.call("increment", "five");
        ADD_FAILURE() << "no error";
    } catch (const ipckit::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("Counter.increment() argument 1: expected int"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_THROW(c.call("fail", "value"), ipckit::ValueError);
    EXPECT_THROW(c.call("fail", "key"), ipckit::KeyError);
    try {
        c.call("fail", "other");
        ADD_FAILURE() << "no error";
    } catch (const ipckit::RemoteError& e) {
        EXPECT_NE(std::string(e.what()).find("Counter.fail() raised: boom"), std::string::npos)
            << e.what();
    }
    // Still serving, the object intact.
    EXPECT_EQ(c.call("increment", 2).as_int(), 2);
    // Unknown types name the registered ones; built-in proxies refuse call().
    try {
        m.object("Gauge");
        ADD_FAILURE() << "no error";
    } catch (const ipckit::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("registered types: Counter, StartedCounter"),
                  std::string::npos)
            << e.what();
    }
    Manager plain;
    EXPECT_THROW(plain.object("Counter"), ipckit::ValueError);
}

TEST(ManagerCustom, RegistryRefusesBuiltInNamesAndRepeats) {
    ipckit::Registry registry;
    EXPECT_THROW(registry.add<Counter>("Queue", {{"value", &Counter::value}}), ipckit::ValueError);
    EXPECT_THROW(registry.add<Counter>("", {{"value", &Counter::value}}), ipckit::ValueError);
    EXPECT_THROW(
        registry.add<Counter>("C", {{"value", &Counter::value}, {"value", &Counter::value}}),
        ipckit::ValueError);
    registry.add<Counter>("C", {{"value", &Counter::value}});
    EXPECT_THROW(registry.add<Counter>("C", {}), ipckit::ValueError);
    ASSERT_NE(registry.find("C"), nullptr);
    EXPECT_EQ(registry.find("C")->method_list(), "value");
}

TEST(ManagerCustom, ServeManagerServesTheRegistryToConnectingClients) {
    ipckit::Registry registry = counters();
    std::string path = ::testing::TempDir() + "custom-" + std::to_string(::getpid()) + ".sock";
    int ready[2];
    ASSERT_EQ(::pipe(ready), 0);
    Process server(
        [&](const std::string& address) {
            ::close(ready[0]);
            ipckit::ServeOptions options;
            options.on_ready = [&](const std::string&) {
                char c = 1;
                (void)!::write(ready[1], &c, 1);
            };
            ipckit::serve_manager(address, "key", registry, options);
        },
        "unix:" + path);
    server.start();
    ::close(ready[1]);
    char c = 0;
    ASSERT_EQ(::read(ready[0], &c, 1), 1);
    ::close(ready[0]);
    {
        auto m = Manager::connect("unix:" + path, "key");
        auto counter = m.named_object("total", "Counter");
        counter.call("increment", 7);
        EXPECT_EQ(Manager::connect("unix:" + path, "key")
                      .named_object("total", "Counter")
                      .call("value")
                      .as_int(),
                  7);
        m.shutdown();
    }
    server.join();
    EXPECT_EQ(server.exitcode(), 0);
}

TEST(ManagerNamedObjects, ListsNameTypeAndSize) {
    ipckit::Registry registry;
    registry.add<Counter>("Counter", {{"value", &Counter::value}});
    Manager m(registry);
    m.dict("scores").set("a", 1);
    m.named_queue("tasks").put(1);
    m.named_queue("tasks").put(2);
    m.named_lock("door");
    m.named_object("c", "Counter");
    auto anonymous = m.dict();  // not listed
    auto rows = m.named_objects();
    ASSERT_EQ(rows.size(), 4u);
    EXPECT_EQ(rows[0].name, "c");
    EXPECT_EQ(rows[0].type, "Counter");
    EXPECT_FALSE(rows[0].size);
    EXPECT_EQ(rows[1].name, "door");
    EXPECT_EQ(rows[1].type, "Lock");
    EXPECT_FALSE(rows[1].size);
    EXPECT_EQ(rows[2].name, "scores");
    EXPECT_EQ(rows[2].type, "dict");
    EXPECT_EQ(rows[2].size, 1u);
    EXPECT_EQ(rows[3].name, "tasks");
    EXPECT_EQ(rows[3].type, "Queue");
    EXPECT_EQ(rows[3].size, 2u);
}

// ---- the call timeout ----------------------------------------------------------------

namespace {

// A server that completes the real handshake (with any authkey's proof: it never checks)
// and then reads requests without ever answering one. Counts the requests it got.
class SilentServer {
  public:
    SilentServer() {
        path_ = ::testing::TempDir() + "silent-" + std::to_string(::getpid()) + ".sock";
        std::string bound;
        listener_ =
            ipckit::detail::listen_on(ipckit::detail::parse_address("unix:" + path_), bound);
        if (::pipe(stop_) != 0) throw std::runtime_error("pipe");
        thread_ = std::thread([this] { run(); });
    }
    ~SilentServer() {
        char c = 0;
        (void)!::write(stop_[1], &c, 1);
        thread_.join();
        ::close(stop_[0]);
        ::close(stop_[1]);
        ::close(listener_);
        ::unlink(path_.c_str());
    }
    std::string address() const { return "unix:" + path_; }
    int requests() const { return requests_.load(); }

  private:
    void run() {
        namespace wire = ipckit::detail::wire;
        struct Conn {
            int fd;
            wire::FrameReader reader{1 << 20};
            std::string challenge;
            bool authenticated = false;
        };
        std::vector<std::unique_ptr<Conn>> conns;
        for (;;) {
            std::vector<pollfd> fds{{stop_[0], POLLIN, 0}, {listener_, POLLIN, 0}};
            for (auto& c : conns)
                fds.push_back({c->fd, POLLIN, 0});
            if (::poll(fds.data(), fds.size(), -1) < 0) continue;
            if (fds[0].revents) break;
            if (fds[1].revents & POLLIN) {
                int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
                if (fd >= 0) {
                    auto c = std::make_unique<Conn>();
                    c->fd = fd;
                    c->challenge = wire::random_bytes(wire::challenge_size);
                    std::string out;
                    std::size_t start = wire::begin_frame(out);  // the greeting: a raw frame
                    out += wire::greeting(c->challenge);
                    wire::end_frame(out, start);
                    (void)!::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
                    conns.push_back(std::move(c));
                }
            }
            for (std::size_t i = 0; i + 2 < fds.size(); ++i) {  // the polled ones (not a new one)
                if (!fds[i + 2].revents) continue;
                Conn& c = *conns[i];
                char* room = c.reader.prepare(4096);
                ssize_t n = ::recv(c.fd, room, 4096, 0);
                if (n <= 0) {
                    ::close(c.fd);
                    conns.erase(conns.begin() + static_cast<std::ptrdiff_t>(i));
                    break;  // the indexes moved: poll again
                }
                c.reader.commit(static_cast<std::size_t>(n));
                std::string_view payload;
                while (c.reader.next(payload)) {
                    if (c.authenticated) {
                        ++requests_;  // never answered
                        continue;
                    }
                    Object hello = wire::parse_client_answer(payload);
                    std::string client_challenge = hello.as_list().at(1).as_bytes();
                    std::string out;
                    wire::append_frame(
                        out,
                        Object::list({true, Object::bytes(wire::hmac(
                                                "key", "server", client_challenge, c.challenge))}));
                    (void)!::send(c.fd, out.data(), out.size(), MSG_NOSIGNAL);
                    c.authenticated = true;
                }
            }
        }
        for (auto& c : conns)
            ::close(c->fd);
    }

    std::string path_;
    int listener_ = -1;
    int stop_[2] = {-1, -1};
    std::thread thread_;
    std::atomic<int> requests_{0};
};

}  // namespace

TEST(ManagerCallTimeout, ServerThatNeverAnswersGivesConnectionErrorNamingTheAddress) {
    SilentServer server;
    ipckit::ManagerOptions options;
    options.call_timeout = 300ms;
    auto m = Manager::connect(server.address(), "key", options);  // the handshake succeeds
    for (int attempt = 0; attempt < 2; ++attempt) {  // and the manager fails clearly again
        auto start = Clock::now();
        try {
            m.stats();
            ADD_FAILURE() << "no error";
        } catch (const ipckit::ConnectionError& e) {
            EXPECT_EQ(e.errno_value(), ETIMEDOUT);
            std::string what = e.what();
            EXPECT_NE(what.find("manager at " + server.address()), std::string::npos) << what;
            EXPECT_NE(what.find("call timeout of 300 ms"), std::string::npos) << what;
        }
        auto took = Clock::now() - start;
        EXPECT_GE(took, 250ms);
        EXPECT_LT(took, 20s);  // generous: a loaded machine, sanitizers
    }
    EXPECT_EQ(server.requests(), 2);  // each request reached the server, unanswered
}

TEST(ManagerCallTimeout, StoppedServerTimesOutThenTheProxyWorksAgainWhenItResumes) {
    ipckit::ManagerOptions options;
    options.call_timeout = 300ms;
    Manager m(options);
    auto d = m.dict();  // anonymous: its reference must survive the dropped connection
    d.set("k", 1);
    ASSERT_EQ(::kill(m.server_pid(), SIGSTOP), 0);
    ASSERT_TRUE(ipckit::test::wait_until_state(m.server_pid(), 'T'));
    EXPECT_THROW(d.get("k"), ipckit::ConnectionError);
    ASSERT_EQ(::kill(m.server_pid(), SIGCONT), 0);
    EXPECT_EQ(d.get("k"), Object(1));  // a new connection; the dict is still there
    d.set("k", 2);
    EXPECT_EQ(d.get("k"), Object(2));
}

TEST(ManagerCallTimeout, BlockingCallsAreNotCutByTheCallTimeout) {
    ipckit::ManagerOptions options;
    options.call_timeout = 100ms;
    Manager m(options);
    auto q = m.queue();
    auto start = Clock::now();
    EXPECT_THROW(q.get(true, 400ms), ipckit::Empty);  // its own timeout, not the call's
    EXPECT_GE(Clock::now() - start, 400ms);
    q.put(1);  // and ordinary calls still work on the same connection
    EXPECT_EQ(q.get(), Object(1));
}
