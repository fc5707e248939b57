// What the handles of every System V object (MessageQueue, Semaphore, SharedMemory)
// share: the key and id, the owner and mode, removal, and how they name themselves in
// errors. Each kind is a detail::Object<Info>, where Info is its IPC_STAT record.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "ipckit/sysv/ipc.hpp"

namespace ipckit::sysv {

// What IPC_STAT tells about every kind; QueueInfo, SemaphoreInfo and SharedMemoryInfo
// add the kind's own fields.
struct ObjectInfo {
    Key key = 0;
    int id = -1;
    uid_t uid = 0;  // owner
    gid_t gid = 0;
    uid_t cuid = 0;  // creator
    gid_t cgid = 0;
    int mode = 0;  // permission bits (0777)
};

namespace detail {

template <class Info>
class Object {
  public:
    Key key() const noexcept { return key_; }
    int id() const noexcept { return id_; }

    // --- attributes (each reads the kernel's current state) ---
    Info info() const;
    uid_t uid() const { return info().uid; }
    void set_uid(uid_t uid);
    gid_t gid() const { return info().gid; }
    void set_gid(gid_t gid);
    uid_t cuid() const { return info().cuid; }
    gid_t cgid() const { return info().cgid; }
    int mode() const { return info().mode; }
    // The permission bits (0777); the others stay.
    void set_mode(int mode);

    // Removes the object from the system: waiters fail with ExistentialError (a shared
    // memory segment lives on until its last process detaches).
    void remove();
    // Remove the object when this handle is destroyed (for tests and owners).
    void set_auto_remove(bool on) noexcept { auto_remove_ = on; }

    // "message queue 0x00000080", or "semaphore 0x00000000 (id 5)" for IPC_PRIVATE:
    // every error names the object this way.
    std::string describe() const;

    // Every object of the kind on the system, from /proc/sysvipc (as ipcs).
    static std::vector<Info> list();
    // Removes the object with this id.
    static void remove_id(int id);

  protected:
    Object() = default;
    explicit Object(Key key) noexcept : key_(key) {}
    Object(Object&& other) noexcept;
    Object& operator=(Object&& other) noexcept;
    ~Object();  // removes only when set_auto_remove(true)

    // Takes the object with this id (as ipcs shows it), for from_id: ExistentialError
    // when there is none.
    void open_id(int id);

    Key key_ = IPC_PRIVATE;
    int id_ = -1;
    bool auto_remove_ = false;
};

}  // namespace detail
}  // namespace ipckit::sysv
