// Exercise 1 through a manager: a child computes Fibonacci numbers into a shared list.
#pragma once

#include <cstdint>
#include <vector>

namespace ipckit::cli {

// The first n Fibonacci numbers (0, 1, 1, 2, ...), computed by a child process into a
// manager list and read by the parent after join. n must be in [0, 94] (F(93) is the
// largest that fits 64 bits); ValueError otherwise, or when the child fails.
std::vector<std::uint64_t> fibonacci_via_manager(int n);

}  // namespace ipckit::cli
