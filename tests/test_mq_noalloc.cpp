// receive_into and send(MessageBuffer) allocate nothing: counted by replacing the C
// library's allocator (malloc, calloc, realloc and the aligned allocators), through which
// every form of operator new goes (plain, array, nothrow, aligned), so that no allocation
// escapes the count. The replacements forward to glibc's own allocator.
#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>

#include "ipckit/ipckit.hpp"

// A sanitizer replaces the allocator itself: there the replacement below would fight it,
// so this test only runs in plain builds (CMake label no-asan).
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define IPCKIT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define IPCKIT_SANITIZED 1
#endif
#endif

#ifndef IPCKIT_SANITIZED
// glibc's allocator under its own names.
extern "C" {
void* __libc_malloc(size_t size);                      // NOLINT(bugprone-reserved-identifier)
void* __libc_calloc(size_t count, size_t size);        // NOLINT(bugprone-reserved-identifier)
void* __libc_realloc(void* p, size_t size);            // NOLINT(bugprone-reserved-identifier)
void* __libc_memalign(size_t alignment, size_t size);  // NOLINT(bugprone-reserved-identifier)
void __libc_free(void* p);                             // NOLINT(bugprone-reserved-identifier)
}

namespace {
std::atomic<long> allocations{0};
// Where the test below keeps what it allocates, so that the compiler cannot elide the
// allocation (as it may for a `delete new int`).
void* volatile sink = nullptr;
void count() {
    allocations.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
void* malloc(size_t size) noexcept {
    count();
    return __libc_malloc(size);
}
void* calloc(size_t n, size_t size) noexcept {
    count();
    return __libc_calloc(n, size);
}
void* realloc(void* p, size_t size) noexcept {
    count();
    return __libc_realloc(p, size);
}
void free(void* p) noexcept {
    __libc_free(p);
}
void* memalign(size_t alignment, size_t size) noexcept {
    count();
    return __libc_memalign(alignment, size);
}
void* aligned_alloc(size_t alignment, size_t size) noexcept {
    count();
    return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, size_t alignment, size_t size) noexcept {
    count();
    if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    void* p = __libc_memalign(alignment, size);
    if (!p) return ENOMEM;
    *out = p;
    return 0;
}
}

#endif  // IPCKIT_SANITIZED

namespace sysv = ipckit::sysv;

#ifdef IPCKIT_SANITIZED
TEST(MessageQueueAllocations, NeedsABuildWithoutSanitizers) {
    GTEST_SKIP() << "the sanitizer owns the allocator; CI runs this test in the plain build";
}
#else

// The count sees every way a C++ program allocates (else the test below proves nothing).
TEST(MessageQueueAllocations, EveryFormOfAllocationIsCounted) {
    struct alignas(64) Wide {
        char bytes[64];
    };
    auto counted = [](auto allocate) {
        long before = allocations.load();
        allocate();
        return allocations.load() - before;
    };
    EXPECT_GE(counted([] {
                  auto* p = new int(1);
                  sink = p;
                  delete p;
              }),
              1);
    EXPECT_GE(counted([] {
                  auto* p = new int[3];
                  sink = p;
                  delete[] p;
              }),
              1);
    EXPECT_GE(counted([] {
                  auto* p = new (std::nothrow) int(1);
                  sink = p;
                  delete p;
              }),
              1);
    EXPECT_GE(counted([] {
                  auto* p = new (std::nothrow) int[3];
                  sink = p;
                  delete[] p;
              }),
              1);
    EXPECT_GE(counted([] {
                  auto* p = new Wide;
                  sink = p;
                  delete p;
              }),
              1);
    EXPECT_GE(counted([] {
                  auto* p = new Wide[2];
                  sink = p;
                  delete[] p;
              }),
              1);
    EXPECT_GE(counted([] {
                  auto* p = new (std::nothrow) Wide;
                  sink = p;
                  delete p;
              }),
              1);
    EXPECT_GE(counted([] {
                  sink = std::malloc(10);
                  std::free(sink);
              }),
              1);
    EXPECT_GE(counted([] {
                  sink = std::calloc(2, 10);
                  std::free(sink);
              }),
              1);
    EXPECT_GE(counted([] {
                  sink = std::realloc(nullptr, 10);
                  std::free(sink);
              }),
              1);
    EXPECT_GE(counted([] {
                  sink = std::aligned_alloc(64, 64);
                  std::free(sink);
              }),
              1);
    EXPECT_GE(counted([] {
                  void* p = nullptr;
                  if (::posix_memalign(&p, 64, 64) == 0) sink = p;
                  std::free(p);
              }),
              1);
}

TEST(MessageQueueAllocations, ReceiveIntoAndBufferSendAllocateNothing) {
    sysv::MessageQueue mq(std::nullopt);
    mq.set_auto_remove(true);
    sysv::MessageBuffer out(64), in(64);
    out.assign(std::string_view("no allocation here"), 5);
    sysv::ReceiveOptions options;
    options.timeout = std::chrono::seconds(5);  // timed receive too
    // Warm-up, timed and untimed: the per-thread timer (and its thread_local, whose
    // registration allocates once) is created on a thread's first blocking call.
    mq.send(out);
    mq.receive_into(in, options);
    mq.send(out);
    mq.receive_into(in);

    long before = allocations.load();
    for (int i = 0; i < 1000; ++i) {
        mq.send(out);
        mq.receive_into(in, options);
        mq.send(out);
        mq.receive_into(in);
    }
    EXPECT_EQ(allocations.load() - before, 0);
    EXPECT_EQ(in.text(), "no allocation here");
}
#endif  // IPCKIT_SANITIZED
