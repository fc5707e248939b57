// What docs/manager.md claims about the local manager's server process, proven with real
// processes: it stops when its owner dies (the lifeline), the destructor SIGKILLs a server
// that does not stop after 5 s, it ignores SIGINT from the moment the constructor returns,
// it keeps none of the owner's descriptors; and `ipckit manager serve` removes its socket
// on SIGINT and SIGTERM.
#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "claims_support.hpp"
#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "support.hpp"

using ipckit::Manager;
using ipckit::test::claims::Pipe;
using ipckit::test::claims::proc_state;
using ipckit::test::claims::wait_child;
using ipckit::test::claims::wait_for_state;
using namespace std::chrono_literals;

namespace {

int pidfd_open(pid_t pid) {
    return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
}
// True when the process behind the pidfd has ended (exited or been killed).
bool pidfd_ended(int pidfd, std::chrono::milliseconds timeout) {
    pollfd p{pidfd, POLLIN, 0};
    for (;;) {
        int rc = ::poll(&p, 1, static_cast<int>(timeout.count()));
        if (rc < 0 && errno == EINTR) continue;
        return rc > 0;
    }
}
// True when the process is gone for good (reaped): no signal can reach it.
bool reaped(int pidfd) {
    return ::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) != 0 && errno == ESRCH;
}

std::string directory_of(const std::string& address) {  // "unix:/tmp/ipckit-manager-X/socket"
    return std::filesystem::path(address.substr(5)).parent_path().string();
}

// "<server pid> <address>"
struct Report {
    pid_t server = 0;
    std::string address;
};
std::optional<Report> parse_report(const std::string& line) {
    std::istringstream in(line);
    Report r;
    if (!(in >> r.server >> r.address) || r.server <= 0) return std::nullopt;
    return r;
}

// The targets of /proc/PID/fd/*, by descriptor number.
std::map<int, std::string> descriptors_of(pid_t pid) {
    std::map<int, std::string> out;
    std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        std::error_code ec;
        auto target = std::filesystem::read_symlink(entry.path(), ec);
        if (!ec) out[std::stoi(entry.path().filename().string())] = target.string();
    }
    return out;
}

}  // namespace

TEST(ClaimsManager, LifelineStopsTheServerWhenItsOwnerIsKilled) {
    // The orphaned server is reparented to us, so that we can reap it and read its status.
    ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    struct ResetSubreaper {
        ~ResetSubreaper() { ::prctl(PR_SET_CHILD_SUBREAPER, 0); }
    } reset;
    Pipe report, hold;
    pid_t owner = ::fork();
    ASSERT_GE(owner, 0);
    if (owner == 0) {
        int code = 0;
        try {
            Manager m;
            auto d = m.dict();
            d["alive"] = true;
            report.put(std::to_string(m.server_pid()) + " " + m.address() + "\n");
            hold.get(1, 120s);  // until killed
        } catch (...) {
            code = 1;
        }
        ::_exit(code);
    }
    auto r = parse_report(report.line());
    if (!r) {
        ::kill(owner, SIGKILL);
        wait_child(owner);
        FAIL() << "the owner did not report its server";
    }
    int pidfd = pidfd_open(r->server);
    ASSERT_GE(pidfd, 0);
    EXPECT_FALSE(pidfd_ended(pidfd, 0ms)) << "the server is running while its owner lives";

    ASSERT_EQ(::kill(owner, SIGKILL), 0);  // no destructor, no shutdown request
    auto owner_status = wait_child(owner);
    ASSERT_TRUE(owner_status);
    EXPECT_TRUE(WIFSIGNALED(*owner_status) && WTERMSIG(*owner_status) == SIGKILL);

    bool ended = pidfd_ended(pidfd, 30s);
    if (!ended) ::kill(r->server, SIGKILL);
    int status = 0;
    pid_t reaped_pid = 0;
    while ((reaped_pid = ::waitpid(r->server, &status, 0)) < 0 && errno == EINTR) {
    }
    ::close(pidfd);
    bool socket_left =
        std::filesystem::exists(std::filesystem::symlink_status(r->address.substr(5)));
    bool directory_left = std::filesystem::exists(directory_of(r->address));
    std::error_code ec;
    std::filesystem::remove_all(directory_of(r->address), ec);  // (if the server did not)
    ASSERT_TRUE(ended) << "the server went on after its owner died";
    ASSERT_EQ(reaped_pid, r->server) << "the orphaned server was not reparented to the test";
    // It ended by itself (exit 0), not by a signal, and removed its socket and the socket's
    // directory on the way (the killed owner could not).
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
    EXPECT_FALSE(socket_left);
    EXPECT_FALSE(directory_left) << "the server left " << directory_of(r->address);
}

class ClaimsManagerStoppedServer : public ::testing::TestWithParam<bool> {};

// A SIGSTOPped server answers nothing: the destructor's shutdown request and its wait
// together give up after 5 s, then SIGKILL the server (a stopped process can do nothing
// by itself, so its disappearance is the destructor's SIGKILL) and reap it.
TEST_P(ClaimsManagerStoppedServer, DestructorSigkillsItAfterFiveSeconds) {
    const bool connection_open = GetParam();
    Pipe report, go;
    pid_t owner = ::fork();
    ASSERT_GE(owner, 0);
    if (owner == 0) {
        int code = 0;
        try {
            std::optional<Manager> m(std::in_place);
            if (connection_open) m->stats();
            report.put(std::to_string(m->server_pid()) + " " + m->address() + "\n");
            if (go.get(1, 60s) != "g") ::_exit(2);
            auto start = std::chrono::steady_clock::now();
            m.reset();
            auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - start);
            report.put(std::to_string(took.count()) + "\n");
        } catch (...) {
            code = 1;
        }
        ::_exit(code);
    }
    auto r = parse_report(report.line());
    if (!r) {
        ::kill(owner, SIGKILL);
        wait_child(owner);
        FAIL() << "the owner did not report its server";
    }
    int pidfd = pidfd_open(r->server);
    ASSERT_GE(pidfd, 0);
    ASSERT_EQ(::kill(r->server, SIGSTOP), 0);
    ASSERT_TRUE(wait_for_state(r->server, 'T'));
    go.put("g");
    std::string took = report.line(60s);
    auto owner_status = wait_child(owner, 30s);
    if (!reaped(pidfd)) ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
    ::close(pidfd);
    std::error_code ec;
    bool directory_left = std::filesystem::exists(directory_of(r->address));
    std::filesystem::remove_all(directory_of(r->address), ec);
    ASSERT_FALSE(took.empty()) << "the destructor hung on a stopped server";
    ASSERT_TRUE(owner_status);
    EXPECT_TRUE(WIFEXITED(*owner_status) && WEXITSTATUS(*owner_status) == 0);
    long ms = std::stol(took);
    EXPECT_GE(ms, 4500) << "the destructor gave the server less than its 5 s";
    EXPECT_LT(ms, 9500) << "the destructor took far longer than its 5 s";
    EXPECT_FALSE(directory_left);
}
INSTANTIATE_TEST_SUITE_P(, ClaimsManagerStoppedServer, ::testing::Bool(),
                         [](const auto& param_info) {
                             return param_info.param ? "AfterACall" : "BeforeAnyCall";
                         });

TEST(ClaimsManager, ForkedServerIgnoresSigint) {
    // The owner catches SIGINT and SIGUSR1: the server runs neither handler.
    struct sigaction counting {
    }, old_int{}, old_usr1{};
    counting.sa_handler = ipckit::test::claims::counting_handler;
    sigemptyset(&counting.sa_mask);
    ASSERT_EQ(::sigaction(SIGINT, &counting, &old_int), 0);
    ASSERT_EQ(::sigaction(SIGUSR1, &counting, &old_usr1), 0);
    struct Restore {
        struct sigaction int_action, usr1_action;
        ~Restore() {
            ::sigaction(SIGINT, &int_action, nullptr);
            ::sigaction(SIGUSR1, &usr1_action, nullptr);
        }
    } restore{old_int, old_usr1};
    Manager m;
    auto d = m.dict();
    d["before"] = 1;  // the server is serving, past its start-up
    pid_t server = m.server_pid();
    auto ignored = ipckit::test::claims::signal_mask(server, "SigIgn");
    EXPECT_TRUE(ipckit::test::claims::in_mask(ignored, SIGINT));
    EXPECT_EQ(ipckit::test::claims::signal_mask(server, "SigBlk"), 0u) << "nothing stays blocked";
    auto caught = ipckit::test::claims::signal_mask(server, "SigCgt");
    for (int signo : {SIGINT, SIGUSR1, SIGTERM, SIGHUP})
        EXPECT_FALSE(ipckit::test::claims::in_mask(caught, signo))
            << "the server catches " << signo;
    for (int i = 0; i < 3; ++i)
        ASSERT_EQ(::kill(server, SIGINT), 0);
    d["after"] = 2;  // one round trip after the signals: they were delivered (and ignored)
    EXPECT_EQ(d.repr(), "{'before': 1, 'after': 2}");
    EXPECT_NE(proc_state(server).value_or('X'), 'Z');
}

// The bug: the server used to start with the owner's dispositions and set SIG_IGN only once
// it ran; a SIGINT in between (Ctrl-C right after the constructor) killed it and the next
// call failed. Signals are now blocked across the fork.
TEST(ClaimsManager, SigintRightAfterTheConstructorNeverKillsTheServer) {
    int failures = 0;
    for (int i = 0; i < 100; ++i) {
        Manager m;
        ASSERT_EQ(::kill(m.server_pid(), SIGINT), 0);
        try {
            m.stats();
        } catch (const ipckit::Error& e) {
            ++failures;
            ADD_FAILURE() << "try " << i << ": " << e.what();
            if (failures >= 3) break;
        }
    }
    EXPECT_EQ(failures, 0);
}

// Ctrl-C to the whole process group, right after construction: the owner's handler runs in
// the owner only (never in a server that has not yet set its own dispositions), and every
// server survives. Run in a process group of its own, so that only it gets the signals.
TEST(ClaimsManager, CtrlCToTheGroupRightAfterTheConstructorReachesOnlyTheOwner) {
    constexpr int tries = 60;
    Pipe pids;
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        ::setpgid(0, 0);
        ::close(pids.read_end());
        static int pid_pipe = -1;
        pid_pipe = pids.write_end();
        struct sigaction action {};
        action.sa_handler = [](int) {
            int saved = errno;
            pid_t me = ::getpid();
            [[maybe_unused]] ssize_t n = ::write(pid_pipe, &me, sizeof me);
            errno = saved;
        };
        sigemptyset(&action.sa_mask);
        ::sigaction(SIGINT, &action, nullptr);
        int failed = 0;
        for (int i = 0; i < tries; ++i) {
            try {
                Manager m;
                ::kill(0, SIGINT);
                m.stats();
            } catch (...) {
                ++failed;
            }
        }
        ::_exit(failed == 0 ? 0 : 10 + std::min(failed, 100));
    }
    pids.close_write();
    auto status = wait_child(child, 120s);
    std::string bytes = pids.get(sizeof(pid_t) * (tries + 100), 5s);  // EOF: every writer is gone
    ASSERT_TRUE(status) << "the owner hung";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << "calls failed after Ctrl-C: status " << *status;
    ASSERT_EQ(bytes.size() % sizeof(pid_t), 0u);
    std::size_t in_owner = 0, elsewhere = 0;
    for (std::size_t at = 0; at < bytes.size(); at += sizeof(pid_t)) {
        pid_t who;
        std::memcpy(&who, bytes.data() + at, sizeof who);
        (who == child ? in_owner : elsewhere) += 1;
    }
    EXPECT_EQ(in_owner, static_cast<std::size_t>(tries));
    EXPECT_EQ(elsewhere, 0u) << "the owner's SIGINT handler ran in a server";
}

TEST(ClaimsManager, ForkedServerKeepsNoneOfTheOwnersDescriptors) {
    Pipe with_cloexec;  // O_CLOEXEC does not matter to fork: both kinds are inherited
    int plain[2];
    ASSERT_EQ(::pipe(plain), 0);
    auto ours = descriptors_of(::getpid());
    Manager m;
    m.stats();  // the server is serving: past closing what it inherited
    auto theirs = descriptors_of(m.server_pid());
    std::set<std::string> our_pipes;
    for (const auto& [fd, target] : ours) {
        if (target.rfind("pipe:", 0) == 0) our_pipes.insert(target);
    }
    ASSERT_GE(our_pipes.size(), 2u);
    int pipes = 0, sockets = 0, reserved = 0, epolls = 0;
    for (const auto& [fd, target] : theirs) {
        if (fd <= 1) {
            EXPECT_EQ(target, "/dev/null") << "fd " << fd;
            continue;
        }
        if (fd == 2) continue;  // stderr is kept, for the server's last words
        if (target.rfind("pipe:", 0) == 0) {
            ++pipes;
            EXPECT_EQ(our_pipes.count(target), 0u) << "the server holds the owner's " << target;
        } else if (target.rfind("socket:", 0) == 0) {
            ++sockets;
        } else if (target == "/dev/null") {
            ++reserved;  // the server's own spare, to refuse connections when out of descriptors
        } else if (target == "anon_inode:[eventpoll]") {
            ++epolls;  // the server's own event loop (epoll)
        } else {
            ADD_FAILURE() << "the server holds fd " << fd << " -> " << target;
        }
    }
    EXPECT_EQ(pipes, 1) << "only the lifeline";
    EXPECT_EQ(sockets, 2) << "the listener and our connection";
    EXPECT_LE(reserved, 1) << "one spare descriptor at most";
    EXPECT_EQ(epolls, 1) << "the server's own epoll instance";

    // What it means: a reader waiting for EOF on our pipes is not kept waiting by the server.
    with_cloexec.close_write();
    ::close(plain[1]);
    EXPECT_EQ(with_cloexec.get(1, 10s), "");
    pollfd p{plain[0], POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 10000), 1);
    char c;
    EXPECT_EQ(::read(plain[0], &c, 1), 0);
    ::close(plain[0]);
}

class ClaimsManagerServe : public ::testing::TestWithParam<int> {};

TEST_P(ClaimsManagerServe, RemovesItsUnixSocketWhenStoppedBySignal) {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "ipckit-claims-XXXXXX").string();
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    struct Remove {
        std::string path;
        ~Remove() {
            std::error_code ec;
            std::filesystem::remove_all(path, ec);
        }
    } remove{pattern};
    std::string socket = pattern + "/socket";
    { std::ofstream(pattern + "/key") << "k\n"; }
    ASSERT_EQ(::chmod((pattern + "/key").c_str(), 0600), 0);  // serve refuses a readable key
    ipckit::test::Child server({ipckit::test::ipckit_program(), "manager", "serve", "--address",
                                "unix:" + socket, "--authkey-file", pattern + "/key"});
    ASSERT_NE(server.read_until("\n").find("serving at unix:" + socket), std::string::npos);
    struct stat st {};
    ASSERT_EQ(::lstat(socket.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    {
        auto m = Manager::connect("unix:" + socket, "k");
        EXPECT_EQ(m.dict("d").repr(), "{}");
    }
    server.signal(GetParam());
    auto end = server.wait(30s);
    EXPECT_EQ(end.exit_code, 0) << end.err;
    EXPECT_NE(end.out.find("ipckit manager stopped"), std::string::npos) << end.out;
    EXPECT_FALSE(std::filesystem::exists(std::filesystem::symlink_status(socket)))
        << "the socket file was left behind";
}
INSTANTIATE_TEST_SUITE_P(, ClaimsManagerServe, ::testing::Values(SIGINT, SIGTERM),
                         [](const auto& param_info) {
                             return param_info.param == SIGINT ? "Sigint" : "Sigterm";
                         });
