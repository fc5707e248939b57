// Exercise 1, the Fibonacci return, through shared memory and through a manager.
#include "ipckit/programs/fib.hpp"

#include <string>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/process.hpp"
#include "ipckit/shared.hpp"

namespace ipckit::programs {

void fibonacci(std::span<std::uint64_t> out) {
    if (out.size() > static_cast<std::size_t>(fibonacci_max_count)) {
        throw ValueError("fibonacci: " + std::to_string(out.size()) + " numbers asked, at most " +
                         std::to_string(fibonacci_max_count) +
                         " fit 64 bits (F(93) is the largest)");
    }
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = i < 2 ? i : out[i - 1] + out[i - 2];
}

namespace {

void check_count(int n) {
    if (n < 0 || n > fibonacci_max_count) {
        throw ValueError("fib: N must be from 0 to " + std::to_string(fibonacci_max_count) +
                         " (F(93) is the largest 64-bit one), got " + std::to_string(n));
    }
}

void join_child(Process& child) {
    child.start();
    child.join();
    if (child.exitcode() != 0) {
        throw Error("fib: the child process failed (exit code " +
                    std::to_string(child.exitcode().value_or(-1)) + ")");
    }
}

}  // namespace

std::vector<std::uint64_t> fibonacci_via_shared(int n) {
    check_count(n);
    Array<std::uint64_t> numbers(static_cast<std::size_t>(n));       // zeroed shared memory
    Process child([numbers] { fibonacci(numbers.lock().span()); });  // under one lock
    child.set_name("fib-child");
    join_child(child);
    return numbers.snapshot();
}

std::vector<std::uint64_t> fibonacci_via_manager(int n) {
    check_count(n);
    Manager manager;
    auto numbers = manager.list();
    Process child(
        [n](ListProxy list) {
            std::vector<std::uint64_t> computed(static_cast<std::size_t>(n));
            fibonacci(computed);
            // Manager ints are signed 64-bit: F(93) travels as its bit pattern.
            list.extend(computed);
        },
        numbers);
    child.set_name("fibonacci");
    join_child(child);
    std::vector<std::uint64_t> result;
    for (const auto& value : numbers.copy())
        result.push_back(static_cast<std::uint64_t>(value.as_int()));
    return result;
}

}  // namespace ipckit::programs
