#include "core/memory_storage.hpp"

#include <algorithm>

namespace tlsync::core {
namespace detail {

// Writes go straight to the storage; the first write to each id remembers what
// was there so a throwing callback can be undone (SS5) and so SS7's `before`
// states are at hand.
class memory_txn final : public storage_txn {
  public:
    explicit memory_txn(memory_storage& s) : s_(s), start_clock_(s.clock_), clock_(s.clock_) {}

    [[nodiscard]] std::int64_t get_clock() const override { return clock_; }

    [[nodiscard]] const json::object* get(std::string_view id) const override {
        check_open();
        const auto it = s_.documents_.find(id);
        return it == s_.documents_.end() ? nullptr : &s_.record(it->first, it->second);
    }

    void set(std::string_view id, json::object record) override {
        check_open();
        check_record_id(id, record);
        const auto clock = next_clock();
        auto it = s_.documents_.find(id);
        remember(id, it); // takes the old state: it is overwritten next
        if (const auto t = s_.tombstones_.find(id); t != s_.tombstones_.end())
            s_.tombstones_.erase(t);
        if (it != s_.documents_.end()) {
            it->second = {std::move(record), {}, clock};
        } else {
            s_.documents_.emplace(std::string(id), memory_storage::document{std::move(record), {}, clock});
        }
    }

    void remove(std::string_view id) override {
        check_open();
        const auto it = s_.documents_.find(id);
        if (it == s_.documents_.end()) return; // SS12: no tombstone, no clock
        const auto clock = next_clock();
        remember(id, it);
        s_.documents_.erase(it);
        s_.tombstones_.insert_or_assign(std::string(id), clock);
        s_.request_tombstone_prune();
    }

    void
    for_each(const std::function<void(std::string_view, const json::object&)>& f) const override {
        check_open();
        std::vector<std::string> ids;
        ids.reserve(s_.documents_.size());
        for (const auto& [id, doc] : s_.documents_)
            ids.push_back(id);
        for (const auto& id : ids) {
            check_open();
            if (const auto it = s_.documents_.find(id); it != s_.documents_.end())
                f(id, s_.record(it->first, it->second));
        }
    }

    [[nodiscard]] std::size_t document_count() const override {
        check_open();
        return s_.documents_.size();
    }

    [[nodiscard]] std::optional<json::object> get_schema() const override {
        check_open();
        return s_.schema_;
    }

    void set_schema(json::object schema) override {
        check_open();
        if (!schema_before_) {
            schema_before_ = s_.schema_;
            ++s_.schema_version_; // a rollback puts the old schema back, under a new version
        }
        s_.schema_ = std::move(schema);
    }

    [[nodiscard]] std::optional<changes_since>
    get_changes_since(std::int64_t since) const override {
        check_open();
        const auto clock = s_.clock_;
        if (since == clock) return std::nullopt;
        if (since > clock) since = -1; // the client is from another timeline: start over
        changes_since out;
        out.wipe_all = since < s_.history_start_;
        for (const auto& [id, doc] : s_.documents_) {
            if (out.wipe_all || doc.last_changed_clock > since)
                out.diff.puts.emplace_back(id, forward_put{std::nullopt, s_.record(id, doc)});
        }
        if (!out.wipe_all) {
            for (const auto& [id, tclock] : s_.tombstones_)
                if (tclock > since) out.diff.deletes.push_back(id);
        }
        return out;
    }

    [[nodiscard]] std::optional<bool> changes_since_wipe_all(std::int64_t since) const override {
        check_open();
        if (since == s_.clock_) return std::nullopt;
        return wipe_all_since(since);
    }

    void visit_changes_since(std::int64_t since,
                             const std::function<void(std::string_view, document_ref)>& put,
                             const std::function<void(std::string_view)>& remove) const override {
        check_open();
        if (since == s_.clock_) return;
        const bool wipe_all = wipe_all_since(since);
        if (since > s_.clock_) since = -1; // as get_changes_since
        for (const auto& [id, doc] : s_.documents_)
            if (wipe_all || doc.last_changed_clock > since)
                put(id, doc.text.empty() ? document_ref{&doc.state, {}} : document_ref{nullptr, doc.text});
        if (!wipe_all)
            for (const auto& [id, tclock] : s_.tombstones_)
                if (tclock > since) remove(id);
    }

    [[nodiscard]] shared_text all_puts_text() const override {
        check_open();
        return s_.clock_ == s_.texts_clock_ ? s_.texts_ : shared_text();
    }

    [[nodiscard]] forward_diff changes() const {
        std::map<std::string, std::optional<json::object>, std::less<>> before;
        for (const auto& [id, o] : originals_)
            before.emplace(id, o.doc ? std::optional(o.doc->state) : std::nullopt);
        return forward_diff_from(before, [this](std::string_view id) { return get(id); });
    }

    void rollback() noexcept {
        for (auto& [id, o] : originals_) {
            if (o.doc)
                s_.documents_.insert_or_assign(
                    id, memory_storage::document{std::move(o.doc->state), {}, o.doc->last_changed_clock});
            else
                s_.documents_.erase(id);
            if (o.tombstone)
                s_.tombstones_.insert_or_assign(id, *o.tombstone);
            else
                s_.tombstones_.erase(id);
        }
        if (schema_before_) s_.schema_ = std::move(*schema_before_);
        s_.clock_ = start_clock_;
    }

    // Callbacks may keep the reference; using it afterwards is a bug we report.
    void close() noexcept { closed_ = true; }

  private:
    struct original {
        std::optional<stored_document> doc;
        std::optional<std::int64_t> tombstone;
    };

    // get_changes_since's rule: a client from another timeline (ahead of us)
    // or from before the pruned history starts over.
    [[nodiscard]] bool wipe_all_since(std::int64_t since) const noexcept {
        return (since > s_.clock_ ? -1 : since) < s_.history_start_;
    }

    void check_open() const {
        if (closed_) throw storage_error("Transaction has ended");
    }

    std::int64_t next_clock() {
        if (!incremented_) {
            incremented_ = true;
            clock_ = ++s_.clock_; // SS9: once per writing transaction
        }
        return clock_;
    }

    // Keeps what `id` was before its first write in this transaction. The
    // caller is about to overwrite or erase `doc`, so its state is moved.
    using doc_iterator = decltype(std::declval<memory_storage&>().documents_)::iterator;
    void remember(std::string_view id, doc_iterator doc) {
        if (originals_.find(id) != originals_.end()) return;
        original o;
        if (doc != s_.documents_.end()) o.doc = s_.take(doc->first, doc->second);
        if (const auto t = s_.tombstones_.find(id); t != s_.tombstones_.end())
            o.tombstone = t->second;
        originals_.emplace(std::string(id), std::move(o));
    }

    memory_storage& s_;
    const std::int64_t start_clock_;
    std::int64_t clock_;
    bool incremented_ = false;
    bool closed_ = false;
    std::map<std::string, original, std::less<>> originals_;
    std::optional<std::optional<json::object>> schema_before_;
};

} // namespace detail

memory_storage::memory_storage(std::optional<room_snapshot> snapshot,
                               std::optional<json::object> default_schema) {
    room_snapshot s = snapshot ? std::move(*snapshot) : default_initial_snapshot();
    std::int64_t max_clock = 0;
    for (auto& doc : s.documents) {
        max_clock = std::max(max_clock, doc.last_changed_clock);
        const auto* id = doc.state.if_contains("id");
        if (!id || !id->is_string())
            throw std::invalid_argument("memory_storage: snapshot document without id");
        documents_.insert_or_assign(std::string(id->get_string()),
                                    document{std::move(doc.state), {}, doc.last_changed_clock}); // IM6
    }
    if (s.texts) {
        texts_ = std::move(s.texts->puts);
        const std::string_view puts = texts_ ? std::string_view(*texts_) : std::string_view();
        for (auto& doc : s.texts->documents) {
            max_clock = std::max(max_clock, doc.last_changed_clock);
            if (doc.size == 0 || doc.offset + doc.size > puts.size())
                throw std::invalid_argument("memory_storage: stored text out of range");
            auto [it, inserted] = documents_.insert_or_assign(
                std::move(doc.id), document{{}, puts.substr(doc.offset, doc.size), doc.last_changed_clock}); // IM6
            (void)it;
            (void)inserted;
        }
        unparsed_ = 0;
        for (const auto& [id, doc] : documents_) unparsed_ += doc.text.empty() ? 0 : 1;
    }
    for (const auto& [id, clock] : s.tombstones)
        max_clock = std::max(max_clock, clock);
    clock_ = std::max(max_clock, s.document_clock);                         // IM1
    history_start_ = std::min(s.tombstone_history_starts_at_clock, clock_); // IM2
    if (history_start_ != clock_) tombstones_ = std::move(s.tombstones);    // IM3
    // The loaded puts are the whole room only when every document came from
    // them once (no parsed documents, no duplicate ids).
    if (texts_ && s.documents.empty() && unparsed_ == s.texts->documents.size()) texts_clock_ = clock_;
    if (s.schema)
        schema_ = std::move(s.schema);
    else
        schema_ =
            default_schema ? std::move(*default_schema) : detail::tldraw_earliest_schema(); // IM5
}

memory_storage::~memory_storage() = default;

const json::object& memory_storage::record(const std::string& id, const document& d) const {
    if (!d.text.empty()) {
        d.state = parse_stored_record(id, d.text);
        d.text = {};
        // Once nothing refers to the stored texts, and they are not the
        // room's current state either, let them go.
        if (--unparsed_ == 0 && texts_clock_ != clock_) texts_.reset();
    }
    return d.state;
}

stored_document memory_storage::take(const std::string& id, document& d) {
    record(id, d);
    return {std::move(d.state), d.last_changed_clock};
}

txn_result memory_storage::transaction(const std::function<void(storage_txn&)>& f,
                                       const txn_options& opts) {
    if (in_transaction_) throw storage_error("memory_storage: nested transaction");
    in_transaction_ = true;
    const auto clock_before = clock_;
    detail::memory_txn txn(*this);
    txn_result result;
    try {
        f(txn);
        if (opts.emit_changes) result.changes = txn.changes();
    } catch (...) {
        txn.rollback();
        txn.close();
        in_transaction_ = false;
        throw;
    }
    txn.close();
    in_transaction_ = false;
    result.document_clock = clock_;
    result.did_change = clock_ > clock_before; // SS3
    if (result.did_change && unparsed_ == 0) texts_.reset();
    if (result.did_change) notify_change({opts.id, clock_});
    return result;
}

room_snapshot memory_storage::get_snapshot() const {
    room_snapshot s;
    s.document_clock = clock_;
    s.tombstone_history_starts_at_clock = history_start_;
    s.documents.reserve(documents_.size());
    for (const auto& [id, doc] : documents_)
        s.documents.push_back({record(id, doc), doc.last_changed_clock});
    s.tombstones = tombstones_;
    s.schema = schema_;
    return s;
}

void memory_storage::prune_tombstones() {
    clear_tombstone_prune_request();
    if (tombstones_.size() <= max_tombstones) return;
    std::vector<std::pair<std::string, std::int64_t>> sorted(tombstones_.begin(),
                                                             tombstones_.end());
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const auto& a, const auto& b) { return a.second < b.second; });
    const auto pruning = compute_tombstone_pruning(sorted, clock_);
    if (!pruning) return;
    history_start_ = pruning->new_tombstone_history_starts_at_clock;
    for (const auto& id : pruning->ids_to_delete)
        tombstones_.erase(id);
}

room_delta memory_storage::delta_since(std::int64_t flushed_clock,
                                       std::optional<std::uint64_t> flushed_schema_version) const {
    room_delta d;
    d.document_clock = clock_;
    d.tombstone_history_starts_at_clock = history_start_;
    // A receiver ahead of us is on another timeline; one behind the pruned
    // history cannot learn which of its documents were deleted.
    d.full = flushed_clock < history_start_ || flushed_clock > clock_;
    d.schema_version = schema_version_;
    if (d.full || flushed_schema_version != schema_version_) d.schema = schema_;
    for (const auto& [id, doc] : documents_)
        if (d.full || doc.last_changed_clock > flushed_clock)
            d.documents.push_back({record(id, doc), doc.last_changed_clock});
    for (const auto& [id, clock] : tombstones_)
        if (d.full || clock > flushed_clock) d.tombstones.emplace(id, clock);
    return d;
}

} // namespace tlsync::core
