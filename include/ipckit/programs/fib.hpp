// Exercise 1, "The Fibonacci return": a child process computes the first N Fibonacci
// numbers into shared state, and the parent reads them after the child completes
// (`ipckit fib N [--via shared|manager]`, examples/fib_shared.cpp).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace ipckit::programs {

// F(0)..F(93) fit in 64 bits; F(94) does not.
inline constexpr int fibonacci_max_count = 94;

// Fills `out` with F(0), F(1), ... (0, 1, 1, 2, 3, ...). ValueError when `out` holds more
// than fibonacci_max_count numbers.
void fibonacci(std::span<std::uint64_t> out);

// The first n Fibonacci numbers, computed by a child process (ipckit::Process) into shared
// memory (an ipckit::Array) or into a manager list (ipckit::Manager), and read by the parent
// after join. ValueError unless 0 <= n <= fibonacci_max_count; ipckit::Error when the child
// fails.
std::vector<std::uint64_t> fibonacci_via_shared(int n);
std::vector<std::uint64_t> fibonacci_via_manager(int n);

}  // namespace ipckit::programs
