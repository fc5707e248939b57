// Exercise 1, the Fibonacci return: the parent creates shared memory, a child computes the
// first N Fibonacci numbers into it, and the parent prints them after the child completes.
//   fib_shared [N]     (N from 0 to 94, default 10; F(93) is the last that fits 64 bits)
#include <ipckit/process.hpp>
#include <ipckit/programs/fib.hpp>
#include <ipckit/shared.hpp>

#include "count_argument.hpp"

#include <cstdint>
#include <iostream>

int main(int argc, char** argv) {
    const auto n = static_cast<std::size_t>(count_argument(argc, argv, 10, 94));
    std::cout << "parent: a child computes " << n << " Fibonacci numbers into shared memory\n";

    ipckit::Array<std::uint64_t> fib(n);  // zeroed, in shared memory
    ipckit::Process child([fib] {
        ipckit::programs::fibonacci(fib.lock().span());  // 0, 1, 1, 2, ... under one lock
    });
    child.start();
    child.join();

    std::cout << fib << '\n';  // [0, 1, 1, 2, 3, 5, 8, ...]
    return child.exitcode() == 0 ? 0 : 1;
}
