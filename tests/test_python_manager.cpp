// Python's own manager clients against `ipckit manager serve` (issue 12): real python3
// processes using only the standard library (SyncManager / BaseManager .connect()) talk to
// the ipckit server on 127.0.0.1 (port 0), on the same address as ipckit's C++ clients.
// The scripts are in tests/python/pymgr_*.py.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ipckit/ipckit.hpp"
#include "ipckit/python_connection.hpp"
#include "raw_manager_client.hpp"
#include "support.hpp"

namespace {

using namespace std::chrono_literals;
using ipckit::Manager;
using ipckit::Object;
using ipckit::test::Child;
using ipckit::test::ipckit_program;
using ipckit::test::python_script;
using ipckit::test::RunResult;

constexpr const char* authkey = "python-interop-key";
constexpr const char* python312 = "/root/.pyenv/versions/3.12.1/bin/python3";

using ipckit::test::TempDir;

// `ipckit manager serve` on tcp://127.0.0.1:0 with `authkey`, stopped at the end.
class Server {
  public:
    explicit Server(std::vector<std::string> extra = {})
        : key_file_(write_key(dir_.path)), server_(argv(key_file_, std::move(extra))) {
        std::string banner = server_.read_until("\n");
        std::smatch m;
        if (!std::regex_search(banner, m,
                               std::regex("serving at tcp://127\\.0\\.0\\.1:([0-9]+)"))) {
            throw std::runtime_error("the manager did not start: " + banner);
        }
        port_ = m[1];
    }
    ~Server() {
        server_.signal(SIGTERM);
        server_.wait(30s);
    }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    const std::string& port() const { return port_; }
    std::string address() const { return "tcp://127.0.0.1:" + port_; }
    Manager connect() const { return Manager::connect(address(), authkey); }

  private:
    static std::string write_key(const std::string& dir) {
        std::string path = dir + "/authkey";
        std::ofstream(path) << authkey;
        ::chmod(path.c_str(), 0600);
        return path;
    }
    static std::vector<std::string> argv(const std::string& key, std::vector<std::string> extra) {
        std::vector<std::string> a = {ipckit_program(),    "manager",        "serve", "--address",
                                      "tcp://127.0.0.1:0", "--authkey-file", key};
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    }
    TempDir dir_;
    std::string key_file_;
    Child server_;
    std::string port_;
};

RunResult python(const std::string& interpreter, const std::string& script,
                 const std::string& port) {
    return ipckit::test::run({interpreter, "-u", python_script(script), port, authkey}, "", 120s);
}

// Addresses differ between servers: 0x7f3a... -> 0x?
std::string without_addresses(const std::string& text) {
    return std::regex_replace(text, std::regex("0x[0-9a-f]+"), "0x?");
}

void expect_same_transcript_as_pythons_own_manager(const std::string& interpreter,
                                                   const std::string& script = "pymgr_types.py") {
    Server server;
    RunResult own = python(interpreter, script, "own");
    ASSERT_EQ(own.exit_code, 0) << own.err;
    RunResult ours = python(interpreter, script, server.port());
    ASSERT_EQ(ours.exit_code, 0) << ours.err;
    EXPECT_EQ(without_addresses(ours.out), without_addresses(own.out));
    if (script == "pymgr_types.py") {
        EXPECT_NE(ours.out.find("{1: 'one', 'two': 2, (3, 4): [5.5, None, True, b'bytes']}"),
                  std::string::npos)
            << ours.out;
        EXPECT_NE(ours.out.find("<locked _thread.lock object at 0x"), std::string::npos)
            << ours.out;
        EXPECT_NE(ours.out.find("Namespace(a=1, b=[1, 2])\nValue('i', 0) 0 0\n"), std::string::npos)
            << ours.out;
    }
    EXPECT_NE(ours.out.find("\ndone\n"), std::string::npos) << ours.out;
    // Everything the script made was released by its proxies' decref (Python's counting).
    auto stats = server.connect().stats();
    EXPECT_EQ(stats.at("anonymous").as_int(), 0) << Object(stats);
}

TEST(PythonManager, Python311ClientSeesWhatPythonsOwnManagerShows) {
    expect_same_transcript_as_pythons_own_manager(ipckit::test::python);
}

TEST(PythonManager, Python312ClientAuthenticatesWithSha256AndSeesTheSame) {
    if (::access(python312, X_OK) != 0) GTEST_SKIP() << python312 << " is not installed";
    expect_same_transcript_as_pythons_own_manager(python312);
}

TEST(PythonManager, ProxiesStoredInContainersComeBackAsProxiesAsFromPythonsOwnManager) {
    expect_same_transcript_as_pythons_own_manager(ipckit::test::python, "pymgr_nested.py");
}

TEST(PythonManager, AProxyInADictCrossesBetweenCppAndPython) {
    Server server({"--expose", "get_shared=dict:shared"});
    Manager m = server.connect();
    auto shared = m.dict("shared");
    {
        auto q = m.queue();
        shared["q"] = q;  // the dict holds the only reference once q goes
    }
    RunResult py = python(ipckit::test::python, "pymgr_nested_cpp.py", server.port());
    ASSERT_EQ(py.exit_code, 0) << py.err;
    EXPECT_EQ(py.out, "AutoProxy[Queue] 1\n");
    auto q = Manager::proxy<ipckit::QueueProxy>(shared.get("q"));
    EXPECT_EQ(q.get(true, 0ms).as_string(), "from python");
    auto l = Manager::proxy<ipckit::ListProxy>(shared.get("l"));
    EXPECT_EQ(l.repr(), "[1, 2, 3]");  // kept alive by the dict after Python's exit
    shared.erase("l");
    shared.erase("q");
}

// list.sort(reverse=True) works; a key function (pickled as a reference: builtins.len, or
// str.lower as builtins.getattr(str, 'lower')) is refused with TypeError naming it, never
// called, and the connection stays usable.
TEST(PythonManager, PythonSortReverseWorksAndAKeyFunctionIsRefusedWithTypeError) {
    Server server;
    RunResult py = python(ipckit::test::python, "pymgr_sort.py", server.port());
    ASSERT_EQ(py.exit_code, 0) << py.err;
    std::istringstream lines(py.out);
    std::string line;
    std::getline(lines, line);
    EXPECT_EQ(line, "['dd', 'c', 'b', 'A']");
    std::getline(lines, line);
    EXPECT_EQ(line, "['A', 'b', 'c', 'dd']");
    std::getline(lines, line);
    EXPECT_EQ(line.rfind("TypeError: sort(key=builtins.len): the ipckit manager server never "
                         "calls a function",
                         0),
              0u)
        << py.out;
    std::getline(lines, line);
    EXPECT_EQ(line.rfind("TypeError: the ipckit manager server refused the request", 0), 0u)
        << py.out;
    EXPECT_NE(line.find("builtins.getattr"), std::string::npos) << line;
    std::getline(lines, line);
    EXPECT_EQ(line, "['A', 'b', 'c', 'dd'] 4");
    EXPECT_EQ(server.connect().stats().at("anonymous").as_int(), 0);
}

TEST(PythonManager, RemoteManagerPatternGetsTheExposedObjectsCppUses) {
    Server server({"--expose", "get_queue=queue:jobs", "--expose", "get_scores=dict:scores"});
    Manager m = server.connect();
    auto jobs = m.named_queue("jobs");
    auto scores = m.dict("scores");
    jobs.put("hello");
    scores["cpp"] = 1;
    RunResult py = python(ipckit::test::python, "pymgr_expose.py", server.port());
    ASSERT_EQ(py.exit_code, 0) << py.err;
    EXPECT_EQ(py.out, "from C++: hello 1\n{'cpp': 1, 'python': 3}\n");
    EXPECT_EQ(jobs.get(true, 0ms).as_string(), "job-0");
    EXPECT_EQ(jobs.get(true, 0ms).as_string(), "job-1");
    EXPECT_EQ(jobs.get(true, 0ms).as_string(), "job-2");
    EXPECT_EQ(scores.get("python").as_int(), 3);
}

// The handout's second listing across languages: the parent is C++ (ipckit), the child is
// Python's multiprocessing.Process running the listing's f(d, l) against the same server.
TEST(PythonManager, HandoutSecondListingWithACppParentAndAPythonChild) {
    Server server({"--expose", "get_dict=dict:dct", "--expose", "get_list=list:lst"});
    Manager m = server.connect();
    auto dct = m.dict("dct");
    auto lst = m.named_list("lst");
    lst.extend(ipckit::range(10));
    RunResult child = python(ipckit::test::python, "pymgr_listing2_child.py", server.port());
    ASSERT_EQ(child.exit_code, 0) << child.err;
    std::ostringstream printed;
    printed << dct << '\n' << lst << '\n';  // print(d), print(l)
    EXPECT_EQ(printed.str(), "{1: 'one', 'two': 2}\n[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]\n");
}

TEST(PythonManager, PythonBlockingCallsParkOnTheServerUntilCppActs) {
    Server server({"--expose", "get_queue=queue:q", "--expose", "get_event=event:e"});
    Manager m = server.connect();
    auto q = m.named_queue("q");
    auto e = m.named_event("e");
    Child py({ipckit::test::python, "-u", python_script("pymgr_wait.py"), server.port(), authkey});
    auto waiting = [&] { return m.stats().at("waiting").as_int() == 1; };
    ASSERT_TRUE(ipckit::test::wait_until(waiting, 60s));
    // The parked get does not block the server: other requests are answered meanwhile.
    auto d = m.dict();
    d["x"] = 1;
    EXPECT_EQ(d.get("x").as_int(), 1);
    q.put(Object::list({1, "two"}));
    EXPECT_NE(py.read_until("got").find("got"), std::string::npos);
    ASSERT_TRUE(ipckit::test::wait_until(waiting, 60s));  // now in Event.wait
    e.set();
    RunResult r = py.wait(60s);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.substr(r.out.find("got")), "got [1, 'two']\nevent True\n");
}

TEST(PythonManager, APythonConditionWaitParksUntilACppClientNotifies) {
    Server server(
        {"--expose", "get_condition=condition:c", "--expose", "get_namespace=namespace:ns"});
    Manager m = server.connect();
    auto c = m.named_condition("c");
    auto ns = m.named_namespace("ns");
    ns.set("ready", 0);
    Child py(
        {ipckit::test::python, "-u", python_script("pymgr_condition.py"), server.port(), authkey});
    EXPECT_NE(py.read_until("waiting 0\n").find("waiting 0"), std::string::npos);
    auto waiting = [&] { return m.stats().at("waiting").as_int() == 1; };
    ASSERT_TRUE(ipckit::test::wait_until(waiting, 60s));
    // The Python client's wait released the lock and parked: C++ holds the lock meanwhile.
    {
        auto held = c.guard();
        ns.set("ready", 1);
        c.notify();  // wait_for's predicate is still false: it waits again
    }
    ASSERT_TRUE(ipckit::test::wait_until(waiting, 60s));
    {
        auto held = c.guard();
        ns.set("ready", 2);
        c.notify_all();
    }
    RunResult r = py.wait(60s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(without_addresses(r.out),
              "<Condition(<unlocked _thread.RLock object owner=0 count=0 at 0x?>, 0)>\n"
              "waiting 0\n"
              "woken True 2\n"
              "<Condition(<unlocked _thread.RLock object owner=0 count=0 at 0x?>, 0)>\n"
              "True False\n"
              "<Condition(<locked _thread.lock object at 0x?>, 0)>\n"
              "False\n"
              "<Condition(<unlocked _thread.lock object at 0x?>, 0)>\n"
              "True\n");
    // The Python client's objects (its Lock and the Condition over it) are freed: what is
    // left is c, ns and c's RLock (anonymous, held by c).
    auto stats = m.stats();
    EXPECT_EQ(stats.at("objects").as_int(), 3) << Object(stats);
    EXPECT_EQ(stats.at("anonymous").as_int(), 1) << Object(stats);
}

TEST(PythonManager, AKilledPythonClientsObjectsAreFreed) {
    Server server;
    Manager m = server.connect();
    Child py({ipckit::test::python, "-u", python_script("pymgr_hold.py"), server.port(), authkey});
    std::string ready = py.read_until("ready 3");
    ASSERT_NE(ready.find("ready 3"), std::string::npos) << ready << py.wait(1s).err;
    // Alive, with its create/incref/decref connections closed: its objects are kept.
    EXPECT_EQ(m.stats().at("anonymous").as_int(), 3) << Object(m.stats());
    py.signal(SIGKILL);
    RunResult r = py.wait(30s);
    EXPECT_EQ(r.exit_code, -SIGKILL);
    // Its connections closed when it died, before this request was sent.
    EXPECT_EQ(m.stats().at("anonymous").as_int(), 0) << Object(m.stats());
}

TEST(PythonManager, MisbehavingPythonClientsDoNotStopTheServer) {
    Server server({"--max-frame", "65536"});
    RunResult py = python(ipckit::test::python, "pymgr_bad.py", server.port());
    ASSERT_EQ(py.exit_code, 0) << py.err;
    EXPECT_EQ(py.out,
              "wrong key refused\ngarbage closed\nnot a request closed\nover-long closed\n"
              "{'still': 'serving'}\n");
    // A C++ client is served too.
    Manager m = server.connect();
    EXPECT_EQ(m.stats().at("anonymous").as_int(), 0);
}

}  // namespace

// ---- the other direction: ipckit's C++ client against Python's own manager server --------

namespace {

// pymgr_server.py: SyncManager(...).get_server().serve_forever() on 127.0.0.1:0.
class PythonServer {
  public:
    explicit PythonServer(const std::string& key = authkey)
        : server_({ipckit::test::python, "-u", python_script("pymgr_server.py"), key}) {
        std::string line = server_.read_until("\n");
        std::smatch m;
        if (!std::regex_search(line, m, std::regex("([0-9]+)\n"))) {
            throw std::runtime_error("the Python manager did not start: " + line);
        }
        address_ = "python+tcp://127.0.0.1:" + std::string(m[1]);
    }
    ~PythonServer() {
        server_.signal(SIGTERM);
        server_.wait(30s);
    }
    PythonServer(const PythonServer&) = delete;
    PythonServer& operator=(const PythonServer&) = delete;
    const std::string& address() const { return address_; }

  private:
    Child server_;
    std::string address_;
};

void server_typeid_on_ipckit() {
    Server server;
    server.connect().typeid_queue("get_queue");
}

TEST(PythonManager, CppProxiesWorkAgainstAPythonSyncManager) {
    PythonServer python_server;
    Manager m = Manager::connect(python_server.address(), authkey);
    auto d = m.dict();
    d[1] = "one";
    d["two"] = 2;
    EXPECT_EQ(d.repr(), "{1: 'one', 'two': 2}");
    EXPECT_EQ(d.get("two").as_int(), 2);
    EXPECT_EQ(d.size(), 2u);
    try {
        d.get("missing");
        ADD_FAILURE() << "no KeyError";
    } catch (const ipckit::KeyError& e) {  // Python's KeyError('missing'), mapped
        EXPECT_NE(std::string(e.what()).find("'missing'"), std::string::npos) << e.what();
    }
    auto l = m.list();
    for (int i = 0; i < 10; ++i)
        l.append(i);
    l.reverse();
    EXPECT_EQ(l.repr(), "[9, 8, 7, 6, 5, 4, 3, 2, 1, 0]");
    EXPECT_THROW(l.get(100), ipckit::IndexError);
    auto q = m.queue();
    q.put(Object::list({1, "x"}));
    EXPECT_EQ(q.get().repr(), "[1, 'x']");
    try {
        q.get(true, 100ms);
        ADD_FAILURE() << "no Empty";
    } catch (const ipckit::Empty& e) {
        EXPECT_TRUE(e.timed_out());
    }
    auto lock = m.lock();
    EXPECT_TRUE(lock.acquire());
    EXPECT_FALSE(lock.acquire(false));
    lock.release();
    auto e = m.event();
    EXPECT_FALSE(e.wait(50ms));
    e.set();
    EXPECT_TRUE(e.is_set());
    EXPECT_TRUE(e.wait());
    // The remote-manager pattern the other way: a typeid the Python server registered.
    auto jobs = m.typeid_queue("get_queue");
    EXPECT_EQ(jobs.get(true, 10s).as_string(), "from-python");
    jobs.put("from-cpp");
    EXPECT_EQ(m.typeid_queue("get_queue").get(true, 10s).as_string(), "from-cpp");
    EXPECT_THROW(server_typeid_on_ipckit(), ipckit::ValueError);
}

void server_typeid_object_on_ipckit() {
    Server server;
    server.connect().typeid_object("Counter");
}

// A user's class registered on the Python server (pymgr_server.py's Counter), used from C++
// through a generic proxy; a Python exception reaches C++ with its type and message.
TEST(PythonManager, ACppGenericProxyCallsAUsersClassOnAPythonServer) {
    PythonServer python_server;
    Manager m = Manager::connect(python_server.address(), authkey);
    auto counter = m.typeid_object("Counter");
    EXPECT_EQ(counter.call("value").as_int(), 0);
    EXPECT_EQ(counter.call("increment").as_int(), 1);
    EXPECT_EQ(counter.call("increment", 41).as_int(), 42);
    EXPECT_EQ(counter.call("value").as_int(), 42);
    auto other = m.typeid_object("Counter");  // a new instance per call, as in Python
    EXPECT_EQ(other.call("value").as_int(), 0);
    try {
        counter.call("fail", "too big");
        ADD_FAILURE() << "no RemoteError";
    } catch (const ipckit::RemoteError& e) {
        EXPECT_NE(std::string(e.what()).find("OverflowError: too big"), std::string::npos)
            << e.what();
    }
    try {
        counter.call("no_such_method");
        ADD_FAILURE() << "no RemoteError";
    } catch (const ipckit::RemoteError& e) {  // Python's own traceback text
        std::string what = e.what();
        EXPECT_NE(what.find("AttributeError"), std::string::npos) << what;
        EXPECT_NE(what.find("no_such_method"), std::string::npos) << what;
        EXPECT_NE(what.find("not in exposed"), std::string::npos) << what;
    }
    EXPECT_EQ(counter.call("value").as_int(), 42);  // the connection survives both errors
    EXPECT_THROW(server_typeid_object_on_ipckit(), ipckit::ValueError);
}

// Methods the Python server maps to typeids (method_to_typeid) answer #PROXY: the C++ call
// returns a ref that Manager::proxy turns into a proxy, typed for SyncManager's typeids (dict)
// and generic otherwise (a registered class, an iterator), holding the one reference the
// server took for it (number_of_objects counts it) and releasing it when it goes.
TEST(PythonManager, ACppClientGetsProxiesReturnedByMethodsOfAPythonServer) {
    PythonServer python_server;
    Manager m = Manager::connect(python_server.address(), authkey);
    auto objects = [&] { return m.stats().at("objects").as_int(); };
    auto counter = m.typeid_object("Counter");
    counter.call("increment", 12);
    const auto base = objects();
    {
        Object spawned_ref = counter.call("spawn", 7);
        ASSERT_TRUE(spawned_ref.is_ref()) << spawned_ref.repr();
        EXPECT_EQ(spawned_ref.as_ref().type, "Spawned");
        EXPECT_EQ(objects(), base + 1);
        auto spawned = Manager::proxy<ipckit::ObjectProxy>(spawned_ref);
        EXPECT_EQ(spawned.call("value").as_int(), 7);
        EXPECT_EQ(spawned.call("increment").as_int(), 8);
        // A proxy returned by a proxy's method, two levels down.
        auto grandchild = Manager::proxy<ipckit::ObjectProxy>(spawned.call("spawn", 100));
        EXPECT_EQ(grandchild.call("increment", 1).as_int(), 101);
        EXPECT_EQ(objects(), base + 2);
        // A SyncManager typeid: the typed proxy.
        auto snapshot = Manager::proxy<ipckit::DictProxy>(spawned.call("snapshot"));
        EXPECT_EQ(snapshot.repr(), "{'count': 8}");
        snapshot["more"] = 1;
        EXPECT_EQ(snapshot.size(), 2u);
        EXPECT_THROW(Manager::proxy<ipckit::QueueProxy>(counter.call("snapshot")),
                     ipckit::ValueError);  // the ref names its type
        // An iterator returned as a proxy: __next__ until StopIteration.
        auto digits = Manager::proxy<ipckit::ObjectProxy>(counter.call("digits"));
        std::string seen;
        try {
            for (int i = 0; i < 10; ++i)
                seen += digits.call("__next__").as_string();
            ADD_FAILURE() << "no StopIteration";
        } catch (const ipckit::RemoteError& e) {
            EXPECT_NE(std::string(e.what()).find("StopIteration"), std::string::npos) << e.what();
        }
        EXPECT_EQ(seen, "12");
        EXPECT_GT(objects(), base + 2);
    }
    // Every proxy above is gone: each released its reference (decref), as Python's would.
    EXPECT_EQ(objects(), base);
    EXPECT_EQ(counter.call("value").as_int(), 12);
}

// Manager::typeid_object(typeid, args...): the create request carries the arguments, and
// the Python server calls the registered class with them (Counter(5, 3)).
TEST(PythonManager, ACppClientCreatesATypeidWithArgumentsOnAPythonServer) {
    PythonServer python_server;
    Manager m = Manager::connect(python_server.address(), authkey);
    auto five = m.typeid_object("Counter", 5);
    EXPECT_EQ(five.call("value").as_int(), 5);
    EXPECT_EQ(five.call("step_by").as_int(), 1);
    auto stepped = m.typeid_object("Counter", 5, 3);
    EXPECT_EQ(stepped.call("step_by").as_int(), 3);
    EXPECT_EQ(stepped.call("increment", 2).as_int(), 7);
    EXPECT_EQ(m.typeid_object("Counter").call("value").as_int(), 0);
    try {  // Counter(1, 2, 3): Python's TypeError, as a RemoteError with its message
        m.typeid_object("Counter", 1, 2, 3);
        ADD_FAILURE() << "no error";
    } catch (const ipckit::RemoteError& e) {
        EXPECT_NE(std::string(e.what()).find("TypeError"), std::string::npos) << e.what();
    }
}

// A C++ client's blocking call on a Python server (Queue.get without a timeout) ends with
// InterruptedError on a stop request (ipckit/signals.hpp). Python's server cannot cancel it,
// so the thread's connection is dropped and its next call uses a fresh one; the abandoned
// get, still parked in Python, takes the next item put (docs/python-interop.md).
TEST(PythonManager, AStopRequestEndsACppBlockingCallOnAPythonServerAndLaterCallsWork) {
    PythonServer python_server;
    Manager m = Manager::connect(python_server.address(), authkey);
    auto q = m.queue();
    std::atomic<pid_t> tid{0};
    std::atomic<bool> interrupted{false};
    std::thread t([&] {
        tid = ::gettid();
        try {
            q.get();
        } catch (const ipckit::InterruptedError&) {
            interrupted = true;
        }
    });
    ASSERT_TRUE(ipckit::test::wait_until([&] { return tid.load() != 0; }));
    bool blocked = ipckit::test::wait_until_blocked_in(tid.load(), "recv");
    ipckit::request_stop();
    t.join();
    ipckit::clear_stop();
    ASSERT_TRUE(blocked);
    EXPECT_TRUE(interrupted.load());
    // This thread and others go on, on connections of their own.
    q.put("a");
    q.put("b");
    auto d = m.dict();
    d["x"] = 1;
    EXPECT_EQ(d.get("x").as_int(), 1);
    // The abandoned get took one item; the other is still there.
    ASSERT_TRUE(ipckit::test::wait_until([&] { return q.qsize() == 1; }));
    std::string left = q.get(true, 10s).as_string();
    EXPECT_TRUE(left == "a" || left == "b") << left;
    std::thread again([&] {  // a new thread's blocking call is served as usual
        EXPECT_EQ(q.get(true, 10s).as_string(), "c");
    });
    q.put("c");
    again.join();
}

// ManagerOptions::call_timeout bounds an ordinary call on a Python server that does not
// answer (Counter.hang): ConnectionError (ETIMEDOUT) naming the address, and the thread's
// next call works on a fresh connection.
TEST(PythonManager, ACallTimeoutEndsACallAPythonServerNeverAnswers) {
    PythonServer python_server;
    ipckit::ManagerOptions options;
    options.call_timeout = 300ms;
    Manager m = Manager::connect(python_server.address(), authkey, options);
    auto counter = m.typeid_object("Counter", 3);
    try {
        counter.call("hang");
        ADD_FAILURE() << "no timeout";
    } catch (const ipckit::ConnectionError& e) {
        EXPECT_EQ(e.code().value(), ETIMEDOUT) << e.what();
        EXPECT_NE(std::string(e.what()).find(python_server.address()), std::string::npos)
            << e.what();
        EXPECT_NE(std::string(e.what()).find("call timeout"), std::string::npos) << e.what();
    }
    EXPECT_EQ(counter.call("increment").as_int(), 4);
}

// ManagerOptions::spin (the client's adaptive wait) against a Python server: answers that
// come during the spin and after it (a blocking get that times out) are read alike.
TEST(PythonManager, ACppClientWithTheAdaptiveWaitWorksAgainstAPythonServer) {
    PythonServer python_server;
    ipckit::ManagerOptions options;
    options.spin = std::chrono::microseconds(200);
    Manager m = Manager::connect(python_server.address(), authkey, options);
    auto d = m.dict();
    for (int i = 0; i < 50; ++i)
        d[i % 7] = i;
    EXPECT_EQ(d.repr(), "{0: 49, 1: 43, 2: 44, 3: 45, 4: 46, 5: 47, 6: 48}");
    auto q = m.queue();
    q.put("x");
    EXPECT_EQ(q.get(true, 10s).as_string(), "x");
    EXPECT_THROW(q.get(true, 50ms), ipckit::Empty);
    EXPECT_EQ(m.typeid_object("Counter", 9).call("value").as_int(), 9);
}

// A blocking call with the adaptive wait on a Python server polls for its spin, then
// sleeps in recv until the answer comes (another client's put), and a stop request still
// ends it.
TEST(PythonManager, ACppBlockingCallWithTheAdaptiveWaitSleepsAfterItsSpinAndEndsOnAStop) {
    PythonServer python_server;
    ipckit::ManagerOptions options;
    options.spin = std::chrono::milliseconds(2);
    Manager m = Manager::connect(python_server.address(), authkey, options);
    auto q = m.queue();
    // A thread that runs `body` (a blocking get); `blocked` says whether it was seen asleep
    // in recv.
    struct Getter {
        std::atomic<pid_t> tid{0};
        bool blocked = false;
        std::thread thread;
        explicit Getter(std::function<void()> body)
            : thread([this, body = std::move(body)] {
                  tid = ::gettid();
                  body();
              }) {
            blocked = ipckit::test::wait_until([&] { return tid.load() != 0; }) &&
                      ipckit::test::wait_until_blocked_in(tid.load(), "recv");
        }
    };
    std::string got;
    {
        Getter getter([&] { got = q.get().as_string(); });
        EXPECT_TRUE(getter.blocked);  // asleep in recv, not polling
        q.put("x");
        getter.thread.join();
    }
    EXPECT_EQ(got, "x");
    std::atomic<bool> interrupted{false};
    {
        Getter waiter([&] {
            try {
                q.get();
            } catch (const ipckit::InterruptedError&) {
                interrupted = true;
            }
        });
        ipckit::request_stop();
        waiter.thread.join();
        ipckit::clear_stop();
        EXPECT_TRUE(waiter.blocked);
    }
    EXPECT_TRUE(interrupted.load());
}

TEST(PythonManager, CppNamespaceValueAndArrayProxiesWorkAgainstAPythonSyncManager) {
    PythonServer python_server;
    Manager m = Manager::connect(python_server.address(), authkey);
    auto ns = m.namespace_();
    ns.set("x", 1);
    ns.set("name", "ipc");
    EXPECT_EQ(ns.repr(), "Namespace(name='ipc', x=1)");  // Python's own Namespace repr
    EXPECT_EQ(ns.get("x").as_int(), 1);
    EXPECT_TRUE(ns.contains("name"));
    EXPECT_FALSE(ns.contains("y"));
    EXPECT_EQ(ns.get("y", Object("default")).as_string(), "default");
    ns.erase("x");
    try {
        ns.get("x");
        ADD_FAILURE() << "no KeyError";
    } catch (const ipckit::KeyError& e) {  // Python's AttributeError, as the ipckit server's
        EXPECT_NE(std::string(e.what()).find("AttributeError: 'Namespace' object has no "
                                             "attribute 'x'"),
                  std::string::npos)
            << e.what();
    }
    EXPECT_THROW(ns.erase("x"), ipckit::KeyError);
    auto v = m.value('i', 41);
    EXPECT_EQ(v.get().as_int(), 41);
    v.set(v.get().as_int() + 1);
    EXPECT_EQ(v.repr(), "Value('i', 42)");
    auto a = m.array('i', {1, 2, 3});
    a.set(1, 20);
    EXPECT_EQ(a.get(1).as_int(), 20);
    EXPECT_EQ(a.size(), 3u);
    EXPECT_EQ(a.repr(), "array('i', [1, 20, 3])");
    EXPECT_THROW(a.get(5), ipckit::IndexError);
}

TEST(PythonManager, AWrongAuthkeyIsRefusedBothWays) {
    PythonServer python_server;
    EXPECT_THROW(Manager::connect(python_server.address(), "not the key"),
                 ipckit::AuthenticationError);
    Server server;
    RunResult py =
        ipckit::test::run({ipckit::test::python, "-c",
                           "import sys\nfrom multiprocessing.managers import SyncManager\n"
                           "from multiprocessing import AuthenticationError\n"
                           "try:\n    SyncManager(address=('127.0.0.1', int(sys.argv[1])), "
                           "authkey=b'bad').connect()\n"
                           "except AuthenticationError: print('refused')\n",
                           server.port()});
    EXPECT_EQ(py.out, "refused\n") << py.err;
}

}  // namespace

namespace {

TEST(PythonManager, ALockSharedByPythonAndCppCountsToAnExactTotal) {
    Server server({"--expose", "get_lock=lock:L", "--expose", "get_counter=dict:counter"});
    Manager m = server.connect();
    auto lock = m.named_lock("L");
    auto counter = m.dict("counter");
    constexpr int each = 300;
    Child py({ipckit::test::python, "-u", python_script("pymgr_count.py"), server.port(), authkey,
              std::to_string(each)});
    for (int i = 0; i < each; ++i) {
        auto held = lock.acquire();
        ASSERT_TRUE(held);
        counter["n"] = counter.get("n", Object(0)).as_int() + 1;
        lock.release();
    }
    RunResult r = py.wait(120s);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "counted\n");
    EXPECT_EQ(counter.get("n").as_int(), 2 * each);
}

// Before authentication, a client that looks like a Python client (its answer lacks the
// ipckit marker) gets what Python's server gives: #FAILURE# for a wrong digest, a closed
// connection for an over-long or malformed frame. The server goes on serving.
TEST(PythonManager, GarbageBeforeAuthenticationClosesThatConnectionOnly) {
    Server server;
    auto greeted = [&] {
        auto c = std::make_unique<ipckit::test::RawClient>(server.address());
        auto hello = c->read_payload();
        EXPECT_TRUE(hello && hello->rfind("#CHALLENGE#{sha256}", 0) == 0);
        return c;
    };
    {
        auto c = greeted();
        c->send_payload(std::string(16, 'g'));  // a wrong HMAC-MD5
        auto answer = c->read_payload();
        ASSERT_TRUE(answer);
        EXPECT_EQ(*answer, "#FAILURE#");
        EXPECT_TRUE(c->closed_by_server());
    }
    {
        auto c = greeted();
        c->send(std::string("\x00\x10\x00\x00", 4) + std::string(100, 'x'));  // 1 MiB announced
        EXPECT_TRUE(c->closed_by_server());
    }
    {
        auto c = greeted();
        c->send(std::string("\xff\xff\xff\xff", 4) + std::string(8, '\x7f'));  // 8-byte length
        EXPECT_TRUE(c->closed_by_server());
    }
    {
        // Right digest, then garbage instead of the client's own challenge.
        auto c = std::make_unique<ipckit::test::RawClient>(server.address());
        auto hello = c->read_payload();
        ASSERT_TRUE(hello);
        c->send_payload(ipckit::python::create_response(authkey, hello->substr(11)));
        EXPECT_EQ(c->read_payload().value_or(""), "#WELCOME#");
        c->send_payload("no challenge here");
        EXPECT_TRUE(c->closed_by_server());
    }
    EXPECT_EQ(server.connect().stats().at("objects").as_int(), 0);
    RunResult py = ipckit::test::run(
        {ipckit::test::python, "-c",
         "import sys\nfrom multiprocessing.managers import SyncManager\n"
         "m = SyncManager(address=('127.0.0.1', int(sys.argv[1])), authkey=sys.argv[2].encode())\n"
         "m.connect()\nprint(m.dict(ok=1))\n",
         server.port(), authkey});
    EXPECT_EQ(py.out, "{'ok': 1}\n") << py.err;
}

}  // namespace
