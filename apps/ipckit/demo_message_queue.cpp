#include <unistd.h>

#include <iostream>

#include "demo.hpp"
#include "ipckit/process.hpp"
#include "ipckit/sysv/message_queue.hpp"

namespace ipckit::demo {

void message_queue() {
    namespace sysv = ipckit::sysv;
    sysv::MessageQueue mq(std::nullopt);  // a random free key, created exclusively
    mq.set_auto_remove(true);
    std::cout << "parent " << ::getpid() << " created " << mq.describe() << '\n';

    Process child([key = mq.key()] {
        sysv::MessageQueue queue(key);
        queue.send("hello through the queue", sysv::type(1));
        std::cout << "child " << ::getpid() << " sent \"hello through the queue\" (type 1)\n";
    });
    child.start();
    auto message = mq.receive(sysv::timeout(std::chrono::seconds(10)));
    child.join();
    std::cout << "parent received \"" << message.data << "\" (type " << message.type << ")\n";
    mq.remove();
    std::cout << "queue removed\n";
}

}  // namespace ipckit::demo
