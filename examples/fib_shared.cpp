// Exercise 1, the Fibonacci return: the parent creates shared memory, a child computes the
// first N Fibonacci numbers into it, and the parent prints them after the child completes.
//   fib_shared [N]     (N from 0 to 94, default 10; F(93) is the last that fits 64 bits)
#include <ipckit/process.hpp>
#include <ipckit/programs/fib.hpp>
#include <ipckit/shared.hpp>

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>

int main(int argc, char** argv) {
    std::size_t n = 10;
    if (argc > 1) {
        const std::string text = argv[1];
        char* end = nullptr;
        const long long parsed = std::strtoll(text.c_str(), &end, 10);
        if (text.empty() || *end != '\0' || parsed < 0 || parsed > 94) {
            std::cerr << "usage: fib_shared [N], N a whole number from 0 to 94\n";
            return 2;
        }
        n = static_cast<std::size_t>(parsed);
    }
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
