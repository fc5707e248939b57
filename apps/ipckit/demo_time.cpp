#include <sys/msg.h>
#include <unistd.h>

#include <iostream>
#include <sstream>
#include <thread>

#include "demo.hpp"
#include "ipckit/process.hpp"
#include "ipckit/programs/time_service.hpp"
#include "ipckit/sysv/message_queue.hpp"

namespace ipckit::demo {

void time_server() {
    const sysv::Key key = sysv::random_key();
    Process server([key] {
        programs::TimeServerOptions options;
        options.key = key;
        std::exit(programs::time_server(options, std::cerr));
    });
    server.start();
    // The server creates the queue; wait (bounded) until it has.
    for (int i = 0; i < 5000 && ::msgget(key, 0) < 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::cout << "time server " << server.pid() << " listening on " << sysv::format_key(key)
              << "\n";

    auto ask = [key](const char* who, bool plain) {
        std::ostringstream out;
        programs::TimeClientOptions options;
        options.key = key;
        options.request = "time";
        options.timeout = std::chrono::seconds(10);
        options.plain = plain;
        int status = programs::time_client(options, out, std::cerr);
        std::cout << who << " " << ::getpid() << " got \"" << out.str().substr(0, 24) << "\""
                  << (plain ? " (handout protocol, reply type 3)" : " (reply type = its pid)")
                  << '\n';
        std::exit(status);
    };
    std::vector<Process> clients;
    for (int i = 0; i < 3; ++i)
        clients.emplace_back(ask, "client", false);
    clients.emplace_back(ask, "plain client", true);
    for (auto& c : clients)
        c.start();
    for (auto& c : clients)
        c.join();

    programs::TimeClientOptions stop;
    stop.key = key;
    stop.request = "stop";
    std::ostringstream ignored;
    programs::time_client(stop, ignored, std::cerr);
    server.join();
    bool gone = ::msgget(key, 0) < 0;
    std::cout << "stop request (type 2) sent; server exit " << server.exitcode().value_or(-1)
              << "; queue " << (gone ? "removed by the server" : "STILL THERE") << '\n';
}

}  // namespace ipckit::demo
