// The queue and pool examples (examples/fib_queue.cpp, examples/pool_map.cpp), run as
// programs: they print what the same programs written with Python's multiprocessing print.
#include <gtest/gtest.h>

#include <string>

#include "support.hpp"

namespace {

using ipckit::test::run;

std::string example(const std::string& name) {
    return std::string(IPCKIT_BINARY_DIR) + "/examples/" + name;
}

// The handout's Fibonacci return through multiprocessing.Queue.
const char* python_fib_queue = R"(
import sys
from multiprocessing import Process, Queue
def fib(n, q):
    a, b = 0, 1
    for _ in range(n):
        q.put(a)
        a, b = b, a + b
if __name__ == "__main__":
    n = int(sys.argv[1])
    q = Queue()
    p = Process(target=fib, args=(n, q))
    p.start()
    print([q.get() for _ in range(n)])
    p.join()
)";

const char* python_pool_map = R"(
import sys
from multiprocessing import Pool
def square(x):
    return x * x
if __name__ == "__main__":
    with Pool(4) as pool:
        print(pool.map(square, range(int(sys.argv[1]))))
)";

TEST(PoolExamples, FibQueuePrintsWhatPythonPrints) {
    auto ten = run({example("fib_queue")});
    ASSERT_EQ(ten.exit_code, 0) << ten.err;
    EXPECT_EQ(ten.out, "[0, 1, 1, 2, 3, 5, 8, 13, 21, 34]\n");
    for (const char* n : {"0", "1", "94"}) {
        auto cpp = run({example("fib_queue"), n});
        auto python = run({ipckit::test::python, "-c", python_fib_queue, n});
        ASSERT_EQ(python.exit_code, 0) << python.err;
        EXPECT_EQ(cpp.exit_code, 0) << cpp.err;
        EXPECT_EQ(cpp.out, python.out) << "N = " << n;
    }
    auto bad = run({example("fib_queue"), "95"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("usage: fib_queue"), std::string::npos) << bad.err;
}

TEST(PoolExamples, PoolMapPrintsWhatPythonPrints) {
    auto ten = run({example("pool_map")});
    ASSERT_EQ(ten.exit_code, 0) << ten.err;
    EXPECT_EQ(ten.out, "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]\n");
    for (const char* n : {"0", "1000"}) {
        auto cpp = run({example("pool_map"), n});
        auto python = run({ipckit::test::python, "-c", python_pool_map, n});
        ASSERT_EQ(python.exit_code, 0) << python.err;
        EXPECT_EQ(cpp.exit_code, 0) << cpp.err;
        EXPECT_EQ(cpp.out, python.out) << "N = " << n;
    }
    auto bad = run({example("pool_map"), "-1"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("usage: pool_map"), std::string::npos) << bad.err;
}

}  // namespace
