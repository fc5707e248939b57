// The one errno mapper for every System V kind, and the /proc/sysvipc lists.
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <system_error>

#include "ipckit/error.hpp"
#include "object_impl.hpp"

namespace ipckit::sysv::detail {
namespace {

struct KindText {
    const char* noun;        // in describe(): "message queue 0x00000080"
    const char* short_noun;  // in messages: "no such queue"
    const char* ctl;         // its control call
    const char* ipcs;        // ipcs's and ipcrm's option for the kind
    const char* proc;        // /proc/sysvipc/NAME
    const char* missing;     // the fix when there is no such object
    const char* busy;        // why an operation would block
    const char* too_many;    // the limit that ENOSPC hit
};

const KindText& text(Kind kind) {
    static const KindText texts[] = {
        {"message queue", "queue", "msgctl", "q", "msg",
         "is the server running? create it with IPC_CREAT", "the queue is full",
         "the system has too many message queues (raise /proc/sys/kernel/msgmni or remove "
         "unused ones)"},
        {"semaphore", "semaphore", "semctl", "s", "sem",
         "create it with IPC_CREAT, or check the key with `ipcs -s`", "the semaphore is busy",
         "the system has too many semaphores (raise the limits in /proc/sys/kernel/sem or "
         "remove unused ones)"},
        {"shared memory segment", "shared memory segment", "shmctl", "m", "shm",
         "create it with IPC_CREAT, or check the key with `ipcs -m`", "try again",
         "the system has too many shared memory segments or pages (raise "
         "/proc/sys/kernel/shmmni or shmall, or remove unused segments)"},
    };
    return texts[static_cast<int>(kind)];
}

}  // namespace

const char* noun(Kind kind) noexcept {
    return text(kind).noun;
}

const char* ctl_name(Kind kind) noexcept {
    return text(kind).ctl;
}

void throw_for(Kind kind, int err, const std::string& who, const std::string& operation) {
    const KindText& t = text(kind);
    const std::string ipcs = std::string("`ipcs -") + t.ipcs + "`";
    switch (err) {
        case ENOENT:
            throw ExistentialError(err, who + ": no such " + t.short_noun + " (" + t.missing + ")");
        case EEXIST:
            throw ExistentialError(err, who + ": already exists (remove it with `ipcrm -" + t.ipcs +
                                            " ID`, or open it without IPC_EXCL)");
        case EIDRM:
            throw ExistentialError(err, who + ": was removed while in use");
        case EACCES:
        case EPERM:
            throw PermissionsError(err, who + ": permission denied for " + operation +
                                            " (check the " + t.short_noun +
                                            "'s mode and owner with " + ipcs + ")");
        case EAGAIN:
            throw BusyError(BusyError::Reason::would_block, err,
                            who + ": " + operation + " would block (" + t.busy + ")");
        case ENOMSG:
            throw BusyError(BusyError::Reason::would_block, err,
                            who + ": " + operation + " would block (no matching message)");
        case ERANGE:
            throw ValueError(err, who + ": " + operation +
                                      " would take the value above the system's maximum "
                                      "(SEMVMX, 32767)");
        case ENOSPC:
            throw Error(err, who + ": " + t.too_many);
        default:
            throw Error(err, who + ": " + operation + " failed: " +
                                 (err == ENOMEM ? std::string("out of memory")
                                                : std::generic_category().message(err)));
    }
}

std::vector<int> sysvipc_ids(Kind kind) {
    std::vector<int> ids;
    std::ifstream in(std::string("/proc/sysvipc/") + text(kind).proc);
    std::string line;
    std::getline(in, line);  // header
    while (std::getline(in, line)) {
        long long key = 0;
        int id = -1;
        if (std::sscanf(line.c_str(), "%lld %d", &key, &id) == 2) ids.push_back(id);
    }
    return ids;
}

}  // namespace ipckit::sysv::detail
