// The element type that tests/test_named_queue.cpp and tests/named_queue_worker.cpp pass
// through a named Queue<T> (one definition, so that both spell the type the same way).
#pragma once

#include <cstdint>

namespace ipckit_test {

struct NamedItem {
    std::uint32_t producer;
    std::uint32_t seq;
    std::uint64_t check;
};

inline std::uint64_t named_check(std::uint32_t producer, std::uint32_t seq) {
    std::uint64_t x = (std::uint64_t{producer} << 32 | seq) * 0x9E3779B97F4A7C15ull;
    return x ^ (x >> 29);
}

}  // namespace ipckit_test
