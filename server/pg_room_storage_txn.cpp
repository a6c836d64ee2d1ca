// pg_room_storage's transactions: the storage_txn over the shared tables,
// one Postgres transaction holding the room's row lock. A statement per
// operation, as sqlite_txn does; rooms themselves run on memory_storage.

#include "server/pg_room_sql.hpp"
#include "server/pg_room_storage.hpp"

#include <boost/json/serialize.hpp>

namespace tlsync::server {
namespace detail {

class pg_room_txn final : public core::storage_txn {
  public:
    pg_room_txn(pg_room_storage& s, pg_blocking_connection& c, bool track)
        : s_(s), c_(c), room_(s.room_id_), track_(track) {
        // FOR UPDATE: another writer of this room waits for our commit.
        auto r = c_.exec(sql::lock_room, {&room_});
        if (r.rows() == 0)
            throw core::storage_error("pg_room_storage: room '" + room_ + "' is not stored");
        clock_ = start_clock_ = r.int64(0, 0);
    }

    [[nodiscard]] std::int64_t get_clock() const override { return clock_; }
    [[nodiscard]] std::int64_t start_clock() const noexcept { return start_clock_; }
    [[nodiscard]] bool wrote() const noexcept { return incremented_; }

    [[nodiscard]] const json::object* get(std::string_view id) const override {
        check_open();
        auto it = cache_.find(id);
        if (it == cache_.end()) {
            const std::string key(id);
            std::optional<json::object> state;
            auto r = c_.exec(sql::get_document, {&room_, &key});
            if (r.rows()) state = core::parse_stored_record(id, r.text(0, 0));
            it = cache_.emplace(key, std::move(state)).first;
        }
        return it->second ? &*it->second : nullptr;
    }

    void set(std::string_view id, json::object record) override {
        check_open();
        core::detail::check_record_id(id, record);
        const auto clock = std::to_string(next_clock());
        remember(id);
        const std::string key(id);
        const auto state = core::detail::encode_state(record);
        c_.exec(sql::delete_tombstone, {&room_, &key});
        c_.exec(sql::upsert_document, {&room_, &key, &state, &clock});
        cache_.insert_or_assign(key, std::move(record));
    }

    void remove(std::string_view id) override {
        check_open();
        if (!exists(id)) return; // SS12
        const auto clock = std::to_string(next_clock());
        remember(id);
        const std::string key(id);
        c_.exec(sql::delete_document, {&room_, &key});
        c_.exec(sql::upsert_tombstone, {&room_, &key, &clock});
        cache_.insert_or_assign(key, std::nullopt);
        s_.request_tombstone_prune();
    }

    void
    for_each(const std::function<void(std::string_view, const json::object&)>& f) const override {
        check_open();
        // Read everything first: `f` may write.
        std::vector<std::pair<std::string, json::object>> rows;
        {
            auto r = c_.exec(sql::all_documents, {&room_});
            rows.reserve(static_cast<std::size_t>(r.rows()));
            for (int i = 0; i < r.rows(); ++i)
                rows.emplace_back(std::string(r.text(i, 0)),
                                  core::parse_stored_record(r.text(i, 0), r.text(i, 1)));
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
        auto r = c_.exec(sql::read_schema, {&room_});
        if (!r.rows() || r.text(0, 0).empty()) return std::nullopt;
        return parse_schema(r.text(0, 0));
    }

    void set_schema(json::object schema) override {
        check_open();
        const auto text = json::serialize(schema);
        c_.exec(sql::set_schema, {&room_, &text});
    }

    [[nodiscard]] std::optional<core::changes_since>
    get_changes_since(std::int64_t since) const override {
        check_open();
        if (since == clock_) return std::nullopt;
        if (since > clock_) since = -1; // the client is from another timeline: start over
        core::changes_since out;
        auto room = c_.exec(sql::read_room, {&room_});
        const auto history_start = room.rows() ? room.int64(0, 1) : 0;
        out.wipe_all = since < history_start;
        const auto since_text = std::to_string(since);
        auto r = out.wipe_all ? c_.exec(sql::all_documents, {&room_})
                              : c_.exec(sql::documents_since, {&room_, &since_text});
        for (int i = 0; i < r.rows(); ++i)
            out.diff.puts.emplace_back(
                std::string(r.text(i, 0)),
                core::forward_put{std::nullopt,
                                  core::parse_stored_record(r.text(i, 0), r.text(i, 1))});
        if (!out.wipe_all) {
            auto t = c_.exec(sql::tombstones_since, {&room_, &since_text});
            for (int i = 0; i < t.rows(); ++i)
                out.diff.deletes.emplace_back(t.text(i, 0));
        }
        return out;
    }

    [[nodiscard]] core::forward_diff changes() const {
        return core::detail::forward_diff_from(originals_,
                                               [this](std::string_view id) { return get(id); });
    }

    void close() noexcept { closed_ = true; }

  private:
    void check_open() const {
        if (closed_) throw core::storage_error("Transaction has ended");
    }

    std::int64_t next_clock() {
        if (!incremented_) {
            incremented_ = true;
            clock_ = c_.exec(sql::increment_clock, {&room_}).int64(0, 0);
        }
        return clock_;
    }

    bool exists(std::string_view id) const { return get(id) != nullptr; }

    // SS7 needs the state before the transaction's first write to each id.
    void remember(std::string_view id) {
        if (!track_ || originals_.find(id) != originals_.end()) return;
        const auto* before = get(id);
        originals_.emplace(std::string(id), before ? std::optional(*before) : std::nullopt);
    }

    pg_room_storage& s_;
    pg_blocking_connection& c_;
    const std::string& room_;
    std::int64_t clock_ = 0;
    std::int64_t start_clock_ = 0;
    const bool track_;
    bool incremented_ = false;
    bool closed_ = false;
    mutable std::map<std::string, std::optional<json::object>, std::less<>> cache_;
    std::map<std::string, std::optional<json::object>, std::less<>> originals_;
};

} // namespace detail

core::txn_result pg_room_storage::transaction(const std::function<void(core::storage_txn&)>& f,
                                              const core::txn_options& opts) {
    if (in_transaction_) throw core::storage_error("pg_room_storage: nested transaction");
    in_transaction_ = true;
    struct reset {
        bool& flag;
        ~reset() { flag = false; }
    } guard{in_transaction_};

    core::txn_result result;
    std::int64_t clock_before = 0;
    {
        // The connection goes back to the pool before listeners run: they
        // may start the next transaction.
        auto c = pool_->acquire();
        pg_transaction t(*c);
        fence(*c);
        detail::pg_room_txn txn(*this, *c, opts.emit_changes);
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
        if (txn.wrote()) {
            pg_pipeline p(*c);
            log_write(p, result.document_clock);
            (void)p.run();
        }
        t.commit();
    }
    committed_clock_ = result.document_clock;
    result.did_change = result.document_clock > clock_before; // SS3
    in_transaction_ = false;
    if (result.did_change) notify_change({opts.id, result.document_clock});
    return result;
}

} // namespace tlsync::server
