// Shared by the doc-snippet tests (tests/doc_snippets/*.cpp).
//
// Each test holds a snippet of README.md, docs/*.md or a header comment, copied verbatim
// (check_snippets.py fails the build's tests when a documented ```cpp block or header
// example is not found, whitespace aside, in one of these files). Keys are the one
// documented substitution: a snippet's fixed key (128, 42) would collide with other tests
// running at the same time, so the test reserves a fresh object with a random key
// (IPC_CREAT|IPC_EXCL, removed when the test ends even if it fails) and the snippet opens
// it by that key. Each file declares its substitutions with
//   // doc-snippet-substitute: TEXT IN THE DOC => TEXT IN THE TEST
// and the checker applies them to the doc's text before looking for it.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "ipckit/ipckit.hpp"

namespace ipckit::doc_test {

// A queue with a fresh random key, removed at the end of the test.
inline sysv::MessageQueue reserve_queue() {
    sysv::MessageQueue queue(std::nullopt);
    queue.set_auto_remove(true);
    return queue;
}

// Runs `body` with stdout captured and returns what it printed.
template <class F>
std::string captured_stdout(F&& body) {
    testing::internal::CaptureStdout();
    try {
        body();
    } catch (...) {
        testing::internal::GetCapturedStdout();
        throw;
    }
    std::cout.flush();
    return testing::internal::GetCapturedStdout();
}

}  // namespace ipckit::doc_test
