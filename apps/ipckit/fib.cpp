// `ipckit fib N [--via shared|manager]`: exercise 1, the Fibonacci return
// (ipckit/programs/fib.hpp).
#include <charconv>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "command.hpp"
#include "ipckit/error.hpp"
#include "ipckit/programs/fib.hpp"
#include "ipckit/repr.hpp"

namespace ipckit::cli {

namespace {

// How the child hands its numbers to the parent (`--via NAME`), in the order --help lists them.
struct FibMethod {
    std::string name;
    std::vector<std::uint64_t> (*compute)(int n);
};
const FibMethod fib_methods[] = {
    {"shared", programs::fibonacci_via_shared},
    {"manager", programs::fibonacci_via_manager},
};

int parse_count(const std::string& text) {
    constexpr int max = programs::fibonacci_max_count;
    int n = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || error == std::errc::invalid_argument || end != text.data() + text.size()) {
        throw UsageError("fib: N must be a whole number from 0 to " + std::to_string(max) +
                         ", got '" + text + "'");
    }
    if (error == std::errc::result_out_of_range || n > max) {
        throw UsageError("fib: N = " + text + " is too large: F(" + std::to_string(max) +
                         ") and later overflow 64 bits, so N must be at most " +
                         std::to_string(max));
    }
    if (n < 0) throw UsageError("fib: N must not be negative, got " + text);
    return n;
}

}  // namespace

void add_fib_commands(CLI::App& app) {
    auto* fib = app.add_subcommand(
        "fib",
        "Exercise 1: a child computes the first N Fibonacci numbers, the parent prints them");
    static std::string count_text;
    static std::string via = "shared";
    fib->add_option("N", count_text,
                    "How many numbers (0 to 94: F(93) is the last that fits 64 bits)")
        ->required();
    std::vector<std::string> names;
    for (const auto& m : fib_methods)
        names.push_back(m.name);
    fib->add_option("--via", via,
                    "How the child hands the numbers back: shared memory "
                    "(Value/Array) or a manager")
        ->check(CLI::IsMember(names))
        ->capture_default_str();
    fib->footer("Prints the numbers as a Python list, e.g. `ipckit fib 5` prints [0, 1, 1, 2, 3].");
    on_run(fib, [] {
        const int n = parse_count(count_text);
        for (const auto& m : fib_methods) {
            if (m.name == via) {
                std::cout << repr(m.compute(n)) << '\n';
                return 0;
            }
        }
        throw UsageError("fib: unknown --via " + via);
    });
}

}  // namespace ipckit::cli
