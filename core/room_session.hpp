#pragma once
// Internals of core::room: per-session state and schema groups.

#include "core/outbound.hpp"
#include "core/room.hpp"
#include "core/schema.hpp"

#include <deque>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace tlsync::core::detail {

// A TLSyncError: rejects the session it happened in with `reason` (RP12).
struct sync_error : std::runtime_error {
    sync_error(std::string_view reason, const std::string& what)
        : std::runtime_error(what), reason(reason) {}
    std::string_view reason;
};

// Part of a broadcast log: "event,event,..." appended in a buffer of fixed
// capacity. The room appends past `size` while writers on other threads read
// spans before it (handed to them through a strand post), so the buffer never
// moves; a full chunk is replaced by a new one and freed with its last span.
struct log_chunk {
    explicit log_chunk(std::size_t capacity)
        : data(std::make_unique_for_overwrite<char[]>(capacity)), capacity(capacity) {}
    std::unique_ptr<char[]> data;
    std::size_t capacity;
    std::size_t size = 0;
};

// Sessions that connected with the same serialized schema share one group:
// its migration plan is computed once, and a broadcast is migrated and
// encoded once per group instead of once per session.
struct schema_group {
    std::string key; // the client's serialized schema as JSON text
    json::object serialized;
    migration_plan plan;
    // Broadcasts encoded for this group and waiting in some session's open
    // debounce window (see room::queue_broadcast); only for a group that
    // requires down migrations, the others share the room's plain log.
    std::shared_ptr<log_chunk> log;
    [[nodiscard]] bool requires_down_migrations() const noexcept { return !plan.empty(); }
};

struct room_session {
    std::string id;
    std::uint64_t socket_id = 0;
    bool socket_open = true;
    session_state state = session_state::awaiting_connect;
    timestamp state_since{0}; // start time, or cancellation time once awaiting removal
    timestamp last_interaction{0};
    std::optional<std::string> presence_id;
    bool is_readonly = false;
    bool requires_legacy_rejection = false;
    bool supports_string_append = true;
    std::int64_t protocol_version = 0;
    std::shared_ptr<schema_group> group; // set once connected

    // RB1: the debounce window for data messages is open until flush_at;
    // what it collected, in order: this session's own messages (push
    // results) and spans of broadcast logs (consecutive patches in one span).
    std::optional<timestamp> flush_at;
    std::vector<text_slice> outstanding;

    [[nodiscard]] socket_ref ref() const { return {id, socket_id}; }
    [[nodiscard]] bool requires_down_migrations() const noexcept {
        return group && group->requires_down_migrations();
    }
};

} // namespace tlsync::core::detail
