// `ipckit manager`: run a manager server, and look into one.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "command.hpp"
#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/signals.hpp"
#include "python_literal.hpp"

namespace ipckit::cli {
namespace {

// The manager to serve or to reach: --address and --authkey-file.
struct Endpoint {
    std::string address;
    std::string authkey_file;
};

// The authkey is the file's bytes, without one trailing newline (as `echo` writes). As ssh
// does for a private key, a file that group or others may read or write is refused.
std::string read_authkey(const std::string& path) {
    if (path.empty()) return {};
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        throw Error(errno, "cannot read the authkey file " + path + ": " + std::strerror(errno));
    }
    struct stat st {};
    int rc = ::fstat(fd, &st);
    int saved = errno;
    if (rc == 0 && (st.st_mode & 077) != 0) {
        ::close(fd);
        char mode[8];
        std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
        throw Error("the authkey file " + path + " has mode " + mode +
                    ": group or others may read or write it, so the key is not secret; "
                    "allow only its owner: chmod 600 " +
                    path);
    }
    std::string key;
    char buffer[4096];
    ssize_t n = 0;
    while (rc == 0 && (n = ::read(fd, buffer, sizeof buffer)) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            saved = errno;
            rc = -1;
            break;
        }
        key.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fd);
    if (rc != 0) {
        throw Error(saved, "cannot read the authkey file " + path + ": " + std::strerror(saved));
    }
    if (!key.empty() && key.back() == '\n') key.pop_back();
    if (!key.empty() && key.back() == '\r') key.pop_back();
    if (key.empty()) throw UsageError("the authkey file " + path + " is empty");
    return key;
}

void add_endpoint_options(CLI::App* command, Endpoint& target) {
    command->add_option("-a,--address", target.address, "unix:PATH or tcp://HOST:PORT")->required();
    command->add_option("-k,--authkey-file", target.authkey_file,
                        "File holding the authkey (one trailing newline is ignored)");
}

// --set K=V: K and V are Python literals (python_literal.hpp). The '=' that ends K is the
// first one after which the text before it reads as a literal: 'a=b'=1 sets the key 'a=b'.
std::pair<Object, Object> parse_assignment(const std::string& item) {
    auto refuse = [&](const char* part, const LiteralError& e) {
        std::string message = "--set " + quoted_input(item) + ": the " + part +
                              " is not a Python literal: " + e.what();
        if (e.looks_like_text) {
            message +=
                " (quote strings, and have the shell pass the quotes on: "
                "--set \"'name'='Alice'\")";
        }
        return UsageError(message);
    };
    auto eq = item.find('=');
    if (eq == std::string::npos) {
        throw UsageError("--set wants KEY=VALUE, got " + quoted_input(item));
    }
    std::optional<LiteralError> key_error;
    for (; eq != std::string::npos; eq = item.find('=', eq + 1)) {
        Object key;
        try {
            key = parse_python_literal(std::string_view(item).substr(0, eq));
        } catch (const LiteralError& e) {
            if (!key_error) key_error = e;
            continue;
        }
        try {
            return {std::move(key), parse_python_literal(std::string_view(item).substr(eq + 1))};
        } catch (const LiteralError& e) {
            throw refuse("value", e);
        }
    }
    throw refuse("key", *key_error);
}

// Manager::connect and serve_manager throw ValueError for a malformed address before
// they touch any socket: that is bad usage (exit 2), unlike any later failure.
Manager connect(const Endpoint& target) {
    std::string authkey = read_authkey(target.authkey_file);
    try {
        return Manager::connect(target.address, std::move(authkey));
    } catch (const ValueError& e) {
        throw UsageError(e.what());
    }
}

}  // namespace

void add_manager_commands(CLI::App& app) {
    auto* manager = app.add_subcommand(
        "manager", "Run a manager server (shared dicts and lists) or look into one");
    manager->require_subcommand(1);

    auto serve_target = std::make_shared<Endpoint>();
    auto max_frame = std::make_shared<std::size_t>(default_max_frame);
    auto* serve = manager->add_subcommand(
        "serve", "Serve shared objects until SIGINT/SIGTERM or a client's shutdown request");
    add_endpoint_options(serve, *serve_target);
    const std::string mib = std::to_string(default_max_frame >> 20);
    serve
        ->add_option("--max-frame", *max_frame, "Largest accepted frame in bytes (" + mib + " MiB)")
        ->transform(whole_number(1, 0xffffffffLL));  // a frame's length is 32 bits
    auto expose = std::make_shared<std::vector<std::string>>();
    serve->add_option("--expose", *expose,
                      "For Python clients: TYPEID=TYPE:NAME makes create(TYPEID) return the "
                      "named object (e.g. get_queue=queue:jobs)");
    on_run(serve, [serve_target, max_frame, expose] {
        std::string authkey = read_authkey(serve_target->authkey_file);
        if (serve_target->address.rfind("tcp://", 0) == 0 && authkey.empty()) {
            throw UsageError("a TCP manager needs an authkey: give --authkey-file FILE");
        }
        install_stop_handler({SIGINT, SIGTERM, SIGHUP});
        ServeOptions options;
        options.max_frame = *max_frame;
        options.expose = *expose;
        bool ready = false;
        options.on_ready = [&ready](const std::string& address) {
            ready = true;
            std::cout << "ipckit manager serving at " << address << std::endl;
        };
        try {
            serve_manager(serve_target->address, authkey, options);
        } catch (const ValueError& e) {
            if (ready) throw;
            throw UsageError(e.what());  // the address, before any socket
        } catch (const Error& e) {
            // A live server holds the unix: path: say how to stop it with this program.
            if (ready || e.errno_value() != EADDRINUSE) throw;
            throw Error(EADDRINUSE, std::string(e.what()) +
                                        "; `ipckit manager shutdown --address " +
                                        serve_target->address + "` stops it");
        }
        std::cout << "ipckit manager stopped" << std::endl;
        return 0;
    });

    auto stats_target = std::make_shared<Endpoint>();
    auto* stats = manager->add_subcommand("stats", "Print a server's object and connection counts");
    add_endpoint_options(stats, *stats_target);
    on_run(stats, [stats_target] {
        auto m = connect(*stats_target);
        std::cout << Object(m.stats()) << '\n';
        return 0;
    });

    auto dict_target = std::make_shared<Endpoint>();
    auto dict_name = std::make_shared<std::string>();
    auto assignments = std::make_shared<std::vector<std::string>>();
    auto* dict = manager->add_subcommand(
        "dict", "Print a named shared dict, after setting KEY=VALUE items (Python literals)");
    add_endpoint_options(dict, *dict_target);
    dict->add_option("NAME", *dict_name, "The dict's name (created empty if new)")->required();
    dict->add_option("--set", *assignments,
                     "KEY=VALUE to set first (repeatable). KEY and VALUE are Python literals, "
                     "read as ast.literal_eval reads them: int (42, -7, 1_000, 0x10, 0o17, "
                     "0b101; 64-bit), float (2.5, 1e3, -0.5), str in quotes ('text', "
                     "\"it's\", escapes such as \\n), bytes (b'raw'), None, True, False. "
                     "Anything else is refused: quote strings, through the shell too: "
                     "--set \"'name'='Alice'\"");
    dict->footer(
        "Example: ipckit manager dict scores --address unix:/tmp/m --set \"'bob'=5\" "
        "prints {'bob': 5}.");
    on_run(dict, [dict_target, dict_name, assignments] {
        std::vector<std::pair<Object, Object>> items;  // all checked before any is set
        for (const auto& item : *assignments)
            items.push_back(parse_assignment(item));
        auto m = connect(*dict_target);
        auto d = m.dict(*dict_name);
        for (const auto& [key, value] : items)
            d.set(key, value);
        std::cout << d << '\n';
        return 0;
    });

    auto stop_target = std::make_shared<Endpoint>();
    auto* stop = manager->add_subcommand("shutdown", "Ask a server to stop");
    add_endpoint_options(stop, *stop_target);
    on_run(stop, [stop_target] {
        auto m = connect(*stop_target);
        m.shutdown();
        return 0;
    });
}

}  // namespace ipckit::cli
