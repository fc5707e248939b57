#include "ipckit/programs/numbers.hpp"

#include <cctype>
#include <csignal>
#include <ostream>
#include <thread>

#include "ipckit/error.hpp"
#include "ipckit/programs/line_reader.hpp"
#include "ipckit/signals.hpp"
#include "ipckit/sysv/message_queue.hpp"

namespace ipckit::programs {

std::optional<std::string> python_int(std::string_view text) {
    auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    while (!text.empty() && is_space(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && is_space(text.back()))
        text.remove_suffix(1);
    bool negative = false;
    if (!text.empty() && (text.front() == '+' || text.front() == '-')) {
        negative = text.front() == '-';
        text.remove_prefix(1);
    }
    if (text.empty()) return std::nullopt;
    std::string digits;
    bool previous_was_digit = false;
    for (char c : text) {
        if (std::isdigit(static_cast<unsigned char>(c))) {
            digits += c;
            previous_was_digit = true;
        } else if (c == '_' && previous_was_digit) {
            previous_was_digit = false;  // one underscore, then a digit must follow
        } else {
            return std::nullopt;
        }
    }
    if (!previous_was_digit) return std::nullopt;  // trailing underscore
    std::size_t first = digits.find_first_not_of('0');
    if (first == std::string::npos) return std::string("0");  // -0 is 0
    digits.erase(0, first);
    return negative ? "-" + digits : digits;
}

namespace {

// Waits, in the kernel, until the client has taken every message: with the queue's
// capacity lowered to 1 byte, a 0-byte marker fits only once the queue is empty
// (the kernel admits a message when bytes + size <= capacity and count + 1 <= capacity).
// Returns false if the client did not drain the queue within `linger`.
bool wait_until_drained(sysv::MessageQueue& mq, std::chrono::milliseconds linger) {
    if (mq.current_messages() == 0) return true;
    try {
        mq.set_max_size(1);
    } catch (const PermissionsError&) {
        // Someone else's queue: we may not change it, so look every few milliseconds.
        auto deadline = std::chrono::steady_clock::now() + linger;
        while (mq.current_messages() > 0) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        return true;
    }
    try {
        mq.send(std::string_view{}, sysv::type(1), sysv::timeout(linger));
        return true;
    } catch (const BusyError&) {
        return false;
    }
}

}  // namespace

int numbers_server(const NumbersServerOptions& options, std::ostream& out, std::ostream& err) {
    install_stop_handler({SIGINT, SIGTERM, SIGHUP});
    // Integers of any size that fits one message (msgmax bytes, 8192 by default).
    const std::size_t largest = sysv::message_queue_limits().msgmax;
    sysv::MessageQueue mq(options.key, IPC_CREAT, sysv::default_mode, largest);
    mq.set_auto_remove(true);  // never left behind, however the server ends
    LineReader input(options.input_fd);
    std::string line;
    for (;;) {
        auto status = input.next(line);
        if (status == LineReader::Status::stopped) {
            mq.remove();
            err << "numbers server: stopped by signal " << stop_signal() << "; removed "
                << mq.describe() << '\n';
            return 1;
        }
        std::string value = "0";  // end of input counts as 0
        if (status == LineReader::Status::line) {
            auto parsed = python_int(line);
            if (!parsed) {
                out << "Input error, try again!" << std::endl;
                continue;
            }
            if (parsed->size() > largest) {
                err << "numbers server: an integer of " << parsed->size()
                    << " characters does not fit one message (msgmax: " << largest << " bytes)\n";
                out << "Input error, try again!" << std::endl;
                continue;
            }
            value = *parsed;
        }
        try {
            mq.send(value, sysv::SendOptions{1, true, options.timeout});
        } catch (const InterruptedError&) {
            mq.remove();
            err << "numbers server: stopped by signal " << stop_signal() << '\n';
            return 1;
        } catch (const BusyError& e) {
            err << "numbers server: the client does not take the numbers: " << e.what()
                << "; `ipckit mq stat " << sysv::format_key(mq.key())
                << "` shows it; removing the queue\n";
            mq.remove();
            return 1;
        }
        if (value == "0") break;
    }
    bool drained = false;
    try {
        drained = wait_until_drained(mq, options.linger);
    } catch (const InterruptedError&) {
    }
    if (!drained) {
        err << "numbers server: the client did not take the last " << mq.current_messages()
            << " message(s); removing " << mq.describe() << " anyway\n";
    }
    mq.remove();
    return 0;
}

int numbers_client(const NumbersClientOptions& options, std::ostream& out, std::ostream& err) {
    install_stop_handler({SIGINT, SIGTERM, SIGHUP});
    sysv::MessageQueue mq(options.key, 0, sysv::default_mode, sysv::message_queue_limits().msgmax);
    sysv::ReceiveOptions wait;
    wait.timeout = options.timeout;
    for (;;) {
        sysv::Message message;
        try {
            message = mq.receive(wait);
        } catch (const BusyError& e) {
            if (!e.timed_out()) throw;
            err << "numbers client: no number from the server on " << mq.describe()
                << " within the timeout (is the server running?)\n";
            return 1;
        } catch (const ExistentialError&) {
            err << "numbers client: " << mq.describe()
                << " was removed before the server sent 0 (did the server stop?)\n";
            return 1;
        } catch (const InterruptedError&) {
            err << "numbers client: stopped by signal " << stop_signal() << '\n';
            return 1;
        }
        auto value = python_int(message.data);
        if (!value) {
            err << "numbers client: received a message that is not an integer: \"" << message.data
                << "\"\n";
            return 1;
        }
        if (*value == "0") {
            out << "exiting." << std::endl;
            return 0;
        }
        out << "received: " << *value << std::endl;
    }
}

}  // namespace ipckit::programs
