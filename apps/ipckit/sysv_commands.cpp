// `ipckit mq|sem|shm ls|stat|rm`: a friendlier ipcs/ipcrm, one shape for every System V
// kind, from the per-kind View below (`mq send` and `mq recv` are in mq.cpp).
#include <ctime>
#include <functional>
#include <iomanip>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "command.hpp"
#include "sysv_format.hpp"

namespace ipckit::cli {
namespace {

using namespace sysv_format;

// What the commands of a kind say.
struct Names {
    const char* command;  // mq, sem, shm
    const char* noun;     // as the library's describe() says it
    const char* what;     // what KEY names
    int stat_width;       // of the names in `stat`
    bool rm_names_id;     // "removed semaphore 0x... (id 5)"; else only for IPC_PRIVATE
};

// The help of the kind's command, and of its ls, stat and rm.
enum Help { kind_help, ls_help, stat_help, rm_help };

// A table column after key, id, owner and mode; width 0: the last one.
struct Column {
    const char* title;
    int width;
};

template <class Number>
std::string n(Number value) {
    return std::to_string(value);
}

std::string t(std::time_t time) {
    return time_text(time);
}

std::string yes_no(bool value) {
    return value ? "yes" : "no";
}

// Per kind: its names, the table's columns and a row's values after mode, the names and
// values of `stat` after mode, and the JSON of `ls --json`.
template <class Info>
struct View;

template <>
struct View<sysv::QueueInfo> {
    using Handle = sysv::MessageQueue;
    static constexpr Names names{"mq", "message queue", "Queue", 18, false};
    static constexpr Column columns[] = {{"messages", 10}, {"bytes", 10}, {"last sender", 0}};
    static std::vector<std::string> row(const sysv::QueueInfo& q) {
        return {n(q.current_messages), n(q.current_bytes),
                q.last_send_pid ? n(q.last_send_pid) : "-"};
    }
    static constexpr const char* stat_names[] = {
        "current_messages", "current_bytes",  "max_size",          "last_send_pid",
        "last_receive_pid", "last_send_time", "last_receive_time", "last_change_time"};
    static std::vector<std::string> stat(const sysv::QueueInfo& q) {
        return {n(q.current_messages),  n(q.current_bytes),    n(q.max_size),
                n(q.last_send_pid),     n(q.last_receive_pid), t(q.last_send_time),
                t(q.last_receive_time), t(q.last_change_time)};
    }
    static void json(std::ostream& out, const sysv::QueueInfo& q) {
        json_fields(out, q);
        out << ", \"last_send_time\": " << q.last_send_time
            << ", \"last_receive_time\": " << q.last_receive_time
            << ", \"last_change_time\": " << q.last_change_time;
    }
    static constexpr const char* help[] = {
        "Inspect, use and remove System V message queues", "List every message queue (as ipcs -q)",
        "Show every attribute of one queue",
        "Remove a queue (as ipcrm -Q KEY, or ipcrm -q ID with --id)"};
};

template <>
struct View<sysv::SemaphoreInfo> {
    using Handle = sysv::Semaphore;
    static constexpr Names names{"sem", "semaphore", "Semaphore", 20, true};
    static constexpr Column columns[] = {{"value", 8}, {"waiting", 10}, {"last pid", 0}};
    static std::vector<std::string> row(const sysv::SemaphoreInfo& s) {
        return {n(s.value), n(s.waiting_for_nonzero + s.waiting_for_zero),
                s.last_pid ? n(s.last_pid) : "-"};
    }
    static constexpr const char* stat_names[] = {
        "value",    "semaphores", "waiting_for_nonzero", "waiting_for_zero",
        "last_pid", "o_time",     "last_change_time"};
    static std::vector<std::string> stat(const sysv::SemaphoreInfo& s) {
        return {n(s.value),    n(s.count),  n(s.waiting_for_nonzero), n(s.waiting_for_zero),
                n(s.last_pid), t(s.o_time), t(s.last_change_time)};
    }
    static void json(std::ostream& out, const sysv::SemaphoreInfo& s) { json_fields(out, s); }
    static constexpr const char* help[] = {"Inspect and remove System V semaphores",
                                           "List every semaphore set (as ipcs -s)",
                                           "Show every attribute of one semaphore",
                                           "Remove a semaphore (as ipcrm -S KEY); waiters fail"};
};

template <>
struct View<sysv::SharedMemoryInfo> {
    using Handle = sysv::SharedMemory;
    static constexpr Names names{"shm", "shared memory segment", "Segment", 18, true};
    static constexpr Column columns[] = {{"bytes", 12}, {"attached", 10}, {"status", 0}};
    static std::vector<std::string> row(const sysv::SharedMemoryInfo& m) {
        return {n(m.size), n(m.number_attached), m.removed ? "removed" : ""};
    }
    static constexpr const char* stat_names[] = {"size",
                                                 "number_attached",
                                                 "creator_pid",
                                                 "last_pid",
                                                 "last_attach_time",
                                                 "last_detach_time",
                                                 "last_change_time",
                                                 "removed"};
    static std::vector<std::string> stat(const sysv::SharedMemoryInfo& m) {
        return {n(m.size),
                n(m.number_attached),
                n(m.creator_pid),
                n(m.last_pid),
                t(m.last_attach_time),
                t(m.last_detach_time),
                t(m.last_change_time),
                yes_no(m.removed)};
    }
    static void json(std::ostream& out, const sysv::SharedMemoryInfo& m) { json_fields(out, m); }
    static constexpr const char* help[] = {
        "Inspect and remove System V shared memory segments",
        "List every shared memory segment (as ipcs -m)", "Show every attribute of one segment",
        "Remove a segment (as ipcrm -M KEY); it goes when the last process detaches"};
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
    std::cout << std::left << std::setw(12) << "key" << std::setw(10) << "id" << std::setw(12)
              << "owner" << std::setw(7) << "mode";
    for (const auto& c : View<Info>::columns)
        std::cout << std::setw(c.width) << c.title;
    std::cout << '\n';
    for (const auto& o : objects) {
        std::cout << std::setw(12) << sysv::format_key(o.key) << std::setw(10) << o.id
                  << std::setw(12) << user_name(o.uid) << std::setw(7) << octal(o.mode);
        auto values = View<Info>::row(o);
        for (std::size_t i = 0; i < values.size(); ++i) {
            std::cout << std::setw(View<Info>::columns[i].width) << values[i];
        }
        std::cout << '\n';
    }
}

template <class Info>
void print_stat(const Info& o) {
    const int width = View<Info>::names.stat_width;
    auto line = [width](const char* name, const std::string& value) {
        std::cout << std::left << std::setw(width) << name << value << '\n';
    };
    line("key", sysv::format_key(o.key));
    line("id", n(o.id));
    line("owner", user_name(o.uid) + " (uid " + n(o.uid) + ", gid " + n(o.gid) + ")");
    line("creator", user_name(o.cuid) + " (uid " + n(o.cuid) + ", gid " + n(o.cgid) + ")");
    line("mode", octal(o.mode));
    auto values = View<Info>::stat(o);
    for (std::size_t i = 0; i < values.size(); ++i)
        line(View<Info>::stat_names[i], values[i]);
}

// From the system's list, so that looking never waits for a semaphore's initialisation
// nor maps a segment; an object not listed is opened, to let the open say why.
template <class Info>
Info find(const Target& target) {
    using Handle = typename View<Info>::Handle;
    if (target.by_id) {
        int id = parse_id(target.text);
        for (const auto& o : Handle::list()) {
            if (o.id == id) return o;
        }
        return Handle::from_id(id).info();
    }
    sysv::Key key = parse_key_argument(target.text);
    for (const auto& o : Handle::list()) {
        if (o.key == key && key != IPC_PRIVATE && !removed(o)) return o;
    }
    return Handle(key).info();
}

// `ipckit KIND ls|stat|rm`; more(kind) adds the kind's own commands after stat.
template <class Info>
void add_commands(CLI::App& app, const std::function<void(CLI::App*)>& more = {}) {
    using V = View<Info>;
    auto* kind = app.add_subcommand(V::names.command, V::help[kind_help]);
    kind->require_subcommand(1);

    auto* ls = kind->add_subcommand("ls", V::help[ls_help]);
    auto json = std::make_shared<bool>(false);
    ls->add_flag("--json", *json, "Print JSON instead of a table");
    on_run(ls, [json] {
        auto objects = V::Handle::list();
        if (*json) {
            json_list(std::cout, objects, V::json);
            std::cout << '\n';
        } else {
            print_table(objects);
        }
        return 0;
    });

    auto stat_target = std::make_shared<Target>();
    auto* stat = kind->add_subcommand("stat", V::help[stat_help]);
    add_target(stat, *stat_target, V::names.what);
    on_run(stat, [stat_target] {
        print_stat(find<Info>(*stat_target));
        return 0;
    });

    if (more) more(kind);

    auto rm_target = std::make_shared<Target>();
    auto* rm = kind->add_subcommand("rm", V::help[rm_help]);
    add_target(rm, *rm_target, V::names.what);
    on_run(rm, [rm_target] {
        auto o = find<Info>(*rm_target);
        V::Handle::remove_id(o.id);
        std::cout << "removed " << V::names.noun << ' ' << sysv::format_key(o.key);
        if (V::names.rm_names_id || o.key == IPC_PRIVATE) std::cout << " (id " << o.id << ')';
        std::cout << '\n';
        return 0;
    });
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
