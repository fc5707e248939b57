// Real redis-server processes for tests: each RedisServer starts `redis-server` on a random
// free loopback port (`--port P --bind 127.0.0.1 --save '' --appendonly no --dir <private
// directory under TMPDIR>`), waits until it logs that it accepts connections and answers
// PING, and stops it by its pid (SIGTERM, then waitpid) when it leaves scope. No system
// service is used. stop() and start() restart it on the same port (a server restarted
// under its clients).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace ipckit::test {

// Whether redis-server can be run here (tests skip otherwise).
inline bool redis_available() {
    return ::system("command -v redis-server >/dev/null 2>&1") == 0;
}

inline int free_loopback_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
        if (fd >= 0) ::close(fd);
        throw std::runtime_error(std::string("free_loopback_port: ") + std::strerror(errno));
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

class RedisServer {
  public:
    explicit RedisServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
        const char* tmp = std::getenv("TMPDIR");
        std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/redis-XXXXXX";
        if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
        dir_ = pattern;
        try {
            for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) {
                port_ = free_loopback_port();
                launch();
            }
        } catch (...) {
            stop();
            std::filesystem::remove_all(dir_);
            throw;
        }
        if (pid_ <= 0) {
            std::filesystem::remove_all(dir_);
            throw std::runtime_error("redis-server did not start");
        }
    }
    ~RedisServer() {
        stop();
        std::error_code ignored;
        std::filesystem::remove_all(dir_, ignored);
    }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    int port() const { return port_; }
    pid_t pid() const { return pid_; }
    const std::string& dir() const { return dir_; }
    std::string url(const std::string& query = "") const {
        return "redis://127.0.0.1:" + std::to_string(port_) + (query.empty() ? "" : "/0?" + query);
    }

    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
        pid_ = 0;
    }
    // Starts it again on the same port (after stop()).
    void start() {
        launch();
        if (pid_ <= 0) throw std::runtime_error("redis-server did not restart");
    }

    // One command on a fresh connection (for checks that go around the library).
    redisReply* command(const std::vector<std::string>& argv) const {
        redisContext* c = redisConnect("127.0.0.1", port_);
        if (!c || c->err) {
            if (c) redisFree(c);
            return nullptr;
        }
        std::vector<const char*> args;
        std::vector<size_t> lengths;
        for (auto& a : argv) {
            args.push_back(a.data());
            lengths.push_back(a.size());
        }
        auto* r = static_cast<redisReply*>(
            redisCommandArgv(c, static_cast<int>(args.size()), args.data(), lengths.data()));
        redisFree(c);
        return r;
    }
    // A command whose integer (or array size) answer is returned; -1 on failure.
    long long integer(const std::vector<std::string>& argv) const {
        redisReply* r = command(argv);
        if (!r) return -1;
        long long v = r->type == REDIS_REPLY_INTEGER ? r->integer
                      : r->type == REDIS_REPLY_ARRAY ? static_cast<long long>(r->elements)
                                                     : -1;
        freeReplyObject(r);
        return v;
    }

  private:
    // Starts redis-server on port_ and waits (reading its log on a pipe, no sleeps) until it
    // accepts connections; pid_ stays 0 when it exited instead (the port was taken, say).
    void launch() {
        int out[2];
        if (::pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
        std::vector<std::string> args{"redis-server",
                                      "--port",
                                      std::to_string(port_),
                                      "--bind",
                                      "127.0.0.1",
                                      "--save",
                                      "",
                                      "--appendonly",
                                      "no",
                                      "--dir",
                                      dir_,
                                      "--logfile",
                                      ""};
        args.insert(args.end(), extra_.begin(), extra_.end());
        pid_t pid = ::fork();
        if (pid < 0) throw std::runtime_error("fork failed");
        if (pid == 0) {
            ::dup2(out[1], 1);
            std::vector<char*> argv;
            for (auto& a : args)
                argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execvp("redis-server", argv.data());
            ::_exit(127);
        }
        ::close(out[1]);
        std::string log;
        char buffer[4096];
        bool ready = false;
        while (!ready) {
            ssize_t n = ::read(out[0], buffer, sizeof buffer);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            log.append(buffer, static_cast<std::size_t>(n));
            ready = log.find("Ready to accept connections") != std::string::npos;
        }
        ::close(out[0]);  // redis ignores SIGPIPE: later log lines are dropped
        if (!ready) {
            ::kill(pid, SIGKILL);
            while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
            }
            return;
        }
        pid_ = pid;
        redisReply* pong = command({"PING"});
        // PONG, or NOAUTH from a server started with --requirepass: it answers.
        bool ok =
            pong &&
            ((pong->type == REDIS_REPLY_STATUS && std::string(pong->str) == "PONG") ||
             (pong->type == REDIS_REPLY_ERROR && std::string(pong->str).rfind("NOAUTH", 0) == 0));
        if (pong) freeReplyObject(pong);
        if (!ok) {
            stop();
            throw std::runtime_error("redis-server does not answer PING");
        }
    }

    std::vector<std::string> extra_;
    std::string dir_;
    int port_ = 0;
    pid_t pid_ = 0;
};

// A Redis Cluster of `n` masters (no replicas) on loopback: n RedisServers with
// --cluster-enabled yes, joined by `redis-cli --cluster create ... --cluster-yes`, which
// returns once every node agrees on the configuration; then each node is asked until it
// reports cluster_state:ok (a bounded wait on a condition).
class RedisCluster {
  public:
    explicit RedisCluster(int n = 3) {
        for (int i = 0; i < n; ++i) {
            nodes_.push_back(std::make_unique<RedisServer>(
                std::vector<std::string>{"--cluster-enabled", "yes", "--cluster-config-file",
                                         "nodes.conf", "--cluster-node-timeout", "5000"}));
        }
        std::vector<std::string> args{"redis-cli", "--cluster", "create"};
        for (auto& node : nodes_)
            args.push_back("127.0.0.1:" + std::to_string(node->port()));
        args.push_back("--cluster-yes");
        if (run(args) != 0) throw std::runtime_error("redis-cli --cluster create failed");
        for (auto& node : nodes_)
            wait_ok(*node);
    }
    RedisServer& node(std::size_t i) { return *nodes_.at(i); }
    std::size_t size() const { return nodes_.size(); }
    std::string url() const { return nodes_.front()->url(); }

    // Runs a program (redis-cli) to its end, its output to /dev/null; its exit status.
    static int run(std::vector<std::string> args) {
        pid_t pid = ::fork();
        if (pid < 0) return -1;
        if (pid == 0) {
            int null = ::open("/dev/null", O_WRONLY);
            if (null >= 0) {
                ::dup2(null, 1);
                ::dup2(null, 2);
            }
            std::vector<char*> argv;
            for (auto& a : args)
                argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execvp(argv[0], argv.data());
            ::_exit(127);
        }
        int status = 0;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

    std::string text(const RedisServer& node, const std::vector<std::string>& argv) const {
        redisReply* r = node.command(argv);
        std::string out = r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ||
                                r->type == REDIS_REPLY_ERROR)
                              ? std::string(r->str, r->len)
                              : std::string();
        if (r) freeReplyObject(r);
        return out;
    }

  private:
    void wait_ok(const RedisServer& node) const {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
        while (text(node, {"CLUSTER", "INFO"}).find("cluster_state:ok") == std::string::npos) {
            if (std::chrono::steady_clock::now() > deadline) {
                throw std::runtime_error("the cluster did not reach cluster_state:ok");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    }
    std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace ipckit::test
