#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <iostream>

#include "demo.hpp"
#include "ipckit/process.hpp"
#include "ipckit/sysv/semaphore.hpp"
#include "ipckit/sysv/shared_memory.hpp"

namespace ipckit::demo {

void semaphore_and_shared_memory() {
    namespace sysv = ipckit::sysv;
    constexpr int per_process = 10000;
    sysv::Semaphore sem(std::nullopt, sysv::IPC_CREX, sysv::default_mode, 1);  // a lock
    sem.set_auto_remove(true);
    sysv::SharedMemory shm(std::nullopt, sysv::IPC_CREX, sysv::default_mode, sizeof(std::uint64_t),
                           '\0');
    shm.set_auto_remove(true);
    std::cout << "parent " << ::getpid() << " created " << sem.describe() << " (value 1) and "
              << shm.describe() << " (" << shm.size() << " bytes)\n";

    auto count = [sem_key = sem.key(), shm_key = shm.key()] {
        // Each child opens both by key, as an unrelated program would.
        sysv::Semaphore lock(sem_key);
        lock.set_undo(true);  // if this process dies holding the lock, the kernel frees it
        sysv::SharedMemory memory(shm_key);
        auto* counter = reinterpret_cast<volatile std::uint64_t*>(memory.bytes().data());
        for (int i = 0; i < per_process; ++i) {
            auto held = lock.guard();
            *counter = *counter + 1;
        }
        std::cout << "child " << ::getpid() << " added " << per_process << '\n';
    };
    Process first(count), second(count);
    first.start();
    second.start();
    first.join();
    second.join();
    std::uint64_t total = 0;
    std::memcpy(&total, shm.cbytes().data(), sizeof total);
    std::cout << "parent reads " << total << " from the segment (expected " << 2 * per_process
              << ")\n";
    shm.detach();
    shm.remove();
    sem.remove();
    std::cout << "semaphore and segment removed\n";
}

}  // namespace ipckit::demo
