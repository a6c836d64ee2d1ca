// The connect handshake (HS1-HS6), broadcasting (RB4, RC4, RC5) and
// per-session down-migration of outgoing diffs (MG1, MG3).

#include "core/room.hpp"

#include "core/diff.hpp"
#include "core/room_session.hpp"

#include <boost/json/serialize.hpp>
#include "proto/codec.hpp"

#include <unordered_map>

namespace tlsync::core {

using detail::room_session;
using detail::schema_group;

namespace {

// toNetworkDiff, with the legacy append mode of SES5 for updates.
proto::network_diff network_diff_of(const forward_diff& d, bool legacy_append_mode) {
    proto::network_diff out;
    out.reserve(d.puts.size() + d.deletes.size());
    for (const auto& [id, put] : d.puts) {
        if (!put.before) {
            out.set(id, proto::record_op::put(put.after));
        } else if (auto patch = diff_record(*put.before, put.after, legacy_append_mode)) {
            out.set(id, proto::record_op::patch(std::move(*patch)));
        }
    }
    for (const auto& id : d.deletes) out.set(id, proto::record_op::remove());
    return out;
}

// One `"id":["put",record]` entry of a network diff, as append_network_diff
// writes it, from a parsed record or from its stored text.
void append_document(std::string& out, std::string_view id, document_ref doc) {
    if (doc.record)
        core::append_put(out, id, *doc.record);
    else
        (void)core::append_put(out, id, doc.json);
}

// getVersionMismatchReason: a client that knows a sequence we do not, or is
// ahead of us on one, needs a newer server; otherwise it is the one behind.
std::string_view version_mismatch_reason(const json::object& theirs, const json::object& ours) {
    const auto* their_version = theirs.if_contains("schemaVersion");
    const auto* our_version = ours.if_contains("schemaVersion");
    if (their_version && our_version && is_number(*their_version) &&
        to_double(*their_version) > to_double(*our_version))
        return proto::close_reason::server_too_old;
    const auto* their_seqs = theirs.if_contains("sequences");
    const auto* our_seqs = ours.if_contains("sequences");
    if (their_seqs && their_seqs->is_object() && our_seqs && our_seqs->is_object()) {
        for (const auto& [seq, version] : their_seqs->get_object()) {
            const auto* ours_v = our_seqs->get_object().if_contains(seq);
            if (!ours_v) return proto::close_reason::server_too_old;
            if (is_number(version) && to_double(version) > to_double(*ours_v))
                return proto::close_reason::server_too_old;
        }
    }
    return proto::close_reason::client_too_old;
}

} // namespace

std::shared_ptr<schema_group> room::group_for(const json::object& client_schema) {
    auto key = json::serialize(client_schema);
    if (auto it = groups_.find(key); it != groups_.end())
        if (auto g = it->second.lock()) return g;
    std::erase_if(groups_, [](const auto& e) { return e.second.expired(); });
    auto plan = schema_->migrations_since(client_schema);
    if (!plan) return nullptr;
    auto g = std::make_shared<schema_group>();
    g->key = key;
    g->serialized = client_schema;
    g->plan = std::move(*plan);
    groups_[std::move(key)] = g;
    return g;
}

// ------------------------------------------------------------------ handshake

void room::handle_connect(room_session& s, const proto::connect_request& msg, timestamp now) {
    // HS2: 5 behaves as 6; 6 needs legacy rejection; 6 and 7 cannot take
    // string appends; all of them are otherwise served as 8.
    auto version = msg.protocol_version.value_or(0);
    s.protocol_version = version;
    if (version == 5) version = 6;
    s.requires_legacy_rejection = version == 6;
    if (version == 6) version = 7;
    if (version == 7) {
        version = 8;
        s.supports_string_append = false;
    }
    if (version < proto::protocol_version) {
        reject_session(s.id, proto::close_reason::client_too_old);
        return;
    }
    if (version > proto::protocol_version) {
        reject_session(s.id, proto::close_reason::server_too_old);
        return;
    }

    // HS3: the client's schema must be one we can serve, by migrating down.
    if (!msg.schema) {
        reject_session(s.id, proto::close_reason::client_too_old);
        return;
    }
    std::shared_ptr<schema_group> group;
    if (deep_equal(*msg.schema, server_group_->serialized)) {
        group = server_group_; // MG3
    } else {
        group = group_for(*msg.schema);
        if (!group) {
            reject_session(s.id, version_mismatch_reason(*msg.schema, server_group_->serialized));
            return;
        }
        if (!group->plan.can_migrate_down()) {
            reject_session(s.id, proto::close_reason::client_too_old);
            return;
        }
    }

    const std::string session_id = s.id;
    std::optional<outbound_message> response;
    storage_->transaction([&](storage_txn& txn) {
        broadcast_changes(txn);
        // HS6: a forced reconnect while we looked may have removed us.
        if (!sessions_.contains(session_id)) return;
        if (!group->requires_down_migrations()) { // MG3: the common case
            response = encode_connect(s, msg, txn);
            return;
        }

        forward_diff presence;
        for (const auto& [id, record] : presence_)
            if (id != s.presence_id) presence.puts.push_back({id, {std::nullopt, record}});
        const bool legacy = !s.supports_string_append || !can_emit_string_append();
        auto diff = migrate_diff(*group, presence, nullptr, legacy);
        if (!diff) {
            reject_session(session_id, proto::close_reason::client_too_old);
            return;
        }

        // HS4/HS5: documents changed since the client's clock, or all of them.
        const auto changes = txn.get_changes_since(msg.last_server_clock);
        if (changes) {
            auto docs = migrate_diff(*group, changes->diff, nullptr, legacy);
            if (!docs) {
                reject_session(session_id, proto::close_reason::client_too_old);
                return;
            }
            for (auto& [id, op] : *docs) diff->set(id, op);
        }
        proto::connect_event event;
        event.hydration = changes && changes->wipe_all ? proto::hydration_type::wipe_all
                                                       : proto::hydration_type::wipe_presence;
        event.connect_request_id = msg.connect_request_id;
        event.schema = server_group_->serialized;
        event.diff = std::move(*diff);
        event.server_clock = txn.get_clock();
        event.is_readonly = s.is_readonly;
        response = outbound_message{outbound_kind::connect, {make_shared_text(proto::encode(event))}};
    });
    if (!response || !sessions_.contains(session_id)) return;

    s.state = session_state::connected;
    sessions_changed();
    s.group = std::move(group);
    s.last_interaction = now;
    s.flush_at.reset();
    s.outstanding.clear();
    send(s, std::move(*response));
}

// The connect response for a session on the server's schema, written straight
// from the store: no network_diff, no record copies. The same bytes as
// proto::encode(connect_event) of the general path. The documents go in their
// own fragment so that a full state can be shared: every client of a
// reconnect storm (a deploy) gets the same bytes, encoded once per clock.
outbound_message room::encode_connect(const room_session& s, const proto::connect_request& msg,
                                      const storage_txn& txn) {
    const auto wipe_all = txn.changes_since_wipe_all(msg.last_server_clock);
    const std::int64_t clock = txn.get_clock();

    std::string head;
    head.reserve(server_schema_text_.size() + 256 + 256 * presence_.size());
    head += R"({"type":"connect","connectRequestId":)";
    proto::append_json_string(head, msg.connect_request_id);
    head += wipe_all.value_or(false) ? R"(,"hydrationType":"wipe_all")"
                                     : R"(,"hydrationType":"wipe_presence")";
    head += R"(,"protocolVersion":)";
    head += std::to_string(proto::protocol_version);
    head += R"(,"schema":)";
    head += server_schema_text_;
    head += R"(,"serverClock":)";
    head += std::to_string(clock);
    head += R"(,"diff":{)";
    bool empty = true;
    for (const auto& [id, record] : presence_) {
        if (id == s.presence_id) continue;
        if (!empty) head += ',';
        empty = false;
        append_put(head, id, record);
    }

    shared_text documents;
    if (wipe_all && *wipe_all) {
        documents = full_state_text(txn, clock);
    } else if (wipe_all) {
        std::string d;
        txn.visit_changes_since(
            msg.last_server_clock,
            [&](std::string_view id, document_ref doc) {
                if (!d.empty()) d += ',';
                append_document(d, id, doc);
            },
            [&](std::string_view id) {
                if (!d.empty()) d += ',';
                proto::append_json_string(d, id);
                d += R"(:["remove"])";
            });
        documents = make_shared_text(std::move(d));
    }
    if (documents && !documents->empty() && !empty) head += ',';

    std::string tail = s.is_readonly ? R"(},"isReadonly":true})" : R"(},"isReadonly":false})";
    outbound_message m{outbound_kind::connect, {}};
    m.parts.reserve(3);
    m.parts.push_back(make_shared_text(std::move(head)));
    if (documents && !documents->empty()) m.parts.push_back(std::move(documents));
    m.parts.push_back(make_shared_text(std::move(tail)));
    return m;
}

// Every document as network diff puts, cached by document clock: the clock
// moves with every write (SS9), so an equal clock means equal documents.
shared_text room::full_state_text(const storage_txn& txn, std::int64_t clock) {
    if (full_state_ && full_state_clock_ == clock) return full_state_;
    if (auto stored = txn.all_puts_text()) { // a room just loaded: its stored text as it is
        full_state_ = std::move(stored);
        full_state_clock_ = clock;
        return full_state_;
    }
    std::string out;
    out.reserve(full_state_ ? full_state_->size() + full_state_->size() / 8 : 4096);
    txn.visit_changes_since(
        -1,
        [&](std::string_view id, document_ref doc) {
            if (!out.empty()) out += ',';
            append_document(out, id, doc);
        },
        [](std::string_view) {});
    full_state_ = make_shared_text(std::move(out));
    full_state_clock_ = clock;
    return full_state_;
}

// ------------------------------------------------------------------ broadcast

std::optional<proto::network_diff> room::migrate_diff(const schema_group& group,
                                                      const forward_diff& diff,
                                                      const proto::network_diff* unmigrated,
                                                      bool legacy_append_mode) const {
    if (!group.requires_down_migrations())
        return unmigrated ? *unmigrated : network_diff_of(diff, legacy_append_mode);

    // MG1: puts migrate down whole; updates migrate both sides and send the
    // patch between them; deletes pass through.
    proto::network_diff out;
    for (const auto& [id, put] : diff.puts) {
        auto after = schema_->migrate_record(put.after, group.plan, migration_direction::down);
        if (!after) return std::nullopt;
        if (!put.before) {
            out.set(id, proto::record_op::put(std::move(*after.value)));
            continue;
        }
        auto before = schema_->migrate_record(*put.before, group.plan, migration_direction::down);
        if (!before) return std::nullopt;
        if (auto patch = diff_record(*before.value, *after.value, legacy_append_mode))
            out.set(id, proto::record_op::patch(std::move(*patch)));
    }
    for (const auto& id : diff.deletes) out.set(id, proto::record_op::remove());
    return out;
}

void room::broadcast_patch(const forward_diff& diff, const proto::network_diff* unmigrated,
                           std::string_view source_session_id, bool legacy_append_mode) {
    // Encode once for everyone on the server's schema, once per other group.
    broadcast_text plain{nullptr, &plain_log_, nullptr, {}};
    std::unordered_map<const schema_group*, broadcast_text> migrated;
    auto encode_patch = [&](const proto::network_diff& d) {
        return make_shared_text(proto::encode_patch(d, last_document_clock_));
    };

    // Sessions are held by unique_ptr, so these pointers stay valid while we
    // send; a session rejected on the way is never touched again.
    const room_session* source = nullptr;
    if (!source_session_id.empty())
        if (const auto it = sessions_.find(std::string(source_session_id)); it != sessions_.end())
            source = it->second.get();
    auto targets = std::move(broadcast_targets_); // reentrancy-safe: a nested call starts empty
    targets.clear();
    for (const auto& [id, s] : sessions_)
        if (s->state == session_state::connected && s.get() != source) targets.push_back(s.get());

    for (auto* target : targets) {
        auto& s = *target;
        if (s.state != session_state::connected) continue;
        if (!s.socket_open) {
            cancel_session(s.id, now_);
            continue;
        }
        if (!s.requires_down_migrations()) {
            if (!plain.text) {
                if (unmigrated) // already computed in the right append mode
                    plain.text = encode_patch(*unmigrated);
                else
                    plain.text = encode_patch(network_diff_of(diff, legacy_append_mode));
            }
            queue_broadcast(s, plain);
        } else {
            auto& cached = migrated[s.group.get()];
            if (!cached.text) {
                auto d = migrate_diff(*s.group, diff, nullptr, legacy_append_mode);
                if (!d) { // RB4: only this session goes
                    reject_session(std::string(s.id), proto::close_reason::client_too_old);
                    continue;
                }
                cached.text = encode_patch(*d);
                cached.log = &s.group->log;
            }
            queue_broadcast(s, cached);
        }
    }
    targets.clear();
    broadcast_targets_ = std::move(targets);
}

void room::broadcast_changes(const storage_txn& txn) {
    auto changes = txn.get_changes_since(last_document_clock_);
    if (!changes) return;
    last_document_clock_ = txn.get_clock();
    if (changes->wipe_all) {
        // RC5: the protocol cannot tell connected clients to wipe, so make
        // them reconnect and re-hydrate.
        force_all_reconnect();
        return;
    }
    broadcast_patch(changes->diff, nullptr, {}, !can_emit_string_append());
}

void room::after_external_write() {
    note_tombstone_prune_request();
    if (!external_change_pending_) return;
    external_change_pending_ = false;
    storage_->transaction([&](storage_txn& txn) { broadcast_changes(txn); });
}

} // namespace tlsync::core
