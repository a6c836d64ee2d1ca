#pragma once
// The room: the authoritative copy of one document and the sessions syncing
// it (SPEC sections 22-27, 29). A sans-io state machine: callers feed it
// session events and decoded client messages together with the current time,
// and it answers with actions (send these bytes, close that socket, a session
// was removed) and one deadline at which on_timer() wants to run. It never
// sleeps, reads a clock or touches a socket, so every rule is testable with a
// fake clock. Not thread-safe: the server confines each room to one strand.

#include "core/outbound.hpp"
#include "core/schema.hpp"
#include "core/storage.hpp"
#include "proto/messages.hpp"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

namespace tlsync::core {

// Milliseconds on a monotonic clock of the caller's choosing.
using timestamp = std::chrono::milliseconds;

struct room_config {
    std::chrono::milliseconds idle_timeout{20000};  // RC6 SESSION_IDLE_TIMEOUT; 0 disables
    std::chrono::milliseconds start_wait{10000};    // SES1 SESSION_START_WAIT_TIME
    std::chrono::milliseconds removal_wait{5000};   // SES1 SESSION_REMOVAL_WAIT_TIME
    std::chrono::milliseconds data_debounce{16};    // RB1 DATA_MESSAGE_DEBOUNCE_INTERVAL (1000/60)
    std::chrono::milliseconds prune_throttle{1000}; // pruneSessions is throttled to 1/s
    std::chrono::milliseconds tombstone_prune_delay{1000}; // SS18
    std::uint64_t id_seed = 0; // seeds presence ids; 0 picks a random seed
    // Documents a room may hold; 0: no limit. A push that adds documents past
    // it is refused and its session closed 4099 ROOM_FULL; pushes that only
    // change or remove records are not affected, even in a room over it.
    std::size_t max_documents = 0;
    // Warnings the room wants someone to see (unknown sessions and the like).
    std::function<void(std::string_view)> log_warning;
};

enum class session_state { awaiting_connect, connected, awaiting_removal };
[[nodiscard]] std::string_view to_string(session_state s) noexcept;

// ------------------------------------------------------------------ actions

// Identifies one websocket of a session: a reconnect under the same session
// id gets a new socket id, and events of the superseded socket are ignored.
struct socket_ref {
    std::string session_id;
    std::uint64_t socket_id = 0;
};

struct send_action {
    socket_ref to;
    outbound_message message;
};

struct close_action {
    socket_ref to;
    std::optional<std::uint16_t> code; // nullopt: a plain close (1000)
    std::string reason;
};

struct session_removed_event {
    std::string session_id;
    std::uint64_t socket_id = 0;
    std::string fatal_reason; // empty for a plain removal
};

struct room_became_empty_event {};
struct presence_changed_event {};

using room_action = std::variant<send_action, close_action, session_removed_event,
                                 room_became_empty_event, presence_changed_event>;

struct session_info {
    std::string session_id;
    std::uint64_t socket_id = 0;
    session_state state = session_state::awaiting_connect;
    bool is_readonly = false;
    std::optional<std::string> presence_id;
    std::int64_t protocol_version = 0;
};

// updateStore (US1-US6): a point-in-time view of the documents that collects
// writes; they commit in one transaction when the updater returns.
class store_update {
public:
    virtual ~store_update() = default;
    [[nodiscard]] virtual std::optional<json::object> get(std::string_view id) const = 0;
    virtual void put(json::object record) = 0;        // validates; throws validation_error
    virtual void remove(std::string_view id) = 0;
    [[nodiscard]] virtual std::vector<json::object> get_all() const = 0;
};

namespace detail {
struct room_session;
struct schema_group;
struct log_chunk;
} // namespace detail

class room {
public:
    static constexpr std::string_view internal_txn_id = "TLSyncRoom.txn"; // RC4

    room(std::shared_ptr<const schema> s, std::unique_ptr<sync_storage> storage,
         room_config config, timestamp now);
    ~room();
    room(const room&) = delete;
    room& operator=(const room&) = delete;

    // --- session events
    // HS1/SR4: registers (or re-registers) a session awaiting its connect message.
    void handle_new_session(const socket_ref& socket, bool is_readonly, timestamp now);
    // A decoded client message. Messages from unknown sessions or superseded
    // sockets are ignored (SES7).
    void handle_message(const socket_ref& socket, const proto::client_message& msg, timestamp now);
    // SES2/SR6: the socket closed or failed.
    void handle_close(const socket_ref& socket, timestamp now);
    // SES4/SR11: removes the session, closing it with 4099 + reason when fatal.
    void reject_session(std::string_view session_id, std::string_view fatal_reason = {});
    // RB5
    void send_custom_message(std::string_view session_id, const json::value& data);

    // --- time
    // The earliest time on_timer() has work; nullopt when idle.
    [[nodiscard]] std::optional<timestamp> next_deadline() const;
    // Runs what is due: data flushes, session pruning, tombstone pruning.
    void on_timer(timestamp now);

    // --- server-side access
    // US1-US6. Throws what the updater throws (nothing is committed then).
    void update_store(const std::function<void(store_update&)>& updater);
    // SR10: replaces the contents (SL2-SL4) in one transaction.
    void load_snapshot(const room_snapshot& snapshot);
    [[nodiscard]] room_snapshot get_snapshot() const;
    [[nodiscard]] std::optional<json::object> get_record(std::string_view id) const;
    [[nodiscard]] std::int64_t document_clock() const;
    [[nodiscard]] std::vector<session_info> sessions() const;
    [[nodiscard]] std::size_t session_count() const noexcept;
    [[nodiscard]] std::unordered_map<std::string, json::object> presence_records() const;
    [[nodiscard]] bool can_emit_string_append() const noexcept; // SES5
    // Session states changed (a session added, connected, leaving, removed):
    // what can_emit_string_append() remembered is stale.
    void sessions_changed() noexcept { can_emit_string_append_.reset(); }
    [[nodiscard]] sync_storage& storage() noexcept { return *storage_; }
    [[nodiscard]] const schema& room_schema() const noexcept { return *schema_; }

    // RC7: closes every socket (with `code` when given) and forgets sessions.
    void close(std::optional<std::uint16_t> code = std::nullopt, std::string_view reason = {});
    [[nodiscard]] bool is_closed() const noexcept { return closed_; }

    // Actions produced since the last call, in order.
    [[nodiscard]] std::vector<room_action> take_actions();

private:
    struct push_outcome;
    class update_context;

    detail::room_session* find(const socket_ref& socket);
    void handle_connect(detail::room_session& s, const proto::connect_request& msg, timestamp now);
    void handle_push(detail::room_session& s, const proto::push_request& msg, timestamp now);
    void run_push(detail::room_session& s, storage_txn& txn, const proto::push_request& msg,
                  push_outcome& out);

    void send(detail::room_session& s, outbound_kind kind, shared_text text);
    void send(detail::room_session& s, outbound_message message);
    outbound_message encode_connect(const detail::room_session& s,
                                    const proto::connect_request& msg, const storage_txn& txn);
    shared_text full_state_text(const storage_txn& txn, std::int64_t clock);
    void send_data(detail::room_session& s, shared_text event);
    // A broadcast event, encoded once, and where it sits in its log once a
    // session with an open window needed it there.
    struct broadcast_text {
        shared_text text;
        std::shared_ptr<detail::log_chunk>* log = nullptr; // the log it goes to
        std::shared_ptr<detail::log_chunk> chunk;          // where it went
        std::string_view logged;                           // its bytes there
    };
    void queue_broadcast(detail::room_session& s, broadcast_text& event);
    void flush_data(detail::room_session& s);
    void release_logs() noexcept;
    void cancel_session(std::string_view session_id, timestamp now);
    void remove_session(std::string_view session_id, std::string_view fatal_reason = {});
    void force_all_reconnect();
    void prune_sessions(timestamp now);
    void request_prune(timestamp now);
    void schedule_follow_up_prune(timestamp now);

    void broadcast_changes(const storage_txn& txn);
    void broadcast_patch(const forward_diff& diff, const proto::network_diff* unmigrated,
                         std::string_view source_session_id, bool legacy_append_mode);
    void after_external_write();
    std::optional<proto::network_diff> migrate_diff(const detail::schema_group& group,
                                                    const forward_diff& diff,
                                                    const proto::network_diff* unmigrated,
                                                    bool legacy_append_mode) const;
    void warn(std::string_view message) const;
    void note_tombstone_prune_request();
    std::shared_ptr<detail::schema_group> group_for(const json::object& client_schema);
    std::string make_presence_id();

    std::shared_ptr<const schema> schema_;
    std::unique_ptr<sync_storage> storage_;
    room_config config_;
    std::unordered_map<std::string, std::unique_ptr<detail::room_session>> sessions_;
    std::unordered_map<std::string, json::object> presence_; // presence id -> record
    std::unordered_map<std::string, std::weak_ptr<detail::schema_group>> groups_;
    std::shared_ptr<detail::schema_group> server_group_;
    std::string server_schema_text_; // encoded once, for connect responses
    // Every document encoded as connect diff entries, at full_state_clock_.
    shared_text full_state_;
    std::int64_t full_state_clock_ = 0;
    // Armed flushes in arm order. Every window has the same length and time
    // never goes back, so this is sorted by deadline; stale entries are skipped.
    std::deque<std::pair<timestamp, std::string>> flush_queue_;
    // Asked per push, answered from every session: remembered until
    // sessions_changed().
    mutable std::optional<bool> can_emit_string_append_;
    // broadcast_patch's recipients, reused from push to push.
    std::vector<detail::room_session*> broadcast_targets_;
    // The log of patches for sessions on the server's encoding: a patch that
    // meets an open debounce window is appended once ("event,") and windows
    // hold spans of it, so a busy room's broadcast costs one append and one
    // span extension per recipient, no reference count, and a window's frame
    // is written from the log without a copy. Let go when no window is open.
    std::shared_ptr<detail::log_chunk> plain_log_;
    std::vector<room_action> actions_;
    std::int64_t last_document_clock_ = 0;
    std::uint64_t change_subscription_ = 0;
    bool external_change_pending_ = false;
    bool closed_ = false;
    timestamp now_{0};
    std::optional<timestamp> last_prune_;
    std::optional<timestamp> prune_at_;           // throttled trailing / follow-up / periodic
    std::optional<timestamp> tombstone_prune_at_; // SS18
    std::uint64_t rng_state_ = 0;
};

} // namespace tlsync::core
