// ipckit::python (multiprocessing.connection's wire) against the real Python: a Listener and a
// Client of Python 3.11 (HMAC-MD5), 3.12 and 3.13 ("{sha256}" challenges) authenticate with
// ipckit's deliver_challenge/answer_challenge both ways, with the right key and a wrong one;
// frames cross in both directions; bad frames, silent and vanishing peers end in clear errors.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/python_connection.hpp"
#include "support.hpp"

namespace python = ipckit::python;
using ipckit::AuthenticationError;
using ipckit::test::Child;
using ipckit::test::run;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

std::string interpreter(const std::string& version) {
    std::string path = "/root/.pyenv/versions/" + version + "/bin/python3";
    return ::access(path.c_str(), X_OK) == 0 ? path : "";
}

std::vector<std::string> interpreters() {
    std::vector<std::string> found;
    for (const char* v : {"3.11.7", "3.12.1", "3.13.0"}) {
        std::string p = interpreter(v);
        if (!p.empty()) found.push_back(p);
    }
    if (found.empty()) found.push_back("python3");
    return found;
}

python::Deadline soon(std::chrono::milliseconds d = 20s) {
    return std::chrono::steady_clock::now() + d;
}

struct Fd {
    int fd = -1;
    explicit Fd(int f) : fd(f) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

int connect_port(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

int listen_port(int& port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 4) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n) != 0) {
        ::close(fd);
        return -1;
    }
    port = ntohs(a.sin_port);
    return fd;
}

// A Python Listener: prints its port, accepts one connection (authenticating it), then
// prints what it receives and answers with its length; or prints the error of accept().
const char* listener_script = R"(
import sys
from multiprocessing.connection import Listener
l = Listener(('127.0.0.1', 0), authkey=sys.argv[1].encode())
print(l.address[1], flush=True)
try:
    c = l.accept()
except Exception as e:
    print('refused', type(e).__name__, flush=True)
    sys.exit(0)
data = c.recv_bytes()
print('got', len(data), data[:20], flush=True)
c.send_bytes(b'python says %d' % len(data))
c.recv_bytes()  # until ipckit closes
)";

// A Python Client: connects to argv[2] with authkey argv[1], sends b'ping', prints the reply.
const char* client_script = R"(
import sys
from multiprocessing.connection import Client
try:
    c = Client(('127.0.0.1', int(sys.argv[2])), authkey=sys.argv[1].encode())
except Exception as e:
    print('refused', type(e).__name__, flush=True)
    sys.exit(0)
c.send_bytes(b'ping' * int(sys.argv[3]))
print('reply', c.recv_bytes().decode(), flush=True)
)";

// ipckit connects to a Python Listener, as Python's Client does.
void client_against_python(const std::string& py, const std::string& key, const std::string& ours,
                           bool expect_ok) {
    Child child({py, "-c", listener_script, key}, true);
    std::string port = child.read_until("\n");
    ASSERT_FALSE(port.empty());
    Fd fd(connect_port(std::stoi(port)));
    ASSERT_GE(fd.fd, 0);
    if (!expect_ok) {
        // Python's listener challenges first: our answer is wrong, it refuses (#FAILURE#).
        EXPECT_THROW(python::answer_challenge(fd.fd, ours, soon()), AuthenticationError);
        ::shutdown(fd.fd, SHUT_RDWR);
        auto r = child.wait();
        EXPECT_NE(r.out.find("refused AuthenticationError"), std::string::npos) << r.out;
        return;
    }
    python::answer_challenge(fd.fd, ours, soon());
    python::deliver_challenge(fd.fd, ours, soon());
    std::string big(3 * 1024 * 1024 + 7, 'x');
    python::send_message(fd.fd, big, soon());
    EXPECT_EQ(python::recv_message(fd.fd, 1024, soon()),
              "python says " + std::to_string(big.size()));
    ::shutdown(fd.fd, SHUT_RDWR);
    auto r = child.wait();
    EXPECT_NE(r.out.find("got " + std::to_string(big.size()) + " b'xxxx"), std::string::npos)
        << r.out;
}

// A Python Client connects to ipckit, as to Python's Listener.
void server_against_python(const std::string& py, const std::string& key, const std::string& ours,
                           python::ChallengeStyle style, bool expect_ok) {
    int port = 0;
    Fd listener(listen_port(port));
    ASSERT_GE(listener.fd, 0);
    Child child({py, "-c", client_script, key, std::to_string(port), "3"}, true);
    Fd fd(::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_GE(fd.fd, 0);
    if (!expect_ok) {
        EXPECT_THROW(python::deliver_challenge(fd.fd, ours, soon(), style), AuthenticationError);
        ::shutdown(fd.fd, SHUT_RDWR);
        auto r = child.wait();
        EXPECT_NE(r.out.find("refused AuthenticationError"), std::string::npos) << r.out;
        return;
    }
    python::deliver_challenge(fd.fd, ours, soon(), style);
    python::answer_challenge(fd.fd, ours, soon());
    EXPECT_EQ(python::recv_message(fd.fd, 1024, soon()), "pingpingping");
    python::send_message(fd.fd, "pong", soon());
    auto r = child.wait();
    EXPECT_EQ(r.out, "reply pong\n");
}

}  // namespace

TEST(PythonConnection, AnswersPythonListeners) {
    for (const auto& py : interpreters()) {
        SCOPED_TRACE(py);
        client_against_python(py, "secret", "secret", true);
        client_against_python(py, "secret", "wrong", false);
    }
}

TEST(PythonConnection, ChallengesPythonClients) {
    for (const auto& py : interpreters()) {
        SCOPED_TRACE(py);
        for (auto style : {python::ChallengeStyle::modern, python::ChallengeStyle::legacy}) {
            server_against_python(py, "secret", "secret", style, true);
            server_against_python(py, "secret", "wrong", style, false);
        }
    }
}

TEST(PythonConnection, ResponsesAsPython312ComputesThem) {
    // Python 3.12's own _create_response for a {sha256} challenge and for a 3.11 one.
    std::string py = interpreter("3.12.1");
    if (py.empty()) GTEST_SKIP() << "no Python 3.12 under /root/.pyenv";
    std::string modern = python::make_challenge(python::ChallengeStyle::modern);
    std::string legacy = python::make_challenge(python::ChallengeStyle::legacy);
    ASSERT_EQ(modern.substr(0, 8), "{sha256}");
    ASSERT_EQ(modern.size(), 48u);
    ASSERT_EQ(legacy.size(), 20u);
    auto hex = [](const std::string& s) {
        std::string out;
        const char* d = "0123456789abcdef";
        for (unsigned char c : s) {
            out += d[c >> 4];
            out += d[c & 15];
        }
        return out;
    };
    const std::string script =
        "import sys\n"
        "from multiprocessing.connection import _create_response as f\n"
        "for m in sys.argv[1:]: print(f(b'k3y', bytes.fromhex(m)).hex())\n";
    auto r = run({py, "-c", script, hex(modern), hex(legacy)});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, hex(python::create_response("k3y", modern)) + "\n" +
                         hex(python::create_response("k3y", legacy)) + "\n");
    EXPECT_EQ(python::create_response("k3y", modern).substr(0, 8), "{sha256}");
    EXPECT_EQ(python::create_response("k3y", legacy).size(), 16u);  // raw HMAC-MD5
}

TEST(PythonConnection, VerifiesEveryDigestPythonAllows) {
    std::string challenge = python::make_challenge();
    // What a 3.11 client sends to a 3.12 server: raw HMAC-MD5 of the whole challenge.
    std::string md5 = python::create_response("key", std::string(20, 'a'));
    EXPECT_TRUE(python::verify_response("key", std::string(20, 'a'), md5));
    EXPECT_FALSE(python::verify_response("other", std::string(20, 'a'), md5));
    EXPECT_TRUE(
        python::verify_response("key", challenge, python::create_response("key", challenge)));
    for (const char* name : {"md5", "sha256", "sha384", "sha3_256", "sha3_384"}) {
        std::string c = std::string("{") + name + "}" + std::string(40, 'z');
        std::string answer = python::create_response("key", c);
        EXPECT_EQ(answer.rfind(std::string("{") + name + "}", 0), 0u) << name;
        EXPECT_TRUE(python::verify_response("key", c, answer)) << name;
        EXPECT_FALSE(python::verify_response("key", c + "x", answer)) << name;
        EXPECT_FALSE(python::verify_response("key", c, answer.substr(0, answer.size() - 1)))
            << name;
    }
    // A 3.12 server's challenge answered with a weaker digest is still checked: the MAC
    // covers the "{sha256}" prefix, so it cannot be replayed against another challenge.
    std::string wrong_digest = "{sha1}" + std::string(20, 'a');
    EXPECT_FALSE(python::verify_response("key", challenge, wrong_digest));
    EXPECT_FALSE(python::verify_response("key", challenge, ""));
    EXPECT_THROW(python::create_response("key", "short"), AuthenticationError);
    EXPECT_THROW(python::create_response("key", "{sha1}" + std::string(40, 'a')),
                 AuthenticationError);
    EXPECT_THROW(python::create_response("key", std::string(30, 'a')), AuthenticationError);
}

TEST(PythonConnection, Framing) {
    std::string out;
    python::append_message(out, "abc");
    EXPECT_EQ(out, "\0\0\0\3abc"s);
    std::string_view payload;
    std::size_t consumed = 0, needed = 0;
    const std::string stream = out + "rest";  // payload views into it
    EXPECT_TRUE(python::parse_message(stream, 100, payload, consumed, &needed));
    EXPECT_EQ(payload, "abc");
    EXPECT_EQ(consumed, 7u);
    EXPECT_FALSE(python::parse_message(out.substr(0, 5), 100, payload, consumed, &needed));
    EXPECT_EQ(needed, 7u);
    EXPECT_FALSE(python::parse_message("\0\0"s, 100, payload, consumed, &needed));
    EXPECT_EQ(needed, 0u);
    // The extended form: -1, then an 8-byte length (Python reads it for any size).
    std::string extended = "\xff\xff\xff\xff\0\0\0\0\0\0\0\2hi"s;
    EXPECT_TRUE(python::parse_message(extended, 100, payload, consumed));
    EXPECT_EQ(payload, "hi");
    EXPECT_EQ(consumed, 14u);
    EXPECT_THROW(python::parse_message("\0\0\1\0"s, 255, payload, consumed), ipckit::ValueError);
    EXPECT_THROW(python::parse_message("\xff\xff\xff\xfe"s, 255, payload, consumed),
                 ipckit::ValueError);
    EXPECT_THROW(
        python::parse_message("\xff\xff\xff\xff\x7f\0\0\0\0\0\0\0"s, 1u << 30, payload, consumed),
        ipckit::ValueError);

    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    Fd a(sv[0]), b(sv[1]);
    ASSERT_EQ(::write(a.fd, extended.data(), extended.size()),
              static_cast<ssize_t>(extended.size()));
    EXPECT_EQ(python::recv_message(b.fd, 100, soon()), "hi");
    python::send_message(a.fd, "", soon());
    EXPECT_EQ(python::recv_message(b.fd, 100, soon()), "");
    // Over the limit: refused before reading (or allocating) the payload.
    ASSERT_EQ(::write(a.fd, "\x7f\xff\xff\xff", 4), 4);
    EXPECT_THROW(python::recv_message(b.fd, 1 << 20, soon()), ipckit::ValueError);
}

TEST(PythonConnection, PipesAsMultiprocessingPipeUsesThem) {
    int to_child[2], to_parent[2];
    ASSERT_EQ(::pipe2(to_child, O_CLOEXEC), 0);
    ASSERT_EQ(::pipe2(to_parent, O_CLOEXEC), 0);
    Fd w(to_child[1]), r(to_parent[0]), cr(to_child[0]), cw(to_parent[1]);
    ASSERT_EQ(::fcntl(w.fd, F_SETFL, O_NONBLOCK), 0);
    ASSERT_EQ(::fcntl(r.fd, F_SETFL, O_NONBLOCK), 0);
    python::send_message(w.fd, "through a pipe", soon());
    EXPECT_EQ(python::recv_message(cr.fd, 100, soon()), "through a pipe");
    python::send_message(cw.fd, "and back", soon());
    EXPECT_EQ(python::recv_message(r.fd, 100, soon()), "and back");
}

TEST(PythonConnection, SilentAndVanishingPeers) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    Fd a(sv[0]), b(sv[1]);
    // A peer that never sends its challenge: the deadline ends the wait.
    try {
        python::answer_challenge(a.fd, "key", soon(200ms));
        ADD_FAILURE() << "no timeout";
    } catch (const ipckit::BusyError& e) {
        EXPECT_TRUE(e.timed_out());
    }
    // A peer that sends garbage instead of a challenge.
    python::send_message(b.fd, "#HELLO#", soon());
    EXPECT_THROW(python::answer_challenge(a.fd, "key", soon()), AuthenticationError);
    // A peer that answers a challenge with an over-long message (Python's recv_bytes(256)).
    python::send_message(b.fd, std::string(300, 'x'), soon());
    EXPECT_THROW(python::deliver_challenge(a.fd, "key", soon()), AuthenticationError);
    // A peer that goes away (the over-long message above was left unread: a new pair).
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    Fd c(sv[0]);
    ::close(sv[1]);
    EXPECT_THROW(python::recv_message(c.fd, 100, soon()), ipckit::ConnectionError);
    EXPECT_THROW(python::answer_challenge(c.fd, "key", soon()), ipckit::ConnectionError);
}
