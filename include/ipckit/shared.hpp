// Typed shared memory for processes in a parent-child family: multiprocessing's Value,
// Array, RawValue and RawArray.
//
//   ipckit::Value<double> number(0.0);
//   ipckit::Array<int> vector(ipckit::range(10));
//   ipckit::Process p([](auto n, auto a) {
//       n.value() = 3.1415927;
//       for (std::size_t i = 0; i < a.size(); ++i) a[i] = -a[i];
//   }, number, vector);
//   p.start();
//   p.join();
//   std::cout << number << '\n';   // 3.1415927
//   std::cout << vector << '\n';   // [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]
//
// Value and Array are handles: copies refer to the same shared memory, and a child forked
// after the object was made sees and changes it. The memory is zeroed, from the shared
// arena (ipckit/shared_arena.hpp: keep a handle alive while children use the object). T is
// any trivially copyable type, user structs included (Python's typecodes and their C++
// types: docs/python-to-cpp.md).
//
// Synchronisation follows Python: each read or write of a Value or of one Array element
// takes the object's lock (a robust, recursive, process-shared ipckit::Lock), so it is
// atomic; lock() returns a guard under which any number of operations run as one, with
// direct access to the data (a span for arrays). Unlike Python, the compound assignments
// (`n.value() += 1`, `a[i] *= 2`) run under one lock, so they do not race.
// Several objects may share one lock (Python's lock= argument); with lock = false, or with
// RawValue and RawArray, there is no lock and no synchronisation.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <memory>
#include <new>
#include <ostream>
#include <ranges>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ipckit/error.hpp"
#include "ipckit/lock.hpp"
#include "ipckit/range.hpp"
#include "ipckit/repr.hpp"
#include "ipckit/shared_arena.hpp"

namespace ipckit {

// The types Value and Array can hold.
template <class T>
concept Shareable = std::is_trivially_copyable_v<T> && std::is_object_v<T> && !std::is_const_v<T> &&
                    !std::is_pointer_v<T> && alignof(T) <= 4096;

namespace detail {

// Shared storage for n objects of type T and, optionally, their own lock in front.
template <class T>
struct Storage {
    std::shared_ptr<std::byte> block;  // keeps the bytes alive in this process
    Lock lock{nullptr};                // state() is null when there is no lock
    T* data = nullptr;
    std::size_t size = 0;

    enum class LockMode { none, own, shared };
    Storage(std::size_t n, LockMode mode, const Lock* shared_lock = nullptr) : size(n) {
        constexpr std::size_t align = std::max<std::size_t>(alignof(T), 16);
        const std::size_t offset = mode == LockMode::own ? align : 0;
        if (n > (std::numeric_limits<std::size_t>::max() - offset) / sizeof(T)) {
            throw ValueError("shared array of " + std::to_string(n) + " elements of " +
                             std::to_string(sizeof(T)) + " bytes: too large");
        }
        block = shared_allocate(std::max<std::size_t>(offset + n * sizeof(T), 1), align);
        data = reinterpret_cast<T*>(block.get() + offset);
        if (mode == LockMode::own) {
            auto* state = new (block.get()) LockState();
            lock = Lock(block, state);
        } else if (mode == LockMode::shared) {
            lock = *shared_lock;
        }
    }
    LockState* lock_state() const noexcept { return lock.state(); }
};

// A reference to one shared object whose every access takes the lock (if any):
// Value::value() and Array::operator[] return it.
template <class T>
class Ref {
  public:
    Ref(LockState* lock, T* data) noexcept : lock_(lock), data_(data) {}
    Ref(const Ref&) = default;

    T get() const {
        Guard g(lock_);
        return *data_;
    }
    void set(const T& x) const {
        Guard g(lock_);
        *data_ = x;
    }
    operator T() const { return get(); }  // NOLINT(google-explicit-constructor)
    const Ref& operator=(const T& x) const {
        set(x);
        return *this;
    }
    const Ref& operator=(const Ref& other) const {
        set(other.get());
        return *this;
    }

    // Read-modify-write under one lock.
    template <class F>
    auto update(F&& f) const {
        Guard g(lock_);
        return std::forward<F>(f)(*data_);
    }
#define IPCKIT_COMPOUND(op)                             \
    template <class U>                                  \
        requires requires(T& t, const U& u) { t op u; } \
    const Ref& operator op(const U& u) const {          \
        Guard g(lock_);                                 \
        *data_ op u;                                    \
        return *this;                                   \
    }
    IPCKIT_COMPOUND(+=)
    IPCKIT_COMPOUND(-=)
    IPCKIT_COMPOUND(*=)
    IPCKIT_COMPOUND(/=)
    IPCKIT_COMPOUND(%=)
    IPCKIT_COMPOUND(&=)
    IPCKIT_COMPOUND(|=)
    IPCKIT_COMPOUND(^=)
    IPCKIT_COMPOUND(<<=)
    IPCKIT_COMPOUND(>>=)
#undef IPCKIT_COMPOUND
    const Ref& operator++() const
        requires requires(T& t) { ++t; }
    {
        Guard g(lock_);
        ++*data_;
        return *this;
    }
    T operator++(int) const
        requires requires(T& t) { t++; }
    {
        Guard g(lock_);
        return (*data_)++;
    }
    const Ref& operator--() const
        requires requires(T& t) { --t; }
    {
        Guard g(lock_);
        --*data_;
        return *this;
    }
    T operator--(int) const
        requires requires(T& t) { t--; }
    {
        Guard g(lock_);
        return (*data_)--;
    }

    friend std::ostream& operator<<(std::ostream& os, const Ref& ref) {
        write_repr(os, ref.get());
        return os;
    }

  private:
    LockState* lock_;
    T* data_;
};

}  // namespace detail

// The guard of a Value: holds its lock (if any) and gives direct access.
template <class T>
class ValueGuard : public Guard {
  public:
    ValueGuard(detail::LockState* lock, T* data) : Guard(lock), data_(data) {}
    T& operator*() const noexcept { return *data_; }
    T* operator->() const noexcept { return data_; }
    T& value() const noexcept { return *data_; }

  private:
    T* data_;
};

// The guard of an Array: holds its lock (if any); span() is the elements, for bulk work.
template <class T>
class ArrayGuard : public Guard {
  public:
    ArrayGuard(detail::LockState* lock, std::span<T> elements) : Guard(lock), elements_(elements) {}
    std::span<T> span() const noexcept { return elements_; }
    T& operator[](std::size_t i) const noexcept { return elements_[i]; }
    std::size_t size() const noexcept { return elements_.size(); }
    T* begin() const noexcept { return elements_.data(); }
    T* end() const noexcept { return elements_.data() + elements_.size(); }

  private:
    std::span<T> elements_;
};

// multiprocessing.Value(typecode, value, lock=True).
template <Shareable T>
class Value {
    using Mode = typename detail::Storage<T>::LockMode;

  public:
    using value_type = T;
    using Ref = detail::Ref<T>;

    // A zero-initialised value with its own lock, or none if `lock` is false.
    Value() : Value(T{}) {}
    explicit Value(const T& initial, bool lock = true)
        : storage_(std::make_shared<detail::Storage<T>>(1, lock ? Mode::own : Mode::none)) {
        *storage_->data = initial;
    }
    // A value synchronised by an existing lock (shared with other objects).
    Value(const T& initial, const Lock& lock)
        : storage_(std::make_shared<detail::Storage<T>>(1, Mode::shared, &lock)) {
        *storage_->data = initial;
    }

    // Python's `v.value`: reads and assignments through it take the lock.
    Ref value() const noexcept { return Ref(storage_->lock_state(), storage_->data); }
    T get() const { return value().get(); }
    void set(const T& x) const { value().set(x); }

    // Holds the lock for the guard's life; *guard is the value.
    [[nodiscard]] ValueGuard<T> lock() const {
        return ValueGuard<T>(storage_->lock_state(), storage_->data);
    }
    // Python's get_lock(). Throws ValueError if the value was made with lock = false.
    const Lock& get_lock() const {
        if (!has_lock()) throw ValueError("Value was made with lock = false: it has no lock");
        return storage_->lock;
    }
    bool has_lock() const noexcept { return storage_->lock_state() != nullptr; }
    // Python's get_obj(): the shared object itself, unsynchronised.
    T* get_obj() const noexcept { return storage_->data; }

    friend std::ostream& operator<<(std::ostream& os, const Value& v) { return os << v.value(); }

  private:
    std::shared_ptr<detail::Storage<T>> storage_;
};

// multiprocessing.Array(typecode, size_or_initializer, lock=True).
template <Shareable T>
class Array {
    using Mode = typename detail::Storage<T>::LockMode;

  public:
    using value_type = T;
    using Ref = detail::Ref<T>;

    // n zeroed elements.
    explicit Array(std::size_t n, bool lock = true) : storage_(make(n, lock)) {}
    Array(std::size_t n, const Lock& lock) : storage_(make(n, lock)) {}
    // The given elements.
    Array(std::initializer_list<T> values, bool lock = true) : storage_(make(values.size(), lock)) {
        std::ranges::copy(values, storage_->data);
    }
    Array(std::initializer_list<T> values, const Lock& lock) : storage_(make(values.size(), lock)) {
        std::ranges::copy(values, storage_->data);
    }
    // The elements of any range: ipckit::range(10), a std::vector, a std::string...
    template <std::ranges::input_range R>
        requires std::convertible_to<std::ranges::range_reference_t<R>, T> &&
                 (!std::same_as<std::remove_cvref_t<R>, Array>)  // copying shares
    explicit Array(R&& values, bool lock = true) {
        init(std::forward<R>(values), lock);
    }
    template <std::ranges::input_range R>
        requires std::convertible_to<std::ranges::range_reference_t<R>, T>
    Array(R&& values, const Lock& lock) {
        init(std::forward<R>(values), lock);
    }

    std::size_t size() const noexcept { return storage_->size; }
    bool empty() const noexcept { return storage_->size == 0; }

    // Python's a[i]: each read or assignment takes the lock. Negative indexes are not
    // accepted (size_t); an index past the end throws IndexError.
    Ref operator[](std::size_t i) const { return Ref(storage_->lock_state(), element(i)); }
    T get(std::size_t i) const { return (*this)[i].get(); }
    void set(std::size_t i, const T& x) const { (*this)[i].set(x); }

    // Python's a[:]: a copy of every element, taken under the lock.
    std::vector<T> snapshot() const { return slice(0, static_cast<std::ptrdiff_t>(size())); }
    // Python's a[begin:end]: negative positions count from the end; out-of-range
    // positions are clamped, as in Python.
    std::vector<T> slice(std::ptrdiff_t begin, std::ptrdiff_t end) const {
        auto [b, e] = clamp(begin, end);
        Guard g(storage_->lock_state());
        return std::vector<T>(storage_->data + b, storage_->data + e);
    }
    // Python's a[begin:begin+len(values)] = values, under one lock.
    void assign(std::size_t begin, std::span<const T> values) const {
        if (begin > size() || values.size() > size() - begin) {
            throw IndexError("Array assignment of " + std::to_string(values.size()) +
                             " elements at " + std::to_string(begin) + " goes past the end (size " +
                             std::to_string(size()) + ")");
        }
        Guard g(storage_->lock_state());
        std::ranges::copy(values, storage_->data + begin);
    }

    // Holds the lock for the guard's life; guard.span() is every element.
    [[nodiscard]] ArrayGuard<T> lock() const {
        return ArrayGuard<T>(storage_->lock_state(), std::span<T>(storage_->data, size()));
    }
    const Lock& get_lock() const {
        if (!has_lock()) throw ValueError("Array was made with lock = false: it has no lock");
        return storage_->lock;
    }
    bool has_lock() const noexcept { return storage_->lock_state() != nullptr; }
    // Python's get_obj(): the elements themselves, unsynchronised.
    std::span<T> get_obj() const noexcept { return {storage_->data, size()}; }

    // Python's print(a[:]): [0, -1, -2] (b'...' for char), read under the lock.
    friend std::ostream& operator<<(std::ostream& os, const Array& a) {
        auto g = a.lock();
        write_repr(os, std::span<const T>(g.span()));
        return os;
    }

  private:
    static std::shared_ptr<detail::Storage<T>> make(std::size_t n, bool lock) {
        return std::make_shared<detail::Storage<T>>(n, lock ? Mode::own : Mode::none);
    }
    static std::shared_ptr<detail::Storage<T>> make(std::size_t n, const Lock& lock) {
        return std::make_shared<detail::Storage<T>>(n, Mode::shared, &lock);
    }
    template <class R, class L>
    void init(R&& values, const L& lock) {
        if constexpr (std::ranges::sized_range<R>) {
            storage_ = make(static_cast<std::size_t>(std::ranges::size(values)), lock);
            T* out = storage_->data;
            for (auto&& x : values)
                *out++ = static_cast<T>(x);
        } else {
            std::vector<T> copy;
            for (auto&& x : values)
                copy.push_back(static_cast<T>(x));
            storage_ = make(copy.size(), lock);
            std::ranges::copy(copy, storage_->data);
        }
    }
    T* element(std::size_t i) const {
        if (i >= size()) {
            throw IndexError("Array index " + std::to_string(i) + " out of range (size " +
                             std::to_string(size()) + ")");
        }
        return storage_->data + i;
    }
    std::pair<std::size_t, std::size_t> clamp(std::ptrdiff_t begin, std::ptrdiff_t end) const {
        const auto n = static_cast<std::ptrdiff_t>(size());
        auto fix = [n](std::ptrdiff_t i) {
            if (i < 0) i += n;
            return std::clamp<std::ptrdiff_t>(i, 0, n);
        };
        std::ptrdiff_t b = fix(begin), e = fix(end);
        if (e < b) e = b;
        return {static_cast<std::size_t>(b), static_cast<std::size_t>(e)};
    }

    std::shared_ptr<detail::Storage<T>> storage_;
};

// multiprocessing.RawValue: shared, never locked.
template <Shareable T>
class RawValue {
    using Mode = typename detail::Storage<T>::LockMode;

  public:
    using value_type = T;
    RawValue() : RawValue(T{}) {}
    explicit RawValue(const T& initial)
        : storage_(std::make_shared<detail::Storage<T>>(1, Mode::none)) {
        *storage_->data = initial;
    }
    T& value() const noexcept { return *storage_->data; }
    T get() const noexcept { return *storage_->data; }
    void set(const T& x) const noexcept { *storage_->data = x; }
    friend std::ostream& operator<<(std::ostream& os, const RawValue& v) {
        write_repr(os, v.get());
        return os;
    }

  private:
    std::shared_ptr<detail::Storage<T>> storage_;
};

// multiprocessing.RawArray: shared, never locked.
template <Shareable T>
class RawArray {
    using Mode = typename detail::Storage<T>::LockMode;

  public:
    using value_type = T;
    explicit RawArray(std::size_t n) : storage_(make(n)) {}
    RawArray(std::initializer_list<T> values) : storage_(make(values.size())) {
        std::ranges::copy(values, storage_->data);
    }
    template <std::ranges::input_range R>
        requires std::convertible_to<std::ranges::range_reference_t<R>, T> &&
                 (!std::same_as<std::remove_cvref_t<R>, RawArray>)  // copying shares
    explicit RawArray(R&& values) {
        std::vector<T> copy;
        for (auto&& x : values)
            copy.push_back(static_cast<T>(x));
        storage_ = make(copy.size());
        std::ranges::copy(copy, storage_->data);
    }

    std::size_t size() const noexcept { return storage_->size; }
    bool empty() const noexcept { return storage_->size == 0; }
    T& operator[](std::size_t i) const noexcept { return storage_->data[i]; }
    T& at(std::size_t i) const {
        if (i >= size()) {
            throw IndexError("RawArray index " + std::to_string(i) + " out of range (size " +
                             std::to_string(size()) + ")");
        }
        return storage_->data[i];
    }
    std::span<T> span() const noexcept { return {storage_->data, size()}; }
    T* begin() const noexcept { return storage_->data; }
    T* end() const noexcept { return storage_->data + size(); }
    std::vector<T> snapshot() const { return {begin(), end()}; }
    friend std::ostream& operator<<(std::ostream& os, const RawArray& a) {
        write_repr(os, std::span<const T>(a.span()));
        return os;
    }

  private:
    static std::shared_ptr<detail::Storage<T>> make(std::size_t n) {
        return std::make_shared<detail::Storage<T>>(n, Mode::none);
    }
    std::shared_ptr<detail::Storage<T>> storage_;
};

}  // namespace ipckit
