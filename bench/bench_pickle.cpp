// Pickle codec benchmark (issue 12): encode (ipckit::pickle::dumps, protocol 4) plus decode
// (ipckit::pickle::loads) of a 10,000-item dict {i: 'value-i'}, against Python's pickle
// doing the same in the same run (bench/python/pickle_bench.py, Python 3.11's C pickle).
// Both take the best of five tries; the two alternate three times, the best of each is kept.
//
//   build/bench/bench_pickle [--items N] [--rounds R] [--python PATH]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bench_cli.hpp"
#include "ipckit/object.hpp"
#include "ipckit/pickle.hpp"

using ipckit::Object;
using Clock = std::chrono::steady_clock;

namespace {

double ipckit_rate(const Object& value, int rounds) {
    double best = 0;
    for (int attempt = 0; attempt < 5; ++attempt) {
        auto begin = Clock::now();
        for (int i = 0; i < rounds; ++i) {
            Object back = ipckit::pickle::loads(ipckit::pickle::dumps(value));
            if (!back.is_dict()) std::abort();
        }
        double seconds = std::chrono::duration<double>(Clock::now() - begin).count();
        best = std::max(best, rounds / seconds);
    }
    return best;
}

double python_rate(const std::string& python, int items, int rounds) {
    std::string command = python + " " IPCKIT_BENCH_DIR "/python/pickle_bench.py " +
                          std::to_string(items) + " " + std::to_string(rounds);
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) return 0;
    double value = 0;
    if (std::fscanf(pipe, "%lf", &value) != 1) value = 0;
    ::pclose(pipe);
    return value;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "ipckit's pickle codec (dumps, protocol 4, + loads) of a dict {i: 'value-i'} "
        "against Python's pickle.",
        "bench_pickle"};
    int items = 10000, rounds = 50;
    std::string python = "/usr/bin/python3";
    ipckit::bench::add_whole_number(app, "--items", items, "items of the dict");
    ipckit::bench::add_whole_number(app, "--rounds", rounds, "encode+decode runs a try");
    app.add_option("--python", python, "the Python 3.11 to compare with")->capture_default_str();
    if (auto status = ipckit::bench::parse_command_line(app, argc, argv)) return *status;
    Object::Dict dict;
    for (int i = 0; i < items; ++i)
        dict.set(i, "value-" + std::to_string(i));
    Object value(std::move(dict));
    double ours = 0, theirs = 0;
    for (int k = 0; k < 3; ++k) {
        ours = std::max(ours, ipckit_rate(value, rounds));
        theirs = std::max(theirs, python_rate(python, items, rounds));
    }
    std::printf("pickle encode+decode of a %d-item dict {i: 'value-i'}, best of 3x5 runs of %d\n\n",
                items, rounds);
    std::printf("| codec                           |   round trips/s |           ratio |\n");
    std::printf("|---------------------------------|-----------------|-----------------|\n");
    std::printf("| Python's pickle (C, protocol 4) | %15.1f | %6.2f x Python |\n", theirs, 1.0);
    std::printf("| ipckit::pickle dumps + loads    | %15.1f | %6.2f x Python |\n", ours,
                theirs > 0 ? ours / theirs : 0.0);
    return theirs > 0 ? 0 : 1;
}
