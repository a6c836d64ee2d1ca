#pragma once
// SQLiteSyncStorage: durable room storage, table-compatible with tldraw's
// TypeScript server (a database either writes can be opened by the other).
//
// Layout (table names carry `table_prefix`):
//   documents(id TEXT PRIMARY KEY, state BLOB NOT NULL, lastChangedClock INTEGER NOT NULL)
//     + index idx_<documents>_lastChangedClock; state is the record's JSON text as bytes
//   tombstones(id TEXT PRIMARY KEY, clock INTEGER NOT NULL) + index idx_<tombstones>_clock
//   metadata(migrationVersion, documentClock, tombstoneHistoryStartsAtClock, schema TEXT)
//     exactly one row; schema is JSON text, '' until the storage is initialized
// Migration versions: 1 = state as TEXT, 2 = state as BLOB (what we create).

#include "core/sqlite_db.hpp"
#include "core/storage.hpp"

namespace tlsync::core {

namespace detail {
class sqlite_txn;

// A record's JSON text as the BLOB stored in `state` (what JSON.stringify +
// TextEncoder produce upstream), and back; decode accepts v1 TEXT too.
[[nodiscard]] std::string encode_state(const json::object& state);
[[nodiscard]] std::span<const std::byte> as_bytes(const std::string& s);
[[nodiscard]] json::object decode_state(std::span<const std::byte> bytes);
} // namespace detail

// How get_snapshot hands over documents: parsed, or as their stored JSON
// text (room_snapshot::texts, for memory_storage; see stored_texts).
enum class snapshot_form { parsed, texts };

struct sqlite_storage_options {
    // Prefix for the three table names, e.g. "room1_". Letters, digits, '_'.
    std::string table_prefix;
    // For a snapshot without a schema; else tldraw's earliest schema (IM5).
    std::optional<json::object> default_schema;
};

class sqlite_storage final : public sync_storage {
  public:
    // Creates or migrates the tables. With a snapshot, stored data is replaced
    // by it verbatim (SQ2, SQ3: no clock clamping, tombstones always kept);
    // without one, stored data is kept, and an uninitialized database is
    // seeded with default_initial_snapshot().
    sqlite_storage(std::shared_ptr<sqlite_db> db, sqlite_storage_options opts = {},
                   std::optional<room_snapshot> snapshot = std::nullopt);
    ~sqlite_storage() override;

    // SQ4: the metadata table exists and holds a non-empty schema.
    [[nodiscard]] static bool has_been_initialized(sqlite_db& db,
                                                   std::string_view table_prefix = {});
    // SQ5: the stored document clock, nullopt when not initialized.
    [[nodiscard]] static std::optional<std::int64_t>
    get_document_clock(sqlite_db& db, std::string_view table_prefix = {});

    txn_result transaction(const std::function<void(storage_txn&)>& f,
                           const txn_options& opts = {}) override;
    // The last committed clock.
    [[nodiscard]] std::int64_t get_clock() const override { return committed_clock_; }
    [[nodiscard]] room_snapshot get_snapshot() const override {
        return get_snapshot(snapshot_form::parsed);
    }
    // With snapshot_form::texts, a record is checked only for looking like a
    // JSON object ({...}); it is parsed, and fully checked, when first used.
    [[nodiscard]] room_snapshot get_snapshot(snapshot_form form) const;
    void prune_tombstones() override;

    // Applies a memory_storage::delta_since() in one SQLite transaction. Does
    // not notify listeners: this mirrors a room, it is not a room's change.
    // A delta without a schema keeps the stored one.
    void write_delta(const room_delta& delta);

    [[nodiscard]] std::int64_t tombstone_history_starts_at_clock() const;
    [[nodiscard]] std::size_t tombstone_count() const;
    [[nodiscard]] sqlite_db& db() const noexcept { return *db_; }

  private:
    friend class detail::sqlite_txn;

    // Prepared once; owned by db_'s statement cache.
    struct statements {
        sqlite_statement *get_doc, *doc_exists, *upsert_doc, *delete_doc, *all_docs, *docs_since,
            *delete_all_docs;
        sqlite_statement *upsert_tomb, *delete_tomb, *tombs_since, *all_tombs, *count_tombs,
            *delete_tombs_before, *delete_all_tombs;
        sqlite_statement *get_clock, *increment_clock, *get_history, *set_history, *get_schema,
            *set_schema, *set_metadata, *set_clocks;
    };

    void migrate();
    void prepare_statements();
    void replace_all(const room_snapshot& s);
    void write_metadata(std::int64_t clock, std::int64_t history_start,
                        const std::optional<json::object>& schema);
    [[nodiscard]] std::int64_t read_clock() const;
    [[nodiscard]] std::optional<json::object> read_schema() const;
    [[nodiscard]] std::int64_t pragma_int64(std::string_view name) const; // PRAGMA name
    [[nodiscard]] std::string sql(std::string_view pattern) const; // expands {d} {t} {m}

    std::shared_ptr<sqlite_db> db_;
    std::string prefix_;
    statements st_{};
    std::optional<json::object> default_schema_;
    std::int64_t committed_clock_ = 0;
    bool in_transaction_ = false;
};

} // namespace tlsync::core
