// `ipckit queue ls|stat|rm`: the named shared-memory queues (/dev/shm/ipckit.q.NAME), in the
// shape of `ipckit mq ls|stat|rm` (sysv_commands.cpp), with its formatting helpers.
#include <algorithm>
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "ipckit/named_queue.hpp"
#include "sysv_format.hpp"

namespace ipckit::cli {
namespace {

using namespace sysv_format;

std::string path_of(const std::string& name) {
    return "/dev/shm/" + std::string(named_queue_prefix) + name;
}

// A NAME argument: checked when the action runs (a malformed name is a usage error).
void check_name(const std::string& name) {
    bool ok = !name.empty() && name.size() <= 200 && name.front() != '.';
    for (char c : name)
        ok =
            ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
    if (!ok) {
        throw UsageError("invalid queue name " + quoted_input(name) +
                         ": 1 to 200 letters, digits, '_', '-' or '.', not starting with '.' "
                         "(the name without the " +
                         std::string(named_queue_prefix) +
                         " prefix; `ipckit queue ls` lists them)");
    }
}

std::string json_string(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            char buffer[8];
            std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
            out += buffer;
        } else {
            out += c;
        }
    }
    return out + "\"";
}

void print_table(const std::vector<NamedQueueInfo>& queues) {
    std::size_t name_width = 6;
    std::size_t type_width = 6;
    for (const auto& q : queues) {
        name_width = std::max(name_width, q.name.size() + 2);
        type_width = std::max(type_width, q.type.size() + 2);
    }
    std::cout << std::left << std::setw(static_cast<int>(name_width)) << "name" << std::setw(13)
              << "kind" << std::setw(static_cast<int>(type_width)) << "type" << std::setw(10)
              << "messages" << std::setw(10) << "maxsize" << std::setw(7) << "users" << std::setw(6)
              << "dead" << std::setw(12) << "owner" << std::setw(7) << "mode"
              << "status" << '\n';
    for (const auto& q : queues) {
        const bool known = q.kind != "?";
        std::cout << std::setw(static_cast<int>(name_width)) << q.name << std::setw(13) << q.kind
                  << std::setw(static_cast<int>(type_width)) << q.type << std::setw(10)
                  << (known ? std::to_string(q.messages) : "?") << std::setw(10)
                  << (known ? std::to_string(q.maxsize) : "?") << std::setw(7)
                  << (known ? std::to_string(q.users) : "?") << std::setw(6)
                  << (known ? std::to_string(q.dead_users) : "?") << std::setw(12)
                  << user_name(q.uid) << std::setw(7) << octal(static_cast<int>(q.mode))
                  << (!known     ? "no access"
                      : q.closed ? "closed"
                                 : "")
                  << '\n';
    }
}

void print_json(const NamedQueueInfo& q) {
    std::cout << "\"name\": " << json_string(q.name)
              << ", \"file\": " << json_string(path_of(q.name))
              << ", \"kind\": " << json_string(q.kind) << ", \"type\": " << json_string(q.type)
              << ", \"element_size\": " << q.element_size << ", \"messages\": " << q.messages
              << ", \"maxsize\": " << q.maxsize << ", \"ring_bytes\": " << q.ring_bytes
              << ", \"closed\": " << (q.closed ? "true" : "false") << ", \"users\": " << q.users
              << ", \"dead_users\": " << q.dead_users << ", \"creator_pid\": " << q.creator_pid
              << ", \"created\": " << q.created << ", \"owner\": " << json_string(user_name(q.uid))
              << ", \"uid\": " << q.uid << ", \"mode\": \"" << octal(static_cast<int>(q.mode))
              << "\", \"file_bytes\": " << q.file_bytes;
}

void print_stat(const NamedQueueInfo& q) {
    auto line = [](const char* name, const std::string& value) {
        std::cout << std::left << std::setw(14) << name << value << '\n';
    };
    line("name", q.name);
    line("file", path_of(q.name));
    line("kind", q.kind);
    line("type", q.type);
    line("element_size", q.element_size ? std::to_string(q.element_size) : "variable");
    line("messages", std::to_string(q.messages));
    line("maxsize", std::to_string(q.maxsize));
    line("ring_bytes", std::to_string(q.ring_bytes));
    line("closed", q.closed ? "yes" : "no");
    line("users", std::to_string(q.users));
    line("dead_users", std::to_string(q.dead_users));
    line("creator_pid", std::to_string(q.creator_pid));
    line("created", time_text(q.created));
    line("owner", user_name(q.uid) + " (uid " + std::to_string(q.uid) + ")");
    line("mode", octal(static_cast<int>(q.mode)));
    line("file_bytes", std::to_string(q.file_bytes));
}

}  // namespace

void add_queue_commands(CLI::App& app) {
    auto* queue = app.add_subcommand(
        "queue", "Inspect and remove named shared-memory queues (/dev/shm/ipckit.q.NAME)");
    queue->require_subcommand(1);

    auto* ls = queue->add_subcommand(
        "ls", "List every named ipckit queue: kind, element type, messages, live and dead users");
    auto json = std::make_shared<bool>(false);
    ls->add_flag("--json", *json, "Print JSON instead of a table");
    on_run(ls, [json] {
        auto queues = named_queues();
        if (*json) {
            json_list(std::cout, queues,
                      [](std::ostream&, const NamedQueueInfo& q) { print_json(q); });
            std::cout << '\n';
        } else {
            print_table(queues);
        }
        return 0;
    });

    auto stat_name = std::make_shared<std::string>();
    auto* stat = queue->add_subcommand("stat", "Show every attribute of one named queue");
    stat->add_option("NAME", *stat_name, "The queue's name (without the ipckit.q. prefix)")
        ->required();
    on_run(stat, [stat_name] {
        check_name(*stat_name);
        print_stat(named_queue_info(*stat_name));
        return 0;
    });

    auto rm_name = std::make_shared<std::string>();
    auto* rm = queue->add_subcommand(
        "rm",
        "Remove a named queue's name (as shm_unlink); processes that have it open keep using "
        "it. Refuses files that are not ipckit queues");
    rm->add_option("NAME", *rm_name, "The queue's name (without the ipckit.q. prefix)")->required();
    on_run(rm, [rm_name] {
        check_name(*rm_name);
        remove_named_queue(*rm_name);
        std::cout << "removed queue " << *rm_name << '\n';
        return 0;
    });
}

}  // namespace ipckit::cli
