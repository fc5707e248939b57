// The client's side of the handshake: a server must prove that it knows the authkey, so a
// client refuses (AuthenticationError) a fake server that knows no key and one that replays
// a proof recorded from a real server's earlier handshake. The fake servers are real
// listeners on 127.0.0.1 (port 0) speaking the wire handshake, in threads of the test.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "manager/wire.hpp"

namespace {

namespace wire = ipckit::detail::wire;
using ipckit::Manager;
using ipckit::Object;

constexpr int io_timeout_ms = 20000;  // generous: only a broken test ever waits this long

ipckit::ManagerOptions patient() {
    ipckit::ManagerOptions options;
    options.connect_timeout = std::chrono::seconds(20);
    return options;
}

// A descriptor closed on scope exit.
struct Socket {
    int fd = -1;
    Socket() = default;
    explicit Socket(int descriptor) : fd(descriptor) {}
    Socket(Socket&& other) noexcept : fd(std::exchange(other.fd, -1)) {}
    Socket& operator=(Socket&& other) noexcept {
        std::swap(fd, other.fd);
        return *this;
    }
    ~Socket() {
        if (fd >= 0) ::close(fd);
    }
};

// Waits for `fd` to be readable, or for `stop` (a pipe) to be; false on stop or timeout.
bool wait_readable(int fd, int stop) {
    pollfd p[2] = {{fd, POLLIN, 0}, {stop, POLLIN, 0}};
    return ::poll(p, 2, io_timeout_ms) > 0 && !p[1].revents && p[0].revents;
}

bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::string frame(const Object& value) {
    std::string out;
    wire::append_frame(out, value);
    return out;
}

// A listening TCP socket on 127.0.0.1 with a port chosen by the kernel.
Socket listen_loopback(int& port) {
    Socket s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof a;
    if (s.fd < 0 || ::bind(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(s.fd, 4) != 0 ||
        ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&a), &length) != 0) {
        throw std::runtime_error(std::string("loopback listener: ") + std::strerror(errno));
    }
    port = ntohs(a.sin_port);
    return s;
}

// Base of the fake servers: a listener and a thread serving one connection; the destructor
// wakes the thread (a pipe) and joins it, so a failing test never hangs on it.
class OneConnectionServer {
  public:
    OneConnectionServer() : listener_(listen_loopback(port_)) {
        if (::pipe2(stop_, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
    }
    virtual ~OneConnectionServer() {
        stop();
        ::close(stop_[0]);
    }
    OneConnectionServer(const OneConnectionServer&) = delete;
    OneConnectionServer& operator=(const OneConnectionServer&) = delete;

    std::string address() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
    // Waits until the connection has ended.
    void join() {
        if (thread_.joinable()) thread_.join();
    }

  protected:
    void start() {
        thread_ = std::thread([this] {
            if (!wait_readable(listener_.fd, stop_[0])) return;
            Socket c(::accept4(listener_.fd, nullptr, nullptr, SOCK_CLOEXEC));
            if (c.fd >= 0) serve(c.fd);
        });
    }
    virtual void serve(int fd) = 0;
    // Wakes the thread wherever it waits and joins it. Derived destructors call this first,
    // so that the thread never uses members already destroyed (a test that failed early).
    void stop() {
        if (stop_[1] >= 0) ::close(std::exchange(stop_[1], -1));
        join();
    }
    // The next frame's payload from `fd`, or nullopt at EOF (or on a stop).
    std::optional<std::string> read_frame(int fd) {
        std::string_view payload;
        while (!reader_.next(payload)) {
            if (!wait_readable(fd, stop_[0])) return std::nullopt;
            char* room = reader_.prepare(4096);
            ssize_t n = ::recv(fd, room, 4096, 0);
            if (n <= 0) return std::nullopt;
            reader_.commit(static_cast<std::size_t>(n));
        }
        return std::string(payload);
    }
    int stop_fd() const { return stop_[0]; }

  private:
    int port_ = 0;
    Socket listener_;
    int stop_[2] = {-1, -1};
    std::thread thread_;
    wire::FrameReader reader_{wire::handshake_max_frame};
};

// Greets with `greeting` (a whole frame), reads the client's proof, sends what `answer`
// makes of it, then records what the client sends before it closes the connection.
class FakeServer : public OneConnectionServer {
  public:
    using Answer = std::function<std::string(const Object& client_reply)>;
    FakeServer(std::string greeting, Answer answer)
        : greeting_(std::move(greeting)), answer_(std::move(answer)) {
        start();
    }
    ~FakeServer() override { stop(); }

    std::optional<Object> client_reply;  // the client's [proof, challenge, session]
    std::string after_answer;            // what the client sent after our answer
    bool closed_by_client = false;

  private:
    void serve(int fd) override {
        if (!send_all(fd, greeting_)) return;
        auto payload = read_frame(fd);
        if (!payload) return;
        client_reply = wire::parse_client_answer(*payload);
        if (!send_all(fd, answer_(*client_reply))) return;
        char buffer[4096];
        while (wait_readable(fd, stop_fd())) {
            ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
            if (n == 0) closed_by_client = true;
            if (n <= 0) break;
            after_answer.append(buffer, static_cast<std::size_t>(n));
        }
    }

    std::string greeting_;
    Answer answer_;
};

// A greeting as a real server sends it.
std::string greeting_with(const std::string& challenge) {
    std::string out;
    std::size_t start = wire::begin_frame(out);
    out += wire::greeting(challenge);
    wire::end_frame(out, start);
    return out;
}

std::string authentication_refusal(const std::string& address, const std::string& authkey) {
    try {
        Manager::connect(address, authkey, patient());
        ADD_FAILURE() << "the client accepted the server at " << address;
    } catch (const ipckit::AuthenticationError& e) {
        return e.what();
    } catch (const std::exception& e) {
        ADD_FAILURE() << "expected AuthenticationError, got: " << e.what();
    }
    return {};
}

TEST(ManagerAuth, ClientRefusesAFakeServerThatKnowsNoKey) {
    const std::string key = "the real key";
    const std::string challenge = wire::random_bytes(wire::challenge_size);
    // Whatever a server without the key can put where the proof belongs.
    const std::vector<std::pair<std::string, FakeServer::Answer>> fakes = {
        {"random bytes",
         [](const Object&) {
             return frame(Object::list({true, Object::bytes(wire::random_bytes(32))}));
         }},
        {"an empty proof",
         [](const Object&) {
             return frame(Object::list({true, Object::bytes("")}));
         }},
        {"a proof made with a guessed key",
         [&](const Object& reply) {
             // Right in everything (label, both challenges, order) but the key.
             const std::string& client_challenge = reply.as_list().at(1).as_bytes();
             return frame(
                 Object::list({true, Object::bytes(wire::hmac("a guessed key", "server",
                                                              client_challenge, challenge))}));
         }},
        {"the client's own proof reflected back",
         [](const Object& reply) {
             return frame(Object::list({true, reply.as_list().at(0)}));
         }},
    };
    {
        // Control: the same fake server, knowing the key, is accepted; so the refusals below
        // are about the proof and nothing else.
        FakeServer knows(greeting_with(challenge), [&](const Object& reply) {
            const std::string& client_challenge = reply.as_list().at(1).as_bytes();
            return frame(Object::list(
                {true, Object::bytes(wire::hmac(key, "server", client_challenge, challenge))}));
        });
        EXPECT_NO_THROW(Manager::connect(knows.address(), key, patient()));
        knows.join();
        EXPECT_TRUE(knows.closed_by_client);
    }
    for (const auto& [what, answer] : fakes) {
        SCOPED_TRACE(what);
        FakeServer fake(greeting_with(challenge), answer);
        std::string message = authentication_refusal(fake.address(), key);
        EXPECT_NE(message.find("did not prove it knows the authkey"), std::string::npos) << message;
        EXPECT_NE(message.find(fake.address()), std::string::npos) << message;
        fake.join();
        // The client did authenticate itself (so the refusal is about the server's proof),
        // then closed the connection without sending a single request.
        ASSERT_TRUE(fake.client_reply);
        EXPECT_EQ(fake.client_reply->as_list().size(), 3u);
        EXPECT_TRUE(fake.closed_by_client);
        EXPECT_EQ(fake.after_answer.size(), 0u);
    }
}

// A transparent relay from 127.0.0.1 to a real server's Unix socket that records both
// directions of one connection.
class RecordingRelay : public OneConnectionServer {
  public:
    explicit RecordingRelay(std::string unix_path) : path_(std::move(unix_path)) { start(); }
    ~RecordingRelay() override { stop(); }
    std::string from_client, from_server;

  private:
    void serve(int client) override {
        Socket server(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::memcpy(a.sun_path, path_.c_str(), path_.size());
        if (::connect(server.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return;
        char buffer[4096];
        for (;;) {
            pollfd p[3] = {{client, POLLIN, 0}, {server.fd, POLLIN, 0}, {stop_fd(), POLLIN, 0}};
            if (::poll(p, 3, io_timeout_ms) <= 0 || p[2].revents) return;
            for (int side = 0; side < 2; ++side) {
                if (!p[side].revents) continue;
                int from = side == 0 ? client : server.fd;
                int to = side == 0 ? server.fd : client;
                ssize_t n = ::recv(from, buffer, sizeof buffer, 0);
                if (n <= 0) return;  // either side closed: the conversation is over
                (side == 0 ? from_client : from_server).append(buffer, static_cast<std::size_t>(n));
                if (!send_all(to, std::string_view(buffer, static_cast<std::size_t>(n)))) return;
            }
        }
    }
    std::string path_;
};

// The frames of a recorded stream.
std::vector<std::string> frames_of(const std::string& stream) {
    wire::FrameReader reader(ipckit::default_max_frame);
    reader.append(stream.data(), stream.size());
    std::vector<std::string> frames;
    std::string_view payload;
    while (reader.next(payload)) {
        std::string out;
        std::size_t start = wire::begin_frame(out);
        out.append(payload);
        wire::end_frame(out, start);
        frames.push_back(std::move(out));
    }
    return frames;
}

TEST(ManagerAuth, ClientRefusesAServerThatReplaysARecordedProof) {
    Manager real;
    ASSERT_EQ(real.address().rfind("unix:", 0), 0u);
    // A real client's handshake with the real server, recorded on the way (as an
    // eavesdropper on a TCP link would).
    RecordingRelay relay(real.address().substr(5));
    {
        Manager through = Manager::connect(relay.address(), real.authkey(), patient());
        auto shared = through.dict("recorded");
        shared["k"] = 1;
        EXPECT_EQ(real.dict("recorded").get("k").as_int(), 1);  // the relay is transparent
    }
    relay.join();  // the client closed: the recording is complete
    auto from_server = frames_of(relay.from_server);
    auto from_client = frames_of(relay.from_client);
    ASSERT_GE(from_server.size(), 2u);
    ASSERT_GE(from_client.size(), 1u);
    const std::string& greeting = from_server[0];
    const std::string& proof = from_server[1];
    auto recorded_answer = wire::decode(std::string_view(proof).substr(4));
    ASSERT_TRUE(recorded_answer.as_list().at(0).as_bool());  // a successful handshake
    std::string recorded_client_challenge =
        wire::parse_client_answer(std::string_view(from_client[0]).substr(4))
            .as_list()
            .at(1)
            .as_bytes();

    // The impostor replays the real server's greeting (same challenge) and its proof.
    FakeServer replay(greeting, [&](const Object&) { return proof; });
    std::string message = authentication_refusal(replay.address(), real.authkey());
    EXPECT_NE(message.find("did not prove it knows the authkey"), std::string::npos) << message;
    replay.join();
    ASSERT_TRUE(replay.client_reply);
    // The proof fails because the client's challenge is fresh: the recorded proof answers
    // the recorded challenge only.
    EXPECT_NE(replay.client_reply->as_list().at(1).as_bytes(), recorded_client_challenge);
    EXPECT_TRUE(replay.closed_by_client);
    EXPECT_EQ(replay.after_answer.size(), 0u);
    // The real server was not disturbed.
    EXPECT_EQ(real.dict("recorded").get("k").as_int(), 1);
}

}  // namespace
