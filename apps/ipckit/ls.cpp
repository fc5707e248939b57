// `ipckit ls`: every System V object on the system (as ipcs): queues, semaphores, segments.
#include <iomanip>
#include <iostream>
#include <memory>

#include "command.hpp"
#include "sysv_format.hpp"

namespace ipckit::cli {
namespace {

using namespace sysv_format;

void row(const char* kind, sysv::Key key, int id, uid_t uid, int mode, const std::string& what) {
    std::cout << std::left << std::setw(8) << kind << std::setw(12) << sysv::format_key(key)
              << std::setw(10) << id << std::setw(12) << user_name(uid) << std::setw(7)
              << octal(mode) << what << '\n';
}

}  // namespace

void add_ls_command(CLI::App& app) {
    auto* ls = app.add_subcommand(
        "ls", "List every System V message queue, semaphore and shared memory segment");
    auto json = std::make_shared<bool>(false);
    ls->add_flag("--json", *json,
                 "Print JSON: {\"message_queues\": [...], \"semaphores\": [...], "
                 "\"shared_memory\": [...]}");
    on_run(ls, [json] {
        auto queues = sysv::list_message_queues();
        auto semaphores = sysv::list_semaphores();
        auto segments = sysv::list_shared_memory();
        if (*json) {
            auto fields = [](std::ostream& out, const auto& item) { json_fields(out, item); };
            std::cout << "{\n  \"message_queues\": ";
            json_list(std::cout, queues, fields, "  ");
            std::cout << ",\n  \"semaphores\": ";
            json_list(std::cout, semaphores, fields, "  ");
            std::cout << ",\n  \"shared_memory\": ";
            json_list(std::cout, segments, fields, "  ");
            std::cout << "\n}\n";
            return 0;
        }
        std::cout << std::left << std::setw(8) << "kind" << std::setw(12) << "key" << std::setw(10)
                  << "id" << std::setw(12) << "owner" << std::setw(7) << "mode"
                  << "state\n";
        for (const auto& q : queues) {
            row("queue", q.key, q.id, q.uid, q.mode,
                std::to_string(q.current_messages) + " messages, " +
                    std::to_string(q.current_bytes) + " bytes");
        }
        for (const auto& s : semaphores) {
            std::string state = "value " + std::to_string(s.value);
            if (s.count != 1) state += " (first of " + std::to_string(s.count) + ")";
            if (auto waiting = s.waiting_for_nonzero + s.waiting_for_zero) {
                state += ", " + std::to_string(waiting) + " waiting";
            }
            row("sem", s.key, s.id, s.uid, s.mode, state);
        }
        for (const auto& m : segments) {
            row("shm", m.key, m.id, m.uid, m.mode,
                std::to_string(m.size) + " bytes, " + std::to_string(m.number_attached) +
                    " attached" + (m.removed ? ", removed" : ""));
        }
        return 0;
    });
}

}  // namespace ipckit::cli
