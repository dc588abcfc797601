// Logging to stderr in words a user understands. Level set once by the CLI (-v).
#pragma once

#include <fmt/format.h>

#include <cstdio>

namespace deepcpu {

enum class LogLevel { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

LogLevel log_level();
void set_log_level(LogLevel level);

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> f, Args&&... args) {
  if (level > log_level()) return;
  std::fputs(fmt::format(f, std::forward<Args>(args)...).c_str(), stderr);
  std::fputc('\n', stderr);
}

#define DEEPCPU_LOG_INFO(...) ::deepcpu::log(::deepcpu::LogLevel::kInfo, __VA_ARGS__)
#define DEEPCPU_LOG_WARN(...) ::deepcpu::log(::deepcpu::LogLevel::kWarn, __VA_ARGS__)
#define DEEPCPU_LOG_DEBUG(...) ::deepcpu::log(::deepcpu::LogLevel::kDebug, __VA_ARGS__)

}  // namespace deepcpu
