// JSON writing and message encoding. Messages are written straight into one
// string (no intermediate json::value), in the field order tldraw uses.

#include "proto/codec.hpp"

#include <charconv>
#include <cmath>
#include <cstring>

namespace tlsync::proto {

namespace {

// Number.prototype.toString: shortest round-trip digits, fixed notation for
// decimal exponents in [-7, 21), exponential otherwise. Clients parse either
// form, but matching JavaScript keeps output identical to a Node server's.
void append_double(std::string& out, double d) {
    if (!std::isfinite(d)) {
        out += "null";
        return;
    }
    if (d == 0) { // also -0, which JSON.stringify writes as 0
        out += '0';
        return;
    }
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    (void)ec; // 32 bytes always suffice for a double
    std::string_view sci(buf, static_cast<std::size_t>(end - buf));
    if (sci.front() == '-') {
        out += '-';
        sci.remove_prefix(1);
    }
    const auto e_pos = sci.find('e');
    std::string digits;
    for (char ch : sci.substr(0, e_pos))
        if (ch != '.') digits += ch;
    int exp10 = 0;
    std::from_chars(sci.data() + e_pos + 1 + (sci[e_pos + 1] == '+'), sci.data() + sci.size(),
                    exp10);
    const int k = static_cast<int>(digits.size());
    const int n = exp10 + 1; // position of the decimal point relative to the digits
    if (k <= n && n <= 21) {
        out += digits;
        out.append(static_cast<std::size_t>(n - k), '0');
    } else if (0 < n && n <= 21) {
        out.append(digits, 0, static_cast<std::size_t>(n));
        out += '.';
        out.append(digits, static_cast<std::size_t>(n));
    } else if (-6 < n && n <= 0) {
        out += "0.";
        out.append(static_cast<std::size_t>(-n), '0');
        out += digits;
    } else {
        out += digits[0];
        if (k > 1) {
            out += '.';
            out.append(digits, 1);
        }
        out += 'e';
        out += n - 1 >= 0 ? '+' : '-';
        out += std::to_string(std::abs(n - 1));
    }
}

template <class Int>
void append_int(std::string& out, Int i) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, i);
    (void)ec;
    out.append(buf, end);
}

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not one.
std::size_t utf8_sequence(std::string_view s, std::size_t i) noexcept {
    const auto b = [&](std::size_t j) { return static_cast<unsigned char>(s[j]); };
    const auto cont = [&](std::size_t j) { return j < s.size() && (b(j) & 0xC0) == 0x80; };
    const unsigned char c = b(i);
    if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (!cont(i + 1) || !cont(i + 2)) return 0;
        if (c == 0xE0 && b(i + 1) < 0xA0) return 0; // overlong
        if (c == 0xED && b(i + 1) >= 0xA0) return 0; // surrogate
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
        if (c == 0xF0 && b(i + 1) < 0x90) return 0;
        if (c == 0xF4 && b(i + 1) >= 0x90) return 0;
        return 4;
    }
    return 0;
}

void append_record_op(std::string& out, const record_op& op) {
    switch (op.type) {
    case record_op_type::put:
        out += R"(["put",)";
        append_json(out, op.value);
        out += ']';
        break;
    case record_op_type::patch:
        out += R"(["patch",)";
        append_json(out, op.value);
        out += ']';
        break;
    case record_op_type::remove: out += R"(["remove"])"; break;
    }
}

std::string_view hydration_name(hydration_type h) noexcept {
    return h == hydration_type::wipe_all ? "wipe_all" : "wipe_presence";
}

template <class Strings>
std::string join_data(const Strings& events) {
    std::size_t size = 26 + events.size();
    for (const auto& e : events) size += e.size();
    std::string out;
    out.reserve(size);
    out += R"({"type":"data","data":[)";
    bool first = true;
    for (const auto& e : events) {
        if (!first) out += ',';
        first = false;
        out += e;
    }
    out += "]}";
    return out;
}

} // namespace

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    std::size_t run = 0; // start of the pending run of bytes copied verbatim
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            ++i;
            continue;
        }
        if (c >= 0x80) {
            if (auto n = utf8_sequence(s, i)) {
                i += n;
                continue;
            }
        }
        out.append(s.data() + run, i - run);
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\b': out += "\\b"; break;
        case '\f': out += "\\f"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (c < 0x20) {
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 0xF];
            } else {
                out += "\xEF\xBF\xBD"; // U+FFFD for a byte that is not UTF-8
            }
        }
        run = ++i;
    }
    out.append(s.data() + run, s.size() - run);
    out += '"';
}

void append_json(std::string& out, const json::object& o) {
    out += '{';
    bool first = true;
    for (const auto& [k, v] : o) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, k);
        out += ':';
        append_json(out, v);
    }
    out += '}';
}

void append_json(std::string& out, const json::value& v) {
    switch (v.kind()) {
    case json::kind::null: out += "null"; break;
    case json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case json::kind::int64: append_int(out, v.get_int64()); break;
    case json::kind::uint64: append_int(out, v.get_uint64()); break;
    case json::kind::double_: append_double(out, v.get_double()); break;
    case json::kind::string: append_json_string(out, v.get_string()); break;
    case json::kind::array: append_json(out, v.get_array()); break;
    case json::kind::object: append_json(out, v.get_object()); break;
    }
}

void append_json(std::string& out, const json::array& a) {
    out += '[';
    bool first = true;
    for (const auto& e : a) {
        if (!first) out += ',';
        first = false;
        append_json(out, e);
    }
    out += ']';
}

std::string encode_json(const json::value& v) {
    std::string out;
    append_json(out, v);
    return out;
}

void append_network_diff(std::string& out, const network_diff& diff) {
    out += '{';
    bool first = true;
    for (const auto& [id, op] : diff) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, id);
        out += ':';
        append_record_op(out, op);
    }
    out += '}';
}

// ---------------------------------------------------------------- client -> server

std::string encode(const connect_request& m) {
    std::string out = R"({"type":"connect","connectRequestId":)";
    append_json_string(out, m.connect_request_id);
    out += R"(,"lastServerClock":)";
    append_int(out, m.last_server_clock);
    if (m.protocol_version) {
        out += R"(,"protocolVersion":)";
        append_int(out, *m.protocol_version);
    }
    if (m.schema) {
        out += R"(,"schema":)";
        append_json(out, *m.schema);
    }
    out += '}';
    return out;
}

std::string encode(const push_request& m) {
    std::string out = R"({"type":"push","clientClock":)";
    append_int(out, m.client_clock);
    if (m.diff) {
        out += R"(,"diff":)";
        append_network_diff(out, *m.diff);
    }
    if (m.presence) {
        out += R"(,"presence":)";
        append_record_op(out, *m.presence);
    }
    out += '}';
    return out;
}

std::string encode(const ping_request&) { return R"({"type":"ping"})"; }

std::string encode(const client_message& m) {
    return std::visit([](const auto& x) { return encode(x); }, m);
}

// ---------------------------------------------------------------- server -> client

std::string encode(const connect_event& m) {
    std::string out = R"({"type":"connect","connectRequestId":)";
    append_json_string(out, m.connect_request_id);
    out += R"(,"hydrationType":")";
    out += hydration_name(m.hydration);
    out += R"(","protocolVersion":)";
    append_int(out, m.protocol_version);
    out += R"(,"schema":)";
    append_json(out, m.schema);
    out += R"(,"serverClock":)";
    append_int(out, m.server_clock);
    out += R"(,"diff":)";
    append_network_diff(out, m.diff);
    out += R"(,"isReadonly":)";
    out += m.is_readonly ? "true" : "false";
    out += '}';
    return out;
}

std::string encode_patch(const network_diff& diff, std::int64_t server_clock) {
    std::string out = R"({"type":"patch","diff":)";
    append_network_diff(out, diff);
    out += R"(,"serverClock":)";
    append_int(out, server_clock);
    out += '}';
    return out;
}

std::string encode(const patch_event& m) { return encode_patch(m.diff, m.server_clock); }

std::string encode(const push_result_event& m) {
    std::string out = R"({"type":"push_result","clientClock":)";
    append_int(out, m.client_clock);
    out += R"(,"serverClock":)";
    append_int(out, m.server_clock);
    out += R"(,"action":)";
    switch (m.action) {
    case push_action::commit: out += R"("commit")"; break;
    case push_action::discard: out += R"("discard")"; break;
    case push_action::rebase_with_diff:
        out += R"({"rebaseWithDiff":)";
        append_network_diff(out, m.rebase_diff);
        out += '}';
        break;
    }
    out += '}';
    return out;
}

std::string encode(const data_event& m) {
    return std::visit([](const auto& x) { return encode(x); }, m);
}

std::string encode(const data_message& m) {
    std::vector<std::string> events;
    events.reserve(m.data.size());
    for (const auto& e : m.data) events.push_back(encode(e));
    return encode_data(events);
}

std::string encode(const pong_event&) { return R"({"type":"pong"})"; }

std::string encode(const custom_event& m) {
    std::string out = R"({"type":"custom","data":)";
    append_json(out, m.data);
    out += '}';
    return out;
}

std::string encode(const incompatibility_error_event& m) {
    std::string out = R"({"type":"incompatibility_error","reason":")";
    out += to_string(m.reason);
    out += "\"}";
    return out;
}

std::string encode(const server_message& m) {
    return std::visit([](const auto& x) { return encode(x); }, m);
}

std::string encode_data(std::span<const std::string> encoded_events) {
    return join_data(encoded_events);
}

std::string encode_data(std::span<const std::string_view> encoded_events) {
    return join_data(encoded_events);
}

} // namespace tlsync::proto
