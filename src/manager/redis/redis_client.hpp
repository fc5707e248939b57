// The manager's Redis back end: a detail::Client that keeps every object in Redis, so that
// the same proxies (DictProxy, ListProxy, QueueProxy, LockProxy, EventProxy...) work
// unchanged against `Manager::connect("redis://HOST:PORT[/DB]")`. See docs/scale-out.md.
//
// Objects: a named object lives under the keys ipckit:{NAME}:... (one Cluster slot per
// object); an anonymous one gets a random name, a reference count in Redis, and a lease
// (every key expires after lease_ms unless a holder renews it), so that it goes with its
// last proxy, or with its last holder process when every holder died.
//
// Every compound operation is one Lua function (script.cpp; a Redis Function library called
// with FCALL, or a script run with EVALSHA on servers without Functions): atomic across
// clients. Values are the manager's MessagePack encoding of an Object. What one plain
// command does alone is sent as that command: reads, a named list's append, an unbounded
// queue's put (named, not joinable) and get.
//
// Blocking calls wait without polling Redis for state: a waiter registers its own key in
// the object's waiter set and blocks in BLPOP on it, woken by the script that changes the
// state (release, set, get...); a Queue's get blocks in BLPOP on the queue's list. Each BLPOP
// lasts at most a slice (200 ms), so that a stop request (ipckit/signals.hpp) and the end of
// a lease (a holder that died) are seen.
//
// Namespace: a dict's keys (a hash and its insertion order); Value: a string; Array: a list
// of fixed size; the typecode checks are the ipckit server's (types/request_error.hpp).
// Condition: a list of waiter keys (notify pops them and pushes to each), over a leased
// Lock/RLock of its own keys (another slot in a Cluster): wait queues itself, releases the
// lock, blocks in BLPOP on its key, then takes the lock back with its levels.
//
// Locks: Lock and RLock are a key set with SET NX PX (the holder's random token, the lease);
// Semaphores a sorted set of units with their lease ends. A background thread of each
// process renews what the process holds every lease/3; a process that dies stops renewing,
// and its lock frees itself within the lease; the next acquirer is told (acquire answers
// recovered). Release checks the token (a script): only the holder releases a Lock.
//
// Connections: one per process, thread and server, as SocketClient; a forked child opens
// its own. Against a Redis Cluster (the address of any node) each command goes to the node
// that holds its object's slot (redis::Router: CLUSTER SLOTS, MOVED, ASK).
// A broken connection (the server restarted, say) throws ConnectionError naming the address,
// and the next call reconnects.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "../client.hpp"
#include "connection.hpp"

namespace ipckit::detail {

class RedisClient final : public Client {
  public:
    RedisClient(const std::string& address, const std::string& password, ManagerOptions options);
    ~RedisClient() override;

    Object call(int op, std::uint64_t id, const Object::List& args,
                const Deadline* deadline = nullptr) override;
    Object call_blocking(int op, std::uint64_t id, const Object::List& args) override;
    void check() override;
    const std::string& address() const override { return endpoint_.text; }
    const std::string& authkey() const override { return no_authkey_; }

    struct Ref {
        std::string type;
        std::string name;
        std::string base;  // ipckit:{name}
        bool anonymous;
        std::string param;  // a Value's or Array's typecode; a Condition's "LOCKTYPE NAME"
    };
    struct Renewer;

  private:
    redis::Router& router();
    void drop_connection();
    std::shared_ptr<const Ref> ref(std::uint64_t id);  // shared: no copy per call
    Object create(const Object::List& args);
    void hold(const Ref& r, bool more);  // the Renewer's count of anonymous references
    Object condition(int op, std::uint64_t id, const Ref& r, const Object::List& args);
    Object perform(int op, std::uint64_t id, const Object::List& args, bool blocking);
    std::string thread_token();
    Renewer& renewer();

    redis::Endpoint endpoint_;
    ManagerOptions options_;
    std::string no_authkey_;

    std::mutex mutex_;
    pid_t pid_;
    std::string session_;  // this process's random token
    std::unordered_map<std::thread::id, std::unique_ptr<redis::Router>> routers_;
    std::unordered_map<std::uint64_t, std::shared_ptr<const Ref>> refs_;
    std::uint64_t next_id_ = 1;
    Renewer* renewer_ = nullptr;  // this process's (a forked child's copy is left alone)
    pid_t renewer_pid_ = 0;
};

}  // namespace ipckit::detail
