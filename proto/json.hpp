#pragma once
// JSON vocabulary shared by proto/ and core/. Records, diffs and messages are
// Boost.JSON values; these helpers give them JavaScript's semantics where the
// wire protocol depends on it (number equality, UTF-16 string lengths).

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

#include <cstddef>
#include <string_view>

namespace tlsync {

namespace json = boost::json;

// Deep equality as lodash `isEqual` sees values that came from JSON: numbers
// compare by numeric value whatever their storage (int64, uint64, double), so
// `1` equals `1.0`; objects compare by key set regardless of order.
[[nodiscard]] bool deep_equal(const json::value& a, const json::value& b) noexcept;
[[nodiscard]] bool deep_equal(const json::object& a, const json::object& b) noexcept;
[[nodiscard]] bool deep_equal(const json::array& a, const json::array& b) noexcept;

// Length of a UTF-8 string in UTF-16 code units, i.e. JavaScript's `.length`.
// String append offsets on the wire are counted this way. Invalid UTF-8 bytes
// count as one unit each (Boost.JSON only hands us valid UTF-8 anyway).
[[nodiscard]] std::size_t utf16_length(std::string_view utf8) noexcept;

// True when `v` is a JSON number (int64, uint64 or double).
[[nodiscard]] inline bool is_number(const json::value& v) noexcept {
    return v.is_int64() || v.is_uint64() || v.is_double();
}

// The numeric value of a JSON number as a double (JavaScript's view of it).
[[nodiscard]] double to_double(const json::value& v) noexcept;

// JavaScript truthiness of a JSON value: false, 0, "", null are falsy.
[[nodiscard]] bool is_truthy(const json::value& v) noexcept;

// "null", "a boolean", "a number", "a string", "an array", "an object": for
// error messages that say what was found instead.
[[nodiscard]] const char* kind_name(const json::value& v) noexcept;

} // namespace tlsync
