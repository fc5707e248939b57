// The manager's list: Python's list methods, negative indexes and slices.
#include <algorithm>
#include <climits>
#include <vector>

#include "types.hpp"

namespace ipckit::detail {
namespace {

using List = Object::List;

class ListReferent : public Referent {
  public:
    explicit ListReferent(Object initial) : value_(std::move(initial)) {}
    const char* type_name() const override { return wire::type_list; }
    std::string repr() const override { return value_.repr(); }
    std::size_t size() const override { return value_.as_list().size(); }
    void clear() override { value_.as_list().clear(); }
    const Object& value() const override { return value_; }
    bool accepts_refs() const override { return true; }
    void collect_refs(std::vector<std::uint64_t>& ids) const override {
        detail::collect_refs(value_, ids);
    }
    List& list() { return value_.as_list(); }

  private:
    Object value_;
};

List& list_of(Referent& target) {
    return expect<ListReferent>(target, "list").list();
}

std::int64_t int_arg(List& args, std::size_t i) {
    const Object& a = arg(args, i);
    if (!a.is_int() && !a.is_bool()) {
        fail(wire::value_error, std::string("list indices must be integers, not ") + a.type_name());
    }
    return a.as_int();
}

// Python's slice.indices(length): start, stop, step and the number of items.
struct Slice {
    std::int64_t start, stop, step, count;
};

Slice slice_of(const Object& start_o, const Object& stop_o, const Object& step_o,
               std::int64_t length) {
    auto as_index = [](const Object& o) {
        if (!o.is_int() && !o.is_bool()) {
            fail(wire::value_error,
                 "slice indices must be integers or None, not " + std::string(o.type_name()));
        }
        return o.as_int();
    };
    std::int64_t step = step_o.is_none() ? 1 : as_index(step_o);
    if (step == 0) fail(wire::value_error, "slice step cannot be zero");
    if (step == INT64_MIN) step = -INT64_MAX;
    std::int64_t start = start_o.is_none() ? (step < 0 ? INT64_MAX : 0) : as_index(start_o);
    std::int64_t stop = stop_o.is_none() ? (step < 0 ? INT64_MIN : INT64_MAX) : as_index(stop_o);
    auto adjust = [&](std::int64_t& v) {
        if (v < 0) {
            v = v < -length ? (step < 0 ? -1 : 0) : v + length;
        } else if (v >= length) {
            v = step < 0 ? length - 1 : length;
        }
    };
    adjust(start);
    adjust(stop);
    std::int64_t count = 0;
    if (step < 0) {
        if (stop < start) count = (start - stop - 1) / (-step) + 1;
    } else if (start < stop) {
        count = (stop - start - 1) / step + 1;
    }
    return {start, stop, step, count};
}

std::size_t checked_index(const List& list, std::int64_t i, const char* what) {
    auto n = static_cast<std::int64_t>(list.size());
    std::int64_t given = i;
    if (i < 0) i += n;
    if (i < 0 || i >= n) {
        fail(wire::index_error, std::string(what) + " (index " + std::to_string(given) + ", size " +
                                    std::to_string(n) + ")");
    }
    return static_cast<std::size_t>(i);
}

Object get(Call& call, Referent& target) {
    List& l = list_of(target);
    wire::append_ok(call.out,
                    l[checked_index(l, int_arg(call.args, 0), "list index out of range")]);
    call.answered = true;
    return Object();
}

Object set(Call& call, Referent& target) {
    List& l = list_of(target);
    arg(call.args, 1);
    l[checked_index(l, int_arg(call.args, 0), "list assignment index out of range")] =
        std::move(call.args[1]);
    return Object();
}

Object del(Call& call, Referent& target) {
    List& l = list_of(target);
    l.erase(l.begin() + static_cast<std::ptrdiff_t>(checked_index(
                            l, int_arg(call.args, 0), "list assignment index out of range")));
    return Object();
}

Object append(Call& call, Referent& target) {
    List& l = list_of(target);
    l.push_back(std::move(arg(call.args, 0)));
    return Object();
}

Object extend(Call& call, Referent& target) {
    List& l = list_of(target);
    Object& items = arg(call.args, 0);
    if (!items.is_list()) fail(wire::value_error, "extend(): expected a list");
    auto& source = items.as_list();
    l.insert(l.end(), std::make_move_iterator(source.begin()),
             std::make_move_iterator(source.end()));
    return Object();
}

Object insert(Call& call, Referent& target) {
    List& l = list_of(target);
    auto n = static_cast<std::int64_t>(l.size());
    std::int64_t i = int_arg(call.args, 0);
    if (i < 0) i = std::max<std::int64_t>(0, i + n);
    i = std::min(i, n);
    l.insert(l.begin() + i, std::move(arg(call.args, 1)));
    return Object();
}

Object pop(Call& call, Referent& target) {
    List& l = list_of(target);
    if (l.empty()) fail(wire::index_error, "pop from empty list");
    std::int64_t i = call.args.empty() ? -1 : int_arg(call.args, 0);
    auto at = checked_index(l, i, "pop index out of range");
    Object result = std::move(l[at]);
    l.erase(l.begin() + static_cast<std::ptrdiff_t>(at));
    return result;
}

Object remove(Call& call, Referent& target) {
    List& l = list_of(target);
    const Object& value = arg(call.args, 0);
    auto it = std::find(l.begin(), l.end(), value);
    if (it == l.end()) fail(wire::value_error, "list.remove(x): x not in list");
    l.erase(it);
    return Object();
}

Object index(Call& call, Referent& target) {
    List& l = list_of(target);
    const Object& value = arg(call.args, 0);
    Object none;
    Slice s = slice_of(call.args.size() > 1 ? call.args[1] : none,
                       call.args.size() > 2 ? call.args[2] : none, none,
                       static_cast<std::int64_t>(l.size()));
    for (std::int64_t i = s.start; i < s.stop; ++i) {
        if (l[static_cast<std::size_t>(i)] == value) return Object(i);
    }
    fail(wire::value_error, value.repr() + " is not in list");
}

Object count(Call& call, Referent& target) {
    List& l = list_of(target);
    return Object(std::count(l.begin(), l.end(), arg(call.args, 0)));
}

Object contains(Call& call, Referent& target) {
    List& l = list_of(target);
    return Object(std::find(l.begin(), l.end(), arg(call.args, 0)) != l.end());
}

Object reverse(Call&, Referent& target) {
    List& l = list_of(target);
    std::reverse(l.begin(), l.end());
    return Object();
}

Object sort(Call& call, Referent& target) {
    List& l = list_of(target);
    bool reverse = !call.args.empty() && call.args[0].is_bool() && call.args[0].as_bool();
    List sorted = l;  // sort a copy: a failed comparison leaves the list as it was
    if (reverse) std::reverse(sorted.begin(), sorted.end());
    // As CPython: reverse, sort stably ascending, reverse; equal items keep their order.
    std::stable_sort(sorted.begin(), sorted.end(), Object::less);
    if (reverse) std::reverse(sorted.begin(), sorted.end());
    l = std::move(sorted);
    return Object();
}

Object get_slice(Call& call, Referent& target) {
    List& l = list_of(target);
    Slice s = slice_of(arg(call.args, 0), arg(call.args, 1), arg(call.args, 2),
                       static_cast<std::int64_t>(l.size()));
    List result;
    result.reserve(static_cast<std::size_t>(s.count));
    for (std::int64_t k = 0, i = s.start; k < s.count; ++k, i += s.step)
        result.push_back(l[static_cast<std::size_t>(i)]);
    return Object(std::move(result));
}

Object set_slice(Call& call, Referent& target) {
    List& l = list_of(target);
    Slice s = slice_of(arg(call.args, 0), arg(call.args, 1), arg(call.args, 2),
                       static_cast<std::int64_t>(l.size()));
    Object& items = arg(call.args, 3);
    if (!items.is_list()) fail(wire::value_error, "can only assign a list to a slice");
    List source = std::move(items.as_list());
    if (s.step == 1) {
        std::int64_t stop = std::max(s.start, s.stop);
        l.erase(l.begin() + s.start, l.begin() + stop);
        l.insert(l.begin() + s.start, std::make_move_iterator(source.begin()),
                 std::make_move_iterator(source.end()));
    } else {
        if (static_cast<std::int64_t>(source.size()) != s.count) {
            fail(wire::value_error, "attempt to assign sequence of size " +
                                        std::to_string(source.size()) +
                                        " to extended slice of size " + std::to_string(s.count));
        }
        for (std::int64_t k = 0, i = s.start; k < s.count; ++k, i += s.step)
            l[static_cast<std::size_t>(i)] = std::move(source[static_cast<std::size_t>(k)]);
    }
    return Object();
}

Object del_slice(Call& call, Referent& target) {
    List& l = list_of(target);
    Slice s = slice_of(arg(call.args, 0), arg(call.args, 1), arg(call.args, 2),
                       static_cast<std::int64_t>(l.size()));
    if (s.count == 0) return Object();
    if (s.step == 1) {
        l.erase(l.begin() + s.start, l.begin() + s.start + s.count);
        return Object();
    }
    std::vector<bool> doomed(l.size(), false);
    for (std::int64_t k = 0, i = s.start; k < s.count; ++k, i += s.step)
        doomed[static_cast<std::size_t>(i)] = true;
    std::size_t w = 0;
    for (std::size_t r = 0; r < l.size(); ++r) {
        if (!doomed[r]) l[w++] = std::move(l[r]);
    }
    l.resize(w);
    return Object();
}

std::unique_ptr<Referent> make(List& params) {
    Object initial = params.empty() ? Object(List()) : std::move(params[0]);
    if (!initial.is_list()) fail(wire::value_error, "list(): initial value must be a list");
    return std::make_unique<ListReferent>(std::move(initial));
}

}  // namespace

void register_list() {
    register_type(wire::type_list, make);
    register_op(wire::list_get, get);
    register_op(wire::list_set, set);
    register_op(wire::list_del, del);
    register_op(wire::list_append, append);
    register_op(wire::list_extend, extend);
    register_op(wire::list_insert, insert);
    register_op(wire::list_pop, pop);
    register_op(wire::list_remove, remove);
    register_op(wire::list_index, index);
    register_op(wire::list_count, count);
    register_op(wire::list_contains, contains);
    register_op(wire::list_reverse, reverse);
    register_op(wire::list_sort, sort);
    register_op(wire::list_get_slice, get_slice);
    register_op(wire::list_set_slice, set_slice);
    register_op(wire::list_del_slice, del_slice);
}

}  // namespace ipckit::detail
