#include "ipckit/programs/line_reader.hpp"

#include <unistd.h>

#include <cerrno>

#include "ipckit/error.hpp"
#include "ipckit/signals.hpp"

namespace ipckit::programs {

LineReader::Status LineReader::next(std::string& line) {
    for (;;) {
        if (auto newline = buffer_.find('\n'); newline != std::string::npos) {
            line = buffer_.substr(0, newline);
            buffer_.erase(0, newline + 1);
            return Status::line;
        }
        if (eof_) {
            if (buffer_.empty()) return Status::end_of_input;
            line = std::move(buffer_);
            buffer_.clear();
            return Status::line;
        }
        if (stop_requested()) return Status::stopped;
        char chunk[4096];
        ssize_t n = ::read(fd_, chunk, sizeof chunk);
        if (n > 0) {
            buffer_.append(chunk, static_cast<std::size_t>(n));
        } else if (n == 0) {
            eof_ = true;
        } else if (errno == EINTR) {
            continue;  // stop_requested() is checked at the top
        } else {
            throw Error(errno, "cannot read standard input");
        }
    }
}

}  // namespace ipckit::programs
