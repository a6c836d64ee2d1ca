// Push handling (RP1-RP12, MG2, SES5): apply a client's document and presence
// changes, answer with commit / discard / rebaseWithDiff, broadcast the
// effective changes to everyone else.

#include "core/room.hpp"

#include "core/diff.hpp"
#include "core/room_session.hpp"
#include "proto/codec.hpp"

namespace tlsync::core {

using detail::room_session;
using detail::sync_error;

namespace {

// What a push actually changed in one lane (documents or presence). The
// forward diff (whole records before and after) is only needed to migrate the
// changes down for sessions on an older schema; without such sessions it is
// not built, which saves two record copies per op.
struct lane_changes {
    std::optional<proto::network_diff> network; // set once any op took effect
    forward_diff forward;
    bool keep_forward = false;

    void add(const std::string& id, proto::record_op op, const json::object* before,
             const json::object* after) {
        if (!network) network.emplace();
        if (keep_forward) {
            switch (op.type) {
            case proto::record_op_type::put:
                forward.puts.push_back({id, {std::nullopt, op.value}});
                break;
            case proto::record_op_type::patch:
                forward.puts.push_back({id, {*before, *after}});
                break;
            case proto::record_op_type::remove:
                forward.deletes.push_back(id);
                break;
            }
        }
        network->set(id, std::move(op));
    }
};

// The two stores a push writes to: the document storage and the presence map.
struct doc_store {
    virtual ~doc_store() = default;
    virtual const json::object* get(const std::string& id) = 0;
    virtual void set(const std::string& id, json::object record) = 0;
};

struct txn_store final : doc_store {
    storage_txn& txn;
    explicit txn_store(storage_txn& t) : txn(t) {}
    const json::object* get(const std::string& id) override { return txn.get(id); }
    void set(const std::string& id, json::object r) override { txn.set(id, std::move(r)); }
};

struct presence_store final : doc_store {
    std::unordered_map<std::string, json::object>& map;
    explicit presence_store(std::unordered_map<std::string, json::object>& m) : map(m) {}
    const json::object* get(const std::string& id) override {
        auto it = map.find(id);
        return it == map.end() ? nullptr : &it->second;
    }
    void set(const std::string& id, json::object r) override { map[id] = std::move(r); }
};

std::string_view type_name_of(const json::object& record) {
    const auto* t = record.if_contains("typeName");
    return t && t->is_string() ? std::string_view(t->get_string()) : std::string_view{};
}

} // namespace

struct room::push_outcome {
    lane_changes docs;
    lane_changes presence;
};

void room::handle_push(room_session& s, const proto::push_request& msg, timestamp now) {
    if (s.state != session_state::connected) return; // RP1
    s.last_interaction = now;                        // RP11

    push_outcome out;
    // Forward diffs are only needed to migrate changes down for sessions on
    // an older schema (MG1), the pusher included.
    bool any_migrating = false;
    for (const auto& [id, other] : sessions_)
        if (other->state == session_state::connected && other->requires_down_migrations())
            any_migrating = true;
    out.docs.keep_forward = out.presence.keep_forward = any_migrating;
    std::int64_t clock = 0;
    const std::string session_id = s.id;
    bool session_gone = false;
    try {
        const auto result = storage_->transaction(
            [&](storage_txn& txn) {
                broadcast_changes(txn);
                // RC5: an external wipe may have just removed every session.
                if (!sessions_.contains(session_id)) {
                    session_gone = true;
                    return;
                }
                run_push(s, txn, msg, out);
            },
            {std::string(internal_txn_id), false});
        if (session_gone) return;
        clock = result.document_clock;
    } catch (const sync_error& e) {
        warn("rejecting session " + session_id + ": " + e.what());
        reject_session(session_id, e.reason); // RP12
        return;
    } catch (const std::exception& e) {
        warn("push from " + session_id + " failed: " + e.what());
        reject_session(session_id, proto::close_reason::unknown_error);
        return;
    }
    last_document_clock_ = clock;
    const bool legacy = !can_emit_string_append();

    // RP7: commit when what happened is exactly what was asked for.
    const auto& actual = out.docs.network;
    const bool same = actual.has_value() == msg.diff.has_value() && (!actual || *actual == *msg.diff);
    proto::push_result_event result{msg.client_clock, clock, proto::push_action::commit, {}};
    bool send_result = true;
    if (same) {
        result.action = proto::push_action::commit;
    } else if (!actual) {
        result.action = proto::push_action::discard;
    } else if (auto d = migrate_diff(*s.group, out.docs.forward, &*actual, legacy)) {
        result.action = proto::push_action::rebase_with_diff;
        result.rebase_diff = std::move(*d);
    } else {
        reject_session(session_id, proto::close_reason::client_too_old);
        send_result = false;
    }
    if (send_result) send_data(s, make_shared_text(proto::encode(result)));

    // RP8: everyone else hears about the effective changes.
    if (out.docs.network || out.presence.network) {
        forward_diff merged = std::move(out.docs.forward);
        proto::network_diff network = actual ? std::move(*out.docs.network) : proto::network_diff{};
        if (out.presence.network) {
            for (auto& p : out.presence.forward.puts) merged.puts.push_back(std::move(p));
            for (auto& d : out.presence.forward.deletes) merged.deletes.push_back(std::move(d));
            for (auto& [id, op] : *out.presence.network) network.set(id, op);
        }
        broadcast_patch(merged, &network, session_id, legacy);
    }
    if (out.presence.network) actions_.emplace_back(presence_changed_event{});
}

void room::run_push(room_session& s, storage_txn& txn, const proto::push_request& msg,
                    push_outcome& out) {
    // Runs inside the storage transaction: a sync_error rolls back every write.
    const bool legacy = !can_emit_string_append();
    const auto& plan = s.group->plan;
    const bool migrates = s.requires_down_migrations();

    auto validate = [&](const json::object& record) {
        try {
            schema_->validate_record(record);
        } catch (const validation_error& e) {
            throw sync_error(proto::close_reason::invalid_record, e.what());
        }
    };
    auto migrate = [&](const json::object& record, migration_direction dir) {
        auto r = schema_->migrate_record(record, plan, dir);
        if (!r) throw sync_error(proto::close_reason::client_too_old, "migration failed");
        return std::move(*r.value);
    };

    // addDocument: a put, migrated up (MG2); over an existing record it is
    // stored whole but propagated as the difference (RP3).
    auto add = [&](doc_store& store, lane_changes& lane, const std::string& id,
                   const json::object& incoming, const json::object* existing) {
        json::object state = migrates ? migrate(incoming, migration_direction::up) : incoming;
        if (!existing) {
            validate(state);
            store.set(id, state);
            lane.add(id, proto::record_op::put(std::move(state)), nullptr, nullptr);
            return;
        }
        auto diff = diff_record(*existing, state, legacy);
        if (!diff) return;
        validate(state);
        if (!lane.keep_forward) {
            store.set(id, std::move(state));
            lane.add(id, proto::record_op::patch(std::move(*diff)), nullptr, nullptr);
            return;
        }
        const json::object before = *existing; // set() moves the stored state away
        store.set(id, state);
        lane.add(id, proto::record_op::patch(std::move(*diff)), &before, &state);
    };

    // patchDocument: applied to the record as the client knows it (MG2), the
    // effective diff recomputed (RP5).
    auto patch = [&](doc_store& store, lane_changes& lane, const std::string& id,
                     const proto::object_diff& diff, const json::object& existing) {
        json::object next;
        if (!migrates) {
            auto patched = apply_object_diff(existing, diff);
            if (!patched) return;
            next = std::move(*patched);
        } else {
            auto down = migrate(existing, migration_direction::down);
            auto patched = apply_object_diff(down, diff);
            next = migrate(patched ? *patched : down, migration_direction::up);
        }
        auto effective = diff_record(existing, next, legacy);
        if (!effective) return;
        // A client whose diffRecord puts nested objects (@tldraw/sync-core
        // 5.4.2) asked for exactly this change in another form: answer in its
        // form so the push commits (RP7) instead of rebasing every label edit.
        if (!migrates && *effective != diff) {
            if (auto shaped = diff_record_guided(existing, next, diff, legacy); shaped && *shaped == diff)
                effective = std::move(shaped);
        }
        validate(next);
        if (!lane.keep_forward) {
            store.set(id, std::move(next));
            lane.add(id, proto::record_op::patch(std::move(*effective)), nullptr, nullptr);
            return;
        }
        const json::object before = existing; // set() moves `existing` away
        store.set(id, next);
        lane.add(id, proto::record_op::patch(std::move(*effective)), &before, &next);
    };

    // RP10: presence lives in memory under the session's presence id, with
    // id and typeName forced by the server.
    const auto* presence_type = schema_->presence_type();
    if (presence_type && s.presence_id && msg.presence) {
        presence_store store{presence_};
        const auto& id = *s.presence_id;
        const auto& op = *msg.presence;
        if (op.type == proto::record_op_type::put) {
            json::object record = op.value;
            record["id"] = id;
            record["typeName"] = presence_type->type_name;
            add(store, out.presence, id, record, store.get(id));
        } else if (op.type == proto::record_op_type::patch) {
            if (const auto* existing = store.get(id)) {
                proto::object_diff d = op.value;
                d["id"] = json::array{"put", id};
                d["typeName"] = json::array{"put", presence_type->type_name};
                patch(store, out.presence, id, d, *existing);
            }
        }
    }

    if (!msg.diff) return;
    // RP9: a readonly session's document changes are ignored (discard).
    if (s.is_readonly) return;

    const std::size_t documents_before = config_.max_documents ? txn.document_count() : 0;
    txn_store store{txn};
    for (const auto& [id, op] : *msg.diff) {
        switch (op.type) {
        case proto::record_op_type::put: {
            const auto type_name = type_name_of(op.value);
            const auto* type = schema_->find_type(type_name);
            if (!type || type->scope != record_scope::document) // RP2
                throw sync_error(proto::close_reason::invalid_record,
                                 "unknown document type '" + std::string(type_name) + "'");
            const auto* record_id = op.value.if_contains("id");
            if (!record_id || !record_id->is_string() || record_id->get_string() != id)
                throw sync_error(proto::close_reason::invalid_record,
                                 "record id does not match its key '" + id + "'");
            const auto* existing = store.get(id);
            // A put may not relabel a record as another type: skip it, the
            // client is corrected by the rebase.
            if (existing && type_name_of(*existing) != type_name) {
                warn("skipping put that changes typeName of " + id);
                continue;
            }
            add(store, out.docs, id, op.value, existing);
            break;
        }
        case proto::record_op_type::patch: {
            const auto* existing = store.get(id);
            if (!existing) continue; // RP4
            patch(store, out.docs, id, op.value, *existing);
            break;
        }
        case proto::record_op_type::remove: {
            if (!store.get(id)) continue; // RP6
            store.txn.remove(id);
            out.docs.add(id, proto::record_op::remove(), nullptr, nullptr);
            break;
        }
        }
    }
    if (config_.max_documents) {
        const std::size_t after = txn.document_count();
        if (after > documents_before && after > config_.max_documents)
            throw sync_error(proto::close_reason::room_full,
                             "the room would hold " + std::to_string(after) + " records, more than its limit of " +
                                 std::to_string(config_.max_documents));
    }
}

} // namespace tlsync::core
