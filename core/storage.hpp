#pragma once
// The room's storage contract (SPEC section 10, SS1-SS18). Synchronous and
// sans-io: a transaction runs a callback to completion; the clock advances at
// most once per writing transaction. Implementations: memory_storage.hpp and
// sqlite_storage.hpp, both run through one contract test suite.

#include "core/outbound.hpp"
#include "proto/json.hpp"
#include "proto/messages.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tlsync::core {

inline constexpr std::size_t max_tombstones = 5000;              // SS18
inline constexpr std::size_t tombstone_prune_buffer_size = 1000; // SS18

struct stored_document {
    json::object state;
    std::int64_t last_changed_clock = 0;
};

// Documents as they were stored, not parsed yet (sqlite_storage::get_snapshot
// with snapshot_form::texts). `puts` holds every one of them as connect-diff
// entries, "<id>":["put",<record JSON>] joined by commas, and each document
// is the slice of `puts` holding its record. Parsing 10,000 records costs
// tens of milliseconds and their objects several times the text's memory, so
// memory_storage keeps the text and parses a record when it is first used,
// and a first connect is answered from `puts` as it is.
struct stored_texts {
    struct document {
        std::string id;
        std::size_t offset = 0; // of the record's JSON in *puts
        std::size_t size = 0;
        std::int64_t last_changed_clock = 0;
    };
    shared_text puts;
    std::vector<document> documents;
};

// A connect-diff entry for a document: "<id>":["put",<record>].
void append_put(std::string& out, std::string_view id, const json::object& record);
// The same from a record's JSON text; returns the offset of the record in `out`.
std::size_t append_put(std::string& out, std::string_view id, std::string_view record_json);

// RoomSnapshot: the persistent state of a room.
struct room_snapshot {
    std::int64_t document_clock = 0;
    std::int64_t tombstone_history_starts_at_clock = 0;
    std::vector<stored_document> documents;
    // More documents, still as stored text: only from sqlite_storage::
    // get_snapshot(snapshot_form::texts), only for memory_storage's
    // constructor (which parses them on demand). Everything else that reads
    // a snapshot reads `documents`; parse_texts() moves these there.
    std::optional<stored_texts> texts;
    std::map<std::string, std::int64_t, std::less<>> tombstones; // id -> clock
    std::optional<json::object> schema;
};

// Parses a RoomSnapshot or a tldraw StoreSnapshot (`{store, schema}`, SL1) from
// JSON with the SS17 fallbacks. Throws std::invalid_argument naming the field.
[[nodiscard]] room_snapshot room_snapshot_from_json(const json::value& v);
// Parses snapshot.texts into snapshot.documents. Throws storage_error naming
// a document whose text is not a JSON object.
void parse_texts(room_snapshot& snapshot);
// One stored record's JSON text as an object; throws storage_error naming it.
[[nodiscard]] json::object parse_stored_record(std::string_view id, std::string_view text);
[[nodiscard]] json::object to_json(const room_snapshot& s);

// The one-room default: a document record and a page, clock 0 (SS1), with
// tldraw 5.4.2's current schema (createTLSchema().serialize()).
[[nodiscard]] room_snapshot default_initial_snapshot();

// What changed in a room since a persisted clock, for write-behind flushing of
// a memory_storage into a sqlite_storage (see memory_storage::delta_since and
// sqlite_storage::write_delta).
struct room_delta {
    // Documents with last_changed_clock > since (every document when `full`).
    std::vector<stored_document> documents;
    // Tombstones with clock > since (every tombstone when `full`).
    std::map<std::string, std::int64_t, std::less<>> tombstones;
    std::int64_t document_clock = 0;
    std::int64_t tombstone_history_starts_at_clock = 0;
    // The schema, when the receiver may not have it yet (a full delta, or the
    // schema changed since the version it was given); else nullopt and the
    // receiver keeps the one it stored. A schema is several KB: writing it
    // with every flush would cost more than the records.
    std::optional<json::object> schema;
    std::uint64_t schema_version = 0; // memory_storage::schema_version() at the delta
    // The history the receiver would need was pruned (since < history start):
    // the receiver must replace everything it has with this delta.
    bool full = false;
};

// TLSyncForwardDiff: puts are whole records, or [before, after] pairs.
struct forward_put {
    std::optional<json::object> before; // set when the record existed before
    json::object after;
};
struct forward_diff {
    std::vector<std::pair<std::string, forward_put>> puts;
    std::vector<std::string> deletes;
    [[nodiscard]] bool empty() const noexcept { return puts.empty() && deletes.empty(); }
};

// toNetworkDiff (ND2).
[[nodiscard]] proto::network_diff to_network_diff(const forward_diff& d);

struct changes_since {
    forward_diff diff; // puts are whole records (no `before`)
    bool wipe_all = false;
};

// Thrown for contract violations by a caller (a bug), e.g. set() with an id
// that does not match the record, or a write to a read-only transaction.
struct storage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// A document handed to an encoder: its parsed record, or its JSON text as
// stored (a JSON object, not parsed yet). Exactly one is set.
struct document_ref {
    const json::object* record = nullptr;
    std::string_view json;
};

class storage_txn {
  public:
    virtual ~storage_txn() = default;

    // SS8: the clock at transaction start, or the incremented one after a write.
    [[nodiscard]] virtual std::int64_t get_clock() const = 0;
    // SS10: nullptr when absent. Valid until the next write to that id.
    [[nodiscard]] virtual const json::object* get(std::string_view id) const = 0;
    // SS11: asserts id == record["id"]; clears a tombstone with that id.
    virtual void set(std::string_view id, json::object record) = 0;
    // SS12: removes and tombstones an existing record; a no-op when absent.
    virtual void remove(std::string_view id) = 0;
    // SS13: visits every document (id, state). `f` may write: the ids are
    // taken up front, documents removed meanwhile are skipped, and the state
    // reference is valid until `f` writes that id.
    virtual void
    for_each(const std::function<void(std::string_view, const json::object&)>& f) const = 0;
    // How many documents there are; the default counts them with for_each.
    [[nodiscard]] virtual std::size_t document_count() const;
    // SS14
    [[nodiscard]] virtual std::optional<json::object> get_schema() const = 0;
    virtual void set_schema(json::object schema) = 0;
    // SS15: nullopt when `since` equals the current clock.
    [[nodiscard]] virtual std::optional<changes_since>
    get_changes_since(std::int64_t since) const = 0;

    // get_changes_since without building it, for encoders that write the
    // records straight out (the connect response of a 10,000-record room is
    // megabytes): what it would answer, nullopt or its wipe_all ...
    [[nodiscard]] virtual std::optional<bool> changes_since_wipe_all(std::int64_t since) const;
    // ... and its puts and deletes, in that order, by reference. The
    // references are valid during the call. The defaults go through
    // get_changes_since; memory_storage copies nothing, and hands over a
    // record it has not parsed yet as its stored JSON text.
    virtual void visit_changes_since(std::int64_t since,
                                     const std::function<void(std::string_view, document_ref)>& put,
                                     const std::function<void(std::string_view)>& remove) const;
    // Every document as connect-diff puts (see stored_texts), when the
    // storage has that text at hand for the current clock (memory_storage
    // right after loading stored texts); else null.
    [[nodiscard]] virtual shared_text all_puts_text() const { return {}; }
};

struct txn_options {
    std::string id;            // handed to on_change listeners (SS6)
    bool emit_changes = false; // SS7 'always'
};

struct txn_result {
    std::int64_t document_clock = 0;
    bool did_change = false;
    std::optional<forward_diff> changes; // only with emit_changes
};

struct change_event {
    std::string id; // the transaction's txn_options::id
    std::int64_t document_clock = 0;
};

class sync_storage {
  public:
    using change_listener = std::function<void(const change_event&)>;

    virtual ~sync_storage() = default;

    // SS2-SS5: runs `f` to completion. If `f` throws, every write is rolled
    // back and the exception propagates; no listener is called.
    virtual txn_result transaction(const std::function<void(storage_txn&)>& f,
                                   const txn_options& opts = {}) = 0;
    [[nodiscard]] virtual std::int64_t get_clock() const = 0;
    [[nodiscard]] virtual room_snapshot get_snapshot() const = 0;

    // SS6: listeners run after a transaction that advanced the clock commits,
    // before transaction() returns (we have no microtasks; callers that need
    // deferral post the event themselves). Returns a token for unsubscribe.
    std::uint64_t on_change(change_listener l);
    void unsubscribe(std::uint64_t token);

    // SS18: a delete asks for a throttled (1 s, trailing) prune. The owner of
    // the storage (the room) arms a timer when this turns true and then calls
    // prune_tombstones(); it clears the request.
    [[nodiscard]] bool tombstone_prune_requested() const noexcept { return prune_requested_; }
    virtual void prune_tombstones() = 0;

  protected:
    void notify_change(const change_event& e);
    void request_tombstone_prune() noexcept { prune_requested_ = true; }
    void clear_tombstone_prune_request() noexcept { prune_requested_ = false; }

  private:
    std::vector<std::pair<std::uint64_t, change_listener>> listeners_;
    std::uint64_t next_token_ = 1;
    bool prune_requested_ = false;
};

// loadSnapshotIntoStorage (SL2, SL3): writes documents that differ (deep
// equality), removes stored documents the snapshot lacks, sets the schema.
// Throws storage_error when the snapshot has no schema. Migration (SL4) is the
// caller's next step: schema::migrate_storage(txn).
void load_snapshot_into_storage(storage_txn& txn, const room_snapshot& snapshot);

// computeTombstonePruning (TP1-TP3). `sorted` is ascending by clock.
struct tombstone_pruning {
    std::vector<std::string> ids_to_delete;
    std::int64_t new_tombstone_history_starts_at_clock = 0;
};
[[nodiscard]] std::optional<tombstone_pruning>
compute_tombstone_pruning(const std::vector<std::pair<std::string, std::int64_t>>& sorted,
                          std::int64_t document_clock, std::size_t max = max_tombstones,
                          std::size_t buffer = tombstone_prune_buffer_size);

namespace detail {
// tldraw 5.4.2's createTLSchema().serializeEarliestVersion(): what upstream
// assumes for a snapshot without a schema when the caller gives none (IM5).
[[nodiscard]] json::object tldraw_earliest_schema();

// SS7 for implementations: `originals` holds, for every id a transaction
// wrote, its state before the first write (nullopt: it did not exist);
// `current` looks up the state now. Present now -> put (with `before` when it
// existed), absent now -> delete.
[[nodiscard]] forward_diff
forward_diff_from(const std::map<std::string, std::optional<json::object>, std::less<>>& originals,
                  const std::function<const json::object*(std::string_view)>& current);

// The record's "id" when it is a string equal to `id`; storage_error otherwise (SS11).
void check_record_id(std::string_view id, const json::object& record);
} // namespace detail

} // namespace tlsync::core
