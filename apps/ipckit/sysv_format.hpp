// How System V objects print, for `ipckit mq|sem|shm` and `ipckit ls`.
#pragma once

#include <pwd.h>

#include <ctime>
#include <iomanip>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

#include "command.hpp"
#include "ipckit/sysv/message_queue.hpp"
#include "ipckit/sysv/semaphore.hpp"
#include "ipckit/sysv/shared_memory.hpp"

namespace ipckit::cli::sysv_format {

inline std::string user_name(uid_t uid) {
    if (passwd* pw = ::getpwuid(uid)) return pw->pw_name;
    return std::to_string(uid);
}

inline std::string time_text(std::time_t t) {
    if (t == 0) return "never";
    char text[64];
    std::tm tm{};
    ::localtime_r(&t, &tm);
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
    return text;
}

inline std::string octal(int mode) {
    std::ostringstream out;
    out << '0' << std::oct << mode;
    return out.str();
}

// One JSON object per line of a list, "[\n  {...},\n  {...}\n]".
template <class T, class Print>
void json_list(std::ostream& out, const std::vector<T>& items, Print print,
               const std::string& indent = "") {
    out << '[';
    bool first = true;
    for (const auto& item : items) {
        out << (first ? "" : ",") << '\n' << indent << "  {";
        print(out, item);
        out << '}';
        first = false;
    }
    out << (first ? "]" : "\n" + indent + "]");
}

inline void json_fields(std::ostream& out, const sysv::SemaphoreInfo& s) {
    out << "\"key\": \"" << sysv::format_key(s.key) << "\", \"id\": " << s.id << ", \"owner\": \""
        << user_name(s.uid) << "\", \"uid\": " << s.uid << ", \"gid\": " << s.gid
        << ", \"cuid\": " << s.cuid << ", \"cgid\": " << s.cgid << ", \"mode\": \"" << octal(s.mode)
        << "\", \"semaphores\": " << s.count << ", \"value\": " << s.value
        << ", \"last_pid\": " << s.last_pid
        << ", \"waiting_for_nonzero\": " << s.waiting_for_nonzero
        << ", \"waiting_for_zero\": " << s.waiting_for_zero << ", \"o_time\": " << s.o_time
        << ", \"last_change_time\": " << s.last_change_time;
}

inline void json_fields(std::ostream& out, const sysv::SharedMemoryInfo& m) {
    out << "\"key\": \"" << sysv::format_key(m.key) << "\", \"id\": " << m.id << ", \"owner\": \""
        << user_name(m.uid) << "\", \"uid\": " << m.uid << ", \"gid\": " << m.gid
        << ", \"cuid\": " << m.cuid << ", \"cgid\": " << m.cgid << ", \"mode\": \"" << octal(m.mode)
        << "\", \"size\": " << m.size << ", \"number_attached\": " << m.number_attached
        << ", \"creator_pid\": " << m.creator_pid << ", \"last_pid\": " << m.last_pid
        << ", \"last_attach_time\": " << m.last_attach_time
        << ", \"last_detach_time\": " << m.last_detach_time
        << ", \"last_change_time\": " << m.last_change_time
        << ", \"removed\": " << (m.removed ? "true" : "false");
}

inline void json_fields(std::ostream& out, const sysv::QueueInfo& q) {
    out << "\"key\": \"" << sysv::format_key(q.key) << "\", \"id\": " << q.id << ", \"owner\": \""
        << user_name(q.uid) << "\", \"uid\": " << q.uid << ", \"gid\": " << q.gid
        << ", \"mode\": \"" << octal(q.mode) << "\", \"messages\": " << q.current_messages
        << ", \"bytes\": " << q.current_bytes << ", \"max_size\": " << q.max_size
        << ", \"last_send_pid\": " << q.last_send_pid
        << ", \"last_receive_pid\": " << q.last_receive_pid;
}

// KEY, or an id with --id (IPC_PRIVATE objects have no other name).
struct Target {
    std::string text;
    bool by_id = false;
};

// KEY is read when the action runs (parse_key_argument or parse_id), once --id has told
// which it is.
inline void add_target(CLI::App* command, Target& target, const std::string& what) {
    command
        ->add_option("KEY", target.text,
                     what + " key, decimal or hex (0x80), never 0; an id with --id")
        ->required();
    command->add_flag("--id", target.by_id,
                      "KEY is the id that ipcs shows, not a key (the only name of an object "
                      "created with IPC_PRIVATE, key 0)");
}

}  // namespace ipckit::cli::sysv_format
