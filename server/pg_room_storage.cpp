#include "server/pg_room_storage.hpp"

#include "server/log.hpp"
#include "server/pg_room_sql.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <atomic>
#include <chrono>
#include <map>

namespace tlsync::server {

namespace detail {

void upsert_documents(pg_pipeline& c, const std::string& room, const std::vector<doc_row>& rows) {
    // Ids are unique within one INSERT ... ON CONFLICT: the last one wins,
    // as a snapshot with duplicates means (IM6).
    std::map<std::string_view, const doc_row*> last;
    for (const auto& r : rows)
        last[*r.id] = &r;
    std::vector<const doc_row*> unique;
    unique.reserve(last.size());
    for (const auto& r : rows)
        if (last[*r.id] == &r) unique.push_back(&r);

    // Multi-row VALUES: the states go as parameters as they are, with no
    // array quoting; 3 parameters a row, far below the 65,535 limit.
    constexpr std::size_t per_statement = 500;
    std::vector<std::string> clocks;
    for (std::size_t at = 0; at < unique.size(); at += per_statement) {
        const std::size_t n = std::min(per_statement, unique.size() - at);
        clocks.assign(n, {});
        pg_text_params p;
        p.reserve(1 + 3 * n);
        p.push_back(&room);
        std::string sql =
            "INSERT INTO tlsync_room_document (room_id, id, state, last_changed_clock) VALUES ";
        for (std::size_t i = 0; i < n; ++i) {
            const doc_row& r = *unique[at + i];
            clocks[i] = std::to_string(r.clock);
            const auto k = 2 + 3 * i;
            if (i) sql += ',';
            sql += "($1,$" + std::to_string(k) + ",$" + std::to_string(k + 1) + ",$" +
                   std::to_string(k + 2) + "::bigint)";
            p.push_back(r.id);
            p.push_back(r.state);
            p.push_back(&clocks[i]);
        }
        sql += " ON CONFLICT (room_id, id) DO UPDATE SET state = excluded.state, "
               "last_changed_clock = excluded.last_changed_clock";
        c.add(sql, p); // copies the values: `clocks` may be reused
    }
}

void upsert_tombstones(pg_pipeline& c, const std::string& room,
                       const std::map<std::string, std::int64_t, std::less<>>& tombstones) {
    if (tombstones.empty()) return;
    std::string ids = "{", clocks = "{";
    for (const auto& [id, clock] : tombstones) {
        append_array_element(ids, id);
        if (clocks.size() > 1) clocks += ',';
        clocks += std::to_string(clock);
    }
    ids += '}';
    clocks += '}';
    c.add(sql::upsert_tombstones, {&room, &ids, &clocks});
}

void delete_ids(pg_pipeline& c, std::string_view statement, const std::string& room,
                const std::vector<const std::string*>& ids) {
    if (ids.empty()) return;
    std::string array = "{";
    for (const auto* id : ids)
        append_array_element(array, *id);
    array += '}';
    c.add(statement, {&room, &array});
}

void write_room_row(pg_pipeline& c, const std::string& room, std::int64_t clock,
                    std::int64_t history_start, const std::string* schema,
                    const std::string& fallback) {
    const auto clock_text = std::to_string(clock);
    const auto history_text = std::to_string(history_start);
    c.add(sql::upsert_room, {&room, &clock_text, &history_text, schema, &fallback});
}

json::object parse_schema(std::string_view text) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object())
        throw core::storage_error("pg_room_storage: the stored schema is not a JSON object");
    return std::move(v.get_object());
}

} // namespace detail

// ---------------------------------------------------------------- construction

pg_room_storage::pg_room_storage(std::shared_ptr<pg_blocking_pool> pool, std::string room_id,
                                 pg_room_storage_options opts,
                                 std::optional<core::room_snapshot> snapshot)
    : pool_(std::move(pool)), room_id_(std::move(room_id)), writer_(std::move(opts.writer)),
      lease_token_(opts.lease_token ? std::optional(std::to_string(*opts.lease_token)) : std::nullopt),
      fallback_schema_(json::serialize(
          opts.default_schema ? *opts.default_schema : core::detail::tldraw_earliest_schema())) {
    if (!pool_) throw std::invalid_argument("pg_room_storage: no pool");
    auto c = pool_->acquire();
    if (!snapshot) {
        // A stored room (every load but a room's first): one statement.
        if (auto r = c->exec(sql::read_clock, {&room_id_}); r.rows()) {
            committed_clock_ = r.int64(0, 0);
            return;
        }
    }
    pg_transaction t(*c);
    fence(*c);
    if (snapshot) {
        pg_pipeline p(*c);
        replace_all(p, *snapshot);
        (void)p.run();
    } else {
        // Seeded only if nobody stored the room meanwhile: the insert that
        // wins the row writes the default records, any other keeps them.
        const auto seed = core::default_initial_snapshot();
        const auto clock = std::to_string(seed.document_clock);
        const auto schema = json::serialize(*seed.schema);
        if (c->exec(sql::insert_room_if_absent, {&room_id_, &clock, &clock, &schema}).affected() ==
            1) {
            std::vector<std::string> states;
            std::vector<detail::doc_row> rows;
            states.reserve(seed.documents.size());
            for (const auto& d : seed.documents)
                states.push_back(core::detail::encode_state(d.state));
            std::vector<std::string> ids;
            ids.reserve(seed.documents.size());
            for (std::size_t i = 0; i < seed.documents.size(); ++i) {
                ids.emplace_back(seed.documents[i].state.at("id").as_string());
                rows.push_back({&ids[i], &states[i], seed.documents[i].last_changed_clock});
            }
            pg_pipeline p(*c);
            detail::upsert_documents(p, room_id_, rows);
            log_write(p, seed.document_clock);
            (void)p.run();
        }
    }
    auto r = c->exec(sql::read_clock, {&room_id_});
    committed_clock_ = r.rows() ? r.int64(0, 0) : 0;
    t.commit();
}

pg_room_storage::~pg_room_storage() = default;

void pg_room_storage::replace_all(pg_pipeline& c, const core::room_snapshot& s) {
    std::vector<std::string> ids, states;
    ids.reserve(s.documents.size());
    states.reserve(s.documents.size());
    std::vector<detail::doc_row> rows;
    rows.reserve(s.documents.size());
    for (const auto& doc : s.documents) {
        const auto* id = doc.state.if_contains("id");
        if (!id || !id->is_string())
            throw std::invalid_argument("pg_room_storage: snapshot document without id");
        ids.emplace_back(id->get_string());
        states.push_back(core::detail::encode_state(doc.state));
    }
    for (std::size_t i = 0; i < ids.size(); ++i)
        rows.push_back({&ids[i], &states[i], s.documents[i].last_changed_clock});
    // An empty schema would read as "not initialized": the fallback stands in.
    const std::string schema = s.schema ? json::serialize(*s.schema) : fallback_schema_;
    detail::write_room_row(c, room_id_, s.document_clock, s.tombstone_history_starts_at_clock,
                           &schema, fallback_schema_);
    c.add(sql::delete_all_documents, {&room_id_});
    c.add(sql::delete_all_tombstones, {&room_id_});
    detail::upsert_documents(c, room_id_, rows);
    detail::upsert_tombstones(c, room_id_,
                              s.tombstones); // kept verbatim, as sqlite_storage does (SQ3)
    log_write(c, s.document_clock);
}

void pg_room_storage::fence(pg_pipeline& p) const {
    if (lease_token_) p.add(sql::fence, {&room_id_, &writer_, &*lease_token_});
}

void pg_room_storage::fence(pg_blocking_connection& c) const {
    if (lease_token_) (void)c.exec(sql::fence, {&room_id_, &writer_, &*lease_token_});
}

void pg_room_storage::log_write(pg_pipeline& p, std::int64_t clock) {
    const auto clock_text = std::to_string(clock);
    p.add(sql::log_write, {&room_id_, &writer_, &clock_text});
}

// The write log is bounded by age: at most every ten minutes a process
// drops what is older than a day (an indexed range delete), outside any
// flush's transaction. A failure here is not the flush's.
void pg_room_storage::maybe_prune_write_log(pg_blocking_connection& c) noexcept {
    static std::atomic<std::int64_t> last{0};
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::steady_clock::now().time_since_epoch())
                         .count();
    auto seen = last.load();
    if (seen != 0 && now - seen < 600) return;
    if (!last.compare_exchange_strong(seen, now)) return;
    try {
        (void)prune_write_log(c);
    } catch (const std::exception& e) {
        log::warn("pruning the room write log failed", {{"error", e.what()}});
    }
}

std::int64_t pg_room_storage::prune_write_log(pg_blocking_connection& c) {
    return c.exec(sql::prune_write_log).affected();
}

// ---------------------------------------------------------------- reads

core::room_snapshot pg_room_storage::get_snapshot(core::snapshot_form form) const {
    core::room_snapshot s;
    auto c = pool_->acquire();
    // One snapshot of the database for the three reads, in one round trip.
    pg_pipeline p(*c);
    p.add("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    p.add(sql::read_room, {&room_id_});
    p.add(sql::all_documents, {&room_id_});
    p.add(sql::all_tombstones, {&room_id_});
    p.add("COMMIT");
    auto results = p.run();
    const auto& room = results[1];
    if (room.rows() == 0)
        throw core::storage_error("pg_room_storage: room '" + room_id_ + "' is not stored");
    s.document_clock = room.int64(0, 0);
    s.tombstone_history_starts_at_clock = room.int64(0, 1);
    if (const auto schema = room.text(0, 2); !schema.empty())
        s.schema = detail::parse_schema(schema);

    const auto& docs = results[2];
    const int n = docs.rows();
    if (form == core::snapshot_form::parsed) {
        s.documents.reserve(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i)
            s.documents.push_back(
                {core::parse_stored_record(docs.text(i, 0), docs.text(i, 1)), docs.int64(i, 2)});
    } else {
        std::size_t total = 0;
        for (int i = 0; i < n; ++i)
            total += docs.text(i, 0).size() * 2 + docs.text(i, 1).size() + 16;
        std::string puts;
        puts.reserve(total);
        core::stored_texts texts;
        texts.documents.reserve(static_cast<std::size_t>(n));
        for (int i = 0; i < n; ++i) {
            const auto id = docs.text(i, 0);
            const auto json = docs.text(i, 1);
            if (json.size() < 2 || json.front() != '{' || json.back() != '}')
                (void)core::parse_stored_record(id, json); // throws, naming the record
            if (!puts.empty()) puts += ',';
            const auto at = core::append_put(puts, id, json);
            texts.documents.push_back({std::string(id), at, json.size(), docs.int64(i, 2)});
        }
        texts.puts = core::make_shared_text(std::move(puts));
        s.texts = std::move(texts);
    }
    const auto& tombs = results[3];
    for (int i = 0; i < tombs.rows(); ++i)
        s.tombstones.emplace(tombs.text(i, 0), tombs.int64(i, 1));
    return s;
}

std::int64_t pg_room_storage::tombstone_history_starts_at_clock() const {
    auto c = pool_->acquire();
    auto r = c->exec(sql::read_room, {&room_id_});
    return r.rows() ? r.int64(0, 1) : 0;
}

std::size_t pg_room_storage::tombstone_count() const {
    auto c = pool_->acquire();
    return static_cast<std::size_t>(c->exec(sql::count_tombstones, {&room_id_}).int64(0, 0));
}

bool pg_room_storage::exists(pg_blocking_pool& pool, const std::string& room_id) {
    auto c = pool.acquire();
    return c->exec(sql::read_clock, {&room_id}).rows() > 0;
}

void pg_room_storage::remove(pg_blocking_pool& pool, const std::string& room_id) {
    auto c = pool.acquire();
    pg_transaction t(*c);
    c->exec(sql::lock_room, {&room_id});
    c->exec(sql::delete_all_documents, {&room_id});
    c->exec(sql::delete_all_tombstones, {&room_id});
    c->exec(sql::delete_room, {&room_id});
    t.commit();
}

// ---------------------------------------------------------------- writes

void pg_room_storage::write_delta(const core::room_delta& delta) {
    std::vector<std::string> ids, states;
    ids.reserve(delta.documents.size());
    states.reserve(delta.documents.size());
    for (const auto& doc : delta.documents) {
        const auto* id = doc.state.if_contains("id");
        if (!id || !id->is_string())
            throw std::invalid_argument("write_delta: document without id");
        ids.emplace_back(id->get_string());
        states.push_back(core::detail::encode_state(doc.state));
    }
    std::vector<detail::doc_row> rows;
    rows.reserve(ids.size());
    std::vector<const std::string*> doc_ids;
    for (std::size_t i = 0; i < ids.size(); ++i) {
        rows.push_back({&ids[i], &states[i], delta.documents[i].last_changed_clock});
        doc_ids.push_back(&ids[i]);
    }
    std::vector<const std::string*> tomb_ids;
    for (const auto& [id, clock] : delta.tombstones)
        tomb_ids.push_back(&id);
    const std::optional<std::string> schema =
        delta.schema ? std::optional(json::serialize(*delta.schema)) : std::nullopt;
    const auto history = std::to_string(delta.tombstone_history_starts_at_clock);

    // One transaction in one round trip.
    auto c = pool_->acquire();
    pg_pipeline p(*c);
    p.add("BEGIN");
    // The lease first: a node that lost the room writes nothing of this.
    fence(p);
    // The room's row next: its lock orders this room's writers.
    detail::write_room_row(p, room_id_, delta.document_clock,
                           delta.tombstone_history_starts_at_clock, schema ? &*schema : nullptr,
                           fallback_schema_);
    if (delta.full) {
        p.add(sql::delete_all_documents, {&room_id_});
        p.add(sql::delete_all_tombstones, {&room_id_});
    } else {
        detail::delete_ids(p, sql::delete_tombstones_by_id, room_id_,
                           doc_ids); // re-created after a delete
        detail::delete_ids(p, sql::delete_documents_by_id, room_id_, tomb_ids);
    }
    detail::upsert_documents(p, room_id_, rows);
    detail::upsert_tombstones(p, room_id_, delta.tombstones);
    p.add(sql::delete_tombstones_before, {&room_id_, &history}); // pruned by the sender
    log_write(p, delta.document_clock);
    p.add("COMMIT");
    (void)p.run();
    committed_clock_ = delta.document_clock;
    maybe_prune_write_log(*c);
}

void pg_room_storage::prune_tombstones() {
    clear_tombstone_prune_request();
    auto c = pool_->acquire();
    pg_transaction t(*c);
    fence(*c);
    auto room = c->exec(sql::lock_room, {&room_id_});
    if (room.rows() == 0) return;
    const auto clock = room.int64(0, 0);
    const auto count =
        static_cast<std::size_t>(c->exec(sql::count_tombstones, {&room_id_}).int64(0, 0));
    if (count <= core::max_tombstones) return;
    std::vector<std::pair<std::string, std::int64_t>> sorted;
    sorted.reserve(count);
    {
        auto r = c->exec(sql::tombstones_by_clock, {&room_id_});
        for (int i = 0; i < r.rows(); ++i)
            sorted.emplace_back(std::string(r.text(i, 0)), r.int64(i, 1));
    }
    const auto pruning = core::compute_tombstone_pruning(sorted, clock);
    if (!pruning) return;
    const auto start = std::to_string(pruning->new_tombstone_history_starts_at_clock);
    c->exec(sql::set_history_start, {&room_id_, &start});
    // As in sqlite_storage: TP2 never splits a clock value, so "older than
    // the new start" is the chosen ids, except when all go.
    if (pruning->ids_to_delete.size() == sorted.size())
        c->exec(sql::delete_all_tombstones, {&room_id_});
    else
        c->exec(sql::delete_tombstones_before, {&room_id_, &start});
    t.commit();
}

std::int64_t pg_room_storage::back_up(const std::string& schema_hash) {
    auto c = pool_->acquire();
    pg_transaction t(*c, "BEGIN ISOLATION LEVEL REPEATABLE READ");
    auto r = c->exec(sql::back_up_room, {&room_id_, &schema_hash});
    if (r.rows() == 0)
        throw core::storage_error("pg_room_storage: room '" + room_id_ + "' is not stored");
    const auto id = r.int64(0, 0);
    t.commit();
    return id;
}

} // namespace tlsync::server
