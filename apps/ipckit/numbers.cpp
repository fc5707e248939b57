// `ipckit numbers server|client`: the handout's message queue example.
#include <chrono>
#include <iostream>
#include <memory>

#include "command.hpp"
#include "ipckit/programs/numbers.hpp"
#include "ipckit/sysv/ipc.hpp"

namespace ipckit::cli {
void add_numbers_commands(CLI::App& app) {
    auto* numbers = app.add_subcommand(
        "numbers", "The handout's example: a server sends integers, a client prints them");
    numbers->require_subcommand(1);

    auto key = std::make_shared<std::string>("128");
    auto linger = std::make_shared<double>(5.0);
    auto server_timeout = std::make_shared<double>(-1);
    auto* server = numbers->add_subcommand(
        "server", "Create the queue, send each integer read from standard input, until 0");
    server->add_option("-k,--key", *key, "Queue key, decimal or hex")
        ->capture_default_str()
        ->check(key_validator());
    server
        ->add_option("--linger", *linger,
                     "Seconds to wait, after sending 0, for the client to take every "
                     "message before removing the queue")
        ->capture_default_str()
        ->transform(seconds_validator());
    server
        ->add_option("--timeout", *server_timeout,
                     "Give up (and remove the queue) when a send waits this many seconds for "
                     "room in a full queue")
        ->transform(timeout_validator());
    on_run(server, [key, linger, server_timeout] {
        programs::NumbersServerOptions options;
        options.key = sysv::parse_key(*key);
        options.linger = std::chrono::milliseconds(static_cast<long>(*linger * 1000));
        if (*server_timeout >= 0) options.timeout = seconds_to_duration(*server_timeout);
        return programs::numbers_server(options, std::cout, std::cerr);
    });

    auto client_key = std::make_shared<std::string>("128");
    auto client_timeout = std::make_shared<double>(-1);
    auto* client = numbers->add_subcommand(
        "client", "Print the integers the server sends (received: N), until 0 (exiting.)");
    client->add_option("-k,--key", *client_key, "Queue key, decimal or hex")
        ->capture_default_str()
        ->check(key_validator());
    client->add_option("--timeout", *client_timeout, "Give up after waiting this many seconds")
        ->transform(timeout_validator());
    on_run(client, [client_key, client_timeout] {
        programs::NumbersClientOptions options;
        options.key = sysv::parse_key(*client_key);
        if (*client_timeout >= 0) options.timeout = seconds_to_duration(*client_timeout);
        return programs::numbers_client(options, std::cout, std::cerr);
    });
}

}  // namespace ipckit::cli
