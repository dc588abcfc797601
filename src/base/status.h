// Status and Result<T>: how bad input and environment problems travel up to the CLI or
// the server without exceptions. A Status message names the object, says expected vs
// found, and where useful how to fix it (STYLE.md §6).
#pragma once

#include <fmt/format.h>

#include <string>
#include <utility>
#include <variant>

namespace deepcpu {

class Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string message) {
    Status s;
    s.failed_ = true;
    s.message_ = std::move(message);
    return s;
  }
  bool is_ok() const { return !failed_; }
  explicit operator bool() const { return !failed_; }
  const std::string& message() const { return message_; }
  Status status() const { return *this; }

 private:
  bool failed_ = false;
  std::string message_;
};

template <typename... Args>
Status error(fmt::format_string<Args...> f, Args&&... args) {
  return Status::error(fmt::format(f, std::forward<Args>(args)...));
}

// A value or the Status that explains why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit on purpose
  Result(Status status) : v_(std::move(status)) {}   // NOLINT
  bool is_ok() const { return v_.index() == 0; }
  explicit operator bool() const { return is_ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() { return std::get<0>(v_); }
  Status status() const { return is_ok() ? Status::ok() : std::get<1>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace deepcpu

// Propagate a failed Status / Result to the caller.
#define DEEPCPU_RETURN_IF_ERROR(expr)          \
  do {                                         \
    auto _st = (expr);                         \
    if (!_st.is_ok()) return _st.status();  \
  } while (0)
