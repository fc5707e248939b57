// `ipckit shm`: a friendlier ipcs/ipcrm for System V shared memory segments.
#include <iomanip>
#include <iostream>
#include <memory>

#include "command.hpp"
#include "ipckit/sysv/shared_memory.hpp"
#include "sysv_format.hpp"

namespace ipckit::cli {
namespace {

using namespace sysv_format;

void print_table(const std::vector<sysv::SharedMemoryInfo>& segments) {
    std::cout << std::left << std::setw(12) << "key" << std::setw(10) << "id" << std::setw(12)
              << "owner" << std::setw(7) << "mode" << std::setw(12) << "bytes" << std::setw(10)
              << "attached"
              << "status\n";
    for (const auto& m : segments) {
        std::cout << std::left << std::setw(12) << sysv::format_key(m.key) << std::setw(10) << m.id
                  << std::setw(12) << user_name(m.uid) << std::setw(7) << octal(m.mode)
                  << std::setw(12) << m.size << std::setw(10) << m.number_attached
                  << (m.removed ? "removed" : "") << '\n';
    }
}

// IPC_STAT needs no attachment, so stat and rm never map the segment.
sysv::SharedMemoryInfo find(const Target& target) {
    if (target.by_id) {
        int id = parse_id(target.text);
        for (const auto& m : sysv::list_shared_memory()) {
            if (m.id == id) return m;
        }
        return sysv::attach(id).info();  // not listed: let attach say why (missing, denied)
    }
    sysv::Key key = parse_key_argument(target.text);
    for (const auto& m : sysv::list_shared_memory()) {
        if (m.key == key && key != IPC_PRIVATE && !m.removed) return m;
    }
    return sysv::SharedMemory(key).info();  // not listed: let the open say why
}

}  // namespace

void add_shm_commands(CLI::App& app) {
    auto* shm = app.add_subcommand("shm", "Inspect and remove System V shared memory segments");
    shm->require_subcommand(1);

    auto* ls = shm->add_subcommand("ls", "List every shared memory segment (as ipcs -m)");
    auto json = std::make_shared<bool>(false);
    ls->add_flag("--json", *json, "Print JSON instead of a table");
    on_run(ls, [json] {
        auto segments = sysv::list_shared_memory();
        if (*json) {
            json_list(std::cout, segments,
                      [](std::ostream& out, const auto& m) { json_fields(out, m); });
            std::cout << '\n';
        } else {
            print_table(segments);
        }
        return 0;
    });

    auto stat_target = std::make_shared<Target>();
    auto* stat = shm->add_subcommand("stat", "Show every attribute of one segment");
    add_target(stat, *stat_target, "Segment");
    on_run(stat, [stat_target] {
        auto m = find(*stat_target);
        std::cout << "key               " << sysv::format_key(m.key) << '\n'
                  << "id                " << m.id << '\n'
                  << "owner             " << user_name(m.uid) << " (uid " << m.uid << ", gid "
                  << m.gid << ")\n"
                  << "creator           " << user_name(m.cuid) << " (uid " << m.cuid << ", gid "
                  << m.cgid << ")\n"
                  << "mode              " << octal(m.mode) << '\n'
                  << "size              " << m.size << '\n'
                  << "number_attached   " << m.number_attached << '\n'
                  << "creator_pid       " << m.creator_pid << '\n'
                  << "last_pid          " << m.last_pid << '\n'
                  << "last_attach_time  " << time_text(m.last_attach_time) << '\n'
                  << "last_detach_time  " << time_text(m.last_detach_time) << '\n'
                  << "last_change_time  " << time_text(m.last_change_time) << '\n'
                  << "removed           " << (m.removed ? "yes" : "no") << '\n';
        return 0;
    });

    auto rm_target = std::make_shared<Target>();
    auto* rm = shm->add_subcommand(
        "rm", "Remove a segment (as ipcrm -M KEY); it goes when the last process detaches");
    add_target(rm, *rm_target, "Segment");
    on_run(rm, [rm_target] {
        auto m = find(*rm_target);
        sysv::remove_shared_memory(m.id);
        std::cout << "removed shared memory segment " << sysv::format_key(m.key) << " (id " << m.id
                  << ")\n";
        return 0;
    });
}

}  // namespace ipckit::cli
