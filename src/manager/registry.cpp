// ipckit::Registry (ipckit/manager_registry.hpp): the custom types a manager serves, and
// ObjectProxy's calls.
#include "client.hpp"
#include "ipckit/manager.hpp"
#include "wire.hpp"

namespace ipckit {

namespace detail {

bool is_builtin_type(const std::string& type);  // store.cpp

void bad_argument(const std::string& where, std::size_t index, const char* what) {
    throw ValueError(where + " argument " + std::to_string(index + 1) + ": " + what);
}

void check_arity(const std::string& where, std::size_t expected, std::size_t given) {
    if (expected == given) return;
    throw ValueError(where + " takes " + std::to_string(expected) +
                     (expected == 1 ? " argument (" : " arguments (") + std::to_string(given) +
                     " given)");
}

}  // namespace detail

std::string Registry::Type::method_list() const {
    std::string list;
    for (const auto& [method, invoke] : methods)
        list += (list.empty() ? "" : ", ") + method;
    return list.empty() ? "no methods" : list;
}

void Registry::add_type(Type type) {
    std::string where = "Registry::add(\"" + type.name + "\"): ";
    if (type.name.empty()) throw ValueError("Registry::add: the type name must not be empty");
    if (detail::is_builtin_type(type.name)) {
        throw ValueError(where + "'" + type.name +
                         "' is a built-in manager type: choose another name");
    }
    if (types_.count(type.name)) throw ValueError(where + "this type is already registered");
    for (const auto& [method, invoke] : type.methods) {
        if (method.empty()) throw ValueError(where + "a method name must not be empty");
    }
    std::string name = type.name;
    types_.emplace(std::move(name), std::move(type));
}

const Registry::Type* Registry::find(std::string_view type) const {
    auto it = types_.find(type);
    return it == types_.end() ? nullptr : &it->second;
}

std::vector<std::string> Registry::types() const {
    std::vector<std::string> names;
    for (const auto& [name, type] : types_)
        names.push_back(name);
    return names;
}

Object ObjectProxy::call_method(const Object::List& method_and_args) const {
    return Proxy::call(detail::wire::call_method, method_and_args);
}

}  // namespace ipckit
