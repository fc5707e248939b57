// The leak checker: each test leaves the machine as it found it, or fails naming itself.
//
// What a test may leave behind, and how each is attributed to it while other test
// binaries run at the same time (ctest -j) and other users of the machine create and
// remove System V objects of their own:
//
// - System V objects. Every test binary links this file, which interposes msgget, semget,
//   shmget (an object asked for with IPC_CREAT or IPC_PRIVATE) and msgctl, semctl, shmctl
//   (IPC_RMID): each call goes on to the C library unchanged, and is recorded, with the
//   test binary's pid as the owner, in one file for the whole run,
//   build/tests/ipc-created.log (O_APPEND, one short line per event, so that the lines of
//   parallel binaries and of their forked children never mix). Forked children (Process)
//   run the same code and inherit the owner and the file, so their objects count too; the
//   record is on disk before the call returns, so it survives a test that crashes or is
//   killed by ctest's timeout. Programs a test starts with exec (the ipckit program, Python,
//   sysv_worker) are not interposed: Child records their pids, and an object is theirs
//   when the kernel's pids on it (lspid/lrpid for a queue, cpid/lpid for a segment, each
//   semaphore's sempid, read with GETPID) name the test binary, one of those programs, or
//   a process still running under the test binary.
//   Before each test, the checker snapshots /proc/sysvipc; after it, an object that is new
//   and attributed to this binary is a leak: the test fails naming it, and the checker
//   removes it. An object that existed before the test (created by another binary, another
//   user, or a previous run) and that this binary removed with IPC_RMID fails the test too.
//   Objects that are not attributed to the binary are never touched. tests/ipcs_check.sh
//   compares the whole run's before and after, and removes only leftovers that the log
//   says the suite created (those of a binary that crashed before its check ran).
// - Files in the temporary directory. At start-up the binary makes a private directory
//   /tmp/ipckit-test.PID.XXXXXX and points TMPDIR at it, so everything that honours TMPDIR
//   (the manager's socket directories, std::filesystem::temp_directory_path, Python's
//   tempfile) lands there. An entry left in it after a test fails the test and is removed;
//   the directory is removed at exit; one left by a binary that died first (killed by
//   ctest's timeout, aborted by a sanitizer) is removed by the next binary that starts, once
//   its pid is gone. In /tmp itself, a new entry whose name contains the
//   pid of the test binary or of a program it started fails the test (it is only reported).
// - Named queues (/dev/shm/ipckit.q.NAME, ipckit/named_queue.hpp). Before each test the
//   checker lists them; after it, a new one whose creator (the pid in its header) is the
//   test binary, a process under it, or a program it started is a leak: the test fails
//   naming it, and the checker removes the name. Other binaries' queues are not touched.
// - Processes. A process that descends from the test binary (its /proc/PID/stat parent
//   chain leads to it) and is still there after the test (running, stopped, or a zombie
//   nobody reaped) fails the test; the checker kills it by pid and reaps it.
// - Skips. With CI=true (.ci/run), a skipped test fails: CI runs as root with every
//   dependency, so a skip there means a test that never ran.
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/msg.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "ipckit/named_queue.hpp"
#include "support.hpp"

namespace ipckit::test {
namespace {

pid_t owner_pid = 0;  // the test binary; forked children inherit it
int log_fd = -1;      // build/tests/ipc-created.log, O_APPEND

// One line per event: "<what> <kind> <id> <key> <owner>\n", where what is c (created),
// r (removed) or p (a program started: kind is '-', id its pid), kind q/s/m.
void record(char what, char kind, long id, long key) {
    if (log_fd < 0) return;
    int saved = errno;
    char line[96];
    int n = std::snprintf(line, sizeof line, "%c %c %ld %ld %ld\n", what, kind, id, key,
                          static_cast<long>(owner_pid));
    if (n > 0) {
        ssize_t ignored = ::write(log_fd, line, static_cast<std::size_t>(n));
        (void)ignored;
    }
    errno = saved;
}

template <class F>
F real(const char* name) {
    void* symbol = ::dlsym(RTLD_NEXT, name);
    if (!symbol) {
        std::fprintf(stderr, "leak check: no %s in the C library\n", name);
        std::abort();
    }
    return reinterpret_cast<F>(symbol);
}

}  // namespace
}  // namespace ipckit::test

// --- the interposed System V calls (forwarded unchanged, and recorded) ---

extern "C" int msgget(key_t key, int flags) noexcept {
    static auto next = ipckit::test::real<int (*)(key_t, int)>("msgget");
    int id = next(key, flags);
    if (id >= 0 && (key == IPC_PRIVATE || (flags & IPC_CREAT))) {
        ipckit::test::record('c', 'q', id, key);
    }
    return id;
}

extern "C" int semget(key_t key, int nsems, int flags) noexcept {
    static auto next = ipckit::test::real<int (*)(key_t, int, int)>("semget");
    int id = next(key, nsems, flags);
    if (id >= 0 && (key == IPC_PRIVATE || (flags & IPC_CREAT))) {
        ipckit::test::record('c', 's', id, key);
    }
    return id;
}

extern "C" int shmget(key_t key, size_t size, int flags) noexcept {
    static auto next = ipckit::test::real<int (*)(key_t, size_t, int)>("shmget");
    int id = next(key, size, flags);
    if (id >= 0 && (key == IPC_PRIVATE || (flags & IPC_CREAT))) {
        ipckit::test::record('c', 'm', id, key);
    }
    return id;
}

extern "C" int msgctl(int id, int cmd, msqid_ds* buf) noexcept {
    static auto next = ipckit::test::real<int (*)(int, int, msqid_ds*)>("msgctl");
    int result = next(id, cmd, buf);
    if (result == 0 && cmd == IPC_RMID) ipckit::test::record('r', 'q', id, 0);
    return result;
}

extern "C" int shmctl(int id, int cmd, shmid_ds* buf) noexcept {
    static auto next = ipckit::test::real<int (*)(int, int, shmid_ds*)>("shmctl");
    int result = next(id, cmd, buf);
    if (result == 0 && cmd == IPC_RMID) ipckit::test::record('r', 'm', id, 0);
    return result;
}

extern "C" int semctl(int id, int number, int cmd, ...) noexcept {
    union Argument {
        int val;
        semid_ds* buf;
        unsigned short* array;
        seminfo* info;
    };
    static auto next = ipckit::test::real<int (*)(int, int, int, ...)>("semctl");
    Argument argument{};
    switch (cmd) {  // the commands that take the fourth argument (as glibc reads it)
        case IPC_STAT:
        case IPC_SET:
        case IPC_INFO:
        case SEM_INFO:
        case SEM_STAT:
        case SEM_STAT_ANY:
        case GETALL:
        case SETALL:
        case SETVAL: {
            va_list ap;
            va_start(ap, cmd);
            argument = va_arg(ap, Argument);
            va_end(ap);
            break;
        }
        default:
            break;
    }
    int result = next(id, number, cmd, argument);
    if (result == 0 && cmd == IPC_RMID) ipckit::test::record('r', 's', id, 0);
    return result;
}

namespace ipckit::test {
namespace {

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// --- System V objects, as /proc/sysvipc shows them ---

struct Object {
    char kind;  // q, s, m
    int id;
    long key;
    std::vector<long> pids;  // lspid/lrpid, cpid/lpid; semaphores: read on demand
    int nsems = 0;
};
using ObjectId = std::pair<char, int>;

const char* kind_name(char kind) {
    return kind == 'q' ? "message queue" : kind == 's' ? "semaphore" : "shared memory segment";
}

std::map<ObjectId, Object> system_v_objects() {
    std::map<ObjectId, Object> objects;
    for (char kind : {'q', 's', 'm'}) {
        const char* file = kind == 'q'   ? "/proc/sysvipc/msg"
                           : kind == 's' ? "/proc/sysvipc/sem"
                                         : "/proc/sysvipc/shm";
        std::istringstream lines(read_text(file));
        std::string line;
        std::getline(lines, line);  // the header
        while (std::getline(lines, line)) {
            std::istringstream fields(line);
            std::vector<long> f;
            long v;
            while (f.size() < 7 && fields >> v)
                f.push_back(v);
            if (f.size() < 7) continue;
            Object o{kind, static_cast<int>(f[1]), f[0], {}, 0};
            // msg: key msqid perms cbytes qnum lspid lrpid; shm: key shmid perms size cpid
            // lpid; sem: key semid perms nsems ...
            if (kind == 'q') o.pids = {f[5], f[6]};
            if (kind == 'm') o.pids = {f[4], f[5]};
            if (kind == 's') o.nsems = static_cast<int>(f[3]);
            objects[{kind, o.id}] = o;
        }
    }
    return objects;
}

std::vector<long> pids_of(const Object& o) {
    if (o.kind != 's') return o.pids;
    std::vector<long> pids;
    for (int i = 0; i < o.nsems; ++i) {
        int pid = ::semctl(o.id, i, GETPID);
        if (pid > 0) pids.push_back(pid);
    }
    return pids;
}

std::string describe(const Object& o) {
    char key[16];
    std::snprintf(key, sizeof key, "0x%08lx", static_cast<unsigned long>(o.key) & 0xffffffffUL);
    return std::string(kind_name(o.kind)) + " " + key + " (id " + std::to_string(o.id) + ")";
}

void remove_object(const Object& o) {
    if (o.kind == 'q') ::msgctl(o.id, IPC_RMID, nullptr);
    if (o.kind == 's') ::semctl(o.id, 0, IPC_RMID);
    if (o.kind == 'm') ::shmctl(o.id, IPC_RMID, nullptr);
}

// The events of this binary (and its forked children) in the run's log.
struct Events {
    std::set<ObjectId> created, removed;
    std::set<long> programs;
};

std::string log_path() {
    return std::string(IPCKIT_BINARY_DIR) + "/tests/ipc-created.log";
}

Events events_since(std::size_t offset, std::size_t* end = nullptr) {
    Events events;
    std::string text = read_text(log_path());
    if (end) *end = text.size();
    if (offset > text.size()) offset = text.size();
    std::istringstream lines(text.substr(offset));
    std::string line;
    while (std::getline(lines, line)) {
        char what = 0, kind = 0;
        long id = 0, key = 0, owner = 0;
        if (std::sscanf(line.c_str(), "%c %c %ld %ld %ld", &what, &kind, &id, &key, &owner) != 5 ||
            owner != owner_pid) {
            continue;
        }
        if (what == 'c') events.created.insert({kind, static_cast<int>(id)});
        if (what == 'r') events.removed.insert({kind, static_cast<int>(id)});
        if (what == 'p') events.programs.insert(id);
    }
    return events;
}

// --- processes ---

struct Task {
    pid_t pid;
    pid_t parent;
    char state;
    std::string name;
};

std::vector<Task> descendants_of(pid_t root) {
    std::vector<Task> all;
    if (DIR* proc = ::opendir("/proc")) {
        while (dirent* entry = ::readdir(proc)) {
            char* end = nullptr;
            long pid = std::strtol(entry->d_name, &end, 10);
            if (*end != '\0' || pid <= 0) continue;
            std::string stat = read_text("/proc/" + std::string(entry->d_name) + "/stat");
            auto open = stat.find('('), close = stat.rfind(')');
            if (open == std::string::npos || close == std::string::npos) continue;
            Task t{static_cast<pid_t>(pid), 0, 0, stat.substr(open + 1, close - open - 1)};
            std::istringstream rest(stat.substr(close + 1));
            rest >> t.state >> t.parent;
            all.push_back(t);
        }
        ::closedir(proc);
    }
    std::vector<Task> found;
    std::set<pid_t> family{root};
    for (bool grew = true; grew;) {
        grew = false;
        for (const auto& t : all) {
            if (family.count(t.parent) && !family.count(t.pid)) {
                family.insert(t.pid);
                found.push_back(t);
                grew = true;
            }
        }
    }
    return found;
}

// --- the temporary directory ---

std::string private_tmp;  // TMPDIR of this binary
std::string system_tmp = "/tmp";

std::set<std::string> entries_of(const std::string& directory) {
    std::set<std::string> names;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(directory, ec))
        names.insert(entry.path().filename().string());
    return names;
}

bool names_a_pid(const std::string& name, long pid) {
    std::string digits = std::to_string(pid);
    for (auto at = name.find(digits); at != std::string::npos; at = name.find(digits, at + 1)) {
        // Delimited as a word ("x.1234", "x-1234-y"): not digits inside a random suffix.
        bool left = at == 0 || !std::isalnum(static_cast<unsigned char>(name[at - 1]));
        std::size_t after = at + digits.size();
        bool right = after == name.size() || !std::isalnum(static_cast<unsigned char>(name[after]));
        if (left && right) return true;
    }
    return false;
}

// --- named queues in /dev/shm ---

std::set<std::string> named_queue_files() {
    std::set<std::string> names;
    for (const auto& name : entries_of("/dev/shm")) {
        if (name.rfind(std::string(ipckit::named_queue_prefix), 0) == 0) {
            names.insert(name.substr(ipckit::named_queue_prefix.size()));
        }
    }
    return names;
}

// --- the listener ---

class LeakChecker : public testing::EmptyTestEventListener {
    void OnTestStart(const testing::TestInfo&) override {
        objects_ = system_v_objects();
        log_offset_ = 0;
        events_since(0, &log_offset_);
        tasks_.clear();
        for (const auto& t : descendants_of(owner_pid))
            tasks_.insert(t.pid);
        tmp_ = entries_of(private_tmp);
        system_tmp_ = entries_of(system_tmp);
        named_queues_ = named_queue_files();
    }

    void OnTestEnd(const testing::TestInfo& info) override {
        const std::string test = std::string(info.test_suite_name()) + "." + info.name();
        if (info.result()->Skipped() && running_in_ci()) {
            ADD_FAILURE() << "[leak check] " << test
                          << " was skipped in CI (CI=true): CI runs as root with every "
                             "dependency, so a skip there is a test that never ran";
        }

        // Processes first: they may still hold or create objects.
        std::set<long> ours{owner_pid};
        std::vector<Task> left;
        for (const auto& t : descendants_of(owner_pid)) {
            ours.insert(t.pid);
            if (!tasks_.count(t.pid)) left.push_back(t);
        }
        for (const auto& t : left) {
            ADD_FAILURE() << "[leak check] " << test << " left a process behind: pid " << t.pid
                          << " (" << t.name << ", state " << t.state << "); killing it";
            ::kill(t.pid, SIGKILL);
        }
        for (const auto& t : left) {
            if (t.parent != owner_pid) continue;
            auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
            while (::waitpid(t.pid, nullptr, WNOHANG) == 0 &&
                   std::chrono::steady_clock::now() < deadline) {
                pause_briefly();
            }
        }

        // System V objects.
        Events all = events_since(0);
        Events now_events = events_since(log_offset_);
        ours.insert(now_events.programs.begin(), now_events.programs.end());
        auto now = system_v_objects();
        for (const auto& [id, object] : now) {
            if (objects_.count(id)) continue;  // there before the test
            bool attributed = all.created.count(id) > 0;
            for (long pid : pids_of(object))
                attributed = attributed || ours.count(pid) > 0;
            if (!attributed) continue;  // another binary's, or another user's: not ours to touch
            ADD_FAILURE() << "[leak check] " << test << " left " << describe(object)
                          << " behind; removing it";
            remove_object(object);
        }
        for (const auto& id : now_events.removed) {
            auto before = objects_.find(id);
            if (before == objects_.end() || all.created.count(id)) continue;
            ADD_FAILURE() << "[leak check] " << test << " removed " << describe(before->second)
                          << ", which existed before the test and which the test did not create";
        }

        // Named queues (/dev/shm/ipckit.q.NAME) that this binary or its programs created.
        for (const auto& name : named_queue_files()) {
            if (named_queues_.count(name)) continue;
            pid_t creator = 0;
            try {
                creator = ipckit::named_queue_info(name).creator_pid;
            } catch (const std::exception&) {
                continue;  // gone meanwhile, or not a queue: not attributable
            }
            if (!ours.count(creator)) continue;
            ADD_FAILURE() << "[leak check] " << test << " left the named queue " << name
                          << " (/dev/shm/" << ipckit::named_queue_prefix << name
                          << ") behind; removing it";
            try {
                ipckit::remove_named_queue(name);
            } catch (const std::exception&) {
            }
        }

        // Temporary files.
        for (const auto& name : entries_of(private_tmp)) {
            if (tmp_.count(name)) continue;
            ADD_FAILURE() << "[leak check] " << test << " left " << private_tmp << "/" << name
                          << " behind (TMPDIR); removing it";
            std::error_code ec;
            std::filesystem::remove_all(std::filesystem::path(private_tmp) / name, ec);
        }
        for (const auto& name : entries_of(system_tmp)) {
            if (system_tmp_.count(name)) continue;
            if (name.rfind("ipckit-test.", 0) == 0) continue;  // a binary's TMPDIR: its own check
            for (long pid : ours) {
                if (!names_a_pid(name, pid)) continue;
                ADD_FAILURE() << "[leak check] " << test << " left " << system_tmp << "/" << name
                              << " behind (its name has the pid " << pid
                              << " of the test or of a program it started)";
                break;
            }
        }
    }

    std::map<ObjectId, Object> objects_;
    std::size_t log_offset_ = 0;
    std::set<pid_t> tasks_;
    std::set<std::string> tmp_, system_tmp_, named_queues_;
};

void remove_private_tmp() {
    if (::getpid() != owner_pid || private_tmp.empty()) return;  // not in forked children
    std::error_code ec;
    std::filesystem::remove_all(private_tmp, ec);
}

// Removes the private TMPDIRs (/tmp/ipckit-test.PID.XXXXXX) of test binaries that died
// without removing theirs: those whose pid no longer exists. A live binary's (or an
// unrelated process that reuses the pid) is left alone.
void remove_dead_binaries_tmp() {
    for (const auto& name : entries_of(system_tmp)) {
        constexpr std::string_view prefix = "ipckit-test.";
        if (name.rfind(prefix, 0) != 0) continue;
        auto dot = name.find('.', prefix.size());
        if (dot == std::string::npos || dot == prefix.size() || dot - prefix.size() > 9) continue;
        std::string digits = name.substr(prefix.size(), dot - prefix.size());
        if (!std::all_of(digits.begin(), digits.end(),
                         [](unsigned char c) { return std::isdigit(c); }))
            continue;
        pid_t pid = static_cast<pid_t>(std::stol(digits));
        if (pid <= 0 || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
        std::error_code ec;
        std::filesystem::remove_all(std::filesystem::path(system_tmp) / name, ec);
    }
}

}  // namespace

std::vector<std::string> system_v_objects_used_by(const std::set<pid_t>& pids) {
    std::vector<std::string> found;
    for (const auto& [id, object] : system_v_objects()) {
        for (long pid : pids_of(object)) {
            if (pid > 0 && pids.count(static_cast<pid_t>(pid))) {
                found.push_back(describe(object));
                break;
            }
        }
    }
    return found;
}

void note_child_process(pid_t pid) {
    record('p', '-', pid, 0);
}

void install_leak_checker() {
    owner_pid = ::getpid();
    remove_dead_binaries_tmp();
    log_fd = ::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    // A private TMPDIR, short enough for a Unix socket path below it.
    std::string pattern = system_tmp + "/ipckit-test." + std::to_string(owner_pid) + ".XXXXXX";
    if (::mkdtemp(pattern.data())) {
        private_tmp = pattern;
        ::setenv("TMPDIR", private_tmp.c_str(), 1);
        std::atexit(remove_private_tmp);
    }
    testing::UnitTest::GetInstance()->listeners().Append(new LeakChecker);
}

}  // namespace ipckit::test
