// Strings' heap blocks are kept per thread for reuse (src/object.cpp) and go back to malloc
// when the thread ends. Measured with glibc's own count of bytes in use: a sanitizer replaces
// the allocator (and AddressSanitizer keeps no block), so this runs in plain builds only
// (CMake label no-asan; the TSan job runs label `threads` only).
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstddef>
#include <string_view>
#include <thread>
#include <vector>

#include "ipckit/object.hpp"

using ipckit::Object;

// A thread keeps the blocks of the strings it frees for its next strings (src/object.cpp):
// they go back to malloc when the thread ends, including blocks of strings another thread
// made. Measured with glibc's count of bytes in use in its main arena (the main thread's).
TEST(Object, StringBlocksAThreadKeptAreFreedWhenItEnds) {
    const std::size_t strings = 60000;  // 60,000 blocks of 32 bytes: 2.7 MiB with malloc's headers
    auto in_use = [] {
        struct mallinfo2 info = ::mallinfo2();
        return info.uordblks + info.hblkhd;
    };
    std::size_t before = in_use();
    ASSERT_GT(before, 0u) << "glibc's malloc counts the bytes in use";
    std::vector<Object> made_here;
    for (std::size_t i = 0; i < strings; ++i)
        made_here.emplace_back(std::string_view("a string of 20 bytes"));
    std::size_t kept_mid_thread = 0;
    std::thread worker([&] {
        std::vector<Object> made_there;
        for (std::size_t i = 0; i < strings; ++i)
            made_there.emplace_back(std::string_view("a string of 20 bytes"));
        made_there.clear();  // its blocks on this thread's list
        // Another thread's strings (from the main arena, the one mallinfo2 counts): their
        // blocks go on this thread's list too; the vector's own memory goes back.
        std::vector<Object>().swap(made_here);
        kept_mid_thread = in_use();
    });
    worker.join();
    std::size_t after = in_use();
    EXPECT_GT(kept_mid_thread, before + strings * 32) << "the thread kept no block";
    EXPECT_LT(after, before + 256 * 1024) << "blocks kept by the thread outlived it";
}
