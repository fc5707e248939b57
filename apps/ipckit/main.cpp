// The ipckit program: the handout's programs and tools for System V IPC.
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "command.hpp"
#include "ipckit/error.hpp"
#include "ipckit/sysv/ipc.hpp"

namespace ipckit::cli {
Action& selected_action() {
    static Action action;
    return action;
}

void on_run(CLI::App* command, Action action) {
    command->callback([command, action = std::move(action)] {
        // Only the innermost chosen subcommand acts.
        if (command->get_subcommands().empty()) selected_action() = action;
    });
}

std::string quoted_input(std::string_view text) {
    constexpr std::size_t longest = 40;
    std::string shown(text.substr(0, longest));
    for (char& c : shown) {
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    }
    if (text.size() > longest) shown += "...";
    return "'" + shown + "'";
}

std::optional<long long> parse_whole_number(std::string_view text, long long min, long long max) {
    // from_chars takes an optional '-' and decimal digits, nothing else.
    long long value = 0;
    const char* end = text.data() + text.size();
    auto [stop, error] = std::from_chars(text.data(), end, value, 10);
    if (text.empty() || error != std::errc{} || stop != end) return std::nullopt;
    if (value < min || value > max) return std::nullopt;
    return value;
}

CLI::Validator whole_number(long long min, long long max) {
    std::string range = "from " + std::to_string(min) + " to " + std::to_string(max);
    return CLI::Validator(
        [min, max, range](std::string& text) -> std::string {
            auto value = parse_whole_number(text, min, max);
            if (!value) return "must be a whole number " + range + ", got " + quoted_input(text);
            text = std::to_string(*value);  // what CLI11 then reads as the same number
            return {};
        },
        std::to_string(min) + ".." + std::to_string(max));  // shown as INT:1..1000
}

namespace {
// Reads a decimal number as strtod does (1.5, 2e-3, nan, inf), all of the text or nothing.
std::optional<double> parse_number(const std::string& text) {
    if (text.empty() || std::isspace(static_cast<unsigned char>(text.front()))) return std::nullopt;
    char* end = nullptr;
    errno = 0;
    double value = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size()) return std::nullopt;
    return value;
}

std::string shortest(double x) {
    std::ostringstream out;
    out << std::setprecision(15) << x;
    return out.str();
}
}  // namespace

CLI::Validator number_in(double min, double max, const std::string& unit) {
    std::string range = "from " + shortest(min) + " to " + shortest(max);
    return CLI::Validator(
        [min, max, range, unit](std::string& text) -> std::string {
            auto value = parse_number(text);
            // !(a <= b) is true for nan as well.
            if (!value || !std::isfinite(*value) || !(*value >= min && *value <= max)) {
                return "must be a number of " + unit + " " + range + ", got " + quoted_input(text);
            }
            return {};
        },
        shortest(min) + ".." + shortest(max));  // shown as FLOAT:0..1000000000
}

CLI::Validator seconds_validator() {
    return number_in(0, max_seconds, "seconds");
}

sysv::Key parse_key_argument(const std::string& text) {
    sysv::Key key;
    try {
        key = sysv::parse_key(text);
    } catch (const Error& e) {
        throw UsageError(e.what());
    }
    if (key == IPC_PRIVATE) {
        throw UsageError("key " + quoted_input(text) +
                         " is IPC_PRIVATE, which names no object (each use would create a new "
                         "private one); for an object without a key, give its id with --id "
                         "(`ipckit ls` shows ids)");
    }
    return key;
}

CLI::Validator key_validator() {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            try {
                parse_key_argument(text);
                return {};
            } catch (const UsageError& e) {
                return e.what();
            }
        },
        "KEY", "key");
}

int parse_id(const std::string& text) {
    auto id = parse_whole_number(text, 0, std::numeric_limits<int>::max());
    if (!id) {
        throw UsageError("invalid id " + quoted_input(text) +
                         ": must be a whole number from 0 to " +
                         std::to_string(std::numeric_limits<int>::max()) +
                         " (ipcs or `ipckit ls` shows the ids)");
    }
    return static_cast<int>(*id);
}

}  // namespace ipckit::cli

int main(int argc, char** argv) {
    using namespace ipckit::cli;
    CLI::App app{"ipckit: interprocess communication on Linux (System V queues, shared state)"};
    app.require_subcommand(1);
    app.set_help_all_flag("--help-all", "Show help for every subcommand");
    add_demo_command(app);
    add_mq_commands(app);
    add_numbers_commands(app);
    add_time_commands(app);
    add_sem_commands(app);
    add_shm_commands(app);
    add_ls_command(app);
    add_fib_commands(app);
    add_manager_commands(app);
    add_queue_commands(app);

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;
    }
    if (!selected_action()) {
        std::cerr << app.help();
        return 2;
    }
    try {
        return selected_action()();
    } catch (const UsageError& e) {
        std::cerr << "ipckit: " << e.what() << '\n';
        return 2;
    } catch (const ipckit::Error& e) {
        std::cerr << "ipckit: " << e.what() << '\n';
        return 1;
    } catch (const std::exception& e) {
        std::cerr << "ipckit: " << e.what() << '\n';
        return 1;
    }
}
