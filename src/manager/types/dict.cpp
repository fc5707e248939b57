// The manager's dict: Python's dict methods.
#include "ipckit/error.hpp"
#include "types.hpp"

namespace ipckit::detail {
namespace {

using List = Object::List;
using Dict = Object::Dict;

class DictReferent : public Referent {
  public:
    explicit DictReferent(Object initial) : value_(std::move(initial)) {}
    const char* type_name() const override { return wire::type_dict; }
    std::string repr() const override { return value_.repr(); }
    std::size_t size() const override { return value_.as_dict().size(); }
    void clear() override { value_.as_dict().clear(); }
    const Object& value() const override { return value_; }
    bool accepts_refs() const override { return true; }
    void collect_refs(std::vector<std::uint64_t>& ids) const override {
        detail::collect_refs(value_, ids);
    }
    Dict& dict() { return value_.as_dict(); }

  private:
    Object value_;
};

void key_check(const Object& key) {
    if (!key.hashable())
        fail(wire::value_error, std::string("unhashable type: '") + key.type_name() + "'");
}

[[noreturn]] void raise_key_error(const Object& key) {
    fail(wire::key_error, "KeyError: " + key.repr());
}

Dict& dict_of(Referent& target) {
    return expect<DictReferent>(target, "dict").dict();
}

Object get(Call& call, Referent& target) {
    Dict& d = dict_of(target);
    const Object& key = arg(call.args, 0);
    key_check(key);
    const Object* value = d.find(key);
    if (!value) raise_key_error(key);
    wire::append_ok(call.out, *value);  // no copy of the stored value
    call.answered = true;
    return Object();
}

Object get_default(Call& call, Referent& target) {
    Dict& d = dict_of(target);
    const Object& key = arg(call.args, 0);
    key_check(key);
    const Object* value = d.find(key);
    wire::append_ok(call.out, value ? *value : arg(call.args, 1));
    call.answered = true;
    return Object();
}

Object set(Call& call, Referent& target) {
    Dict& d = dict_of(target);
    key_check(arg(call.args, 0));
    arg(call.args, 1);
    d.set(std::move(call.args[0]), std::move(call.args[1]));
    return Object();
}

Object del(Call& call, Referent& target) {
    Dict& d = dict_of(target);
    key_check(arg(call.args, 0));
    if (!d.erase(call.args[0])) raise_key_error(call.args[0]);
    return Object();
}

Object contains(Call& call, Referent& target) {
    Dict& d = dict_of(target);
    return Object(arg(call.args, 0).hashable() && d.contains(call.args[0]));
}

Object keys(Call&, Referent& target) {
    Dict& d = dict_of(target);
    List keys;
    keys.reserve(d.size());
    for (const auto& item : d)
        keys.push_back(item.first);
    return Object(std::move(keys));
}

Object values(Call&, Referent& target) {
    Dict& d = dict_of(target);
    List values;
    values.reserve(d.size());
    for (const auto& item : d)
        values.push_back(item.second);
    return Object(std::move(values));
}

Object items(Call&, Referent& target) {
    Dict& d = dict_of(target);
    List items;
    items.reserve(d.size());
    for (const auto& [key, value] : d)
        items.push_back(Object::list({key, value}));
    return Object(std::move(items));
}

Object pop(Call& call, Referent& target) {
    Dict& d = dict_of(target);
    const Object& key = arg(call.args, 0);
    key_check(key);
    Object* value = d.find(key);
    if (!value) {
        if (call.op == wire::dict_pop) raise_key_error(key);
        return arg(call.args, 1);
    }
    Object result = std::move(*value);
    d.erase(key);
    return result;
}

Object popitem(Call&, Referent& target) {
    auto [key, value] = dict_of(target).popitem();
    return Object::list({std::move(key), std::move(value)});
}

Object setdefault(Call& call, Referent& target) {
    Dict& d = dict_of(target);
    const Object& key = arg(call.args, 0);
    key_check(key);
    if (const Object* value = d.find(key)) return *value;
    Object value = call.args.size() > 1 ? call.args[1] : Object();
    d.set(key, value);
    return value;
}

Object update_flat(Call& call, Referent& target) {
    Dict& d = dict_of(target);
    Object& flat = arg(call.args, 0);
    if (!flat.is_list() || flat.as_list().size() % 2 != 0) {
        fail(wire::value_error, "update(): expected a flat list of keys and values");
    }
    auto& items = flat.as_list();
    for (std::size_t k = 0; k < items.size(); k += 2)
        key_check(items[k]);
    for (std::size_t k = 0; k < items.size(); k += 2)
        d.set(std::move(items[k]), std::move(items[k + 1]));
    return Object();
}

std::unique_ptr<Referent> make(List& params) {
    Object initial = params.empty() ? Object(Dict()) : std::move(params[0]);
    if (!initial.is_dict()) fail(wire::value_error, "dict(): initial value must be a dict");
    return std::make_unique<DictReferent>(std::move(initial));
}

}  // namespace

void register_dict() {
    register_type(wire::type_dict, make);
    register_op(wire::dict_get, get);
    register_op(wire::dict_get_default, get_default);
    register_op(wire::dict_set, set);
    register_op(wire::dict_del, del);
    register_op(wire::dict_contains, contains);
    register_op(wire::dict_keys, keys);
    register_op(wire::dict_values, values);
    register_op(wire::dict_items, items);
    register_op(wire::dict_pop, pop);
    register_op(wire::dict_pop_default, pop);
    register_op(wire::dict_popitem, popitem);
    register_op(wire::dict_setdefault, setdefault);
    register_op(wire::dict_update_flat, update_flat);
}

}  // namespace ipckit::detail
