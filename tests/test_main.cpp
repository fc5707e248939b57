// main() of every test binary: GoogleTest with the leak checker (leak_check.cpp).
#include <gtest/gtest.h>

#include "support.hpp"

int main(int argc, char** argv) {
    testing::InitGoogleTest(&argc, argv);
    ipckit::test::install_leak_checker();
    return RUN_ALL_TESTS();
}
