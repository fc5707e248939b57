// Custom manager types, as Python's BaseManager.register(): a program registers a C++ class
// under a type name with the methods it exposes; a Manager (or serve_manager) given the
// registry serves it, and clients call it through an ObjectProxy. Included by
// ipckit/manager.hpp.
//
//   struct Counter {
//       std::int64_t n = 0;
//       void increment(std::int64_t by) { n += by; }
//       std::int64_t value() const { return n; }
//   };
//   ipckit::Registry registry;
//   registry.add<Counter>("Counter", {{"increment", &Counter::increment},
//                                     {"value", &Counter::value}});
//   ipckit::Manager m(registry);  // or serve_manager(address, authkey, registry)
//   auto c = m.object("Counter");  // named: m.named_object("hits", "Counter")
//   c.call("increment", 5);
//   std::int64_t v = c.call("value").as_int();
//
// Methods take and return Objects or what converts to and from one: bool, integers,
// float/double, std::string, Object::List, Object::Dict, std::vector<T> of those (void
// returns None). Constructor arguments likewise: registry.add<Counter, std::int64_t>(...)
// constructs Counter(std::int64_t) from m.object("Counter", 10).
//
// The server runs one method at a time, to completion: the calls on an object never
// overlap, and a method must not block (it would stop the whole server). A method that
// throws ipckit::ValueError / KeyError / IndexError gives the caller the same error; any
// other exception reaches the caller as RemoteError naming the type and method.
#pragma once

#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "ipckit/object.hpp"

namespace ipckit {

namespace detail {

template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};

// An argument of a registered method (or constructor) from the Object the caller sent.
template <class T>
T from_object(const Object& o) {
    using U = std::remove_cvref_t<T>;
    if constexpr (std::is_same_v<U, Object>) {
        return o;
    } else if constexpr (std::is_same_v<U, bool>) {
        return o.as_bool();
    } else if constexpr (std::is_integral_v<U>) {
        std::int64_t v = o.as_int();
        if (!std::in_range<U>(v)) throw ValueError(std::to_string(v) + " is out of range");
        return static_cast<U>(v);
    } else if constexpr (std::is_floating_point_v<U>) {
        return static_cast<U>(o.is_int() ? static_cast<double>(o.as_int()) : o.as_double());
    } else if constexpr (std::is_same_v<U, std::string>) {
        return o.as_string();
    } else if constexpr (std::is_same_v<U, Object::List> || std::is_same_v<U, Object::Dict>) {
        if constexpr (std::is_same_v<U, Object::List>) {
            return o.as_list();
        } else {
            return o.as_dict();
        }
    } else if constexpr (is_vector<U>::value) {
        U out;
        for (const auto& item : o.as_list())
            out.push_back(from_object<typename U::value_type>(item));
        return out;
    } else {
        static_assert(!sizeof(U), "a registered method's parameter must convert from Object");
    }
}

// A registered method's result as an Object.
template <class R>
Object to_object(R&& r) {
    using U = std::remove_cvref_t<R>;
    if constexpr (std::is_constructible_v<Object, R>) {
        return Object(std::forward<R>(r));
    } else if constexpr (is_vector<U>::value) {
        Object::List list;
        for (auto&& item : r)
            list.push_back(to_object(item));
        return Object(std::move(list));
    } else {
        static_assert(!sizeof(U), "a registered method's result must convert to Object");
    }
}

// "Counter.increment() argument 1: " + what went wrong.
[[noreturn]] void bad_argument(const std::string& where, std::size_t index, const char* what);
void check_arity(const std::string& where, std::size_t expected, std::size_t given);

template <class... A, std::size_t... I>
std::tuple<std::remove_cvref_t<A>...> convert_args(const std::string& where,
                                                   const Object::List& args,
                                                   std::index_sequence<I...>) {
    check_arity(where, sizeof...(A), args.size());
    auto one = [&]<class T>(std::type_identity<T>, std::size_t i) -> std::remove_cvref_t<T> {
        try {
            return from_object<T>(args[i]);
        } catch (const ValueError& e) {
            bad_argument(where, i, e.what());
        }
    };
    (void)one;  // unused when there are no arguments
    return std::tuple<std::remove_cvref_t<A>...>{one(std::type_identity<A>{}, I)...};
}

}  // namespace detail

// One exposed method of T: {"name", &T::method} (const or not).
template <class T>
struct RegisteredMethod {
    // Calls the method on the object with the caller's arguments; `where` names it in errors.
    using Invoker = std::function<Object(T& object, const Object::List& args, const std::string&)>;

    template <class R, class... A>
    RegisteredMethod(std::string method_name, R (T::*method)(A...))
        : name(std::move(method_name)), invoke(make<R, A...>(method)) {}
    template <class R, class... A>
    RegisteredMethod(std::string method_name, R (T::*method)(A...) const)
        : name(std::move(method_name)), invoke(make<R, A...>(method)) {}

    std::string name;
    Invoker invoke;

  private:
    template <class R, class... A, class M>
    static Invoker make(M method) {
        return [method](T& object, const Object::List& args, const std::string& where) -> Object {
            auto values = detail::convert_args<A...>(where, args, std::index_sequence_for<A...>{});
            return std::apply(
                [&](auto&... v) -> Object {
                    if constexpr (std::is_void_v<R>) {
                        (object.*method)(v...);
                        return Object();
                    } else {
                        return detail::to_object((object.*method)(v...));
                    }
                },
                values);
        };
    }
};

// The custom types a manager server serves, by type name.
class Registry {
  public:
    // A type as the server sees it (type-erased).
    struct Type {
        std::string name;
        // Builds an instance from the constructor arguments.
        std::function<std::shared_ptr<void>(const Object::List& args)> make;
        // Method name -> invoker on an instance.
        std::map<std::string, std::function<Object(void*, const Object::List&)>, std::less<>>
            methods;
        // "increment, value": the exposed methods, for error messages.
        std::string method_list() const;
    };

    // Registers T as `type` exposing `methods`; T is constructed from the caller's
    // arguments as T(CtorArgs...). ValueError when `type` is empty, already registered or
    // the name of a built-in type (dict, Queue...), or when a method name repeats.
    template <class T, class... CtorArgs>
    Registry& add(const std::string& type, std::initializer_list<RegisteredMethod<T>> methods) {
        Type t;
        t.name = type;
        t.make = [type](const Object::List& args) -> std::shared_ptr<void> {
            auto values = detail::convert_args<CtorArgs...>(type + "()", args,
                                                            std::index_sequence_for<CtorArgs...>{});
            return std::apply(
                [](auto&... v) -> std::shared_ptr<void> {
                    return std::make_shared<T>(std::move(v)...);
                },
                values);
        };
        for (const auto& m : methods) {
            if (t.methods.count(m.name)) {
                throw ValueError("Registry::add(\"" + type + "\"): method '" + m.name +
                                 "' is listed twice");
            }
            std::string where = type + "." + m.name + "()";
            t.methods.emplace(m.name,
                              [invoke = m.invoke, where](void* object, const Object::List& args) {
                                  return invoke(*static_cast<T*>(object), args, where);
                              });
        }
        add_type(std::move(t));
        return *this;
    }

    // The type named `type`, or nullptr.
    const Type* find(std::string_view type) const;
    std::vector<std::string> types() const;

  private:
    void add_type(Type type);
    std::map<std::string, Type, std::less<>> types_;
};

// A proxy to an object of a registered type. A typed wrapper is a few lines:
//   struct CounterProxy : ipckit::ObjectProxy {
//       void increment(std::int64_t by) { call("increment", by); }
//       std::int64_t value() const { return call("value").as_int(); }
//   };
//   CounterProxy c{m.object("Counter")};
class ObjectProxy : public Proxy {
  public:
    // Calls `method` with `args` (each converted to Object) on the server and returns its
    // result. ValueError naming the type and its methods when it has no such method.
    template <class... A>
    Object call(std::string_view method, A&&... args) const {
        Object::List list;
        list.reserve(sizeof...(A) + 1);
        list.emplace_back(method);
        (list.push_back(detail::to_object(std::forward<A>(args))), ...);
        return call_method(list);
    }

  private:
    friend class Manager;
    using Proxy::Proxy;
    Object call_method(const Object::List& method_and_args) const;
};

template <class... A>
ObjectProxy Manager::object(std::string_view type, A&&... args) {
    return make_object(type, {}, Object::List{detail::to_object(std::forward<A>(args))...});
}
template <class... A>
ObjectProxy Manager::named_object(std::string_view name, std::string_view type, A&&... args) {
    if (name.empty()) throw ValueError("a shared object's name must be a non-empty string");
    return make_object(type, name, Object::List{detail::to_object(std::forward<A>(args))...});
}

// A manager server serving `registry`'s types besides the built-in ones (see above).
void serve_manager(const std::string& address, const std::string& authkey, const Registry& registry,
                   const ServeOptions& options = {});

}  // namespace ipckit
