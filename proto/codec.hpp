#pragma once
// JSON text <-> proto message types. Decoding is strict and total: any input,
// however hostile, yields either a message or a decode_error; nothing throws
// out of these functions (except std::bad_alloc from encoding).
//
// Decoded messages may be relied upon by core/:
//  * record ops are put(object) | patch(valid ObjectDiff) | remove;
//  * every ObjectDiff is validated recursively, and the offset of an "append"
//    op is normalised to an int64 (`3.0` on the wire becomes `3`);
//  * clocks are integral; presence is put or patch.
// Records themselves (id, typeName, props) are not checked here: that is the
// schema's job in the room.

#include "proto/json.hpp"
#include "proto/limits.hpp"
#include "proto/messages.hpp"

#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tlsync::proto {

// ---------------------------------------------------------------- errors

enum class decode_errc {
    message_too_large, // over decode_limits::max_message_bytes
    too_deep,          // nesting over decode_limits::max_depth
    invalid_json,      // not JSON at all
    not_an_object,     // a message (or data event) that is not a JSON object
    missing_field,     // a required field is absent
    wrong_type,        // a field has the wrong JSON type
    invalid_number,    // non-integral or out-of-range where an integer is needed
    invalid_value,     // a string outside its enumeration (e.g. hydrationType)
    unknown_type,      // `type` names no message we know
    too_many_records,  // over decode_limits::max_records_per_diff
    invalid_record,    // a put (or presence put) whose record is not an object
    invalid_op,        // a malformed RecordOp or ValueOp
};

[[nodiscard]] std::string_view to_string(decode_errc code) noexcept;

struct decode_error {
    decode_errc code = decode_errc::invalid_json;
    std::string detail; // human-readable, names the field path, e.g. `push.diff["shape:a"][0]`

    // The reason the room closes the session with (PV2): malformed record data
    // is INVALID_RECORD, as upstream's schema validation reports it; anything
    // else about the message's shape is UNKNOWN_ERROR.
    [[nodiscard]] std::string_view close_reason() const noexcept;
};

// A message or the reason there is none. Deliberately small: callers branch on
// it once and then move the value out.
template <class T>
class decode_result {
public:
    decode_result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    decode_result(decode_error error) : v_(std::in_place_index<1>, std::move(error)) {}

    [[nodiscard]] bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    [[nodiscard]] T& value() & { return std::get<0>(v_); }
    [[nodiscard]] const T& value() const& { return std::get<0>(v_); }
    [[nodiscard]] T&& value() && { return std::get<0>(std::move(v_)); }
    [[nodiscard]] T* operator->() { return &std::get<0>(v_); }
    [[nodiscard]] const T* operator->() const { return &std::get<0>(v_); }
    [[nodiscard]] const decode_error& error() const { return std::get<1>(v_); }

private:
    std::variant<T, decode_error> v_;
};

// ---------------------------------------------------------------- parsing

// Parses JSON text under `limits` (size first, then depth, without recursion).
[[nodiscard]] decode_result<json::value> parse_json(std::string_view text,
                                                    const decode_limits& limits = {});

// ---------------------------------------------------------------- client -> server

[[nodiscard]] decode_result<client_message> decode_client_message(std::string_view text,
                                                                  const decode_limits& limits = {});
// For a value already parsed (e.g. by chunk_assembler). The rvalue overload
// moves records out instead of copying them.
[[nodiscard]] decode_result<client_message> decode_client_message(const json::value& message,
                                                                  const decode_limits& limits = {});
[[nodiscard]] decode_result<client_message> decode_client_message(json::value&& message,
                                                                  const decode_limits& limits = {});
// Without these, a string literal would be as good a json::value as text.
[[nodiscard]] inline decode_result<client_message>
decode_client_message(const char* text, const decode_limits& limits = {}) {
    return decode_client_message(std::string_view(text), limits);
}
[[nodiscard]] inline decode_result<client_message>
decode_client_message(const std::string& text, const decode_limits& limits = {}) {
    return decode_client_message(std::string_view(text), limits);
}

[[nodiscard]] std::string encode(const connect_request& m);
[[nodiscard]] std::string encode(const push_request& m);
[[nodiscard]] std::string encode(const ping_request& m);
[[nodiscard]] std::string encode(const client_message& m);

// ---------------------------------------------------------------- server -> client

[[nodiscard]] std::string encode(const connect_event& m);
[[nodiscard]] std::string encode(const patch_event& m);
// The same text as encode(patch_event{diff, server_clock}), without copying the diff.
[[nodiscard]] std::string encode_patch(const network_diff& diff, std::int64_t server_clock);
[[nodiscard]] std::string encode(const push_result_event& m);
[[nodiscard]] std::string encode(const data_message& m);
[[nodiscard]] std::string encode(const pong_event& m);
[[nodiscard]] std::string encode(const custom_event& m);
[[nodiscard]] std::string encode(const incompatibility_error_event& m);
[[nodiscard]] std::string encode(const data_event& m);
[[nodiscard]] std::string encode(const server_message& m);

// `{"type":"data","data":[e1,e2,...]}` from events already encoded with
// encode(patch_event) / encode(push_result_event). A broadcast patch is thus
// serialised once and the text shared by every session's batch.
[[nodiscard]] std::string encode_data(std::span<const std::string> encoded_events);
[[nodiscard]] std::string encode_data(std::span<const std::string_view> encoded_events);

[[nodiscard]] decode_result<server_message> decode_server_message(std::string_view text,
                                                                  const decode_limits& limits = {});
[[nodiscard]] decode_result<server_message> decode_server_message(json::value&& message,
                                                                  const decode_limits& limits = {});
[[nodiscard]] inline decode_result<server_message>
decode_server_message(const char* text, const decode_limits& limits = {}) {
    return decode_server_message(std::string_view(text), limits);
}
[[nodiscard]] inline decode_result<server_message>
decode_server_message(const std::string& text, const decode_limits& limits = {}) {
    return decode_server_message(std::string_view(text), limits);
}

// ---------------------------------------------------------------- building blocks

// JSON text as JavaScript's JSON.stringify writes it: no whitespace, numbers
// in JavaScript's shortest form (`3.14`, `1e+21`), non-finite numbers as null,
// only `"`, `\` and control characters escaped. Invalid UTF-8 (which cannot
// come from parsed input) is written as U+FFFD so the text frame stays valid.
void append_json(std::string& out, const json::value& v);
void append_json(std::string& out, const json::object& v);
void append_json(std::string& out, const json::array& v);
void append_json_string(std::string& out, std::string_view s);
// A NetworkDiff as `{"id":["put",{...}],"id2":["patch",{...}],"id3":["remove"]}`.
void append_network_diff(std::string& out, const network_diff& diff);
[[nodiscard]] std::string encode_json(const json::value& v);

} // namespace tlsync::proto
