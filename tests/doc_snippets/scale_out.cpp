// docs/scale-out.md's worker pool, run against a real redis-server (tests/redis_fixture.hpp).
// Compiled into test_redis (tests/CMakeLists.txt).
// doc-snippet-substitute: "redis://127.0.0.1:6379" => server.url()
#include <gtest/gtest.h>

#include <iostream>
#include <sstream>
#include <vector>

#include "ipckit/manager.hpp"
#include "ipckit/process.hpp"
#include "redis_fixture.hpp"

TEST(RedisDocs, ScaleOutWorkerPool) {
    if (!ipckit::test::redis_available()) GTEST_SKIP() << "redis-server missing";
    ipckit::test::RedisServer server;
    std::ostringstream captured;
    auto* saved = std::cout.rdbuf(captured.rdbuf());
    {
        auto m = ipckit::Manager::connect(server.url(), "");
        auto tasks = m.named_joinable_queue("tasks");
        auto squares = m.dict("squares");
        std::vector<ipckit::Process> workers;
        for (int w = 0; w < 4; ++w) {
            workers.emplace_back(
                [](ipckit::JoinableQueueProxy q, ipckit::DictProxy out) {
                    for (;;) {
                        ipckit::Object n = q.get();
                        if (n.is_none()) break;
                        out[n] = n.as_int() * n.as_int();
                        q.task_done();
                    }
                    q.task_done();
                },
                tasks, squares);
            workers.back().start();
        }
        for (int n = 0; n < 100; ++n)
            tasks.put(n);
        for (int w = 0; w < 4; ++w)
            tasks.put(ipckit::Object());
        tasks.join();
        for (auto& p : workers)
            p.join();
        std::cout << squares.size() << ' ' << squares.get(12) << '\n';  // 100 144
    }
    std::cout.rdbuf(saved);
    EXPECT_EQ(captured.str(), "100 144\n");
}
