// `ipckit demo`: every handout scenario that exists, one after another.
#include "demo.hpp"

#include <csignal>
#include <iostream>

#include "command.hpp"
#include "ipckit/signals.hpp"

namespace ipckit::cli {

void add_demo_command(CLI::App& app) {
    auto* demo = app.add_subcommand("demo", "Run every scenario of the handout, narrated");
    on_run(demo, [] {
        // Interrupted, the scenarios unwind and remove what they made.
        install_stop_handler({SIGINT, SIGTERM, SIGHUP});
        struct Scenario {
            const char* title;
            void (*run)();
        };
        const Scenario scenarios[] = {
            {"Shared state: Value, Array and the Fibonacci return", demo::shared_state},
            {"Manager: a dict and a list shared with a child, and the Fibonacci return",
             demo::manager},
            {"Manager worker pool: a task queue feeds 3 worker processes, results come back",
             demo::worker_pool},
            {"System V message queue: one process to another", demo::message_queue},
            {"The handout's numbers server and client (key 128 in the handout)", demo::numbers},
            {"Exercise 2, is it time yet? A time server and four clients", demo::time_server},
            {"System V semaphore and shared memory: two processes, one counter",
             demo::semaphore_and_shared_memory},
            {"Queue and Pool: the Fibonacci return through a queue, a pool of workers",
             demo::queue_and_pool},
        };
        int number = 0;
        for (const auto& scenario : scenarios) {
            std::cout << "== " << ++number << ". " << scenario.title << " ==\n";
            scenario.run();
            std::cout << '\n';
        }
        std::cout << "demo finished: every queue, segment and process it made is gone\n";
        return 0;
    });
}

}  // namespace ipckit::cli
