// The manager's Namespace, as Python's multiprocessing.managers.Namespace: attributes by
// name, printed Namespace(x=1, y='a') (the "name=repr" texts sorted, as Python's __repr__
// does). A missing attribute is Python's AttributeError, sent as a KeyError with its message.
// Names are non-empty str not starting with '_' (in Python such names stay on the proxy).
// Values may be proxies (refs) to other objects of the manager.
#include <algorithm>
#include <vector>

#include "types.hpp"

namespace ipckit::detail {
namespace {

using Dict = Object::Dict;

class NamespaceReferent : public Referent {
  public:
    const char* type_name() const override { return wire::type_namespace; }
    std::string repr() const override {
        std::vector<std::string> parts;
        for (const auto& [name, value] : value_.as_dict())
            parts.push_back(name.as_string() + "=" + value.repr());
        std::sort(parts.begin(), parts.end());
        std::string out = "Namespace(";
        for (std::size_t i = 0; i < parts.size(); ++i)
            out += (i ? ", " : "") + parts[i];
        return out + ")";
    }
    const Object& value() const override { return value_; }
    bool accepts_refs() const override { return true; }
    void collect_refs(std::vector<std::uint64_t>& ids) const override {
        detail::collect_refs(value_, ids);
    }
    Dict& attributes() { return value_.as_dict(); }

  private:
    Object value_{Dict()};
};

Dict& attributes_of(Referent& target) {
    return expect<NamespaceReferent>(target, "Namespace").attributes();
}

const Object& name_arg(Call& call) {
    const Object& name = arg(call.args, 0);
    if (!name.is_string()) {
        fail(wire::value_error,
             std::string("attribute name must be string, not '") + name.type_name() + "'");
    }
    if (name.as_string().empty() || name.as_string()[0] == '_') {
        fail(wire::value_error,
             "a Namespace attribute name must be non-empty and not start "
             "with '_' (got " +
                 name.repr() + ")");
    }
    return name;
}

[[noreturn]] void no_attribute(const Object& name) {
    fail(wire::key_error, "AttributeError: 'Namespace' object has no attribute " + name.repr());
}

Object get(Call& call, Referent& target) {
    Dict& d = attributes_of(target);
    const Object& name = name_arg(call);
    const Object* value = d.find(name);
    if (!value) {
        if (call.op == wire::namespace_get) no_attribute(name);
        return arg(call.args, 1);
    }
    wire::append_ok(call.out, *value);
    call.answered = true;
    return Object();
}

Object set(Call& call, Referent& target) {
    Dict& d = attributes_of(target);
    name_arg(call);
    arg(call.args, 1);
    d.set(std::move(call.args[0]), std::move(call.args[1]));
    return Object();
}

Object del(Call& call, Referent& target) {
    Dict& d = attributes_of(target);
    const Object& name = name_arg(call);
    if (!d.erase(name)) no_attribute(name);
    return Object();
}

Object contains(Call& call, Referent& target) {
    return Object(attributes_of(target).contains(name_arg(call)));
}

std::unique_ptr<Referent> make(Object::List&) {
    return std::make_unique<NamespaceReferent>();
}

}  // namespace

void register_namespace() {
    register_type(wire::type_namespace, make);
    register_op(wire::namespace_get, get);
    register_op(wire::namespace_get_default, get);
    register_op(wire::namespace_set, set);
    register_op(wire::namespace_del, del);
    register_op(wire::namespace_contains, contains);
}

}  // namespace ipckit::detail
