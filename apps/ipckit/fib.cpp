// `ipckit fib N [--via shared|manager]`
#include "fib.hpp"
#include "fib_manager.hpp"

#include <charconv>
#include <iostream>
#include <string>

#include "command.hpp"
#include "ipckit/error.hpp"
#include "ipckit/process.hpp"
#include "ipckit/repr.hpp"
#include "ipckit/shared.hpp"

namespace ipckit::cli {

std::vector<std::uint64_t> fib_via_shared(int n) {
    Array<std::uint64_t> fib(static_cast<std::size_t>(n));  // zeroed shared memory
    Process child([fib] {
        auto g = fib.lock();  // one lock for the whole computation
        for (std::size_t i = 0; i < g.size(); ++i)
            g[i] = i < 2 ? i : g[i - 1] + g[i - 2];
    });
    child.set_name("fib-child");
    child.start();
    child.join();
    if (child.exitcode() != 0) {
        throw Error("fib: the child process failed (exit code " +
                    std::to_string(child.exitcode().value_or(-1)) + ")");
    }
    return fib.snapshot();
}

std::vector<FibMethod>& fib_methods() {
    static std::vector<FibMethod> methods = {
        {"shared", fib_via_shared},
        {"manager", fibonacci_via_manager},
    };
    return methods;
}

namespace {
int parse_count(const std::string& text) {
    int n = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (text.empty() || error == std::errc::invalid_argument || end != text.data() + text.size()) {
        throw UsageError("fib: N must be a whole number from 0 to " +
                         std::to_string(max_fib_count) + ", got '" + text + "'");
    }
    if (error == std::errc::result_out_of_range || n > max_fib_count) {
        throw UsageError("fib: N = " + text + " is too large: F(" + std::to_string(max_fib_count) +
                         ") and later overflow 64 bits, so N must be at most " +
                         std::to_string(max_fib_count));
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
    for (const auto& m : fib_methods())
        names.push_back(m.name);
    fib->add_option("--via", via,
                    "How the child hands the numbers back: shared memory "
                    "(Value/Array) or a manager")
        ->check(CLI::IsMember(names))
        ->capture_default_str();
    fib->footer("Prints the numbers as a Python list, e.g. `ipckit fib 5` prints [0, 1, 1, 2, 3].");
    on_run(fib, [] {
        const int n = parse_count(count_text);
        for (const auto& m : fib_methods()) {
            if (m.name != via) continue;
            if (!m.compute) {
                throw Error("fib: --via " + via +
                            " is not available yet in this build; use --via shared");
            }
            std::cout << repr(m.compute(n)) << '\n';
            return 0;
        }
        throw UsageError("fib: unknown --via " + via);
    });
}

}  // namespace ipckit::cli
