#include "core/storage.hpp"

#include "proto/codec.hpp"

#include <boost/json/parse.hpp>

#include <algorithm>
#include <set>

namespace tlsync::core {

std::uint64_t sync_storage::on_change(change_listener l) {
    const auto token = next_token_++;
    listeners_.emplace_back(token, std::move(l));
    return token;
}

void sync_storage::unsubscribe(std::uint64_t token) {
    std::erase_if(listeners_, [&](const auto& p) { return p.first == token; });
}

void sync_storage::notify_change(const change_event& e) {
    // Copy: a listener may unsubscribe itself or others while we iterate.
    const auto listeners = listeners_;
    for (const auto& [token, l] : listeners)
        l(e);
}

} // namespace tlsync::core

namespace tlsync::core {

std::optional<tombstone_pruning>
compute_tombstone_pruning(const std::vector<std::pair<std::string, std::int64_t>>& sorted,
                          std::int64_t document_clock, std::size_t max, std::size_t buffer) {
    if (sorted.size() <= max) return std::nullopt; // TP1
    // TP2: a client whose clock sits inside a clock value's deletions would
    // miss some of them, so the cut never lands between equal clocks.
    std::size_t cutoff = std::min(sorted.size(), buffer + sorted.size() - max);
    while (cutoff > 0 && cutoff < sorted.size() &&
           sorted[cutoff - 1].second == sorted[cutoff].second)
        ++cutoff;
    tombstone_pruning result;
    // TP3
    result.new_tombstone_history_starts_at_clock =
        cutoff < sorted.size() ? sorted[cutoff].second : document_clock;
    result.ids_to_delete.reserve(cutoff);
    for (std::size_t i = 0; i < cutoff; ++i)
        result.ids_to_delete.push_back(sorted[i].first);
    return result;
}

std::size_t storage_txn::document_count() const {
    std::size_t n = 0;
    for_each([&](std::string_view, const json::object&) { ++n; });
    return n;
}

std::optional<bool> storage_txn::changes_since_wipe_all(std::int64_t since) const {
    const auto changes = get_changes_since(since);
    if (!changes) return std::nullopt;
    return changes->wipe_all;
}

void append_put(std::string& out, std::string_view id, const json::object& record) {
    proto::append_json_string(out, id);
    out += R"(:["put",)";
    proto::append_json(out, record);
    out += ']';
}

std::size_t append_put(std::string& out, std::string_view id, std::string_view record_json) {
    proto::append_json_string(out, id);
    out += R"(:["put",)";
    const std::size_t at = out.size();
    out += record_json;
    out += ']';
    return at;
}

json::object parse_stored_record(std::string_view id, std::string_view text) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object())
        throw storage_error("stored document '" + std::string(id) + "' is not a JSON object" +
                            (ec ? ": " + ec.message() : std::string()));
    detail::check_record_id(id, v.get_object());
    return std::move(v.get_object());
}

void parse_texts(room_snapshot& snapshot) {
    if (!snapshot.texts) return;
    const auto& puts = *snapshot.texts->puts;
    snapshot.documents.reserve(snapshot.documents.size() + snapshot.texts->documents.size());
    for (const auto& d : snapshot.texts->documents)
        snapshot.documents.push_back(
            {parse_stored_record(d.id, std::string_view(puts).substr(d.offset, d.size)),
             d.last_changed_clock});
    snapshot.texts.reset();
}

void storage_txn::visit_changes_since(
    std::int64_t since, const std::function<void(std::string_view, document_ref)>& put,
    const std::function<void(std::string_view)>& remove) const {
    const auto changes = get_changes_since(since);
    if (!changes) return;
    for (const auto& [id, p] : changes->diff.puts) put(id, document_ref{&p.after, {}});
    for (const auto& id : changes->diff.deletes) remove(id);
}

void load_snapshot_into_storage(storage_txn& txn, const room_snapshot& snapshot) {
    if (!snapshot.schema) throw storage_error("load_snapshot_into_storage: snapshot has no schema");
    std::set<std::string, std::less<>> ids;
    for (const auto& doc : snapshot.documents) {
        const auto* id = doc.state.if_contains("id");
        if (!id || !id->is_string())
            throw storage_error("load_snapshot_into_storage: document without id");
        const std::string_view sid = id->get_string();
        ids.emplace(sid);
        // SL3: unchanged documents keep their lastChangedClock, so reconnecting
        // clients are not sent the whole room again.
        if (const auto* existing = txn.get(sid); existing && deep_equal(*existing, doc.state))
            continue;
        txn.set(sid, doc.state);
    }
    // Collected first: removing while visiting would disturb the iteration.
    std::vector<std::string> stale;
    txn.for_each([&](std::string_view id, const json::object&) {
        if (!ids.contains(id)) stale.emplace_back(id);
    });
    for (const auto& id : stale)
        txn.remove(id);
    txn.set_schema(*snapshot.schema);
}

namespace detail {

forward_diff
forward_diff_from(const std::map<std::string, std::optional<json::object>, std::less<>>& originals,
                  const std::function<const json::object*(std::string_view)>& current) {
    forward_diff d;
    for (const auto& [id, before] : originals) {
        if (const auto* now = current(id)) {
            d.puts.emplace_back(id, forward_put{before, *now});
        } else {
            d.deletes.push_back(id);
        }
    }
    return d;
}

void check_record_id(std::string_view id, const json::object& record) {
    const auto* rid = record.if_contains("id");
    if (!rid || !rid->is_string() || rid->get_string() != id)
        throw storage_error("Record id mismatch: key '" + std::string(id) +
                            "' does not match record.id");
}

} // namespace detail
} // namespace tlsync::core
