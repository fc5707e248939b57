// Shared plumbing of the ipckit program's subcommands.
#pragma once

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "ipckit/sysv/ipc.hpp"

namespace ipckit::cli {

// Bad usage found after parsing (a malformed N, say): exit status 2.
struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The action of the subcommand the user chose; main runs it after parsing.
using Action = std::function<int()>;
void on_run(CLI::App* command, Action action);
// The action chosen by the last parse (empty if none).
Action& selected_action();

// Each part of ipckit registers its subcommands here.
void add_demo_command(CLI::App& app);
void add_mq_commands(CLI::App& app);
// `mq send` and `mq recv`, under the `mq` command.
void add_mq_transfer_commands(CLI::App* mq);
void add_numbers_commands(CLI::App& app);
void add_time_commands(CLI::App& app);
void add_sem_commands(CLI::App& app);
void add_shm_commands(CLI::App& app);
void add_ls_command(CLI::App& app);
void add_fib_commands(CLI::App& app);
void add_manager_commands(CLI::App& app);
// `queue ls|stat|rm`: named shared-memory queues (queue_commands.cpp).
void add_queue_commands(CLI::App& app);

// ---- Validators shared by every subcommand ---------------------------------------------
// A value that fails one is a usage error (exit 2) with one short line that names the
// option and what it accepts: "--count: must be a whole number from 1 to 1000, got 0".
// Give them with ->transform(...), not ->check(...): they also rewrite the text into the
// one form CLI11's own conversion reads the same way (it would read "010" as octal 8).

// Shortens what the user typed for an error message (a megabyte argument stays one line).
std::string quoted_input(std::string_view text);

// A whole decimal number (an optional '-', then digits; no '+', spaces, hex or
// exponents) in [min, max]; nullopt when malformed or out of range.
std::optional<long long> parse_whole_number(std::string_view text, long long min, long long max);
// --count, --type, --window, --max-frame...: whole numbers in [min, max].
CLI::Validator whole_number(long long min, long long max = std::numeric_limits<long long>::max());

// The longest wait a --timeout (or --linger) may ask for: about 31 years, so that
// deadlines computed in nanoseconds cannot overflow.
inline constexpr double max_seconds = 1e9;
// --timeout, --linger: a finite number of seconds in [0, max_seconds]; rejects nan, inf
// and negatives (which would wait forever, or overflow a deadline).
CLI::Validator seconds_validator();
// The same, by the name every --timeout option uses.
inline CLI::Validator timeout_validator() {
    return seconds_validator();
}
// A validated --timeout as a duration (for values the validator accepted).
inline std::chrono::nanoseconds seconds_to_duration(double seconds) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
        std::chrono::duration<double>(seconds));
}
// A finite number in [min, max] of `unit` (for --spin: microseconds).
CLI::Validator number_in(double min, double max, const std::string& unit);

// A System V key as the command line accepts it: decimal or hex, 32 bits, and never 0.
// Key 0 is IPC_PRIVATE: every use would create a new private object (and leave it
// behind), so the command line refuses it and points to --id for objects without a key.
// Throws UsageError.
sysv::Key parse_key_argument(const std::string& text);
// The same check as a CLI11 validator, for KEY arguments and --key options.
CLI::Validator key_validator();

// An id as ipcs shows it: a whole number from 0 to INT_MAX. Throws UsageError.
int parse_id(const std::string& text);

}  // namespace ipckit::cli
