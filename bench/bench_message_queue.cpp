// Message queue benchmark: ipckit vs plain msgsnd/msgrcv vs Python sysv_ipc, one run.
//
//   build/bench/bench_message_queue [--count N]
//
// One-way throughput (a sender process and a receiver process) and ping-pong round trip,
// at 16 B and 1 KiB. The adaptive-wait rows pin the two processes to separate cores and
// report the CPU both burn per round trip.
#include <sched.h>
#include <sys/msg.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "bench_cli.hpp"
#include "bench_support.hpp"
#include "ipckit/ipckit.hpp"

namespace sysv = ipckit::sysv;
using Clock = std::chrono::steady_clock;

namespace {

using namespace ipckit::bench;

struct Raw {
    long type;
    char text[8192];
};

sysv::MessageQueue fresh_queue() {
    return fresh_sysv_queue(8192);
}

// --- plain syscalls ---
double plain_throughput(std::size_t size, int count) {
    auto mq = fresh_queue();
    int id = mq.id();
    auto r = run_pair(
        [&] {
            Raw m{};
            m.type = 1;
            for (int i = 0; i < count; ++i)
                msgsnd(id, &m, size, 0);
        },
        [&] {
            Raw m{};
            for (int i = 0; i < count; ++i)
                msgrcv(id, &m, sizeof m.text, 0, 0);
        },
        false);
    return count / r.seconds;
}

Result plain_pingpong(std::size_t size, int count) {
    auto mq = fresh_queue();
    int id = mq.id();
    return run_pair(
        [&] {
            Raw m{};
            for (int i = 0; i < count; ++i) {
                m.type = 1;
                msgsnd(id, &m, size, 0);
                msgrcv(id, &m, sizeof m.text, 2, 0);
            }
        },
        [&] {
            Raw m{};
            for (int i = 0; i < count; ++i) {
                ssize_t n = msgrcv(id, &m, sizeof m.text, 1, 0);
                m.type = 2;
                msgsnd(id, &m, static_cast<std::size_t>(n), 0);
            }
        },
        false);
}

// --- ipckit ---
double ipckit_throughput(std::size_t size, int count) {
    auto mq = fresh_queue();
    sysv::MessageBuffer message(size);
    message.assign(std::string(size, 'x'), 1);
    auto r = run_pair(
        [&] {
            for (int i = 0; i < count; ++i)
                mq.send(message);
        },
        [&] {
            sysv::MessageBuffer buffer(8192);
            for (int i = 0; i < count; ++i)
                mq.receive_into(buffer);
        },
        false);
    return count / r.seconds;
}

Result ipckit_pingpong(std::size_t size, int count, std::chrono::nanoseconds spin, bool pin) {
    auto mq = fresh_queue();
    return sysv_pingpong(mq, size, count, spin, pin);
}

// --- Python ---
double python(const std::string& mode, std::size_t size, int count) {
    std::string command = "/usr/bin/python3 " IPCKIT_BENCH_DIR "/python/mq_bench.py " + mode + " " +
                          std::to_string(size) + " " + std::to_string(count);
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) return 0;
    double value = 0;
    if (std::fscanf(pipe, "%lf", &value) != 1) value = 0;
    pclose(pipe);
    return value;
}

void row(const std::string& name, double value, const char* unit, double baseline,
         const char* baseline_name) {
    std::printf("| %-52s | %12.0f %-6s | %6.2f x %-10s |\n", name.c_str(), value, unit,
                baseline > 0 ? value / baseline : 0.0, baseline_name);
}
void row_us(const std::string& name, double us, double baseline_us, const char* baseline_name,
            const std::string& note = "") {
    std::printf("| %-52s | %12.2f %-6s | %6.2f x %-10s | %s\n", name.c_str(), us, "us",
                baseline_us > 0 ? baseline_us / us : 0.0, baseline_name, note.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    ipckit::bench::ignore_closed_output();
    CLI::App app{
        "ipckit's System V message queue against plain msgsnd/msgrcv and Python's "
        "sysv_ipc: one-way throughput and ping-pong round trip at 16 B and 1 KiB.",
        "bench_message_queue"};
    int count = 200000;
    ipckit::bench::add_whole_number(app, "--count", count,
                                    "messages a throughput run (ping-pong: a quarter)", 4);
    if (auto status = ipckit::bench::parse_command_line(app, argc, argv)) return *status;
    const int pp_count = count / 4;
    std::printf("messages per run: %d (throughput), %d (ping-pong)\n\n", count, pp_count);
    std::printf("| %-52s | %19s | %19s |\n", "one-way throughput", "msg/s", "ratio (speed)");
    std::printf("|%s|%s|%s|\n", std::string(54, '-').c_str(), std::string(21, '-').c_str(),
                std::string(21, '-').c_str());
    for (std::size_t size : {std::size_t{16}, std::size_t{1024}}) {
        std::string label = std::to_string(size) + " B";
        double plain = plain_throughput(size, count);
        double ours = ipckit_throughput(size, count);
        double py = python("throughput", size, count);
        row("plain msgsnd/msgrcv, " + label, plain, "msg/s", plain, "plain");
        row("ipckit send/receive_into, " + label, ours, "msg/s", plain, "plain");
        row("Python sysv_ipc, " + label, py, "msg/s", plain, "plain");
        row("ipckit vs Python, " + label, ours, "msg/s", py, "Python");
    }

    std::printf("\n| %-52s | %19s | %19s |\n", "ping-pong round trip", "time", "ratio (speed)");
    std::printf("|%s|%s|%s|\n", std::string(54, '-').c_str(), std::string(21, '-').c_str(),
                std::string(21, '-').c_str());
    for (std::size_t size : {std::size_t{16}, std::size_t{1024}}) {
        std::string label = std::to_string(size) + " B";
        auto plain = plain_pingpong(size, pp_count);
        double plain_us = plain.seconds / pp_count * 1e6;
        auto ours = ipckit_pingpong(size, pp_count, std::chrono::nanoseconds(0), false);
        double ours_us = ours.seconds / pp_count * 1e6;
        double py_us = python("pingpong", size, pp_count);
        row_us("plain msgsnd/msgrcv, " + label, plain_us, plain_us, "plain");
        row_us("ipckit, " + label, ours_us, plain_us, "plain");
        row_us("Python sysv_ipc, " + label, py_us, plain_us, "plain");
        for (auto spin : {std::chrono::microseconds(20), std::chrono::microseconds(50)}) {
            auto adaptive = ipckit_pingpong(size, pp_count, spin, true);
            double us = adaptive.seconds / pp_count * 1e6;
            double cpu_us = adaptive.cpu_seconds / pp_count * 1e6;
            char note[128];
            std::snprintf(note, sizeof note, "CPU %.2f us per round trip (both processes)", cpu_us);
            row_us("ipckit adaptive wait " + std::to_string(spin.count()) +
                       " us, separate cores, " + label,
                   us, plain_us, "plain", note);
        }
    }
    return 0;
}
