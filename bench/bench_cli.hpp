// The command line of the bench programs that are not Google Benchmark ones (those have
// Google Benchmark's own), read with CLI11 as the ipckit program's is: --help prints the
// usage and exits 0; an option the program does not know, one without its value, or a bad
// number is one line on stderr and exit 2 (a mistyped option must not run the default
// benchmark for minutes).
#pragma once

#include <CLI/CLI.hpp>

#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>

namespace ipckit::bench {

// A decimal whole number of at least `min` ("--count: must be a whole number of at least 1,
// got 'many'"). A transform, so that CLI11 reads the number as written ("010" is 10).
inline CLI::Validator whole_number(long long min) {
    return CLI::Validator(
        [min](std::string& text) -> std::string {
            char* end = nullptr;
            errno = 0;
            const long long value = std::strtoll(text.c_str(), &end, 10);
            if (text.empty() || *end != '\0' || errno != 0 || value < min) {
                return "must be a whole number of at least " + std::to_string(min) + ", got '" +
                       text + "'";
            }
            text = std::to_string(value);
            return {};
        },
        ">=" + std::to_string(min));
}

// An option taking a whole number of at least `min`, its default shown in --help.
template <class Int>
CLI::Option* add_whole_number(CLI::App& app, const std::string& name, Int& value,
                              const std::string& help, long long min = 1) {
    return app.add_option(name, value, help)->transform(whole_number(min))->capture_default_str();
}

// Parses the command line; the exit status when the program is to stop there (0 after
// --help, 2 after bad input), nullopt when it is to run.
inline std::optional<int> parse_command_line(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        app.exit(e);
        return 2;
    }
    return std::nullopt;
}

}  // namespace ipckit::bench
