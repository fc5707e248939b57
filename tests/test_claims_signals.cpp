// "A signal never makes a call fail" (README, ipckit/signals.hpp): each blocking call is
// interrupted by a handled signal (a counting handler without SA_RESTART, so the system
// call returns EINTR) that certainly lands while the call is blocked, and then completes
// normally once unblocked.
//
// The pattern, in every test: a child process makes the blocking call; the test waits until
// /proc shows the child asleep (state S) in the system call that blocks (/proc/PID/syscall)
// after a handshake, sends SIGUSR1, waits for the handler's byte (it ran), waits until the
// child sleeps in that system call again (the retry) without the call having returned,
// unblocks it, and reads the result: the call completed normally, one signal handled.
#include <gtest/gtest.h>
#include <sys/msg.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <string>

#include "claims_support.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/process.hpp"
#include "ipckit/shared.hpp"
#include "ipckit/sysv/message_queue.hpp"

using ipckit::test::claims::blocked_syscall;
using ipckit::test::claims::handled_signals;
using ipckit::test::claims::install_counting_handler;
using ipckit::test::claims::Pipe;
using ipckit::test::claims::proc_state;
using ipckit::test::claims::wait_child;
using ipckit::test::claims::wait_for_state;
using namespace std::chrono_literals;

namespace {

// The pipes between the test and the child making the blocking call.
struct Channels {
    Pipe ready;    // child -> test: about to call
    Pipe handled;  // the child's handler -> test: one byte per signal handled
    Pipe result;   // child -> test: "ok <signals handled> <detail>" or "error <what>"
};

// In the child: runs the blocking call and reports; never returns.
template <class F>
[[noreturn]] void run_blocking_call(Channels& c, F&& call) {
    int code = 0;
    try {
        install_counting_handler(SIGUSR1, c.handled.write_end());
        c.ready.put("r");
        std::string detail = call();
        c.result.put("ok " + std::to_string(handled_signals) + " " + detail + "\n");
    } catch (const std::exception& e) {
        c.result.put(std::string("error ") + e.what() + "\n");
        code = 1;
    } catch (...) {
        c.result.put("error unknown\n");
        code = 1;
    }
    ::_exit(code);
}

// Waits until the child sleeps in the kernel (state S) inside `syscall` (/proc/PID/syscall);
// fails at once, with the child's report, if the call returned instead (it must not: it is
// blocked, or retried).
void wait_until_blocked(pid_t child, Channels& c, long syscall, const char* what) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    for (;;) {
        pollfd p{c.result.read_end(), POLLIN, 0};
        ASSERT_EQ(::poll(&p, 1, 0), 0) << what << ": the call returned: " << c.result.line(1s);
        if (proc_state(child) == 'S' && blocked_syscall(child) == syscall) return;
        ASSERT_LT(std::chrono::steady_clock::now(), deadline)
            << what << ": the child never slept in system call " << syscall << " (state "
            << proc_state(child).value_or('?') << ", in " << blocked_syscall(child).value_or(-1)
            << ")";
        ::usleep(200);  // reading the kernel's state again, not sleeping in hope
    }
}

// In the test: interrupts the blocked child once and checks it went back to waiting.
void interrupt_while_blocked(pid_t child, Channels& c, long syscall) {
    ASSERT_EQ(c.ready.get(1), "r");
    ASSERT_NO_FATAL_FAILURE(wait_until_blocked(child, c, syscall, "before the signal"));
    ASSERT_EQ(::kill(child, SIGUSR1), 0);
    ASSERT_EQ(c.handled.get(1, 30s), "h") << "the handler did not run";
    // Back to sleep in the same system call: the interrupted call was retried.
    ASSERT_NO_FATAL_FAILURE(wait_until_blocked(child, c, syscall, "after the signal"));
}

void expect_completed(pid_t child, Channels& c, const std::string& detail) {
    std::string line = c.result.line(30s);
    auto status = wait_child(child, 30s);
    EXPECT_EQ(line, "ok 1 " + detail);
    ASSERT_TRUE(status);
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << "status " << *status;
}

// Removes the queue even when the test fails.
struct QueueId {
    int id = -1;
    ~QueueId() {
        if (id >= 0) ::msgctl(id, IPC_RMID, nullptr);
    }
};

struct RawMessage {
    long type;
    char text[64];
};

}  // namespace

TEST(ClaimsSignals, BlockingSendOnAFullQueueIsRetried) {
    QueueId q;
    q.id = ::msgget(IPC_PRIVATE, IPC_CREAT | 0600);
    ASSERT_GE(q.id, 0);
    msqid_ds ds{};
    ASSERT_EQ(::msgctl(q.id, IPC_STAT, &ds), 0);
    ds.msg_qbytes = 16;  // room for two 8-byte messages
    ASSERT_EQ(::msgctl(q.id, IPC_SET, &ds), 0);
    RawMessage m{1, "filler!"};
    int sent = 0;
    while (::msgsnd(q.id, &m, 8, IPC_NOWAIT) == 0)
        ++sent;
    ASSERT_EQ(errno, EAGAIN);
    ASSERT_EQ(sent, 2);

    Channels c;
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        run_blocking_call(c, [&] {
            auto mq = ipckit::sysv::MessageQueue::from_id(q.id);
            mq.send("blocked", ipckit::sysv::type(5));
            return std::string("sent");
        });
    }
    interrupt_while_blocked(child, c, SYS_msgsnd);
    ASSERT_EQ(::msgctl(q.id, IPC_STAT, &ds), 0);
    EXPECT_EQ(ds.msg_qnum, 2u) << "nothing was sent while blocked";
    // Make room: the retried send goes through.
    RawMessage got{};
    ASSERT_EQ(::msgrcv(q.id, &got, sizeof got.text, 0, IPC_NOWAIT), 8);
    expect_completed(child, c, "sent");
    ASSERT_EQ(::msgrcv(q.id, &got, sizeof got.text, 5, IPC_NOWAIT), 7);
    EXPECT_EQ(std::string(got.text, 7), "blocked");
}

TEST(ClaimsSignals, SharedLockWaitIsRetried) {
    ipckit::Value<int> value(0);
    Channels c;
    auto held = value.lock();  // held by this process while the child waits for it
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        run_blocking_call(c, [&] {
            value.set(42);  // takes the lock: waits
            return std::string("set");
        });
    }
    interrupt_while_blocked(child, c, SYS_futex);
    EXPECT_EQ(held.value(), 0) << "the child wrote without the lock";
    held.unlock();
    expect_completed(child, c, "set");
    EXPECT_EQ(value.value().get(), 42);
}

TEST(ClaimsSignals, ProcessJoinIsRetried) {
    Channels c;
    Pipe release;
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        run_blocking_call(c, [&] {
            ipckit::Process worker([&] {
                if (release.get(1, 60s) != "x") ::_exit(3);
                ::_exit(7);
            });
            worker.start();
            worker.join();  // waits for the worker
            return "joined " + std::to_string(worker.exitcode().value_or(-100));
        });
    }
    interrupt_while_blocked(child, c, SYS_wait4);
    release.put("x");
    expect_completed(child, c, "joined 7");
}

TEST(ClaimsSignals, ManagerCallIsRetried) {
    ipckit::Manager m;
    auto d = m.dict();
    d["k"] = "v";
    pid_t server = m.server_pid();
    Channels c;
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        run_blocking_call(c, [&] {
            d.get("k");        // this process's own connection, while the server answers
            ::raise(SIGSTOP);  // the test stops the server meanwhile
            return d.get("k").as_string();  // no answer until the server continues
        });
    }
    struct ContinueServer {
        pid_t pid;
        ~ContinueServer() { ::kill(pid, SIGCONT); }
    } continue_server{server};
    ASSERT_EQ(c.ready.get(1), "r");
    ASSERT_TRUE(wait_for_state(child, 'T'));
    ASSERT_EQ(::kill(server, SIGSTOP), 0);
    ASSERT_TRUE(wait_for_state(server, 'T'));
    ASSERT_EQ(::kill(child, SIGCONT), 0);
    ASSERT_NO_FATAL_FAILURE(wait_until_blocked(child, c, SYS_recvfrom, "before the signal"));
    ASSERT_EQ(::kill(child, SIGUSR1), 0);
    ASSERT_EQ(c.handled.get(1, 30s), "h") << "the handler did not run";
    ASSERT_NO_FATAL_FAILURE(wait_until_blocked(child, c, SYS_recvfrom, "after the signal"));
    ASSERT_EQ(::kill(server, SIGCONT), 0);
    expect_completed(child, c, "v");
    EXPECT_EQ(d.get("k").as_string(), "v");
}
