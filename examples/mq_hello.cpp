// A message from a child process to its parent through a System V message queue.
#include <ipckit/ipckit.hpp>

#include <iostream>

namespace sysv = ipckit::sysv;

int main() {
    sysv::MessageQueue mq(std::nullopt);  // random key, created exclusively, mode 0600

    ipckit::Process child([&mq] { mq.send("hello"); });
    child.start();
    auto [data, type] = mq.receive();
    child.join();

    std::cout << "received: " << data << " (type " << type << ")\n";
    mq.remove();
}
