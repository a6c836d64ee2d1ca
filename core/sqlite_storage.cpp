#include "core/sqlite_storage.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>

namespace tlsync::core {
namespace detail {

std::string encode_state(const json::object& state) {
    return json::serialize(state);
}

std::span<const std::byte> as_bytes(const std::string& s) {
    return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

json::object decode_state(std::span<const std::byte> bytes) {
    const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    auto v = json::parse(text);
    if (!v.is_object())
        throw storage_error("sqlite_storage: a stored document is not a JSON object");
    return std::move(v.get_object());
}

namespace {

void check_prefix(std::string_view prefix) {
    // It is spliced into SQL text, so it must be a plain identifier piece.
    const bool ok = std::all_of(prefix.begin(), prefix.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_';
    });
    if (!ok) throw std::invalid_argument("sqlite_storage: table prefix must be [A-Za-z0-9_]*");
}

std::string metadata_table(std::string_view prefix) {
    check_prefix(prefix);
    return std::string(prefix) + "metadata";
}

} // namespace
} // namespace detail

// ---------------------------------------------------------------- construction

sqlite_storage::sqlite_storage(std::shared_ptr<sqlite_db> db, sqlite_storage_options opts,
                               std::optional<room_snapshot> snapshot)
    : db_(std::move(db)), prefix_(std::move(opts.table_prefix)),
      default_schema_(std::move(opts.default_schema)) {
    if (!db_) throw std::invalid_argument("sqlite_storage: no database");
    detail::check_prefix(prefix_);
    migrate();
    prepare_statements();
    db_->transaction([&] {
        if (snapshot)
            replace_all(*snapshot);
        else if (!has_been_initialized(*db_, prefix_))
            replace_all(default_initial_snapshot());
        committed_clock_ = read_clock();
    });
}

sqlite_storage::~sqlite_storage() = default;

std::string sqlite_storage::sql(std::string_view pattern) const {
    std::string out;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '{' && i + 2 < pattern.size() && pattern[i + 2] == '}') {
            out += prefix_;
            switch (pattern[i + 1]) {
            case 'd':
                out += "documents";
                break;
            case 't':
                out += "tombstones";
                break;
            case 'm':
                out += "metadata";
                break;
            default:
                throw std::logic_error("sqlite_storage: bad table placeholder");
            }
            i += 2;
        } else {
            out += pattern[i];
        }
    }
    return out;
}

void sqlite_storage::migrate() {
    db_->transaction([&] {
        std::int64_t version = 0;
        if (db_->table_exists(prefix_ + "metadata")) {
            auto c = db_->prepare(sql("SELECT migrationVersion FROM {m} LIMIT 1")).query();
            if (c.next()) version = c.get_int64(0);
        }
        const std::int64_t found = version;
        if (version == 0) {
            db_->exec(sql(R"(
                CREATE TABLE {d} (id TEXT PRIMARY KEY, state BLOB NOT NULL, lastChangedClock INTEGER NOT NULL);
                CREATE INDEX idx_{d}_lastChangedClock ON {d}(lastChangedClock);
                CREATE TABLE {t} (id TEXT PRIMARY KEY, clock INTEGER NOT NULL);
                CREATE INDEX idx_{t}_clock ON {t}(clock);
                CREATE TABLE {m} (migrationVersion INTEGER NOT NULL, documentClock INTEGER NOT NULL,
                                  tombstoneHistoryStartsAtClock INTEGER NOT NULL, schema TEXT NOT NULL);
                INSERT INTO {m} (migrationVersion, documentClock, tombstoneHistoryStartsAtClock, schema)
                    VALUES (2, 0, 0, '');)"));
            version = 2; // created with BLOB states already
        }
        if (version == 1) {
            // SQLite cannot change a column's type in place: copy into a new table.
            db_->exec(sql(R"(
                CREATE TABLE {d}_new (id TEXT PRIMARY KEY, state BLOB NOT NULL, lastChangedClock INTEGER NOT NULL);
                INSERT INTO {d}_new (id, state, lastChangedClock)
                    SELECT id, CAST(state AS BLOB), lastChangedClock FROM {d};
                DROP TABLE {d};
                ALTER TABLE {d}_new RENAME TO {d};
                CREATE INDEX idx_{d}_lastChangedClock ON {d}(lastChangedClock);)"));
            version = 2;
        }
        // A newer TypeScript server (5.x adds an `objects` table as version 3)
        // keeps its version: we only ever move it forward.
        if (version != found) db_->prepare(sql("UPDATE {m} SET migrationVersion = ?")).run(version);
    });
}

void sqlite_storage::prepare_statements() {
    auto p = [&](std::string_view pattern) { return &db_->prepare(sql(pattern)); };
    st_.get_doc = p("SELECT state FROM {d} WHERE id = ?");
    st_.doc_exists = p("SELECT 1 FROM {d} WHERE id = ?");
    st_.upsert_doc = p("INSERT OR REPLACE INTO {d} (id, state, lastChangedClock) VALUES (?, ?, ?)");
    st_.delete_doc = p("DELETE FROM {d} WHERE id = ?");
    st_.all_docs = p("SELECT id, state, lastChangedClock FROM {d}");
    st_.docs_since = p("SELECT id, state FROM {d} WHERE lastChangedClock > ?");
    st_.delete_all_docs = p("DELETE FROM {d}");
    st_.upsert_tomb = p("INSERT OR REPLACE INTO {t} (id, clock) VALUES (?, ?)");
    st_.delete_tomb = p("DELETE FROM {t} WHERE id = ?");
    st_.tombs_since = p("SELECT id FROM {t} WHERE clock > ?");
    st_.all_tombs = p("SELECT id, clock FROM {t} ORDER BY clock ASC");
    st_.count_tombs = p("SELECT count(*) FROM {t}");
    st_.delete_tombs_before = p("DELETE FROM {t} WHERE clock < ?");
    st_.delete_all_tombs = p("DELETE FROM {t}");
    st_.get_clock = p("SELECT documentClock FROM {m} LIMIT 1");
    st_.increment_clock = p("UPDATE {m} SET documentClock = documentClock + 1");
    st_.get_history = p("SELECT tombstoneHistoryStartsAtClock FROM {m} LIMIT 1");
    st_.set_history = p("UPDATE {m} SET tombstoneHistoryStartsAtClock = ?");
    st_.get_schema = p("SELECT schema FROM {m} LIMIT 1");
    st_.set_schema = p("UPDATE {m} SET schema = ?");
    st_.set_metadata =
        p("UPDATE {m} SET documentClock = ?, tombstoneHistoryStartsAtClock = ?, schema = ?");
    st_.set_clocks = p("UPDATE {m} SET documentClock = ?, tombstoneHistoryStartsAtClock = ?");
}

void sqlite_storage::replace_all(const room_snapshot& s) {
    st_.delete_all_docs->run();
    st_.delete_all_tombs->run();
    for (const auto& doc : s.documents) {
        const auto* id = doc.state.if_contains("id");
        if (!id || !id->is_string())
            throw std::invalid_argument("sqlite_storage: snapshot document without id");
        const auto bytes = detail::encode_state(doc.state);
        st_.upsert_doc->run(std::string_view(id->get_string()), detail::as_bytes(bytes),
                            doc.last_changed_clock);
    }
    // SQ3: kept verbatim, unlike memory_storage's IM1-IM3.
    for (const auto& [id, clock] : s.tombstones)
        st_.upsert_tomb->run(std::string_view(id), clock);
    write_metadata(s.document_clock, s.tombstone_history_starts_at_clock, s.schema);
}

void sqlite_storage::write_metadata(std::int64_t clock, std::int64_t history_start,
                                    const std::optional<json::object>& schema) {
    // An empty schema would read as "not initialized" (SQ4) and be reseeded.
    const std::string text = json::serialize(schema            ? *schema
                                             : default_schema_ ? *default_schema_
                                                               : detail::tldraw_earliest_schema());
    st_.set_metadata->run(clock, history_start, text);
}

// ---------------------------------------------------------------- queries

bool sqlite_storage::has_been_initialized(sqlite_db& db, std::string_view table_prefix) {
    const auto table = detail::metadata_table(table_prefix);
    if (!db.table_exists(table)) return false;
    auto c = db.prepare("SELECT schema FROM " + table + " LIMIT 1").query();
    return c.next() && !c.is_null(0) && !c.get_text(0).empty();
}

std::optional<std::int64_t> sqlite_storage::get_document_clock(sqlite_db& db,
                                                               std::string_view table_prefix) {
    if (!has_been_initialized(db, table_prefix)) return std::nullopt;
    auto c =
        db.prepare("SELECT documentClock FROM " + detail::metadata_table(table_prefix) + " LIMIT 1")
            .query();
    if (!c.next()) return std::nullopt;
    return c.get_int64(0);
}

std::int64_t sqlite_storage::read_clock() const {
    auto c = st_.get_clock->query();
    return c.next() ? c.get_int64(0) : 0;
}

std::int64_t sqlite_storage::tombstone_history_starts_at_clock() const {
    auto c = st_.get_history->query();
    return c.next() ? c.get_int64(0) : 0;
}

std::size_t sqlite_storage::tombstone_count() const {
    auto c = st_.count_tombs->query();
    return c.next() ? static_cast<std::size_t>(c.get_int64(0)) : 0;
}

std::optional<json::object> sqlite_storage::read_schema() const {
    auto c = st_.get_schema->query();
    if (!c.next() || c.is_null(0) || c.get_text(0).empty()) return std::nullopt;
    auto v = json::parse(c.get_text(0));
    if (!v.is_object()) throw storage_error("sqlite_storage: stored schema is not a JSON object");
    return std::move(v.get_object());
}

std::int64_t sqlite_storage::pragma_int64(std::string_view name) const {
    auto c = db_->prepare("PRAGMA " + std::string(name)).query();
    return c.next() ? std::max<std::int64_t>(0, c.get_int64(0)) : 0;
}

room_snapshot sqlite_storage::get_snapshot(snapshot_form form) const {
    room_snapshot s;
    // One read transaction, so the parts agree with each other.
    db_->transaction([&] {
        s.document_clock = read_clock();
        s.tombstone_history_starts_at_clock = tombstone_history_starts_at_clock();
        auto c = st_.all_docs->query();
        if (form == snapshot_form::parsed) {
            while (c.next())
                s.documents.push_back({detail::decode_state(c.get_blob(1)), c.get_int64(2)});
        } else {
            std::string puts;
            // The file's size bounds the text: one allocation, no regrowth
            // (the untouched tail is never paged in).
            puts.reserve(static_cast<std::size_t>(pragma_int64("page_count") * pragma_int64("page_size")));
            stored_texts texts;
            while (c.next()) {
                const auto blob = c.get_blob(1);
                const std::string_view json(reinterpret_cast<const char*>(blob.data()), blob.size());
                if (json.size() < 2 || json.front() != '{' || json.back() != '}')
                    (void)detail::decode_state(blob); // throws, naming what is wrong
                std::string id(c.get_text(0));
                if (!puts.empty()) puts += ',';
                const auto at = append_put(puts, id, json);
                texts.documents.push_back({std::move(id), at, json.size(), c.get_int64(2)});
            }
            // Reserved for the whole file: give a small room's slack back.
            if (puts.capacity() > puts.size() + puts.size() / 4 + 4096) puts.shrink_to_fit();
            texts.puts = make_shared_text(std::move(puts));
            s.texts = std::move(texts);
        }
        auto t = st_.all_tombs->query();
        while (t.next())
            s.tombstones.emplace(t.get_text(0), t.get_int64(1));
        s.schema = read_schema();
    });
    // The room now runs from memory; this handle only writes deltas from here on.
    db_->release_memory();
    return s;
}

// ---------------------------------------------------------------- writes

void sqlite_storage::prune_tombstones() {
    clear_tombstone_prune_request();
    db_->transaction([&] {
        const auto count = tombstone_count();
        if (count <= max_tombstones) return;
        std::vector<std::pair<std::string, std::int64_t>> sorted;
        sorted.reserve(count);
        {
            auto c = st_.all_tombs->query();
            while (c.next())
                sorted.emplace_back(std::string(c.get_text(0)), c.get_int64(1));
        }
        const auto pruning = compute_tombstone_pruning(sorted, read_clock());
        if (!pruning) return;
        st_.set_history->run(pruning->new_tombstone_history_starts_at_clock);
        // TP2 never splits a clock value, so "older than the new start" is
        // exactly the chosen ids -- except when all go, where tombstones at
        // the document clock itself must go too.
        if (pruning->ids_to_delete.size() == sorted.size())
            st_.delete_all_tombs->run();
        else
            st_.delete_tombs_before->run(pruning->new_tombstone_history_starts_at_clock);
    });
}

void sqlite_storage::write_delta(const room_delta& delta) {
    db_->transaction([&] {
        if (delta.full) {
            st_.delete_all_docs->run();
            st_.delete_all_tombs->run();
        }
        for (const auto& doc : delta.documents) {
            const auto* id = doc.state.if_contains("id");
            if (!id || !id->is_string())
                throw std::invalid_argument("write_delta: document without id");
            const std::string_view sid = id->get_string();
            const auto bytes = detail::encode_state(doc.state);
            st_.upsert_doc->run(sid, detail::as_bytes(bytes), doc.last_changed_clock);
            st_.delete_tomb->run(sid); // re-created after a delete we persisted
        }
        for (const auto& [id, clock] : delta.tombstones) {
            st_.delete_doc->run(std::string_view(id));
            st_.upsert_tomb->run(std::string_view(id), clock);
        }
        st_.delete_tombs_before->run(
            delta.tombstone_history_starts_at_clock); // pruned by the sender
        if (delta.schema)
            write_metadata(delta.document_clock, delta.tombstone_history_starts_at_clock,
                           delta.schema);
        else
            st_.set_clocks->run(delta.document_clock, delta.tombstone_history_starts_at_clock);
    });
    committed_clock_ = delta.document_clock;
}

} // namespace tlsync::core
