// One protocol or two (issue 12, docs/manager.md): the per-call codec cost of ipckit's own
// MessagePack frames versus Python's manager protocol (pickle, protocol 4), for a typical
// dict get: the request (ipckit: [dict_get, id, key]; Python: (ident, '__getitem__', (key,),
// {})) and its answer (ipckit: [0, value]; Python: ('#RETURN', value)), each encoded and
// decoded once per call. Best of five runs of N calls.
//
//   build/bench/bench_wire_codecs [--calls N]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench_cli.hpp"
#include "ipckit/object.hpp"
#include "ipckit/pickle.hpp"
#include "manager/wire.hpp"

using ipckit::Object;
using Clock = std::chrono::steady_clock;
namespace wire = ipckit::detail::wire;

namespace {

template <class F>
double best_rate(int calls, F&& one_call) {
    double best = 0;
    for (int attempt = 0; attempt < 5; ++attempt) {
        auto begin = Clock::now();
        for (int i = 0; i < calls; ++i)
            one_call();
        double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
        best = std::max(best, calls / seconds);
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "The codec cost of one manager call (a dict get and its answer): ipckit's "
        "MessagePack frames against Python's manager protocol (pickle, protocol 4).",
        "bench_wire_codecs"};
    int calls = 200000;
    ipckit::bench::add_whole_number(app, "--calls", calls, "calls a run (best of five runs)");
    if (auto status = ipckit::bench::parse_command_line(app, argc, argv)) return *status;
    const Object key("key-17"), value("value-17");
    std::size_t request_bytes = 0, answer_bytes = 0;
    double msgpack = best_rate(calls, [&] {
        std::string out;
        wire::encode(out, Object::list({static_cast<int>(wire::dict_get), 42, key}));
        request_bytes = out.size();
        Object request = wire::decode(out);
        std::string answer;
        wire::encode(answer, Object::list({0, value}));
        answer_bytes = answer.size();
        Object back = wire::decode(answer);
        if (!request.is_list() || !back.is_list()) std::abort();
    });
    std::size_t pickled_request = 0, pickled_answer = 0;
    double pickle = best_rate(calls, [&] {
        std::string out =
            ipckit::pickle::dumps(Object::tuple({Object("7f3a2c1b9e40"), Object("__getitem__"),
                                                 Object::tuple({key}), Object(Object::Dict())}));
        pickled_request = out.size();
        Object request = ipckit::pickle::loads(out);
        std::string answer = ipckit::pickle::dumps(Object::tuple({Object("#RETURN"), value}));
        pickled_answer = answer.size();
        Object back = ipckit::pickle::loads(answer);
        if (!request.is_tuple() || !back.is_tuple()) std::abort();
    });
    std::printf("codec cost of one dict get (request + answer, encode + decode), best of 5x%d\n\n",
                calls);
    std::printf(
        "| codec                  | request+answer bytes |   calls/s | ns/call | ratio |\n");
    std::printf(
        "|------------------------|----------------------|-----------|---------|-------|\n");
    std::printf("| MessagePack (ipckit)   | %20zu | %9.0f | %7.0f | %5.2f |\n",
                request_bytes + answer_bytes, msgpack, 1e9 / msgpack, 1.0);
    std::printf("| pickle 4 (Python's)    | %20zu | %9.0f | %7.0f | %5.2f |\n",
                pickled_request + pickled_answer, pickle, 1e9 / pickle, msgpack / pickle);
    return 0;
}
