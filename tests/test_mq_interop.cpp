// Byte-for-byte interop with Debian's python3-sysv-ipc on the same kernel queues.
#include <gtest/gtest.h>

#include <iomanip>
#include <sstream>
#include <vector>

#include "ipckit/ipckit.hpp"
#include "support.hpp"

namespace sysv = ipckit::sysv;
using namespace std::chrono_literals;
using ipckit::test::python;
using ipckit::test::python_script;
using ipckit::test::run;

namespace {

struct Sample {
    long type;
    std::string data;
};

// Empty, binary with NULs, invalid UTF-8, text, and the sysv_ipc default maximum.
std::vector<Sample> samples() {
    return {{1, ""},
            {1, std::string("\x00\x01\x02", 3)},
            {2, "\xff\xfe\xfd not utf-8 \xc3\x28"},
            {3, "hello, world"},
            {77, std::string(2048, '\xab')},
            {1, "\xe2\x82\xac euro"},
            {5, std::string(8192, '\0')}};
}

std::string hex(const std::string& bytes) {
    std::ostringstream out;
    for (unsigned char c : bytes)
        out << std::hex << std::setw(2) << std::setfill('0') << int(c);
    return out.str();
}

sysv::MessageQueue fresh_queue() {
    sysv::MessageQueue mq(std::nullopt, sysv::IPC_CREX, sysv::default_mode, 8192);
    mq.set_auto_remove(true);
    return mq;
}

}  // namespace

TEST(MessageQueueInterop, PythonSendsIpckitReceives) {
    auto mq = fresh_queue();
    std::string input;
    for (const auto& s : samples())
        input += std::to_string(s.type) + " " + hex(s.data) + "\n";
    auto result = run({python, python_script("mq_send.py"), std::to_string(mq.key())}, input);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    for (const auto& s : samples()) {
        auto message = mq.receive(sysv::timeout(10s));
        EXPECT_EQ(message.type, s.type);
        EXPECT_EQ(message.data, s.data) << "type " << s.type;
    }
    EXPECT_EQ(mq.current_messages(), 0u);
}

TEST(MessageQueueInterop, IpckitSendsPythonReceives) {
    auto mq = fresh_queue();
    for (const auto& s : samples())
        mq.send(s.data, sysv::type(s.type));
    auto result = run({python, python_script("mq_recv.py"), std::to_string(mq.key()),
                       std::to_string(samples().size())});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::string expected;
    for (const auto& s : samples())
        expected += std::to_string(s.type) + " " + hex(s.data) + "\n";
    EXPECT_EQ(result.out, expected);
}

TEST(MessageQueueInterop, PythonSeesIpckitDefaults) {
    auto mq = fresh_queue();
    auto result = run({python, "-c",
                       "import sysv_ipc,sys; mq=sysv_ipc.MessageQueue(" + std::to_string(mq.key()) +
                           "); print(oct(mq.mode), mq.key)"});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(result.out, "0o600 " + std::to_string(mq.key()) + "\n");
}
