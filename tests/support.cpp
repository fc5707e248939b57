#include "support.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <utility>

namespace ipckit::test {
namespace {
using Clock = std::chrono::steady_clock;

void make_pipe(int fds[2]) {
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
}
}  // namespace

Child::Child(const std::vector<std::string>& argv, bool merge_stderr) {
    ::signal(SIGPIPE, SIG_IGN);  // a child that exits early must not kill the test
    int in[2], out[2], err[2];
    make_pipe(in);
    make_pipe(out);
    make_pipe(err);
    pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        // The program dies with the test binary, even one killed before its destructors ran
        // (ctest's timeout, a sanitizer's abort). Every Child lives no longer than the thread
        // that started it, which is when the kernel sends this.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(127);  // it died before the prctl
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(merge_stderr ? out[1] : err[1], 2);
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    note_child_process(pid_);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    in_ = in[1];
    out_ = out[0];
    err_ = err[0];
}

Child::Child(Child&& o) noexcept
    : pid_(std::exchange(o.pid_, -1)),
      in_(std::exchange(o.in_, -1)),
      out_(std::exchange(o.out_, -1)),
      err_(std::exchange(o.err_, -1)),
      out_buffer_(std::move(o.out_buffer_)),
      err_buffer_(std::move(o.err_buffer_)) {}

Child::~Child() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    for (int fd : {in_, out_, err_}) {
        if (fd >= 0) ::close(fd);
    }
}

void Child::write(const std::string& text) {
    std::size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(in_, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw std::runtime_error("write to child failed");
        done += static_cast<std::size_t>(n);
    }
}

void Child::close_stdin() {
    if (in_ >= 0) ::close(in_);
    in_ = -1;
}

void Child::signal(int signo) {
    if (pid_ > 0) ::kill(pid_, signo);
}

bool Child::pump(std::chrono::milliseconds timeout) {
    pollfd fds[2];
    int count = 0;
    if (out_ >= 0) fds[count++] = {out_, POLLIN, 0};
    if (err_ >= 0) fds[count++] = {err_, POLLIN, 0};
    if (count == 0) return false;
    int r = ::poll(fds, static_cast<nfds_t>(count), static_cast<int>(timeout.count()));
    if (r <= 0) return true;
    for (int i = 0; i < count; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        char buffer[65536];
        ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
        bool is_out = fds[i].fd == out_;
        if (n > 0) {
            (is_out ? out_buffer_ : err_buffer_).append(buffer, static_cast<std::size_t>(n));
        } else if (n == 0 || errno != EINTR) {
            ::close(fds[i].fd);
            (is_out ? out_ : err_) = -1;
        }
    }
    return out_ >= 0 || err_ >= 0;
}

std::string Child::read_until(const std::string& text, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (out_buffer_.find(text) == std::string::npos) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) break;
        if (!pump(left)) break;
    }
    return out_buffer_;
}

RunResult Child::wait(std::chrono::milliseconds timeout) {
    close_stdin();
    auto deadline = Clock::now() + timeout;
    bool timed_out = false;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        if (!pump(left)) break;
    }
    RunResult result;
    if (timed_out) ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    result.out = out_buffer_;
    result.err = err_buffer_;
    if (timed_out) result.err += "\n[test support: killed after the timeout]";
    return result;
}

RunResult run(const std::vector<std::string>& argv, const std::string& input,
              std::chrono::milliseconds timeout) {
    Child child(argv);
    if (!input.empty()) child.write(input);
    return child.wait(timeout);
}

std::string ipckit_program() {
#ifdef IPCKIT_PROGRAM
    return IPCKIT_PROGRAM;
#else
    // Tests that run the program are declared NEEDS_APP and not built without it.
    throw std::logic_error("the ipckit program is not built (IPCKIT_BUILD_APPS=OFF)");
#endif
}
std::string python_script(const std::string& name) {
    return std::string(IPCKIT_SOURCE_DIR) + "/tests/python/" + name;
}

namespace {

std::string read_small_file(const std::string& path, bool* readable = nullptr) {
    std::string text;
    FILE* f = std::fopen(path.c_str(), "r");
    if (readable) *readable = f != nullptr;
    if (!f) return text;
    char buffer[512];
    std::size_t n = std::fread(buffer, 1, sizeof buffer, f);
    if (n == 0 && std::ferror(f) && readable) *readable = false;  // EPERM on read
    std::fclose(f);
    text.assign(buffer, n);
    return text;
}

// The state letter of /proc/TID/stat ("pid (comm) S ..."; it follows the last ')'), or 0.
char task_state(pid_t tid) {
    std::string stat = read_small_file("/proc/" + std::to_string(tid) + "/stat");
    auto paren = stat.rfind(')');
    if (paren == std::string::npos || paren + 2 >= stat.size()) return 0;
    return stat[paren + 2];
}

// The system calls that each name may show in /proc/TID/syscall (glibc may implement one
// call with another: semop with semtimedop, nanosleep with clock_nanosleep, recv with
// recvfrom).
std::vector<long> syscalls_named(const std::string& name) {
    if (name == "msgrcv" || name == "do_msgrcv") return {SYS_msgrcv};
    if (name == "msgsnd" || name == "do_msgsnd") return {SYS_msgsnd};
    if (name == "semop" || name == "semtimedop") return {SYS_semop, SYS_semtimedop};
    if (name == "read" || name == "pipe_read") return {SYS_read, SYS_readv};
    if (name == "futex") return {SYS_futex};
    if (name == "nanosleep" || name == "hrtimer_nanosleep") {
        return {SYS_nanosleep, SYS_clock_nanosleep};
    }
    if (name == "recv" || name == "unix_stream") {
        return {SYS_recvfrom, SYS_recvmsg, SYS_read, SYS_poll, SYS_ppoll};
    }
    if (name == "poll") return {SYS_poll, SYS_ppoll};
    if (name == "wait") return {SYS_wait4, SYS_waitid};
    throw std::invalid_argument("wait_until_blocked_in: unknown system call \"" + name +
                                "\" (add it to syscalls_named in tests/support.cpp)");
}

}  // namespace

void pause_briefly() {
    ::usleep(1000);
}

bool running_in_ci() {
    const char* ci = std::getenv("CI");
    return ci && std::string(ci) == "true";
}

bool wait_until_blocked_in(pid_t tid, const std::string& syscall,
                           std::chrono::milliseconds timeout) {
    const std::vector<long> numbers = syscalls_named(syscall);
    const std::string path = "/proc/" + std::to_string(tid) + "/syscall";
    // "NR arg1 ... arg6 sp pc" while blocked in a system call, "running" otherwise.
    auto in_the_call = [&](bool& readable) {
        std::string text = read_small_file(path, &readable);
        if (!readable) return false;
        char* end = nullptr;
        long nr = std::strtol(text.c_str(), &end, 10);
        if (end == text.c_str()) return false;  // "running"
        return std::find(numbers.begin(), numbers.end(), nr) != numbers.end();
    };
    auto deadline = Clock::now() + timeout;
    for (;;) {
        bool readable = false;
        bool before = in_the_call(readable);
        if (!readable) {
            if (task_state(tid) == 'S') return true;  // only the state can be checked
        } else if (before && task_state(tid) == 'S' && in_the_call(readable)) {
            return true;
        }
        if (Clock::now() >= deadline) return false;
        ::usleep(200);  // polling the kernel's state, not sleeping in hope
    }
}

bool wait_until_state(pid_t pid, char state, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (task_state(pid) == state) return true;
        if (Clock::now() >= deadline) return false;
        ::usleep(200);
    }
}

bool wait_for_queue(int key, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        if (::msgget(key, 0) >= 0) return true;
        ::usleep(500);
    }
    return false;
}

QueueGuard::~QueueGuard() {
    int id = ::msgget(key, 0);
    if (id >= 0) ::msgctl(id, IPC_RMID, nullptr);
}

bool queue_exists(int key) {
    return ::msgget(key, 0) >= 0;
}

Event::Event() {
    make_pipe(fds_);
}
Event::~Event() {
    ::close(fds_[0]);
    ::close(fds_[1]);
}
void Event::set() {
    char c = 1;
    while (::write(fds_[1], &c, 1) < 0 && errno == EINTR) {
    }
}
bool Event::wait(std::chrono::milliseconds timeout) {
    pollfd fd{fds_[0], POLLIN, 0};
    for (;;) {
        int r = ::poll(&fd, 1, static_cast<int>(timeout.count()));
        if (r < 0 && errno == EINTR) continue;
        return r > 0;
    }
}

TempDir::TempDir(const std::string& prefix) {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
}

std::string TempDir::file(const std::string& name, const std::string& content, mode_t mode) const {
    std::string p = path + "/" + name;
    std::ofstream(p) << content;
    ::chmod(p.c_str(), mode);
    return p;
}

ManagerProgram::ManagerProgram()
    : dir_("ipckit-manager"),
      address_("unix:" + dir_.path + "/socket"),
      server_({ipckit_program(), "manager", "serve", "--address", address_}) {
    std::string banner = server_.read_until("serving at");
    if (banner.find("serving at") == std::string::npos) {
        throw std::runtime_error("the manager did not start: " + banner);
    }
}

ManagerProgram::~ManagerProgram() {
    server_.signal(SIGTERM);
    server_.wait(std::chrono::seconds(30));
}

}  // namespace ipckit::test
