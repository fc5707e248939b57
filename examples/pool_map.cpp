// Pool.map: four worker processes square the numbers 0 to N-1; the parent prints the list.
//   pool_map [N]     (default 10)
#include <ipckit/pool.hpp>
#include <ipckit/range.hpp>
#include <ipckit/repr.hpp>

#include "count_argument.hpp"

#include <cstdint>
#include <iostream>

std::int64_t square(std::int64_t x) {
    return x * x;
}

int main(int argc, char** argv) {
    const long long n = count_argument(argc, argv, 10, 1000000);
    ipckit::Pool pool(4);
    std::cout << ipckit::repr(pool.map(square, ipckit::range(n))) << '\n';  // [0, 1, 4, 9, ...]
}
