// `ipckit manager`: run a manager server, and look into one.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
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
    command
        ->add_option("-a,--address", target.address,
                     "unix:PATH, tcp://HOST:PORT, or redis://HOST:PORT[/DB] (objects in Redis)")
        ->required();
    command->add_option("-k,--authkey-file", target.authkey_file,
                        "File holding the authkey (one trailing newline is ignored); for "
                        "redis:// the Redis password, unless REDISCLI_AUTH is set");
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

// DATA of `queue NAME put`: a Python literal, as --set reads them.
Object parse_data(const std::string& text) {
    try {
        return parse_python_literal(text);
    } catch (const LiteralError& e) {
        std::string message =
            "DATA " + quoted_input(text) + " is not a Python literal: " + e.what();
        if (e.looks_like_text) {
            message += " (quote strings, and have the shell pass the quotes on: \"'hello'\")";
        }
        throw UsageError(message);
    }
}

// The exit status of `queue get` on Empty, `queue put` on Full and `lock` not acquired in
// time: distinct from errors (1) and bad usage (2), for shell loops.
constexpr int exit_busy = 3;

std::optional<std::chrono::nanoseconds> timeout_of(const std::optional<double>& seconds) {
    if (!seconds) return std::nullopt;
    return seconds_to_duration(*seconds);
}

std::string seconds_text(double seconds) {
    std::ostringstream out;
    out << seconds << " s";
    return out.str();
}

// Runs argv as a child (its own signal dispositions back to the defaults) and returns its
// exit status as a shell reports it (128 + N when signal N ended it; 127: not found).
int run_command(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    std::cout.flush();
    pid_t pid = ::fork();
    if (pid < 0) throw Error(errno, std::string("cannot fork: ") + std::strerror(errno));
    if (pid == 0) {
        for (int signo : {SIGINT, SIGTERM, SIGHUP, SIGPIPE})
            ::signal(signo, SIG_DFL);
        sigset_t none;
        ::sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execvp(args[0], args.data());
        int error = errno;
        std::string message = "ipckit: cannot run " + argv[0] + ": " + std::strerror(error) + "\n";
        (void)!::write(2, message.data(), message.size());
        ::_exit(error == ENOENT ? 127 : 126);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) throw Error(errno, std::string("waitpid: ") + std::strerror(errno));
    }
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
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
    auto spin_us = std::make_shared<long long>(0);
    serve
        ->add_option("--spin-us", *spin_us,
                     "Adaptive wait: after serving, poll for the next request without sleeping "
                     "for up to N microseconds (0: off; costs CPU, saves wake-ups)")
        ->transform(whole_number(0, 1000000));
    on_run(serve, [serve_target, max_frame, expose, spin_us] {
        std::string authkey = read_authkey(serve_target->authkey_file);
        if (serve_target->address.rfind("tcp://", 0) == 0 && authkey.empty()) {
            throw UsageError("a TCP manager needs an authkey: give --authkey-file FILE");
        }
        install_stop_handler({SIGINT, SIGTERM, SIGHUP});
        ServeOptions options;
        options.max_frame = *max_frame;
        options.expose = *expose;
        options.spin = std::chrono::microseconds(*spin_us);
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

    // queue NAME put DATA | queue NAME get
    auto* queue = manager->add_subcommand(
        "queue", "Put an item on a named manager Queue, or get one (created unbounded if new)");
    auto queue_name = std::make_shared<std::string>();
    queue->add_option("NAME", *queue_name, "The queue's name")->required();
    queue->require_subcommand(1);
    queue->footer(
        "Examples: ipckit manager queue tasks put \"'job 1'\" --address unix:/tmp/m\n"
        "          ipckit manager queue tasks get --address unix:/tmp/m");

    auto put_target = std::make_shared<Endpoint>();
    auto put_data = std::make_shared<std::string>();
    auto put_timeout = std::make_shared<std::optional<double>>();
    auto* put = queue->add_subcommand("put", "Put DATA (a Python literal) on the queue");
    add_endpoint_options(put, *put_target);
    put->add_option("DATA", *put_data,
                    "A Python literal: 42, 2.5, 'text' (quoted, through the shell too), "
                    "b'raw', None, True")
        ->required();
    put->add_option("--timeout", *put_timeout,
                    "Seconds to wait for room in a full (bounded) queue; default: as long as "
                    "it takes. Exit status 3 when there is none in time")
        ->transform(timeout_validator());
    on_run(put, [put_target, queue_name, put_data, put_timeout] {
        Object item = parse_data(*put_data);
        auto m = connect(*put_target);
        install_stop_handler({SIGINT, SIGTERM, SIGHUP});
        try {
            m.named_queue(*queue_name).put(item, true, timeout_of(*put_timeout));
        } catch (const Full&) {
            std::cerr << "ipckit: queue '" << *queue_name << "' is full (waited "
                      << seconds_text(put_timeout->value_or(0)) << ")\n";
            return exit_busy;
        }
        return 0;
    });

    auto get_target = std::make_shared<Endpoint>();
    auto get_timeout = std::make_shared<std::optional<double>>();
    auto get_str = std::make_shared<bool>(false);
    auto* get = queue->add_subcommand("get", "Take the next item off the queue and print it");
    add_endpoint_options(get, *get_target);
    get->add_option("--timeout", *get_timeout,
                    "Seconds to wait for an item; default: as long as it takes (Ctrl-C stops "
                    "the wait). Exit status 3 when there is none in time")
        ->transform(timeout_validator());
    get->add_flag("--str", *get_str,
                  "Print str(item) (text without quotes) instead of its Python repr");
    on_run(get, [get_target, queue_name, get_timeout, get_str] {
        auto m = connect(*get_target);
        install_stop_handler({SIGINT, SIGTERM, SIGHUP});
        Object item;
        try {
            item = m.named_queue(*queue_name).get(true, timeout_of(*get_timeout));
        } catch (const Empty&) {
            std::cerr << "ipckit: queue '" << *queue_name << "' is empty (waited "
                      << seconds_text(get_timeout->value_or(0)) << ")\n";
            return exit_busy;
        }
        std::cout << (*get_str ? item.str() : item.repr()) << '\n';
        return 0;
    });

    // lock NAME -- COMMAND ARGS...
    auto lock_target = std::make_shared<Endpoint>();
    auto lock_name = std::make_shared<std::string>();
    auto lock_command = std::make_shared<std::vector<std::string>>();
    auto lock_timeout = std::make_shared<std::optional<double>>();
    auto* lock = manager->add_subcommand(
        "lock", "Run a command while holding a named manager Lock; exit with its status");
    add_endpoint_options(lock, *lock_target);
    lock->add_option("NAME", *lock_name, "The lock's name (created if new)")->required();
    lock->add_option("COMMAND", *lock_command, "The command and its arguments, after --")
        ->required();
    lock->add_option("--timeout", *lock_timeout,
                     "Seconds to wait for the lock; default: as long as it takes. Exit status "
                     "3 (the command not run) when it is not acquired in time")
        ->transform(timeout_validator());
    lock->footer(
        "The lock is released when the command ends, however it ends; if ipckit itself is "
        "killed, the server releases it (and the next holder is told).\n"
        "Example: ipckit manager lock door --address unix:/tmp/m -- sh -c 'echo in; sleep 1'");
    on_run(lock, [lock_target, lock_name, lock_command, lock_timeout] {
        auto m = connect(*lock_target);
        install_stop_handler({SIGINT, SIGTERM, SIGHUP});
        auto l = m.named_lock(*lock_name);
        Acquired acquired = l.acquire(true, timeout_of(*lock_timeout));
        if (!acquired) {
            std::cerr << "ipckit: lock '" << *lock_name << "' not acquired (waited "
                      << seconds_text(lock_timeout->value_or(0)) << ")\n";
            return exit_busy;
        }
        if (acquired.recovered()) {
            std::cerr << "ipckit: note: lock '" << *lock_name
                      << "' was held by a client that ended without releasing it\n";
        }
        int status = 0;
        try {
            status = run_command(*lock_command);
        } catch (...) {
            l.release();
            throw;
        }
        l.release();
        return status;
    });

    // ls
    auto ls_target = std::make_shared<Endpoint>();
    auto* ls = manager->add_subcommand("ls", "List a server's named objects: name, type, size");
    add_endpoint_options(ls, *ls_target);
    ls->footer(
        "SIZE is len() of the object (items of a dict, list or queue), '-' for types "
        "without one (locks, events...).");
    on_run(ls, [ls_target] {
        auto m = connect(*ls_target);
        auto rows = m.named_objects();
        std::size_t name_width = 4, type_width = 4;
        for (const auto& r : rows) {
            name_width = std::max(name_width, r.name.size());
            type_width = std::max(type_width, r.type.size());
        }
        std::cout << std::left << std::setw(static_cast<int>(name_width + 2)) << "NAME"
                  << std::setw(static_cast<int>(type_width + 2)) << "TYPE"
                  << "SIZE\n";
        for (const auto& r : rows) {
            std::cout << std::setw(static_cast<int>(name_width + 2)) << r.name
                      << std::setw(static_cast<int>(type_width + 2)) << r.type
                      << (r.size ? std::to_string(*r.size) : std::string("-")) << '\n';
        }
        return 0;
    });

    auto stop_target = std::make_shared<Endpoint>();
    auto* stop = manager->add_subcommand("shutdown", "Ask a server to stop");
    add_endpoint_options(stop, *stop_target);
    on_run(stop, [stop_target] {
        if (stop_target->address.rfind("redis://", 0) == 0) {
            throw UsageError("ipckit does not stop a Redis server (" + stop_target->address +
                             "); use redis-cli shutdown");
        }
        auto m = connect(*stop_target);
        m.shutdown();
        return 0;
    });
}

}  // namespace ipckit::cli
