// receive_into and send(MessageBuffer) allocate nothing: counted by replacing operator new.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "ipckit/ipckit.hpp"

namespace {
std::atomic<long> allocations{0};
}

void* operator new(std::size_t size) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size ? size : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace sysv = ipckit::sysv;

TEST(MessageQueueAllocations, ReceiveIntoAndBufferSendAllocateNothing) {
    sysv::MessageQueue mq(std::nullopt);
    mq.set_auto_remove(true);
    sysv::MessageBuffer out(64), in(64);
    out.assign(std::string_view("no allocation here"), 5);
    sysv::ReceiveOptions options;
    options.timeout = std::chrono::seconds(5);  // timed receive too
    mq.send(out);
    mq.receive_into(in, options);  // warm-up: the per-thread timer is created once

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
