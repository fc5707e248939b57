// A 1 GiB Array<char>: its own mapping, shared with a child. (Label no-asan: ASan's
// shadow memory for 1 GiB is more than the CI machine should spend.)
#include <gtest/gtest.h>

#include "ipckit/ipckit.hpp"

using ipckit::Array;
using ipckit::Process;

TEST(SharedLarge, OneGibibyteArrayOfChar) {
    constexpr std::size_t size = std::size_t{1} << 30;
    auto before = ipckit::shared_arena_stats();
    {
        Array<char> big(size);
        EXPECT_EQ(big.size(), size);
        auto after = ipckit::shared_arena_stats();
        EXPECT_EQ(after.large_mappings, before.large_mappings + 1);
        EXPECT_GE(after.mapped_bytes - before.mapped_bytes, size);
        // The child writes one byte every 64 MiB and the last one; only those pages
        // are ever touched, so the test needs little memory.
        Process child([big] {
            auto g = big.lock();
            for (std::size_t i = 0; i < size; i += std::size_t{64} << 20)
                g[i] = 'x';
            g[size - 1] = 'z';
        });
        child.start();
        child.join();
        ASSERT_EQ(child.exitcode(), 0);
        EXPECT_EQ(big[0], 'x');
        EXPECT_EQ(big[std::size_t{512} << 20], 'x');
        EXPECT_EQ(big[1], '\0');
        EXPECT_EQ(big[size - 1], 'z');
        EXPECT_EQ(big.slice(-2, static_cast<std::ptrdiff_t>(size)), (std::vector<char>{'\0', 'z'}));
    }
    // Freed: unmapped again.
    auto end = ipckit::shared_arena_stats();
    EXPECT_EQ(end.large_mappings, before.large_mappings);
    EXPECT_EQ(end.mapped_bytes, before.mapped_bytes);
}
