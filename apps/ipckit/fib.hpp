// `ipckit fib N`: exercise 1, the Fibonacci return. A child process computes the first N
// Fibonacci numbers and the parent gets them after the child completes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ipckit::cli {

// F(0)..F(93) fit in 64 bits; F(94) does not.
inline constexpr int max_fib_count = 94;

// One way for the child to hand its numbers to the parent (`--via NAME`). Each runs the
// computation in a child process started with ipckit::Process and returns the numbers
// the parent read after join. Throws ipckit::Error if the child fails.
using FibVia = std::function<std::vector<std::uint64_t>(int n)>;

// Through Value/Array shared memory (ipckit/shared.hpp).
std::vector<std::uint64_t> fib_via_shared(int n);

// The --via choices, in the order --help lists them; an empty FibVia means "not
// available yet" (the manager issue fills in "manager").
struct FibMethod {
    std::string name;
    FibVia compute;
};
std::vector<FibMethod>& fib_methods();

}  // namespace ipckit::cli
