#include <ipckit/ipckit.hpp>

#include <iostream>

int main() {
    ipckit::sysv::MessageQueue mq(IPC_PRIVATE, IPC_CREAT);
    mq.set_auto_remove(true);
    mq.send("ping");
    std::cout << "consumer received: " << mq.receive().data << '\n';
    ipckit::Manager manager;  // authenticates with HMAC-SHA256: links libcrypto
    auto dict = manager.dict();
    dict["answer"] = 42;
    std::cout << "manager dict: " << dict << '\n';
}
