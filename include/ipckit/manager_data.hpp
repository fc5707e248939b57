// The manager's Namespace, Value and Array, as Python's SyncManager serves them, and
// Manager::proxy, which reads back a proxy stored in a dict, list or Namespace. Included by
// ipckit/manager.hpp.
//
//   ipckit::Manager m;
//   auto ns = m.namespace_();
//   ns.set("x", 1);
//   std::cout << ns << '\n';                        // Namespace(x=1)
//   auto counter = m.value('i', 0);                 // Value('i', 0)
//   auto arr = m.array('d', {1, 2});                // array('d', [1.0, 2.0])
//   auto d = m.dict();
//   d.set("q", m.queue());                          // a dict of queues
//   auto q = ipckit::Manager::proxy<ipckit::QueueProxy>(d.get("q"));
//
// Typecodes are Python's array module's (b B u h H i I l L q Q f d): ValueError for another
// one, and for an item that does not suit it (Python's TypeError and OverflowError, with
// their messages).
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <type_traits>

#include "ipckit/manager.hpp"

namespace ipckit {

// Python's managers.Namespace: attributes by name (a non-empty str not starting with '_'),
// printed as Python prints it: Namespace(x=1, y='a') (sorted).
class NamespaceProxy : public Proxy {
  public:
    // getattr(ns, name): KeyError "AttributeError: 'Namespace' object has no attribute
    // 'x'" when absent (Python's AttributeError).
    Object get(std::string_view name) const;
    Object get(std::string_view name, const Object& default_value) const;
    void set(std::string_view name, const Object& value);  // setattr
    void erase(std::string_view name);                     // delattr: KeyError when absent
    bool contains(std::string_view name) const;            // hasattr
    Object::Dict copy() const;                             // vars(ns)

  private:
    friend class Manager;
    using Proxy::Proxy;
};

// Python's m.Value(typecode, value): get and set (ValueError when the value does not suit
// the typecode), printed Value('i', 0). Increments are not atomic: hold a manager Lock.
class ValueProxy : public Proxy {
  public:
    Object get() const;
    void set(const Object& value);

  private:
    friend class Manager;
    using Proxy::Proxy;
};

// Python's m.Array(typecode, sequence), an array.array: size() items of the typecode's C
// type; negative indexes count from the end; IndexError out of range. Printed
// array('i', [1, 2]).
class ArrayProxy : public Proxy {
  public:
    Object get(std::int64_t index) const;
    void set(std::int64_t index, const Object& value);
    Object::List copy() const;  // a[:]

  private:
    friend class Manager;
    using Proxy::Proxy;
};

namespace detail {
// The referent types a proxy class stands for, space-separated.
template <class P>
constexpr std::string_view referent_types() {
    if constexpr (std::is_same_v<P, DictProxy>) return "dict";
    if constexpr (std::is_same_v<P, ListProxy>) return "list";
    if constexpr (std::is_same_v<P, QueueProxy>) return "Queue JoinableQueue";
    if constexpr (std::is_same_v<P, JoinableQueueProxy>) return "JoinableQueue";
    if constexpr (std::is_same_v<P, LockProxy>) return "Lock";
    if constexpr (std::is_same_v<P, RLockProxy>) return "RLock";
    if constexpr (std::is_same_v<P, SemaphoreProxy>) return "Semaphore BoundedSemaphore";
    if constexpr (std::is_same_v<P, BoundedSemaphoreProxy>) return "BoundedSemaphore";
    if constexpr (std::is_same_v<P, EventProxy>) return "Event";
    if constexpr (std::is_same_v<P, BarrierProxy>) return "Barrier";
    if constexpr (std::is_same_v<P, NamespaceProxy>) return "Namespace";
    if constexpr (std::is_same_v<P, ValueProxy>) return "Value";
    if constexpr (std::is_same_v<P, ArrayProxy>) return "Array";
    return "";
}
}  // namespace detail

template <class P>
P Manager::proxy(const Object& ref) {
    if constexpr (std::is_same_v<P, ConditionProxy>) {
        auto state = detail::ref_state(ref, "Condition");
        auto lock = detail::condition_lock(state);
        return P(std::move(state), std::move(lock));
    } else if constexpr (std::is_same_v<P, ObjectProxy>) {
        // Any referent (a Python server's #PROXY answer of a typeid ipckit does not know):
        // its methods are called by name.
        return P(detail::ref_state(
            ref, ref.is_ref() ? std::string_view(ref.as_ref().type) : std::string_view("object")));
    } else {
        static_assert(!detail::referent_types<P>().empty(), "not a manager proxy type");
        return P(detail::ref_state(ref, detail::referent_types<P>()));
    }
}

}  // namespace ipckit
