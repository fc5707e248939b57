// The client side of the manager: one authenticated connection per process and thread.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "ipckit/manager.hpp"
#include "ipckit/object.hpp"
#include "net.hpp"
#include "wire.hpp"

namespace ipckit::detail {

// This process's pid, cached (refreshed after fork by a pthread_atfork handler).
pid_t current_pid() noexcept;

// What proxies talk to: requests [op, id, args...] with the op codes of wire.hpp, answered
// by an ipckit manager server over a socket (SocketClient) or by another back end that
// implements the same requests.
class Client {
  public:
    using Deadline = std::chrono::steady_clock::time_point;
    virtual ~Client() = default;
    // Sends [op, id, args...] and returns the result, or throws the server's error. With a
    // deadline (connecting included), ConnectionError when the answer has not come by then.
    virtual Object call(int op, std::uint64_t id, const Object::List& args,
                        const Deadline* deadline = nullptr) = 0;
    // A call that the back end may make wait (Queue.get, acquire, Event.wait...); a stop
    // request (ipckit/signals.hpp) ends the wait with InterruptedError.
    virtual Object call_blocking(int op, std::uint64_t id, const Object::List& args) = 0;
    // Connects now (so that a bad address or authkey fails at once).
    virtual void check() = 0;
    // After shutdown every call throws ConnectionError at once.
    void mark_closed() { closed_.store(true); }
    bool closed() const { return closed_.load(); }
    virtual const std::string& address() const = 0;
    virtual const std::string& authkey() const = 0;

  protected:
    std::atomic<bool> closed_{false};
};

// The client of an ipckit manager server: one authenticated connection per process and
// thread.
class SocketClient final : public Client {
  public:
    SocketClient(std::string address, std::string authkey, ManagerOptions options);
    ~SocketClient() override;

    Object call(int op, std::uint64_t id, const Object::List& args,
                const Deadline* deadline = nullptr) override;
    // A call that the server may park (Queue.get, acquire, Event.wait...): it waits for
    // the answer as long as the server takes (the server applies the call's timeout). A
    // stop request before the call throws InterruptedError without sending it; one during
    // the wait sends `cancel` and reads the answer: InterruptedError when the server
    // cancelled the call, the result when it had answered first (an item got is never
    // dropped, a lock acquired is returned to the caller). The connection stays in step, so
    // what this thread holds on the server stays held.
    Object call_blocking(int op, std::uint64_t id, const Object::List& args) override;
    void check() override { connection(); }

    const std::string& address() const override { return address_text_; }
    const std::string& authkey() const override { return authkey_; }

  private:
    struct Connection {
        explicit Connection(std::size_t max_frame) : reader(max_frame) {}
        Fd fd;
        wire::FrameReader reader;
        std::string out;
    };
    void set_call_timeout(int fd) const;
    // Drops this thread's connection (out of step with the server). It stays open until the
    // thread's next connection is made, so that the session (and the references it holds)
    // never has zero connections on the server meanwhile.
    void retire_connection();
    Connection& connection(const Deadline* deadline = nullptr);
    std::unique_ptr<Connection> open(const Deadline* deadline);
    [[noreturn]] void lost(const std::string& what, int error = 0);
    [[noreturn]] void no_answer(const char* what);  // the call timeout passed
    void send_request(Connection& c, int op, std::uint64_t id, const Object::List& args,
                      const Deadline* deadline);
    Object result(std::string_view payload);

    std::string address_text_;
    Address address_;
    std::string authkey_;
    ManagerOptions options_;

    std::mutex mutex_;
    pid_t pid_;
    std::string session_;
    std::unordered_map<std::thread::id, std::unique_ptr<Connection>> connections_;
    std::vector<std::unique_ptr<Connection>> retired_;  // see retire_connection
};

// What a proxy refers to. Anonymous referents are counted by the server per client
// process: the process that created the proxy holds one reference; a forked child that
// uses it takes its own (dropped by the server when the child's connections close).
struct ProxyState {
    ProxyState(std::shared_ptr<Client> c, std::uint64_t object_id, bool is_named,
               std::string type_name = {});
    ~ProxyState();
    ProxyState(const ProxyState&) = delete;
    ProxyState& operator=(const ProxyState&) = delete;

    Object call(int op, const Object::List& args);
    Object call_blocking(int op, const Object::List& args);

    // Every ref (Object::ref) in `value`, an answer that holds one reference per ref for
    // this process's session, gets a ProxyState of its own that releases it.
    static void adopt_refs(Object& value, const std::shared_ptr<Client>& client);
    // The state behind a ref read from the server (ValueError when `ref` is not a ref, or
    // names none of `types`, a space-separated list).
    static std::shared_ptr<ProxyState> of_ref(const Object& ref, std::string_view types);

    std::shared_ptr<Client> client;
    std::uint64_t id;
    bool named;
    std::string type;           // the referent's type name (Queue, dict...), "" when unknown
    std::atomic<pid_t> holder;  // the process whose session holds our reference
};

}  // namespace ipckit::detail
