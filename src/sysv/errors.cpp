#include "errors.hpp"

#include <cerrno>
#include <system_error>

#include "ipckit/error.hpp"

namespace ipckit::sysv::detail {

const char* noun(Kind kind) noexcept {
    return kind == Kind::semaphore ? "semaphore" : "shared memory segment";
}

void throw_for(Kind kind, int err, const std::string& who, const char* operation) {
    const bool sem = kind == Kind::semaphore;
    const std::string ipcs = sem ? "`ipcs -s`" : "`ipcs -m`";
    const std::string rm =
        sem ? "`ipcrm -s ID` or `ipckit sem rm KEY`" : "`ipcrm -m ID` or `ipckit shm rm KEY`";
    switch (err) {
        case ENOENT:
            throw ExistentialError(err, who + ": no such " + noun(kind) +
                                            " (create it with IPC_CREAT, or check the key "
                                            "with " +
                                            ipcs + ")");
        case EEXIST:
            throw ExistentialError(err, who + ": already exists (remove it with " + rm +
                                            ", or open it without IPC_EXCL)");
        case EIDRM:
            throw ExistentialError(err, who + ": was removed while in use");
        case EACCES:
        case EPERM:
            throw PermissionsError(err, who + ": permission denied for " + operation +
                                            " (check the " + noun(kind) +
                                            "'s mode and owner with " + ipcs + ")");
        case EAGAIN:
            throw BusyError(BusyError::Reason::would_block, err,
                            who + ": " + operation + " would block (the semaphore is busy)");
        case ERANGE:
            throw ValueError(err, who + ": " + operation +
                                      " would take the value above the system's maximum "
                                      "(SEMVMX, 32767)");
        case ENOSPC:
            if (sem) {
                throw Error(err, who +
                                     ": the system has too many semaphores (raise the "
                                     "limits in /proc/sys/kernel/sem or remove unused ones)");
            }
            throw Error(err, who +
                                 ": the system has too many shared memory segments or "
                                 "pages (raise /proc/sys/kernel/shmmni or shmall, or "
                                 "remove unused segments)");
        case ENOMEM:
            throw Error(err, who + ": " + operation + " failed: out of memory");
        default:
            throw Error(
                err, who + ": " + operation + " failed: " + std::generic_category().message(err));
    }
}

}  // namespace ipckit::sysv::detail
