// `ipckit mq|sem|shm ls|stat|rm`: a friendlier ipcs/ipcrm, one shape for every System V
// kind, from the per-kind View below (`mq send` and `mq recv` are in mq.cpp).
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "command.hpp"
#include "sysv_format.hpp"

namespace ipckit::cli {
namespace {

using namespace sysv_format;

// A table column after key, id, owner and mode; width 0: the last one.
template <class Info>
struct Column {
    const char* title;
    int width;
    std::string (*text)(const Info&);
};

// A line of `stat` after key, id, owner, creator and mode.
using Line = std::pair<const char*, std::string>;

template <class Info>
struct View;

template <>
struct View<sysv::QueueInfo> {
    using Handle = sysv::MessageQueue;
    static constexpr const char* command = "mq";
    static constexpr const char* noun = "message queue";
    static constexpr const char* help = "Inspect, use and remove System V message queues";
    static constexpr const char* ls_help = "List every message queue (as ipcs -q)";
    static constexpr const char* stat_help = "Show every attribute of one queue";
    static constexpr const char* rm_help =
        "Remove a queue (as ipcrm -Q KEY, or ipcrm -q ID with --id)";
    static constexpr const char* what = "Queue";
    static constexpr int stat_width = 18;
    static constexpr bool rm_names_id = false;  // "removed message queue 0x00000080"
    static std::vector<sysv::QueueInfo> list() { return sysv::list_message_queues(); }
    static void remove(int id) { sysv::remove_message_queue(id); }
    static std::vector<Column<sysv::QueueInfo>> columns() {
        return {{"messages", 10, [](const auto& q) { return std::to_string(q.current_messages); }},
                {"bytes", 10, [](const auto& q) { return std::to_string(q.current_bytes); }},
                {"last sender", 0, [](const auto& q) {
                     return q.last_send_pid ? std::to_string(q.last_send_pid) : "-";
                 }}};
    }
    static std::vector<Line> lines(const sysv::QueueInfo& q) {
        return {{"current_messages", std::to_string(q.current_messages)},
                {"current_bytes", std::to_string(q.current_bytes)},
                {"max_size", std::to_string(q.max_size)},
                {"last_send_pid", std::to_string(q.last_send_pid)},
                {"last_receive_pid", std::to_string(q.last_receive_pid)},
                {"last_send_time", time_text(q.last_send_time)},
                {"last_receive_time", time_text(q.last_receive_time)},
                {"last_change_time", time_text(q.last_change_time)}};
    }
    static void json(std::ostream& out, const sysv::QueueInfo& q) {
        json_fields(out, q);
        out << ", \"last_send_time\": " << q.last_send_time
            << ", \"last_receive_time\": " << q.last_receive_time
            << ", \"last_change_time\": " << q.last_change_time;
    }
};

template <>
struct View<sysv::SemaphoreInfo> {
    using Handle = sysv::Semaphore;
    static constexpr const char* command = "sem";
    static constexpr const char* noun = "semaphore";
    static constexpr const char* help = "Inspect and remove System V semaphores";
    static constexpr const char* ls_help = "List every semaphore set (as ipcs -s)";
    static constexpr const char* stat_help = "Show every attribute of one semaphore";
    static constexpr const char* rm_help = "Remove a semaphore (as ipcrm -S KEY); waiters fail";
    static constexpr const char* what = "Semaphore";
    static constexpr int stat_width = 20;
    static constexpr bool rm_names_id = true;
    static std::vector<sysv::SemaphoreInfo> list() { return sysv::list_semaphores(); }
    static void remove(int id) { sysv::remove_semaphore(id); }
    static std::vector<Column<sysv::SemaphoreInfo>> columns() {
        return {{"value", 8, [](const auto& s) { return std::to_string(s.value); }},
                {"waiting", 10,
                 [](const auto& s) {
                     return std::to_string(s.waiting_for_nonzero + s.waiting_for_zero);
                 }},
                {"last pid", 0,
                 [](const auto& s) { return s.last_pid ? std::to_string(s.last_pid) : "-"; }}};
    }
    static std::vector<Line> lines(const sysv::SemaphoreInfo& s) {
        return {{"value", std::to_string(s.value)},
                {"semaphores", std::to_string(s.count)},
                {"waiting_for_nonzero", std::to_string(s.waiting_for_nonzero)},
                {"waiting_for_zero", std::to_string(s.waiting_for_zero)},
                {"last_pid", std::to_string(s.last_pid)},
                {"o_time", time_text(s.o_time)},
                {"last_change_time", time_text(s.last_change_time)}};
    }
    static void json(std::ostream& out, const sysv::SemaphoreInfo& s) { json_fields(out, s); }
};

template <>
struct View<sysv::SharedMemoryInfo> {
    using Handle = sysv::SharedMemory;
    static constexpr const char* command = "shm";
    static constexpr const char* noun = "shared memory segment";
    static constexpr const char* help = "Inspect and remove System V shared memory segments";
    static constexpr const char* ls_help = "List every shared memory segment (as ipcs -m)";
    static constexpr const char* stat_help = "Show every attribute of one segment";
    static constexpr const char* rm_help =
        "Remove a segment (as ipcrm -M KEY); it goes when the last process detaches";
    static constexpr const char* what = "Segment";
    static constexpr int stat_width = 18;
    static constexpr bool rm_names_id = true;
    static std::vector<sysv::SharedMemoryInfo> list() { return sysv::list_shared_memory(); }
    static void remove(int id) { sysv::remove_shared_memory(id); }
    static std::vector<Column<sysv::SharedMemoryInfo>> columns() {
        return {
            {"bytes", 12, [](const auto& m) { return std::to_string(m.size); }},
            {"attached", 10, [](const auto& m) { return std::to_string(m.number_attached); }},
            {"status", 0, [](const auto& m) { return std::string(m.removed ? "removed" : ""); }}};
    }
    static std::vector<Line> lines(const sysv::SharedMemoryInfo& m) {
        return {{"size", std::to_string(m.size)},
                {"number_attached", std::to_string(m.number_attached)},
                {"creator_pid", std::to_string(m.creator_pid)},
                {"last_pid", std::to_string(m.last_pid)},
                {"last_attach_time", time_text(m.last_attach_time)},
                {"last_detach_time", time_text(m.last_detach_time)},
                {"last_change_time", time_text(m.last_change_time)},
                {"removed", m.removed ? "yes" : "no"}};
    }
    static void json(std::ostream& out, const sysv::SharedMemoryInfo& m) { json_fields(out, m); }
};

template <class Info>
bool removed(const Info& info) {
    if constexpr (requires { info.removed; }) {
        return info.removed;
    } else {
        return false;
    }
}

template <class Info>
void print_table(const std::vector<Info>& objects) {
    const auto columns = View<Info>::columns();
    std::cout << std::left << std::setw(12) << "key" << std::setw(10) << "id" << std::setw(12)
              << "owner" << std::setw(7) << "mode";
    for (const auto& c : columns)
        std::cout << std::setw(c.width) << c.title;
    std::cout << '\n';
    for (const auto& o : objects) {
        std::cout << std::left << std::setw(12) << sysv::format_key(o.key) << std::setw(10) << o.id
                  << std::setw(12) << user_name(o.uid) << std::setw(7) << octal(o.mode);
        for (const auto& c : columns)
            std::cout << std::setw(c.width) << c.text(o);
        std::cout << '\n';
    }
}

template <class Info>
void print_stat(const Info& o) {
    std::vector<Line> lines = {{"key", sysv::format_key(o.key)},
                               {"id", std::to_string(o.id)},
                               {"owner", user_name(o.uid) + " (uid " + std::to_string(o.uid) +
                                             ", gid " + std::to_string(o.gid) + ")"},
                               {"creator", user_name(o.cuid) + " (uid " + std::to_string(o.cuid) +
                                               ", gid " + std::to_string(o.cgid) + ")"},
                               {"mode", octal(o.mode)}};
    for (auto& line : View<Info>::lines(o))
        lines.push_back(std::move(line));
    for (const auto& [name, value] : lines) {
        std::cout << std::left << std::setw(View<Info>::stat_width) << name << value << '\n';
    }
}

// From the system's list, so that looking never waits for a semaphore's initialisation
// nor maps a segment; an object not listed is opened, to let the open say why.
template <class Info>
Info find(const Target& target) {
    using Handle = typename View<Info>::Handle;
    if (target.by_id) {
        int id = parse_id(target.text);
        for (const auto& o : View<Info>::list()) {
            if (o.id == id) return o;
        }
        return Handle::from_id(id).info();
    }
    sysv::Key key = parse_key_argument(target.text);
    for (const auto& o : View<Info>::list()) {
        if (o.key == key && key != IPC_PRIVATE && !removed(o)) return o;
    }
    return Handle(key).info();
}

// `ipckit KIND ls|stat|rm`; more(kind) adds the kind's own commands after stat.
template <class Info>
CLI::App* add_commands(CLI::App& app, const std::function<void(CLI::App*)>& more = {}) {
    using V = View<Info>;
    auto* kind = app.add_subcommand(V::command, V::help);
    kind->require_subcommand(1);

    auto* ls = kind->add_subcommand("ls", V::ls_help);
    auto json = std::make_shared<bool>(false);
    ls->add_flag("--json", *json, "Print JSON instead of a table");
    on_run(ls, [json] {
        auto objects = V::list();
        if (*json) {
            json_list(std::cout, objects, V::json);
            std::cout << '\n';
        } else {
            print_table(objects);
        }
        return 0;
    });

    auto stat_target = std::make_shared<Target>();
    auto* stat = kind->add_subcommand("stat", V::stat_help);
    add_target(stat, *stat_target, V::what);
    on_run(stat, [stat_target] {
        print_stat(find<Info>(*stat_target));
        return 0;
    });

    if (more) more(kind);

    auto rm_target = std::make_shared<Target>();
    auto* rm = kind->add_subcommand("rm", V::rm_help);
    add_target(rm, *rm_target, V::what);
    on_run(rm, [rm_target] {
        auto o = find<Info>(*rm_target);
        V::remove(o.id);
        std::cout << "removed " << V::noun << ' ' << sysv::format_key(o.key);
        if (V::rm_names_id || o.key == IPC_PRIVATE) std::cout << " (id " << o.id << ')';
        std::cout << '\n';
        return 0;
    });
    return kind;
}

}  // namespace

void add_mq_commands(CLI::App& app) {
    add_commands<sysv::QueueInfo>(app, add_mq_transfer_commands);
}

void add_sem_commands(CLI::App& app) {
    add_commands<sysv::SemaphoreInfo>(app);
}

void add_shm_commands(CLI::App& app) {
    add_commands<sysv::SharedMemoryInfo>(app);
}

}  // namespace ipckit::cli
