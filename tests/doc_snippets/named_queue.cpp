// docs/queues.md's named-queue snippet, compiled and run (see snippets.hpp). The name is the
// substitution: a fixed "jobs" would collide with other tests running at the same time.
#include <sys/mman.h>

#include <cstdio>
#include <random>
#include <string>

#include "snippets.hpp"

// doc-snippet-substitute: "jobs" => name

namespace {
// A random name for the test, removed when it ends even if it fails.
struct NameGuard {
    std::string value;
    NameGuard() {
        std::random_device r;
        char text[40];
        std::snprintf(text, sizeof text, "doc.%08x%08x", r(), r());
        value = text;
    }
    NameGuard(const NameGuard&) = delete;
    NameGuard& operator=(const NameGuard&) = delete;
    ~NameGuard() { ::shm_unlink(("/ipckit.q." + value).c_str()); }
};
}  // namespace

// docs/queues.md, "Named queues".
TEST(QueuesDocSnippets, NamedQueueCreateAndOpen) {
    NameGuard guard;
    const std::string& name = guard.value;
    // One program creates the queue; it lives while some process has it open.
    auto jobs = ipckit::Queue<int>::create(name, 100);
    jobs.put(42);

    // Another program, started on its own, opens it by name.
    auto q = ipckit::Queue<int>::open(name);
    int job = q.get();
    EXPECT_EQ(job, 42);
    EXPECT_EQ(q.users(), 2u);
}
