// Reads lines from a file descriptor, noticing stop requests (a signal while blocked).
#pragma once

#include <string>

namespace ipckit::programs {

class LineReader {
  public:
    enum class Status { line, end_of_input, stopped };
    explicit LineReader(int fd) : fd_(fd) {}
    // Reads the next line (without its newline). A final line without a newline counts.
    Status next(std::string& line);

  private:
    int fd_;
    std::string buffer_;
    bool eof_ = false;
};

}  // namespace ipckit::programs
