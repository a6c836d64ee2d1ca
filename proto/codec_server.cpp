// Decoding server messages: used by tests and the load tester, which play the
// client. Same strictness as the client decoder.

#include "proto/codec.hpp"
#include "proto/codec_detail.hpp"

#include <exception>

namespace tlsync::proto {

namespace {

using detail::checker;

bool take_diff_field(checker& c, json::object& o, std::string_view name, network_diff& out) {
    auto s = c.key(name);
    auto* v = o.if_contains(name);
    if (!v) return c.fail(decode_errc::missing_field, "required field is missing");
    return detail::take_network_diff(c, *v, out);
}

bool decode_connect(checker& c, json::object& o, connect_event& m) {
    if (!detail::require_string(c, o, "connectRequestId", m.connect_request_id)) return false;
    {
        std::string hydration;
        if (!detail::require_string(c, o, "hydrationType", hydration)) return false;
        if (hydration == "wipe_all") {
            m.hydration = hydration_type::wipe_all;
        } else if (hydration == "wipe_presence") {
            m.hydration = hydration_type::wipe_presence;
        } else {
            auto s = c.key("hydrationType");
            return c.fail(decode_errc::invalid_value, R"(expected "wipe_all" or "wipe_presence")");
        }
    }
    std::int64_t version = 0;
    if (!detail::require_int(c, o, "protocolVersion", version)) return false;
    if (version < INT32_MIN || version > INT32_MAX) {
        auto s = c.key("protocolVersion");
        return c.fail(decode_errc::invalid_number, "protocol version out of range");
    }
    m.protocol_version = static_cast<int>(version);
    {
        auto s = c.key("schema");
        auto* schema = o.if_contains("schema");
        if (!schema) return c.fail(decode_errc::missing_field, "required field is missing");
        if (!schema->is_object()) return c.fail(decode_errc::wrong_type, "expected an object");
        m.schema = std::move(schema->get_object());
    }
    if (!detail::require_int(c, o, "serverClock", m.server_clock)) return false;
    if (!take_diff_field(c, o, "diff", m.diff)) return false;
    // Servers before isReadonly existed did not send it.
    if (o.contains("isReadonly") && !detail::require_bool(c, o, "isReadonly", m.is_readonly))
        return false;
    return true;
}

bool decode_patch(checker& c, json::object& o, patch_event& m) {
    return take_diff_field(c, o, "diff", m.diff) &&
           detail::require_int(c, o, "serverClock", m.server_clock);
}

bool decode_push_result(checker& c, json::object& o, push_result_event& m) {
    if (!detail::require_int(c, o, "clientClock", m.client_clock)) return false;
    if (!detail::require_int(c, o, "serverClock", m.server_clock)) return false;
    auto s = c.key("action");
    auto* action = o.if_contains("action");
    if (!action) return c.fail(decode_errc::missing_field, "required field is missing");
    if (action->is_string()) {
        if (action->get_string() == "commit") {
            m.action = push_action::commit;
            return true;
        }
        if (action->get_string() == "discard") {
            m.action = push_action::discard;
            return true;
        }
        return c.fail(decode_errc::invalid_value, R"(expected "commit" or "discard")");
    }
    if (!action->is_object())
        return c.fail(decode_errc::wrong_type, R"(expected a string or {"rebaseWithDiff": ...})");
    m.action = push_action::rebase_with_diff;
    return take_diff_field(c, action->get_object(), "rebaseWithDiff", m.rebase_diff);
}

// A patch or push_result, bare or inside `data`.
bool decode_data_event(checker& c, json::value& v, data_event& out) {
    std::string_view type;
    if (!detail::require_type(c, v, type)) return false;
    auto& o = v.get_object();
    if (type == "patch") {
        patch_event m;
        if (!decode_patch(c, o, m)) return false;
        out = std::move(m);
        return true;
    }
    if (type == "push_result") {
        push_result_event m;
        if (!decode_push_result(c, o, m)) return false;
        out = std::move(m);
        return true;
    }
    auto s = c.key("type");
    return c.fail(decode_errc::unknown_type, R"(expected "patch" or "push_result")");
}

bool decode_data(checker& c, json::object& o, data_message& m) {
    auto s = c.key("data");
    auto* data = o.if_contains("data");
    if (!data) return c.fail(decode_errc::missing_field, "required field is missing");
    if (!data->is_array()) return c.fail(decode_errc::wrong_type, "expected an array");
    auto& events = data->get_array();
    m.data.reserve(events.size());
    for (std::size_t i = 0; i < events.size(); ++i) {
        auto si = c.index(i);
        data_event e;
        if (!decode_data_event(c, events[i], e)) return false;
        m.data.push_back(std::move(e));
    }
    return true;
}

bool decode_incompatibility(checker& c, json::object& o, incompatibility_error_event& m) {
    std::string reason;
    if (!detail::require_string(c, o, "reason", reason)) return false;
    for (auto r : {incompatibility_reason::client_too_old, incompatibility_reason::server_too_old,
                   incompatibility_reason::invalid_record,
                   incompatibility_reason::invalid_operation}) {
        if (to_string(r) == reason) {
            m.reason = r;
            return true;
        }
    }
    auto s = c.key("reason");
    return c.fail(decode_errc::invalid_value, "unknown incompatibility reason");
}

decode_result<server_message> decode_owned(json::value& v, const decode_limits& limits) {
    checker c(limits, "message");
    std::string_view type;
    if (!detail::require_type(c, v, type)) return c.take_error();
    auto& o = v.get_object();
    const std::string root(type.substr(0, 40));
    checker tc(limits, root);
    const auto finish = [&](bool ok, auto&& m) -> decode_result<server_message> {
        if (!ok) return tc.take_error();
        return server_message{std::move(m)};
    };
    if (type == "connect") {
        connect_event m;
        return finish(decode_connect(tc, o, m), m);
    }
    if (type == "data") {
        data_message m;
        return finish(decode_data(tc, o, m), m);
    }
    if (type == "patch") {
        patch_event m;
        return finish(decode_patch(tc, o, m), m);
    }
    if (type == "push_result") {
        push_result_event m;
        return finish(decode_push_result(tc, o, m), m);
    }
    if (type == "pong") return server_message{pong_event{}};
    if (type == "custom") {
        // `data: undefined` is dropped by JSON.stringify, so absence means null.
        custom_event m;
        if (auto* data = o.if_contains("data")) m.data = std::move(*data);
        return server_message{std::move(m)};
    }
    if (type == "incompatibility_error") {
        incompatibility_error_event m;
        return finish(decode_incompatibility(tc, o, m), m);
    }
    std::string detail = "message.type: unknown server message type ";
    append_json_string(detail, root);
    return decode_error{decode_errc::unknown_type, std::move(detail)};
}

} // namespace

decode_result<server_message> decode_server_message(json::value&& message,
                                                    const decode_limits& limits) {
    try {
        return decode_owned(message, limits);
    } catch (const std::exception& e) {
        return decode_error{decode_errc::message_too_large, std::string("decode failed: ") + e.what()};
    }
}

decode_result<server_message> decode_server_message(std::string_view text,
                                                    const decode_limits& limits) {
    auto parsed = parse_json(text, limits);
    if (!parsed) return parsed.error();
    return decode_server_message(std::move(parsed).value(), limits);
}

} // namespace tlsync::proto
