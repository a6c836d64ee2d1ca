#include "proto/json.hpp"

#include <cmath>

namespace tlsync {

double to_double(const json::value& v) noexcept {
    switch (v.kind()) {
    case json::kind::int64: return static_cast<double>(v.get_int64());
    case json::kind::uint64: return static_cast<double>(v.get_uint64());
    case json::kind::double_: return v.get_double();
    default: return std::nan("");
    }
}

const char* kind_name(const json::value& v) noexcept {
    switch (v.kind()) {
    case json::kind::null: return "null";
    case json::kind::bool_: return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_: return "a number";
    case json::kind::string: return "a string";
    case json::kind::array: return "an array";
    case json::kind::object: return "an object";
    }
    return "?";
}

bool is_truthy(const json::value& v) noexcept {
    switch (v.kind()) {
    case json::kind::null: return false;
    case json::kind::bool_: return v.get_bool();
    case json::kind::int64: return v.get_int64() != 0;
    case json::kind::uint64: return v.get_uint64() != 0;
    case json::kind::double_: return v.get_double() != 0 && !std::isnan(v.get_double());
    case json::kind::string: return !v.get_string().empty();
    default: return true;
    }
}

bool deep_equal(const json::array& a, const json::array& b) noexcept {
    if (&a == &b) return true;
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!deep_equal(a[i], b[i])) return false;
    return true;
}

bool deep_equal(const json::object& a, const json::object& b) noexcept {
    if (&a == &b) return true;
    if (a.size() != b.size()) return false;
    for (const auto& [key, value] : a) {
        const auto* other = b.if_contains(key);
        if (!other || !deep_equal(value, *other)) return false;
    }
    return true;
}

bool deep_equal(const json::value& a, const json::value& b) noexcept {
    if (&a == &b) return true;
    if (is_number(a) && is_number(b)) {
        if (a.kind() == b.kind()) return a == b; // exact for int64/uint64 pairs
        return to_double(a) == to_double(b);
    }
    if (a.kind() != b.kind()) return false;
    switch (a.kind()) {
    case json::kind::null: return true;
    case json::kind::bool_: return a.get_bool() == b.get_bool();
    case json::kind::string: return a.get_string() == b.get_string();
    case json::kind::array: return deep_equal(a.get_array(), b.get_array());
    case json::kind::object: return deep_equal(a.get_object(), b.get_object());
    default: return false;
    }
}

std::size_t utf16_length(std::string_view s) noexcept {
    std::size_t units = 0;
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            ++units;
            ++i;
        } else if ((c >> 5) == 0x6) {
            ++units;
            i += 2;
        } else if ((c >> 4) == 0xE) {
            ++units;
            i += 3;
        } else if ((c >> 3) == 0x1E) {
            units += 2; // astral plane: a surrogate pair in UTF-16
            i += 4;
        } else {
            ++units; // stray continuation or invalid lead byte
            ++i;
        }
    }
    return units;
}

} // namespace tlsync
