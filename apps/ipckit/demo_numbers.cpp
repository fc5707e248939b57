#include <sys/msg.h>
#include <unistd.h>

#include <iostream>
#include <sstream>

#include "demo.hpp"
#include "ipckit/process.hpp"
#include "ipckit/programs/line_reader.hpp"
#include "ipckit/programs/numbers.hpp"
#include "ipckit/sysv/message_queue.hpp"

namespace ipckit::demo {

void numbers() {
    const sysv::Key key = sysv::random_key();
    std::cout << "server and client on " << sysv::format_key(key)
              << "; the server reads: 1, 2, abc, 3, 0\n";
    int input[2], server_output[2];
    if (::pipe(input) != 0 || ::pipe(server_output) != 0) throw Error(errno, "pipe failed");
    const std::string lines = "1\n2\nabc\n3\n0\n";
    if (::write(input[1], lines.data(), lines.size()) != static_cast<ssize_t>(lines.size())) {
        throw Error(errno, "cannot write to the server's input");
    }
    ::close(input[1]);

    Process server([&] {
        ::dup2(server_output[1], 1);
        ::close(server_output[0]);
        programs::NumbersServerOptions options;
        options.key = key;
        options.input_fd = input[0];
        std::exit(programs::numbers_server(options, std::cout, std::cerr));
    });
    server.start();
    ::close(input[0]);
    ::close(server_output[1]);
    // The server's complaint about "abc", before the client speaks.
    programs::LineReader server_says(server_output[0]);
    std::string line;
    while (server_says.next(line) == programs::LineReader::Status::line) {
        std::cout << "server: " << line << '\n';
        if (line.find("Input error") != std::string::npos) break;
    }
    std::cout.flush();

    Process client([key] {
        std::ostringstream out;
        programs::NumbersClientOptions options;
        options.key = key;
        int status = programs::numbers_client(options, out, std::cerr);
        std::istringstream printed(out.str());
        for (std::string text; std::getline(printed, text);)
            std::cout << "client: " << text << '\n';
        std::exit(status);
    });
    client.start();
    client.join();
    server.join();
    ::close(server_output[0]);
    bool gone = ::msgget(key, 0) < 0;
    std::cout << "server exit " << server.exitcode().value_or(-1) << ", client exit "
              << client.exitcode().value_or(-1) << "; queue "
              << (gone ? "removed by the server" : "STILL THERE") << '\n';
}

}  // namespace ipckit::demo
