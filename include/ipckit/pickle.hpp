// ipckit::pickle: Python's pickle format for plain data, without executing anything.
//
//   std::string data = ipckit::pickle::dumps(Object::tuple({1, "two", 3.0}));
//   Object back = ipckit::pickle::loads(data);        // (1, 'two', 3.0)
//
// loads reads protocols 2 to 5 (what pickle.dumps and multiprocessing's ForkingPickler write
// in Python 3.11 to 3.13); dumps writes protocol 4 as ForkingPickler does (the same bytes
// for values that share no objects; framing and MEMOIZE included).
//
// Values: None, bool, int of any size (Object::integer / big_integer), float, str, bytes,
// bytearray, tuple, list, dict, set, frozenset; the Python exceptions the manager protocol
// carries (builtins.KeyError, IndexError, ValueError, TypeError, AttributeError, ..., and
// _queue.Empty, queue.Full), multiprocessing.managers.Token and a pickled manager proxy
// (multiprocessing.managers.RebuildProxy(cls, token, serializer, kwds)), as Object::instance; any
// other object (an instance of a user's class, a reference to a class or function) as
// Object::opaque: its pickle, re-encoded alone, never executed.
//
// The decoder imports nothing and calls nothing: it interprets a fixed list of constructions
// (builtins.set/frozenset/bytearray, _codecs.encode for protocol 2's bytes,
// copyreg._reconstructor and __newobj__ of known classes, the exception classes, Token) and
// keeps everything else opaque. Globals of modules that can run code (os, posix, subprocess,
// sys, builtins.eval/exec/getattr/__import__/open, ...) are refused outright. Out-of-band
// buffers, persistent ids and the extension registry are refused. Every malformed or
// over-limit input throws ipckit::ValueError naming the problem and its offset.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "ipckit/object.hpp"

namespace ipckit::pickle {

// Bounds on what loads accepts; every one is checked before the memory is allocated.
struct Limits {
    std::size_t max_input = std::size_t{64} << 20;  // bytes of pickle
    int max_depth = 200;                            // nesting of containers in the result
    std::size_t max_memo = std::size_t{1} << 20;    // memo entries
    // Values built (each item of every container counts, shared ones once per use): bounds
    // the result's size even when the pickle shares one object many times.
    std::size_t max_items = std::size_t{1} << 22;
};

// Decodes one pickle (it must end with STOP and nothing after it).
Object loads(std::string_view data, const Limits& limits = {});

// Encodes as protocol 4. ValueError when nested deeper than 1000 levels.
std::string dumps(const Object& value);
// The same, appended to `out`.
void dump_to(std::string& out, const Object& value);

// multiprocessing.managers.Token(typeid, address, id): address is a tuple (host, port) or a
// str path. The Object is an instance ("multiprocessing.managers", "Token", {}, (typeid,
// address, id)), as Python pickles it (NEWOBJ with the state set by BUILD).
struct Token {
    std::string type_id;  // Python's typeid
    Object address;
    std::string id;
};
Object make_token(const Token& token);
bool is_token(const Object& value);
// ValueError when `value` is not a token.
Token as_token(const Object& value);

// An exception Python can raise: `name` is the class (KeyError, IndexError, StopIteration,
// Empty, Full, ...): builtins unless it is Empty (_queue) or Full (queue).
Object make_exception(std::string_view name, Object::List args);
// The exception's class name when `value` is one of those (builtins, _queue, queue) else "".
std::string exception_name(const Object& value);

}  // namespace ipckit::pickle
