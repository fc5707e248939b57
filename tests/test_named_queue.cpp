// Named queues (POSIX shared memory, /dev/shm/ipckit.q.NAME) with real, unrelated
// processes: two exec'd programs sharing one queue, race-free creation, open of a missing,
// foreign or wrong-type name, removal by the last user (a SIGKILLed user included), the
// crash matrix on a named queue, and `ipckit queue ls|stat|rm`.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "forked.hpp"
#include "ipckit/ipckit.hpp"
#include "named_queue_item.hpp"
#include "queue_crash.hpp"
#include "support.hpp"

using ipckit::ByteQueue;
using ipckit::ExistentialError;
using ipckit::ObjectQueue;
using ipckit::Queue;
using ipckit::ValueError;
using ipckit::test::Child;
using ipckit::test::consumer_crash_matrix;
using ipckit::test::Forked;
using ipckit::test::ipckit_program;
using ipckit::test::producer_crash_matrix;
using ipckit::test::run;
using ipckit::test::sanitized;
using ipckit_test::named_check;
using ipckit_test::NamedItem;
using namespace std::chrono_literals;

namespace {

const std::string worker = IPCKIT_NAMED_QUEUE_WORKER;

std::string path_of(const std::string& name) {
    return "/dev/shm/ipckit.q." + name;
}
bool exists(const std::string& name) {
    struct stat st {};
    return ::stat(path_of(name).c_str(), &st) == 0;
}

// A name unique to this run, removed when the test ends whatever happened.
struct UniqueName {
    std::string name;
    UniqueName() {
        std::random_device r;
        char text[40];
        std::snprintf(text, sizeof text, "test.%08x%08x", r(), r());
        name = text;
    }
    UniqueName(const UniqueName&) = delete;
    UniqueName& operator=(const UniqueName&) = delete;
    ~UniqueName() { ::shm_unlink(("/ipckit.q." + name).c_str()); }
};

template <class F>
std::string error_of(F&& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no error)";
}

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

}  // namespace

TEST(NamedQueue, CreateOpenShareOneQueueAndRemove) {
    UniqueName name;
    auto a = Queue<int>::create(name.name, 7);  // (a ring of 28 bytes: not a multiple of 8)
    EXPECT_TRUE(a.created());
    EXPECT_EQ(a.name(), name.name);
    EXPECT_TRUE(exists(name.name));
    auto b = Queue<int>::open(name.name);
    EXPECT_FALSE(b.created());
    EXPECT_EQ(b.maxsize(), 7u);
    a.put(1);
    a.put(2);
    EXPECT_EQ(b.qsize(), 2u);
    EXPECT_EQ(b.get(), 1);
    EXPECT_EQ(a.get(), 2);
    EXPECT_EQ(a.users(), 2u);  // two handles of this process: two users
    // remove(): the name goes at once; the handles keep working.
    EXPECT_TRUE(b.remove());
    EXPECT_FALSE(exists(name.name));
    EXPECT_FALSE(a.remove());
    a.put(3);
    EXPECT_EQ(b.get(), 3);
    EXPECT_THROW(Queue<int>::open(name.name), ExistentialError);
    // The name is free again: a new queue, not the old one.
    auto c = Queue<int>::create(name.name, 4);
    EXPECT_EQ(c.maxsize(), 4u);
    a.put(4);
    EXPECT_TRUE(c.empty());
    // Anonymous queues have no name to remove.
    Queue<int> anonymous(4);
    EXPECT_EQ(anonymous.name(), "");
    EXPECT_THROW(anonymous.remove(), ValueError);
}

TEST(NamedQueue, ByteAndObjectQueuesToo) {
    UniqueName bytes_name, objects_name;
    auto b = ByteQueue::create(bytes_name.name, 16, 4096);
    auto b2 = ByteQueue::open(bytes_name.name);
    b.put("hello");
    EXPECT_EQ(b2.get(), "hello");
    EXPECT_EQ(b2.max_bytes(), 4096u);
    EXPECT_THROW(b.put(std::string(5000, 'x')), ValueError);
    auto o = ObjectQueue::create(objects_name.name, 4);
    auto o2 = ObjectQueue::open(objects_name.name);
    o.put(ipckit::Object::list({1, "two", 3.5}));
    EXPECT_EQ(o2.get(1s).repr(), "[1, 'two', 3.5]");
}

TEST(NamedQueue, CreateOfAnExistingNameAndOpenOfAMissingOneFailNamingIt) {
    UniqueName name;
    auto q = Queue<int>::create(name.name, 4);
    try {
        Queue<int>::create(name.name, 4);
        FAIL() << "create of an existing name succeeded";
    } catch (const ExistentialError& e) {
        EXPECT_EQ(e.code().value(), EEXIST);
        EXPECT_TRUE(contains(e.what(), "'" + name.name + "'")) << e.what();
        EXPECT_TRUE(contains(e.what(), "exists")) << e.what();
    }
    UniqueName missing;
    try {
        Queue<int>::open(missing.name);
        FAIL() << "open of a missing name succeeded";
    } catch (const ExistentialError& e) {
        EXPECT_EQ(e.code().value(), ENOENT);
        EXPECT_TRUE(contains(e.what(), "Queue<int> '" + missing.name + "'")) << e.what();
        EXPECT_TRUE(contains(e.what(), "no such queue")) << e.what();
    }
    EXPECT_FALSE(exists(missing.name));
    for (const std::string& bad : {std::string(), std::string("a/b"), std::string(".hidden"),
                                   std::string(300, 'x'), std::string("sp ace")}) {
        EXPECT_THROW(Queue<int>::open_or_create(bad), ValueError) << bad;
        EXPECT_THROW(ipckit::remove_named_queue(bad), ValueError) << bad;
    }
}

TEST(NamedQueue, AnotherTypeOrKindIsRefusedNamingTheQueue) {
    UniqueName name;
    auto q = Queue<int>::create(name.name, 4);
    const std::string e1 = error_of([&] { Queue<unsigned>::open(name.name); });
    EXPECT_TRUE(contains(e1, "Queue<unsigned int> '" + name.name + "'")) << e1;
    EXPECT_TRUE(contains(e1, "Queue<int>")) << e1;
    EXPECT_THROW(Queue<unsigned>::open(name.name), ValueError);
    EXPECT_THROW(Queue<double>::open(name.name), ValueError);
    EXPECT_THROW(Queue<NamedItem>::open_or_create(name.name), ValueError);
    const std::string e2 = error_of([&] { ByteQueue::open(name.name); });
    EXPECT_TRUE(contains(e2, "ByteQueue '" + name.name + "'")) << e2;
    EXPECT_THROW(ObjectQueue::open(name.name), ValueError);
    UniqueName bytes;
    auto b = ByteQueue::create(bytes.name, 4, 64);
    EXPECT_THROW(ObjectQueue::open(bytes.name), ValueError);
    EXPECT_THROW(Queue<int>::open(bytes.name), ValueError);
    EXPECT_EQ(q.users(), 1u);  // the refused opens did not count
}

// A queue made by another layout version (its header's version word, after the 8-byte
// magic, says 2): refused by open, naming the queue and the versions; rm still removes it.
TEST(NamedQueue, AnotherLayoutVersionIsRefusedNamingTheQueue) {
    UniqueName name;
    {
        auto q = Queue<int>::create(name.name, 4);
        int fd = ::open(path_of(name.name).c_str(), O_RDWR);
        ASSERT_GE(fd, 0);
        const std::uint32_t version = 1;  // the layout before each side had its own lock
        ASSERT_EQ(::pwrite(fd, &version, sizeof version, 8), static_cast<ssize_t>(sizeof version));
        ::close(fd);
        const std::string e = error_of([&] { Queue<int>::open(name.name); });
        EXPECT_TRUE(contains(e, "Queue<int> '" + name.name + "'")) << e;
        EXPECT_TRUE(contains(e, "layout version is 1, this ipckit reads version 3")) << e;
        EXPECT_THROW(ipckit::named_queue_info(name.name), ValueError);
        auto r = run({ipckit_program(), "queue", "stat", name.name});
        EXPECT_EQ(r.exit_code, 1);
        EXPECT_TRUE(contains(r.err, "layout version")) << r.err;
        ipckit::remove_named_queue(name.name);  // (it is an ipckit queue: rm may remove it)
        EXPECT_FALSE(exists(name.name));
    }
}

TEST(NamedQueue, AForeignFileWithThePrefixIsRefusedAndNotRemoved) {
    UniqueName name;
    int fd = ::shm_open(("/ipckit.q." + name.name).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    ASSERT_GE(fd, 0);
    const std::string junk(4096, 'j');
    ASSERT_EQ(::write(fd, junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
    ::close(fd);
    const std::string e = error_of([&] { Queue<int>::open(name.name); });
    EXPECT_TRUE(contains(e, "'" + name.name + "'")) << e;
    EXPECT_TRUE(contains(e, "not an ipckit queue")) << e;
    EXPECT_THROW(Queue<int>::open_or_create(name.name), ValueError);
    EXPECT_THROW(ipckit::remove_named_queue(name.name), ValueError);
    EXPECT_TRUE(exists(name.name));
    for (const auto& info : ipckit::named_queues())
        EXPECT_NE(info.name, name.name) << "ls shows a foreign file";
    // A short one too.
    ASSERT_EQ(::truncate(path_of(name.name).c_str(), 10), 0);
    EXPECT_THROW(Queue<int>::open(name.name), ValueError);
}

TEST(NamedQueue, TwoExecdProgramsShareIt) {
    UniqueName name;
    const std::uint32_t n = sanitized ? 5000 : 100000;
    {
        auto q = Queue<NamedItem>::create(name.name, 64);
        Child consumer({worker, "consume", name.name, std::to_string(2 * n)});
        Child producer1({worker, "produce", name.name, std::to_string(n), "1"});
        Child producer2({worker, "produce", name.name, std::to_string(n), "2"});
        auto p1 = producer1.wait(120s);
        auto p2 = producer2.wait(120s);
        auto c = consumer.wait(120s);
        EXPECT_EQ(p1.exit_code, 0) << p1.err;
        EXPECT_EQ(p2.exit_code, 0) << p2.err;
        EXPECT_EQ(c.exit_code, 0) << c.err;
        const std::uint64_t sum = 2 * (std::uint64_t{n} * (n - 1) / 2);
        EXPECT_EQ(c.out, "opened\nsum " + std::to_string(sum) + "\n");
        EXPECT_TRUE(q.empty());
        EXPECT_EQ(q.users(), 1u);  // the programs closed it when they exited
        EXPECT_TRUE(exists(name.name));
    }
    EXPECT_FALSE(exists(name.name)) << "the last user's close did not remove it";
}

TEST(NamedQueue, RaceFreeCreationExactlyOneCreates) {
    for (int round = 0; round < 3; ++round) {
        UniqueName name;
        constexpr int processes = 8;
        std::vector<std::unique_ptr<Child>> children;
        children.reserve(processes);
        for (int i = 0; i < processes; ++i) {
            // Each would create it with another maxsize: all must see the creator's.
            children.push_back(std::make_unique<Child>(
                std::vector<std::string>{worker, "race", name.name, std::to_string(100 + i)}));
        }
        for (auto& c : children)
            ASSERT_TRUE(contains(c->read_until("ready"), "ready"));
        for (auto& c : children)
            c->write("go\n");
        int created = 0;
        std::set<std::string> maxsizes;
        for (auto& c : children) {
            std::string out = c->read_until("!", 60s);
            out = out.substr(out.find("ready\n") + 6);
            if (!contains(out, "created ") && !contains(out, "opened ")) {
                auto r = c->wait();
                FAIL() << "out: " << r.out << "\nerr: " << r.err;
            }
            created += contains(out, "created ");
            const auto space = out.find(' ');
            maxsizes.insert(out.substr(space + 1, out.find('!') - space - 1));
        }
        EXPECT_EQ(created, 1) << "round " << round;
        EXPECT_EQ(maxsizes.size(), 1u) << "openers saw different queues";
        auto q = Queue<int>::open(name.name);
        EXPECT_EQ(q.users(), processes + 1u);
        std::set<int> pids;
        while (!q.empty())
            pids.insert(q.get_nowait());
        std::set<int> expected;
        for (auto& c : children)
            expected.insert(c->pid());
        EXPECT_EQ(pids, expected) << "a process put into another queue than the others";
        for (auto& c : children)
            EXPECT_EQ(c->wait().exit_code, 0);
        EXPECT_EQ(q.users(), 1u);
    }
}

TEST(NamedQueue, RemovedByTheLastUserWhoeverItIs) {
    UniqueName name;
    auto q = std::make_unique<Queue<int>>(Queue<int>::create(name.name, 4));
    Child holder({worker, "hold", name.name});
    ASSERT_TRUE(contains(holder.read_until("held"), "held"));
    EXPECT_EQ(q->users(), 2u);
    q.reset();  // the creator closes first: the program still has it
    EXPECT_TRUE(exists(name.name));
    auto r = holder.wait();  // closes stdin: the program closes the queue and exits
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(exists(name.name)) << "the last user's close did not remove it";
}

TEST(NamedQueue, ASigkilledUserDoesNotKeepItForever) {
    UniqueName name;
    {
        auto q = Queue<int>::create(name.name, 4);
        Child holder({worker, "hold", name.name});
        ASSERT_TRUE(contains(holder.read_until("held"), "held"));
        EXPECT_EQ(q.users(), 2u);
        holder.signal(SIGKILL);
        EXPECT_EQ(holder.wait().exit_code, -SIGKILL);
        EXPECT_EQ(q.users(), 1u);  // the dead one is not counted
    }
    EXPECT_FALSE(exists(name.name)) << "a SIGKILLed user kept the queue";

    // The last live user killed: the name stays until someone opens and closes it (or
    // `ipckit queue rm`), and ls says its users are dead.
    std::unique_ptr<Child> holder2;
    {
        auto q = Queue<int>::create(name.name, 4);
        holder2 = std::make_unique<Child>(std::vector<std::string>{worker, "hold", name.name});
        ASSERT_TRUE(contains(holder2->read_until("held"), "held"));
    }
    EXPECT_TRUE(exists(name.name));
    holder2->signal(SIGKILL);
    EXPECT_EQ(holder2->wait().exit_code, -SIGKILL);
    auto info = ipckit::named_queue_info(name.name);
    EXPECT_EQ(info.users, 0u);
    EXPECT_EQ(info.dead_users, 1u);
    { auto q = Queue<int>::open(name.name); }
    EXPECT_FALSE(exists(name.name))
        << "the open and close after the last user died did not remove it";
}

// Opens and last closes racing: processes that each open the name (creating it when it is
// gone), open it again while they hold it, and close both, over and over. The name must
// exist whenever a live process holds the queue (a last close that removes it while an open
// is under way must not strand the opener), and be gone at the end.
TEST(NamedQueue, OpensRacingWithTheLastCloseNeverLoseTheName) {
    UniqueName name;
    const int iterations = sanitized ? 500 : 4000;  // (400 missed a mutation)
    std::vector<std::unique_ptr<Forked>> procs;
    procs.reserve(4);
    for (int p = 0; p < 4; ++p) {
        procs.push_back(std::make_unique<Forked>([&]() {
            for (int i = 0; i < iterations; ++i) {
                auto q = Queue<int>::open_or_create(name.name, 8);
                try {
                    auto again = Queue<int>::open(name.name);
                } catch (const ExistentialError& e) {
                    std::fprintf(stderr, "iteration %d: %s\n", i, e.what());
                    return 5;
                }
            }
            return 0;
        }));
    }
    for (auto& p : procs)
        EXPECT_EQ(p->wait(), 0);
    EXPECT_FALSE(exists(name.name));
}

TEST(NamedQueue, RemoveWhileProgramsUseItKeepsThemWorking) {
    UniqueName name;
    auto q = Queue<NamedItem>::create(name.name, 4);
    Child consumer({worker, "consume", name.name, "2000"});
    Child producer({worker, "produce", name.name, "2000", "7"});
    ASSERT_TRUE(contains(consumer.read_until("opened"), "opened"));
    ASSERT_TRUE(contains(producer.read_until("opened"), "opened"));
    ipckit::remove_named_queue(name.name);
    EXPECT_FALSE(exists(name.name));
    auto c = consumer.wait(120s);
    EXPECT_EQ(c.exit_code, 0) << c.err;
    EXPECT_EQ(c.out, "opened\nsum " + std::to_string(2000 * 1999 / 2) + "\n");
    EXPECT_EQ(producer.wait(120s).exit_code, 0);
    EXPECT_THROW(ipckit::remove_named_queue(name.name), ExistentialError);
}

// The crash matrix (queue_crash.hpp) on a named queue: the child is a process that opened
// the queue by name itself (a separate mapping); a killed one no longer counts as a user.
TEST(NamedCrashMatrix, ProducerKilledAtRandomPoints) {
    UniqueName name;
    auto q = ByteQueue::create(name.name, 32, std::size_t{256} * 1024);
    producer_crash_matrix(q, {.iterations = sanitized ? 50 : 200,
                              .open_name = name.name,
                              .label = "named ",
                              .check = [&](int it) {
                                  ASSERT_EQ(q.users(), 1u)
                                      << "a killed producer still counts (iteration " << it << ")";
                              }});
}

TEST(NamedCrashMatrix, ConsumerKilledAtRandomPoints) {
    UniqueName name;
    auto q = ByteQueue::create(name.name, 64, std::size_t{512} * 1024);
    consumer_crash_matrix(
        q, {.iterations = sanitized ? 50 : 200,
            .open_name = name.name,
            .label = "named ",
            .check = [&](int it) { ASSERT_EQ(q.users(), 1u) << "iteration " << it; }});
}

// `ipckit queue ls|stat|rm`.
TEST(QueueCli, HelpOnEverySubcommand) {
    EXPECT_EQ(run({ipckit_program(), "queue", "--help"}).exit_code, 0);
    for (auto sub : {"ls", "stat", "rm"}) {
        auto r = run({ipckit_program(), "queue", sub, "--help"});
        EXPECT_EQ(r.exit_code, 0) << sub;
        EXPECT_TRUE(contains(r.out, sub)) << r.out;
    }
    EXPECT_EQ(run({ipckit_program(), "queue"}).exit_code, 2);
    EXPECT_EQ(run({ipckit_program(), "queue", "stat"}).exit_code, 2);
    auto r = run({ipckit_program(), "queue", "rm", "a/b"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_TRUE(contains(r.err, "invalid queue name")) << r.err;
}

TEST(QueueCli, LsStatRm) {
    UniqueName name;
    auto q = Queue<NamedItem>::create(name.name, 16);
    q.put(NamedItem{1, 0, named_check(1, 0)});
    q.put(NamedItem{1, 1, named_check(1, 1)});
    auto ls = run({ipckit_program(), "queue", "ls"});
    EXPECT_EQ(ls.exit_code, 0) << ls.err;
    std::string row;
    std::istringstream lines(ls.out);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind(name.name + " ", 0) == 0) row = line;
    }
    ASSERT_FALSE(row.empty()) << ls.out;
    std::istringstream fields(row);
    std::string n, kind, type, messages, maxsize, users;
    fields >> n >> kind >> type >> messages >> maxsize >> users;
    EXPECT_EQ(kind, "Queue");
    EXPECT_EQ(type, "ipckit_test::NamedItem");
    EXPECT_EQ(messages, "2");
    EXPECT_EQ(maxsize, "16");
    EXPECT_EQ(users, "1");
    EXPECT_TRUE(contains(ls.out.substr(0, ls.out.find('\n')), "messages")) << ls.out;

    auto json = run({ipckit_program(), "queue", "ls", "--json"});
    EXPECT_EQ(json.exit_code, 0);
    EXPECT_TRUE(contains(json.out, "\"name\": \"" + name.name + "\"")) << json.out;
    EXPECT_TRUE(contains(json.out, "\"messages\": 2")) << json.out;

    auto stat = run({ipckit_program(), "queue", "stat", name.name});
    EXPECT_EQ(stat.exit_code, 0) << stat.err;
    for (std::string line : {"name", "file", "kind", "type", "element_size", "messages", "maxsize",
                             "users", "dead_users", "creator_pid", "created"}) {
        EXPECT_TRUE(contains(stat.out, line + " ")) << line << "\n" << stat.out;
    }
    EXPECT_TRUE(contains(stat.out, path_of(name.name))) << stat.out;
    EXPECT_TRUE(contains(stat.out, std::to_string(::getpid()))) << stat.out;

    auto rm = run({ipckit_program(), "queue", "rm", name.name});
    EXPECT_EQ(rm.exit_code, 0) << rm.err;
    EXPECT_EQ(rm.out, "removed queue " + name.name + "\n");
    EXPECT_FALSE(exists(name.name));
    q.put(NamedItem{1, 2, named_check(1, 2)});  // still works for its users
    EXPECT_EQ(q.qsize(), 3u);
}

TEST(QueueCli, MissingAndForeignNamesAreErrors) {
    UniqueName missing;
    for (auto sub : {"stat", "rm"}) {
        auto r = run({ipckit_program(), "queue", sub, missing.name});
        EXPECT_EQ(r.exit_code, 1) << sub;
        EXPECT_TRUE(contains(r.err, "'" + missing.name + "'")) << r.err;
        EXPECT_TRUE(contains(r.err, "no such queue")) << r.err;
    }
    UniqueName foreign;
    int fd = ::shm_open(("/ipckit.q." + foreign.name).c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::ftruncate(fd, 8192), 0);
    ::close(fd);
    for (auto sub : {"stat", "rm"}) {
        auto r = run({ipckit_program(), "queue", sub, foreign.name});
        EXPECT_EQ(r.exit_code, 1) << sub;
        EXPECT_TRUE(contains(r.err, "not an ipckit queue")) << r.err;
    }
    EXPECT_TRUE(exists(foreign.name)) << "rm removed a file that is not an ipckit queue";
}
