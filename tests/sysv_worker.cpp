// A small program the System V tests run as separate, unrelated processes (two
// instances are siblings, neither the parent of the other).
//
//   sysv_worker count SEM_KEY SHM_KEY N   waits for a line on stdin, then N times:
//                                         acquire, ++counter (offset 0), release
//   sysv_worker hold SEM_KEY undo|no-undo acquires once, says "held", waits to be killed
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include "ipckit/sysv/semaphore.hpp"
#include "ipckit/sysv/shared_memory.hpp"

namespace sysv = ipckit::sysv;

namespace {

int count(sysv::Key sem_key, sysv::Key shm_key, long n) {
    sysv::Semaphore sem(sem_key);
    sysv::SharedMemory shm(shm_key);
    // A plain read-modify-write: without the semaphore, increments get lost.
    auto* counter = reinterpret_cast<volatile std::uint64_t*>(shm.bytes().data());
    std::cout << "ready" << std::endl;
    std::string go;
    std::getline(std::cin, go);
    for (long i = 0; i < n; ++i) {
        sem.acquire();
        *counter = *counter + 1;
        sem.release();
    }
    std::cout << "done" << std::endl;
    return 0;
}

int hold(sysv::Key sem_key, bool undo) {
    sysv::Semaphore sem(sem_key);
    sem.set_undo(undo);
    sem.acquire();
    std::cout << "held" << std::endl;
    for (;;)
        ::pause();  // until killed
}

}  // namespace

int main(int argc, char** argv) {
    try {
        std::string command = argc > 1 ? argv[1] : "";
        if (command == "count" && argc == 5) {
            return count(sysv::parse_key(argv[2]), sysv::parse_key(argv[3]), std::atol(argv[4]));
        }
        if (command == "hold" && argc == 4) {
            return hold(sysv::parse_key(argv[2]), std::string(argv[3]) == "undo");
        }
        std::cerr << "usage: sysv_worker count SEM_KEY SHM_KEY N | hold SEM_KEY undo|no-undo\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "sysv_worker: " << e.what() << '\n';
        return 1;
    }
}
