#include <signal.h>
#include <unistd.h>

#include <cstdint>
#include <iostream>
#include <numeric>
#include <vector>

#include "demo.hpp"
#include "ipckit/error.hpp"
#include "ipckit/pool.hpp"
#include "ipckit/process.hpp"
#include "ipckit/programs/fib.hpp"
#include "ipckit/queue.hpp"
#include "ipckit/range.hpp"
#include "ipckit/repr.hpp"

namespace ipckit::demo {
namespace {

std::int64_t square(std::int64_t x) {
    return x * x;
}

// Writes this worker's pid on `started`, then waits on `release` (nobody writes there: it
// waits until its worker is killed).
int report_and_block(int started, int release) {
    const pid_t pid = ::getpid();
    if (::write(started, &pid, sizeof pid) != sizeof pid) throw Error(errno, "write");
    char c = 0;
    if (::read(release, &c, 1) != 1) throw Error(errno, "read");
    return 0;
}

struct Fds {
    int fds[2] = {-1, -1};
    Fds() {
        if (::pipe(fds) != 0) throw Error(errno, "pipe failed");
    }
    ~Fds() {
        ::close(fds[0]);
        ::close(fds[1]);
    }
};

}  // namespace

void queue_and_pool() {
    std::cout << "Fibonacci return through a queue: a child puts 10 numbers on an "
                 "ipckit::Queue; the parent gets them:\n";
    Queue<std::uint64_t> queue;
    Process child([queue]() mutable {
        std::vector<std::uint64_t> fib(10);
        programs::fibonacci(fib);
        for (auto x : fib)
            queue.put(x);
    });
    child.start();
    std::vector<std::uint64_t> fib(10);
    for (auto& x : fib)
        x = queue.get();
    child.join();
    std::cout << repr(fib) << '\n';

    Fds started, release;  // before the pool: its workers inherit them
    Pool pool(4);
    std::cout << "Pool(4).map(square, range(10)) = " << repr(pool.map(square, range(10))) << '\n';

    // A worker dies mid-task: its task fails, the others complete, a new worker takes over.
    auto doomed = pool.apply_async(report_and_block, started.fds[1], release.fds[0]);
    pid_t victim = 0;
    if (::read(started.fds[0], &victim, sizeof victim) != sizeof victim) {
        throw Error(errno, "demo: the blocking task did not start");
    }
    auto rest = pool.map_async(square, range(1000));
    ::kill(victim, SIGKILL);
    std::cout << "killed worker " << victim << " (SIGKILL) while it ran a task; that task's "
              << "result says:\n";
    try {
        doomed.get();
    } catch (const WorkerLostError& e) {
        std::cout << "  WorkerLostError: " << e.what() << '\n';
    }
    auto squares = rest.get();
    std::cout << "the pool replaced it (" << pool.replacements()
              << " replacement) and finished the other 1000 tasks: sum of squares of "
                 "range(1000) = "
              << std::accumulate(squares.begin(), squares.end(), std::int64_t{0}) << '\n';
    pool.close();
    pool.join();
}

}  // namespace ipckit::demo
