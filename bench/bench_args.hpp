// The command line of the bench programs that are not Google Benchmark ones (those have
// Google Benchmark's own --help): `--help` or `-h` prints the usage and exits 0; an option
// the program does not know, one without its value, or a value that is not a number where
// a number is wanted prints the usage and exits 2. (Before, a mistyped option was ignored
// and the whole default benchmark ran.)
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace ipckit::bench {

class BenchArgs {
  public:
    struct Option {
        std::string name;  // "--count"
        bool takes_value;
    };

    BenchArgs(int argc, char** argv, std::string usage, const std::vector<Option>& options)
        : usage_(std::move(usage)) {
        for (int i = 1; i < argc; ++i) {
            const std::string_view arg = argv[i];
            if (arg == "--help" || arg == "-h") {
                std::fputs(usage_.c_str(), stdout);
                std::exit(0);
            }
            const Option* known = nullptr;
            for (const Option& o : options) {
                if (o.name == arg) known = &o;
            }
            if (known == nullptr) fail("unknown option " + std::string(arg));
            if (!known->takes_value) {
                given_[known->name] = "";
            } else if (i + 1 >= argc) {
                fail(known->name + " needs a value");
            } else {
                given_[known->name] = argv[++i];
            }
        }
    }

    bool has(const std::string& name) const { return given_.count(name) != 0; }
    std::string text(const std::string& name, const std::string& fallback) const {
        auto it = given_.find(name);
        return it == given_.end() ? fallback : it->second;
    }
    // A whole number of at least `min`.
    long number(const std::string& name, long fallback, long min = 1) const {
        auto it = given_.find(name);
        if (it == given_.end()) return fallback;
        char* end = nullptr;
        const long value = std::strtol(it->second.c_str(), &end, 10);
        if (it->second.empty() || *end != '\0' || value < min) {
            fail(name + " wants a whole number of at least " + std::to_string(min) + ", not '" +
                 it->second + "'");
        }
        return value;
    }

  private:
    [[noreturn]] void fail(const std::string& why) const {
        std::fprintf(stderr, "%s\n\n%s", why.c_str(), usage_.c_str());
        std::exit(2);
    }

    std::string usage_;
    std::map<std::string, std::string> given_;
};

}  // namespace ipckit::bench
