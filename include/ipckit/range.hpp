// ipckit::range: Python's range(stop), range(start, stop), range(start, stop, step).
//
//   ipckit::Array<int> a(ipckit::range(10));        // 0, 1, ..., 9
//   for (auto i : ipckit::range(10, 0, -2)) ...     // 10, 8, 6, 4, 2
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>

#include "ipckit/error.hpp"

namespace ipckit {

class Range {
  public:
    class iterator {
      public:
        using value_type = std::int64_t;
        using difference_type = std::ptrdiff_t;
        using iterator_category = std::forward_iterator_tag;

        iterator() = default;
        iterator(std::int64_t value, std::int64_t step) : value_(value), step_(step) {}
        std::int64_t operator*() const noexcept { return value_; }
        iterator& operator++() noexcept {
            value_ += step_;
            return *this;
        }
        iterator operator++(int) noexcept {
            iterator old = *this;
            ++*this;
            return old;
        }
        friend bool operator==(const iterator& a, const iterator& b) noexcept {
            return a.value_ == b.value_;
        }

      private:
        std::int64_t value_ = 0;
        std::int64_t step_ = 1;
    };

    Range(std::int64_t start, std::int64_t stop, std::int64_t step) : start_(start), step_(step) {
        if (step == 0) throw ValueError("range: step must not be zero");
        std::int64_t count = 0;
        if (step > 0 && stop > start) count = (stop - start + step - 1) / step;
        if (step < 0 && stop < start) count = (start - stop - step - 1) / -step;
        size_ = static_cast<std::size_t>(count);
    }

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    iterator begin() const noexcept { return {start_, step_}; }
    iterator end() const noexcept {
        return {start_ + static_cast<std::int64_t>(size_) * step_, step_};
    }

  private:
    std::int64_t start_;
    std::int64_t step_;
    std::size_t size_;
};

inline Range range(std::int64_t stop) {
    return Range(0, stop, 1);
}
inline Range range(std::int64_t start, std::int64_t stop, std::int64_t step = 1) {
    return Range(start, stop, step);
}

}  // namespace ipckit
