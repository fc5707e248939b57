// The examples' one optional argument, a count: `program [N]`. Bad input prints the usage
// and exits with status 2.
#pragma once

#include <cstdlib>
#include <iostream>
#include <string>

inline long long count_argument(int argc, char** argv, long long fallback, long long max) {
    if (argc < 2) return fallback;
    const std::string text = argv[1];
    char* end = nullptr;
    const long long n = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || n < 0 || n > max) {
        const std::string program = argv[0];
        std::cerr << "usage: " << program.substr(program.rfind('/') + 1)
                  << " [N], N a whole number from 0 to " << max << '\n';
        std::exit(2);
    }
    return n;
}
