// The handout's "queues feed tasks to a collection of worker processes and collect
// results", with a manager: a Queue of tasks, N workers, a Queue of results, a
// Lock-protected counter, and an Event that stops the workers.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "demo.hpp"
#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/process.hpp"

namespace ipckit::demo {

namespace {

// Takes tasks until the stop event is set; each result goes back as [n, n * n, pid].
void work(QueueProxy tasks, QueueProxy results, const LockProxy& lock, DictProxy counter,
          const EventProxy& stop) {
    using namespace std::chrono_literals;
    while (!stop.is_set()) {
        Object task;
        try {
            task = tasks.get(true, 50ms);  // then look at the stop event again
        } catch (const Empty&) {
            continue;
        }
        std::int64_t n = task.as_int();
        {
            auto held = lock.guard();  // read-modify-write of a shared dict: one at a time
            counter["done"] = counter.get("done").as_int() + 1;
        }
        results.put(Object::list({n, n * n, static_cast<std::int64_t>(::getpid())}));
    }
}

}  // namespace

void worker_pool() {
    constexpr int workers = 3;
    constexpr std::int64_t task_count = 10;
    Manager m;
    auto tasks = m.queue();
    auto results = m.queue();
    auto lock = m.lock();
    auto counter = m.dict({{"done", 0}});
    auto stop = m.event();
    for (std::int64_t n = 1; n <= task_count; ++n)
        tasks.put(n);
    std::cout << "parent " << ::getpid() << " put " << task_count
              << " tasks (n = 1..10, compute n * n) on a manager Queue for " << workers
              << " worker processes\n";
    std::vector<Process> pool;
    pool.reserve(workers);
    for (int i = 0; i < workers; ++i)
        pool.emplace_back(work, tasks, results, lock, counter, stop);
    for (auto& p : pool)
        p.start();

    std::vector<Object::List> collected;
    for (std::int64_t i = 0; i < task_count; ++i)
        collected.push_back(results.get().as_list());
    std::sort(collected.begin(), collected.end(),
              [](const auto& a, const auto& b) { return a[0].as_int() < b[0].as_int(); });
    Object::List squares;
    for (const auto& r : collected) {
        std::cout << "  task " << r[0] << " -> " << r[1] << " (worker " << r[2] << ")\n";
        squares.push_back(r[1]);
    }
    std::cout << "parent collected the squares: " << Object(squares) << '\n';

    stop.set();
    std::string codes;
    for (auto& p : pool) {
        p.join();
        codes += (codes.empty() ? "" : ", ") + std::to_string(p.exitcode().value_or(-1));
    }
    std::cout << "tasks done, counted under a manager Lock: " << counter.get("done") << '\n';
    std::cout << workers << " workers stopped by a manager Event, exit codes " << codes << '\n';
}

}  // namespace ipckit::demo
