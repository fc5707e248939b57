// Exercise 1 through a manager (`ipckit fib N --via manager`).
#include "fib_manager.hpp"

#include <string>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/process.hpp"

namespace ipckit::cli {

std::vector<std::uint64_t> fibonacci_via_manager(int n) {
    if (n < 0 || n > 94) {
        throw ValueError("fib: N must be from 0 to 94 (F(93) is the largest 64-bit one), got " +
                         std::to_string(n));
    }
    Manager manager;
    auto numbers = manager.list();
    Process child(
        [n](ListProxy list) {
            std::uint64_t a = 0, b = 1;
            for (int i = 0; i < n; ++i) {
                // Manager ints are signed 64-bit: F(93) travels as its bit pattern.
                list.append(static_cast<std::int64_t>(a));
                std::uint64_t next = a + b;
                a = b;
                b = next;
            }
        },
        numbers);
    child.set_name("fibonacci");
    child.start();
    child.join();
    if (child.exitcode() != 0) {
        throw ValueError("fib: the child process failed (exit code " +
                         std::to_string(child.exitcode().value_or(-1)) + ")");
    }
    std::vector<std::uint64_t> result;
    for (const auto& value : numbers.copy()) {
        result.push_back(static_cast<std::uint64_t>(value.as_int()));
    }
    return result;
}

}  // namespace ipckit::cli
