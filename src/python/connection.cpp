// ipckit::python: multiprocessing.connection's framing and challenge-response authentication.
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "ipckit/error.hpp"
#include "ipckit/python_connection.hpp"

namespace ipckit::python {
namespace {

constexpr std::size_t legacy_challenge_size = 20;  // Python 3.11's os.urandom(20)
constexpr std::size_t modern_random_size = 40;     // Python 3.12's MESSAGE_LENGTH
constexpr std::size_t md5_size = 16;

// ---- I/O with a deadline ----

int wait_for(int fd, short events, Deadline deadline, const char* doing) {
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            throw BusyError(BusyError::Reason::timed_out, ETIMEDOUT,
                            std::string("python connection: timed out ") + doing);
        }
        pollfd p{fd, events, 0};
        int rc = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count() + 1, 1 << 30)));
        if (rc < 0) {
            if (errno == EINTR) continue;
            throw ConnectionError(errno, std::string("python connection: poll failed ") + doing +
                                             ": " + std::strerror(errno));
        }
        if (rc == 1) return p.revents;
    }
}

void send_all(int fd, std::string_view data, Deadline deadline) {
    while (!data.empty()) {
        ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == ENOTSOCK) n = ::write(fd, data.data(), data.size());  // a pipe
        if (n > 0) {
            data.remove_prefix(static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            wait_for(fd, POLLOUT, deadline, "sending");
            continue;
        }
        throw ConnectionError(errno, std::string("python connection: cannot send: ") +
                                         std::strerror(errno) + " (the peer went away?)");
    }
}

void recv_exact(int fd, char* out, std::size_t size, Deadline deadline) {
    std::size_t done = 0;
    while (done < size) {
        ssize_t n = ::recv(fd, out + done, size - done, MSG_DONTWAIT);
        if (n < 0 && errno == ENOTSOCK) n = ::read(fd, out + done, size - done);  // a pipe
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n == 0) {
            throw ConnectionError("python connection: the peer closed the connection" +
                                  std::string(done ? " in the middle of a message" : ""));
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            wait_for(fd, POLLIN, deadline, "receiving");
            continue;
        }
        throw ConnectionError(
            errno, std::string("python connection: cannot receive: ") + std::strerror(errno));
    }
}

std::uint64_t be(const char* p, int n) {
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i)
        v = (v << 8) | static_cast<unsigned char>(p[i]);
    return v;
}

[[noreturn]] void too_long(std::uint64_t n, std::size_t max_size) {
    throw ValueError("python connection: message of " + std::to_string(n) +
                     " bytes exceeds the limit of " + std::to_string(max_size) + " bytes");
}

// ---- HMAC ----

const EVP_MD* digest_named(std::string_view name) {
    if (name == "md5") return EVP_md5();
    if (name == "sha256") return EVP_sha256();
    if (name == "sha384") return EVP_sha384();
    if (name == "sha3_256") return EVP_sha3_256();
    if (name == "sha3_384") return EVP_sha3_384();
    return nullptr;
}

std::string hmac(const EVP_MD* md, std::string_view key, std::string_view message) {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    static const unsigned char empty = 0;
    const void* k = key.empty() ? static_cast<const void*>(&empty) : key.data();
    const unsigned char* m =
        message.empty() ? &empty : reinterpret_cast<const unsigned char*>(message.data());
    if (!HMAC(md, k, static_cast<int>(key.size()), m, message.size(), digest, &length))
        throw AuthenticationError("python connection: HMAC failed (OpenSSL)");
    return std::string(reinterpret_cast<const char*>(digest), length);
}

// Python's _get_digest_name_and_payload: "" for the legacy forms (16 or 20 bytes, no prefix).
bool split_digest(std::string_view message, std::string& name, std::string_view& payload) {
    if (message.size() == legacy_challenge_size || message.size() == md5_size) {
        name.clear();
        payload = message;
        return true;
    }
    if (message.empty() || message[0] != '{') return false;
    auto close = message.find('}', 1);
    if (close == std::string_view::npos || close > 10) return false;  // "sha3_384" is 8
    name = std::string(message.substr(1, close - 1));
    if (!digest_named(name)) return false;
    payload = message.substr(close + 1);
    return true;
}

std::string printable(std::string_view s) {
    std::string out;
    for (char c : s.substr(0, 40)) {
        auto u = static_cast<unsigned char>(c);
        if (u >= 0x20 && u < 0x7f) {
            out += c;
        } else {
            const char* d = "0123456789abcdef";
            out += "\\x";
            out += d[u >> 4];
            out += d[u & 15];
        }
    }
    return out + (s.size() > 40 ? "..." : "");
}

}  // namespace

// ---- framing ----

void append_message(std::string& out, std::string_view payload) {
    std::uint64_t n = payload.size();
    if (n > 0x7fffffffu) {
        out.append("\xff\xff\xff\xff", 4);
        for (int i = 7; i >= 0; --i)
            out += static_cast<char>((n >> (8 * i)) & 0xff);
    } else {
        for (int i = 3; i >= 0; --i)
            out += static_cast<char>((n >> (8 * i)) & 0xff);
    }
    out.append(payload);
}

bool parse_message(std::string_view buffer, std::size_t max_size, std::string_view& payload,
                   std::size_t& consumed, std::size_t* needed) {
    if (needed) *needed = 0;
    if (buffer.size() < 4) return false;
    auto n = static_cast<std::int32_t>(static_cast<std::uint32_t>(be(buffer.data(), 4)));
    std::uint64_t size;
    std::size_t header = 4;
    if (n == -1) {
        if (buffer.size() < 12) return false;
        size = be(buffer.data() + 4, 8);
        header = 12;
    } else if (n < 0) {
        throw ValueError("python connection: negative message length " + std::to_string(n));
    } else {
        size = static_cast<std::uint64_t>(n);
    }
    if (size > max_size) too_long(size, max_size);
    if (needed) *needed = header + static_cast<std::size_t>(size);
    if (buffer.size() - header < size) return false;
    payload = buffer.substr(header, static_cast<std::size_t>(size));
    consumed = header + static_cast<std::size_t>(size);
    return true;
}

void send_message(int fd, std::string_view payload, Deadline deadline) {
    std::string header;
    std::uint64_t n = payload.size();
    if (n > 0x7fffffffu) header.assign(4, '\xff');
    for (int i = n > 0x7fffffffu ? 7 : 3; i >= 0; --i)
        header += static_cast<char>((n >> (8 * i)) & 0xff);
    if (payload.size() < 16384) {  // one send for small messages
        send_all(fd, header + std::string(payload), deadline);
    } else {
        send_all(fd, header, deadline);
        send_all(fd, payload, deadline);
    }
}

std::string recv_message(int fd, std::size_t max_size, Deadline deadline) {
    char header[12];
    recv_exact(fd, header, 4, deadline);
    auto n = static_cast<std::int32_t>(static_cast<std::uint32_t>(be(header, 4)));
    std::uint64_t size;
    if (n == -1) {
        recv_exact(fd, header + 4, 8, deadline);
        size = be(header + 4, 8);
    } else if (n < 0) {
        throw ValueError("python connection: negative message length " + std::to_string(n));
    } else {
        size = static_cast<std::uint64_t>(n);
    }
    if (size > max_size) too_long(size, max_size);
    std::string payload(static_cast<std::size_t>(size), '\0');
    recv_exact(fd, payload.data(), payload.size(), deadline);
    return payload;
}

// ---- authentication ----

std::string make_challenge(ChallengeStyle style) {
    std::size_t n = style == ChallengeStyle::legacy ? legacy_challenge_size : modern_random_size;
    std::string random(n, '\0');
    std::size_t done = 0;
    while (done < n) {
        ssize_t got = ::getrandom(random.data() + done, n - done, 0);
        if (got < 0) {
            if (errno == EINTR) continue;
            throw Error(errno, "python connection: getrandom failed");
        }
        done += static_cast<std::size_t>(got);
    }
    return style == ChallengeStyle::legacy ? random : "{sha256}" + random;
}

std::string create_response(std::string_view authkey, std::string_view challenge) {
    if (challenge.size() < legacy_challenge_size) {
        throw AuthenticationError("python connection: challenge too short: " +
                                  std::to_string(challenge.size()) + " bytes");
    }
    std::string name;
    std::string_view payload;
    if (!split_digest(challenge, name, payload)) {
        throw AuthenticationError(
            "python connection: unsupported challenge (missing or unknown {digest} prefix): '" +
            printable(challenge) + "'");
    }
    if (name.empty()) return hmac(EVP_md5(), authkey, challenge);  // a Python 3.11 server
    return "{" + name + "}" + hmac(digest_named(name), authkey, challenge);
}

bool verify_response(std::string_view authkey, std::string_view challenge,
                     std::string_view response) {
    std::string name;
    std::string_view mac;
    if (!split_digest(response, name, mac)) return false;
    if (name.empty()) name = "md5";
    std::string expected = hmac(digest_named(name), authkey, challenge);
    return expected.size() == mac.size() &&
           CRYPTO_memcmp(expected.data(), mac.data(), mac.size()) == 0;
}

void deliver_challenge(int fd, std::string_view authkey, Deadline deadline, ChallengeStyle style) {
    std::string challenge = make_challenge(style);
    send_message(fd, std::string(challenge_prefix) + challenge, deadline);
    std::string response;
    try {
        response = recv_message(fd, auth_max_message, deadline);
    } catch (const ValueError& e) {
        throw AuthenticationError(std::string("python connection: bad answer to the challenge: ") +
                                  e.what());
    }
    if (!verify_response(authkey, challenge, response)) {
        send_message(fd, failure, deadline);
        throw AuthenticationError(
            "python connection: the peer's answer to the challenge was wrong (a different "
            "authkey?)");
    }
    send_message(fd, welcome, deadline);
}

void answer_challenge(int fd, std::string_view authkey, Deadline deadline) {
    std::string message;
    try {
        message = recv_message(fd, auth_max_message, deadline);
    } catch (const ValueError& e) {
        throw AuthenticationError(std::string("python connection: bad challenge: ") + e.what());
    }
    if (message.rfind(challenge_prefix, 0) != 0) {
        throw AuthenticationError("python connection: protocol error, expected a challenge, got '" +
                                  printable(message) + "'");
    }
    std::string_view challenge = std::string_view(message).substr(challenge_prefix.size());
    send_message(fd, create_response(authkey, challenge), deadline);
    std::string reply;
    try {
        reply = recv_message(fd, auth_max_message, deadline);
    } catch (const ValueError& e) {
        throw AuthenticationError(std::string("python connection: bad reply: ") + e.what());
    }
    if (reply != welcome) {
        throw AuthenticationError(
            "python connection: the peer rejected our answer to its challenge (a different "
            "authkey?)");
    }
}

}  // namespace ipckit::python
