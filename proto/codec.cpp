// Parsing, validation shared by both directions, and client message decoding.

#include "proto/codec.hpp"
#include "proto/codec_detail.hpp"

#include <cmath>
#include <exception>

namespace tlsync::proto {

std::string_view to_string(decode_errc code) noexcept {
    switch (code) {
    case decode_errc::message_too_large: return "message_too_large";
    case decode_errc::too_deep: return "too_deep";
    case decode_errc::invalid_json: return "invalid_json";
    case decode_errc::not_an_object: return "not_an_object";
    case decode_errc::missing_field: return "missing_field";
    case decode_errc::wrong_type: return "wrong_type";
    case decode_errc::invalid_number: return "invalid_number";
    case decode_errc::invalid_value: return "invalid_value";
    case decode_errc::unknown_type: return "unknown_type";
    case decode_errc::too_many_records: return "too_many_records";
    case decode_errc::invalid_record: return "invalid_record";
    case decode_errc::invalid_op: return "invalid_op";
    }
    return "unknown";
}

std::string_view decode_error::close_reason() const noexcept {
    switch (code) {
    case decode_errc::invalid_record:
    case decode_errc::invalid_op: return close_reason::invalid_record;
    default: return close_reason::unknown_error;
    }
}

namespace detail {

namespace {

bool is_identifier(std::string_view k) noexcept {
    if (k.empty() || (k[0] >= '0' && k[0] <= '9')) return false;
    for (char ch : k)
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '$'))
            return false;
    return true;
}

bool wrong(checker& c, const char* expected, const json::value& got) {
    return c.fail(decode_errc::wrong_type, std::string("expected ") + expected + ", got " +
                                               kind_name(got));
}

} // namespace

bool checker::fail(decode_errc code, std::string_view what) {
    if (error_) return false;
    std::string detail(root_);
    for (const auto& s : path_) {
        if (!s.is_key) {
            detail += '[' + std::to_string(s.index) + ']';
        } else if (s.key.size() <= 80 && is_identifier(s.key)) {
            detail += '.';
            detail += s.key;
        } else {
            // Ids are user data: keep the detail bounded however long they are.
            detail += '[';
            append_json_string(detail, s.key.substr(0, 80));
            detail += ']';
        }
    }
    detail += ": ";
    detail += what;
    error_ = decode_error{code, std::move(detail)};
    return false;
}

decode_error checker::take_error() {
    if (!error_) return {decode_errc::invalid_json, "internal: no error recorded"};
    return std::move(*error_);
}

std::optional<std::int64_t> as_integer(const json::value& v) noexcept {
    switch (v.kind()) {
    case json::kind::int64: return v.get_int64();
    case json::kind::uint64:
        if (v.get_uint64() > static_cast<std::uint64_t>(INT64_MAX)) return std::nullopt;
        return static_cast<std::int64_t>(v.get_uint64());
    case json::kind::double_: {
        const double d = v.get_double();
        // 2^63 is exactly representable; anything at or above it overflows.
        if (!std::isfinite(d) || std::trunc(d) != d || d < -9223372036854775808.0 ||
            d >= 9223372036854775808.0)
            return std::nullopt;
        return static_cast<std::int64_t>(d);
    }
    default: return std::nullopt;
    }
}

bool require_string(checker& c, const json::object& o, std::string_view name, std::string& out) {
    auto s = c.key(name);
    const auto* v = o.if_contains(name);
    if (!v) return c.fail(decode_errc::missing_field, "required field is missing");
    if (!v->is_string()) return wrong(c, "a string", *v);
    out.assign(v->get_string().data(), v->get_string().size());
    return true;
}

static bool int_field(checker& c, const json::value& v, std::int64_t& out) {
    if (!is_number(v)) return wrong(c, "an integer", v);
    auto i = as_integer(v);
    if (!i) return c.fail(decode_errc::invalid_number, "expected an integer in int64 range");
    out = *i;
    return true;
}

bool require_int(checker& c, const json::object& o, std::string_view name, std::int64_t& out) {
    auto s = c.key(name);
    const auto* v = o.if_contains(name);
    if (!v) return c.fail(decode_errc::missing_field, "required field is missing");
    return int_field(c, *v, out);
}

bool optional_int(checker& c, const json::object& o, std::string_view name,
                  std::optional<std::int64_t>& out) {
    auto s = c.key(name);
    const auto* v = o.if_contains(name);
    if (!v || v->is_null()) return true;
    std::int64_t i = 0;
    if (!int_field(c, *v, i)) return false;
    out = i;
    return true;
}

bool require_bool(checker& c, const json::object& o, std::string_view name, bool& out) {
    auto s = c.key(name);
    const auto* v = o.if_contains(name);
    if (!v) return c.fail(decode_errc::missing_field, "required field is missing");
    if (!v->is_bool()) return wrong(c, "a boolean", *v);
    out = v->get_bool();
    return true;
}

bool require_type(checker& c, const json::value& message, std::string_view& type) {
    if (!message.is_object())
        return c.fail(decode_errc::not_an_object,
                      std::string("message must be a JSON object, got ") + kind_name(message));
    auto s = c.key("type");
    const auto* v = message.get_object().if_contains("type");
    if (!v) return c.fail(decode_errc::missing_field, "required field is missing");
    if (!v->is_string()) return wrong(c, "a string", *v);
    type = v->get_string();
    return true;
}

namespace {

bool check_value_op(checker& c, json::value& v);

bool arity(checker& c, const json::array& a, std::size_t n, std::string_view shape) {
    if (a.size() == n) return true;
    return c.fail(decode_errc::invalid_op, "expected " + std::string(shape) + ", got " +
                                               std::to_string(a.size()) + " elements");
}

bool check_value_op(checker& c, json::value& v) {
    if (!v.is_array()) return c.fail(decode_errc::invalid_op, "value op must be an array");
    auto& a = v.get_array();
    if (a.empty() || !a[0].is_string())
        return c.fail(decode_errc::invalid_op, "value op must start with its type string");
    const std::string_view type = a[0].get_string();
    if (type == "put") return arity(c, a, 2, R"(["put", value])");
    if (type == "delete") return arity(c, a, 1, R"(["delete"])");
    if (type == "patch") {
        if (!arity(c, a, 2, R"(["patch", ObjectDiff])")) return false;
        auto s = c.index(1);
        if (!a[1].is_object()) return c.fail(decode_errc::invalid_op, "patch needs an object diff");
        return check_object_diff(c, a[1].get_object());
    }
    if (type == "append") {
        if (!arity(c, a, 3, R"(["append", string|array, offset])")) return false;
        {
            auto s = c.index(1);
            if (!a[1].is_string() && !a[1].is_array())
                return c.fail(decode_errc::invalid_op, "append value must be a string or array");
        }
        auto s = c.index(2);
        auto offset = as_integer(a[2]);
        if (!offset || *offset < 0)
            return c.fail(decode_errc::invalid_op, "append offset must be a non-negative integer");
        a[2] = *offset; // core reads it with get_int64()
        return true;
    }
    return c.fail(decode_errc::invalid_op, "unknown value op type");
}

} // namespace

bool check_object_diff(checker& c, json::object& diff) {
    if (++c.depth > c.limits().max_depth)
        return c.fail(decode_errc::too_deep, "object diff nested too deeply");
    for (auto& [k, v] : diff) {
        auto s = c.key(k);
        if (!check_value_op(c, v)) return false;
    }
    --c.depth;
    return true;
}

bool take_record_op(checker& c, json::value& v, bool allow_remove, record_op& out) {
    if (!v.is_array()) return c.fail(decode_errc::invalid_op, "record op must be an array");
    auto& a = v.get_array();
    if (a.empty() || !a[0].is_string())
        return c.fail(decode_errc::invalid_op, "record op must start with its type string");
    const std::string_view type = a[0].get_string();
    if (type == "put") {
        if (!arity(c, a, 2, R"(["put", record])")) return false;
        auto s = c.index(1);
        if (!a[1].is_object()) return c.fail(decode_errc::invalid_record, "record must be an object");
        out = record_op::put(std::move(a[1].get_object()));
        return true;
    }
    if (type == "patch") {
        if (!arity(c, a, 2, R"(["patch", ObjectDiff])")) return false;
        auto s = c.index(1);
        if (!a[1].is_object()) return c.fail(decode_errc::invalid_op, "patch needs an object diff");
        if (!check_object_diff(c, a[1].get_object())) return false;
        out = record_op::patch(std::move(a[1].get_object()));
        return true;
    }
    if (type == "remove" && allow_remove) {
        if (!arity(c, a, 1, R"(["remove"])")) return false;
        out = record_op::remove();
        return true;
    }
    return c.fail(decode_errc::invalid_op,
                  allow_remove ? "unknown record op type" : "presence op must be put or patch");
}

bool take_network_diff(checker& c, json::value& v, network_diff& out) {
    if (!v.is_object()) return wrong(c, "an object (NetworkDiff)", v);
    auto& o = v.get_object();
    if (o.size() > c.limits().max_records_per_diff)
        return c.fail(decode_errc::too_many_records,
                      std::to_string(o.size()) + " records exceed the limit of " +
                          std::to_string(c.limits().max_records_per_diff));
    out.reserve(o.size());
    for (auto& [id, op_value] : o) {
        auto s = c.key(id);
        record_op op;
        if (!take_record_op(c, op_value, true, op)) return false;
        // Keys of a parsed object are unique, so append without the lookup.
        out.append_unique(std::string(id), std::move(op));
    }
    return true;
}

} // namespace detail

namespace {

using detail::checker;

bool decode_connect(checker& c, json::object& o, connect_request& m) {
    if (!detail::require_string(c, o, "connectRequestId", m.connect_request_id)) return false;
    if (!detail::require_int(c, o, "lastServerClock", m.last_server_clock)) return false;
    if (!detail::optional_int(c, o, "protocolVersion", m.protocol_version)) return false;
    auto s = c.key("schema");
    auto* schema = o.if_contains("schema");
    if (schema && !schema->is_null()) {
        if (!schema->is_object())
            return c.fail(decode_errc::wrong_type, "schema must be an object");
        m.schema = std::move(schema->get_object());
    }
    return true;
}

bool decode_push(checker& c, json::object& o, push_request& m) {
    if (!detail::require_int(c, o, "clientClock", m.client_clock)) return false;
    if (auto* diff = o.if_contains("diff"); diff && !diff->is_null()) {
        auto s = c.key("diff");
        network_diff d;
        if (!detail::take_network_diff(c, *diff, d)) return false;
        m.diff = std::move(d);
    }
    if (auto* presence = o.if_contains("presence"); presence && !presence->is_null()) {
        auto s = c.key("presence");
        record_op op;
        if (!detail::take_record_op(c, *presence, false, op)) return false;
        m.presence = std::move(op);
    }
    return true;
}

decode_result<client_message> decode_owned(json::value& v, const decode_limits& limits) {
    checker c(limits, "message");
    std::string_view type;
    if (!detail::require_type(c, v, type)) return c.take_error();
    auto& o = v.get_object();
    if (type == "connect") {
        checker cc(limits, "connect");
        connect_request m;
        if (!decode_connect(cc, o, m)) return cc.take_error();
        return client_message{std::move(m)};
    }
    if (type == "push") {
        checker pc(limits, "push");
        push_request m;
        if (!decode_push(pc, o, m)) return pc.take_error();
        return client_message{std::move(m)};
    }
    if (type == "ping") return client_message{ping_request{}};
    std::string detail = "message.type: unknown client message type ";
    append_json_string(detail, type.substr(0, 40));
    return decode_error{decode_errc::unknown_type, std::move(detail)};
}

template <class F>
auto guarded(F&& f) -> decltype(f()) {
    // Validation itself never throws; this only turns allocation failure on a
    // hostile message into an error rather than a dead process.
    try {
        return f();
    } catch (const std::exception& e) {
        return decode_error{decode_errc::message_too_large, std::string("decode failed: ") + e.what()};
    }
}

} // namespace

decode_result<client_message> decode_client_message(std::string_view text,
                                                    const decode_limits& limits) {
    auto parsed = parse_json(text, limits);
    if (!parsed) return parsed.error();
    return guarded([&] { return decode_owned(parsed.value(), limits); });
}

decode_result<client_message> decode_client_message(const json::value& message,
                                                    const decode_limits& limits) {
    return guarded([&] {
        json::value copy = message;
        return decode_owned(copy, limits);
    });
}

decode_result<client_message> decode_client_message(json::value&& message,
                                                    const decode_limits& limits) {
    return guarded([&] { return decode_owned(message, limits); });
}

} // namespace tlsync::proto
