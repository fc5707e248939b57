// Uses ipckit::programs (the handout's programs as a library) from an install tree.
#include <ipckit/programs/fib.hpp>
#include <ipckit/programs/numbers.hpp>

#include <cstdint>
#include <iostream>

int main() {
    std::uint64_t fib[5];
    ipckit::programs::fibonacci(fib);
    std::cout << "programs: " << ipckit::programs::python_int(" -0_42 ").value_or("?");
    for (auto f : fib)
        std::cout << ' ' << f;
    std::cout << '\n';
}
