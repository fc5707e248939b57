// Custom types registered with ipckit::Registry (ipckit/manager_registry.hpp): an instance
// held by the server, its exposed methods called by name. The server runs one request at a
// time, so the calls on an instance never overlap.
#include <exception>
#include <new>

#include "ipckit/error.hpp"
#include "ipckit/manager.hpp"
#include "types.hpp"

namespace ipckit::detail {
namespace {

class CustomReferent : public Referent {
  public:
    CustomReferent(const Registry::Type& type, std::shared_ptr<void> instance)
        : type_(type), instance_(std::move(instance)) {}
    const char* type_name() const override { return type_.name.c_str(); }
    std::string repr() const override {
        if (type_.methods.count("__repr__")) {
            Object r = invoke("__repr__", {});
            if (r.is_string()) return r.as_string();
        }
        return "<" + type_.name + " object, id " + std::to_string(id) + ">";
    }
    std::size_t size() const override {
        if (!type_.methods.count("__len__")) return Referent::size();
        Object n = invoke("__len__", {});
        if (!n.is_int() || n.as_int() < 0) {
            fail(wire::value_error, type_.name + ".__len__() must return an int >= 0");
        }
        return static_cast<std::size_t>(n.as_int());
    }

    // Runs the method; the user's exceptions become answers (none reaches the server loop).
    Object invoke(const std::string& method, const Object::List& args) const {
        auto it = type_.methods.find(method);
        if (it == type_.methods.end()) {
            fail(wire::value_error, "'" + type_.name + "' object has no method '" + method +
                                        "' (it exposes: " + type_.method_list() + ")");
        }
        std::string where = type_.name + "." + method + "()";
        try {
            return it->second(instance_.get(), args);
        } catch (const RequestError&) {
            throw;
        } catch (const KeyError& e) {
            fail(wire::key_error, e.what());
        } catch (const IndexError& e) {
            fail(wire::index_error, e.what());
        } catch (const ValueError& e) {
            fail(wire::value_error, e.what());
        } catch (const std::bad_alloc&) {
            throw;
        } catch (const std::exception& e) {
            fail(wire::other_error, where + " raised: " + e.what());
        } catch (...) {
            fail(wire::other_error, where + " raised an exception that is not a std::exception");
        }
    }

  private:
    const Registry::Type& type_;
    std::shared_ptr<void> instance_;
};

Object call_method(Call& call, Referent& target) {
    auto* custom = dynamic_cast<CustomReferent*>(&target);
    if (!custom) {
        fail(wire::value_error, "object " + std::to_string(target.id) + " is a " +
                                    target.type_name() + ", not an object of a registered type");
    }
    const Object& method = arg(call.args, 0);
    if (!method.is_string()) fail(wire::value_error, "call_method: the method must be a str");
    Object::List args(call.args.begin() + 1, call.args.end());
    return custom->invoke(method.as_string(), args);
}

}  // namespace

std::unique_ptr<Referent> make_custom(const Registry::Type& type, Object::List& params) {
    std::shared_ptr<void> instance;
    try {
        instance = type.make(params);
    } catch (const ValueError& e) {
        fail(wire::value_error, e.what());
    } catch (const std::bad_alloc&) {
        throw;
    } catch (const std::exception& e) {
        fail(wire::other_error, type.name + "() raised: " + e.what());
    } catch (...) {
        fail(wire::other_error, type.name + "() raised an exception that is not a std::exception");
    }
    return std::make_unique<CustomReferent>(type, std::move(instance));
}

void register_custom() {
    register_op(wire::call_method, call_method);
}

}  // namespace ipckit::detail
