#pragma once
// Structured, leveled logging: one line per event, `key=value` pairs
// (logfmt) or JSON with --log-json. Thread-safe; a line is written with one
// write(2) so lines from different threads never interleave.
//
//   log::info("session connected", {{"room", id}, {"session", sid}});

#include "server/config.hpp"

#include <chrono>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace tlsync::server::log {

using field = std::pair<std::string_view, std::string_view>;

void configure(log_level min_level, bool json);
[[nodiscard]] bool enabled(log_level level) noexcept;
// Never throws: a line that cannot be formatted or written is dropped.
void write(log_level level, std::string_view message,
           std::initializer_list<field> fields = {}) noexcept;

inline void trace(std::string_view m, std::initializer_list<field> f = {}) { write(log_level::trace, m, f); }
inline void debug(std::string_view m, std::initializer_list<field> f = {}) { write(log_level::debug, m, f); }
inline void info(std::string_view m, std::initializer_list<field> f = {}) { write(log_level::info, m, f); }
inline void warn(std::string_view m, std::initializer_list<field> f = {}) { write(log_level::warn, m, f); }
inline void error(std::string_view m, std::initializer_list<field> f = {}) { write(log_level::error, m, f); }

namespace detail {
// The line write() emits, newline included; exposed so tests can check the
// escaping without capturing fd 2.
[[nodiscard]] std::string format_line(log_level level, bool json,
                                      std::chrono::system_clock::time_point ts,
                                      std::string_view message, std::span<const field> fields);
} // namespace detail

} // namespace tlsync::server::log
