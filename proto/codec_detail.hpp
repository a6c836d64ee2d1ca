#pragma once
// Internals shared by the client and server decoders. Not part of the API.

#include "proto/codec.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tlsync::proto::detail {

// Walks a message keeping the path to the current field. The path is a stack
// of views into the message (keys stay alive while we look at them), and is
// only rendered to text when something fails, so valid input pays nothing.
class checker {
public:
    checker(const decode_limits& limits, std::string_view root) : limits_(limits), root_(root) {}

    class scope {
    public:
        explicit scope(checker& c) : c_(c) {}
        scope(const scope&) = delete;
        scope& operator=(const scope&) = delete;
        ~scope() { c_.path_.pop_back(); }

    private:
        checker& c_;
    };

    [[nodiscard]] scope key(std::string_view k) {
        path_.push_back({k, 0, true});
        return scope(*this);
    }
    [[nodiscard]] scope index(std::size_t i) {
        path_.push_back({{}, i, false});
        return scope(*this);
    }

    // Records the first error; always returns false so callers can
    // `return c.fail(...)`.
    bool fail(decode_errc code, std::string_view what);
    [[nodiscard]] decode_error take_error();
    [[nodiscard]] const decode_limits& limits() const noexcept { return limits_; }

    // Guards recursion when the input did not come through parse_json.
    std::size_t depth = 0;

private:
    struct segment {
        std::string_view key;
        std::size_t index;
        bool is_key;
    };
    const decode_limits& limits_;
    std::string_view root_;
    std::vector<segment> path_;
    std::optional<decode_error> error_;
};

// Field accessors on a message object: each reports missing/wrong type with
// the field's path. `optional_*` treat null like absence, as upstream does
// (`message.schema == null`, `if (message.diff)`).
bool require_string(checker& c, const json::object& o, std::string_view name, std::string& out);
bool require_int(checker& c, const json::object& o, std::string_view name, std::int64_t& out);
bool optional_int(checker& c, const json::object& o, std::string_view name,
                  std::optional<std::int64_t>& out);
bool require_bool(checker& c, const json::object& o, std::string_view name, bool& out);

// An integral JSON number that fits int64 (JavaScript sends 5 or 5.0 alike).
[[nodiscard]] std::optional<std::int64_t> as_integer(const json::value& v) noexcept;

// Validates an ObjectDiff in place (normalising append offsets).
bool check_object_diff(checker& c, json::object& diff);

// NetworkDiff: validates `v` and moves its records out into `out`.
bool take_network_diff(checker& c, json::value& v, network_diff& out);

// RecordOp; `allow_remove` is false for presence.
bool take_record_op(checker& c, json::value& v, bool allow_remove, record_op& out);

// The `type` field of a message object.
bool require_type(checker& c, const json::value& message, std::string_view& type);

} // namespace tlsync::proto::detail
