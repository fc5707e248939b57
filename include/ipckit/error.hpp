// ipckit's error model: one hierarchy rooted at ipckit::Error.
//
// Every error carries errno (0 when there is none) and a message that names the
// object and, where there is one, the likely fix. The kinds mirror sysv_ipc.
#pragma once

#include <string>
#include <system_error>

namespace ipckit {

// Root of every exception ipckit throws.
class Error : public std::system_error {
  public:
    Error(int errno_value, const std::string& what)
        : std::system_error(errno_value, std::generic_category(), what), message_(what) {}
    explicit Error(const std::string& what) : Error(0, what) {}
    // The errno of the failed call, or 0 when there was no system call.
    int errno_value() const noexcept { return code().value(); }
    // Our message alone: it already says what failed and why, without strerror's suffix.
    const char* what() const noexcept override { return message_.c_str(); }

  private:
    std::string message_;
};

// The object does not exist, already exists, or was removed.
class ExistentialError : public Error {
  public:
    using Error::Error;
};

// The call would block (non-blocking mode) or its timeout passed.
class BusyError : public Error {
  public:
    enum class Reason { would_block, timed_out };
    BusyError(Reason reason, int errno_value, const std::string& what)
        : Error(errno_value, what), reason_(reason) {}
    Reason reason() const noexcept { return reason_; }
    bool timed_out() const noexcept { return reason_ == Reason::timed_out; }

  private:
    Reason reason_;
};

// The caller lacks the permission the object's mode asks for.
class PermissionsError : public Error {
  public:
    using Error::Error;
};

// Shared memory was used while not attached.
class NotAttachedError : public Error {
  public:
    using Error::Error;
};

// A blocking call was woken because a stop was requested (see ipckit/signals.hpp).
class InterruptedError : public Error {
  public:
    using Error::Error;
};

// A value is out of range or malformed (bad key, bad type, message too large...).
class ValueError : public Error {
  public:
    using Error::Error;
};

// Manager errors.
class KeyError : public Error {
  public:
    using Error::Error;
};
class IndexError : public Error {
  public:
    using Error::Error;
};
class ConnectionError : public Error {
  public:
    using Error::Error;
};
class AuthenticationError : public Error {
  public:
    using Error::Error;
};
class RemoteError : public Error {
  public:
    using Error::Error;
};
// Python's RuntimeError from a manager lock: releasing an unlocked Lock, or an RLock that
// the calling thread does not own.
class RuntimeError : public Error {
  public:
    using Error::Error;
};
// threading.BrokenBarrierError: a manager Barrier was aborted, reset, or broken by a
// waiter that timed out or went away.
class BrokenBarrierError : public Error {
  public:
    using Error::Error;
};
// queue.Empty: a queue's get (ipckit::Queue, or a manager Queue) found no item, without
// blocking (would_block) or within its timeout (timed_out).
class Empty : public BusyError {
  public:
    using BusyError::BusyError;
};
// queue.Full: a queue's put found no room, without blocking or within its timeout.
class Full : public BusyError {
  public:
    using BusyError::BusyError;
};

}  // namespace ipckit
