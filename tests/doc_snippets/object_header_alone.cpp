// include/ipckit/object.hpp documents ValueError (unhashable keys): a program that includes
// only object.hpp can catch it (object.hpp includes error.hpp; it did not).
#include "ipckit/object.hpp"
// (nothing above but object.hpp)
#include <gtest/gtest.h>

TEST(HeaderSnippets, ObjectHeaderAloneDeclaresValueError) {
    ipckit::Object::Dict d;
    try {
        d.set(ipckit::Object::list({1, 2}), "unhashable");
        ADD_FAILURE() << "a list as a dict key was accepted";
    } catch (const ipckit::ValueError& e) {
        EXPECT_NE(std::string(e.what()).find("unhashable"), std::string::npos) << e.what();
    }
}
