// What the process-pair benchmarks share (bench_queue, bench_message_queue): running a
// parent and a forked child against each other, optionally pinned to separate cores, with
// the CPU both spent; and the System V ping-pong baseline.
#pragma once

#include <sched.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstddef>
#include <functional>
#include <iostream>
#include <optional>
#include <string>

#include "ipckit/sysv/message_queue.hpp"

namespace ipckit::bench {

// System V objects outlive a killed process. A bench whose output is a pipe that closes
// (`bench_queue | head`) must not die of SIGPIPE in the middle of a measurement, with a
// queue or semaphore made: it runs to its end instead (its writes fail) and removes them.
inline void ignore_closed_output() {
    std::signal(SIGPIPE, SIG_IGN);
}

inline void pin_to_cpu(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

inline void unpin() {
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int i = 0; i < CPU_SETSIZE; ++i)
        CPU_SET(i, &all);
    sched_setaffinity(0, sizeof all, &all);
}

// User + system CPU seconds of RUSAGE_SELF or RUSAGE_CHILDREN.
inline double cpu_seconds(int who) {
    rusage usage{};
    getrusage(who, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

struct Result {
    double seconds;
    double cpu_seconds;  // both processes
};

// `child` in a forked process, `parent` here (pinned to cores 1 and 0 with `pin`); times the
// parent's part and the wait for the child.
inline Result run_pair(const std::function<void()>& parent, const std::function<void()>& child,
                       bool pin) {
    const double children_before = cpu_seconds(RUSAGE_CHILDREN);
    const double self_before = cpu_seconds(RUSAGE_SELF);
    std::cout.flush();
    pid_t pid = fork();
    if (pid == 0) {
        if (pin) pin_to_cpu(1);
        child();
        _exit(0);
    }
    if (pin) pin_to_cpu(0);
    auto start = std::chrono::steady_clock::now();
    parent();
    waitpid(pid, nullptr, 0);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (pin) unpin();
    return {seconds, (cpu_seconds(RUSAGE_CHILDREN) - children_before) +
                         (cpu_seconds(RUSAGE_SELF) - self_before)};
}

// A private System V queue of `max_bytes`, removed at the end of its scope.
inline sysv::MessageQueue fresh_sysv_queue(std::size_t max_bytes) {
    sysv::MessageQueue mq(std::nullopt, sysv::IPC_CREX, sysv::default_mode, max_bytes);
    mq.set_auto_remove(true);
    return mq;
}

// Ping-pong over one System V queue: requests of type 1, replies of type 2; `spin` is the
// receive's adaptive wait.
inline Result sysv_pingpong(sysv::MessageQueue& mq, std::size_t size, int count,
                            std::chrono::nanoseconds spin, bool pin) {
    sysv::MessageBuffer request(size);
    request.assign(std::string(size, 'x'), 1);
    sysv::ReceiveOptions wait_reply;
    wait_reply.type = 2;
    wait_reply.spin = spin;
    sysv::ReceiveOptions wait_request;
    wait_request.type = 1;
    wait_request.spin = spin;
    return run_pair(
        [&] {
            sysv::MessageBuffer buffer(8192);
            for (int i = 0; i < count; ++i) {
                mq.send(request);
                mq.receive_into(buffer, wait_reply);
            }
        },
        [&] {
            sysv::MessageBuffer buffer(8192);
            for (int i = 0; i < count; ++i) {
                mq.receive_into(buffer, wait_request);
                buffer.set_type(2);
                mq.send(buffer);
            }
        },
        pin);
}

}  // namespace ipckit::bench
