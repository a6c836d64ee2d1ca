#pragma once
// The tldraw sync protocol (version 8) as C++ types. Field names follow the
// wire (camelCase on the wire, snake_case here); proto/codec.hpp maps between
// the two. Record states and object diffs stay Boost.JSON objects: they are
// opaque user data that the room diffs, patches and forwards.

#include "proto/json.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace tlsync::proto {

// ---------------------------------------------------------------- constants

inline constexpr int protocol_version = 8;          // PV1
inline constexpr int min_protocol_version = 5;      // HS2: 5..8 accepted
inline constexpr int legacy_rejection_max_version = 6; // SES4: <= 6 get incompatibility_error
inline constexpr int string_append_min_version = 8; // HS2: < 8 cannot receive "append" on strings
inline constexpr std::uint16_t sync_error_close_code = 4099; // PV2

// TLSyncErrorCloseEventReason: the close reason of a 4099 close.
namespace close_reason {
inline constexpr std::string_view not_found = "NOT_FOUND";
inline constexpr std::string_view forbidden = "FORBIDDEN";
inline constexpr std::string_view not_authenticated = "NOT_AUTHENTICATED";
inline constexpr std::string_view unknown_error = "UNKNOWN_ERROR";
inline constexpr std::string_view client_too_old = "CLIENT_TOO_OLD";
inline constexpr std::string_view server_too_old = "SERVER_TOO_OLD";
inline constexpr std::string_view invalid_record = "INVALID_RECORD";
inline constexpr std::string_view rate_limited = "RATE_LIMITED";
inline constexpr std::string_view room_full = "ROOM_FULL";
} // namespace close_reason

// Legacy (protocol <= 6) rejection reasons, sent as `incompatibility_error`.
enum class incompatibility_reason { client_too_old, server_too_old, invalid_record, invalid_operation };
[[nodiscard]] std::string_view to_string(incompatibility_reason r) noexcept;
// SES4 mapping from a close reason to the legacy reason.
[[nodiscard]] incompatibility_reason legacy_reason_for(std::string_view close_reason) noexcept;

// ---------------------------------------------------------------- diffs

// ObjectDiff: key -> ValueOp, kept in wire form. A ValueOp is one of
//   ["put", value] | ["delete"] | ["patch", ObjectDiff] | ["append", string|array, offset]
// Decoding validates this shape recursively, so core/ may rely on it.
using object_diff = json::object;

enum class record_op_type { put, patch, remove };

// RecordOp: ["put", record] | ["patch", ObjectDiff] | ["remove"].
struct record_op {
    record_op_type type = record_op_type::remove;
    json::object value; // the record for put, the object diff for patch, empty for remove

    static record_op put(json::object record) { return {record_op_type::put, std::move(record)}; }
    static record_op patch(object_diff diff) { return {record_op_type::patch, std::move(diff)}; }
    static record_op remove() { return {record_op_type::remove, {}}; }
    friend bool operator==(const record_op& a, const record_op& b) noexcept {
        return a.type == b.type && deep_equal(a.value, b.value);
    }
};

// NetworkDiff: record id -> RecordOp. Ids are unique; insertion order is kept
// (it is the order ops are encoded in) and is not significant for equality.
class network_diff {
public:
    using entry = std::pair<std::string, record_op>;

    [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
    [[nodiscard]] std::size_t size() const noexcept { return entries_.size(); }
    [[nodiscard]] auto begin() const noexcept { return entries_.begin(); }
    [[nodiscard]] auto end() const noexcept { return entries_.end(); }
    [[nodiscard]] const record_op* find(std::string_view id) const noexcept;
    // Inserts or replaces (JavaScript `diff[id] = op`).
    void set(std::string id, record_op op);
    // Appends without looking for an existing entry: for decoders and builders
    // whose ids are already unique (keys of a parsed JSON object). O(1).
    void append_unique(std::string id, record_op op) {
        if (!index_.empty()) index_.emplace(id, entries_.size());
        entries_.emplace_back(std::move(id), std::move(op));
    }
    void erase(std::string_view id);
    void reserve(std::size_t n) { entries_.reserve(n); }
    void clear() noexcept {
        entries_.clear();
        index_.clear();
    }

    friend bool operator==(const network_diff& a, const network_diff& b) noexcept; // order-insensitive

private:
    // Small diffs (the common push) are searched linearly; past this size an
    // id -> position index keeps set/find O(1) for connect-sized diffs.
    static constexpr std::size_t index_threshold = 32;
    [[nodiscard]] std::ptrdiff_t position(std::string_view id) const noexcept;

    std::vector<entry> entries_;
    std::unordered_map<std::string, std::size_t> index_;
};

// ---------------------------------------------------------------- client -> server

struct connect_request {
    std::string connect_request_id;
    std::int64_t last_server_clock = -1;
    std::optional<std::int64_t> protocol_version; // absent -> CLIENT_TOO_OLD (HS2)
    std::optional<json::object> schema;           // absent -> CLIENT_TOO_OLD (HS3)
};

struct push_request {
    std::int64_t client_clock = 0;
    std::optional<network_diff> diff;
    std::optional<record_op> presence; // put or patch only
};

struct ping_request {};

using client_message = std::variant<connect_request, push_request, ping_request>;

// ---------------------------------------------------------------- server -> client

enum class hydration_type { wipe_all, wipe_presence };

struct connect_event {
    hydration_type hydration = hydration_type::wipe_all;
    std::string connect_request_id;
    int protocol_version = proto::protocol_version;
    json::object schema;
    network_diff diff;
    std::int64_t server_clock = 0;
    bool is_readonly = false;
};

struct patch_event {
    network_diff diff;
    std::int64_t server_clock = 0;
};

enum class push_action { commit, discard, rebase_with_diff };

struct push_result_event {
    std::int64_t client_clock = 0;
    std::int64_t server_clock = 0;
    push_action action = push_action::commit;
    network_diff rebase_diff; // only for rebase_with_diff
};

// Inside a `data` message.
using data_event = std::variant<patch_event, push_result_event>;

struct data_message {
    std::vector<data_event> data;
};

struct pong_event {};

struct custom_event {
    json::value data;
};

struct incompatibility_error_event {
    incompatibility_reason reason = incompatibility_reason::invalid_operation;
};

// Every message a server sends. A bare patch/push_result (not wrapped in data)
// is legal on the wire and decoded too.
using server_message = std::variant<connect_event, data_message, pong_event, custom_event,
                                    incompatibility_error_event, patch_event, push_result_event>;

} // namespace tlsync::proto
