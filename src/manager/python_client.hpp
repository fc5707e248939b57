// The client of a Python manager server (multiprocessing.managers.BaseManager/SyncManager
// started with start() or get_server().serve_forever()): the proxies' requests (the op codes
// of wire.hpp) made as Python's proxies make them.
//
// Public requests (create, incref, decref, number_of_objects, shutdown, dummy) use a
// connection each, as Python's manager does; method calls use one connection per thread
// (opened with accept_connection). A method the server maps to a typeid (method_to_typeid:
// iterators, objects of a registered type) answers #PROXY: the call returns an Object::ref,
// read with Manager::proxy<P> (ObjectProxy for any typeid). Every connection authenticates both
// ways with multiprocessing.connection's challenge-response (ipckit/python_connection.hpp). An
// object's id is its Python ident ('%x' of the referent's address) read as a number.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "client.hpp"
#include "net.hpp"

namespace ipckit::detail {

class PythonClient final : public Client, public std::enable_shared_from_this<PythonClient> {
  public:
    // `address`: "python+tcp://HOST:PORT" or "python+unix:PATH".
    PythonClient(std::string address, std::string authkey, ManagerOptions options);
    ~PythonClient() override;

    Object call(int op, std::uint64_t id, const Object::List& args,
                const Deadline* deadline = nullptr) override;
    // Python's server blocks a thread of its own on the call; this waits for its answer.
    // A stop request during the wait closes this thread's connection (InterruptedError).
    Object call_blocking(int op, std::uint64_t id, const Object::List& args) override;
    void check() override;
    const std::string& address() const override { return address_text_; }
    const std::string& authkey() const override { return authkey_; }

    // A call of `typeid` registered on the Python server (BaseManager.register): the new
    // object's id; `exposed` gets its methods.
    std::uint64_t create(const std::string& typeid_, const Object::List& args);

  private:
    // One request on a fresh connection (Python's public methods).
    Object public_call(const std::string& method, const Object::List& args);
    // A method of object `id` on this thread's connection.
    Object method_call(std::uint64_t id, const std::string& method, const Object::List& args,
                       const Object& kwds = Object(), bool blocking = false);
    Fd open();
    // One request and its reply. A blocking call waits for the reply until it comes or a
    // stop request wakes it (InterruptedError); an ordinary one waits at most the call
    // timeout, first spinning for up to ManagerOptions::spin.
    Object exchange(int fd, const Object& request, bool blocking);
    void send_request(int fd, const Object& request);
    std::string_view receive_reply(int fd, bool blocking);
    [[noreturn]] void lost(const std::string& what, int error);
    // A #PROXY reply, (exposed, token): an Object::ref holding the reference the server took
    // for us (Python's create in serve_client), released when the last copy goes.
    Object proxy_of(const Object& exposed_and_token);
    [[noreturn]] void raise(const std::string& kind, const Object& value);

    std::string address_text_;
    Address address_;
    std::string authkey_;
    ManagerOptions options_;
    std::mutex mutex_;
    pid_t pid_;
    std::unordered_map<std::thread::id, Fd> connections_;
};

// True for the addresses PythonClient takes ("python+...").
bool is_python_address(const std::string& address);

}  // namespace ipckit::detail
