// Shared plumbing of the ipckit program's subcommands.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <stdexcept>
#include <string>

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
void add_numbers_commands(CLI::App& app);
void add_time_commands(CLI::App& app);
void add_sem_commands(CLI::App& app);
void add_shm_commands(CLI::App& app);
void add_ls_command(CLI::App& app);
void add_fib_commands(CLI::App& app);
void add_manager_commands(CLI::App& app);

// Parses a key given in decimal or hex, as a CLI11 option validator would.
CLI::Validator key_validator();

}  // namespace ipckit::cli
