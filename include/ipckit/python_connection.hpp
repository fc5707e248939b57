// ipckit::python: the wire of Python's multiprocessing.connection over a socket.
//
// Framing, as Connection.send_bytes/recv_bytes: a 4-byte big-endian signed length, then
// the payload; a payload over 0x7fffffff bytes has the length -1 followed by an 8-byte
// big-endian length. Every receive has a maximum size (checked before allocating).
//
// Authentication, as multiprocessing.connection's deliver_challenge/answer_challenge in
// Python 3.11 (HMAC-MD5 of a 20-byte random challenge) and in 3.12+ (the challenge is
// "{sha256}" + 40 random bytes; the reply "{digest}" + HMAC, the HMAC covering the whole
// challenge including its prefix): each side accepts what either version sends. The serving
// side (Listener.accept) does deliver_challenge then answer_challenge; the client (Client())
// does answer_challenge then deliver_challenge. Python's authentication proves that both
// sides know the key; it neither encrypts nor protects the messages that follow.
//
// The blocking functions take a socket or a pipe (blocking or not; a blocking pipe may block
// past the deadline) and a deadline; they throw
// ConnectionError (closed, I/O error), BusyError (timed_out) when the deadline passes,
// ValueError (malformed or over-long frame) and AuthenticationError. The pure functions
// below them let a non-blocking server run the same steps from its event loop.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace ipckit::python {

using Deadline = std::chrono::steady_clock::time_point;

inline constexpr std::string_view challenge_prefix = "#CHALLENGE#";
inline constexpr std::string_view welcome = "#WELCOME#";
inline constexpr std::string_view failure = "#FAILURE#";
// Python's recv_bytes(256) during authentication.
inline constexpr std::size_t auth_max_message = 256;

// ---- framing ----------------------------------------------------------------------------

// Appends the length header and `payload` to `out`.
void append_message(std::string& out, std::string_view payload);

// Looks for one complete message at the start of `buffer`. True: `payload` views it inside
// `buffer` and `consumed` is its size with the header. False: more bytes are needed (and
// `needed`, when not null, gets the total size the message will have once its header is
// known, else 0). ValueError when the length is negative (other than the -1 marker) or over
// `max_size`: the message must not be read.
bool parse_message(std::string_view buffer, std::size_t max_size, std::string_view& payload,
                   std::size_t& consumed, std::size_t* needed = nullptr);

// Sends one message (header + payload) before the deadline.
void send_message(int fd, std::string_view payload, Deadline deadline);
// Receives one message of at most `max_size` bytes before the deadline.
std::string recv_message(int fd, std::size_t max_size, Deadline deadline);

// ---- authentication ---------------------------------------------------------------------

enum class ChallengeStyle {
    modern,  // Python 3.12+: "{sha256}" + 40 random bytes (3.11 peers answer it with MD5)
    legacy,  // Python 3.11: 20 random bytes, HMAC-MD5 only
};

// Serving side: sends a challenge, checks the reply, sends #WELCOME# or #FAILURE#.
// AuthenticationError when the peer's reply is wrong (after sending #FAILURE#).
void deliver_challenge(int fd, std::string_view authkey, Deadline deadline,
                       ChallengeStyle style = ChallengeStyle::modern);
// Connecting side: answers the peer's challenge and expects #WELCOME#.
// AuthenticationError when the peer sent no challenge, or rejected the answer.
void answer_challenge(int fd, std::string_view authkey, Deadline deadline);

// The pieces, for an event loop. The challenge message (without #CHALLENGE#), random.
std::string make_challenge(ChallengeStyle style = ChallengeStyle::modern);
// The reply to `challenge` (the message after #CHALLENGE#) as Python 3.12 writes it: raw
// HMAC-MD5 for a 20-byte (3.11) challenge, else "{digest}" + HMAC with the challenge's digest.
// AuthenticationError for a challenge shorter than 20 bytes or with an unknown digest.
std::string create_response(std::string_view authkey, std::string_view challenge);
// True when `response` is a correct reply to `challenge`: a 16-byte raw HMAC-MD5 (3.11
// clients), or "{md5|sha256|sha384|sha3_256|sha3_384}" + HMAC. Constant time in the MAC.
bool verify_response(std::string_view authkey, std::string_view challenge,
                     std::string_view response);

}  // namespace ipckit::python
