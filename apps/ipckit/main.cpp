// The ipckit program: the handout's programs and tools for System V IPC.
#include <iostream>

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

CLI::Validator key_validator() {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            try {
                sysv::parse_key(text);
                return {};
            } catch (const Error& e) {
                return e.what();
            }
        },
        "KEY", "key");
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
