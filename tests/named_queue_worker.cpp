// A small program that tests/test_named_queue.cpp runs (exec'd, so it shares nothing with
// the test but the queue's name) to use a named queue as an unrelated process would.
//
//   named_queue_worker produce NAME N ID   opens Queue<NamedItem> NAME, puts N items of
//                                          producer ID (says "opened", then "done")
//   named_queue_worker consume NAME N      opens it (says "opened"), gets N items, checks
//                                          each and the order per producer, says "sum S"
//   named_queue_worker race NAME MAXSIZE   says "ready", waits for a line, then
//                                          Queue<int>::open_or_create(NAME, MAXSIZE),
//                                          puts its pid, says "created|opened MAXSIZE!",
//                                          and holds the queue until stdin closes
//   named_queue_worker hold NAME           opens Queue<int> NAME, says "held", holds it
//                                          until stdin closes
// Exit status: 0 on success, 1 on an error (printed), 4 on a wrong item.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <string>

#include "ipckit/queue.hpp"
#include "named_queue_item.hpp"

using ipckit_test::named_check;
using ipckit_test::NamedItem;

namespace {

void wait_for_eof() {
    std::string line;
    while (std::getline(std::cin, line)) {
    }
}

int produce(const std::string& name, std::uint32_t n, std::uint32_t id) {
    auto q = ipckit::Queue<NamedItem>::open(name);
    std::cout << "opened" << std::endl;
    for (std::uint32_t i = 0; i < n; ++i)
        q.put(NamedItem{id, i, named_check(id, i)});
    std::cout << "done" << std::endl;
    return 0;
}

int consume(const std::string& name, std::uint64_t n) {
    auto q = ipckit::Queue<NamedItem>::open(name);
    std::cout << "opened" << std::endl;
    std::map<std::uint32_t, std::int64_t> last;
    std::uint64_t sum = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
        NamedItem it = q.get(std::chrono::seconds(60));
        if (it.check != named_check(it.producer, it.seq)) return 4;
        auto [at, fresh] = last.try_emplace(it.producer, -1);
        if (static_cast<std::int64_t>(it.seq) != at->second + 1) return 4;  // FIFO, no gaps
        at->second = it.seq;
        sum += it.seq;
    }
    std::cout << "sum " << sum << std::endl;
    return 0;
}

int race(const std::string& name, std::size_t maxsize) {
    std::cout << "ready" << std::endl;
    std::string go;
    std::getline(std::cin, go);
    auto q = ipckit::Queue<int>::open_or_create(name, maxsize);
    q.put(static_cast<int>(::getpid()));
    std::cout << (q.created() ? "created " : "opened ") << q.maxsize() << '!' << std::endl;
    wait_for_eof();
    return 0;
}

int hold(const std::string& name) {
    auto q = ipckit::Queue<int>::open(name);
    std::cout << "held" << std::endl;
    wait_for_eof();
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const std::string command = argc > 1 ? argv[1] : "";
        if (command == "produce" && argc == 5) {
            return produce(argv[2], static_cast<std::uint32_t>(std::stoul(argv[3])),
                           static_cast<std::uint32_t>(std::stoul(argv[4])));
        }
        if (command == "consume" && argc == 4) return consume(argv[2], std::stoull(argv[3]));
        if (command == "race" && argc == 4) return race(argv[2], std::stoul(argv[3]));
        if (command == "hold" && argc == 3) return hold(argv[2]);
        std::cerr << "usage: named_queue_worker produce|consume|race|hold NAME ...\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "named_queue_worker: " << e.what() << '\n';
        return 1;
    }
}
