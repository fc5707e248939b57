// Exercise 1, the Fibonacci return through a queue: a child computes the first N Fibonacci
// numbers and puts them on an ipckit::Queue; the parent gets them and prints the list.
//   fib_queue [N]     (N from 0 to 94, default 10)
#include <ipckit/process.hpp>
#include <ipckit/programs/fib.hpp>
#include <ipckit/queue.hpp>
#include <ipckit/repr.hpp>

#include "count_argument.hpp"

#include <cstdint>
#include <iostream>
#include <vector>

int main(int argc, char** argv) {
    const long long n = count_argument(argc, argv, 10, 94);
    ipckit::Queue<std::uint64_t> queue;
    ipckit::Process child([queue, n]() mutable {
        std::vector<std::uint64_t> fib(static_cast<std::size_t>(n));
        ipckit::programs::fibonacci(fib);  // 0, 1, 1, 2, 3, ...
        for (auto x : fib)
            queue.put(x);
    });
    child.start();

    std::vector<std::uint64_t> fib(static_cast<std::size_t>(n));
    for (auto& x : fib)
        x = queue.get();
    child.join();
    std::cout << ipckit::repr(fib) << '\n';  // [0, 1, 1, 2, 3, 5, 8, ...]
    return child.exitcode() == 0 ? 0 : 1;
}
