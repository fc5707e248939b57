// The manager server's objects and the methods of dict and list, as Python's.
#include "store.hpp"

#include <algorithm>
#include <climits>
#include <msgpack.hpp>

#include "ipckit/error.hpp"
#include "wire.hpp"

namespace ipckit::detail {
namespace {

using List = Object::List;
using Dict = Object::Dict;

struct RequestError {
    wire::Status status;
    std::string message;
};

[[noreturn]] void fail(wire::Status status, std::string message) {
    throw RequestError{status, std::move(message)};
}

Object& arg(List& args, std::size_t i) {
    if (i >= args.size()) fail(wire::value_error, "request lacks argument " + std::to_string(i));
    return args[i];
}

std::int64_t int_arg(List& args, std::size_t i) {
    const Object& a = arg(args, i);
    if (!a.is_int() && !a.is_bool()) {
        fail(wire::value_error, std::string("list indices must be integers, not ") + a.type_name());
    }
    return a.as_int();
}

void key_check(const Object& key) {
    if (!key.is_scalar())
        fail(wire::value_error, std::string("unhashable type: '") + key.type_name() + "'");
}

[[noreturn]] void raise_key_error(const Object& key) {
    fail(wire::key_error, "KeyError: " + key.repr());
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

void append_ok(std::string& out, const Object& value) {
    std::size_t start = wire::begin_frame(out);
    // [0, value] without copying value into a list first.
    out += static_cast<char>(0x92);
    out += static_cast<char>(0x00);
    // Stored values came in requests, so they nest no deeper than the clients accept.
    wire::encode(out, value, 1, INT_MAX);
    wire::end_frame(out, start);
}

void append_error(std::string& out, wire::Status status, const std::string& message) {
    wire::append_frame(out, Object::list({static_cast<int>(status), message}));
}

void sort_list(List& list, bool reverse) {
    List sorted = list;  // sort a copy: a failed comparison leaves the list as it was
    if (reverse) std::reverse(sorted.begin(), sorted.end());
    // As CPython: reverse, sort stably ascending, reverse; equal items keep their order.
    std::stable_sort(sorted.begin(), sorted.end(), Object::less);
    if (reverse) std::reverse(sorted.begin(), sorted.end());
    list = std::move(sorted);
}

}  // namespace

void Store::open_session(const std::string& session) {
    ++sessions_[session].connections;
}

void Store::close_session(const std::string& session) {
    auto it = sessions_.find(session);
    if (it == sessions_.end()) return;
    if (--it->second.connections == 0) {
        drop_refs(it->second);
        sessions_.erase(it);
    }
}

void Store::drop_refs(Session& session) {
    for (auto [id, count] : session.refs) {
        auto it = objects_.find(id);
        if (it == objects_.end()) continue;
        it->second.refs -= std::min(count, it->second.refs);
        if (it->second.refs == 0 && it->second.name.empty()) objects_.erase(it);
    }
    session.refs.clear();
}

Store::Entry& Store::entry(std::uint64_t id) {
    auto it = objects_.find(id);
    if (it == objects_.end()) {
        fail(wire::value_error,
             "manager has no object " + std::to_string(id) + " (its last proxy was released)");
    }
    return it->second;
}

std::uint64_t Store::add(Object value, const std::string& name, const std::string& session) {
    std::uint64_t id = next_id_++;
    objects_.emplace(id, Entry{std::move(value), name, 0});
    if (name.empty()) {
        acquire(session, id);
    } else {
        names_.emplace(name, id);
    }
    return id;
}

void Store::acquire(const std::string& session, std::uint64_t id) {
    Entry& e = entry(id);
    if (!e.name.empty()) return;  // named objects are not counted
    ++e.refs;
    ++sessions_[session].refs[id];
}

void Store::release(const std::string& session, std::uint64_t id) {
    auto s = sessions_.find(session);
    if (s == sessions_.end()) return;
    auto r = s->second.refs.find(id);
    if (r == s->second.refs.end()) return;  // never held: ignore
    if (--r->second == 0) s->second.refs.erase(r);
    auto it = objects_.find(id);
    if (it == objects_.end()) return;
    if (it->second.refs > 0) --it->second.refs;
    if (it->second.refs == 0 && it->second.name.empty()) objects_.erase(it);
}

void Store::handle(const std::string& session, std::string_view payload, std::string& out) {
    Object request = wire::decode(payload, wire::max_depth, max_decoded_);
    if (!request.is_list() || request.as_list().size() < 2 || !request.as_list()[0].is_int() ||
        !request.as_list()[1].is_int()) {
        append_error(out, wire::value_error, "malformed request: expected [op, id, args...]");
        return;
    }
    List& fields = request.as_list();
    std::int64_t code = fields[0].as_int();
    if (code < 0 || code > INT_MAX) {  // never truncated into a valid op
        append_error(out, wire::value_error, "unknown manager request " + std::to_string(code));
        return;
    }
    int op = static_cast<int>(code);
    auto id = static_cast<std::uint64_t>(fields[1].as_int());
    List args(std::make_move_iterator(fields.begin() + 2), std::make_move_iterator(fields.end()));
    try {
        bool responded = false;
        Object result = dispatch(session, op, id, args, out, responded);
        if (!responded) append_ok(out, result);
    } catch (const RequestError& e) {
        append_error(out, e.status, e.message);
    } catch (const KeyError& e) {
        append_error(out, wire::key_error, e.what());
    } catch (const IndexError& e) {
        append_error(out, wire::index_error, e.what());
    } catch (const ValueError& e) {
        append_error(out, wire::value_error, e.what());
    } catch (const std::bad_alloc&) {
        append_error(out, wire::other_error, "manager server out of memory");
    }
}

Object Store::dispatch(const std::string& session, int op, std::uint64_t id, List& args,
                       std::string& out, bool& responded) {
    using namespace wire;
    switch (op) {
        case create_dict: {
            Object initial = args.empty() ? Object(Dict()) : std::move(args[0]);
            if (!initial.is_dict()) fail(value_error, "dict(): initial value must be a dict");
            return Object(add(std::move(initial), "", session));
        }
        case create_list: {
            Object initial = args.empty() ? Object(List()) : std::move(args[0]);
            if (!initial.is_list()) fail(value_error, "list(): initial value must be a list");
            return Object(add(std::move(initial), "", session));
        }
        case named_dict:
        case named_list: {
            const Object& name = arg(args, 0);
            if (!name.is_string() || name.as_string().empty()) {
                fail(value_error, "a shared object's name must be a non-empty string");
            }
            bool want_dict = op == named_dict;
            auto it = names_.find(name.as_string());
            if (it != names_.end()) {
                if (objects_.at(it->second).value.is_dict() != want_dict) {
                    fail(value_error, "shared object " + name.repr() + " is a " +
                                          objects_.at(it->second).value.type_name() + ", not a " +
                                          (want_dict ? "dict" : "list"));
                }
                return Object(it->second);
            }
            return Object(
                add(want_dict ? Object(Dict()) : Object(List()), name.as_string(), session));
        }
        case incref:
            acquire(session, id);
            return Object();
        case decref:
            release(session, id);
            return Object();
        case stats: {
            std::size_t named = names_.size();
            return Object(Dict{{"objects", objects_.size()},
                               {"named", named},
                               {"anonymous", objects_.size() - named},
                               {"sessions", sessions_.size()},
                               {"connections", connections_}});
        }
        case shutdown:
            shutdown_ = true;
            return Object();
        case ping:
            return Object(true);
        default:
            break;
    }

    Entry& e = entry(id);
    Object& target = e.value;
    switch (op) {
        case repr:
            return Object(target.repr());
        case len:
            return Object(target.is_list() ? target.as_list().size() : target.as_dict().size());
        case copy:
            append_ok(out, target);
            responded = true;
            return Object();
        case clear:
            if (target.is_list()) {
                target.as_list().clear();
            } else {
                target.as_dict().clear();
            }
            return Object();
        default:
            break;
    }

    if (op >= dict_get && op <= dict_update_flat) {
        if (!target.is_dict()) fail(value_error, "object " + std::to_string(id) + " is not a dict");
        Dict& d = target.as_dict();
        switch (op) {
            case dict_get: {
                const Object& key = arg(args, 0);
                key_check(key);
                const Object* value = d.find(key);
                if (!value) raise_key_error(key);
                append_ok(out, *value);
                responded = true;
                return Object();
            }
            case dict_get_default: {
                const Object& key = arg(args, 0);
                key_check(key);
                const Object* value = d.find(key);
                append_ok(out, value ? *value : arg(args, 1));
                responded = true;
                return Object();
            }
            case dict_set:
                key_check(arg(args, 0));
                arg(args, 1);
                d.set(std::move(args[0]), std::move(args[1]));
                return Object();
            case dict_del:
                key_check(arg(args, 0));
                if (!d.erase(args[0])) raise_key_error(args[0]);
                return Object();
            case dict_contains:
                return Object(arg(args, 0).is_scalar() && d.contains(args[0]));
            case dict_keys: {
                List keys;
                keys.reserve(d.size());
                for (const auto& item : d)
                    keys.push_back(item.first);
                return Object(std::move(keys));
            }
            case dict_values: {
                List values;
                values.reserve(d.size());
                for (const auto& item : d)
                    values.push_back(item.second);
                return Object(std::move(values));
            }
            case dict_items: {
                List items;
                items.reserve(d.size());
                for (const auto& [key, value] : d)
                    items.push_back(Object::list({key, value}));
                return Object(std::move(items));
            }
            case dict_pop:
            case dict_pop_default: {
                const Object& key = arg(args, 0);
                key_check(key);
                Object* value = d.find(key);
                if (!value) {
                    if (op == dict_pop) raise_key_error(key);
                    return arg(args, 1);
                }
                Object result = std::move(*value);
                d.erase(key);
                return result;
            }
            case dict_popitem: {
                auto [key, value] = d.popitem();
                return Object::list({std::move(key), std::move(value)});
            }
            case dict_setdefault: {
                const Object& key = arg(args, 0);
                key_check(key);
                if (const Object* value = d.find(key)) return *value;
                Object value = args.size() > 1 ? args[1] : Object();
                d.set(key, value);
                return value;
            }
            case dict_update_flat: {
                Object& flat = arg(args, 0);
                if (!flat.is_list() || flat.as_list().size() % 2 != 0) {
                    fail(value_error, "update(): expected a flat list of keys and values");
                }
                auto& items = flat.as_list();
                for (std::size_t k = 0; k < items.size(); k += 2)
                    key_check(items[k]);
                for (std::size_t k = 0; k < items.size(); k += 2) {
                    d.set(std::move(items[k]), std::move(items[k + 1]));
                }
                return Object();
            }
            case dict_update: {
                Object& items = arg(args, 0);
                if (items.is_dict()) {
                    for (const auto& [key, value] : items.as_dict())
                        d.set(key, value);
                } else if (items.is_list()) {
                    for (auto& pair : items.as_list()) {
                        if (!pair.is_list() || pair.as_list().size() != 2) {
                            fail(value_error,
                                 "dictionary update sequence element has length " +
                                     std::string(pair.is_list()
                                                     ? std::to_string(pair.as_list().size())
                                                     : "?") +
                                     "; 2 is required");
                        }
                        key_check(pair.as_list()[0]);
                        d.set(std::move(pair.as_list()[0]), std::move(pair.as_list()[1]));
                    }
                } else {
                    fail(value_error, "update(): expected a dict or a list of pairs");
                }
                return Object();
            }
        }
    }

    if (op >= list_get && op <= list_contains) {
        if (!target.is_list()) fail(value_error, "object " + std::to_string(id) + " is not a list");
        List& l = target.as_list();
        auto n = static_cast<std::int64_t>(l.size());
        switch (op) {
            case list_get: {
                append_ok(out, l[checked_index(l, int_arg(args, 0), "list index out of range")]);
                responded = true;
                return Object();
            }
            case list_set:
                arg(args, 1);
                l[checked_index(l, int_arg(args, 0), "list assignment index out of range")] =
                    std::move(args[1]);
                return Object();
            case list_del:
                l.erase(l.begin() +
                        static_cast<std::ptrdiff_t>(checked_index(
                            l, int_arg(args, 0), "list assignment index out of range")));
                return Object();
            case list_append:
                l.push_back(std::move(arg(args, 0)));
                return Object();
            case list_extend: {
                Object& items = arg(args, 0);
                if (!items.is_list()) fail(value_error, "extend(): expected a list");
                auto& source = items.as_list();
                l.insert(l.end(), std::make_move_iterator(source.begin()),
                         std::make_move_iterator(source.end()));
                return Object();
            }
            case list_insert: {
                std::int64_t i = int_arg(args, 0);
                if (i < 0) i = std::max<std::int64_t>(0, i + n);
                i = std::min(i, n);
                l.insert(l.begin() + i, std::move(arg(args, 1)));
                return Object();
            }
            case list_pop: {
                if (l.empty()) fail(index_error, "pop from empty list");
                std::int64_t i = args.empty() ? -1 : int_arg(args, 0);
                auto at = checked_index(l, i, "pop index out of range");
                Object result = std::move(l[at]);
                l.erase(l.begin() + static_cast<std::ptrdiff_t>(at));
                return result;
            }
            case list_remove: {
                const Object& value = arg(args, 0);
                auto it = std::find(l.begin(), l.end(), value);
                if (it == l.end()) fail(value_error, "list.remove(x): x not in list");
                l.erase(it);
                return Object();
            }
            case list_index: {
                const Object& value = arg(args, 0);
                Object none;
                Slice s = slice_of(args.size() > 1 ? args[1] : none,
                                   args.size() > 2 ? args[2] : none, none, n);
                for (std::int64_t i = s.start; i < s.stop; ++i) {
                    if (l[static_cast<std::size_t>(i)] == value) return Object(i);
                }
                fail(value_error, value.repr() + " is not in list");
            }
            case list_count:
                return Object(std::count(l.begin(), l.end(), arg(args, 0)));
            case list_contains:
                return Object(std::find(l.begin(), l.end(), arg(args, 0)) != l.end());
            case list_reverse:
                std::reverse(l.begin(), l.end());
                return Object();
            case list_sort:
                sort_list(l, !args.empty() && args[0].is_bool() && args[0].as_bool());
                return Object();
            case list_get_slice: {
                Slice s = slice_of(arg(args, 0), arg(args, 1), arg(args, 2), n);
                List result;
                result.reserve(static_cast<std::size_t>(s.count));
                for (std::int64_t k = 0, i = s.start; k < s.count; ++k, i += s.step) {
                    result.push_back(l[static_cast<std::size_t>(i)]);
                }
                return Object(std::move(result));
            }
            case list_set_slice: {
                Slice s = slice_of(arg(args, 0), arg(args, 1), arg(args, 2), n);
                Object& items = arg(args, 3);
                if (!items.is_list()) fail(value_error, "can only assign a list to a slice");
                List source = std::move(items.as_list());
                if (s.step == 1) {
                    std::int64_t stop = std::max(s.start, s.stop);
                    l.erase(l.begin() + s.start, l.begin() + stop);
                    l.insert(l.begin() + s.start, std::make_move_iterator(source.begin()),
                             std::make_move_iterator(source.end()));
                } else {
                    if (static_cast<std::int64_t>(source.size()) != s.count) {
                        fail(value_error,
                             "attempt to assign sequence of size " + std::to_string(source.size()) +
                                 " to extended slice of size " + std::to_string(s.count));
                    }
                    for (std::int64_t k = 0, i = s.start; k < s.count; ++k, i += s.step) {
                        l[static_cast<std::size_t>(i)] =
                            std::move(source[static_cast<std::size_t>(k)]);
                    }
                }
                return Object();
            }
            case list_del_slice: {
                Slice s = slice_of(arg(args, 0), arg(args, 1), arg(args, 2), n);
                if (s.count == 0) return Object();
                if (s.step == 1) {
                    l.erase(l.begin() + s.start, l.begin() + s.start + s.count);
                    return Object();
                }
                std::vector<bool> doomed(l.size(), false);
                for (std::int64_t k = 0, i = s.start; k < s.count; ++k, i += s.step) {
                    doomed[static_cast<std::size_t>(i)] = true;
                }
                std::size_t w = 0;
                for (std::size_t r = 0; r < l.size(); ++r) {
                    if (!doomed[r]) l[w++] = std::move(l[r]);
                }
                l.resize(w);
                return Object();
            }
        }
    }
    fail(value_error, "unknown manager request " + std::to_string(op));
}

}  // namespace ipckit::detail
