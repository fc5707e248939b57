// `ipckit sem`: a friendlier ipcs/ipcrm for System V semaphores.
#include <iomanip>
#include <iostream>
#include <memory>

#include "command.hpp"
#include "ipckit/sysv/semaphore.hpp"
#include "sysv_format.hpp"

namespace ipckit::cli {
namespace {

using namespace sysv_format;

void print_table(const std::vector<sysv::SemaphoreInfo>& semaphores) {
    std::cout << std::left << std::setw(12) << "key" << std::setw(10) << "id" << std::setw(12)
              << "owner" << std::setw(7) << "mode" << std::setw(8) << "value" << std::setw(10)
              << "waiting"
              << "last pid\n";
    for (const auto& s : semaphores) {
        std::cout << std::left << std::setw(12) << sysv::format_key(s.key) << std::setw(10) << s.id
                  << std::setw(12) << user_name(s.uid) << std::setw(7) << octal(s.mode)
                  << std::setw(8) << s.value << std::setw(10)
                  << s.waiting_for_nonzero + s.waiting_for_zero
                  << (s.last_pid ? std::to_string(s.last_pid) : "-") << '\n';
    }
}

// From the system's list, so that looking never waits for an initialisation.
sysv::SemaphoreInfo find(const Target& target) {
    if (target.by_id) {
        int id = parse_id(target.text);
        for (const auto& s : sysv::list_semaphores()) {
            if (s.id == id) return s;
        }
        return sysv::Semaphore::from_id(id).info();  // not listed: let it say why
    }
    sysv::Key key = parse_key_argument(target.text);
    for (const auto& s : sysv::list_semaphores()) {
        if (s.key == key && key != IPC_PRIVATE) return s;
    }
    return sysv::Semaphore(key).info();  // not listed: let the open say why
}

}  // namespace

void add_sem_commands(CLI::App& app) {
    auto* sem = app.add_subcommand("sem", "Inspect and remove System V semaphores");
    sem->require_subcommand(1);

    auto* ls = sem->add_subcommand("ls", "List every semaphore set (as ipcs -s)");
    auto json = std::make_shared<bool>(false);
    ls->add_flag("--json", *json, "Print JSON instead of a table");
    on_run(ls, [json] {
        auto semaphores = sysv::list_semaphores();
        if (*json) {
            json_list(std::cout, semaphores,
                      [](std::ostream& out, const auto& s) { json_fields(out, s); });
            std::cout << '\n';
        } else {
            print_table(semaphores);
        }
        return 0;
    });

    auto stat_target = std::make_shared<Target>();
    auto* stat = sem->add_subcommand("stat", "Show every attribute of one semaphore");
    add_target(stat, *stat_target, "Semaphore");
    on_run(stat, [stat_target] {
        auto s = find(*stat_target);
        std::cout << "key                 " << sysv::format_key(s.key) << '\n'
                  << "id                  " << s.id << '\n'
                  << "owner               " << user_name(s.uid) << " (uid " << s.uid << ", gid "
                  << s.gid << ")\n"
                  << "creator             " << user_name(s.cuid) << " (uid " << s.cuid << ", gid "
                  << s.cgid << ")\n"
                  << "mode                " << octal(s.mode) << '\n'
                  << "value               " << s.value << '\n'
                  << "semaphores          " << s.count << '\n'
                  << "waiting_for_nonzero " << s.waiting_for_nonzero << '\n'
                  << "waiting_for_zero    " << s.waiting_for_zero << '\n'
                  << "last_pid            " << s.last_pid << '\n'
                  << "o_time              " << time_text(s.o_time) << '\n'
                  << "last_change_time    " << time_text(s.last_change_time) << '\n';
        return 0;
    });

    auto rm_target = std::make_shared<Target>();
    auto* rm = sem->add_subcommand("rm", "Remove a semaphore (as ipcrm -S KEY); waiters fail");
    add_target(rm, *rm_target, "Semaphore");
    on_run(rm, [rm_target] {
        auto s = find(*rm_target);
        sysv::remove_semaphore(s.id);
        std::cout << "removed semaphore " << sysv::format_key(s.key) << " (id " << s.id << ")\n";
        return 0;
    });
}

}  // namespace ipckit::cli
