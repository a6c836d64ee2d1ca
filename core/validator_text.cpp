// JavaScript renderings of values and upstream's error path format, so our
// messages read as @tldraw/validate's do.
#include "core/validator.hpp"
#include "core/validator_detail.hpp"

#include <charconv>
#include <cstdio>
#include <cstdlib>

namespace tlsync::core::detail {

void fail(std::string raw) {
    throw validation_failure{std::move(raw), {}};
}

double number_of(const json::value& v) noexcept {
    switch (v.kind()) {
    case json::kind::int64:
        return static_cast<double>(v.get_int64());
    case json::kind::uint64:
        return static_cast<double>(v.get_uint64());
    case json::kind::double_:
        return v.get_double();
    default:
        return 0;
    }
}

std::string js_number(double d) {
    if (d != d) return "NaN";
    if (d == 0) return "0";
    if (d < 0) return "-" + js_number(-d);
    if (d > 1.7976931348623157e308) return "Infinity";
    // Shortest round-trip digits, then ECMAScript Number::toString's layout.
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    std::string_view sci(buf, static_cast<std::size_t>(end - buf));
    auto e_pos = sci.find('e');
    std::string digits;
    for (char c : sci.substr(0, e_pos))
        if (c != '.') digits += c;
    int exp = std::atoi(std::string(sci.substr(e_pos + 1)).c_str());
    const int k = static_cast<int>(digits.size());
    const int n = exp + 1;
    if (k <= n && n <= 21) return digits + std::string(static_cast<std::size_t>(n - k), '0');
    if (0 < n && n <= 21)
        return digits.substr(0, static_cast<std::size_t>(n)) + "." +
               digits.substr(static_cast<std::size_t>(n));
    if (-6 < n && n <= 0) return "0." + std::string(static_cast<std::size_t>(-n), '0') + digits;
    std::string out(1, digits[0]);
    if (k > 1) out += "." + digits.substr(1);
    out += exp < 0 ? "e-" : "e+";
    out += std::to_string(exp < 0 ? -exp : exp);
    return out;
}

namespace {

void quote(std::string& out, std::string_view s) {
    out += '"';
    for (unsigned char c : s) {
        switch (c) {
        case '"':
            out += "\\\"";
            break;
        case '\\':
            out += "\\\\";
            break;
        case '\b':
            out += "\\b";
            break;
        case '\f':
            out += "\\f";
            break;
        case '\n':
            out += "\\n";
            break;
        case '\r':
            out += "\\r";
            break;
        case '\t':
            out += "\\t";
            break;
        default:
            if (c < 0x20) {
                char esc[8];
                std::snprintf(esc, sizeof esc, "\\u%04x", c);
                out += esc;
            } else {
                out += static_cast<char>(c);
            }
        }
    }
    out += '"';
}

void stringify(std::string& out, const json::value& v) {
    switch (v.kind()) {
    case json::kind::null:
        out += "null";
        break;
    case json::kind::bool_:
        out += v.get_bool() ? "true" : "false";
        break;
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
        out += js_number(number_of(v));
        break;
    case json::kind::string:
        quote(out, v.get_string());
        break;
    case json::kind::array: {
        out += '[';
        bool first = true;
        for (const auto& e : v.get_array()) {
            if (!first) out += ',';
            first = false;
            stringify(out, e);
        }
        out += ']';
        break;
    }
    case json::kind::object: {
        out += '{';
        bool first = true;
        for (const auto& kv : v.get_object()) {
            if (!first) out += ',';
            first = false;
            quote(out, kv.key());
            out += ':';
            stringify(out, kv.value());
        }
        out += '}';
        break;
    }
    }
}

void to_js_string(std::string& out, const json::value& v) {
    switch (v.kind()) {
    case json::kind::string:
        out += v.get_string();
        break;
    case json::kind::object:
        out += "[object Object]";
        break;
    case json::kind::array: {
        bool first = true;
        for (const auto& e : v.get_array()) {
            if (!first) out += ',';
            first = false;
            if (!e.is_null()) to_js_string(out, e); // Array.prototype.join: null -> ""
        }
        break;
    }
    default:
        stringify(out, v);
    }
}

} // namespace

std::string js_stringify(const json::value* v) {
    if (!v) return "undefined";
    std::string out;
    stringify(out, *v);
    return out;
}

std::string js_string(const json::value* v) {
    if (!v) return "undefined";
    std::string out;
    to_js_string(out, *v);
    return out;
}

std::string_view type_to_string(const json::value* v) noexcept {
    if (!v) return "undefined";
    switch (v->kind()) {
    case json::kind::null:
        return "null";
    case json::kind::array:
        return "an array";
    case json::kind::object:
        return "an object";
    case json::kind::string:
        return "a string";
    case json::kind::bool_:
        return "a boolean";
    default:
        return "a number";
    }
}

bool is_array_index(std::string_view key) noexcept {
    if (key.empty() || key.size() > 10) return false;
    if (key.size() > 1 && key[0] == '0') return false;
    unsigned long long n = 0;
    for (char c : key) {
        if (c < '0' || c > '9') return false;
        n = n * 10 + static_cast<unsigned>(c - '0');
    }
    return n < 4294967295ULL;
}

std::string format_failure(const validation_failure& f) {
    // formatPath: "(...)" items join the previous one; ids are dropped.
    std::string path;
    for (auto it = f.path.rbegin(); it != f.path.rend(); ++it) {
        if (const auto* i = std::get_if<std::size_t>(&*it)) {
            path += "." + std::to_string(*i);
            continue;
        }
        const auto& item = std::get<std::string>(*it);
        if (!item.empty() && item[0] == '(') {
            if (!path.empty() && path.back() == ')') {
                path.pop_back();
                path += ", " + item.substr(1);
            } else {
                path += item;
            }
        } else {
            path += "." + item;
        }
    }
    // .replace(/id = [^,]+, /, '').replace(/id = [^)]+/, '')
    for (auto p = path.find("id = "); p != std::string::npos; p = path.find("id = ", p + 1)) {
        auto q = p + 5;
        auto comma = path.find(',', q);
        if (comma != std::string::npos && comma > q && comma + 1 < path.size() &&
            path[comma + 1] == ' ') {
            path.erase(p, comma + 2 - p);
            break;
        }
    }
    if (auto p = path.find("id = "); p != std::string::npos) {
        auto q = path.find(')', p + 5);
        if (q == std::string::npos) q = path.size();
        if (q > p + 5) path.erase(p, q - p);
    }
    if (!path.empty() && path[0] == '.') path.erase(0, 1);

    std::string raw;
    for (char c : f.raw) {
        raw += c;
        if (c == '\n') raw += "  ";
    }
    return path.empty() ? raw : "At " + path + ": " + raw;
}

bool is_valid_index_key(std::string_view key) noexcept {
    // validateOrderKey on JS strings: lengths count UTF-16 code units.
    if (key.empty()) return false;
    const char head = key[0];
    std::size_t int_len = 0;
    if (head >= 'a' && head <= 'z')
        int_len = static_cast<std::size_t>(head - 'a') + 2;
    else if (head >= 'A' && head <= 'Z')
        int_len = static_cast<std::size_t>('Z' - head) + 2;
    else
        return false;
    std::size_t units = 0;
    for (unsigned char c : key) {
        if ((c & 0xC0) != 0x80) ++units;
        if (c >= 0xF0) ++units; // astral: a surrogate pair
    }
    if (int_len > units) return false;
    if (key == "A00000000000000000000000000") return false; // the smallest integer
    if (units > int_len && key.back() == '0') return false;
    return true;
}

} // namespace tlsync::core::detail
