// Room construction, session lifecycle (SES1-SES7), data debouncing
// (RB1-RB3), timers and accessors. Handshake and broadcast live in
// room_sync.cpp, push handling in room_push.cpp, server-side writes in
// room_update.cpp.

#include "core/room.hpp"

#include "core/room_session.hpp"

#include <boost/json/serialize.hpp>
#include "proto/codec.hpp"

#include <algorithm>
#include <cstring>
#include <random>

namespace tlsync::core {

using detail::room_session;
using detail::log_chunk;

std::string_view to_string(session_state s) noexcept {
    switch (s) {
    case session_state::awaiting_connect: return "awaiting-connect-message";
    case session_state::connected: return "connected";
    case session_state::awaiting_removal: return "awaiting-removal";
    }
    return "unknown";
}

room::room(std::shared_ptr<const schema> s, std::unique_ptr<sync_storage> storage,
           room_config config, timestamp now)
    : schema_(std::move(s)), storage_(std::move(storage)), config_(std::move(config)), now_(now) {
    rng_state_ = config_.id_seed ? config_.id_seed : std::random_device{}() | 1ull << 40;

    server_group_ = std::make_shared<detail::schema_group>();
    server_group_->serialized = schema_->serialize(); // RC1: JSON has no undefined to strip
    server_group_->key = json::serialize(server_group_->serialized);
    proto::append_json(server_schema_text_, server_group_->serialized);

    // RC3: bring stored data up to this schema before anyone sees it.
    const auto result =
        storage_->transaction([&](storage_txn& txn) { schema_->migrate_storage(txn); });
    last_document_clock_ = result.document_clock;
    note_tombstone_prune_request();

    // RC4: writes that are not the room's own get broadcast once they commit.
    change_subscription_ = storage_->on_change([this](const change_event& e) {
        if (e.id != internal_txn_id) external_change_pending_ = true;
    });

    if (config_.idle_timeout.count() > 0) // RC6: periodic pruning
        prune_at_ = now + std::min(std::chrono::milliseconds(2000), config_.idle_timeout / 4);
}

room::~room() { storage_->unsubscribe(change_subscription_); }

void room::warn(std::string_view message) const {
    if (config_.log_warning) config_.log_warning(message);
}

std::vector<room_action> room::take_actions() {
    std::vector<room_action> out;
    out.swap(actions_);
    return out;
}

room_session* room::find(const socket_ref& socket) {
    auto it = sessions_.find(socket.session_id);
    if (it == sessions_.end() || it->second->socket_id != socket.socket_id) return nullptr;
    return it->second.get();
}

std::string room::make_presence_id() {
    // splitmix64 over a seeded counter: unique per room, deterministic in tests.
    static constexpr char alphabet[] =
        "useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict";
    std::string id;
    const auto* type = schema_->presence_type();
    id.append(type ? type->type_name : "presence").push_back(':');
    for (int word = 0; word < 2; ++word) {
        std::uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        for (int i = 0; i < 10; ++i, z >>= 6) id.push_back(alphabet[z & 63]);
    }
    return id;
}

// ------------------------------------------------------------------ sessions

void room::handle_new_session(const socket_ref& socket, bool is_readonly, timestamp now) {
    if (closed_) return;
    now_ = now;
    auto& slot = sessions_[socket.session_id];
    std::optional<std::string> presence_id;
    if (slot) {
        // HS1: a reconnect under the same id keeps its presence id. The old
        // socket is superseded; close it so it does not linger.
        presence_id = slot->presence_id;
        if (slot->socket_open && slot->socket_id != socket.socket_id)
            actions_.emplace_back(close_action{slot->ref(), std::nullopt, {}});
    } else if (schema_->presence_type()) {
        presence_id = make_presence_id();
    }
    slot = std::make_unique<room_session>();
    slot->id = socket.session_id;
    slot->socket_id = socket.socket_id;
    slot->state = session_state::awaiting_connect;
    sessions_changed();
    slot->state_since = now;
    slot->last_interaction = now;
    slot->presence_id = std::move(presence_id);
    slot->is_readonly = is_readonly;
    schedule_follow_up_prune(now);
}

void room::handle_message(const socket_ref& socket, const proto::client_message& msg,
                          timestamp now) {
    if (closed_) return;
    now_ = now;
    auto* s = find(socket);
    if (!s) {
        warn("message from unknown session " + socket.session_id); // SES7
        return;
    }
    if (const auto* connect = std::get_if<proto::connect_request>(&msg)) {
        handle_connect(*s, *connect, now);
    } else if (const auto* push = std::get_if<proto::push_request>(&msg)) {
        handle_push(*s, *push, now);
    } else {
        // RP11: a ping refreshes the session and is answered with pong.
        if (s->state == session_state::connected) s->last_interaction = now;
        static const auto pong = make_shared_text(proto::encode(proto::pong_event{}));
        send(*s, outbound_kind::pong, pong);
    }
    after_external_write();
    request_prune(now); // SR5: after handling, so a message never evicts its own session
}

void room::handle_close(const socket_ref& socket, timestamp now) {
    if (closed_) return;
    now_ = now;
    auto* s = find(socket);
    if (!s) return; // SR6: a superseded socket's event
    s->socket_open = false;
    cancel_session(s->id, now);
}

void room::cancel_session(std::string_view session_id, timestamp now) {
    auto it = sessions_.find(std::string(session_id));
    if (it == sessions_.end()) return;
    auto& s = *it->second;
    if (s.state == session_state::awaiting_removal) return;
    // SES2: keep the presence id for a quick reconnect; close the socket.
    s.state = session_state::awaiting_removal;
    s.state_since = now;
    sessions_changed();
    s.flush_at.reset();
    s.outstanding.clear();
    s.group.reset();
    if (s.socket_open) {
        s.socket_open = false;
        actions_.emplace_back(close_action{s.ref(), std::nullopt, {}});
    }
    schedule_follow_up_prune(now);
}

void room::remove_session(std::string_view session_id, std::string_view fatal_reason) {
    auto it = sessions_.find(std::string(session_id));
    if (it == sessions_.end()) return;
    auto s = std::move(it->second);
    sessions_.erase(it);
    sessions_changed();

    // SES3: close (4099 when fatal), drop and broadcast the presence record.
    if (s->socket_open) {
        s->socket_open = false;
        if (fatal_reason.empty())
            actions_.emplace_back(close_action{s->ref(), std::nullopt, {}});
        else
            actions_.emplace_back(
                close_action{s->ref(), proto::sync_error_close_code, std::string(fatal_reason)});
    }
    if (s->presence_id) {
        if (auto p = presence_.find(*s->presence_id); p != presence_.end()) {
            presence_.erase(p);
            forward_diff removal;
            removal.deletes.push_back(*s->presence_id);
            broadcast_patch(removal, nullptr, {}, !can_emit_string_append());
            actions_.emplace_back(presence_changed_event{});
        }
    }
    actions_.emplace_back(session_removed_event{s->id, s->socket_id, std::string(fatal_reason)});
    if (sessions_.empty()) actions_.emplace_back(room_became_empty_event{});
}

void room::reject_session(std::string_view session_id, std::string_view fatal_reason) {
    auto it = sessions_.find(std::string(session_id));
    if (it == sessions_.end()) return;
    auto& s = *it->second;
    if (fatal_reason.empty() || !s.requires_legacy_rejection) {
        remove_session(session_id, fatal_reason);
        return;
    }
    // SES4: protocol <= 6 clients understand only incompatibility_error.
    if (s.socket_open) {
        proto::incompatibility_error_event e{proto::legacy_reason_for(fatal_reason)};
        actions_.emplace_back(send_action{
            s.ref(), {outbound_kind::incompatibility_error, {make_shared_text(proto::encode(e))}}});
    }
    remove_session(session_id);
}

void room::force_all_reconnect() {
    std::vector<std::string> ids;
    for (const auto& [id, s] : sessions_) ids.push_back(id);
    for (const auto& id : ids) remove_session(id);
}

// ------------------------------------------------------------------ pruning

void room::prune_sessions(timestamp now) {
    last_prune_ = now;
    prune_at_.reset();
    std::vector<std::string> ids;
    ids.reserve(sessions_.size());
    for (const auto& [id, s] : sessions_) ids.push_back(id);
    for (const auto& id : ids) {
        auto it = sessions_.find(id);
        if (it == sessions_.end()) continue;
        auto& s = *it->second;
        const auto age = now - s.state_since;
        switch (s.state) {
        case session_state::connected: {
            const bool idle = config_.idle_timeout.count() > 0 &&
                              now - s.last_interaction > config_.idle_timeout;
            if (idle || !s.socket_open) cancel_session(id, now);
            break;
        }
        case session_state::awaiting_connect:
            if (age > config_.start_wait || !s.socket_open)
                remove_session(id);
            else
                schedule_follow_up_prune(now);
            break;
        case session_state::awaiting_removal:
            if (age > config_.removal_wait)
                remove_session(id);
            else
                schedule_follow_up_prune(now);
            break;
        }
    }
    if (config_.idle_timeout.count() > 0) {
        const auto next =
            now + std::min(std::chrono::milliseconds(2000), config_.idle_timeout / 4);
        prune_at_ = prune_at_ ? std::min(*prune_at_, next) : next;
    }
}

void room::request_prune(timestamp now) {
    if (!last_prune_ || now - *last_prune_ >= config_.prune_throttle) {
        prune_sessions(now);
        return;
    }
    const auto trailing = *last_prune_ + config_.prune_throttle;
    prune_at_ = prune_at_ ? std::min(*prune_at_, trailing) : trailing;
}

void room::schedule_follow_up_prune(timestamp now) {
    // Waits in the removal/connect states end on their own: look again a
    // little after the removal wait (and after the start wait).
    const auto at = now + std::min(config_.removal_wait, config_.start_wait) +
                    std::chrono::milliseconds(100);
    prune_at_ = prune_at_ ? std::min(*prune_at_, at) : at;
}

void room::note_tombstone_prune_request() {
    if (storage_->tombstone_prune_requested() && !tombstone_prune_at_)
        tombstone_prune_at_ = now_ + config_.tombstone_prune_delay; // SS18 trailing throttle
}

// ------------------------------------------------------------------ time

std::optional<timestamp> room::next_deadline() const {
    // A foreign write to the storage is broadcast by the next on_timer().
    if (external_change_pending_ && !closed_) return now_;
    std::optional<timestamp> at = prune_at_;
    auto consider = [&](std::optional<timestamp> t) {
        if (t && (!at || *t < *at)) at = t;
    };
    consider(tombstone_prune_at_);
    for (const auto& [t, id] : flush_queue_) {
        auto it = sessions_.find(id);
        if (it != sessions_.end() && it->second->flush_at == t) {
            consider(t);
            break; // the queue is in deadline order
        }
    }
    return at;
}

void room::on_timer(timestamp now) {
    if (closed_) return;
    now_ = now;
    while (!flush_queue_.empty() && flush_queue_.front().first <= now) {
        auto [t, id] = std::move(flush_queue_.front());
        flush_queue_.pop_front();
        auto it = sessions_.find(id);
        if (it != sessions_.end() && it->second->flush_at == t) flush_data(*it->second);
    }
    if (flush_queue_.empty()) release_logs();
    if (prune_at_ && *prune_at_ <= now) prune_sessions(now);
    if (tombstone_prune_at_ && *tombstone_prune_at_ <= now) {
        tombstone_prune_at_.reset();
        storage_->prune_tombstones();
    }
    after_external_write();
}

// ------------------------------------------------------------------ sending

void room::send(room_session& s, outbound_kind kind, shared_text text) {
    send(s, outbound_message{kind, {std::move(text)}});
}

void room::send(room_session& s, outbound_message message) {
    if (s.state != session_state::connected) {
        warn("tried to send to a session that is not connected: " + s.id);
        return;
    }
    if (!s.socket_open) {
        cancel_session(s.id, now_);
        return;
    }
    // RB2: keep order with buffered data messages; pong may overtake them.
    if (message.kind != outbound_kind::pong) flush_data(s);
    actions_.emplace_back(send_action{s.ref(), std::move(message)});
}

void room::send_data(room_session& s, shared_text event) {
    if (s.state != session_state::connected) return;
    if (!s.socket_open) {
        cancel_session(s.id, now_);
        return;
    }
    if (s.flush_at) {
        s.outstanding.emplace_back(std::move(event));
        return;
    }
    // RB1: the first message after a quiet period goes out at once and opens
    // a debounce window; what arrives inside it leaves together at its end.
    actions_.emplace_back(send_action{s.ref(), {outbound_kind::data, {std::move(event)}}});
    s.flush_at = now_ + config_.data_debounce;
    flush_queue_.emplace_back(*s.flush_at, s.id);
}

namespace {

// A broadcast log grows in chunks of this size (or one event's, if larger).
constexpr std::size_t log_chunk_bytes = 64 * 1024;

} // namespace

void room::queue_broadcast(room_session& s, broadcast_text& event) {
    if (!s.flush_at) {
        send_data(s, event.text); // the immediate case: the encoding itself is shared
        return;
    }
    if (!event.chunk) { // the first open window to need it: into the log
        auto& log = *event.log;
        const std::string_view text = *event.text;
        if (!log || log->capacity - log->size < text.size() + 1)
            log = std::make_shared<log_chunk>(std::max(log_chunk_bytes, text.size() + 1));
        char* at = log->data.get() + log->size;
        std::memcpy(at, text.data(), text.size());
        at[text.size()] = ',';
        log->size += text.size() + 1;
        event.chunk = log;
        event.logged = std::string_view(at, text.size());
    }
    // The patch right after the window's last span in the same chunk (what
    // lay between went to this session too) extends it: no allocation.
    if (!s.outstanding.empty()) {
        auto& last = s.outstanding.back();
        if (last.owner.get() == event.chunk.get() &&
            last.bytes.data() + last.bytes.size() + 1 == event.logged.data()) {
            last.bytes = std::string_view(last.bytes.data(), last.bytes.size() + 1 + event.logged.size());
            return;
        }
    }
    s.outstanding.emplace_back(event.chunk, event.logged);
}

void room::flush_data(room_session& s) {
    if (s.state != session_state::connected) return;
    s.flush_at.reset();
    if (s.outstanding.empty()) return;
    if (!s.socket_open) { // RB3
        cancel_session(s.id, now_);
        return;
    }
    // The slices move into a vector of their own size; `outstanding` keeps
    // its capacity for the next window (a busy room refills it 60 times a second).
    outbound_message m{outbound_kind::data, {std::make_move_iterator(s.outstanding.begin()),
                                             std::make_move_iterator(s.outstanding.end())}};
    s.outstanding.clear();
    if (s.outstanding.capacity() > 256) s.outstanding.shrink_to_fit();
    actions_.emplace_back(send_action{s.ref(), std::move(m)});
}

void room::release_logs() noexcept {
    // No window is open: the next broadcast that meets one starts a new
    // chunk, and the spans already sent keep theirs alive until written.
    plain_log_.reset();
    for (auto& [key, weak] : groups_)
        if (auto g = weak.lock()) g->log.reset();
}

void room::send_custom_message(std::string_view session_id, const json::value& data) {
    auto it = sessions_.find(std::string(session_id));
    if (it == sessions_.end() || it->second->state != session_state::connected) {
        warn("custom message for an unknown or unconnected session"); // RB5
        return;
    }
    send(*it->second, outbound_kind::custom,
         make_shared_text(proto::encode(proto::custom_event{data})));
}

// ------------------------------------------------------------------ closing

void room::close(std::optional<std::uint16_t> code, std::string_view reason) {
    if (closed_) return;
    closed_ = true; // RC7: no lifecycle events, no timers from here on
    for (auto& [id, s] : sessions_)
        if (s->socket_open)
            actions_.emplace_back(close_action{s->ref(), code, std::string(reason)});
    sessions_.clear();
    flush_queue_.clear();
    release_logs();
    prune_at_.reset();
    tombstone_prune_at_.reset();
}

// ------------------------------------------------------------------ accessors

std::int64_t room::document_clock() const { return storage_->get_clock(); }
room_snapshot room::get_snapshot() const { return storage_->get_snapshot(); }
std::size_t room::session_count() const noexcept { return sessions_.size(); }

std::vector<session_info> room::sessions() const {
    std::vector<session_info> out;
    out.reserve(sessions_.size());
    for (const auto& [id, s] : sessions_)
        out.push_back({id, s->socket_id, s->state, s->is_readonly, s->presence_id, s->protocol_version});
    return out;
}

std::unordered_map<std::string, json::object> room::presence_records() const { return presence_; }

bool room::can_emit_string_append() const noexcept {
    if (!can_emit_string_append_) {
        can_emit_string_append_ = true;
        for (const auto& [id, s] : sessions_)
            if (s->state == session_state::connected && !s->supports_string_append) {
                can_emit_string_append_ = false;
                break;
            }
    }
    return *can_emit_string_append_;
}

std::optional<json::object> room::get_record(std::string_view id) const {
    std::optional<json::object> out;
    storage_->transaction([&](storage_txn& txn) {
        if (const auto* r = txn.get(id)) out = *r;
    });
    return out;
}

} // namespace tlsync::core
