// sqlite_storage's transactions: the storage_txn over the SQLite tables.

#include "core/sqlite_storage.hpp"

#include <boost/json/serialize.hpp>

namespace tlsync::core {
namespace detail {

// Reads come from a per-transaction cache so get() can hand out pointers; the
// database itself is written through at once (BEGIN IMMEDIATE holds the lock).
class sqlite_txn final : public storage_txn {
  public:
    sqlite_txn(sqlite_storage& s, bool track)
        : s_(s), clock_(s.read_clock()), start_clock_(clock_), track_(track) {}

    [[nodiscard]] std::int64_t get_clock() const override { return clock_; }
    [[nodiscard]] std::int64_t start_clock() const noexcept { return start_clock_; }

    [[nodiscard]] const json::object* get(std::string_view id) const override {
        check_open();
        auto it = cache_.find(id);
        if (it == cache_.end()) {
            std::optional<json::object> state;
            auto c = s_.st_.get_doc->query(id);
            if (c.next()) state = decode_state(c.get_blob(0));
            it = cache_.emplace(std::string(id), std::move(state)).first;
        }
        return it->second ? &*it->second : nullptr;
    }

    void set(std::string_view id, json::object record) override {
        check_open();
        check_record_id(id, record);
        const auto clock = next_clock();
        remember(id);
        s_.st_.delete_tomb->run(id);
        const auto bytes = encode_state(record);
        s_.st_.upsert_doc->run(id, as_bytes(bytes), clock);
        cache_.insert_or_assign(std::string(id), std::move(record));
    }

    void remove(std::string_view id) override {
        check_open();
        if (!exists(id)) return; // SS12
        const auto clock = next_clock();
        remember(id);
        s_.st_.delete_doc->run(id);
        s_.st_.upsert_tomb->run(id, clock);
        cache_.insert_or_assign(std::string(id), std::nullopt);
        s_.request_tombstone_prune();
    }

    void
    for_each(const std::function<void(std::string_view, const json::object&)>& f) const override {
        check_open();
        // Read everything first: `f` may write, and a live SELECT over a table
        // being written can visit rows twice or not at all.
        std::vector<std::pair<std::string, json::object>> rows;
        {
            auto c = s_.st_.all_docs->query();
            while (c.next())
                rows.emplace_back(std::string(c.get_text(0)), decode_state(c.get_blob(1)));
        }
        for (const auto& [id, state] : rows) {
            check_open();
            if (const auto it = cache_.find(id); it != cache_.end()) {
                if (it->second) f(id, *it->second); // written by `f` meanwhile
            } else {
                f(id, state);
            }
        }
    }

    [[nodiscard]] std::optional<json::object> get_schema() const override {
        check_open();
        return s_.read_schema();
    }

    void set_schema(json::object schema) override {
        check_open();
        s_.st_.set_schema->run(json::serialize(schema));
    }

    [[nodiscard]] std::optional<changes_since>
    get_changes_since(std::int64_t since) const override {
        check_open();
        if (since == clock_) return std::nullopt;
        if (since > clock_) since = -1; // the client is from another timeline: start over
        changes_since out;
        out.wipe_all = since < s_.tombstone_history_starts_at_clock();
        auto c = out.wipe_all ? s_.st_.all_docs->query() : s_.st_.docs_since->query(since);
        while (c.next())
            out.diff.puts.emplace_back(std::string(c.get_text(0)),
                                       forward_put{std::nullopt, decode_state(c.get_blob(1))});
        if (!out.wipe_all) {
            auto t = s_.st_.tombs_since->query(since);
            while (t.next())
                out.diff.deletes.emplace_back(t.get_text(0));
        }
        return out;
    }

    [[nodiscard]] forward_diff changes() const {
        return forward_diff_from(originals_, [this](std::string_view id) { return get(id); });
    }

    void close() noexcept { closed_ = true; }

  private:
    void check_open() const {
        if (closed_) throw storage_error("Transaction has ended");
    }

    std::int64_t next_clock() {
        if (!incremented_) {
            incremented_ = true;
            s_.st_.increment_clock->run();
            clock_ = s_.read_clock();
        }
        return clock_;
    }

    bool exists(std::string_view id) const {
        if (const auto it = cache_.find(id); it != cache_.end()) return it->second.has_value();
        auto c = s_.st_.doc_exists->query(id);
        return c.next();
    }

    // SS7 needs the state before the transaction's first write to each id.
    void remember(std::string_view id) {
        if (!track_ || originals_.find(id) != originals_.end()) return;
        const auto* before = get(id);
        originals_.emplace(std::string(id), before ? std::optional(*before) : std::nullopt);
    }

    sqlite_storage& s_;
    std::int64_t clock_;
    const std::int64_t start_clock_;
    const bool track_;
    bool incremented_ = false;
    bool closed_ = false;
    mutable std::map<std::string, std::optional<json::object>, std::less<>> cache_;
    std::map<std::string, std::optional<json::object>, std::less<>> originals_;
};

} // namespace detail

txn_result sqlite_storage::transaction(const std::function<void(storage_txn&)>& f,
                                       const txn_options& opts) {
    if (in_transaction_) throw storage_error("sqlite_storage: nested transaction");
    in_transaction_ = true;
    struct reset {
        bool& flag;
        ~reset() { flag = false; }
    } guard{in_transaction_};

    txn_result result;
    std::int64_t clock_before = 0;
    db_->transaction([&] {
        detail::sqlite_txn txn(*this, opts.emit_changes);
        try {
            f(txn);
            if (opts.emit_changes) result.changes = txn.changes();
        } catch (...) {
            txn.close();
            throw;
        }
        txn.close();
        clock_before = txn.start_clock();
        result.document_clock = txn.get_clock();
    });
    committed_clock_ = result.document_clock;
    result.did_change = result.document_clock > clock_before; // SS3
    in_transaction_ = false; // listeners may start the next transaction
    if (result.did_change) notify_change({opts.id, result.document_clock});
    return result;
}

} // namespace tlsync::core
