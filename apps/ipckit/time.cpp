// `ipckit time server|client`: exercise 2, a time server for many clients.
#include <iostream>
#include <limits>
#include <memory>

#include "command.hpp"
#include "ipckit/programs/time_service.hpp"
#include "ipckit/sysv/ipc.hpp"

namespace ipckit::cli {
namespace {
// --spin: polling longer than a second before sleeping is never what one wants.
constexpr double max_spin_us = 1e6;

std::chrono::nanoseconds microseconds(double us) {
    return std::chrono::nanoseconds(static_cast<long long>(us * 1000));
}
}  // namespace

void add_time_commands(CLI::App& app) {
    auto* time = app.add_subcommand("time", "Exercise 2: a time server and its clients");
    time->require_subcommand(1);

    struct ServerArgs {
        std::string key = "129";
        bool replace = false;
        bool force = false;
        bool verbose = false;
        double spin_us = 0;
    };
    auto s = std::make_shared<ServerArgs>();
    auto* server = time->add_subcommand(
        "server", "Answer time requests (type 1) until a stop request (type 2)");
    server->add_option("-k,--key", s->key, "Queue key, decimal or hex")
        ->capture_default_str()
        ->check(key_validator());
    auto* replace =
        server->add_flag("--replace", s->replace,
                         "Replace a stale queue with the same key (refused while a live server "
                         "uses it)");
    server
        ->add_flag("--force", s->force,
                   "With --replace: replace the queue even if a live server uses it")
        ->needs(replace);
    server->add_flag("-v,--verbose", s->verbose, "Log each request to standard error");
    server
        ->add_option("--spin", s->spin_us,
                     "Adaptive wait: microseconds to poll before sleeping (costs CPU)")
        ->transform(number_in(0, max_spin_us, "microseconds"));
    on_run(server, [s] {
        programs::TimeServerOptions options;
        options.key = sysv::parse_key(s->key);
        options.replace = s->replace;
        options.force = s->force;
        options.verbose = s->verbose;
        options.spin = microseconds(s->spin_us);
        return programs::time_server(options, std::cerr);
    });

    struct ClientArgs {
        std::string key = "129";
        std::string request;
        long count = 1;
        long window = 1;
        double timeout = -1;
        bool plain = false;
        double spin_us = 0;
    };
    auto c = std::make_shared<ClientArgs>();
    auto* client = time->add_subcommand(
        "client", "Ask the time server (interactive unless --request is given)");
    client->add_option("-k,--key", c->key, "Queue key, decimal or hex")
        ->capture_default_str()
        ->check(key_validator());
    client->add_option("-r,--request", c->request, "Send this request and exit: time or stop")
        ->check(CLI::IsMember({"time", "stop"}));
    client->add_option("-n,--count", c->count, "With --request time: how many requests")
        ->capture_default_str()
        ->transform(whole_number(1, std::numeric_limits<long>::max()));
    client
        ->add_option("-w,--window", c->window,
                     "With --count: requests in flight at once (pipelining; not with --plain; at "
                     "most what the queue holds)")
        ->capture_default_str()
        ->transform(whole_number(1, 1000));
    client
        ->add_option("--timeout", c->timeout,
                     "Seconds to wait for each reply, and for room in a full queue")
        ->transform(timeout_validator());
    client->add_flag("--plain", c->plain,
                     "Speak the handout's exact protocol (empty request, reply type 3)");
    client
        ->add_option("--spin", c->spin_us,
                     "Adaptive wait: microseconds to poll before sleeping (costs CPU)")
        ->transform(number_in(0, max_spin_us, "microseconds"));
    on_run(client, [c] {
        programs::TimeClientOptions options;
        options.key = sysv::parse_key(c->key);
        if (!c->request.empty()) options.request = c->request;
        options.count = c->count;
        options.window = c->window;
        if (c->timeout >= 0) options.timeout = microseconds(c->timeout * 1e6);
        options.plain = c->plain;
        options.spin = microseconds(c->spin_us);
        return programs::time_client(options, std::cout, std::cerr);
    });
}

}  // namespace ipckit::cli
