// Time server benchmark: requests per second with 1, 4 and 16 clients, ipckit's server
// and clients against a Python sysv_ipc server and clients of the same protocol.
//
//   build/bench/bench_time [--requests N]   (N requests in all per run)
#include <sys/msg.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "bench_cli.hpp"
#include "bench_support.hpp"
#include "ipckit/ipckit.hpp"
#include "ipckit/programs/time_service.hpp"

namespace sysv = ipckit::sysv;
using Clock = std::chrono::steady_clock;

namespace {

double ipckit_rate(int clients, int per_client, std::chrono::nanoseconds spin,
                   std::chrono::nanoseconds client_spin, long window = 1) {
    const sysv::Key key = sysv::random_key();
    ipckit::Process server([&] {
        ipckit::programs::TimeServerOptions options;
        options.key = key;
        options.spin = spin;
        std::ostringstream log;
        std::exit(ipckit::programs::time_server(options, log));
    });
    server.start();
    while (::msgget(key, 0) < 0)
        ::usleep(100);

    int start[2];
    if (::pipe(start) != 0) return 0;
    std::vector<ipckit::Process> workers;
    for (int i = 0; i < clients; ++i) {
        workers.emplace_back([&] {
            char c;
            if (::read(start[0], &c, 1) != 1) std::exit(3);
            ipckit::programs::TimeClientOptions options;
            options.key = key;
            options.request = "time";
            options.count = per_client;
            options.window = window;
            options.spin = client_spin;
            std::ostringstream out;
            std::exit(ipckit::programs::time_client(options, out, std::cerr));
        });
    }
    for (auto& w : workers)
        w.start();
    auto begin = Clock::now();
    std::string go(static_cast<std::size_t>(clients), 'x');
    if (::write(start[1], go.data(), go.size()) != static_cast<ssize_t>(go.size())) return 0;
    for (auto& w : workers)
        w.join();
    double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
    ::close(start[0]);
    ::close(start[1]);
    sysv::MessageQueue(key).send(std::string_view{}, sysv::type(2));
    server.join();
    return clients * per_client / seconds;
}

double python_rate(int clients, int per_client) {
    std::string command = "/usr/bin/python3 " IPCKIT_BENCH_DIR "/python/time_bench.py " +
                          std::to_string(clients) + " " + std::to_string(per_client);
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) return 0;
    double value = 0;
    if (std::fscanf(pipe, "%lf", &value) != 1) value = 0;
    ::pclose(pipe);
    return value;
}

}  // namespace

int main(int argc, char** argv) {
    ipckit::bench::ignore_closed_output();
    CLI::App app{
        "The time server: requests per second with 1, 4 and 16 clients, ipckit's server "
        "and clients against a Python sysv_ipc server and clients.",
        "bench_time"};
    int total = 64000;
    ipckit::bench::add_whole_number(app, "--requests", total, "requests in all a run", 16);
    if (auto status = ipckit::bench::parse_command_line(app, argc, argv)) return *status;
    std::printf("time requests per run: %d in all\n\n", total);
    std::printf("| %-7s | %-48s | %12s | %14s |\n", "clients", "implementation", "requests/s",
                "vs Python");
    std::printf(
        "|---------|--------------------------------------------------|--------------|-------------"
        "---|\n");
    for (int clients : {1, 4, 16}) {
        int per_client = total / clients;
        double py = python_rate(clients, per_client);
        double ours = ipckit_rate(clients, per_client, std::chrono::nanoseconds(0),
                                  std::chrono::nanoseconds(0));
        std::printf("| %7d | %-48s | %12.0f | %14s |\n", clients,
                    "Python sysv_ipc server + clients", py, "1.00 x");
        std::printf("| %7d | %-48s | %12.0f | %12.2f x |\n", clients,
                    "ipckit server + clients, one request in flight", ours,
                    py > 0 ? ours / py : 0.0);
        auto row = [&](const std::string& name, double rate) {
            std::printf("| %7d | %-48s | %12.0f | %12.2f x |\n", clients, name.c_str(), rate,
                        py > 0 ? rate / py : 0.0);
        };
        row("ipckit, pipelined (--window 16)",
            ipckit_rate(clients, per_client, std::chrono::nanoseconds(0),
                        std::chrono::nanoseconds(0), 16));
        row("ipckit, pipelined + server adaptive wait 5 us",
            ipckit_rate(clients, per_client, std::chrono::microseconds(5),
                        std::chrono::nanoseconds(0), 16));
        if (clients == 1) {
            for (int us : {20, 50}) {
                double adaptive = ipckit_rate(clients, per_client, std::chrono::microseconds(us),
                                              std::chrono::microseconds(us));
                row("ipckit, adaptive wait " + std::to_string(us) + " us (server and client)",
                    adaptive);
            }
        }
    }
    return 0;
}
