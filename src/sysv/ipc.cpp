#include "ipckit/sysv/ipc.hpp"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <random>

#include "ipckit/error.hpp"

namespace ipckit::sysv {

Key ftok(const std::string& path, int project_id) {
    Key key = ::ftok(path.c_str(), project_id);
    if (key == -1) {
        int err = errno;
        throw ExistentialError(err, "ftok(\"" + path + "\", " + std::to_string(project_id) +
                                        "): " + std::generic_category().message(err) +
                                        " (the path must exist and be accessible)");
    }
    return key;
}

Key random_key() {
    thread_local std::mt19937 engine{std::random_device{}()};
    std::uniform_int_distribution<Key> dist(1, 0x7fffffff);
    return dist(engine);
}

std::string format_key(Key key) {
    char text[16];
    std::snprintf(text, sizeof text, "0x%08x", static_cast<unsigned>(key));
    return text;
}

Key parse_key(std::string_view text) {
    std::string_view digits = text;
    int base = 10;
    bool negative = false;
    if (!digits.empty() && digits.front() == '-') {
        negative = true;
        digits.remove_prefix(1);
    }
    if (digits.size() > 2 && digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X')) {
        digits.remove_prefix(2);
        base = 16;
    }
    long long value = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, base);
    bool all_digits = end == digits.data() + digits.size();
    if (ec == std::errc::result_out_of_range && all_digits && digits.front() != '-') {
        throw ValueError(ERANGE, "invalid key \"" + std::string(text) + "\": out of 32-bit range");
    }
    // from_chars takes a '-' of its own: "--5" and "0x-5" are not keys.
    if (digits.empty() || digits.front() == '-' || ec != std::errc{} || !all_digits) {
        throw ValueError(EINVAL, "invalid key \"" + std::string(text) +
                                     "\": write it in decimal (128) or hex (0x80)");
    }
    if (negative) value = -value;
    // Keys are 32-bit; ipcs shows them unsigned, so accept 0x80000000..0xffffffff too.
    if (value < INT32_MIN || value > static_cast<long long>(UINT32_MAX)) {
        throw ValueError(EINVAL, "invalid key \"" + std::string(text) + "\": out of 32-bit range");
    }
    return static_cast<Key>(static_cast<std::uint32_t>(value));
}

namespace {
std::size_t read_limit(const char* path, std::size_t fallback) {
    std::ifstream in(path);
    std::size_t value = 0;
    if (in >> value) return value;
    return fallback;
}
}  // namespace

MessageQueueLimits message_queue_limits() {
    return {read_limit("/proc/sys/kernel/msgmax", 8192),
            read_limit("/proc/sys/kernel/msgmnb", 16384),
            read_limit("/proc/sys/kernel/msgmni", 32000)};
}

}  // namespace ipckit::sysv
