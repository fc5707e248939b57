// Pool.map: four worker processes square the numbers 0 to N-1; the parent prints the list.
//   pool_map [N]     (default 10)
#include <ipckit/pool.hpp>
#include <ipckit/range.hpp>
#include <ipckit/repr.hpp>

#include <cstdint>
#include <cstdlib>
#include <iostream>

std::int64_t square(std::int64_t x) {
    return x * x;
}

int main(int argc, char** argv) {
    long long n = 10;
    if (argc > 1) {
        char* end = nullptr;
        n = std::strtoll(argv[1], &end, 10);
        if (*argv[1] == '\0' || *end != '\0' || n < 0 || n > 1000000) {
            std::cerr << "usage: pool_map [N], N a whole number from 0 to 1000000\n";
            return 2;
        }
    }
    ipckit::Pool pool(4);
    std::cout << ipckit::repr(pool.map(square, ipckit::range(n))) << '\n';  // [0, 1, 4, 9, ...]
}
