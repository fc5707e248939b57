// Unrelated processes sharing a counter: System V shared memory, locked by a System V
// semaphore. Start it twice at once (from two shells, or as below) and no increment is lost:
//
//   ./sysv_counter 0x1234 100000 & ./sysv_counter 0x1234 100000; wait
//   ./sysv_counter 0x1234 rm
#include <ipckit/ipckit.hpp>

#include <cstdint>
#include <cstring>
#include <iostream>
#include <string>

namespace sysv = ipckit::sysv;

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: sysv_counter KEY COUNT | sysv_counter KEY rm\n";
        return 2;
    }
    try {
        sysv::Key key = sysv::parse_key(argv[1]);
        // The first to come creates both (a lock starting at 1, a zeroed 8-byte counter);
        // the other opens them and waits until the lock is initialised.
        sysv::Semaphore lock(key, IPC_CREAT, 0600, 1);
        sysv::SharedMemory memory(key, IPC_CREAT, 0600, sizeof(std::uint64_t), '\0');
        if (std::string(argv[2]) == "rm") {
            lock.remove();
            memory.remove();
            return 0;
        }
        lock.set_undo(true);  // if we are killed holding the lock, the kernel releases it
        auto* counter = reinterpret_cast<volatile std::uint64_t*>(memory.bytes().data());
        long count = std::stol(argv[2]);
        for (long i = 0; i < count; ++i) {
            auto held = lock.guard();
            *counter = *counter + 1;
        }
        auto held = lock.guard();
        std::cout << "added " << count << ", counter is now " << *counter << '\n';
    } catch (const std::exception& e) {
        std::cerr << "sysv_counter: " << e.what() << '\n';
        return 1;
    }
}
