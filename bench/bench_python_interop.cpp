// Manager interop benchmark (issue 12): Python's manager protocol, both directions, one run.
//  (a) one Python client (bench/python/interop_bench.py, standard library only, SyncManager
//      .connect()) against `ipckit manager serve` versus the same script against Python's own
//      SyncManager server (get_server().serve_forever());
//  (b) ipckit's C++ client (Manager::connect("python+tcp://...")) against that Python server
//      versus the Python client against it; also with the C++ client's opt-in adaptive wait
//      (ManagerOptions::spin of --spin-us US: it polls for the answer that long first).
// Operations: dict set d[i % 100] = i, dict get d[i % 100], queue put(i) + get(). Each
// measurement is the best of TRIES tries of N calls; the three clients run one after the
// other ROUNDS times (interleaved) and the best of each is kept. Both servers run for the
// whole benchmark; the bench starts them and stops them (SIGTERM to their pids).
//
// A second part runs (a) and (b) plain with every process on one core (core 0): no call waits
// for a wake-up across cores, so the rates show what the servers and clients cost.
//
// A third part measures the server's adaptive wait: the Python client against Python's
// server, ipckit's, and ipckit's with --spin-us US (default 50: the server polls for the
// next request that long before sleeping), unpinned and then pinned (the client on core 0,
// the servers on core 1), with each server's CPU time per call.
//
//   build/bench/bench_python_interop [--n N] [--tries T] [--rounds R] [--python PATH]
//                                    [--spin-us US]
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_cli.hpp"
#include "bench_support.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/manager_sync.hpp"

using ipckit::Manager;
using ipckit::Object;
using Clock = std::chrono::steady_clock;

namespace {

constexpr const char* kAuthkey = "bench-interop-key";
const std::array<const char*, 3> kOps = {"dict_set", "dict_get", "queue_put_get"};
using Rates = std::map<std::string, double>;

// A program started with its stdout on a pipe; the first line it prints is kept. SIGTERM,
// then reaped, at the end.
class Server {
  public:
    // cpu >= 0: the server runs on that core only (sched_setaffinity before exec).
    explicit Server(const std::vector<std::string>& argv, int cpu = -1) {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
        pid_ = ::fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            if (cpu >= 0) ipckit::bench::pin_to_cpu(cpu);
            ::dup2(fds[1], STDOUT_FILENO);
            std::vector<char*> args;
            for (const auto& a : argv)
                args.push_back(const_cast<char*>(a.c_str()));
            args.push_back(nullptr);
            ::execv(args[0], args.data());
            ::_exit(127);
        }
        ::close(fds[1]);
        char c;
        while (::read(fds[0], &c, 1) == 1 && c != '\n')
            line_ += c;
        ::close(fds[0]);
        if (line_.empty()) {
            stop();
            throw std::runtime_error("the server " + argv[0] + " did not start");
        }
    }
    ~Server() { stop(); }
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;
    const std::string& line() const { return line_; }
    pid_t pid() const { return pid_; }

  private:
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
    pid_t pid_ = -1;
    std::string line_;
};

// The last run of digits in `text` (the port in a banner or a line).
std::string port_of(const std::string& text) {
    auto end = text.find_last_of("0123456789");
    if (end == std::string::npos) throw std::runtime_error("no port in: " + text);
    auto begin = text.find_last_not_of("0123456789", end);
    return text.substr(begin + 1, end - begin);
}

// User + system CPU seconds of process `pid` so far, every thread included, those that ended
// too (/proc/PID/stat fields 14 and 15, in clock ticks).
double cpu_seconds_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');  // the command name may hold spaces
    if (close == std::string::npos) return 0;
    std::istringstream fields(text.substr(close + 2));
    std::string field;
    double utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i == 14) utime = std::atof(field.c_str());
        if (i == 15) stime = std::atof(field.c_str());
    }
    return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

Rates python_client(const std::string& python, const std::string& port, int n, int tries) {
    std::string command = python + " " IPCKIT_BENCH_DIR "/python/interop_bench.py client " + port +
                          " " + kAuthkey + " " + std::to_string(n) + " " + std::to_string(tries);
    Rates rates;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) return rates;
    char name[64];
    double value, ceiling;
    while (std::fscanf(pipe, "%63s %lf %lf", name, &value, &ceiling) == 3) {
        rates[name] = value;
        rates[std::string(name) + "/ceiling"] = ceiling;
    }
    ::pclose(pipe);
    return rates;
}

template <typename Body>
double best_rate(int tries, double calls, Body body) {
    double best = 0;
    for (int t = 0; t < tries; ++t) {
        auto begin = Clock::now();
        body();
        best = std::max(best, calls / std::chrono::duration<double>(Clock::now() - begin).count());
    }
    return best;
}

Rates cpp_client(const std::string& address, int n, int tries,
                 std::chrono::microseconds spin = {}) {
    ipckit::ManagerOptions options;
    options.spin = spin;  // the client's opt-in adaptive wait (0: none)
    Manager m = Manager::connect(address, kAuthkey, options);
    auto d = m.dict();
    auto q = m.queue();
    Rates rates;
    rates["dict_set"] = best_rate(tries, n, [&] {
        for (int i = 0; i < n; ++i)
            d.set(i % 100, i);
    });
    rates["dict_get"] = best_rate(tries, n, [&] {
        for (int i = 0; i < n; ++i)
            if (d.get(i % 100).as_int() < 0) std::abort();
    });
    rates["queue_put_get"] = best_rate(tries, 2.0 * n, [&] {
        for (int i = 0; i < n; ++i) {
            q.put(i);
            if (q.get().as_int() != i) std::abort();
        }
    });
    return rates;
}

// The kernel's share: 1-byte ping-pongs over TCP loopback between two threads (round trips/s),
// the floor under any manager call, whatever the client and the server.
double loopback_round_trips(int n) {
    int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listener, 1) != 0 ||
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        throw std::runtime_error("loopback listener failed");
    }
    int one = 1;
    std::thread echo([&] {
        int fd = ::accept(listener, nullptr, nullptr);
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        char c;
        while (::recv(fd, &c, 1, 0) == 1 && ::send(fd, &c, 1, MSG_NOSIGNAL) == 1) {
        }
        ::close(fd);
    });
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) std::abort();
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    double rate = best_rate(3, n, [&] {
        char c = 'x';
        for (int i = 0; i < n; ++i)
            if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1 || ::recv(fd, &c, 1, 0) != 1) std::abort();
    });
    ::close(fd);
    echo.join();
    ::close(listener);
    return rate;
}

// The best rate of each operation; a ceiling goes with the best rate it was measured with.
void keep_best(Rates& best, const Rates& round) {
    for (const auto& [op, rate] : round) {
        if (op.find('/') != std::string::npos || rate <= best[op]) continue;
        best[op] = rate;
        if (round.count(op + "/ceiling")) best[op + "/ceiling"] = round.at(op + "/ceiling");
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "Python's manager protocol both ways: a Python client against `ipckit manager "
        "serve` and against Python's own server; ipckit's C++ client and a Python "
        "client against Python's server.",
        "bench_python_interop"};
    int n = 5000, tries = 3, rounds = 3, spin_us = 50;
    std::string python = "/usr/bin/python3";
    ipckit::bench::add_whole_number(app, "--n", n, "calls a try");
    ipckit::bench::add_whole_number(app, "--tries", tries, "tries a client, the best kept");
    ipckit::bench::add_whole_number(app, "--rounds", rounds, "interleaved rounds of the clients");
    app.add_option("--python", python, "the Python to run")->capture_default_str();
    ipckit::bench::add_whole_number(app, "--spin-us", spin_us,
                                    "the adaptive wait of the spin rows, in µs");
    if (auto status = ipckit::bench::parse_command_line(app, argc, argv)) return *status;
    char dir_template[] = "/tmp/ipckit-bench-XXXXXX";
    if (!::mkdtemp(dir_template)) return 1;
    std::string dir = dir_template, key_file = dir + "/authkey";
    {
        FILE* f = std::fopen(key_file.c_str(), "w");
        if (!f) return 1;
        std::fputs(kAuthkey, f);
        std::fclose(f);
        ::chmod(key_file.c_str(), 0600);
    }
    Rates py_on_ipckit, py_on_python, cpp_on_python, cpp_spin_on_python;
    double loopback = 0;
    {
        Server ours({IPCKIT_PROGRAM, "manager", "serve", "--address", "tcp://127.0.0.1:0",
                     "--authkey-file", key_file});
        Server theirs(
            {python, "-u", IPCKIT_BENCH_DIR "/python/interop_bench.py", "serve", kAuthkey});
        std::string ours_port = port_of(ours.line()), theirs_port = port_of(theirs.line());
        for (int r = 0; r < rounds; ++r) {
            keep_best(py_on_ipckit, python_client(python, ours_port, n, tries));
            keep_best(py_on_python, python_client(python, theirs_port, n, tries));
            loopback = std::max(loopback, loopback_round_trips(n));
            keep_best(cpp_on_python, cpp_client("python+tcp://127.0.0.1:" + theirs_port, n, tries));
            keep_best(cpp_spin_on_python, cpp_client("python+tcp://127.0.0.1:" + theirs_port, n,
                                                     tries, std::chrono::microseconds(spin_us)));
        }
    }
    // One core: both servers, the Python client and the C++ client (this process) on core 0
    // (the Python client inherits this process's affinity).
    Rates one_py_on_ipckit, one_py_on_python, one_cpp_on_python;
    {
        Server ours({IPCKIT_PROGRAM, "manager", "serve", "--address", "tcp://127.0.0.1:0",
                     "--authkey-file", key_file},
                    0);
        Server theirs(
            {python, "-u", IPCKIT_BENCH_DIR "/python/interop_bench.py", "serve", kAuthkey}, 0);
        std::string ours_port = port_of(ours.line()), theirs_port = port_of(theirs.line());
        ipckit::bench::pin_to_cpu(0);
        for (int r = 0; r < rounds; ++r) {
            keep_best(one_py_on_ipckit, python_client(python, ours_port, n, tries));
            keep_best(one_py_on_python, python_client(python, theirs_port, n, tries));
            keep_best(one_cpp_on_python,
                      cpp_client("python+tcp://127.0.0.1:" + theirs_port, n, tries));
        }
        ipckit::bench::unpin();
    }
    // The adaptive wait: the Python client against Python's server, ipckit's, and ipckit's
    // with --spin-us (it polls for the next request that long before sleeping), first
    // unpinned, then pinned (the client on core 0, the servers on core 1, as bench_support.hpp
    // pins its process pairs), with each server's CPU time per call (/proc/PID/stat: every
    // thread, those that ended included; the client's connect counts too).
    struct Config {
        Rates python, ipckit, spin;
        double cpu_python = 0, cpu_ipckit = 0, cpu_spin = 0;  // best (lowest) us per call
    };
    Config unpinned, pinned;
    const double calls_per_client = 4.0 * n * tries;  // n sets, n gets, n put+get pairs
    for (bool pin : {false, true}) {
        Config& c = pin ? pinned : unpinned;
        int cpu = pin ? 1 : -1;
        Server theirs(
            {python, "-u", IPCKIT_BENCH_DIR "/python/interop_bench.py", "serve", kAuthkey}, cpu);
        Server ours({IPCKIT_PROGRAM, "manager", "serve", "--address", "tcp://127.0.0.1:0",
                     "--authkey-file", key_file},
                    cpu);
        Server spinning({IPCKIT_PROGRAM, "manager", "serve", "--address", "tcp://127.0.0.1:0",
                         "--authkey-file", key_file, "--spin-us", std::to_string(spin_us)},
                        cpu);
        auto run = [&](const Server& server, Rates& best, double& cpu_us) {
            double before = cpu_seconds_of(server.pid());
            if (pin) ipckit::bench::pin_to_cpu(0);
            keep_best(best, python_client(python, port_of(server.line()), n, tries));
            if (pin) ipckit::bench::unpin();
            double per_call = (cpu_seconds_of(server.pid()) - before) / calls_per_client * 1e6;
            if (cpu_us == 0 || per_call < cpu_us) cpu_us = per_call;
        };
        for (int r = 0; r < rounds; ++r) {
            run(theirs, c.python, c.cpu_python);
            run(ours, c.ipckit, c.cpu_ipckit);
            run(spinning, c.spin, c.cpu_spin);
        }
    }
    std::remove(key_file.c_str());
    ::rmdir(dir.c_str());

    auto ratio = [](double a, double b) { return b > 0 ? a / b : 0.0; };
    std::printf(
        "Python's manager protocol over TCP loopback, calls/s (a put+get pair is 2 calls), "
        "best of %d rounds x %d tries of %d\n\n",
        rounds, tries, n);
    std::printf(
        "| operation     | Py client, Py server | Py client, ipckit server |  (a) ratio | "
        "C++ client, Py server |  (b) ratio | C++ client, spin |  (b) ratio |\n");
    std::printf(
        "|---------------|---------------------:|-------------------------:|-----------:|"
        "----------------------:|-----------:|-----------------:|-----------:|\n");
    bool ok = true;
    for (const char* op : kOps) {
        double base = py_on_python[op];
        ok = ok && base > 0 && py_on_ipckit[op] > 0;
        std::printf("| %-13s | %20.0f | %24.0f | %8.2f x | %21.0f | %8.2f x | %16.0f | %8.2f x |\n",
                    op, base, py_on_ipckit[op], ratio(py_on_ipckit[op], base), cpp_on_python[op],
                    ratio(cpp_on_python[op], base), cpp_spin_on_python[op],
                    ratio(cpp_spin_on_python[op], base));
    }
    std::printf(
        "\nthe Python client's own CPU time per call (its best try against ipckit's "
        "server) caps its rate, whatever the server:\n");
    for (const char* op : kOps) {
        double cap = py_on_ipckit[std::string(op) + "/ceiling"], base = py_on_python[op];
        std::printf("  %-13s %8.0f calls/s = %.2f x its rate against Python's server\n", op, cap,
                    ratio(cap, base));
    }
    std::printf("  1-byte TCP loopback ping-pong between two threads: %.0f round trips/s\n",
                loopback);
    std::printf(
        "\none core: every server and client on core 0 (no wake-up across cores), plain\n\n"
        "| operation     | Py client, Py server | Py client, ipckit server |  (a) ratio | "
        "C++ client, Py server |  (b) ratio |\n"
        "|---------------|---------------------:|-------------------------:|-----------:|"
        "----------------------:|-----------:|\n");
    for (const char* op : kOps) {
        double base = one_py_on_python[op];
        ok = ok && base > 0 && one_py_on_ipckit[op] > 0;
        std::printf("| %-13s | %20.0f | %24.0f | %8.2f x | %21.0f | %8.2f x |\n", op, base,
                    one_py_on_ipckit[op], ratio(one_py_on_ipckit[op], base), one_cpp_on_python[op],
                    ratio(one_cpp_on_python[op], base));
    }
    std::printf(
        "\nthe adaptive wait: ipckit's server with --spin-us %d, the same Python client; "
        "server CPU per call in parentheses (us)\n\n",
        spin_us);
    std::printf(
        "| operation     | cores    | Py server          | ipckit server      |  (a) ratio | "
        "ipckit, spin       |  (a) ratio |\n");
    std::printf(
        "|---------------|----------|-------------------:|-------------------:|-----------:|"
        "-------------------:|-----------:|\n");
    for (bool pin : {false, true}) {
        const Config& c = pin ? pinned : unpinned;
        for (const char* op : kOps) {
            double base = c.python.at(op);
            std::printf(
                "| %-13s | %-8s | %9.0f (%5.1f) | %9.0f (%5.1f) | %8.2f x | %9.0f (%5.1f) "
                "| %8.2f x |\n",
                op, pin ? "pinned" : "unpinned", base, c.cpu_python, c.ipckit.at(op), c.cpu_ipckit,
                ratio(c.ipckit.at(op), base), c.spin.at(op), c.cpu_spin,
                ratio(c.spin.at(op), base));
        }
    }
    std::printf(
        "\n(a) target >= 1.5 x: the same Python client, ipckit's server vs Python's\n"
        "(b) target >= 1.2 x: ipckit's C++ client vs the Python client, same Python "
        "server\n");
    return ok ? 0 : 1;
}
