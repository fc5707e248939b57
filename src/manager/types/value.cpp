// The manager's Value, as Python's m.Value(typecode, value): a value with a typecode, get and
// set, printed Value('i', 0). Unlike Python's (which stores anything), the typecode must be
// one of the array module's and the value must suit it (an int in range for b, h, i, l, q
// and their unsigned codes, a number for f and d, one character for u: the array module's
// TypeError / OverflowError, sent as ValueError). The value is kept as given (a bool stays
// True, an int given for 'd' stays an int, as Python's Value prints it).
#include "types.hpp"

namespace ipckit::detail {
namespace {

class ValueReferent : public Referent {
  public:
    ValueReferent(char typecode, Object value) : typecode_(typecode), value_(std::move(value)) {}
    const char* type_name() const override { return wire::type_value; }
    std::string repr() const override {
        return "Value('" + std::string(1, typecode_) + "', " + value_.repr() + ")";
    }
    const Object& value() const override { return value_; }

    void set(Object value) {
        array_item(typecode_, value);  // throws when it does not suit the typecode
        value_ = std::move(value);
    }

    char typecode_;
    Object value_;
};

ValueReferent& value_of(Referent& target) {
    return expect<ValueReferent>(target, "Value");
}

Object get(Call& call, Referent& target) {
    wire::append_ok(call.out, value_of(target).value_);
    call.answered = true;
    return Object();
}

Object set(Call& call, Referent& target) {
    value_of(target).set(std::move(arg(call.args, 0)));
    return Object();
}

std::unique_ptr<Referent> make(Object::List& params) {
    if (params.size() < 2) fail(wire::value_error, "Value(typecode, value): two arguments");
    char typecode = array_typecode(params[0]);
    auto v = std::make_unique<ValueReferent>(typecode, Object());
    v->set(std::move(params[1]));
    return v;
}

}  // namespace

void register_value() {
    register_type(wire::type_value, make);
    register_op(wire::value_get, get);
    register_op(wire::value_set, set);
}

}  // namespace ipckit::detail
